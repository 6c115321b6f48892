"""A tiny bayesxp model for tests and the reliability catalogue: it predicts nothing useful and exercises
every code path from a file to the output table in seconds.

The backbone has ``d_model=16``, one encoder and one decoder block and trains for 10 steps; the heads have 4
features and 50 SVI steps; both learn from 96 :meth:`~bayesxp.data.dataset.TrainingSet.synthetic` stars.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from bayesxp.data.dataset import TrainingSet
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.fit_heads import fit_heads
from bayesxp.model.folder import load_foundation
from bayesxp.model.foundation import ModelSpec
from bayesxp.model.heads import BayesianHeadConfig, HeadFittingConfig
from bayesxp.model.train import RunConfig, TrainConfig, train_run

__all__ = ["TINY_BACKBONE", "TINY_TRAIN", "TINY_HEAD", "TINY_HEADS", "tiny_training_set", "train_tiny_model"]

TINY_BACKBONE = BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1)
TINY_TRAIN = TrainConfig(batch_size=16, max_steps=10, eval_every=5, warmup_steps=2, eval_stars=None)
TINY_HEAD = BayesianHeadConfig(n_features=4, svi_steps=50, num_samples=20)
TINY_HEADS = HeadFittingConfig(mass_age=TINY_HEAD, labels=TINY_HEAD, max_train_stars=200)


def tiny_training_set() -> TrainingSet:
    """96 synthetic stars (seed 3), the last 32 the validation split.

    Example:
        >>> stars = tiny_training_set()
        >>> len(stars), int((stars.split == "val").sum())
        (96, 32)
    """
    stars = TrainingSet.synthetic(96, seed=3)
    stars.split[64:] = "val"
    return stars


def train_tiny_model(folder: str | Path) -> Path:
    """Train the tiny foundation model (``train_run``), fit its heads (SVI) and save the full model folder.

    Args:
        folder: Where the training run (``run/``) and the model (``model/``) are written.

    Returns:
        The model folder, ``folder / "model"``.

    Example:
        >>> import tempfile
        >>> train_tiny_model(tempfile.mkdtemp()).name  # doctest: +SKIP
        'model'
    """
    folder = Path(folder)
    stars = tiny_training_set()
    config = RunConfig(model=ModelSpec(backbone=TINY_BACKBONE), train=TINY_TRAIN, output=str(folder / "run"))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        train_run(config, progress=False, training_set=stars)
    model = fit_heads(load_foundation(folder / "run" / "model"), stars, TINY_HEADS)
    return model.save(folder / "model")
