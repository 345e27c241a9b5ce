"""Shared by every test: one thread per test process, the fixtures of tests/support (a loopback
HTTP server, generated metric weights in a TORCH_HOME, the SDE and image pair of the sampling tests) and the reference data about the paper."""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.data", "tests.support.metrics", "tests.support.sampling"]  # their fixtures, for every test

# Keep tests on one thread each: CI has 2 cores and torch otherwise oversubscribes them.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The read-only reference data about the paper, committed in tests/reference (its
    README names the source)."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE}: the checkout is incomplete")
    return REFERENCE
