"""Atomic file writes: a file at its final path is always complete.

Every writer here writes to a temporary file next to the target, flushes and fsyncs it, then
renames it over the target; on any error the temporary file is removed and the target is left
as it was. Checkpoints, logs, lock files, restored images and metric tables all go through it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write_bytes(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file_object)`` on a temporary file next to ``path``, fsync, rename to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, content: str) -> Path:
    """Write ``content`` as UTF-8 text to ``path`` atomically."""
    return atomic_write_bytes(path, lambda stream: stream.write(content.encode("utf-8")))
