"""Theta schedules of the mean-reverting SDE (docs/sde.md#theta-schedules), as pure functions.

Each schedule maps the number of steps ``T`` to the array ``theta_t`` for ``t = 0..T`` (``T + 1``
values), computed in float64. Select one by name with :func:`get_thetas`; the registry
:data:`SCHEDULES` lists the valid names.

The authors' code evaluates the same formulas in float32, so the published cosine coefficients
differ from these float64 ones by float32 rounding: at most 1.1e-7 absolute, which is 7.5e-5
relative at ``t = 0`` where ``theta_t = 1 - abar_{t+1}`` subtracts two numbers close to 1. The
float64 values are the exact formula.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from irsde.registry import Registry

COSINE_OFFSET = 0.008
"""The offset ``s`` of the cosine schedule (Nichol & Dhariwal's value, used by IR-SDE)."""

LINEAR_THETA_RANGE = (1e-4, 0.02)
"""First and last theta of the linear schedule before scaling by ``1000 / (T + 1)``."""


def cosine_thetas(T: int) -> np.ndarray:
    """The cosine schedule: ``theta_t = 1 - abar_{t+1}`` with ``abar_k = f(k) / f(0)``,
    ``f(k) = cos^2(((k / N) + s) / (1 + s) * pi / 2)``, ``N = T + 2``, ``k = 0..N``, ``s = 0.008``
    (the first and last of the ``N + 1`` points are dropped)."""
    n_points = T + 2
    k = np.arange(n_points + 1, dtype=np.float64)
    f = np.cos((k / n_points + COSINE_OFFSET) / (1.0 + COSINE_OFFSET) * math.pi / 2.0) ** 2
    abar = f / f[0]
    return 1.0 - abar[1:-1]


def linear_thetas(T: int) -> np.ndarray:
    """The linear schedule: ``T + 1`` evenly spaced values from ``1e-4 * scale`` to
    ``0.02 * scale`` with ``scale = 1000 / (T + 1)``."""
    n_points = T + 1
    scale = 1000.0 / n_points
    first, last = LINEAR_THETA_RANGE
    return np.linspace(first * scale, last * scale, n_points, dtype=np.float64)


def constant_thetas(T: int) -> np.ndarray:
    """The constant schedule: ``theta_t = 1`` for every ``t``."""
    return np.ones(T + 1, dtype=np.float64)


SCHEDULES: Registry[Callable[[int], np.ndarray]] = Registry("theta schedule", {
    "cosine": cosine_thetas,
    "linear": linear_thetas,
    "constant": constant_thetas,
})
"""Theta schedules by name; each takes ``T`` and returns float64 ``theta_0..theta_T``."""


MAX_STEPS = 10_000
"""Most SDE steps ``T`` (the paper uses 100): every step is a network evaluation when sampling and
a row of the coefficient tables, so a mistyped ``1e8`` would exhaust memory before any work. The
training schema's ``sde.T`` maximum is this number."""


def validate_num_steps(T: object) -> int:
    """Return ``T`` as an int if it is an integer in 1..:data:`MAX_STEPS`, else raise ValueError."""
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= MAX_STEPS:
        raise ValueError(f"T (number of SDE steps) must be an integer in 1..{MAX_STEPS}, got {T!r}")
    return int(T)


def get_thetas(name: str, T: int) -> np.ndarray:
    """``theta_0..theta_T`` (float64 array of length ``T + 1``) of the schedule called ``name``.

    Raises ValueError for an unknown name (listing the valid ones) or ``T < 1``.
    """
    return SCHEDULES[name](validate_num_steps(T))
