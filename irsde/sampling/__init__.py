"""Sampling the reverse process: everything between a trained noise predictor and restored images.

- ``samplers``: the :class:`Sampler` type and :data:`SAMPLERS`, the one registry (``sde``,
  ``ode``, ``posterior``, ``fast-sde``, ``fast-ode``; ``sde``/``ode`` also in Denoising form);
- ``loop``: :func:`sample` (IR-SDE from ``x_T = mu + lambda z``) and :func:`denoise`
  (Denoising-SDE/ODE from the noise level's step), the one loop both run;
- ``exponential``: the fast samplers' exponential integrators, with their derivation;
- ``steps``: which steps ``K < T`` network evaluations visit (spacings), and
  :func:`check_step_count`, the one check of ``K`` against ``T``;
- ``denoising``: the Denoising-SDE/ODE steps (``mu = x0``).

Methods (:mod:`irsde.methods`) pick a sampler by name and run it on their network.
"""

from irsde.sampling.loop import DEFAULT_SEED, SamplingResult, denoise, sample
from irsde.sampling.samplers import SAMPLERS, Sampler
from irsde.sampling.steps import DEFAULT_SPACING, SPACINGS, check_step_count, select_steps

__all__ = ["DEFAULT_SEED", "DEFAULT_SPACING", "SAMPLERS", "SPACINGS", "Sampler", "SamplingResult", "check_step_count",
           "denoise", "sample", "select_steps"]
