"""Running a sampler: the one loop down the reverse process, for IR-SDE and for Denoising-SDE/ODE.

:func:`sample` restores a degraded batch ``mu`` with IR-SDE: it starts at ``x_T = mu + lambda z``
and visits every ``t = T..1`` (``T`` network evaluations, the paper's way) or, with
``steps=K < T``, the ``K`` steps :func:`irsde.sampling.steps.select_steps` picks, stepping on the
same SDE seen only at those steps (:meth:`irsde.sde.MeanRevertingSDE.observed_at`): ``sde``/``ode``
take Euler steps over the whole integrated rate between two visited steps, ``posterior`` samples
the exact ``x_{t_{k-1}} | x_{t_k}, x0_hat`` (the same as a first-order ``fast-sde``).
``steps=None`` or ``T`` is the paper's loop, unchanged.

:func:`denoise` restores a noisy batch with Denoising-SDE/ODE: the noisy image is the state at
``t* = start_step(sde, sigma)`` and the sampler's Denoising form walks ``t*..1`` with the
unconditional network (``net(x_t, None, t)``).

Both call the network once per visited step with ``t`` a LongTensor of shape ``(B,)``. All
randomness comes from the ``generator`` passed in: the same generator state gives the same
images; ``generator=None`` uses a fresh generator seeded with :data:`DEFAULT_SEED` (so it is
deterministic too, and never touches torch's global random state). Stochastic samplers draw one
noise tensor per step, after the network call. Nothing is computed with gradients; the output is
not clamped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from irsde.sampling.samplers import SAMPLERS, Sampler, Stepper
from irsde.sampling.steps import DEFAULT_SPACING, select_steps
from irsde.sde import MeanRevertingSDE, standard_normal_like, start_step

DEFAULT_SEED = 0
"""Seed of the generator a run creates when none is given."""

NoisePredictor = nn.Module | Callable[[Tensor, Tensor | None, Tensor], Tensor]


@dataclass(frozen=True)
class SamplingResult:
    """Restored images and the number of network evaluations (NFE) it took."""

    images: Tensor
    nfe: int


def sample(
    net: NoisePredictor,
    sde: MeanRevertingSDE,
    mu: Tensor,
    sampler: str | Sampler = "sde",
    generator: torch.Generator | None = None,
    progress: bool = False,
    steps: int | None = None,
    spacing: str = DEFAULT_SPACING,
) -> SamplingResult:
    """Restore the degraded batch ``mu`` (``(B, C, H, W)``, values in [0, 1]) with ``net`` and
    ``sampler``, in ``steps`` network evaluations (None: ``sde.T``), on ``mu``'s device (the SDE's
    tensors are moved there; ``net`` must already be there and in the mode you want, e.g.
    ``eval()``); ``progress`` shows a tqdm bar."""
    chosen = _sampler(sampler)
    _check_batch(mu, "mu")
    generator = _generator(generator, mu)
    sde = sde.to(mu.device, mu.dtype)
    visited = select_steps(sde.coefficients, steps, spacing)
    walked = sde.observed_at(visited)
    network_steps = torch.tensor(visited[::-1], device=mu.device)
    walked_steps = torch.arange(walked.T, 0, -1, device=mu.device)
    start = walked.sample_prior(mu, standard_normal_like(mu, generator))
    return _reverse(net, start, mu, network_steps, walked_steps, chosen.stepper(walked), chosen.stochastic,
                    generator, f"{chosen.name} sampler", progress)


def denoise(net: NoisePredictor, sde: MeanRevertingSDE, noisy: Tensor, sigma: float, sampler: str | Sampler = "ode",
            generator: torch.Generator | None = None, progress: bool = False) -> SamplingResult:
    """Restore ``noisy`` (``(B, C, H, W)``, clean + Gaussian noise of std ``sigma``, not clipped)
    from the step ``t* = start_step(sde, sigma)`` down to ``x_0`` with the Denoising form of
    ``sampler`` (``sde``: Denoising-SDE, ``ode``: Denoising-ODE): ``t*`` network evaluations."""
    chosen = _sampler(sampler).with_denoising_form()
    _check_batch(noisy, "noisy")
    generator = _generator(generator, noisy)
    sde = sde.to(noisy.device, noisy.dtype)
    steps = torch.arange(start_step(sde, sigma), 0, -1, device=noisy.device)
    return _reverse(net, noisy, None, steps, steps, chosen.denoising(sde), chosen.stochastic, generator,
                    f"denoising-{chosen.name}", progress)


def _reverse(net: NoisePredictor, x: Tensor, mu: Tensor | None, network_steps: Tensor, walked_steps: Tensor,
             step: Stepper, stochastic: bool, generator: torch.Generator, label: str, progress: bool) -> SamplingResult:
    """The loop: per visited step, one network call at ``network_steps[i]`` and one step of the
    walked process at ``walked_steps[i]`` (the same steps unless a coarser view is walked)."""
    batch_size = x.shape[0]
    calls = 0
    with torch.no_grad():
        for t, k in tqdm(zip(_per_sample(network_steps, batch_size), _per_sample(walked_steps, batch_size)),
                         total=len(network_steps), desc=label, disable=not progress, leave=False):
            eps_hat = net(x, mu, t)
            calls += 1
            noise = standard_normal_like(x, generator) if stochastic else None
            x = step(x, mu, eps_hat, k, noise)
    return SamplingResult(images=x, nfe=calls)


def _sampler(sampler: str | Sampler) -> Sampler:
    return sampler if isinstance(sampler, Sampler) else SAMPLERS[sampler]


def _check_batch(images: Tensor, name: str) -> None:
    if images.ndim != 4:
        raise ValueError(f"{name} must be a batch of images (B, C, H, W), got shape {tuple(images.shape)}")


def _generator(generator: torch.Generator | None, like: Tensor) -> torch.Generator:
    return generator if generator is not None else torch.Generator(device=like.device).manual_seed(DEFAULT_SEED)


def _per_sample(steps: Tensor, batch_size: int) -> Tensor:
    """``(K,)`` steps -> ``(K, B)``: row ``i`` holds ``steps[i]`` once per sample (contiguous)."""
    return steps.repeat_interleave(batch_size).view(-1, batch_size)
