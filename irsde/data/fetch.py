"""Fetching a dataset's sources into ``resources/``, verified, and offline use of what is there.

An archive is downloaded (:mod:`irsde.data.download`: resume, retries, deadlines, mirrors) and
renamed to ``<resources>/<name>`` only after the checksum lock accepts it (see
``irsde.data.lock``). An archive whose digest is not pinned yet is first checked to be a whole,
safe zip/tar (``irsde.data.archives.check_archive``), so an HTML page or a cut download is never
pinned; a file that fails its checksum or that check is moved to ``<name>.bad``, the next URL is
tried, and the error names the file. Git-tree sources are fetched file by file
(:mod:`irsde.data.git_trees`). Every source is first looked for on the mirrors.

Nothing here touches the network when the file is already in ``resources/`` (or given by the
user); with ``offline=True`` a missing file is an error telling exactly where to put it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from irsde.data.archives import DamagedArchiveError, UnsafeArchiveError, check_archive
from irsde.data.download import REJECTIONS, DownloadError, DownloadPolicy, download, mirror_bases, on_mirrors
from irsde.data.git_trees import fetch_git_tree, holds_files, verify_git_folder
from irsde.data.lock import PINNED_LOCK, ChecksumMismatch, LockFile, user_lock_path, verify_or_record
from irsde.data.records import ArchiveSource, GitTreeSource, Source
from irsde.data.registry import DATASETS, get_dataset

log = logging.getLogger(__name__)

RESOURCES_ENV = "IRSDE_RESOURCES"


def default_resources(resources: str | os.PathLike | None = None) -> Path:
    """``resources`` if given, else ``$IRSDE_RESOURCES``, else ``./resources``."""
    return Path(resources or os.environ.get(RESOURCES_ENV) or "resources")


def source_location(source: Source, resources: str | os.PathLike) -> Path:
    """Where a source lives in ``resources/``: the archive file or the git-tree folder."""
    return Path(resources) / source.name


def missing_message(source: Source, location: Path, reason: str, state: str = "does not exist") -> str:
    """The error for a source that is not on disk (or not whole) and will not be downloaded."""
    lines = [f"{source.name} is needed but {location} {state} ({reason})."]
    if isinstance(source, GitTreeSource):
        lines.append(
            f"Run `irsde data fetch` with network access, or copy the folder {source.folder} of "
            f"github.com/{source.repo} at commit {source.commit} to {location} (it must match git "
            f"tree {source.tree_id})."
        )
    else:
        lines.append(f"Place the file at {location} (a digest not yet pinned is recorded on first use).")
    if source.instructions:
        lines.append(source.instructions)
    if source.urls:
        lines.append("Source: " + " ".join(source.urls))
    return " ".join(lines)


def datasets_using(source_name: str) -> list[str]:
    """Names of the registered datasets with a source called ``source_name``."""
    return [name for name, dataset in DATASETS.items() if any(s.name == source_name for s in dataset.sources)]


def repin_advice(source_name: str) -> str:
    """What to run when a first-use digest turns out to be the wrong one."""
    command = " or ".join(f"`irsde data fetch {name} --repin`" for name in datasets_using(source_name)[:2])
    return (f"if that first file was not the genuine archive, drop its pin with "
            f"{command or '`irsde data fetch DATASET --repin`'} and fetch again")


def verify_archive(source: ArchiveSource, path: Path, resources: Path, origin: str) -> None:
    """Check an archive against the locks; an archive not pinned yet must first be a whole,
    safe zip/tar (every byte read) before its digests are recorded."""
    try:
        named = str(path) if path.name == source.name else f"{source.name} (from {origin})"
        verify_or_record(source.name, path, resources, origin,
                         validate=lambda file: check_archive(file, read_data=True, name=named, file_name=source.name))
    except ChecksumMismatch as error:
        if not error.first_use:
            raise
        mismatch = ChecksumMismatch(f"{error}; {repin_advice(source.name)}")
        mismatch.first_use = True
        raise mismatch from None
    except (DamagedArchiveError, UnsafeArchiveError) as error:
        raise type(error)(f"{error}; its digest was not recorded") from None


def _verify_existing_archive(source: ArchiveSource, path: Path, resources: Path, origin: str) -> None:
    try:
        verify_archive(source, path, resources, origin)
    except REJECTIONS as error:
        bad = path.with_name(path.name + ".bad")
        os.replace(path, bad)
        refused = type(error)(f"{error}; the file was moved to {bad}")
        refused.first_use = getattr(error, "first_use", False)
        raise refused from None


def forget_first_use_pins(dataset, resources: str | os.PathLike | None = None) -> list[str]:
    """Drop the first-use digests of ``dataset``'s archives from the user lock (``--repin``);
    returns the archive names dropped. Digests pinned in the package lock are kept."""
    resources = default_resources(resources)
    user_lock, pinned = LockFile.load(user_lock_path(resources)), LockFile.load(PINNED_LOCK)
    dropped = []
    for source in get_dataset(dataset).sources:
        if not isinstance(source, ArchiveSource):
            continue
        if source.name in pinned.entries:
            log.warning("%s is pinned in %s (a published digest); --repin leaves it", source.name, PINNED_LOCK)
        if user_lock.forget(source.name):
            dropped.append(source.name)
    return dropped


def fetch_source(source: Source, resources: str | os.PathLike | None = None, offline: bool = False,
                 policy: DownloadPolicy = DownloadPolicy(), mirrors: str | list[str] | None = None) -> Path:
    """Make ``source`` present and verified in ``resources/``; return its path.

    Already there: verified against the lock (archives) or the tree id (git trees), no network.
    Otherwise downloaded from the mirrors (module docstring), then the source's own URLs,
    unless ``offline`` or the source needs a browser and no mirror is set, in which case a
    FileNotFoundError says which file to put where.
    """
    resources = default_resources(resources)
    location = source_location(source, resources)
    bases = mirror_bases(mirrors)
    if isinstance(source, GitTreeSource):
        return _fetch_git_source(source, location, offline, policy, bases)
    if location.is_file():
        _verify_existing_archive(source, location, resources, f"file found in {resources}")
        return location
    urls = [*on_mirrors(bases, source.name), *(() if source.browser else source.urls)]
    if not urls:
        raise FileNotFoundError(missing_message(source, location, "it needs a browser or login to download"))
    if offline:
        raise FileNotFoundError(missing_message(source, location, "offline"))
    return download(urls, location, lambda part, url: verify_archive(source, part, resources, url), policy)


def _fetch_git_source(source: GitTreeSource, location: Path, offline: bool, policy: DownloadPolicy,
                      mirrors: list[str]) -> Path:
    if holds_files(location):
        try:
            verify_git_folder(source, location)
            return location
        except ChecksumMismatch as error:
            if offline:
                advice = missing_message(source, location, "offline", "is not a whole copy")
                raise ChecksumMismatch(f"{error}. {advice}") from None
            log.info("%s is incomplete or differs; completing it from %s", location, source.repo)
    elif offline:
        state = "holds no files" if location.is_dir() else "does not exist"
        raise FileNotFoundError(missing_message(source, location, "offline", state))
    fetch_git_tree(source, location, policy, mirrors)
    return location


def fetch_dataset(name, resources: str | os.PathLike | None = None, offline: bool = False,
                  policy: DownloadPolicy = DownloadPolicy(), mirrors: str | list[str] | None = None) -> dict[str, Path]:
    """Fetch every source of a dataset; returns ``{source name: path}``. All sources are tried
    before an error, which lists each source that could not be obtained."""
    dataset = get_dataset(name)
    found, errors = {}, []
    for source in dataset.sources:
        try:
            found[source.name] = fetch_source(source, resources, offline, policy, mirrors)
        except (FileNotFoundError, DownloadError, *REJECTIONS) as error:
            errors.append(error)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise RuntimeError(f"{dataset.name}: {len(errors)} sources unavailable: " + " | ".join(map(str, errors)))
    return found
