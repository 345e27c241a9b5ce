"""Checksum lock files: which digest each downloaded archive must have.

Two lock files, same format, looked up in this order:

1. the **pinned lock** ``irsde/data/checksums.lock.json`` (committed): digests published by a
   named source (e.g. TFDS for DIV2K) or pinned by a maintainer;
2. the **user lock** ``<resources>/checksums.lock.json``: trust on first use. When an archive
   whose digest is not pinned is downloaded (or dropped into ``resources/``) for the first time,
   its sha256, md5 and size are recorded here; every later use must match. To pin a digest for
   everybody, copy its entry into the pinned lock.

Format::

    {"version": 1,
     "files": {"Rain100H.zip": {"sha256": "...", "md5": "...", "size": 123, "source": "..."}}}

Keys are archive file names as they appear in ``resources/``. A digest present in both locks
must agree, otherwise it is an error naming both files.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from irsde.fileio import atomic_write_text

PINNED_LOCK = Path(__file__).with_name("checksums.lock.json")
USER_LOCK_NAME = "checksums.lock.json"
DIGEST_NAMES = ("sha256", "md5")
_CHUNK = 1 << 20


class ChecksumMismatch(ValueError):
    """A file's digest differs from the one its lock requires."""


@dataclass
class FileDigests:
    """Digests and size of one file."""

    sha256: str
    md5: str
    size: int

    def as_dict(self) -> dict:
        return {"sha256": self.sha256, "md5": self.md5, "size": self.size}


def file_digests(path: str | os.PathLike) -> FileDigests:
    """sha256, md5 and size of a file, read in chunks."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return FileDigests(sha256.hexdigest(), md5.hexdigest(), size)


@dataclass
class LockFile:
    """One lock file on disk (it need not exist yet)."""

    path: Path
    entries: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LockFile":
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
            entries = data["files"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"lock file {path} is not a valid checksum lock: {error}") from error
        if not isinstance(entries, dict):
            raise ValueError(f"lock file {path}: 'files' must be an object")
        return cls(path, dict(entries))

    def record(self, key: str, entry: dict) -> None:
        """Add or replace ``key`` and write the file atomically."""
        self.entries[key] = dict(entry)
        text = json.dumps({"version": 1, "files": self.entries}, indent=2, sort_keys=True) + "\n"
        atomic_write_text(self.path, text)


def user_lock_path(resources: str | os.PathLike) -> Path:
    return Path(resources) / USER_LOCK_NAME


def expected_digests(key: str, resources: str | os.PathLike, pinned: str | os.PathLike = PINNED_LOCK) -> dict:
    """Digests ``key`` must have (``{}`` when neither lock knows it), merged from both locks."""
    pinned_lock, user_lock = LockFile.load(pinned), LockFile.load(user_lock_path(resources))
    merged: dict = {}
    for lock in (pinned_lock, user_lock):
        for name, value in lock.entries.get(key, {}).items():
            if name in DIGEST_NAMES + ("size",) and name in merged and merged[name] != value:
                raise ValueError(
                    f"checksum locks disagree on {key} {name}: {pinned_lock.path} has {merged[name]}, "
                    f"{user_lock.path} has {value}; remove the wrong entry"
                )
            merged.setdefault(name, value)
    return merged


def check_against(key: str, path: Path, actual: FileDigests, expected: dict) -> None:
    """Raise :class:`ChecksumMismatch` naming the file and, for each differing size or digest,
    the expected and the actual value."""
    differences = []
    if "size" in expected and int(expected["size"]) != actual.size:
        differences.append(f"size expected {expected['size']}, actual {actual.size}")
    for name in DIGEST_NAMES:
        if name in expected and expected[name].lower() != getattr(actual, name):
            differences.append(f"{name} expected {expected[name]}, actual {getattr(actual, name)}")
    if differences:
        raise ChecksumMismatch(f"{path} ({key}) does not match the checksum lock: " + "; ".join(differences))


def verify_or_record(key: str, path: Path, resources: str | os.PathLike, origin: str,
                     pinned: str | os.PathLike = PINNED_LOCK) -> FileDigests:
    """Check ``path`` against the locks; record its digests in the user lock if none is pinned
    yet, or if only some digests are (e.g. only an md5 was published). Returns its digests."""
    actual = file_digests(path)
    expected = expected_digests(key, resources, pinned)
    check_against(key, path, actual, expected)
    if any(name not in expected for name in DIGEST_NAMES):
        lock = LockFile.load(user_lock_path(resources))
        lock.record(key, {**actual.as_dict(), "source": origin})
    return actual
