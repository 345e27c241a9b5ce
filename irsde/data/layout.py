"""The prepared layout ``<root>/<dataset>/<split>/{GT,LQ}/<name>.png`` and its completion marker.

A dataset folder is built in a hidden temporary sibling (``<root>/.<dataset>.tmp-*``), its
marker ``dataset.json`` is written last (counts, provenance and the sha256 of every file), and
only then is the folder renamed into place. So ``<root>/<dataset>/dataset.json`` exists if and
only if the dataset is complete; a crash leaves at most a hidden temporary folder, which the next
build removes. Both real (``irsde.data.prepare``) and synthetic (``irsde.data.synthetic``)
datasets use this layout, and :func:`verify_prepared` checks either against its marker.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from irsde.documents import read_json_object
from irsde.images import list_images

log = logging.getLogger(__name__)

MARKER = "dataset.json"
PAIR_FOLDERS = ("GT", "LQ")


def dataset_dir(root: str | os.PathLike, name: str) -> Path:
    return Path(root) / name


def marker_path(root: str | os.PathLike, name: str) -> Path:
    """Path of the completion marker; it exists only for a completely prepared dataset."""
    return dataset_dir(root, name) / MARKER


def read_marker(root: str | os.PathLike, name: str) -> dict | None:
    """The marker of a prepared dataset, or None if the dataset is not (completely) prepared."""
    path = marker_path(root, name)
    if not path.is_file():
        return None
    return read_json_object(path, "completion marker", f"prepare {name} again with --force")


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def hash_tree(folder: Path) -> dict[str, str]:
    """sha256 of every file below ``folder`` except the marker, keyed by posix relative path."""
    hashes = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and relative != MARKER:
            hashes[relative] = sha256_file(path)
    return hashes


def write_marker(folder: Path, record: dict) -> dict:
    """Write ``dataset.json`` into a finished build folder, adding the hash of every file."""
    record = {**record, "files": hash_tree(folder)}
    (folder / MARKER).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def _remove_leftovers(root: Path, name: str) -> None:
    for leftover in root.glob(f".{name}.tmp-*"):
        log.warning("removing %s, left by an interrupted build", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def building(root: str | os.PathLike, name: str, replace_incomplete: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder to build dataset ``name`` in; on success (the body must
    have written the marker) swap it into ``<root>/<name>``, replacing an older complete build;
    on any error remove it. An empty folder at the target (a workflow manager makes one for its
    outputs) is replaced. A non-empty one without a marker (not a complete build: e.g. the
    workflow manager deleted the marker, its declared output, before a re-run; or someone
    else's folder) is replaced only with ``replace_incomplete``, otherwise it is an error
    before any work."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = dataset_dir(root, name)
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if target.exists() and not (target / MARKER).is_file():
        if not replace_incomplete:
            raise RuntimeError(
                f"{target} exists but has no {MARKER}: it is not a completed build of {name}; "
                f"move or delete it, or rebuild with force"
            )
        log.warning("replacing %s, which has no %s (not a complete build)", target, MARKER)
    _remove_leftovers(root, name)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=root))
    try:
        yield work
        if not (work / MARKER).is_file():
            raise RuntimeError(f"internal error: build of {name} finished without writing {MARKER}")
        if target.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-old-", dir=root))
            os.replace(target, retired / name)
            os.replace(work, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def verify_prepared(root: str | os.PathLike, name: str) -> dict:
    """Check a prepared dataset against its marker: every recorded file present with its
    recorded sha256, no unrecorded file, GT and LQ holding the same names, pair counts as
    recorded. Returns the marker; raises ValueError listing every problem."""
    folder = dataset_dir(root, name)
    marker = read_marker(root, name)
    if marker is None:
        raise FileNotFoundError(f"{folder} is not a prepared dataset: {folder / MARKER} is missing")
    recorded: dict[str, str] = marker.get("files", {})
    actual = hash_tree(folder)
    problems = [f"missing: {folder / rel}" for rel in sorted(set(recorded) - set(actual))]
    problems += [f"not recorded in {MARKER}: {folder / rel}" for rel in sorted(set(actual) - set(recorded))]
    problems += [
        f"changed (sha256 {actual[rel]}, recorded {recorded[rel]}): {folder / rel}"
        for rel in sorted(set(actual) & set(recorded))
        if actual[rel] != recorded[rel]
    ]
    for split, info in marker.get("splits", {}).items():
        problems += _split_problems(folder / split, int(info["pairs"]))
    if problems:
        raise ValueError(f"{name} in {folder} fails verification ({len(problems)} problems):\n  " + "\n  ".join(problems))
    return marker


def _split_problems(split_dir: Path, pairs: int) -> list[str]:
    try:
        names = {folder: {p.name for p in list_images(split_dir / folder)} for folder in PAIR_FOLDERS}
    except FileNotFoundError as error:
        return [str(error)]
    problems = [f"{split_dir / 'GT' / n} has no LQ partner" for n in sorted(names["GT"] - names["LQ"])]
    problems += [f"{split_dir / 'LQ' / n} has no GT partner" for n in sorted(names["LQ"] - names["GT"])]
    if len(names["GT"]) != pairs:
        problems.append(f"{split_dir}: {len(names['GT'])} GT images, the marker records {pairs} pairs")
    return problems


def split_noise_level(split_dir: str | os.PathLike) -> float | None:
    """The Gaussian noise std (0-255 scale) a prepared split's LQ images were made with, as its
    dataset's marker records it (a registry test set's synthesis, or the degradation of every
    sample of a synthetic stand-in); None when the marker records none (or is absent)."""
    split_dir = Path(split_dir)
    marker_file = split_dir.parent / MARKER
    if not marker_file.is_file():
        return None
    marker = json.loads(marker_file.read_text())
    synthesis = ((marker.get("splits") or {}).get(split_dir.name) or {}).get("synthesis") or {}
    if synthesis.get("kind") == "gaussian-noise":
        return float(synthesis["sigma"])
    sigmas = {sample["degradation"].get("sigma") for name, sample in (marker.get("samples") or {}).items()
              if name.startswith(f"{split_dir.name}/") and isinstance(sample.get("degradation"), dict)}
    return float(sigmas.pop()) if len(sigmas) == 1 and None not in sigmas else None
