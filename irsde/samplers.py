"""Reverse-time samplers of IR-SDE (DESIGN §2) and :func:`restore`, registered by name.

Every sampler starts at ``x_T = mu + lambda z`` and takes one step per ``t = T..1``, calling the
network once per step: ``eps_hat = net(x_t, mu, t)`` with ``t`` a LongTensor of shape ``(B,)``.

- ``sde``: the paper's Euler-Maruyama step of the reverse SDE,
  ``x_{t-1} = x_t - [theta_t (mu - x_t) - sigma_t^2 score] dt - sigma_t sqrt(dt) z``.
- ``ode``: the probability-flow ODE step (deterministic after the start).
- ``posterior``: ``x_{t-1} = x*_{t-1}(x_t, x0_hat) + posterior_std(t) z`` with ``x0_hat`` from
  ``eps_hat``. ``posterior_std(1) = 0`` because ``c = exp(-thetabar_0 dt) = 1``, so its last
  step returns ``x*_0 = x0_hat`` without noise.

All randomness comes from the ``generator`` passed in: the same generator state gives the same
images. ``generator=None`` uses a fresh generator seeded with :data:`DEFAULT_SEED` (so it is
deterministic too, and never touches torch's global random state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from irsde.registry import Registry
from irsde.sde import MeanRevertingSDE, standard_normal_like

DEFAULT_SEED = 0
"""Seed of the generator :func:`restore` creates when none is given."""

StepFunction = Callable[[MeanRevertingSDE, Tensor, Tensor, Tensor, Tensor, Optional[Tensor]], Tensor]


@dataclass(frozen=True)
class Sampler:
    """A reverse sampler: ``step(sde, xt, mu, eps_hat, t, noise) -> x_{t-1}``; ``noise`` is a
    standard normal tensor shaped like ``xt`` when ``stochastic``, else None."""

    name: str
    step: StepFunction
    stochastic: bool
    description: str


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
    "sde": Sampler("sde", sde_step, True, "Euler-Maruyama reverse SDE (the paper's sampler)"),
    "ode": Sampler("ode", ode_step, False, "probability-flow ODE, Euler steps"),
    "posterior": Sampler("posterior", posterior_step, True, "optimal posterior x_{t-1} | x_t, x0_hat"),
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
    sampler: str = "sde",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> SamplingResult:
    """Run ``sampler`` from ``x_T = mu + lambda z`` down to ``x_0``; see :func:`restore`.

    Returns the images and the number of network evaluations (``sde.T``).
    """
    chosen = SAMPLERS[sampler]
    if mu.ndim != 4:
        raise ValueError(f"mu must be a batch of images (B, C, H, W), got shape {tuple(mu.shape)}")
    if generator is None:
        generator = torch.Generator(device=mu.device).manual_seed(DEFAULT_SEED)
    sde = sde.to(mu.device, mu.dtype)
    counted = _CountingNet(net)
    batch_size = mu.shape[0]
    steps = torch.arange(sde.T, 0, -1, device=mu.device).repeat_interleave(batch_size).view(-1, batch_size)
    with torch.no_grad():
        x = sde.sample_prior(mu, standard_normal_like(mu, generator))
        for t in tqdm(steps, desc=f"{chosen.name} sampler", disable=not progress, leave=False):
            eps_hat = counted(x, mu, t)
            noise = standard_normal_like(x, generator) if chosen.stochastic else None
            x = chosen.step(sde, x, mu, eps_hat, t, noise)
    return SamplingResult(images=x, nfe=counted.calls)


def restore(
    net: nn.Module | Callable[[Tensor, Tensor, Tensor], Tensor],
    sde: MeanRevertingSDE,
    mu: Tensor,
    sampler: str = "sde",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> Tensor:
    """Restore the degraded batch ``mu`` (``(B, C, H, W)``, values in [0, 1]) with ``net``.

    Runs ``sde.T`` network evaluations on ``mu``'s device (the SDE's tensors are moved there;
    ``net`` must already be there and in the mode you want, e.g. ``eval()``), without gradient
    tracking. All noise comes from ``generator`` (None: a fresh one seeded with
    :data:`DEFAULT_SEED`); ``progress`` shows a tqdm bar. The output is not clamped.
    Use :func:`sample` to also get the number of network evaluations.
    """
    return sample(net, sde, mu, sampler=sampler, generator=generator, progress=progress).images
