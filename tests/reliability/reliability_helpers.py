"""Helpers of the reliability tests (imported by their conftest and tests): tiny configs, clean XP files
derived from the real ones, and fault injection (another user, a full disk).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bayesxp.data.dataset import TrainingSet
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.bayesian import HeadsConfig
from bayesxp.model.heads import HeadConfig
from bayesxp.model.train import TrainConfig
from bayesxp.testing import full_disk, share, unprivileged  # noqa: F401 - re-exported to the tests

# two threads on two contended cores is much slower than one for these tiny tensors
torch.set_num_threads(1)

TINY_BACKBONE = BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1)
TINY_TRAIN = TrainConfig(batch_size=16, max_steps=10, eval_every=5, warmup_steps=2, eval_stars=None)
TINY_HEAD = HeadConfig(n_features=4, svi_steps=50, num_samples=20)
TINY_HEADS = HeadsConfig(mass_age=TINY_HEAD, labels=TINY_HEAD, max_train_stars=200)
N_STARS = 6  # stars of the clean continuous file; row 1 is the one broken by the per-star cases
RAW = "XP_CONTINUOUS_RAW.csv"


def tiny_training_set() -> TrainingSet:
    """96 synthetic stars, the last 32 the validation split."""
    ts = TrainingSet.synthetic(96, seed=3)
    ts.split[64:] = "val"
    return ts


def packed_lines(xp_misc: Path, n: int = N_STARS) -> tuple[str, list[str]]:
    """Header and ``n`` data lines of the archive's CSV (the real stars repeated, each with its own id)."""
    header, *rows = (xp_misc / RAW).read_text().splitlines()
    lines = []
    for k in range(n):
        source_id, rest = rows[k % len(rows)].split(",", 1)
        lines.append(f"{int(source_id) + k},{rest}")
    return header, lines


def write_lines(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


other_user = unprivileged  # the names the tests use


def finite_rows(table: object, columns: list[str]) -> np.ndarray:
    """``(N,)`` bool: rows whose given numeric columns are all finite."""
    return np.all([np.isfinite(np.asarray(table[c], dtype=float)) for c in columns], axis=0)
