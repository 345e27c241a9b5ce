"""FFDNet (Zhang, Zuo, Zhang: FFDNet: Toward a Fast and Flexible Solution for CNN-Based Image
Denoising, IEEE TIP 2018), laid out as the KAIR toolbox stores it with batch normalisation
folded, so that the released colour model (``ffdnet_color.pth``) loads with ``strict=True``.

Written from the paper's description: the noisy image is reversibly downsampled into its four
2x2 sub-images (pixel unshuffle: 12 channels for colour), a noise-level map (the noise standard
deviation on the [0,1] scale, one channel, constant for AWGN) is appended (13 channels), a plain
CNN of ``depth`` 3x3 convs (12 with 96 features for colour; ReLU after all but the last)
estimates the clean sub-images (not the noise), and pixel shuffle puts them back together.
Images with an odd side are replicate-padded by one pixel at the bottom/right and cropped back.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from irsde.nets.dncnn import conv_relu_stack, conv_stack_layout

SCALE = 2


class FFDNet(nn.Module):
    """FFDNet for ``channels``-channel images (3: colour) with ``features`` x ``depth`` convs."""

    def __init__(self, channels: int = 3, features: int = 96, depth: int = 12):
        super().__init__()
        self.channels = channels
        subimages = channels * SCALE * SCALE
        self.model = conv_relu_stack(subimages + 1, features, subimages, depth)

    def forward(self, noisy: Tensor, sigma: Tensor | float) -> Tensor:
        """The denoised image (not clamped). ``sigma``: noise std on the [0,1] scale, one number
        or one per image."""
        height, width = noisy.shape[-2:]
        padded = F.pad(noisy, (0, width % SCALE, 0, height % SCALE), mode="replicate")
        subimages = F.pixel_unshuffle(padded, SCALE)
        level = torch.as_tensor(sigma, dtype=noisy.dtype, device=noisy.device).reshape(-1, 1, 1, 1)
        noise_map = level.expand(subimages.shape[0], 1, *subimages.shape[-2:])
        clean = F.pixel_shuffle(self.model(torch.cat((subimages, noise_map), dim=1)), SCALE)
        return clean[..., :height, :width]


def ffdnet_layout(state_dict: Mapping[str, Tensor]) -> dict:
    """The :class:`FFDNet` arguments that fit a state dict."""
    layout = conv_stack_layout(state_dict, "FFDNet")
    channels, remainder = divmod(layout["out_channels"], SCALE * SCALE)
    if remainder or layout["in_channels"] != layout["out_channels"] + 1:
        raise KeyError(f"not an FFDNet state dict: {layout['in_channels']} input and "
                       f"{layout['out_channels']} output channels (expected 4C + 1 and 4C)")
    return {"channels": channels, "features": layout["features"], "depth": layout["depth"]}
