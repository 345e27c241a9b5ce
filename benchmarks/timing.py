"""The one timing helper of the benchmark scripts (imported by them as ``timing``)."""

from __future__ import annotations

import statistics
import time

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock_for(device: torch.device):
    """This process's CPU time on a CPU (robust to other processes competing for the cores), wall
    time on an accelerator."""
    return time.process_time if device.type == "cpu" else time.perf_counter


def timed(function, device: torch.device = torch.device("cpu"), clock=time.perf_counter) -> float:
    """Seconds of ``function()`` on ``clock`` (wall time by default; ``time.process_time`` counts
    only this process's CPU time, robust to other processes on a shared machine), the device
    synchronised before and after."""
    synchronize(device)
    start = clock()
    function()
    synchronize(device)
    return clock() - start


def median_seconds(function, repeats: int, device: torch.device = torch.device("cpu"), clock=time.perf_counter) -> float:
    """The median of ``repeats`` timings of ``function()`` after one untimed warm-up call."""
    function()
    return statistics.median(timed(function, device, clock) for _ in range(repeats))
