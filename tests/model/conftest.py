"""Fixtures of the model-side tests: one torch thread, and a tiny trained bayesxp model built once per session.

The tiny model (production token design: MAP pseudo-coefficients; backbone ``d_model=16``, one encoder and
one decoder block, 10 training steps; heads with 4 features and 50 SVI steps) is trained on
:meth:`bayesxp.data.dataset.TrainingSet.synthetic` stars. It predicts nothing useful; it exercises every code path
from a flux array to the output table in seconds. Building it needs the real data folder (the coefficient
prior is built from real DR3 coefficient vectors); once saved, the model folder carries that prior.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from bayesxp.data.dataset import TrainingSet
from bayesxp.data.demo import demo_path
from bayesxp.io.library import read_sampled_table
from bayesxp.model.bayesian import BayesXPModel
from bayesxp.model.fit_heads import fit_heads
from bayesxp.model.folder import default_model_path, load_foundation
from bayesxp.model.foundation import ModelSpec
from bayesxp.model.train import RunConfig, train_run
from bayesxp.testing.tiny import TINY_BACKBONE, TINY_HEADS, TINY_TRAIN, tiny_training_set

# two threads on two contended cores is ~10x slower than one for these tiny tensors
torch.set_num_threads(1)


@dataclass(frozen=True)
class TinyModel:
    """The session's tiny model: as fitted in memory, and the folder it was saved to."""

    fitted: BayesXPModel
    folder: Path
    training_set: TrainingSet


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, shared_data) -> TinyModel:
    """Train the tiny foundation model (``train_run``), fit its heads (SVI) and save the full model folder."""
    root = tmp_path_factory.mktemp("tiny_model")
    training_set = tiny_training_set()
    np.random.seed(0)
    config = RunConfig(model=ModelSpec(backbone=TINY_BACKBONE), train=TINY_TRAIN, output=str(root / "run"))
    train_run(config, progress=False, training_set=training_set)
    foundation = load_foundation(root / "run" / "model")
    fitted = fit_heads(foundation, training_set, TINY_HEADS)
    folder = fitted.save(root / "model")
    return TinyModel(fitted=fitted, folder=folder, training_set=training_set)


@pytest.fixture(scope="session")
def tiny_model(tiny: TinyModel) -> BayesXPModel:
    """The tiny model as read back from its folder."""
    return BayesXPModel.load(tiny.folder)


@pytest.fixture(scope="session")
def foundation():
    """The shipped model's foundation (generation, inpainting, emcee tests)."""
    return load_foundation(default_model_path())


@pytest.fixture(scope="session")
def demo():
    """The 240 bundled demo giants as sampled spectra."""
    return read_sampled_table(demo_path())
