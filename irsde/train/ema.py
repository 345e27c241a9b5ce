"""Exponential moving average of the network weights (the paper uses decay 0.995).

Built on ``torch.optim.swa_utils.AveragedModel``: ``ema = decay * ema + (1 - decay) * weights``
after every optimiser step, starting from a copy of the initial weights. Buffers are averaged too
(the U-Net has none). The averaged weights are exported as a plain state_dict with the network's
own key names, so an EMA file loads wherever a network file does.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def build_ema(net: nn.Module, decay: float) -> AveragedModel:
    """A copy of ``net`` that tracks the EMA of its weights; call ``ema.update_parameters(net)``."""
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    ema.update_parameters(net)  # the first update copies the weights: W_0^EMA = W_0
    ema.requires_grad_(False)
    return ema


def ema_state_dict(ema: AveragedModel) -> dict[str, torch.Tensor]:
    """The averaged weights as a plain network state_dict (no ``module.`` prefix, no counter)."""
    return ema.module.state_dict()
