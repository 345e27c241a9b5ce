"""Shared by the sampling tests: an oracle network (the exact noise of a known clean image) and
the fixtures ``sde`` (the paper's SDE, T 100) and ``pair`` (a clean image and its degraded mean)."""

import pytest
import torch
from torch import nn

from irsde.sde import MeanRevertingSDE

SHAPE = (2, 3, 16, 16)


class OracleNet(nn.Module):
    """Returns the true noise of x_t for a known x0: (x_t - m_t(x0)) / sigmabar_t. Records the
    steps it is called with and whether gradients were enabled."""

    def __init__(self, sde, x0):
        super().__init__()
        self.sde, self.x0 = sde, x0
        self.weight = nn.Parameter(torch.ones(()))
        self.steps, self.grad_enabled = [], []

    def forward(self, xt, mu, t):
        self.steps.append(t.clone())
        self.grad_enabled.append(torch.is_grad_enabled())
        sde = self.sde.to(dtype=xt.dtype)
        return self.weight * (xt - sde.marginal_mean(self.x0, mu, t)) / sde.marginal_std(t)


@pytest.fixture
def sde():
    return MeanRevertingSDE(T=100, max_sigma=10)


@pytest.fixture
def pair():
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(SHAPE, generator=generator)
    mu = x0 + 0.2 * torch.randn(SHAPE, generator=generator)
    return x0, mu
