"""Exponential-integrator samplers of the mean-reverting SDE: ``fast-ode`` and ``fast-sde``.

They restore with a handful of network evaluations (NFE) by solving the linear part of the
reverse dynamics exactly and approximating only the integral that involves the network. This
docstring derives them. Notation as in docs/sde.md: ``mu`` is the degraded image, ``lambda`` the
stationary std, ``theta_t`` the schedule, ``thetabar_t`` its running sum,
``dt = -ln(eps) / thetabar_T``, ``sigmabar_t`` the std of ``x_t | x_0``. Steps are integers;
``u > t`` are the two ends of one step of a sampler (from ``u`` down to ``t``).

1. The schedule is only a clock
-------------------------------

Write the forward SDE ``dx = theta(tau) (mu - x) dtau + sigma(tau) dw`` with
``sigma(tau)^2 = 2 lambda^2 theta(tau)``, and measure time by the integrated rate

    Lambda = integral_0^tau theta(v) dv,      so that   Lambda_t = thetabar_t dt  at step t.

Because ``dw`` over a time ``dtau`` has variance ``dtau = dLambda / theta``, the noise term
``sigma dw`` has variance ``2 lambda^2 dLambda``. With ``y = x - mu`` the SDE becomes

    dy = -y dLambda + sqrt(2) lambda dW(Lambda),

a stationary Ornstein-Uhlenbeck process that no longer depends on the schedule: ``theta`` only
decides *where on the Lambda axis* the ``T`` discrete steps sit. The discretised model is exactly
this process observed at ``Lambda_0 = 0 < Lambda_1 < ... < Lambda_T``: the design's
``m_t = mu + (x_0 - mu) exp(-Lambda_t)`` and ``sigmabar_t = lambda sqrt(1 - exp(-2 Lambda_t))`` are its
marginals, and the paper's Euler step at ``t`` uses the increment ``theta_t dt = Lambda_t - Lambda_{t-1}``.
So everything below holds between *any* two steps ``u > t``, not just neighbours, and a sampler
that visits a subset of the steps is solving the same problem on a coarser grid.

Name the two marginal coefficients

    alpha_t = exp(-Lambda_t),       sig_t = sigmabar_t = lambda sqrt(1 - alpha_t^2),

so ``y_t = alpha_t y_0 + sig_t z``. The network predicts the noise ``eps_hat``; the score is
``-eps_hat / sig_t``, and the prediction of the clean image it implies is

    y0_hat = (y_t - sig_t eps_hat) / alpha_t         (x0_hat = mu + y0_hat),

which is ``irsde.sde.MeanRevertingSDE.x0_from_noise``. We write every drift with ``y0_hat``
("data prediction"): ``score = -(y - alpha y0_hat) / sig^2``.

2. The log-SNR variable
-----------------------

Let ``l = log(alpha / sig)`` (half the log signal-to-noise ratio). It decreases as ``Lambda`` grows and
is ``+inf`` at ``Lambda = 0``. Two identities do all the work. From ``sig^2 = lambda^2 (1 - alpha^2)``:

    dl / dLambda = -1 - alpha^2 / (1 - alpha^2) = -1 / (1 - alpha^2) = -lambda^2 / sig^2,
    d log(sig) / dl = -alpha^2.

(The second: ``sig^2 = lambda^2 / (1 + lambda^2 e^{2l})``, differentiate.)

3. Probability-flow ODE
-----------------------

The reverse-time ODE that shares the marginals is ``dy/dLambda = -y - lambda^2 score``. With the
data prediction and ``dLambda = -(sig^2 / lambda^2) dl``:

    dy/dl = -(sig^2/lambda^2) [ -y + lambda^2 (y - alpha y0_hat) / sig^2 ]
          = (sig^2/lambda^2 - 1) y + alpha y0_hat
          = -alpha^2 y + alpha y0_hat
          = (d log sig / dl) y + alpha y0_hat.

Divide by ``sig``: ``d(y / sig)/dl = (alpha / sig) y0_hat = e^l y0_hat``. Integrating from step ``u`` to step
``t`` (``l_u < l_t``, write ``h = l_t - l_u > 0``) gives the exact solution

    y_t = (sig_t / sig_u) y_u + sig_t * integral_{l_u}^{l_t} e^l y0_hat(l) dl.

The first term is the linear part, solved exactly; only the integral needs the network.

4. Reverse SDE
--------------

The reverse-time SDE is ``dy = [-y - 2 lambda^2 score] dLambda + sqrt(2) lambda dW`` (run backwards
in ``Lambda``). Its drift in ``l``:

    dy/dl = -(sig^2/lambda^2) [ -y + 2 lambda^2 (y - alpha y0_hat) / sig^2 ] = -(1 + alpha^2) y + 2 alpha y0_hat.

An integrating factor is ``phi = sig e^{-l}`` (``d log phi / dl = -alpha^2 - 1``), and
``2 alpha / phi = 2 e^{2l}``, so

    y_t = (phi_t / phi_u) y_u + phi_t * integral_{l_u}^{l_t} 2 e^{2l} y0_hat(l) dl + noise,
    phi_t / phi_u = (sig_t / sig_u) e^{-h}.

The noise is Gaussian with variance ``phi_t^2 * integral 2 lambda^2 / phi^2 dLambda`` over the step;
with ``|dLambda| = (sig^2 / lambda^2) dl`` the integrand is ``2 sig^2 / phi^2 = 2 e^{2l}``, so the
variance is ``phi_t^2 (e^{2 l_t} - e^{2 l_u}) = sig_t^2 (1 - e^{-2h})`` — exact, whatever the network.

5. Approximating the integral
-----------------------------

First order: hold ``y0_hat`` at its value at the start of the step. With
``sig_t e^{l_t} = alpha_t`` and ``phi_t e^{2 l_t} = alpha_t``:

    ODE:  y_t = (sig_t/sig_u) y_u + alpha_t (1 - e^{-h}) y0_hat_u
    SDE:  y_t = (sig_t/sig_u) e^{-h} y_u + alpha_t (1 - e^{-2h}) y0_hat_u + sig_t sqrt(1 - e^{-2h}) z

The first-order SDE step is the exact posterior ``y_t | y_u, y_0 = y0_hat_u`` of the OU process
(``(sig_t/sig_u) e^{-h} = (alpha_u/alpha_t) sig_t^2 / sig_u^2``), i.e. the ``posterior`` sampler of :mod:`irsde.sampling.samplers`
written between arbitrary steps; between neighbours it is that sampler.

Second order (multistep): take ``y0_hat`` linear in ``l`` through the current prediction and the one
made at the previous visited step ``r > u`` (``l_r < l_u``), ``y0_hat(l) ~ y0_hat_u + (l - l_u) D``,
``D = (y0_hat_u - y0_hat_r) / (l_u - l_r)``. The extra integrals are exact:

    integral_{l_u}^{l_t} e^l (l - l_u) dl       = e^{l_t} (h - 1 + e^{-h})
    integral_{l_u}^{l_t} 2 e^{2l} (l - l_u) dl  = e^{2 l_t} (h - (1 - e^{-2h}) / 2)

so the second-order steps add ``alpha_t (h - 1 + e^{-h}) D`` (ODE) or
``alpha_t (h - (1 - e^{-2h}) / 2) D`` (SDE) to the first-order ones. Each step still costs one
network evaluation; the first step has no previous prediction and is first order.

The last step goes to ``t = 0``, where ``sig_0 = 0`` and ``l_0 = +inf``: the state coefficient is 0, the
prediction coefficient ``alpha_0 = 1``, the noise 0, and the linear term would diverge (extrapolating
a line over an infinite interval), so the last step is first order and returns ``x0_hat`` of the
last evaluation. The network is not defined at ``t = 0``, so no method can do better there.
Coefficients are evaluated in float64 with ``expm1`` (small ``h``) and the limit at ``t = 0``.

6. What this buys, and the checks
---------------------------------

- With a perfect network for a point mass (``eps_hat`` = the true noise of a fixed ``x_0``),
  ``y0_hat`` is the same at every step, the integrals are exact, and both samplers return ``x_0``
  for any number of steps (``tests/sampling/test_exponential.py``, to float32 precision).
- For Gaussian data the ODE's exact flow is known in closed form; ``fast-ode`` visiting all 100
  steps is within about 1e-4 of it, its error falls 4x when the number of steps doubles (second
  order), the first-order version's 2x, and the paper-style Euler ``ode`` is about 200x further
  off at 100 steps (the same test). Samples of both fast samplers have the data's spread (std
  1.00 of it at 100 steps; at 10 steps 1.12 for ``fast-sde``, 1.03 for ``fast-ode``, while first
  order shrinks it to 0.76 / 0.85: smoother images).
- Which steps to visit with ``K < T`` evaluations, and first vs second order, are measured on a
  trained model by ``benchmarks/sampler_nfe.py``; the numbers are in the README.

These are exponential integrators with data prediction, the construction of DPM-Solver++ (Lu et
al., 2022) for variance-preserving diffusions and of MaRS (Li et al., ICLR 2025) for
mean-reverting ones; the OU form of section 1 is what makes them apply here.

7. In this module
-----------------

:func:`integrator_coefficients` tabulates, per step ``k -> k-1``, the coefficients of
``x_{k-1} = mu + state (x_k - mu) + prediction (x0_hat_k - mu) + slope (x0_hat_k - x0_hat_{k+1})
+ noise z``. An :class:`ExponentialIntegrator` is made for one run on the SDE the sampler walks
(for ``K < T`` evaluations the coarser view :meth:`irsde.sde.MeanRevertingSDE.observed_at`,
re-indexed ``k = K..1``) and must be called with ``k = K, K-1, ..., 1`` in that order: the
second-order step remembers the previous prediction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from irsde.sde import IMAGE_NDIM, MeanRevertingSDE, SDECoefficients

ORDERS = (1, 2)
"""Orders of the exponential integrators: 1 (constant prediction), 2 (linear in log-SNR)."""


@dataclass(frozen=True)
class IntegratorCoefficients:
    """Per-step coefficients (float64, indexed by the step ``k = 1..K`` taken from ``k`` to
    ``k - 1``; index 0 is unused) of ``x_{k-1} = mu + state (x_k - mu) + prediction (x0_hat_k - mu)
    + slope (x0_hat_k - x0_hat_{k+1}) + noise z``."""

    state: np.ndarray
    prediction: np.ndarray
    slope: np.ndarray
    noise: np.ndarray


def half_log_snr(coefficients: SDECoefficients) -> np.ndarray:
    """``l_t = log(exp(-thetabar_t dt) / sigmabar_t)``, ``t = 0..T`` (``+inf`` at ``t = 0``)."""
    with np.errstate(divide="ignore"):
        return np.log(coefficients.decay_bar) - np.log(coefficients.sigma_bars)


def integrator_coefficients(coefficients: SDECoefficients, stochastic: bool, order: int) -> IntegratorCoefficients:
    """The coefficients of the first- or second-order ODE (``stochastic=False``) or SDE step."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    alpha, std = coefficients.decay_bar, coefficients.sigma_bars
    snr = half_log_snr(coefficients)
    h = np.concatenate([[np.nan], snr[:-1] - snr[1:]])  # h[k]: step k -> k-1; h[1] = inf
    alpha_to = np.concatenate([[np.nan], alpha[:-1]])
    std_ratio = np.concatenate([[np.nan], std[:-1] / std[1:]])
    integral_weight = -np.expm1(-2.0 * h) if stochastic else -np.expm1(-h)
    state = std_ratio * np.exp(-h) if stochastic else std_ratio
    prediction = alpha_to * integral_weight
    noise = np.concatenate([[np.nan], std[:-1]]) * np.sqrt(integral_weight) if stochastic else np.zeros_like(h)
    slope = np.zeros_like(h)
    if order == 2:
        # Steps 2..K-1 have a previous prediction (from step k + 1) and a finite h.
        k = np.arange(2, coefficients.T)
        linear_part = h[k] + 0.5 * np.expm1(-2.0 * h[k]) if stochastic else h[k] + np.expm1(-h[k])
        slope[k] = alpha_to[k] * linear_part / h[k + 1]
    noise[0] = 0.0
    return IntegratorCoefficients(state=state, prediction=prediction, slope=slope, noise=noise)


class ExponentialIntegrator:
    """One run's stepper ``(xt, mu, eps_hat, k, noise) -> x_{k-1}`` on ``sde`` (module docstring)."""

    def __init__(self, sde: MeanRevertingSDE, stochastic: bool, order: int) -> None:
        self.sde = sde
        self.stochastic = stochastic
        self.order = order
        table = integrator_coefficients(sde.coefficients, stochastic, order)
        self._tables = {
            name: torch.as_tensor(getattr(table, name), dtype=sde.dtype, device=sde.device)
            for name in ("state", "prediction", "slope", "noise")
        }
        self._previous_prediction: Tensor | None = None

    def _at(self, name: str, k: Tensor) -> Tensor:
        return self._tables[name][k].view(-1, *([1] * (IMAGE_NDIM - 1)))

    def __call__(self, xt: Tensor, mu: Tensor, eps_hat: Tensor, k: Tensor, noise: Tensor | None) -> Tensor:
        x0_hat = self.sde.x0_from_noise(xt, mu, eps_hat, k)
        k = k.to(self.sde.device)
        x = mu + self._at("state", k) * (xt - mu) + self._at("prediction", k) * (x0_hat - mu)
        if self.order == 2 and self._previous_prediction is not None:
            x = x + self._at("slope", k) * (x0_hat - self._previous_prediction)
        if self.stochastic:
            x = x + self._at("noise", k) * noise
        self._previous_prediction = x0_hat
        return x


def fast_ode(sde: MeanRevertingSDE) -> ExponentialIntegrator:
    """The ``fast-ode`` stepper: second-order exponential integrator of the probability-flow ODE."""
    return ExponentialIntegrator(sde, stochastic=False, order=2)


def fast_sde(sde: MeanRevertingSDE) -> ExponentialIntegrator:
    """The ``fast-sde`` stepper: second-order exponential integrator of the reverse SDE."""
    return ExponentialIntegrator(sde, stochastic=True, order=2)
