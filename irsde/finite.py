"""Refusing NaN and inf: in weight files, network outputs and stored float images.

A NaN that reaches a PNG becomes black pixels that score like a (bad) restoration; these checks
stop the value where it appears, naming the file, tensor or image, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

MAX_LISTED = 5


class NonFiniteError(ValueError):
    """A tensor or array holds NaN or inf; the message names where it came from."""


def non_finite_tensors(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of ``state_dict`` holding NaN or inf."""
    return [
        name
        for name, tensor in state_dict.items()
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def _listed(names: Sequence[str]) -> str:
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def check_finite_weights(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`NonFiniteError` naming ``source`` and the tensors holding NaN/inf."""
    broken = non_finite_tensors(state_dict)
    if broken:
        raise NonFiniteError(
            f"weights {source} hold NaN/inf in {len(broken)} tensor(s) ({_listed(broken)}): the training "
            f"diverged or the file is damaged; use an earlier checkpoint"
        )


def check_finite_images(batch: torch.Tensor | np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise :class:`NonFiniteError` naming every image of ``batch`` (one per name, first axis)
    holding NaN/inf; ``what`` says where the values come from."""
    values = torch.as_tensor(batch)
    finite = torch.isfinite(values.reshape(values.shape[0], -1)).all(dim=1)
    broken = [name for name, ok in zip(names, finite.tolist()) if not ok]
    if broken:
        raise NonFiniteError(f"{what} holds NaN/inf for {len(broken)} image(s): {_listed(broken)}")
