"""Helpers of the reliability tests (imported by their conftest and tests): clean XP files derived from the
real ones. The tiny model and the fault injection come from :mod:`bayesxp.testing` directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bayesxp.testing.reliability.outcomes import N_STARS  # noqa: F401 - row 1 is the one the per-star cases break

# two threads on two contended cores is much slower than one for these tiny tensors
torch.set_num_threads(1)

RAW = "XP_CONTINUOUS_RAW.csv"


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



def finite_rows(table: object, columns: list[str]) -> np.ndarray:
    """``(N,)`` bool: rows whose given numeric columns are all finite."""
    return np.all([np.isfinite(np.asarray(table[c], dtype=float)) for c in columns], axis=0)
