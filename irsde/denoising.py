"""Denoising-SDE / Denoising-ODE (docs/sde.md#denoising-sde-and-denoising-ode): the mean-reverting SDE with ``mu = x0``.

With the mean at the clean image the forward process only adds noise: ``x_t = x0 + sigmabar_t z``
(:class:`irsde.sde.MeanRevertingSDE` with ``mu = x0``). An unconditional network predicts the
noise, ``eps_hat = net(x_t, None, t)``; its clean-image estimate is
``x0_hat = x_t - sigmabar_t eps_hat`` (``x0 ~ x + sigmabar_t^2 score``). A noisy image
``y = GT + sigma N(0, I)`` is the state at the step ``t* = start_step(sde, sigma)``
(:func:`irsde.sde.start_step`) and is restored by ``t*`` steps down to ``x_0``:

- ``sde`` (Denoising-SDE): ``x_{t-1} = x*_{t-1}(x_t, x0_hat) + posterior_std(t) z`` with
  ``x*_{t-1} = x0_hat + A(1-C^2)/(1-B^2) (x_t - x0_hat)``: the reverse SDE integrated exactly
  over the step for the score of a point mass at ``x0_hat``;
- ``ode`` (Denoising-ODE): ``x_{t-1} = x_t - (sigmabar_t - sigmabar_{t-1}) eps_hat``, i.e.
  ``x0_hat + sigmabar_{t-1} / sigmabar_t (x_t - x0_hat)``: the probability-flow ODE
  ``dx = eps_hat dsigmabar`` integrated exactly for the same score.

The paper's Euler steps (``x_{t-1} = x_t + 1/2 sigma_t^2 (1 + a_t) score dt - sigma_t
sqrt(dt) z`` and ``x_t + 1/2 sigma_t^2 a_t score dt``, ``a_t = exp(-2 thetabar_t dt)``) are their
first-order approximations in the step (``1/2 sigma_t^2 a_t dt / sigmabar_t`` is the first-order
``sigmabar_t - sigmabar_{t-1}``). The exact steps return ``x0`` itself when the network is exact
for a single clean image; the Euler ODE leaves 3.0 % of the noise in it (sigma 25, max_sigma 70,
T 100: its last step halves the deviation instead of removing it).

Training (:func:`denoising_loss`): the paper's maximum-likelihood objective, the distance
between the noise-free Euler reverse-SDE step (the reverse step of
:meth:`~irsde.sde.MeanRevertingSDE.reverse_sde_mean` with ``mu = x0_hat``) and
``x*_{t-1} = x0 + A(1-C^2)/(1-B^2) (x_t - x0)``, on clean images only.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from irsde.losses import TrainingBatch, per_sample_distance
from irsde.registry import Registry
from irsde.samplers import SamplingResult
from irsde.sde import MeanRevertingSDE, standard_normal_like, start_step

NoisePredictor = Callable[[Tensor, None, Tensor], Tensor]


def clean_estimate(sde: MeanRevertingSDE, xt: Tensor, eps_hat: Tensor, t: Tensor) -> Tensor:
    """``x0_hat = x_t - sigmabar_t eps_hat``, the clean image the noise prediction implies."""
    return xt - sde.marginal_std(t) * eps_hat


def sde_step(sde: MeanRevertingSDE, xt: Tensor, eps_hat: Tensor, t: Tensor, noise: Tensor | None) -> Tensor:
    """Denoising-SDE step: a draw of ``x_{t-1} | x_t, x0_hat`` (no noise at ``t = 1``)."""
    x0_hat = clean_estimate(sde, xt, eps_hat, t)
    return sde.optimal_reverse_mean(xt, x0_hat, x0_hat, t) + sde.posterior_std(t) * noise


def ode_step(sde: MeanRevertingSDE, xt: Tensor, eps_hat: Tensor, t: Tensor, noise: Tensor | None) -> Tensor:
    """Denoising-ODE step: ``x_t - (sigmabar_t - sigmabar_{t-1}) eps_hat`` (``noise`` unused)."""
    return xt - (sde.marginal_std(t) - sde.marginal_std(t - 1)) * eps_hat


SAMPLERS: Registry[tuple[Callable, bool]] = Registry("denoising sampler", {
    "sde": (sde_step, True),
    "ode": (ode_step, False),
})
"""The two samplers by name: ``(step, stochastic)``."""


def denoise(
    net: NoisePredictor,
    sde: MeanRevertingSDE,
    noisy: Tensor,
    sigma: float,
    sampler: str = "ode",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> SamplingResult:
    """Restore ``noisy`` (``(B, C, H, W)``, clean + Gaussian noise of std ``sigma``, not clipped)
    from the step ``t* = start_step(sde, sigma)`` down to ``x_0`` with ``sampler`` (``sde`` or
    ``ode``): ``t*`` network evaluations ``net(x_t, None, t)``, no gradients, noise (``sde``)
    from ``generator`` (None: seeded with 0). The output is not clamped."""
    step, stochastic = SAMPLERS[sampler]
    if noisy.ndim != 4:
        raise ValueError(f"noisy must be a batch of images (B, C, H, W), got shape {tuple(noisy.shape)}")
    if generator is None:
        generator = torch.Generator(device=noisy.device).manual_seed(0)
    sde = sde.to(noisy.device, noisy.dtype)
    first = start_step(sde, sigma)
    x, calls = noisy, 0
    with torch.no_grad():
        for t in tqdm(range(first, 0, -1), desc=f"denoising-{sampler}", disable=not progress, leave=False):
            times = torch.full((noisy.shape[0],), t, dtype=torch.long, device=noisy.device)
            eps_hat = net(x, None, times)
            calls += 1
            noise = standard_normal_like(x, generator) if stochastic else None
            x = step(sde, x, eps_hat, times, noise)
    return SamplingResult(images=x, nfe=calls)


def denoising_loss(sde: MeanRevertingSDE, eps_hat: Tensor, batch: TrainingBatch, kind: str = "l1") -> Tensor:
    """The maximum-likelihood loss of the denoising process (unweighted): the distance between
    the noise-free Euler reverse-SDE step from ``eps_hat`` and ``x*_{t-1}(x_t, x0)``."""
    sde = sde.to(batch.xt.device)
    x0_hat = clean_estimate(sde, batch.xt, eps_hat, batch.t)
    predicted = sde.reverse_sde_mean(batch.xt, x0_hat, sde.score_from_noise(eps_hat, batch.t), batch.t)
    optimal = sde.optimal_reverse_mean(batch.xt, batch.x0, batch.x0, batch.t)
    return per_sample_distance(predicted, optimal, kind).mean()
