"""Checksum lock files: which digest each downloaded archive must have.

Two lock files, same format, looked up in this order:

1. the **pinned lock** ``irsde/data/checksums.lock.json`` (committed): digests published by a
   named source (e.g. TFDS for DIV2K) or pinned by a maintainer;
2. the **user lock** ``<resources>/checksums.lock.json``: trust on first use. When an archive
   whose digest is not pinned is downloaded (or dropped into ``resources/``) for the first time,
   its sha256, md5 and size are recorded here; every later use must match. Nothing is recorded
   before the file passed the caller's ``validate`` check (for archives: a whole, safe zip/tar,
   see ``irsde.data.archives``), so an HTML page or a cut download is never pinned. A wrong
   first-use entry is dropped with ``irsde data fetch DATASET --repin`` (:meth:`LockFile.forget`).
   To pin a digest for everybody, copy its entry into the pinned lock.

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
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from irsde.fileio import atomic_write_text, waiting_lock

PINNED_LOCK = Path(__file__).with_name("checksums.lock.json")
USER_LOCK_NAME = "checksums.lock.json"
DIGEST_NAMES = ("sha256", "md5")
_DIGEST_PATTERNS = {"sha256": re.compile(r"^[0-9a-fA-F]{64}$"), "md5": re.compile(r"^[0-9a-fA-F]{32}$")}
_CHUNK = 1 << 20


class ChecksumMismatch(ValueError):
    """A file's digest differs from the one its lock requires. ``first_use`` is True when that
    digest was only recorded on first use (the user lock), so dropping the pin may be the fix."""

    first_use = False


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
        for key, entry in entries.items():
            _check_entry(path, key, entry)
        return cls(path, dict(entries))

    def record(self, key: str, entry: dict) -> None:
        """Add or replace ``key`` and write the file atomically (:meth:`_update`)."""
        self._update(lambda entries: entries.__setitem__(key, dict(entry)))

    def forget(self, key: str) -> bool:
        """Remove ``key`` (written atomically); False when it was not there."""
        return self._update(lambda entries: entries.pop(key, None) is not None)

    def _update(self, change) -> bool:
        """Apply ``change`` to the entries on disk and write them, one process at a time: a
        concurrent fetch's entry, recorded since this lock was loaded, is kept."""
        with waiting_lock(self.path, "updating the checksum lock"):
            self.entries = LockFile.load(self.path).entries
            changed = change(self.entries)
            if changed is not False:
                text = json.dumps({"version": 1, "files": self.entries}, indent=2, sort_keys=True) + "\n"
                atomic_write_text(self.path, text)
            return changed is not False


def _check_entry(path: Path, key: str, entry) -> None:
    """One lock entry must hold well-formed digests; the error names the file, the entry and
    the field, and what to do."""
    advice = f"fix or delete the entry {key!r} in {path} (a first-use entry is re-recorded by the next fetch)"
    if not isinstance(entry, dict):
        raise ValueError(f"lock file {path}: entry {key!r} must be an object, got {entry!r}; {advice}")
    for name, pattern in _DIGEST_PATTERNS.items():
        if name in entry and not (isinstance(entry[name], str) and pattern.match(entry[name])):
            raise ValueError(f"lock file {path}: entry {key!r} has a malformed {name} {entry[name]!r}; {advice}")
    size = entry.get("size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"lock file {path}: entry {key!r} has a malformed size {size!r}; {advice}")


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
                     pinned: str | os.PathLike = PINNED_LOCK,
                     validate: Callable[[Path], object] | None = None) -> FileDigests:
    """Check ``path`` against the locks; record its digests in the user lock if none is pinned
    yet, or if only some digests are (e.g. only an md5 was published). Before recording,
    ``validate(path)`` must pass (it raises to refuse the file). Returns its digests."""
    actual = file_digests(path)
    expected = expected_digests(key, resources, pinned)
    try:
        check_against(key, path, actual, expected)
    except ChecksumMismatch as error:
        if key in LockFile.load(pinned).entries:
            raise
        user_entry = LockFile.load(user_lock_path(resources)).entries[key]
        mismatch = ChecksumMismatch(
            f"{error}. The expected digests were recorded on first use (from {user_entry.get('source', '?')}) "
            f"in {user_lock_path(resources)}"
        )
        mismatch.first_use = True
        raise mismatch from None
    if any(name not in expected for name in DIGEST_NAMES):
        if validate is not None:
            validate(path)
        lock = LockFile.load(user_lock_path(resources))
        lock.record(key, {**actual.as_dict(), "source": origin})
    return actual
