"""Training losses of IR-SDE (docs/sde.md#losses): maximum likelihood (the paper's) and noise matching;
and the maximum-likelihood loss of Denoising-SDE/ODE (:func:`denoising_loss`).

A training step draws a :class:`TrainingBatch` with :func:`draw_training_batch`, runs the
network on ``(batch.xt, batch.mu, batch.t)`` and scores its noise prediction ``eps_hat`` with a
loss from :data:`LOSSES`. Every loss has the signature ``loss(sde, eps_hat, batch, kind,
weights)``; ``kind`` is ``"l1"`` (default) or ``"l2"`` (mean squared error). Distances are
averaged over the pixels of each sample, then over the batch.

Timestep weights. The paper's objective is ``J_gamma = sum_t gamma_t E|...|`` with ``gamma_t = 1``
(the authors' choice, ``weights="uniform"``). :data:`TIMESTEP_WEIGHTS` names other choices of
``gamma``; each sample's distance is multiplied by ``gamma_{t}`` of its step before the batch mean
(with ``t ~ U{1..T}`` that is an unbiased estimate of ``J_gamma / T``):

- ``uniform``: ``gamma_t = 1`` (the paper).
- ``x0``: every step's error measured on the clean image. A noise error ``delta`` at step ``t``
  moves ``x0_hat`` by ``sigmabar_t exp(thetabar_t dt) delta`` (:mod:`irsde.diagnostics`), while
  the maximum-likelihood distance sees it as ``sigma_t^2 dt / sigmabar_t * delta`` and noise
  matching as ``delta``; ``gamma_t`` is the ratio, normalised to mean 1 over ``t = 1..T``. It
  weights large ``t`` heavily: that is where the reverse process starts and where an error is
  amplified most (up to ``lambda / eps`` on the image at ``t = T``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from irsde.registry import Registry
from irsde.sampling.denoising import clean_estimate
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


def per_sample_distance(prediction: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """Mean absolute (``"l1"``) or squared (``"l2"``) error over each sample's pixels, shape (B,)."""
    _validate_kind(kind)
    difference = prediction - target
    per_pixel = difference.abs() if kind == "l1" else difference.square()
    return per_pixel.flatten(start_dim=1).mean(dim=1)


def distance(prediction: Tensor, target: Tensor, kind: str = "l1") -> Tensor:
    """:func:`per_sample_distance` averaged over the batch (a scalar tensor)."""
    return per_sample_distance(prediction, target, kind).mean()


# ----------------------------------------------------------------------------------- weights


def _uniform_weights(sde: MeanRevertingSDE, loss: str) -> np.ndarray:
    return np.ones(sde.T + 1)


def _x0_weights(sde: MeanRevertingSDE, loss: str) -> np.ndarray:
    coefficients = sde.coefficients
    to_image = coefficients.sigma_bars[1:] * coefficients.inv_decay_bar[1:]
    if loss == "maximum_likelihood":
        seen_by_loss = coefficients.sigma_sq_dt[1:] / coefficients.sigma_bars[1:]
    else:
        seen_by_loss = np.ones(sde.T)
    ratio = to_image / seen_by_loss
    return np.concatenate([[0.0], ratio / ratio.mean()])


TIMESTEP_WEIGHTS: Registry[Callable[[MeanRevertingSDE, str], np.ndarray]] = Registry("timestep weighting", {
    "uniform": _uniform_weights,
    "x0": _x0_weights,
})
"""Timestep weightings ``gamma`` by name: ``weights(sde, loss_name) -> gamma_0..gamma_T``."""


def timestep_weights(sde: MeanRevertingSDE, name: str, loss: str) -> np.ndarray:
    """``gamma_0..gamma_T`` (float64; ``gamma_0`` unused) of weighting ``name`` for ``loss``."""
    return TIMESTEP_WEIGHTS[name](sde, loss)


def _weighted_mean(per_sample: Tensor, t: Tensor, weights: Tensor | None) -> Tensor:
    if weights is None:
        return per_sample.mean()
    return (per_sample * weights.to(per_sample.device, per_sample.dtype)[t]).mean()


# ----------------------------------------------------------------------------------- losses


def maximum_likelihood_loss(
    sde: MeanRevertingSDE, eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1", weights: Tensor | None = None
) -> Tensor:
    """The paper's loss: distance between the noise-free reverse-SDE step
    ``x_hat_{t-1} = x_t - [theta_t (mu - x_t) - sigma_t^2 score] dt`` (score from ``eps_hat``)
    and the optimal reverse state ``x*_{t-1}(x_t, x_0)``; ``weights`` (``gamma_0..gamma_T``,
    None: uniform) weight each sample by its step."""
    _validate_kind(kind)
    sde = sde.to(batch.xt.device)
    score = sde.score_from_noise(eps_hat, batch.t)
    predicted = sde.reverse_sde_mean(batch.xt, batch.mu, score, batch.t)
    optimal = sde.optimal_reverse_mean(batch.xt, batch.x0, batch.mu, batch.t)
    return _weighted_mean(per_sample_distance(predicted, optimal, kind), batch.t, weights)


def noise_matching_loss(
    eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1", weights: Tensor | None = None
) -> Tensor:
    """The paper's comparison: distance between ``eps_hat`` and the true noise."""
    return _weighted_mean(per_sample_distance(eps_hat, batch.noise, kind), batch.t, weights)


def _noise_matching_entry(
    sde: MeanRevertingSDE, eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1", weights: Tensor | None = None
) -> Tensor:
    """:func:`noise_matching_loss` with the registry's uniform signature (``sde`` unused)."""
    return noise_matching_loss(eps_hat, batch, kind, weights)


LossFunction = Callable[..., Tensor]

LOSSES: Registry[LossFunction] = Registry("loss", {
    "maximum_likelihood": maximum_likelihood_loss,
    "noise_matching": _noise_matching_entry,
})
"""Losses by name, each called as ``loss(sde, eps_hat, batch, kind, weights=None)``."""


def denoising_loss(sde: MeanRevertingSDE, eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1") -> Tensor:
    """The maximum-likelihood loss of the denoising process (Denoising-SDE/ODE, unweighted): the
    distance between the noise-free Euler reverse-SDE step from ``eps_hat`` (with ``mu = x0_hat``)
    and ``x*_{t-1} = x0 + A(1-C^2)/(1-B^2) (x_t - x0)``, on clean images only."""
    sde = sde.to(batch.xt.device)
    x0_hat = clean_estimate(sde, batch.xt, eps_hat, batch.t)
    predicted = sde.reverse_sde_mean(batch.xt, x0_hat, sde.score_from_noise(eps_hat, batch.t), batch.t)
    optimal = sde.optimal_reverse_mean(batch.xt, batch.x0, batch.x0, batch.t)
    return per_sample_distance(predicted, optimal, kind).mean()
