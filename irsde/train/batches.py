"""Training batches as a pure function of (seed, iteration), for exact resume and DDP.

Iteration ``i`` (1-based) of a run with ``N`` training pairs and global batch ``B`` uses epoch
``e = (i - 1) // (N // B)`` and the ``(i - 1) % (N // B)``-th block of ``B`` indices of that
epoch's permutation, which is drawn from ``derive_rng(seed, "train-order", e)``; the last
``N % B`` pairs of each permutation are left out of that epoch (like ``drop_last``). The crops,
flips and transposes come from ``PairedTrainDataset``, itself a pure function of
(seed, epoch, index). Rank ``r`` of ``W`` loads rows ``r B/W : (r+1) B/W`` of each global batch.
Nothing here keeps state between iterations, so a resumed run sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from irsde.data.seeding import derive_rng
from irsde.train.distributed import Shard


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


def iterate_batches(
    dataset, plan: BatchPlan, shard: Shard, first: int, last: int, num_workers: int = 0, pin_memory: bool = False
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield ``(iteration, gt, lq)`` for iterations ``first..last``: this shard's rows, on the CPU.

    One DataLoader per epoch: the dataset's epoch is set before its workers start, so every
    worker process crops with that epoch's randomness. The loader gets a private generator and
    therefore never touches torch's global random state.
    """
    iteration = first
    while iteration <= last:
        epoch = plan.epoch_of(iteration)
        end = min(last, (epoch + 1) * plan.batches_per_epoch)
        batches = [plan.global_batch(i)[shard.start : shard.stop] for i in range(iteration, end + 1)]
        dataset.set_epoch(epoch)
        loader = DataLoader(
            dataset,
            batch_sampler=batches,
            num_workers=num_workers,
            pin_memory=pin_memory,
            generator=torch.Generator(),
        )
        for offset, batch in enumerate(loader):
            yield iteration + offset, batch["gt"], batch["lq"]
        iteration = end + 1
