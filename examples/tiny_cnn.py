"""A user's trainable method, outside irsde: a 3-layer residual CNN (README, "Benchmark your own method").

The pipeline names it ``examples.tiny_cnn:TinyCNN`` in ``methods:`` (``examples/config.yaml``)
and trains it with irsde's engine on the same data, crops, optimiser, iterations and seeds as
IR-SDE; ``irsde restore --run`` restores it and its rows are scored under the benchmark's
protocol. A method declares its facts and implements four methods (:class:`irsde.methods.Method`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from irsde.methods import Method, Shard


class TinyCNN(Method):
    """restored = lq + conv(relu(conv(relu(conv(lq))))), trained with L1 (or L2) to the ground truth."""

    id = "tiny_cnn"
    label = "Tiny CNN (user example)"
    stochastic = False  # restoring draws no random numbers: one sampling seed is enough
    width = 16

    def __init__(self, kind: str = "l1"):
        self.kind = kind

    @classmethod
    def from_config(cls, config: Mapping) -> "TinyCNN":
        """From the run's resolved training config: only ``loss.kind`` applies to this method."""
        return cls(kind=config["loss"]["kind"])

    def build_net(self) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, self.width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(self.width, self.width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(self.width, 3, 3, padding=1),
        )

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        error = self.restore(net, lq, generator) - gt
        return error.abs().mean() if self.kind == "l1" else error.pow(2).mean()

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
        return lq + net(lq)
