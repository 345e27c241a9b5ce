"""LPIPS through the real ``lpips`` package: AlexNet trunk, linear layers v0.1 (docs/protocols.md#lpips).

Both images are float RGB on the [0,1] scale (the restored one may be the unclamped network
output) and are mapped to [-1,1] as ``2 x - 1`` before the network; no crop.
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import torch

from irsde.devices import resolve_device
from irsde.images import to_tensor
from irsde.metrics.weights import ALEXNET_WEIGHTS, ensure_weight_file, lpips_linear_weights

logger = logging.getLogger(__name__)

LPIPS_NET = "alex"
LPIPS_VERSION = "0.1"
# Smallest side AlexNet's feature stack accepts: conv1 (11x11, stride 4, pad 2) then two 3x3
# stride-2 max-pools, each needing >= 3 pixels: floor((s - 7) / 4) + 1 >= 7  <=>  s >= 31.
LPIPS_MIN_SIZE = 31


class LPIPSMetric:
    """LPIPS distance with pretrained weights only.

    The torchvision AlexNet file is located (downloaded when missing and ``download``) before
    the network is built; when it cannot be had, :class:`PerceptualWeightsMissing` is raised, so
    LPIPS is never computed with random weights.
    """

    def __init__(self, device: str | torch.device | None = None, download: bool = True):
        ensure_weight_file(ALEXNET_WEIGHTS, download=download)
        linear_path = lpips_linear_weights(LPIPS_VERSION, LPIPS_NET)
        import lpips  # after irsde (imported by this package) made torchvision importable

        with warnings.catch_warnings():
            # torchvision's deprecation notice for lpips' `pretrained=True` call; the ImageNet
            # weights are what is loaded.
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
            model = lpips.LPIPS(net=LPIPS_NET, version=LPIPS_VERSION, pretrained=True, pnet_rand=False, verbose=False)
        _check_linear_layers_loaded(model, linear_path)
        self.device = torch.device(device) if device is not None else resolve_device("auto")
        self.model = model.eval().requires_grad_(False).to(self.device)

    @torch.no_grad()
    def batch(self, restored: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
        """LPIPS of each pair in two Bx3xHxW float batches on the [0,1] scale -> (B,) float64."""
        if restored.shape != gt.shape or restored.ndim != 4:
            raise ValueError(f"LPIPS needs two Bx3xHxW batches of one shape, got {tuple(restored.shape)} and {tuple(gt.shape)}")
        if min(restored.shape[-2:]) < LPIPS_MIN_SIZE:
            raise ValueError(f"LPIPS (AlexNet) needs images of at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE}, got {tuple(restored.shape[-2:])}")
        first = restored.to(self.device, torch.float32) * 2.0 - 1.0
        second = gt.to(self.device, torch.float32) * 2.0 - 1.0
        return self.model(first, second).reshape(-1).double().cpu().numpy()

    def __call__(self, restored: np.ndarray, gt: np.ndarray) -> float:
        """LPIPS of one pair of HxWx3 images (uint8, or float on the [0,1] scale)."""
        if restored.shape != gt.shape:
            raise ValueError(f"image pair mismatch: restored {restored.shape} vs gt {gt.shape}")
        return float(self.batch(to_tensor(restored)[None], to_tensor(gt)[None])[0])


def _check_linear_layers_loaded(model: torch.nn.Module, linear_path) -> None:
    """lpips loads its linear layers with strict=False; make sure every one came from the file."""
    stored = torch.load(linear_path, map_location="cpu", weights_only=True)
    current = model.state_dict()
    layers = {name for name in current if re.match(r"lin\d+\.", name)}
    if not layers or layers != set(stored):
        raise RuntimeError(f"LPIPS linear layers {sorted(layers)} do not match the file {linear_path} ({sorted(stored)})")
    for name in layers:
        if not torch.equal(stored[name], current[name].cpu()):
            raise RuntimeError(f"LPIPS linear layer {name} was not loaded from {linear_path}")
