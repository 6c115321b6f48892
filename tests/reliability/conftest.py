"""Fixtures of the reliability tests: a tiny model per session, clean XP files, private folders.

The tiny model (:mod:`bayesxp.testing.tiny`: backbone ``d_model=16``, one encoder and one decoder block, 10
training steps; heads with 4 features and 50 SVI steps) is trained on synthetic stars; it predicts nothing
useful and exercises every code path from a file to the output table in seconds. Bad input files
are always derived from the real ones of ``xp_misc`` inside ``tmp_path``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import packed_lines, write_lines

from bayesxp.model.bayesian import BayesXPModel
from bayesxp.testing.tiny import train_tiny_model


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory, shared_data) -> Path:  # the coefficient prior reads shared data
    """Train the tiny foundation model (``train_run``), fit its heads (SVI) and save the full model folder."""
    return train_tiny_model(tmp_path_factory.mktemp("reliability_model"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_folder: Path) -> BayesXPModel:
    """The tiny model as read back from its folder."""
    return BayesXPModel.load(tiny_model_folder)


@pytest.fixture
def model_copy(tiny_model_folder: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder, free to damage."""
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_folder, folder)
    return folder


@pytest.fixture
def packed_csv(xp_misc: Path, tmp_path: Path) -> Path:
    """A clean archive XP continuous CSV of six stars."""
    return write_lines(tmp_path / "stars.csv", *packed_lines(xp_misc))


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A world-readable folder outside pytest's private ``tmp_path`` (which another user cannot enter)."""
    folder = Path(tempfile.mkdtemp(prefix="bayesxp_reliability_"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


