"""Atomic file writes: a file at its final path is always complete.

Every writer here writes to a temporary file next to the target, flushes and fsyncs it, then
renames it over the target; on any error the temporary file is removed and the target is left
as it was, and the error names the target (e.g. a full disk). Checkpoints, logs, lock files,
restored images and metric tables all go through it. :func:`exclusive_folder` keeps two
processes from writing one output folder at once (the second is refused); :func:`waiting_lock`
makes two processes that write one file (a download, a record file) take turns.
"""

from __future__ import annotations

import errno
import fcntl
import io
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)


class _WriteThrough:
    """The stream a writer of :func:`atomic_write_bytes` gets: the temporary file without its file
    descriptor. A writer that would write to a real file's descriptor itself (numpy's ``tofile``,
    behind ``np.save``) then writes through Python, whose errors carry the OS's reason ("No space
    left on device"), not only a short count ("N requested and M written")."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")  # writers then write through write()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(stream)`` on a temporary file next to ``path``, fsync, rename to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a folder; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(_WriteThrough(stream))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except Exception as error:
        Path(temporary).unlink(missing_ok=True)
        cause = _os_error_behind(error)
        if cause is None or cause.filename is not None:
            raise
        reason = cause.strerror or str(cause)
        advice = "; free some space or write elsewhere" if cause.errno in (errno.ENOSPC, errno.EDQUOT) else ""
        raise OSError(cause.errno, f"cannot write {path}: {reason}{advice}") from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _os_error_behind(error: BaseException) -> OSError | None:
    """The OSError behind ``error``: itself, or the one it was raised while handling (``torch.save``
    turns a failed write into a RuntimeError of its own, "unexpected pos ...")."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def atomic_write_text(path: str | os.PathLike, content: str) -> Path:
    """Write ``content`` as UTF-8 text to ``path`` atomically."""
    return atomic_write_bytes(path, lambda stream: stream.write(content.encode("utf-8")))


# ----------------------------------------------------------------------------------- exclusive use

LOCK_SUFFIX = ".lock"
LOCK_NAME = ".irsde.lock"
PART_PATTERN = ".*.part"  # temporary files of atomic_write_bytes


class FolderInUse(RuntimeError):
    """Another process holds a folder's lock."""


@contextmanager
def exclusive_folder(folder: str | os.PathLike, purpose: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``folder`` (created if needed) while the block runs.

    The lock is ``fcntl.flock`` on ``<folder>/.irsde.lock``: the operating system releases it
    when the process ends, however it ends, so a killed run never leaves a stale lock. A second
    process raises :class:`FolderInUse` naming the folder and the holder's pid and ``purpose``.
    On a file system without locks (some network mounts) a warning is logged and the block runs.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / LOCK_NAME, purpose, wait=False, subject=folder):
        yield folder


def lock_path(path: str | os.PathLike) -> Path:
    """The hidden file ``.<name>.lock`` beside ``path`` that :func:`waiting_lock` locks."""
    path = Path(path)
    return path.with_name(f".{path.name}{LOCK_SUFFIX}")


def is_lock_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is one of the hidden lock files of this module (to leave out of listings)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(LOCK_SUFFIX)


@contextmanager
def waiting_lock(path: str | os.PathLike, purpose: str) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` (``flock`` on :func:`lock_path`) while the block runs,
    waiting, with a log line naming the holder, while another process holds it: two processes that
    download one file or update one record file take turns. Released however the process ends."""
    with _locked(lock_path(path), purpose, wait=True, subject=Path(path)):
        yield


@contextmanager
def _locked(lock_file: Path, purpose: str, wait: bool, subject: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_file, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            if not wait:
                raise FolderInUse(f"{subject} is in use by {holder}: wait for it to finish, or use another folder") from None
            logger.info("waiting for %s, in use by %s", subject, holder)
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as error:
            logger.warning("cannot lock %s (%s): make sure no other process writes into it", subject, error)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} ({purpose})")
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def remove_stale_parts(*folders: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed atomic writes left directly in ``folders``
    (``.<name>.<random>.part``); call it only while holding the folder (:func:`exclusive_folder`).
    Returns what was removed."""
    removed = []
    for folder in folders:
        for path in sorted(Path(folder).glob(PART_PATTERN)):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    if removed:
        logger.info("removed %d temporary file(s) of an interrupted write: %s", len(removed), removed[0])
    return removed
