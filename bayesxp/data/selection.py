"""Which library stars enter the training set, and which split each one belongs to.

- Giant cuts on the APOGEE labels (default logg < 3.5 and Teff < 5500 K).
- Quality cuts on the XP spectrum: fraction of finite samples, and median flux/flux_error (S/N). The
  library's ``snr`` column equals that XP S/N to float precision (measured on all 40,226 rows; it
  correlates with G at Spearman -0.69 and with H at only -0.23), so it is not APOGEE's S/N.
- Repeated observations of one star (the library has 375 repeated APOGEE ids) are reduced to the row
  with the highest S/N.
- A deterministic split from a hash of the Gaia source id: ``sha256(str(source_id)) % 10`` is 0 for test,
  1 for validation, else train, so a star never changes split when data are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayesxp.quantities import split_of
from bayesxp.spectra import SampledSpectra

__all__ = [
    "SelectionConfig",
    "reserved_mask",
    "xp_snr",
    "deduplicate",
    "select",
    "SelectionResult",
]

@dataclass(frozen=True)
class SelectionConfig:
    """Cuts that define the training stars.

    Attributes:
        logg_max: Giants have APOGEE logg below this [dex].
        teff_max: ... and Teff below this [K].
        teff_min: Lower Teff limit [K] (the library reaches 3,100 K; ASPCAP is poor below ~3,500 K).
        min_finite_fraction: Fraction of the 343 flux samples that must be finite with positive errors.
        min_xp_snr: Minimum median flux/flux_error over the grid.
        require_labels: Labels that must be finite (e.g. ``("teff", "logg", "fe_h")``).
        giants_only: Apply the giant cuts (False keeps dwarfs too, for the atmospheric-label model).
        test_bucket: Hash bucket (mod 10) of the test split.
        val_bucket: Hash bucket (mod 10) of the validation split.
    """

    logg_max: float = 3.5
    teff_max: float = 5500.0
    teff_min: float = 3500.0
    min_finite_fraction: float = 0.99
    min_xp_snr: float = 20.0
    require_labels: tuple[str, ...] = ("teff", "logg", "fe_h")
    giants_only: bool = True
    test_bucket: int = 0
    val_bucket: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_finite_fraction <= 1.0:
            raise ValueError(f"min_finite_fraction must lie in [0, 1], got {self.min_finite_fraction}")
        if self.test_bucket == self.val_bucket or not (0 <= self.test_bucket < 10 and 0 <= self.val_bucket < 10):
            raise ValueError("test_bucket and val_bucket must be different digits 0-9")


def xp_snr(spectra: SampledSpectra) -> np.ndarray:
    """Median over the grid of flux / flux_error, per star.

    Args:
        spectra: The spectra.

    Returns:
        ``(N,)`` S/N (NaN for a star without finite samples).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = spectra.flux / spectra.flux_error
    out = np.full(len(spectra), np.nan)
    finite_rows = np.isfinite(ratio).any(axis=1)
    out[finite_rows] = np.nanmedian(ratio[finite_rows], axis=1)
    return out


def reserved_mask(source_id: np.ndarray, apogee_id: np.ndarray, reserved: pd.DataFrame) -> np.ndarray:
    """``(N,)`` True for the rows of stars reserved for judging, matched by Gaia source_id *or* APOGEE_ID.

    Matching on both catches the library's repeated stars (one APOGEE star on several rows, or one row whose
    source id differs from the listed one).

    Args:
        source_id: ``(N,)`` Gaia source ids of the rows (0 = unknown, never matched).
        apogee_id: ``(N,)`` APOGEE ids of the rows ("" = unknown, never matched).
        reserved: The reserved list (:func:`bayesxp.io.library.read_reserved_stars`).

    Returns:
        ``(N,)`` bool.

    Example:
        >>> reserved = pd.DataFrame({"source_id": [11, 0], "apogee_id": ["", "2M-B"]})
        >>> reserved_mask(np.array([11, 12, 13]), np.array(["2M-A", "2M-B", ""]), reserved).tolist()
        [True, True, False]
    """
    ids = np.asarray(reserved["source_id"], dtype=np.int64)
    names = pd.Series(reserved["apogee_id"], dtype=object).fillna("").astype(str).str.strip()
    by_id = np.isin(np.asarray(source_id, dtype=np.int64), ids[ids != 0])
    rows = pd.Series(apogee_id, dtype=object).fillna("").astype(str).str.strip()
    by_name = rows.isin(set(names[names != ""])).to_numpy() & (rows != "").to_numpy()
    return by_id | by_name


def deduplicate(meta: pd.DataFrame, key: str = "apogee_id", score: str = "snr") -> np.ndarray:
    """Keep one row per star: the one with the highest ``score`` (ties: the first row).

    Args:
        meta: Per-row table holding ``key`` and ``score``.
        key: Identifier whose repeats are the same star.
        score: Column to maximise.

    Returns:
        ``(N,)`` bool mask of the rows kept.

    Example:
        >>> deduplicate(pd.DataFrame({"apogee_id": ["a", "a", "b"], "snr": [10, 50, 5]})).tolist()
        [False, True, True]
    """
    order = np.lexsort((np.arange(len(meta)), -meta[score].fillna(-np.inf).to_numpy()))
    keys = meta[key].to_numpy()[order]
    _, first = np.unique(keys, return_index=True)
    keep = np.zeros(len(meta), dtype=bool)
    keep[order[first]] = True
    return keep


@dataclass(frozen=True)
class SelectionResult:
    """The mask of selected rows, each star's split, and the count left after each cut.

    Attributes:
        mask: ``(N,)`` bool, rows that pass every cut.
        split: ``(N,)`` split name of every row (also for rows that were cut).
        counts: Ordered ``(cut name, rows left)`` pairs, starting with all rows.
    """

    mask: np.ndarray
    split: np.ndarray
    counts: tuple[tuple[str, int], ...]

    def counts_table(self) -> pd.DataFrame:
        """The counts as a table with the split of what is left after the last cut."""
        return pd.DataFrame(self.counts, columns=["cut", "stars_left"])


def select(spectra: SampledSpectra, config: SelectionConfig | None = None) -> SelectionResult:
    """Apply the giant, label and quality cuts in order, counting what each removes.

    Args:
        spectra: Library spectra with APOGEE labels in ``meta`` (``teff, logg, fe_h, snr, apogee_id``).
        config: The cuts.

    Returns:
        The selection.

    Example:
        >>> from bayesxp.io.library import read_sampled_table
        >>> from bayesxp.paths import resources_dir
        >>> demo = read_sampled_table(resources_dir() / "demo" / "demo_giants.fits")
        >>> bool(select(demo).mask.any())
        True
    """
    config = config or SelectionConfig()
    meta = spectra.meta
    mask = spectra.usable.copy()
    counts = [("all rows", len(spectra)), ("readable spectrum", int(mask.sum()))]
    if "apogee_id" in meta and "snr" in meta:
        mask &= deduplicate(meta)
        counts.append(("one row per APOGEE star (highest S/N)", int(mask.sum())))
    for label in config.require_labels:
        mask &= np.isfinite(meta[label].to_numpy(dtype=float))
        counts.append((f"finite {label}", int(mask.sum())))
    if config.giants_only:
        mask &= meta["logg"].to_numpy(dtype=float) < config.logg_max
        counts.append((f"logg < {config.logg_max:g}", int(mask.sum())))
        mask &= meta["teff"].to_numpy(dtype=float) < config.teff_max
        counts.append((f"Teff < {config.teff_max:g} K", int(mask.sum())))
    mask &= meta["teff"].to_numpy(dtype=float) >= config.teff_min
    counts.append((f"Teff >= {config.teff_min:g} K", int(mask.sum())))
    good = np.isfinite(spectra.flux) & np.isfinite(spectra.flux_error) & (spectra.flux_error > 0)
    mask &= good.mean(axis=1) >= config.min_finite_fraction
    counts.append((f"finite flux fraction >= {config.min_finite_fraction:g}", int(mask.sum())))
    mask &= np.nan_to_num(xp_snr(spectra), nan=-1.0) >= config.min_xp_snr
    counts.append((f"XP S/N >= {config.min_xp_snr:g}", int(mask.sum())))
    split = split_of(spectra.source_id, config.test_bucket, config.val_bucket)
    return SelectionResult(mask=mask, split=split, counts=tuple(counts))
