"""The samplers of the reverse process: one :class:`Sampler` type, one registry (:data:`SAMPLERS`).

A sampler is a rule for one step down the reverse process, called once per visited step with
the network's noise prediction ``eps_hat`` at that step. For IR-SDE (``mu`` the degraded image;
docs/sde.md), from ``x_T = mu + lambda z``:

- ``sde``: the paper's Euler-Maruyama step of the reverse SDE,
  ``x_{t-1} = x_t - [theta_t (mu - x_t) - sigma_t^2 score] dt - sigma_t sqrt(dt) z``.
- ``ode``: the probability-flow ODE step (deterministic after the start).
- ``posterior``: ``x_{t-1} = x*_{t-1}(x_t, x0_hat) + posterior_std(t) z`` with ``x0_hat`` from
  ``eps_hat``. ``posterior_std(1) = 0`` because ``c = exp(-thetabar_0 dt) = 1``, so its last
  step returns ``x*_0 = x0_hat`` without noise.
- ``fast-ode``, ``fast-sde``: second-order exponential integrators of the probability-flow ODE
  and of the reverse SDE (:mod:`irsde.sampling.exponential`, which derives them), made for few
  steps (``steps=10``; measured against 100 steps of the others in the README).

``sde`` and ``ode`` also have a Denoising form (Denoising-SDE/ODE, ``mu = x0``, from the step of
the input's noise level: :mod:`irsde.sampling.denoising`); the others have none.
:mod:`irsde.sampling.loop` runs them; which steps are visited with ``K < T`` network evaluations
is :mod:`irsde.sampling.steps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

from torch import Tensor

from irsde.registry import Registry
from irsde.sampling import denoising
from irsde.sampling.exponential import fast_ode, fast_sde
from irsde.sde import MeanRevertingSDE

StepFunction = Callable[[MeanRevertingSDE, Tensor, Optional[Tensor], Tensor, Tensor, Optional[Tensor]], Tensor]
Stepper = Callable[[Tensor, Optional[Tensor], Tensor, Tensor, Optional[Tensor]], Tensor]
"""One run's step: ``(xt, mu, eps_hat, t, noise) -> x_{t-1}`` (``mu`` None for Denoising)."""


@dataclass(frozen=True)
class Sampler:
    """A reverse sampler. ``stepper(sde)`` makes the step function of one IR-SDE run on ``sde``,
    called for the visited steps in decreasing order; ``noise`` is a standard normal tensor
    shaped like ``xt`` when ``stochastic``, else None. ``denoising(sde)``, when the sampler has
    a Denoising form, makes the step function of a Denoising-SDE/ODE run (``mu`` is None)."""

    name: str
    stepper: Callable[[MeanRevertingSDE], Stepper]
    stochastic: bool
    description: str
    denoising: Callable[[MeanRevertingSDE], Stepper] | None = None

    def with_denoising_form(self) -> "Sampler":
        """This sampler, if it has a Denoising form; a ValueError naming those that do otherwise."""
        if self.denoising is None:
            with_form = [name for name, sampler in SAMPLERS.items() if sampler.denoising is not None]
            raise ValueError(f"sampler {self.name!r} has no Denoising-SDE/ODE form; choose one of: {', '.join(with_form)}")
        return self


def memoryless(step: StepFunction) -> Callable[[MeanRevertingSDE], Stepper]:
    """The stepper factory of a one-step rule ``step(sde, xt, mu, eps_hat, t, noise)``."""
    return lambda sde: partial(step, sde)


def sde_step(
    sde: MeanRevertingSDE, xt: Tensor, mu: Tensor, eps_hat: Tensor, t: Tensor, noise: Tensor | None
) -> Tensor:
    """Euler-Maruyama step of the reverse SDE (the paper's sampler)."""
    score = sde.score_from_noise(eps_hat, t)
    return sde.reverse_sde_mean(xt, mu, score, t) - sde.reverse_sde_noise_std(t) * noise


def ode_step(
    sde: MeanRevertingSDE, xt: Tensor, mu: Tensor, eps_hat: Tensor, t: Tensor, noise: Tensor | None
) -> Tensor:
    """Euler step of the probability-flow ODE (``noise`` is unused)."""
    return sde.reverse_ode_step(xt, mu, sde.score_from_noise(eps_hat, t), t)


def posterior_step(
    sde: MeanRevertingSDE, xt: Tensor, mu: Tensor, eps_hat: Tensor, t: Tensor, noise: Tensor | None
) -> Tensor:
    """Sample ``x_{t-1} | (x_t, x0_hat)`` with ``x0_hat`` estimated from ``eps_hat``."""
    x0_hat = sde.x0_from_noise(xt, mu, eps_hat, t)
    return sde.optimal_reverse_mean(xt, x0_hat, mu, t) + sde.posterior_std(t) * noise


SAMPLERS: Registry[Sampler] = Registry("sampler", {
    "sde": Sampler("sde", memoryless(sde_step), True, "Euler-Maruyama reverse SDE (the paper's sampler)",
                   denoising=memoryless(denoising.sde_step)),
    "ode": Sampler("ode", memoryless(ode_step), False, "probability-flow ODE, Euler steps",
                   denoising=memoryless(denoising.ode_step)),
    "posterior": Sampler("posterior", memoryless(posterior_step), True, "optimal posterior x_{t-1} | x_t, x0_hat"),
    "fast-ode": Sampler("fast-ode", fast_ode, False, "probability-flow ODE, 2nd-order exponential integrator"),
    "fast-sde": Sampler("fast-sde", fast_sde, True, "reverse SDE, 2nd-order exponential integrator"),
})
"""Samplers by name (an unknown name is an error listing the valid ones)."""
