"""Which of the ``T`` steps a sampler visits when it is given ``K < T`` network evaluations.

A sampler with ``K`` evaluations calls the network at ``K`` distinct steps
``T = t_K > ... > t_1 >= 1`` and ends at step 0. It always starts at ``T`` (where
``x_T = mu + lambda z`` is drawn), and with ``K = T`` it visits every step. The other steps are
placed by a *spacing*: ``K`` targets evenly spaced in some quantity ``q(t)``, each rounded to the
step whose ``q`` is nearest, then made distinct (see :func:`select_steps`). Spacings:

- ``time``: ``q = t``; targets ``k T / K``, ``k = 1..K`` (the last interval ends at step 0).
- ``thetabar``: ``q = thetabar_t dt``, the integrated mean-reversion rate; targets
  ``k thetabar_T dt / K``. Each step removes the same share of ``x_0``'s weight in the mean
  (``exp(-thetabar_t dt)`` shrinks by the same factor).
- ``logsnr``: ``q = -log(exp(-thetabar_t dt) / sigmabar_t)``, minus the log of the
  signal-to-noise ratio's square root (the variable the exponential integrators of
  :mod:`irsde.sampling.exponential` step in); targets evenly spaced between the values at ``T`` and at 1
  (it is infinite at step 0).

:func:`check_step_count` is the one place a number of network evaluations is checked against
``T``: samplers, methods and the pipeline's configuration all go through it.

:data:`DEFAULT_SPACING` is ``time``, chosen by measuring how close the K-step ``fast-ode`` comes
to its own T-step solution on a trained model (``benchmarks/sampler_nfe.py --spacings time
thetabar logsnr``) and because for Gaussian data, whose exact answer is known, ``fast-sde`` and
``fast-ode`` keep the data's spread better with it than with ``thetabar``. The figures, each
with the model it was measured on, are in docs/samplers.md#which-steps-to-visit (on the current
embedded model ``logsnr`` is closer at 10 and 20 steps). ``thetabar`` ends early (its last
network call is at step 39 of 100 for K = 10) and returns smoother images: a higher PSNR on a
weak model, but not the distribution the sampler targets.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from irsde.sde import SDECoefficients


def _time(coefficients: SDECoefficients) -> np.ndarray:
    return np.arange(coefficients.T + 1, dtype=np.float64)


def _thetabar(coefficients: SDECoefficients) -> np.ndarray:
    return coefficients.thetas_bar * coefficients.dt


def _negative_logsnr(coefficients: SDECoefficients) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(coefficients.sigma_bars) - np.log(coefficients.decay_bar)


SPACINGS: dict[str, Callable[[SDECoefficients], np.ndarray]] = {
    "time": _time,
    "thetabar": _thetabar,
    "logsnr": _negative_logsnr,
}
"""Spacings by name: each maps the SDE's coefficients to ``q(t)``, ``t = 0..T``, increasing."""

DEFAULT_SPACING = "time"
"""The spacing :func:`select_steps` uses unless told otherwise (measured: docs/samplers.md#which-steps-to-visit)."""


def check_step_count(steps: object, T: int) -> int:
    """``steps`` as an int if it is an integer in ``1..T``, else ValueError (the one check of a
    number of network evaluations against ``T``)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= T:
        raise ValueError(
            f"steps (network evaluations per image) must be an integer in 1..T={T}, got {steps!r}"
        )
    return int(steps)


def select_steps(coefficients: SDECoefficients, count: int | None, spacing: str = DEFAULT_SPACING) -> list[int]:
    """The ``count`` steps to evaluate the network at, increasing: ``[t_1, ..., t_K = T]``.

    ``count=None`` (or ``T``) gives every step ``1..T``. Each target of the spacing is rounded to
    the step with the nearest ``q``; going down from ``T``, a step that coincides with (or passes)
    the one above it moves one step down, and one that would leave no room for the steps still
    to place moves up, so the ``count`` steps are always distinct.
    """
    T = coefficients.T
    if spacing not in SPACINGS:
        raise ValueError(f"unknown step spacing {spacing!r}; valid spacings: {', '.join(sorted(SPACINGS))}")
    count = T if count is None else check_step_count(count, T)
    if count == T:
        return list(range(1, T + 1))
    quantity = SPACINGS[spacing](coefficients)
    if np.isfinite(quantity[0]):  # count equal intervals from step 0 to T
        targets = np.linspace(quantity[0], quantity[T], count + 1)[1:]
    else:  # infinite at step 0: count evenly spaced points from step 1 to T
        targets = np.linspace(quantity[1], quantity[T], count)
    nearest = [_nearest_step(quantity, target) for target in targets]
    chosen = [T]
    for k in range(count - 1, 0, -1):  # k: how many steps are still to place, this one included
        chosen.append(max(k, min(nearest[k - 1], chosen[-1] - 1)))
    return chosen[::-1]


def _nearest_step(quantity: np.ndarray, target: float) -> int:
    """The step ``t >= 1`` whose ``quantity[t]`` is nearest ``target`` (``quantity`` increasing)."""
    finite = quantity[1:]
    above = int(np.clip(np.searchsorted(finite, target), 1, len(finite) - 1))
    below = above - 1
    closer = below if abs(finite[below] - target) <= abs(finite[above] - target) else above
    return closer + 1
