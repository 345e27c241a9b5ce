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

``import irsde`` only calls :func:`install`, which imports nothing heavy: it puts a finder in
front of ``sys.meta_path`` that runs :func:`apply` (and so imports torch) the first time
anything imports torchvision, then steps aside. ``import irsde`` and ``irsde --help`` therefore
never import torch, and ``import irsde, lpips`` still works.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

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
    import torch

    try:
        getattr(torch.ops.torchvision, name)
        return True
    except (AttributeError, RuntimeError):
        return False


def apply() -> bool:
    """Idempotently apply the fix. Returns True when schemas had to be declared."""
    if _state["applied"] is not None:
        return _state["applied"]
    import torch

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


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs :func:`apply` just before the first import of torchvision, then stays inert (it is
    not removed from ``sys.meta_path``: that list is being iterated while it runs)."""

    armed = True

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" and self.armed:
            self.armed = False
            apply()
        return None  # the regular finders import the module


_FINDER = _BeforeTorchvision()


def install() -> None:
    """Arrange for :func:`apply` to run before torchvision is first imported (at once if it is
    imported already). Imports neither torch nor torchvision."""
    if "torchvision" in sys.modules:
        apply()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
