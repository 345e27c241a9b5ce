"""Training losses of IR-SDE (DESIGN §2): maximum likelihood (the paper's) and noise matching.

A training step draws a :class:`TrainingBatch` with :func:`draw_training_batch`, runs the
network on ``(batch.xt, batch.mu, batch.t)`` and scores its noise prediction ``eps_hat`` with a
loss from :data:`LOSSES`. Every loss has the signature ``loss(sde, eps_hat, batch, kind)``;
``kind`` is ``"l1"`` (default) or ``"l2"`` (mean squared error). Distances are averaged over
the pixels of each sample, then over the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from irsde.registry import Registry
from irsde.sde import MeanRevertingSDE, standard_normal_like

LOSS_KINDS = ("l1", "l2")


@dataclass(frozen=True)
class TrainingBatch:
    """One training batch: steps ``t`` (LongTensor ``(B,)``, in 1..T), the standard normal
    ``noise``, the noisy state ``xt = m_t + sigmabar_t * noise``, the clean ``x0`` and the
    degraded ``mu``."""

    t: Tensor
    noise: Tensor
    xt: Tensor
    x0: Tensor
    mu: Tensor


def draw_training_batch(
    sde: MeanRevertingSDE, x0: Tensor, mu: Tensor, generator: torch.Generator
) -> TrainingBatch:
    """Draw ``t ~ U{1..T}`` per sample and ``noise ~ N(0, I)`` from ``generator`` and form
    ``x_t``. Everything lives on ``x0``'s device; a generator on another device kind (e.g. a CPU
    generator for CUDA images) draws on its own device and the values are copied over."""
    if x0.shape != mu.shape:
        raise ValueError(f"x0 and mu must have the same shape, got {tuple(x0.shape)} and {tuple(mu.shape)}")
    t = torch.randint(1, sde.T + 1, (x0.shape[0],), generator=generator, device=generator.device)
    t = t.to(x0.device)
    noise = standard_normal_like(x0, generator)
    xt = sde.to(x0.device).sample_xt(x0, mu, t, noise)
    return TrainingBatch(t=t, noise=noise, xt=xt, x0=x0, mu=mu)


def _validate_kind(kind: str) -> None:
    if kind not in LOSS_KINDS:
        raise ValueError(f"unknown loss kind {kind!r}; valid kinds: {', '.join(LOSS_KINDS)}")


def distance(prediction: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """Mean absolute (``"l1"``) or squared (``"l2"``) error over each sample's pixels, then
    averaged over the batch (a scalar tensor)."""
    _validate_kind(kind)
    difference = prediction - target
    per_pixel = difference.abs() if kind == "l1" else difference.square()
    return per_pixel.flatten(start_dim=1).mean(dim=1).mean()


def maximum_likelihood_loss(
    sde: MeanRevertingSDE, eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1"
) -> Tensor:
    """The paper's loss: distance between the noise-free reverse-SDE step
    ``x_hat_{t-1} = x_t - [theta_t (mu - x_t) - sigma_t^2 score] dt`` (score from ``eps_hat``)
    and the optimal reverse state ``x*_{t-1}(x_t, x_0)``."""
    _validate_kind(kind)
    sde = sde.to(batch.xt.device)
    score = sde.score_from_noise(eps_hat, batch.t)
    predicted = sde.reverse_sde_mean(batch.xt, batch.mu, score, batch.t)
    optimal = sde.optimal_reverse_mean(batch.xt, batch.x0, batch.mu, batch.t)
    return distance(predicted, optimal, kind)


def noise_matching_loss(eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1") -> Tensor:
    """The paper's comparison: distance between ``eps_hat`` and the true noise."""
    return distance(eps_hat, batch.noise, kind)


def _noise_matching_entry(
    sde: MeanRevertingSDE, eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1"
) -> Tensor:
    """:func:`noise_matching_loss` with the registry's uniform signature (``sde`` unused)."""
    return noise_matching_loss(eps_hat, batch, kind)


LossFunction = Callable[[MeanRevertingSDE, Tensor, TrainingBatch, str], Tensor]

LOSSES: Registry[LossFunction] = Registry("loss", {
    "maximum_likelihood": maximum_likelihood_loss,
    "noise_matching": _noise_matching_entry,
})
"""Losses by name, each called as ``loss(sde, eps_hat, batch, kind)``."""
