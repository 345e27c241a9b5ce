"""Send a process's log records, warnings, progress bars and tracebacks to one file.

Used by batch jobs (e.g. the workflow's scripts) whose stderr nobody watches: an error that
ends the job is then in the job's log, next to what led to it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_file(path: str | os.PathLike, level: int = logging.INFO) -> Path:
    """Redirect ``sys.stderr`` to ``path`` (line-buffered, appended) and log records to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a", buffering=1, encoding="utf-8")  # lives as long as the process
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=level, format=LOG_FORMAT, force=True)
    logging.captureWarnings(True)
    return path
