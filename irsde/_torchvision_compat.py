"""Make ``import torchvision`` (and so ``lpips`` / ``pytorch_fid``) work next to a CPU-only torch.

On these machines the only torchvision 0.28.0 build is the CUDA one. Its compiled extension
``torchvision/_C.so`` cannot load next to the CPU torch, so torchvision never defines its custom
operators, and its ``_meta_registrations`` module then fails with
"operator torchvision::nms does not exist" while registering fake kernels for them.

The fix: before torchvision is imported, try to load its extension ourselves (exactly what
torchvision would do). If that works, nothing else happens. If it fails, declare the schemas of
the operators that torchvision registers fake kernels for, so its import completes. The
operators then have no real kernel: calling e.g. ``torchvision.ops.nms`` raises, which is fine
for this project (LPIPS and FID only need the model zoo, never the detection operators).
"""

from __future__ import annotations

import importlib.util
import os

import torch

# Schemas copied as facts from torchvision's C++ operator declarations (csrc/ops/*.cpp).
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_state = {"applied": None}


def _extension_path() -> str | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = list(spec.submodule_search_locations)[0]
    for name in os.listdir(folder):
        if name.startswith("_C") and name.endswith((".so", ".pyd")):
            return os.path.join(folder, name)
    return None


def _operator_defined(name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def apply() -> bool:
    """Idempotently apply the fix. Returns True when schemas had to be declared."""
    if _state["applied"] is not None:
        return _state["applied"]
    path = _extension_path()
    if path is None or _operator_defined("nms"):
        _state["applied"] = False
        return False
    try:
        torch.ops.load_library(path)
        _state["applied"] = False
    except (OSError, ImportError, RuntimeError):
        library = torch.library.Library("torchvision", "FRAGMENT")
        for schema in _SCHEMAS:
            library.define(schema)
        _state["library"] = library  # keep the registration alive for the process lifetime
        _state["applied"] = True
    return _state["applied"]
