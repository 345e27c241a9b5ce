"""Grouping image files into batches of equal size (networks batch only same-size tensors)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from irsde.images import image_size


def same_size_batches(paths: Sequence[str | os.PathLike], batch_size: int) -> Iterator[list[Path]]:
    """Batches of at most ``batch_size`` paths whose images share one size.

    Sizes are visited in order of first appearance and paths keep their order within a size, so
    the batching is deterministic for a given (sorted) list.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    groups: dict[tuple[int, int], list[Path]] = {}
    for path in paths:
        groups.setdefault(image_size(path), []).append(Path(path))
    for group in groups.values():
        for start in range(0, len(group), batch_size):
            yield group[start : start + batch_size]
