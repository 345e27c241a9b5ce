"""Process-group set-up for single-process and ``torchrun`` (DDP) training.

Under ``torchrun`` the environment carries ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; the
process group is then initialised with the ``nccl`` backend on CUDA and ``gloo`` on the CPU.
Without those variables training runs in one process and no process group is created.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from irsde.devices import DEVICE_CHOICES, resolve_device  # noqa: F401  (re-exported for the train package)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistributedContext:
    """Where this process runs and which part of the global batch it owns."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 is the only process that writes logs, checkpoints and run records."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


@dataclass(frozen=True)
class Shard:
    """Samples ``start:stop`` of a global batch of ``total`` samples (one rank's part of it)."""

    start: int
    stop: int
    total: int

    @classmethod
    def whole(cls, size: int) -> "Shard":
        return cls(0, size, size)

    @property
    def is_whole(self) -> bool:
        return self.start == 0 and self.stop == self.total


def rank_shard(batch_size: int, rank: int, world_size: int) -> Shard:
    """The rows of a global batch that rank ``rank`` of ``world_size`` computes."""
    if batch_size % world_size:
        raise ValueError(
            f"config key 'data.batch_size': {batch_size} cannot be split evenly over {world_size} processes"
        )
    per_rank = batch_size // world_size
    return Shard(rank * per_rank, (rank + 1) * per_rank, batch_size)


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def setup(device_choice: str = "auto", timeout_minutes: float = 30.0) -> DistributedContext:
    """Pick the device and, under torchrun with more than one process, join the process group."""
    if not launched_by_torchrun():
        return DistributedContext(rank=0, world_size=1, local_rank=0, device=resolve_device(device_choice))
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    device = resolve_device(device_choice, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(
            backend=backend, timeout=datetime.timedelta(minutes=timeout_minutes), device_id=_device_id(device)
        )
        logger.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, device)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def _device_id(device: torch.device):
    return device if device.type == "cuda" else None


def teardown(context: DistributedContext) -> None:
    """Leave the process group (if this process joined one)."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_mean(value: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Mean of ``value`` over all ranks (returned unchanged in a single process)."""
    if not context.distributed:
        return value
    reduced = value.detach().clone()
    dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
    return reduced / context.world_size


def barrier(context: DistributedContext) -> None:
    if context.distributed:
        dist.barrier()
