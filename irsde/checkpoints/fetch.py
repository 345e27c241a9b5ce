"""Fetching released checkpoints into ``resources/weights/``, verified, and offline use.

A checkpoint is looked for in ``<resources>/weights/<file>`` first (verified, no network), then
downloaded (:func:`irsde.data.download.download`: resume, retries, deadline) from the mirrors
(``<mirror>/weights/<file>``) and, for a :class:`~irsde.checkpoints.records.GitFile`, its raw URL at
the pinned commit. A git file must match its pinned git blob id and sha256, whatever server sent
it; a browser-only file has no published digest, so the first copy that loads as a plain
state_dict of tensors is recorded in ``<resources>/checksums.lock.json`` and every later one must
match it (trust on first use, as for dataset archives). A file that fails its check is moved to
``<file>.bad`` and the error names it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from irsde.checkpoints.records import BrowserFile, Checkpoint, GitFile
from irsde.data.download import REJECTIONS, DownloadPolicy, download, mirror_bases, on_mirrors
from irsde.data.fetch import default_resources
from irsde.data.git_trees import git_blob_id
from irsde.data.lock import ChecksumMismatch, LockFile, user_lock_path, verify_or_record


def checkpoint_location(checkpoint: Checkpoint, resources: str | os.PathLike | None = None) -> Path:
    """Where ``checkpoint`` lives: ``<resources>/weights/<file>``."""
    return default_resources(resources) / checkpoint.resources_path


def missing_message(checkpoint: Checkpoint, location: Path, reason: str) -> str:
    """What to fetch and where to put it, for a checkpoint that is not on disk."""
    source = checkpoint.source
    if isinstance(source, GitFile):
        how = (f"Run `irsde weights fetch {checkpoint.name}` with network access, or download {source.url} "
               f"(git blob {source.blob}, sha256 {source.sha256}) and save it as {location}.")
    else:
        how = f"{source.instructions}; save it as {location}."
    return f"released checkpoint {checkpoint.name} is needed but {location} does not exist ({reason}). {how}"


Validate = Callable[[Path], object]
"""Checks that a file is weights of its checkpoint's method (raises to refuse it): run before a
browser-only file's first-use digest is recorded. The methods give it
(:func:`irsde.methods.fetch_weights`); this package knows no method."""


def verify_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike, resources: str | os.PathLike | None = None,
                      origin: str = "", validate: Validate | None = None) -> None:
    """Check ``path`` against ``checkpoint``'s pinned git blob id and sha256 (a browser-only
    file: against its first-use digest, recorded now, after ``validate(path)`` passes, if there
    is none); ChecksumMismatch naming the file and both values otherwise."""
    path = Path(path)
    source = checkpoint.source
    if isinstance(source, BrowserFile):
        verify_or_record(checkpoint.resources_path, path, default_resources(resources), origin or str(path),
                         validate=validate)
        return
    data = path.read_bytes()
    found = {"git blob": git_blob_id(data), "sha256": hashlib.sha256(data).hexdigest()}
    expected = {"git blob": source.blob, "sha256": source.sha256}
    differences = [f"{name} {found[name]}, expected {expected[name]}" for name in found if found[name] != expected[name]]
    if differences:
        where = f" (from {origin})" if origin else ""
        raise ChecksumMismatch(f"{path}{where} is not {checkpoint.name} ({source.describe()}): " + "; ".join(differences))


def _verify_existing(checkpoint: Checkpoint, location: Path, resources: Path, validate: Validate | None) -> None:
    try:
        verify_checkpoint(checkpoint, location, resources, f"file found in {resources}", validate)
    except REJECTIONS as error:
        bad = location.with_name(location.name + ".bad")
        os.replace(location, bad)
        raise type(error)(f"{error}; the file was moved to {bad}") from None


def forget_first_use_pin(checkpoint: Checkpoint, resources: str | os.PathLike | None = None) -> bool:
    """Drop the first-use digest of a browser-only checkpoint (``--repin``); False when none was
    recorded. A git file's digests are pinned here and never dropped."""
    if not checkpoint.source.browser:
        raise ValueError(f"{checkpoint.name} is pinned by its git blob id and sha256; there is no first-use digest to drop")
    return LockFile.load(user_lock_path(default_resources(resources))).forget(checkpoint.resources_path)


def fetch_checkpoint(checkpoint: Checkpoint, resources: str | os.PathLike | None = None, offline: bool = False,
                     policy: DownloadPolicy = DownloadPolicy(), mirrors: str | list[str] | None = None,
                     validate: Validate | None = None) -> Path:
    """Make ``checkpoint`` present and verified in ``resources/weights/``; return its path
    (``validate``: see :data:`Validate`).

    Already there: verified, no network. Otherwise downloaded from the mirrors, then (a git file)
    its pinned raw URL; ``offline``, or a browser-only file with no mirror, is a
    FileNotFoundError saying what to fetch and where to put it.
    """
    resources = default_resources(resources)
    location = checkpoint_location(checkpoint, resources)
    if location.is_file():
        _verify_existing(checkpoint, location, resources, validate)
        return location
    source = checkpoint.source
    urls = [*on_mirrors(mirror_bases(mirrors), *checkpoint.resources_path.split("/")),
            *([source.url] if isinstance(source, GitFile) else [])]
    if offline:
        raise FileNotFoundError(missing_message(checkpoint, location, "offline"))
    if not urls:
        raise FileNotFoundError(missing_message(checkpoint, location, "it needs a browser to download"))
    return download(urls, location, lambda part, url: verify_checkpoint(checkpoint, part, resources, url, validate),
                    policy)
