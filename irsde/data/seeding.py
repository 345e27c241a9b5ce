"""Seeded random generators derived from a seed and a tuple of keys.

Everything random in ``irsde.data`` (synthetic crops and degradations, the noise added to
GT-only datasets, the training crops) draws from a numpy ``Generator`` built here, so a sample is
a pure function of ``(seed, *keys)``: it does not depend on the order in which samples are made,
on how many there are, on worker processes, on the time or on Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib

import numpy as np

MAX_SEED = 2**63 - 1
"""Largest seed irsde takes (configs and options): torch's generators take no more than 64 bits."""


def _key_to_int(key: int | str) -> int:
    if isinstance(key, (bool, np.bool_)):
        raise TypeError("seed keys must be int or str, not bool")
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError(f"seed keys must be non-negative, got {key}")
        return int(key)
    if isinstance(key, str):
        return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    raise TypeError(f"seed keys must be int or str, got {type(key).__name__}")


def derive_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A PCG64 generator determined by ``seed`` and ``keys`` (ints >= 0 or strings) only."""
    entropy = [_key_to_int(seed), *(_key_to_int(key) for key in keys)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
