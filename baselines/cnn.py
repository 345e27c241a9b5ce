"""The CNN baseline: IR-SDE's U-Net body as a one-step LQ -> HQ regressor (docs/network.md#the-cnn-baseline).

The paper's "CNN-baseline" is not defined in the released code; this is our reconstruction and
tables label it so. It is trained by the same engine as IR-SDE (:mod:`irsde.train.engine`), on the
same data, crops, optimiser, EMA and iteration budget, with an L1 loss to the ground truth
(``loss.kind`` selects L2 instead). There is no SDE, no noise and no time input. It registers
with irsde as method ``cnn_baseline`` through this project's ``irsde.methods`` entry point
(``pyproject.toml``), the way any method outside the library does.

Forward pass (decided here, used for training and restoration alike)::

    restored = lq + net(lq, lq, None)

with ``net = ConditionalUNet(nf, depth, time_conditioned=False)``. The U-Net's input is
``concat(xt - mu, mu)``; feeding ``xt = mu = lq`` makes that ``concat(0, lq)``, i.e. the network
sees the degraded image once, and the zero half contributes nothing. The network predicts the
residual ``HQ - LQ`` (residual learning, as in most restoration CNNs, and the same output role
as IR-SDE's noise head), which starts the baseline at the identity rather than at black.
A baseline weight file is a plain state_dict of that U-Net (no ``time_mlp`` keys).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from irsde.losses import distance
from irsde.methods import Method, Shard
from irsde.nets import ConditionalUNet


def regress(net: nn.Module, lq: Tensor) -> Tensor:
    """The baseline's restoration of the batch ``lq``: ``lq + net(lq, lq, None)`` (not clamped)."""
    return lq + net(lq, lq, None)


class CNNBaseline(Method):
    """One-step regression LQ -> HQ with the time-free U-Net, trained with L1 (or L2) to GT."""

    id = "cnn_baseline"
    label = "CNN-baseline (our reconstruction)"
    paper_row = "CNN-baseline"
    stochastic = False

    def __init__(self, network: Mapping, kind: str = "l1"):
        self.network, self.kind = dict(network), kind

    @classmethod
    def from_config(cls, config: Mapping) -> "CNNBaseline":
        """From a resolved training config; uses ``network.*`` and ``loss.kind`` (the ``sde``
        section, the method option ``prediction`` and ``loss.name`` do not apply to the baseline, whose
        output is always the clean image as a residual on the input)."""
        return cls(network=config["network"], kind=config["loss"]["kind"])

    def build_net(self) -> nn.Module:
        return ConditionalUNet(**dict(self.network), time_conditioned=False)

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        """Per-sample mean absolute error to GT, averaged over the batch (no randomness used)."""
        return distance(regress(net, lq), gt, self.kind)

    def settings(self) -> dict:
        return {"nfe": 1}

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One forward pass; ``generator`` is accepted for the common interface and unused."""
        return regress(net, lq)
