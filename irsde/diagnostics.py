"""Noise-prediction error by timestep: why an under-trained IR-SDE outputs noise, and when it stops.

For a clean/degraded pair ``(x0, mu)`` and a step ``t``, draw ``x_t = m_t + sigmabar_t z`` from
the forward marginal and ask the network for ``eps_hat = net(x_t, mu, t)``. Two errors are
recorded, each the mean over pixels and images:

- ``noise_error = |eps_hat - z|``, what the noise-matching loss measures;
- ``x0_error = sigmabar_t exp(thetabar_t dt) |eps_hat - z|``, the same error expressed on the
  clean image: ``x0_hat`` from ``eps_hat`` (:meth:`MeanRevertingSDE.x0_from_noise`) is off by
  exactly this much. The factor grows from ``sigmabar_1`` (tiny) to ``lambda / eps`` at ``t = T``,
  so a modest noise error at large ``t`` is a large image error: the reverse process starts there,
  and a trajectory pushed off the forward marginals early is driven away from ``mu`` (the
  reverse-time drift ``-theta_t (mu - x)`` repels) unless the network's answer grows with the
  deviation, which an under-trained network's does not.

The steps probed, the images and the noise are fixed (a seeded generator), so successive
validations of a run differ only because the weights do.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from irsde.sde import MeanRevertingSDE, standard_normal_like

TIMESTEP_COLUMNS = ("iteration", "t", "metric", "value")
TIMESTEP_METRICS = ("noise_error", "x0_error")
DEFAULT_PROBES = 20


def probe_steps(T: int, count: int = DEFAULT_PROBES) -> list[int]:
    """``count`` steps spread evenly over ``1..T`` (always including 1 and T), ascending."""
    if count < 2 or T < 2:
        return list(range(1, T + 1))
    steps = torch.linspace(1, T, min(count, T)).round().long().tolist()
    return sorted(set(steps))


@torch.no_grad()
def noise_prediction_errors(
    net: nn.Module, sde: MeanRevertingSDE, x0: Tensor, mu: Tensor, steps: list[int], seed: int = 0
) -> list[dict]:
    """Rows ``(t, metric, value)`` for every step in ``steps`` and both metrics (module docstring).

    ``x0`` and ``mu`` are batches ``(B, C, H, W)`` on the network's device; the noise comes from a
    generator seeded with ``seed`` on that device.
    """
    sde = sde.to(mu.device, mu.dtype)
    generator = torch.Generator(device=mu.device).manual_seed(seed)
    rows = []
    for t in steps:
        noise = standard_normal_like(x0, generator)
        xt = sde.sample_xt(x0, mu, t, noise)
        eps_hat = net(xt, mu, torch.full((x0.shape[0],), t, dtype=torch.long, device=mu.device))
        noise_error = float((eps_hat - noise).abs().mean())
        to_image = float(sde.coefficients.sigma_bars[t] * sde.coefficients.inv_decay_bar[t])
        rows.append(dict(t=t, metric="noise_error", value=noise_error))
        rows.append(dict(t=t, metric="x0_error", value=to_image * noise_error))
    return rows
