"""Training batches as a pure function of (seed, iteration), for exact resume and DDP.

Iteration ``i`` (1-based) of a run with ``N`` training pairs and global batch ``B`` uses epoch
``e = (i - 1) // (N // B)`` and the ``(i - 1) % (N // B)``-th block of ``B`` indices of that
epoch's permutation, which is drawn from ``derive_rng(seed, "train-order", e)``; the last
``N % B`` pairs of each permutation are left out of that epoch (like ``drop_last``). The crops,
flips and transposes come from ``PairedTrainDataset``, itself a pure function of
(seed, epoch, index) and read by ``(epoch, index)`` keys, so one DataLoader serves the whole
run. Rank ``r`` of ``W`` loads rows ``r B/W : (r+1) B/W`` of each global batch.
Nothing here keeps state between iterations, so a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from irsde.data.seeding import derive_rng
from irsde.methods import Shard


@dataclass(frozen=True)
class BatchPlan:
    """Which training pairs form the global batch of each iteration."""

    num_pairs: int
    batch_size: int
    seed: int

    def __post_init__(self):
        if self.batch_size > self.num_pairs:
            raise ValueError(
                f"config key 'data.batch_size': {self.batch_size} is larger than the {self.num_pairs} training pairs"
            )

    @property
    def batches_per_epoch(self) -> int:
        return self.num_pairs // self.batch_size

    def epoch_of(self, iteration: int) -> int:
        return (iteration - 1) // self.batches_per_epoch

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The permutation of pair indices used in ``epoch``."""
        return derive_rng(self.seed, "train-order", epoch).permutation(self.num_pairs)

    def global_batch(self, iteration: int) -> list[int]:
        """Indices of the ``batch_size`` pairs of ``iteration`` (1-based)."""
        if iteration < 1:
            raise ValueError(f"iterations count from 1, got {iteration}")
        block = (iteration - 1) % self.batches_per_epoch
        order = self.epoch_order(self.epoch_of(iteration))
        return order[block * self.batch_size : (block + 1) * self.batch_size].tolist()


class PlannedBatches:
    """The batch sampler of a run: for each iteration ``first..last``, this shard's
    ``(epoch, index)`` keys of the planned global batch."""

    def __init__(self, plan: BatchPlan, shard: Shard, first: int, last: int):
        self.plan, self.shard, self.first, self.last = plan, shard, first, last

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for iteration in range(self.first, self.last + 1):
            epoch = self.plan.epoch_of(iteration)
            rows = self.plan.global_batch(iteration)[self.shard.start : self.shard.stop]
            yield [(epoch, index) for index in rows]


class EpochIndexed(Dataset):
    """Looks samples up by ``(epoch, index)`` with ``PairedTrainDataset.sample(index, epoch)``,
    so one DataLoader (and one set of workers) serves every epoch of a run."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        return self.dataset.sample(index, epoch)


def iterate_batches(
    dataset, plan: BatchPlan, shard: Shard, first: int, last: int, num_workers: int = 0, pin_memory: bool = False
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(iteration, gt, lq)`` for iterations ``first..last``: this shard's rows, on the CPU.

    ``dataset`` is a ``PairedTrainDataset`` (anything with ``sample(index, epoch)``). The loader
    gets a private generator and therefore never touches torch's global random state.
    """
    loader = DataLoader(
        EpochIndexed(dataset),
        batch_sampler=PlannedBatches(plan, shard, first, last),
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator(),
    )
    for iteration, batch in enumerate(loader, start=first):
        yield iteration, batch["gt"], batch["lq"]
