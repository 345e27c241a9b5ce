"""Training methods: what a training step optimises and how a trained network restores an image.

The engine (:mod:`irsde.train.engine`) is shared by every method; a method only supplies

* ``to(device) -> method`` (moves any tensors the method holds, returns itself),
* ``build_net() -> nn.Module`` (built on the CPU from the run's config),
* ``loss(net, gt, lq, generator, shard) -> scalar tensor`` for the part ``shard`` of the global
  batch this process holds (``gt``/``lq`` are that part; ``generator`` is the run's training
  generator, identical on every rank), and
* ``restore(net, lq, generator) -> restored batch`` used for validation (no gradients), and
  optionally ``timestep_errors(net, gt, lq, seed) -> rows`` (IR-SDE: the noise-prediction error
  by timestep, :mod:`irsde.diagnostics`), logged at every validation.

Methods are registered by name in :data:`METHODS` as ``"module:attribute"`` paths of a factory
``factory(config) -> method``, imported when first used; the CNN baseline lives in
``baselines.cnn`` and registers itself here by path only.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Protocol

import torch
from torch import Tensor, nn

from irsde.diagnostics import noise_prediction_errors, probe_steps
from irsde.losses import TrainingBatch, draw_training_batch, get_loss, timestep_weights
from irsde.nets import ConditionalUNet
from irsde.samplers import restore
from irsde.sde import MeanRevertingSDE
from irsde.train.distributed import Shard


class Method(Protocol):
    """What the training engine needs from a restoration method."""

    name: str

    def to(self, device: torch.device) -> "Method": ...

    def build_net(self) -> nn.Module: ...

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor: ...

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor: ...


METHODS: dict[str, str] = {
    "irsde": "irsde.train.methods:IRSDEMethod.from_config",
    "cnn_baseline": "baselines.cnn:CNNBaseline.from_config",
}
"""Method factories by name, as ``"module:attribute"`` import paths."""


def build_method(config: Mapping) -> Method:
    """The method named by ``config["method"]``, configured from the resolved training config."""
    name = config["method"]
    if name not in METHODS:
        raise ValueError(f"config key 'method': {name!r} is not one of {', '.join(METHODS)}")
    module_name, _, attribute = METHODS[name].partition(":")
    factory = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    return factory(config)


# ----------------------------------------------------------------------------------- IR-SDE


def draw_shard_batch(
    sde: MeanRevertingSDE, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard
) -> TrainingBatch:
    """Draw (t, noise, x_t) for a whole global batch and keep this shard's part.

    Every rank holds the same generator state, draws the times and noise of all ``shard.total``
    samples exactly as a single process would, and keeps rows ``shard.start:shard.stop``; so
    training on N ranks sees the very same random numbers as training in one process. Rows of
    other ranks are formed from zero images and discarded (x_t is elementwise per sample).
    """
    if shard.is_whole:
        return draw_training_batch(sde, gt, lq, generator)
    full_shape = (shard.total, *gt.shape[1:])
    gt_full, lq_full = gt.new_zeros(full_shape), lq.new_zeros(full_shape)
    gt_full[shard.start : shard.stop] = gt
    lq_full[shard.start : shard.stop] = lq
    full = draw_training_batch(sde, gt_full, lq_full, generator)
    rows = slice(shard.start, shard.stop)
    return TrainingBatch(t=full.t[rows], noise=full.noise[rows], xt=full.xt[rows], x0=gt, mu=lq)


class IRSDEMethod:
    """IR-SDE: the conditional U-Net predicts the noise of x_t; maximum-likelihood or
    noise-matching loss; restoration by a reverse-time sampler (``sde`` by default)."""

    name = "irsde"

    def __init__(
        self, network: Mapping, sde: MeanRevertingSDE, loss: str, kind: str, sampler: str, weighting: str = "uniform"
    ):
        self.network = dict(network)
        self.sde = sde
        self.loss_name, self.kind = loss, kind
        self.loss_fn = get_loss(loss)
        self.sampler = sampler
        self.weighting = weighting
        gamma = timestep_weights(sde, weighting, loss)
        self.weights = None if weighting == "uniform" else torch.as_tensor(gamma, dtype=torch.float32)

    @classmethod
    def from_config(cls, config: Mapping) -> "IRSDEMethod":
        sde = MeanRevertingSDE(**config["sde"])
        return cls(
            network=config["network"],
            sde=sde,
            loss=config["loss"]["name"],
            kind=config["loss"]["kind"],
            sampler=config["train"]["val_sampler"],
            weighting=config["loss"]["timestep_weights"],
        )

    def to(self, device: torch.device) -> "IRSDEMethod":
        self.sde = self.sde.to(device)
        if self.weights is not None:
            self.weights = self.weights.to(device)
        return self

    def build_net(self) -> nn.Module:
        return ConditionalUNet(**self.network, time_conditioned=True)

    def loss(self, net: nn.Module, gt: Tensor, lq: Tensor, generator: torch.Generator, shard: Shard) -> Tensor:
        batch = draw_shard_batch(self.sde, gt, lq, generator, shard)
        eps_hat = net(batch.xt, batch.mu, batch.t)
        return self.loss_fn(self.sde, eps_hat, batch, self.kind, self.weights)

    def restore(self, net: nn.Module, lq: Tensor, generator: torch.Generator) -> Tensor:
        return restore(net, self.sde, lq, sampler=self.sampler, generator=generator)

    def timestep_errors(self, net: nn.Module, gt: Tensor, lq: Tensor, seed: int) -> list[dict]:
        """Noise-prediction error by timestep (:mod:`irsde.diagnostics`), written at validation."""
        return noise_prediction_errors(net, self.sde, gt, lq, probe_steps(self.sde.T), seed=seed)
