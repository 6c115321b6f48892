"""Shared fixtures: seeds, the real-data folders, and a clean Pyro parameter store per test."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    for candidate in (os.environ.get("BAYESXP_DATA_DIR"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "seismic").is_dir():
            return Path(candidate)
    return None


SHARED_DATA = _shared_data()


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same seeds; Pyro's parameter store is cleared."""
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover
        pass
    try:
        import pyro

        pyro.clear_param_store()
        pyro.set_rng_seed(0)
    except ImportError:  # pragma: no cover
        pass
    yield


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(42)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data folder (``../shared/data``); tests that need it skip, saying why, where it is absent."""
    if SHARED_DATA is None:
        pytest.skip("real data folder ../shared/data (or BAYESXP_DATA_DIR) is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def xp_misc(shared_data: Path) -> Path:
    """Real Gaia archive XP files."""
    return shared_data / "xp_misc"


@pytest.fixture(scope="session")
def library():
    """The whole installed XP library (read once per session, about 5-10 s), or a skip that says how to
    install it. Tests must not modify it."""
    from bayesxp.errors import BayesXPError
    from bayesxp.io.library import read_library
    from bayesxp.paths import library_path

    try:
        path = library_path()
    except BayesXPError as exc:
        pytest.skip(str(exc))
    return read_library(path)
