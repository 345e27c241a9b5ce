"""Choosing the torch device: ``auto``, ``cpu`` or ``cuda``, with one-line errors.

Training (``device`` config key), ``irsde restore --device`` and ``irsde evaluate --device`` all
resolve their choice here, so a request for a GPU that torch cannot see fails before any work
with the same message instead of a traceback from deep inside torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str | None, local_rank: int = 0) -> torch.device:
    """``auto`` (or None) -> CUDA when available, else CPU; ``cuda`` without a GPU is an error.
    ``local_rank`` picks the GPU of a torchrun process."""
    import torch  # here, so that DEVICE_CHOICES can be read without importing torch

    choice = "auto" if choice is None else choice
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device {choice!r} is not one of {', '.join(DEVICE_CHOICES)}")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise RuntimeError(
                f"device 'cuda' was requested but torch {torch.__version__} ({build}) sees no CUDA device; "
                f"use device 'cpu' (or 'auto')"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")
