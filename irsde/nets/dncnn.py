"""DnCNN (Zhang, Zuo, Chen, Meng, Zhang: Beyond a Gaussian Denoiser: Residual Learning of Deep
CNN for Image Denoising, IEEE TIP 2017), laid out as the KAIR toolbox stores it with its batch
normalisations folded into the convolutions, so that the released colour blind model
(``dncnn_color_blind.pth``) loads with ``strict=True``.

Written from the paper's description: ``depth`` 3x3 convolutions (20 for the colour blind
model "CDnCNN-B"), 64 features, ReLU after all but the last; the network predicts the noise
(residual learning) and the denoised image is ``noisy - net(noisy)``. Stored as one
``nn.Sequential`` named ``model`` whose even entries are the convolutions (``model.0`` ...
``model.<2 (depth - 1)>``) and odd entries the ReLUs.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


def conv_relu_stack(in_channels: int, features: int, out_channels: int, depth: int) -> nn.Sequential:
    """``depth`` 3x3 convs with biases (ReLU after all but the last), as one ``nn.Sequential``:
    the layout of the KAIR toolbox's plain CNNs (DnCNN, FFDNet) with batch norm folded."""
    if depth < 2:
        raise ValueError(f"a conv stack needs at least 2 convolutions, got {depth}")
    widths = [in_channels, *([features] * (depth - 1)), out_channels]
    layers: list[nn.Module] = []
    for index, (width_in, width_out) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Conv2d(width_in, width_out, 3, padding=1))
        if index < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def conv_stack_layout(state_dict: Mapping[str, Tensor], model: str) -> dict:
    """``in_channels``, ``features``, ``out_channels`` and ``depth`` of a conv stack stored
    under ``model.<2k>``; KeyError naming what is missing when it is not one."""
    indices = sorted(int(name.split(".")[1]) for name in state_dict
                     if name.startswith("model.") and name.endswith(".weight"))
    if not indices or indices != list(range(0, 2 * len(indices), 2)):
        raise KeyError(f"not a {model} state dict: expected convolutions model.0, model.2, ... "
                       f"(found {len(indices)} weight tensors under 'model.')")
    first, last = state_dict["model.0.weight"], state_dict[f"model.{indices[-1]}.weight"]
    return {"in_channels": int(first.shape[1]), "features": int(first.shape[0]),
            "out_channels": int(last.shape[0]), "depth": len(indices)}


class DnCNN(nn.Module):
    """DnCNN for ``channels``-channel images: ``depth`` convs of ``features`` features."""

    def __init__(self, channels: int = 3, features: int = 64, depth: int = 20):
        super().__init__()
        self.model = conv_relu_stack(channels, features, channels, depth)

    def forward(self, noisy: Tensor) -> Tensor:
        """The denoised image (not clamped): the noisy image minus the predicted noise."""
        return noisy - self.model(noisy)


def dncnn_layout(state_dict: Mapping[str, Tensor]) -> dict:
    """The :class:`DnCNN` arguments that fit a state dict."""
    layout = conv_stack_layout(state_dict, "DnCNN")
    if layout["in_channels"] != layout["out_channels"]:
        raise KeyError(f"not a DnCNN state dict: {layout['in_channels']} input but {layout['out_channels']} output channels")
    return {"channels": layout["in_channels"], "features": layout["features"], "depth": layout["depth"]}
