"""Argument types shared by the sub-commands (argparse reports a bad value with the option's name)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1 (``--limit -1`` or ``--tile 0`` are refused, not silently reinterpreted)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0 (``--tile-overlap -8`` is refused: tiles would leave gaps)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


MAX_SEED = 2**63 - 1  # irsde.data.seeding.MAX_SEED (not imported: the CLI starts without torch)


def seed(text: str) -> int:
    """A seed, 0..MAX_SEED (torch overflows above 64 bits; negative seeds are refused by numpy)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, got {text!r}")
    return value
