"""Progress lines for a training whose stderr is a log file, not a terminal.

A batch job (a Snakemake rule, a SLURM job) has no progress bar: its stderr is the job's log.
:class:`ProgressLines` logs, at most every ``train.progress_every`` seconds, one line saying
where the training is, so that ``tail -f`` on the log shows it::

    iteration 1200/3000 (40.0%), 9.81 it/s, ETA 3 min 4 s, loss 0.01234

The speed is the mean over this session (validations and checkpoints included), so the ETA is
what the remaining iterations will take at the pace seen so far.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


def format_duration(seconds: float) -> str:
    """``3 min 4 s``, ``2 h 5 min``, ``4 d 3 h``: two units, the larger first."""
    seconds = max(0, int(round(seconds)))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def progress_line(iteration: int, total: int, rate: float, loss: float) -> str:
    """The line :class:`ProgressLines` logs (``rate`` in iterations per second, 0 if unknown)."""
    eta = format_duration((total - iteration) / rate) if rate > 0 else "unknown"
    return f"iteration {iteration}/{total} ({100.0 * iteration / total:.1f}%), {rate:.3g} it/s, ETA {eta}, loss {loss:.4g}"


class ProgressLines:
    """Logs :func:`progress_line` at most every ``every`` seconds (never when ``every`` is 0).

    ``start`` is the iteration the session starts from (after a resume, the checkpoint's);
    ``clock`` is a monotonic clock in seconds (a test passes its own)."""

    def __init__(self, total: int, start: int, every: float, clock: Callable[[], float] = time.monotonic):
        self.total, self.start, self.every, self.clock = total, start, every, clock
        self.started = self.last = clock()
        self.lines = 0

    def step(self, iteration: int, loss: float) -> None:
        """Called after every iteration with that iteration's loss."""
        if not self.every:
            return
        now = self.clock()
        if now - self.last < self.every and iteration < self.total:
            return
        elapsed = now - self.started
        rate = (iteration - self.start) / elapsed if elapsed > 0 else 0.0
        logger.info(progress_line(iteration, self.total, rate, loss))
        self.last = now
        self.lines += 1
