import os
from pathlib import Path

import pytest

# Keep tests on one thread each: CI has 2 cores and torch otherwise oversubscribes them.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "tests" / "data" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The read-only reference data about the paper, committed in tests/data/reference (its
    README names the source)."""
    if not REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {REFERENCE}: the checkout is incomplete")
    return REFERENCE
