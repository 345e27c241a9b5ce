"""Capture and restore every random number generator a training run touches.

The engine draws all of its own randomness from explicit ``torch.Generator`` objects (passed in
by name), and data order and crops are pure functions of (seed, iteration); the global generators
(torch CPU, every CUDA device, numpy, python ``random``) are captured too, so that any library
code that falls back on them also resumes exactly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np
import torch


def capture_rng_state(generators: Mapping[str, torch.Generator] | None = None) -> dict:
    """Every RNG state as a dict of plain python / tensor values (``torch.save``-able)."""
    state = {
        "torch_cpu": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": _numpy_state(),
        "python": random.getstate(),
        "generators": {name: gen.get_state() for name, gen in (generators or {}).items()},
    }
    return state


def restore_rng_state(state: Mapping, generators: Mapping[str, torch.Generator] | None = None) -> None:
    """Put back the states of :func:`capture_rng_state` (named generators must match by name)."""
    torch.set_rng_state(state["torch_cpu"])
    cuda_states = state.get("torch_cuda") or []
    if cuda_states and torch.cuda.is_available():
        if len(cuda_states) != torch.cuda.device_count():
            raise RuntimeError(
                f"checkpoint holds RNG states of {len(cuda_states)} CUDA devices, "
                f"this machine has {torch.cuda.device_count()}"
            )
        torch.cuda.set_rng_state_all(cuda_states)
    _set_numpy_state(state["numpy"])
    random.setstate(_as_python_state(state["python"]))
    saved = state.get("generators", {})
    for name, generator in (generators or {}).items():
        if name not in saved:
            raise KeyError(f"checkpoint holds no state for the random generator '{name}'")
        generator.set_state(saved[name])


def _numpy_state() -> dict:
    """numpy's legacy MT19937 state with the key array as a tensor, so that the checkpoint loads
    with ``torch.load(weights_only=True)`` (which refuses numpy arrays)."""
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(position),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_state(state: Mapping) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state((state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"]))


def _as_python_state(value):
    """``random.setstate`` needs tuples; a state that went through serialisation may hold lists."""
    version, internal, gauss = value
    return version, tuple(internal), gauss
