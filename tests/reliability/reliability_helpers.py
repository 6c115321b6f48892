"""Helpers of the reliability tests (imported by their conftest and tests): tiny configs, clean XP files
derived from the real ones, and fault injection (another user, a full disk).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from bayesxp.bayesian_model import HeadsConfig
from bayesxp.dataset import TrainingSet
from bayesxp.heads import HeadConfig
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.train import TrainConfig

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


@contextlib.contextmanager
def other_user() -> Iterator[None]:
    """Act as user ``nobody`` when root (root ignores file modes), so a read-only folder is one for real."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def share(path: Path) -> Path:
    """Make a file or folder tree readable by any user."""
    for item in [path, *(path.rglob("*") if path.is_dir() else [])]:
        item.chmod(0o755 if item.is_dir() else 0o644)
    return path


@contextlib.contextmanager
def full_disk(folder: Path) -> Iterator[None]:
    """Every file or folder creation and every write under ``folder`` fails with ENOSPC (a full disk)."""
    folder_text = str(Path(folder).resolve())
    real_open, real_io_open, real_os_open, real_mkdir = builtins.open, io.open, os.open, os.mkdir

    def inside(path: object) -> bool:
        try:
            return str(Path(os.fsdecode(path)).resolve()).startswith(folder_text)
        except (TypeError, ValueError):
            return False

    def full(path: object) -> OSError:
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(path))

    def fake_open(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if isinstance(file, str | bytes | os.PathLike) and any(m in mode for m in "wax+") and inside(file):
            raise full(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_os_open(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
            raise full(path)
        return real_os_open(path, flags, *args, **kwargs)

    def fake_mkdir(path: object, *args: object, **kwargs: object) -> None:
        if inside(path):
            raise full(path)
        return real_mkdir(path, *args, **kwargs)

    builtins.open, io.open, os.open, os.mkdir = fake_open, fake_open, fake_os_open, fake_mkdir
    try:
        yield
    finally:
        builtins.open, io.open, os.open, os.mkdir = real_open, real_io_open, real_os_open, real_mkdir


def finite_rows(table: object, columns: list[str]) -> np.ndarray:
    """``(N,)`` bool: rows whose given numeric columns are all finite."""
    return np.all([np.isfinite(np.asarray(table[c], dtype=float)) for c in columns], axis=0)
