"""The mean-reverting SDE of IR-SDE (docs/sde.md): coefficients, marginals, reverse steps.

Forward SDE ``dx = theta_t (mu - x) dt + sigma_t dw`` with ``sigma_t^2 = 2 lambda^2 theta_t``,
discretised in ``T`` steps; every coefficient array is indexed ``t = 0..T``. This module is pure
math: it stores no network, the network's noise prediction ``eps_hat`` is an argument.

Precision: all coefficients are computed once in float64 (numpy) — :class:`SDECoefficients` keeps
those arrays — and a :class:`MeanRevertingSDE` stores them as tensors of one dtype (float32 by
default, the precision the network runs in) on one device; :meth:`MeanRevertingSDE.to` builds
the tensors again from the float64 arrays, so ``.to(dtype=torch.float64)`` loses nothing.

Time arguments ``t`` are a python int (one step for the whole batch) or an integer tensor of
shape ``(B,)`` (one step per sample). A per-sample coefficient is returned with shape
``(B, 1, 1, 1)`` so that it broadcasts over images ``(B, C, H, W)``; for an int ``t`` it is a
0-dim tensor. Coefficients are looked up by indexing tensors that already live on the SDE's
device, so no step synchronises with the host. Out-of-range ``t`` raises ValueError when ``t``
is an int or a CPU tensor; on an accelerator the range is not checked (that would need a sync).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np
import torch
from torch import Tensor

from irsde.schedules import get_thetas, validate_num_steps

Timestep = Union[int, Tensor]

MAX_SIGMA_SCALE = 255.0
"""A ``max_sigma >= 1`` is on the 0-255 scale and is divided by this to get lambda on [0, 1]."""

IMAGE_NDIM = 4
"""Per-sample coefficients are shaped to broadcast over images ``(B, C, H, W)``."""


def lambda_from_max_sigma(max_sigma: float) -> float:
    """lambda on the [0, 1] image scale: ``max_sigma / 255`` if ``max_sigma >= 1``, else as is."""
    if isinstance(max_sigma, bool) or not isinstance(max_sigma, (int, float, np.number)):
        raise ValueError(f"max_sigma must be a number > 0, got {max_sigma!r}")
    if not math.isfinite(max_sigma) or max_sigma <= 0:
        raise ValueError(
            f"max_sigma must be a finite number > 0 (>= 1: 0-255 scale, < 1: [0, 1] scale), "
            f"got {max_sigma!r}"
        )
    return float(max_sigma) / MAX_SIGMA_SCALE if max_sigma >= 1 else float(max_sigma)


def _validate_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.number)) or not 0 < eps < 1:
        raise ValueError(
            f"eps (the mean's remaining weight exp(-thetabar_T dt)) must be in (0, 1), got {eps!r}"
        )
    return float(eps)


@dataclass(frozen=True)
class SDECoefficients:
    """Every coefficient of the discretised SDE in float64, arrays indexed ``t = 0..T``.

    ``decay_bar[t] = exp(-thetabar_t dt)``; the posterior arrays (``posterior_coef_xt``,
    ``posterior_coef_x0``, ``posterior_std``) describe ``x_{t-1} | (x_t, x_0)`` and are NaN at
    ``t = 0``, where there is no previous state.
    """

    dt: float
    lam: float
    thetas: np.ndarray
    sigmas: np.ndarray
    thetas_bar: np.ndarray
    sigma_bars: np.ndarray
    decay_bar: np.ndarray
    inv_decay_bar: np.ndarray
    theta_dt: np.ndarray
    sigma_sq_dt: np.ndarray
    reverse_noise_std: np.ndarray
    posterior_coef_xt: np.ndarray
    posterior_coef_x0: np.ndarray
    posterior_std: np.ndarray

    @property
    def T(self) -> int:
        return len(self.thetas) - 1


def sde_coefficients(thetas: np.ndarray, lam: float, eps: float) -> SDECoefficients:
    """Derive every SDE coefficient (float64) from ``theta_0..theta_T``, lambda and eps.

    ``thetabar_t = sum_{i=1..t} theta_i``, ``dt = -ln(eps) / thetabar_T``,
    ``sigma_t = sqrt(2 lambda^2 theta_t)``, ``sigmabar_t = lambda sqrt(1 - exp(-2 thetabar_t dt))``;
    with ``a = exp(-theta_t dt)``, ``b = exp(-thetabar_t dt)``, ``c = exp(-thetabar_{t-1} dt)``:
    ``x*_{t-1} = mu + a(1-c^2)/(1-b^2) (x_t - mu) + c(1-a^2)/(1-b^2) (x_0 - mu)`` and the
    posterior std is ``lambda sqrt((1-a^2)(1-c^2)/(1-b^2))``. ``1 - exp(-x)`` uses expm1.
    """
    thetas = np.asarray(thetas, dtype=np.float64)
    thetas_bar = np.concatenate([[0.0], np.cumsum(thetas[1:])])
    dt = -math.log(eps) / thetas_bar[-1]
    sigmas = np.sqrt(2.0 * lam**2 * thetas)
    one_minus_b2 = -np.expm1(-2.0 * thetas_bar * dt)
    sigma_bars = lam * np.sqrt(one_minus_b2)

    a = np.exp(-thetas[1:] * dt)
    b = np.exp(-thetas_bar[1:] * dt)
    c = np.exp(-thetas_bar[:-1] * dt)
    one_minus_a2 = -np.expm1(-2.0 * thetas[1:] * dt)
    one_minus_c2 = -np.expm1(-2.0 * thetas_bar[:-1] * dt)
    denominator = one_minus_b2[1:]

    def from_step_one(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[np.nan], values])

    return SDECoefficients(
        dt=dt,
        lam=lam,
        thetas=thetas,
        sigmas=sigmas,
        thetas_bar=thetas_bar,
        sigma_bars=sigma_bars,
        decay_bar=np.exp(-thetas_bar * dt),
        inv_decay_bar=np.exp(thetas_bar * dt),
        theta_dt=thetas * dt,
        sigma_sq_dt=sigmas**2 * dt,
        reverse_noise_std=sigmas * math.sqrt(dt),
        posterior_coef_xt=from_step_one(a * one_minus_c2 / denominator),
        posterior_coef_x0=from_step_one(c * one_minus_a2 / denominator),
        posterior_std=from_step_one(lam * np.sqrt(one_minus_a2 * one_minus_c2 / denominator)),
    )


_TABLES = (
    "thetas",
    "sigmas",
    "thetas_bar",
    "sigma_bars",
    "decay_bar",
    "inv_decay_bar",
    "theta_dt",
    "sigma_sq_dt",
    "reverse_noise_std",
    "posterior_coef_xt",
    "posterior_coef_x0",
    "posterior_std",
)


class MeanRevertingSDE:
    """The discretised mean-reverting SDE of IR-SDE.

    Args:
        schedule: theta schedule name (see :data:`irsde.schedules.SCHEDULES`).
        T: number of steps (>= 1).
        max_sigma: stationary std lambda; a value >= 1 is on the 0-255 scale (divided by 255).
        eps: the weight of ``x_0`` left in the mean at ``t = T``: ``exp(-thetabar_T dt) = eps``.
        device, dtype: where and in which precision the coefficient tensors are stored.

    Attributes: ``T`` (int), ``dt`` and ``lam`` (floats, lambda on the [0, 1] scale),
    ``thetas``, ``sigmas``, ``thetas_bar``, ``sigma_bars`` (1-D tensors of length ``T + 1``),
    ``coefficients`` (the float64 :class:`SDECoefficients`), ``observed_steps`` (None, or the
    original steps a coarser view from :meth:`observed_at` stands for).
    """

    def __init__(
        self,
        schedule: str = "cosine",
        T: int = 100,
        max_sigma: float = 10,
        eps: float = 0.005,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self.schedule = schedule
        self.T = validate_num_steps(T)
        self.max_sigma = max_sigma
        self.eps = _validate_eps(eps)
        self.lam = lambda_from_max_sigma(max_sigma)
        self.coefficients = sde_coefficients(get_thetas(schedule, self.T), self.lam, self.eps)
        self.dt = self.coefficients.dt
        self.observed_steps: tuple[int, ...] | None = None
        self._store_tables(torch.device(device or "cpu"), dtype)

    def _store_tables(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device = device
        self.dtype = dtype
        self._tables = {
            name: torch.as_tensor(getattr(self.coefficients, name), dtype=dtype, device=device)
            for name in _TABLES
        }

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> "MeanRevertingSDE":
        """This SDE with its tensors on ``device`` in ``dtype`` (self if nothing changes)."""
        device = self.device if device is None else torch.device(device)
        dtype = self.dtype if dtype is None else dtype
        if device == self.device and dtype == self.dtype:
            return self
        moved = copy.copy(self)
        moved._store_tables(device, dtype)
        return moved

    def settings(self) -> dict:
        """The constructor settings ``schedule, T, max_sigma, eps`` (what rebuilds this SDE)."""
        return {"schedule": self.schedule, "T": self.T, "max_sigma": self.max_sigma, "eps": self.eps}

    def observed_at(self, steps: Sequence[int]) -> "MeanRevertingSDE":
        """The same SDE seen only at ``steps`` (strictly increasing, ending at ``T``): a coarser
        discretisation of the same continuous process, re-indexed ``k = 0..K`` (``k = 0`` is
        step 0, ``k`` is ``steps[k - 1]``).

        Its ``theta'_k = sum of theta_i over steps[k-2] < i <= steps[k-1]``, so ``thetabar'_k dt``
        is ``thetabar_{steps[k-1]} dt`` (the integrated rate, up to float64 rounding) and every
        derived coefficient (``sigmabar``, posterior, Euler increments) is the one between the
        observed steps. Observing every step returns ``self`` (the tables are unchanged).
        """
        steps = [int(step) for step in steps]
        if not steps or steps[-1] != self.T or steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(
                f"steps must be strictly increasing integers in 1..{self.T} ending at T={self.T}, got {steps}"
            )
        if len(steps) == self.T:
            return self
        thetas = self.coefficients.thetas
        bounds = [0, *steps]
        merged = [thetas[0]] + [thetas[low + 1 : high + 1].sum() for low, high in zip(bounds, bounds[1:])]
        coarse = copy.copy(self)
        coarse.T = len(steps)
        coarse.observed_steps = tuple(steps)
        coarse.coefficients = sde_coefficients(np.asarray(merged), self.lam, self.eps)
        coarse.dt = coarse.coefficients.dt
        coarse._store_tables(self.device, self.dtype)
        return coarse

    def __repr__(self) -> str:
        return (
            f"MeanRevertingSDE(schedule={self.schedule!r}, T={self.T}, "
            f"max_sigma={self.max_sigma!r}, eps={self.eps!r}, device={str(self.device)!r}, "
            f"dtype={self.dtype}"
            + (f", observed_steps={list(self.observed_steps)})" if self.observed_steps else ")")
        )

    @property
    def thetas(self) -> Tensor:
        """``theta_t``, t = 0..T."""
        return self._tables["thetas"]

    @property
    def sigmas(self) -> Tensor:
        """``sigma_t = sqrt(2 lambda^2 theta_t)``, t = 0..T."""
        return self._tables["sigmas"]

    @property
    def thetas_bar(self) -> Tensor:
        """``thetabar_t = sum_{i=1..t} theta_i`` (``thetabar_0 = 0``), t = 0..T."""
        return self._tables["thetas_bar"]

    @property
    def sigma_bars(self) -> Tensor:
        """``sigmabar_t = lambda sqrt(1 - exp(-2 thetabar_t dt))``, the std of ``x_t | x_0``, t = 0..T."""
        return self._tables["sigma_bars"]

    # --- coefficient lookup -------------------------------------------------------------------

    def _index(self, t: Timestep, first: int) -> Timestep:
        """Validate ``t`` (in ``first..T``) and return it ready to index the tables."""
        if isinstance(t, Tensor):
            if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
                raise ValueError(f"t must be an integer tensor, got dtype {t.dtype}")
            if t.ndim > 1:
                raise ValueError(f"t must be a python int or a tensor of shape (B,), got {tuple(t.shape)}")
            if t.device.type == "cpu" and t.numel() and (t.min() < first or t.max() > self.T):
                raise ValueError(f"t must be in {first}..{self.T}, got values {t.tolist()}")
            return t.to(self.device, non_blocking=True)
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise ValueError(f"t must be a python int or an integer tensor, got {t!r}")
        if not first <= t <= self.T:
            raise ValueError(f"t must be in {first}..{self.T}, got {t}")
        return int(t)

    def _at(self, name: str, index: Timestep) -> Tensor:
        """Coefficient ``name`` at a validated index, broadcastable over ``(B, C, H, W)``."""
        values = self._tables[name][index]
        if values.ndim == 1:
            return values.view(-1, *([1] * (IMAGE_NDIM - 1)))
        return values

    # --- forward process ----------------------------------------------------------------------

    def marginal_mean(self, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``m_t = mu + (x_0 - mu) exp(-thetabar_t dt)``, the mean of ``x_t | x_0``."""
        return mu + (x0 - mu) * self._at("decay_bar", self._index(t, 0))

    def marginal_std(self, t: Timestep) -> Tensor:
        """``sigmabar_t = lambda sqrt(1 - exp(-2 thetabar_t dt))``, the std of ``x_t | x_0``."""
        return self._at("sigma_bars", self._index(t, 0))

    def sample_xt(self, x0: Tensor, mu: Tensor, t: Timestep, noise: Tensor) -> Tensor:
        """``x_t = m_t + sigmabar_t * noise`` for standard normal ``noise``."""
        return self.marginal_mean(x0, mu, t) + self.marginal_std(t) * noise

    def sample_prior(self, mu: Tensor, noise: Tensor) -> Tensor:
        """The sampling start ``x_T = mu + lambda * noise``."""
        return mu + self.lam * noise

    # --- network output -----------------------------------------------------------------------

    def score_from_noise(self, eps_hat: Tensor, t: Timestep) -> Tensor:
        """The score ``-eps_hat / sigmabar_t`` (``t >= 1``)."""
        return -eps_hat / self._at("sigma_bars", self._index(t, 1))

    def x0_from_noise(self, xt: Tensor, mu: Tensor, eps_hat: Tensor, t: Timestep) -> Tensor:
        """``x0_hat = (x_t - mu - sigmabar_t eps_hat) exp(thetabar_t dt) + mu``."""
        index = self._index(t, 0)
        residual = xt - mu - self._at("sigma_bars", index) * eps_hat
        return residual * self._at("inv_decay_bar", index) + mu

    def noise_from_x0(self, xt: Tensor, mu: Tensor, x0_hat: Tensor, t: Timestep) -> Tensor:
        """``eps_hat = (x_t - m_t(x0_hat)) / sigmabar_t``, the noise a clean-image prediction
        implies (``t >= 1``); the inverse of :meth:`x0_from_noise`."""
        index = self._index(t, 1)
        return (xt - self.marginal_mean(x0_hat, mu, index)) / self._at("sigma_bars", index)

    # --- reverse process ----------------------------------------------------------------------

    def reverse_sde_mean(self, xt: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """Euler-Maruyama reverse step without its noise term:
        ``x_t - [theta_t (mu - x_t) - sigma_t^2 score] dt`` (``t >= 1``)."""
        index = self._index(t, 1)
        drift_dt = self._at("theta_dt", index) * (mu - xt) - self._at("sigma_sq_dt", index) * score
        return xt - drift_dt

    def reverse_sde_noise_std(self, t: Timestep) -> Tensor:
        """``sigma_t sqrt(dt)``, the std of the Euler-Maruyama reverse step's noise (``t >= 1``)."""
        return self._at("reverse_noise_std", self._index(t, 1))

    def reverse_ode_step(self, xt: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """Probability-flow ODE step ``x_t - [theta_t (mu - x_t) - sigma_t^2 score / 2] dt``."""
        index = self._index(t, 1)
        drift_dt = self._at("theta_dt", index) * (mu - xt) - 0.5 * self._at("sigma_sq_dt", index) * score
        return xt - drift_dt

    def optimal_reverse_mean(self, xt: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``x*_{t-1}``, the mean of ``x_{t-1} | (x_t, x_0)`` (``t >= 1``; at ``t = 1`` it is ``x_0``)."""
        index = self._index(t, 1)
        return (
            mu
            + self._at("posterior_coef_xt", index) * (xt - mu)
            + self._at("posterior_coef_x0", index) * (x0 - mu)
        )

    def posterior_std(self, t: Timestep) -> Tensor:
        """``lambda sqrt((1-a^2)(1-c^2)/(1-b^2))``, the std of ``x_{t-1} | (x_t, x_0)`` (``t >= 1``;
        0 at ``t = 1``)."""
        return self._at("posterior_std", self._index(t, 1))


START_STEP_GUARD = 1e-6
"""Added inside the logarithm of :func:`start_step` (the authors' value), so a ``sigma`` at
``lambda`` itself still gives a finite step."""


def start_step(sde: MeanRevertingSDE, sigma: float) -> int:
    """The step ``t*`` whose marginal std matches Gaussian noise of std ``sigma`` (docs/sde.md#denoising-sde-and-denoising-ode).

    A noisy image ``y = x0 + sigma z`` is the state ``x_{t*}`` of the forward process with
    ``mu = x0`` (Denoising-SDE/ODE), which has ``x_t = x0 + sigmabar_t z``. With ``sigma`` and
    lambda on the same [0, 1] scale (``sigma >= 1`` is on the 0-255 scale, like ``max_sigma``):
    ``thetahat = -ln(1 - sigma^2 / lambda^2 + 1e-6) / (2 dt)`` and
    ``t* = argmin_t |thetabar_t - thetahat|`` over ``t = 0..T`` (the first on a tie), so that
    ``sigmabar_{t*} ~ sigma``. Restoring from ``t*`` down to 1 takes ``t*`` network evaluations:
    22 for sigma 25 with the cosine schedule, ``T = 100``, ``max_sigma = 70``, ``eps = 0.04``.
    Raises ValueError when ``sigma`` is not positive or exceeds lambda (no step has that much noise).
    """
    try:
        noise = lambda_from_max_sigma(sigma)
    except ValueError:
        raise ValueError(f"noise level sigma must be a finite number > 0 (>= 1: 0-255 scale), got {sigma!r}") from None
    if noise > sde.lam * math.sqrt(1 + START_STEP_GUARD):
        raise ValueError(
            f"noise level sigma {sigma!r} is above the SDE's max_sigma {sde.max_sigma!r} (lambda {sde.lam:.6g} "
            f"on the [0, 1] scale): no step of the SDE has that much noise; raise max_sigma"
        )
    coefficients = sde.coefficients
    theta_hat = -math.log(1.0 - noise**2 / sde.lam**2 + START_STEP_GUARD) / (2.0 * coefficients.dt)
    return int(np.argmin(np.abs(coefficients.thetas_bar - theta_hat)))


def standard_normal_like(x: Tensor, generator: torch.Generator) -> Tensor:
    """Standard normal noise shaped like ``x`` (its dtype and device), drawn from ``generator``.

    A generator on another kind of device than ``x`` (say a CPU generator for CUDA images) draws
    on its own device and the noise is copied to ``x``'s, so results depend only on the generator.
    """
    if generator.device.type == x.device.type:
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
    return noise.to(x.device)
