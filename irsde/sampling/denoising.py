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

These are the Denoising forms of the ``sde`` and ``ode`` samplers (:mod:`irsde.sampling.samplers`);
:func:`irsde.sampling.loop.denoise` runs them, :func:`irsde.losses.denoising_loss` trains for them.
"""

from __future__ import annotations

from torch import Tensor

from irsde.sde import MeanRevertingSDE


def clean_estimate(sde: MeanRevertingSDE, xt: Tensor, eps_hat: Tensor, t: Tensor) -> Tensor:
    """``x0_hat = x_t - sigmabar_t eps_hat``, the clean image the noise prediction implies."""
    return xt - sde.marginal_std(t) * eps_hat


def sde_step(sde: MeanRevertingSDE, xt: Tensor, mu: None, eps_hat: Tensor, t: Tensor, noise: Tensor | None) -> Tensor:
    """Denoising-SDE step: a draw of ``x_{t-1} | x_t, x0_hat`` (no noise at ``t = 1``; no ``mu``)."""
    x0_hat = clean_estimate(sde, xt, eps_hat, t)
    return sde.optimal_reverse_mean(xt, x0_hat, x0_hat, t) + sde.posterior_std(t) * noise


def ode_step(sde: MeanRevertingSDE, xt: Tensor, mu: None, eps_hat: Tensor, t: Tensor, noise: Tensor | None) -> Tensor:
    """Denoising-ODE step: ``x_t - (sigmabar_t - sigmabar_{t-1}) eps_hat`` (no ``mu``; ``noise`` unused)."""
    return xt - (sde.marginal_std(t) - sde.marginal_std(t - 1)) * eps_hat
