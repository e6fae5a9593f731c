"""Shared fixtures: a seeded RNG and the location of the real recordings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # for `synthetic`


def shared_data_dir() -> Path:
    """``$EDGE_VITALS_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    env = os.environ.get("EDGE_VITALS_SHARED_DATA")
    return Path(env) if env else TESTS.parent.parent / "shared" / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real recordings not found at {path} (set EDGE_VITALS_SHARED_DATA)")
    return path
