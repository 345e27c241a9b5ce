import os
from pathlib import Path

import pytest

# Keep tests on one thread each: CI has 2 cores and torch otherwise oversubscribes them.
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The read-only reference data about the paper (../shared/reference next to the repo)."""
    if not SHARED_REFERENCE.is_dir():
        pytest.fail(f"reference data not found at {SHARED_REFERENCE}: clone next to shared/")
    return SHARED_REFERENCE
