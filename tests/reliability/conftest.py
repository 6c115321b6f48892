"""Fixtures of the reliability tests: a tiny model per session, clean XP files, private folders.

The tiny model (backbone ``d_model=16``, one encoder and one decoder block, 10 training steps; heads with 4
features and 50 SVI steps) is trained on :meth:`bayesxp.data.dataset.TrainingSet.synthetic` stars; it predicts
nothing useful and exercises every code path from a file to the output table in seconds. Bad input files
are always derived from the real ones of ``xp_misc`` inside ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import (
    TINY_BACKBONE,
    TINY_HEADS,
    TINY_TRAIN,
    packed_lines,
    tiny_training_set,
    write_lines,
)

from bayesxp.model.bayesian import BayesXPModel
from bayesxp.model.folder import read_model_folder, spec_from_config
from bayesxp.model.foundation import FoundationModel, ModelSpec
from bayesxp.model.tokenizer import Tokenizer
from bayesxp.model.train import RunConfig, train_run


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory, shared_data) -> Path:  # the coefficient prior reads shared data
    """Train the tiny foundation model (``train_run``), fit its heads (SVI) and save the full model folder."""
    root = tmp_path_factory.mktemp("reliability_model")
    ts = tiny_training_set()
    config = RunConfig(model=ModelSpec(backbone=TINY_BACKBONE), train=TINY_TRAIN, output=str(root / "run"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train_run(config, progress=False, training_set=ts)
    state, model_config, tokenizer_state, _ = read_model_folder(root / "run" / "model")
    foundation = FoundationModel(Tokenizer.from_dict(tokenizer_state),
                                 spec_from_config(model_config["model"], ModelSpec).backbone)
    foundation.load_state_dict(state)
    model = BayesXPModel.fit_heads(foundation.eval(), ts, TINY_HEADS)
    return model.save(root / "model")


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


