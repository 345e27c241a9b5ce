"""Reverse-time samplers of IR-SDE (docs/samplers.md) and :func:`restore`, registered by name.

Every sampler starts at ``x_T = mu + lambda z`` and takes one step per visited step, calling the
network once per step: ``eps_hat = net(x_t, mu, t)`` with ``t`` a LongTensor of shape ``(B,)``.
By default it visits every ``t = T..1`` (``T`` network evaluations, the paper's way):

- ``sde``: the paper's Euler-Maruyama step of the reverse SDE,
  ``x_{t-1} = x_t - [theta_t (mu - x_t) - sigma_t^2 score] dt - sigma_t sqrt(dt) z``.
- ``ode``: the probability-flow ODE step (deterministic after the start).
- ``posterior``: ``x_{t-1} = x*_{t-1}(x_t, x0_hat) + posterior_std(t) z`` with ``x0_hat`` from
  ``eps_hat``. ``posterior_std(1) = 0`` because ``c = exp(-thetabar_0 dt) = 1``, so its last
  step returns ``x*_0 = x0_hat`` without noise.
- ``fast-ode``, ``fast-sde``: second-order exponential integrators of the probability-flow ODE
  and of the reverse SDE (:mod:`irsde.fast_samplers`, which derives them), made for few steps
  (``steps=10``; measured against 100 steps of the others in the README).

With ``steps=K < T`` a sampler visits ``K`` steps ``T = t_K > ... > t_1`` chosen by
:func:`irsde.sampling_steps.select_steps`, and steps on the same SDE seen only at those steps
(:meth:`irsde.sde.MeanRevertingSDE.observed_at`): ``sde``/``ode`` take Euler steps over the
whole integrated rate between two visited steps, ``posterior`` samples the exact
``x_{t_{k-1}} | x_{t_k}, x0_hat`` (the same as a first-order ``fast-sde``). ``steps=None`` or
``T`` is the paper's loop, unchanged.

All randomness comes from the ``generator`` passed in: the same generator state gives the same
images. ``generator=None`` uses a fresh generator seeded with :data:`DEFAULT_SEED` (so it is
deterministic too, and never touches torch's global random state). Stochastic samplers draw one
noise tensor per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from irsde.fast_samplers import fast_ode, fast_sde
from irsde.registry import Registry
from irsde.sampling_steps import DEFAULT_SPACING, select_steps
from irsde.sde import MeanRevertingSDE, standard_normal_like

DEFAULT_SEED = 0
"""Seed of the generator :func:`restore` creates when none is given."""

StepFunction = Callable[[MeanRevertingSDE, Tensor, Tensor, Tensor, Tensor, Optional[Tensor]], Tensor]
Stepper = Callable[[Tensor, Tensor, Tensor, Tensor, Optional[Tensor]], Tensor]


@dataclass(frozen=True)
class Sampler:
    """A reverse sampler. ``stepper(sde)`` makes the step function of one run on ``sde``:
    ``(xt, mu, eps_hat, t, noise) -> x_{t-1}``, called for ``t = sde.T..1`` in order; ``noise``
    is a standard normal tensor shaped like ``xt`` when ``stochastic``, else None."""

    name: str
    stepper: Callable[[MeanRevertingSDE], Stepper]
    stochastic: bool
    description: str


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
    "sde": Sampler("sde", memoryless(sde_step), True, "Euler-Maruyama reverse SDE (the paper's sampler)"),
    "ode": Sampler("ode", memoryless(ode_step), False, "probability-flow ODE, Euler steps"),
    "posterior": Sampler("posterior", memoryless(posterior_step), True, "optimal posterior x_{t-1} | x_t, x0_hat"),
    "fast-ode": Sampler("fast-ode", fast_ode, False, "probability-flow ODE, 2nd-order exponential integrator"),
    "fast-sde": Sampler("fast-sde", fast_sde, True, "reverse SDE, 2nd-order exponential integrator"),
})
"""Samplers by name (an unknown name is an error listing the valid ones)."""


@dataclass(frozen=True)
class SamplingResult:
    """Restored images and the number of network evaluations (NFE) it took."""

    images: Tensor
    nfe: int


class _CountingNet:
    """Calls ``net`` and counts the calls."""

    def __init__(self, net: Callable[..., Tensor]) -> None:
        self.net = net
        self.calls = 0

    def __call__(self, xt: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        self.calls += 1
        return self.net(xt, mu, t)


def sample(
    net: nn.Module | Callable[[Tensor, Tensor, Tensor], Tensor],
    sde: MeanRevertingSDE,
    mu: Tensor,
    sampler: str | Sampler = "sde",
    generator: torch.Generator | None = None,
    progress: bool = False,
    steps: int | None = None,
    spacing: str = DEFAULT_SPACING,
) -> SamplingResult:
    """Run ``sampler`` from ``x_T = mu + lambda z`` down to ``x_0``; see :func:`restore`.

    Returns the images and the number of network evaluations: ``steps`` (``sde.T`` when None).
    """
    chosen = sampler if isinstance(sampler, Sampler) else SAMPLERS[sampler]
    if mu.ndim != 4:
        raise ValueError(f"mu must be a batch of images (B, C, H, W), got shape {tuple(mu.shape)}")
    if generator is None:
        generator = torch.Generator(device=mu.device).manual_seed(DEFAULT_SEED)
    sde = sde.to(mu.device, mu.dtype)
    visited = select_steps(sde.coefficients, steps, spacing)
    walked = sde.observed_at(visited)
    step = chosen.stepper(walked)
    counted = _CountingNet(net)
    batch_size = mu.shape[0]
    network_steps = _per_sample(torch.tensor(visited[::-1], device=mu.device), batch_size)
    walked_steps = _per_sample(torch.arange(walked.T, 0, -1, device=mu.device), batch_size)
    label = f"{chosen.name} sampler"
    with torch.no_grad():
        x = walked.sample_prior(mu, standard_normal_like(mu, generator))
        for t, k in tqdm(zip(network_steps, walked_steps), total=walked.T, desc=label, disable=not progress, leave=False):
            eps_hat = counted(x, mu, t)
            noise = standard_normal_like(x, generator) if chosen.stochastic else None
            x = step(x, mu, eps_hat, k, noise)
    return SamplingResult(images=x, nfe=counted.calls)


def _per_sample(steps: Tensor, batch_size: int) -> Tensor:
    """``(K,)`` steps -> ``(K, B)``: row ``i`` holds ``steps[i]`` once per sample (contiguous)."""
    return steps.repeat_interleave(batch_size).view(-1, batch_size)


def restore(
    net: nn.Module | Callable[[Tensor, Tensor, Tensor], Tensor],
    sde: MeanRevertingSDE,
    mu: Tensor,
    sampler: str | Sampler = "sde",
    generator: torch.Generator | None = None,
    progress: bool = False,
    steps: int | None = None,
    spacing: str = DEFAULT_SPACING,
) -> Tensor:
    """Restore the degraded batch ``mu`` (``(B, C, H, W)``, values in [0, 1]) with ``net``.

    Runs ``steps`` network evaluations (None: ``sde.T``, every step; fewer visit the steps that
    :func:`irsde.sampling_steps.select_steps` picks with ``spacing``) on ``mu``'s device (the
    SDE's tensors are moved there; ``net`` must already be there and in the mode you want, e.g.
    ``eval()``), without gradient tracking. All noise comes from ``generator`` (None: a fresh one
    seeded with :data:`DEFAULT_SEED`); ``progress`` shows a tqdm bar. The output is not clamped.
    Use :func:`sample` to also get the number of network evaluations.
    """
    return sample(net, sde, mu, sampler, generator, progress, steps, spacing).images
