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
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.bayesian import BayesXPModel, HeadsConfig
from bayesxp.model.folder import read_model_folder, spec_from_config
from bayesxp.model.foundation import FoundationModel, ModelSpec
from bayesxp.model.heads import HeadConfig
from bayesxp.model.tokenizer import Tokenizer
from bayesxp.model.train import RunConfig, TrainConfig, train_run

# two threads on two contended cores is ~10x slower than one for these tiny tensors
torch.set_num_threads(1)

TINY_BACKBONE = BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1)
TINY_TRAIN = TrainConfig(batch_size=16, max_steps=10, eval_every=5, warmup_steps=2, eval_stars=None)
TINY_HEAD = HeadConfig(n_features=4, svi_steps=50, num_samples=20)
TINY_HEADS = HeadsConfig(mass_age=TINY_HEAD, labels=TINY_HEAD, max_train_stars=200)


def tiny_training_set(n: int = 96, n_val: int = 32, seed: int = 3) -> TrainingSet:
    """A fresh synthetic set: the last ``n_val`` rows are the validation split."""
    ts = TrainingSet.synthetic(n, seed=seed)
    ts.split[n - n_val :] = "val"
    return ts


def load_foundation(folder: str | Path) -> FoundationModel:
    """The foundation model of a ``train_run`` model folder."""
    state, config, tokenizer_state, _ = read_model_folder(folder)
    foundation = FoundationModel(Tokenizer.from_dict(tokenizer_state),
                                 spec_from_config(config["model"], ModelSpec).backbone)
    foundation.load_state_dict(state)
    return foundation.eval()


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
    ts = tiny_training_set()
    np.random.seed(0)
    config = RunConfig(model=ModelSpec(backbone=TINY_BACKBONE), train=TINY_TRAIN, output=str(root / "run"))
    train_run(config, progress=False, training_set=ts)
    foundation = load_foundation(root / "run" / "model")
    fitted = BayesXPModel.fit_heads(foundation, ts, TINY_HEADS)
    folder = fitted.save(root / "model")
    return TinyModel(fitted=fitted, folder=folder, training_set=ts)


@pytest.fixture(scope="session")
def tiny_model(tiny: TinyModel) -> BayesXPModel:
    """The tiny model as read back from its folder."""
    return BayesXPModel.load(tiny.folder)
