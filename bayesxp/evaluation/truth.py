"""The truths a campaign judges against: the :class:`Truth` table and its builders, one per label source.

- :func:`truth_from_training_set`, :func:`truth_of_test_split`, :func:`validation_truth`: TrainingSet stars
  with their mass and age labels (label transfer) and APOGEE ASPCAP Teff, logg, [M/H];
- :func:`seismic_dev_truth`: the seismic dev stars' consensus asteroseismic mass and age
  (:func:`bayesxp.labels.seismic_truth.seismic_dev_consensus`) on their XP library rows, with the mass-age
  error correlation their catalogues imply;
- :func:`distmass_truth`: DistMass mass and age matched to the library by APOGEE_ID;
- :func:`label_truth`: one quantity's truth of TrainingSet stars as the head-to-head benchmark reads it;
- :func:`subsample`: a seeded random subset (``max_stars``).

Builders take explicit arguments (a file, a data folder, the library, a seed, a cap), never a whole config.
Each builder names the kind of truth of every quantity (:data:`~bayesxp.evaluation.truth_noise.TRUTH_KINDS`):
APOGEE Teff, logg, [M/H] and seismic masses and ages are measured; label-transfer and DistMass masses and
ages are derived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesxp.errors import InputFileError
from bayesxp.evaluation.truth_noise import (
    DERIVED,
    MEASURED,
    check_truth_kind,
    draw_truths,
    seismic_age_mass_slopes,
    seismic_ln_mass_age_corr,
)
from bayesxp.quantities import LIBRARY_COLUMNS, MODEL_LABELS, SPLITS, unit_name

__all__ = [
    "COVARIATE_TITLES",
    "SEISMIC_COLUMNS",
    "DERIVED_MASS_AGE",
    "ALL_MEASURED",
    "UNJUDGED_ERROR_SOURCES",
    "Truth",
    "truth_from_training_set",
    "truth_of_test_split",
    "validation_truth",
    "seismic_dev_truth",
    "distmass_truth",
    "label_truth",
    "load_training_set",
    "subsample",
]

COVARIATE_TITLES = {
    "xp_snr": "XP S/N",
    "m_h": "[M/H] (APOGEE)",
    "teff": "Teff (APOGEE) [K]",
    "mass": f"mass (truth) [{unit_name('mass')}]",
    "evolutionary_state": "evolutionary state",
    "distmass_flag": "DistMass flag",
    "split": "training-set split",
    "mass_source": "seismic mass catalogue",
    "age_source": "seismic age catalogue",
}
"""Titles of the subgroup covariates a truth table carries, for tables and figures."""

SEISMIC_COLUMNS = {"mass": ("seismic_mass", "seismic_mass_err"), "age": ("seismic_age_gyr", "seismic_age_err")}
"""The TrainingSet ``meta`` columns (value, 1-sigma error) of the seismic dev stars' mass and age."""

DERIVED_MASS_AGE = {"teff": MEASURED, "logg": MEASURED, "m_h": MEASURED, "mass": DERIVED, "age": DERIVED}
"""Kinds of truth of TrainingSet and DistMass stars: APOGEE labels measured, mass and age derived (predicted
from APOGEE labels by the label transfer or the DistMass network)."""

ALL_MEASURED = {"teff": MEASURED, "logg": MEASURED, "m_h": MEASURED, "mass": MEASURED, "age": MEASURED}
"""Kinds of truth of the seismic stars: asteroseismic masses and ages and APOGEE labels are all measured."""

UNJUDGED_ERROR_SOURCES = ("scatter_vs_",)
"""Prefixes of a consensus ``*_err_source`` whose error is not the catalogue's own but measured against another
catalogue (APOKASC-3 v7.0.5 ages publish none): such a truth keeps its value, loses its error, and is judged
naive only, apart from the others."""


@dataclass
class Truth:
    """The stars of a campaign and what they are judged against.

    Attributes:
        kind: ``"test-split"``, ``"seismic"``, ``"distmass"`` or ``"validation"``.
        description: One sentence on where the truths come from.
        stars: The stars as a TrainingSet (flux, errors, colours in ``labels``, per-star ``meta``), N rows.
        values: ``{quantity: (N,)}`` true values in :data:`UNITS` (NaN: none for that star).
        errors: ``{quantity: (N,)}`` their 1-sigma errors (same units).
        ln_mass_age_corr: ``(N,)`` correlation of the mass and age label errors in ln space (0: none known).
        covariates: ``{name: ((N,) values, bins)}``: subgroup covariates; ``bins`` None for categories.
        counts: How many stars each step kept (JSON-ready).
        truth_kind: ``{quantity: "measured" | "derived"}`` (:data:`~bayesxp.evaluation.truth_noise.TRUTH_KINDS`);
            a quantity not named is measured.

    Example:
        >>> from bayesxp.data.dataset import TrainingSet
        >>> mass = np.linspace(0.8, 2.0, 6)
        >>> truth = Truth("test-split", "synthetic", TrainingSet.synthetic(6, seed=0), {"mass": mass},
        ...               {"mass": 0.1 * mass}, np.zeros(6), {"mass": (mass, -1)})
        >>> len(truth), truth.take(np.array([0, 2])).values["mass"].tolist()
        (6, [0.8, 1.28])
        >>> truth.kind_of("mass"), Truth(**{**vars(truth), "truth_kind": {"mass": "derived"}}).kind_of("mass")
        ('measured', 'derived')
    """

    kind: str
    description: str
    stars: Any  # bayesxp.data.dataset.TrainingSet (imported lazily: h5py, label transfer)
    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    ln_mass_age_corr: np.ndarray
    covariates: dict[str, tuple[np.ndarray, int | None]]
    counts: dict = field(default_factory=dict)
    truth_kind: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in self.truth_kind.values():
            check_truth_kind(kind)

    def __len__(self) -> int:
        return len(self.stars)

    def kind_of(self, quantity: str) -> str:
        """The kind of truth of a quantity: ``"measured"`` (the default) or ``"derived"``."""
        return self.truth_kind.get(quantity, MEASURED)

    def truth_draws(self, seed: int) -> dict[str, np.ndarray]:
        """One seeded draw of label + error per star and quantity (:func:`~bayesxp.evaluation.truth_noise.draw_truths`):
        what a derived truth is judged against; mass and age jointly, with :attr:`ln_mass_age_corr`."""
        return draw_truths(self.values, self.errors, self.ln_mass_age_corr, seed)

    def take(self, index: np.ndarray) -> Truth:
        """The truth of a subset of stars (integer indices or a boolean mask)."""
        index = np.asarray(index)
        return Truth(
            kind=self.kind,
            description=self.description,
            stars=self.stars.subset(index),
            values={q: v[index] for q, v in self.values.items()},
            errors={q: v[index] for q, v in self.errors.items()},
            ln_mass_age_corr=self.ln_mass_age_corr[index],
            covariates={k: (v[index], b) for k, (v, b) in self.covariates.items()},
            counts=dict(self.counts),
            truth_kind=dict(self.truth_kind),
        )


def _states(values: object) -> np.ndarray:
    """Evolutionary states as strings, empty or missing ones as ``"unknown"``."""
    out = pd.Series(values, dtype=object).fillna("").astype(str).str.strip().to_numpy(dtype=object)
    out[out == ""] = "unknown"
    out[out == "nan"] = "unknown"
    return out.astype(str)


def _xp_snr(stars: Any) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.asarray(stars.flux, float) / np.asarray(stars.flux_error, float)
    ratio[~np.isfinite(ratio)] = np.nan
    out = np.full(len(stars), np.nan)
    rows = np.isfinite(ratio).any(axis=1)
    out[rows] = np.nanmedian(ratio[rows], axis=1)
    return out


def _apogee_truth(meta: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """APOGEE ASPCAP Teff, logg and [M/H] (library ``fe_h``) with their errors."""
    values, errors = {}, {}
    for quantity in ("teff", "logg", "m_h"):
        column = LIBRARY_COLUMNS[quantity]
        values[quantity] = pd.to_numeric(meta[column], errors="coerce").to_numpy(float)
        errors[quantity] = pd.to_numeric(meta[f"{column}_err"], errors="coerce").to_numpy(float)
    return values, errors


def _common_covariates(stars: Any, mass: np.ndarray) -> dict[str, tuple[np.ndarray, int | None]]:
    meta = stars.meta
    return {
        "xp_snr": (_xp_snr(stars), -1),
        "m_h": (pd.to_numeric(meta[LIBRARY_COLUMNS["m_h"]], errors="coerce").to_numpy(float), -1),
        "teff": (pd.to_numeric(meta["teff"], errors="coerce").to_numpy(float), -1),
        "mass": (np.asarray(mass, float), -1),
    }


def truth_from_training_set(stars: Any, kind: str, description: str) -> Truth:
    """Truths of TrainingSet stars: their mass and age labels, APOGEE atmospheric labels from ``meta``.

    Mass and age are ``exp`` of the ``ln_mass`` and ``ln_age`` labels (label transfer, or DistMass when the
    set was built with one), their errors the value times the ln-space error; the mass-age error
    correlation is ``meta["transfer_mass_age_corr"]`` where present. Teff, logg and [M/H] come from the
    ``teff, logg, fe_h`` columns of ``meta`` and their ``_err`` columns. Kinds of truth: Teff, logg, [M/H]
    measured, mass and age derived (:data:`DERIVED_MASS_AGE`).

    Args:
        stars: A TrainingSet (any split or subset).
        kind: Recorded as :attr:`Truth.kind`.
        description: Recorded as :attr:`Truth.description`.

    Returns:
        The truth table.
    """
    values, errors = _apogee_truth(stars.meta)
    for quantity in ("mass", "age"):
        values[quantity], errors[quantity] = label_truth(stars, quantity)
    corr = (
        stars.meta["transfer_mass_age_corr"].to_numpy(float)
        if "transfer_mass_age_corr" in stars.meta
        else np.zeros(len(stars))
    )
    covariates = _common_covariates(stars, values["mass"])
    if "seismic_evolutionary_state" in stars.meta:
        covariates["evolutionary_state"] = (_states(stars.meta["seismic_evolutionary_state"]), None)
    return Truth(
        kind=kind,
        description=description,
        stars=stars,
        values=values,
        errors=errors,
        ln_mass_age_corr=np.nan_to_num(np.clip(corr, -0.999, 0.999)),
        covariates=covariates,
        counts={
            "n_stars": len(stars),
            "n_with_mass": int(np.isfinite(values["mass"]).sum()),
            "n_with_age": int(np.isfinite(values["age"]).sum()),
        },
        truth_kind=dict(DERIVED_MASS_AGE),
    )


def _stars_from_library(library: Any, rows: np.ndarray, extra: pd.DataFrame) -> Any:
    """A TrainingSet over library rows (APOGEE labels and colours from the library's own columns)."""
    from bayesxp.data.dataset import TrainingSet, labels_from_meta
    from bayesxp.quantities import split_of

    part = library.take(rows)
    meta = pd.concat([part.meta.reset_index(drop=True), extra.reset_index(drop=True)], axis=1)
    meta = meta.loc[:, ~meta.columns.duplicated()]
    values, errors = labels_from_meta(meta)
    split = split_of(part.source_id)
    meta["split"] = split
    return TrainingSet(
        source_id=part.source_id,
        split=split,
        flux=part.flux,
        flux_error=part.flux_error,
        labels=values,
        label_error=errors,
        meta=meta,
        summary={},
    )


def _selection_of(library: Any) -> np.ndarray:
    from bayesxp.data.selection import select

    return select(library).mask


def _one_row_per_star(meta: pd.DataFrame) -> np.ndarray:
    """Boolean mask keeping one row per APOGEE_ID: the highest APOGEE S/N (then the first)."""
    from bayesxp.data.selection import deduplicate

    return deduplicate(meta.reset_index(drop=True))


def seismic_dev_truth(
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    require_selection: bool = False,
    library: Any | None = None,
) -> Truth:
    """The seismic dev stars: consensus asteroseismic mass and age, APOGEE Teff, logg, [M/H].

    Spectra are the XP library rows ``xp_row`` of the file (every row, not only the selected ones; one row
    per APOGEE_ID, the highest APOGEE S/N); how many pass the default selection is counted. Every quantity
    is a measured truth (:data:`ALL_MEASURED`).

    An error the consensus measured against another catalogue (:data:`UNJUDGED_ERROR_SOURCES`: the
    APOKASC-3 v7.0.5 ages, published without errors) is dropped: those stars keep their value and are
    judged naive only, reported apart (``meta["seismic_age_err_source"]`` says why).

    Mass-age error correlation (ln space): seismic ages are derived from the masses, so where a star's mass
    and age come from the same catalogue, ``corr = clip(b * sigma_lnM / sigma_lnA, -0.99, 0.99)`` with
    ``b = d ln age / d ln mass`` of a Huber fit of ln age on ln mass and [M/H] over every star of that
    catalogue in :func:`~bayesxp.labels.seismic_truth.merge_seismic_catalogues`
    (:func:`~bayesxp.evaluation.truth_noise.seismic_age_mass_slopes`; measured: about -3.0 for APOKASC-2,
    -3.4 for Miglio+2021); elsewhere 0. The slopes are in ``counts["mass_age_error_correlation"]``.

    Args:
        path: A CSV in the ``xp_seismic_dev.csv`` layout (None: the data folder's own).
        data_dir: Data folder (None: found as usual).
        require_selection: Keep only the stars that pass the default training-set selection.
        library: The XP library (:func:`bayesxp.io.library.read_library`; None: read it).

    Returns:
        The truth table (kind ``"seismic"``).

    Example:
        >>> truth = seismic_dev_truth()  # doctest: +SKIP
        >>> truth.counts["n_rows_in_file"]  # doctest: +SKIP
        179
    """
    from bayesxp.io.library import read_library
    from bayesxp.labels.seismic_truth import merge_seismic_catalogues, seismic_dev_consensus

    catalogues = merge_seismic_catalogues(data_dir)
    dev = seismic_dev_consensus(path, data_dir=data_dir, catalogues=catalogues).reset_index(drop=True)
    library = read_library() if library is None else library
    n_library = len(library)
    xp_row = pd.to_numeric(dev["xp_row"], errors="coerce").to_numpy(float)
    inside = np.isfinite(xp_row) & (xp_row >= 0) & (xp_row < n_library)
    counts: dict[str, Any] = {"n_rows_in_file": len(dev), "n_xp_row_outside_library": int((~inside).sum())}
    dev = dev[inside].reset_index(drop=True)
    rows = dev["xp_row"].to_numpy(int)
    ids = dev["apogee_id"].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    ids = np.where(ids == "", [f"xp_row {r}" for r in rows], ids)  # a star without an id is its own star
    frame = pd.DataFrame({"apogee_id": ids, "snr": library.meta["snr"].to_numpy(float)[rows]})
    keep = _one_row_per_star(frame)
    counts["n_duplicate_rows_dropped"] = int((~keep).sum())
    dev, rows = dev[keep].reset_index(drop=True), rows[keep]
    usable = library.usable[rows]
    counts["n_unusable_spectrum"] = int((~usable).sum())
    dev, rows = dev[usable].reset_index(drop=True), rows[usable]
    selected = _selection_of(library)[rows]
    counts["n_pass_default_selection"] = int(selected.sum())
    counts["n_fail_default_selection"] = int((~selected).sum())
    if require_selection:
        dev, rows = dev[selected].reset_index(drop=True), rows[selected]
    extra = pd.DataFrame(
        {
            "seismic_mass": dev["mass"].to_numpy(float),
            "seismic_mass_err": dev["mass_err"].to_numpy(float),
            "seismic_age_gyr": dev["age_gyr"].to_numpy(float),
            "seismic_age_err": dev["age_err"].to_numpy(float),
            "seismic_evolutionary_state": _states(dev["evolutionary_state"]),
            "passes_default_selection": selected
            if not require_selection
            else np.ones(len(rows), bool),
        }
    )
    for column in ("mass_source", "age_source", "mass_err_source", "age_err_source"):
        if column in dev:
            extra[f"seismic_{column}"] = dev[column].fillna("").astype(str).to_numpy()
    for quantity, value in (("mass", "seismic_mass"), ("age", "seismic_age_gyr")):
        source = extra.get(f"seismic_{quantity}_err_source", pd.Series([""] * len(extra))).to_numpy(dtype=str)
        borrowed = np.isfinite(extra[value].to_numpy(float)) & np.array(
            [s.startswith(UNJUDGED_ERROR_SOURCES) for s in source], dtype=bool
        )
        extra.loc[borrowed, f"{value.replace('_gyr', '')}_err"] = np.nan
        counts[f"n_{quantity}_without_own_error"] = int(borrowed.sum())
    stars = _stars_from_library(library, rows, extra)
    values, errors = _apogee_truth(stars.meta)
    values["mass"], errors["mass"] = extra["seismic_mass"].to_numpy(), extra["seismic_mass_err"].to_numpy()
    values["age"], errors["age"] = extra["seismic_age_gyr"].to_numpy(), extra["seismic_age_err"].to_numpy()
    corr, correlation = _seismic_corr(extra, values, errors, catalogues)
    covariates = _common_covariates(stars, values["mass"])
    covariates["evolutionary_state"] = (extra["seismic_evolutionary_state"].to_numpy(), None)
    covariates["split"] = (stars.split.astype(str), None)
    for column in ("mass_source", "age_source"):
        if f"seismic_{column}" in extra:
            named = extra[f"seismic_{column}"].replace("", "none").to_numpy(dtype=str)
            covariates[column] = (named, None)
    counts.update(
        {
            "n_stars": len(stars),
            "n_with_mass": int(np.isfinite(values["mass"]).sum()),
            "n_with_age": int(np.isfinite(values["age"]).sum()),
            "split_of_stars": {s: int((stars.split == s).sum()) for s in SPLITS},
            "mass_age_error_correlation": correlation,
        }
    )
    source = "xp_seismic_dev.csv of the data folder" if path is None else str(path)
    description = (
        f"consensus asteroseismic mass and age of the seismic dev stars ({source}) with their own "
        "errors; APOGEE DR17 ASPCAP Teff, logg, [M/H] (fe_h) with theirs; spectra: the XP library "
        "rows xp_row. Their mass and age were withheld from every training label, and every dev star is "
        "on reserved_stars.csv: a model trained with exclude_reserved (the shipped one) never saw their "
        "spectra or labels (the 'split' subgroups are the hash split they would otherwise have had). "
        "All are measured truths. Ages without an error of their own "
        f"catalogue (APOKASC-3 v7.0.5: {counts['n_age_without_own_error']} stars) are judged naive only and "
        f"reported apart. {correlation['summary']}"
    )
    return Truth(
        kind="seismic",
        description=description,
        stars=stars,
        values=values,
        errors=errors,
        ln_mass_age_corr=corr,
        covariates=covariates,
        counts=counts,
        truth_kind=dict(ALL_MEASURED),
    )


def _seismic_corr(
    extra: pd.DataFrame,
    values: dict[str, np.ndarray],
    errors: dict[str, np.ndarray],
    catalogues: pd.DataFrame,
) -> tuple[np.ndarray, dict]:
    """Per-star ln mass-age error correlation of seismic truths, and its record (see :func:`seismic_dev_truth`)."""
    slopes = seismic_age_mass_slopes(catalogues)
    n = len(extra)
    mass_source = extra.get("seismic_mass_source", pd.Series([""] * n)).to_numpy(dtype=str)
    age_source = extra.get("seismic_age_source", pd.Series([""] * n)).to_numpy(dtype=str)
    slope = np.array(
        [slopes[m]["slope_ln_age_ln_mass"] if m == a and m in slopes else np.nan for m, a in zip(mass_source, age_source)]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = seismic_ln_mass_age_corr(
            errors["mass"] / values["mass"], errors["age"] / values["age"], slope
        )  # (N,)
    used = corr != 0
    words = ", ".join(f"{name} {fit['slope_ln_age_ln_mass']:.2f} ({fit['n_stars']} stars)" for name, fit in slopes.items())
    record = {
        "formula": "corr = clip(b * sigma_lnM / sigma_lnA, -0.99, 0.99) where mass and age come from the same "
        "catalogue (0 elsewhere); b = d ln age / d ln mass of a Huber fit of ln age on ln mass and [M/H] over "
        "every star of that catalogue in the merged seismic catalogues",
        "slopes": slopes,
        "n_stars_correlated": int(used.sum()),
        "median_corr_of_correlated": float(np.median(corr[used])) if used.any() else None,
        "n_clipped": int(np.sum(np.abs(corr) >= 0.99)),
    }
    median = f"{record['median_corr_of_correlated']:.2f}" if used.any() else "-"
    record["summary"] = (
        f"Mass-age error correlation (ln space): {record['formula']}; slopes b: {words}; "
        f"{record['n_stars_correlated']} stars correlated, median {median}"
    )
    return corr, record


def distmass_truth(
    path: str | Path,
    mass_fractional_error: float = 0.12,
    age_fractional_error: float = 0.36,
    require_selection: bool = False,
    library: Any | None = None,
) -> Truth:
    """DistMass mass and age matched to the XP library by APOGEE_ID; APOGEE Teff, logg, [M/H].

    One library row per matched star (the highest APOGEE S/N); errors the file's own, or a fraction of the
    value where it has none.

    Args:
        path: A DistMass FITS file (:func:`bayesxp.io.distmass.read_distmass`).
        mass_fractional_error: Mass error as a fraction of the mass where the file has none.
        age_fractional_error: Same for age.
        require_selection: Keep only the stars that pass the default training-set selection.
        library: The XP library (None: read it).

    Returns:
        The truth table (kind ``"distmass"``).

    Raises:
        InputFileError: No DistMass star matches a library row.

    Example:
        >>> truth = distmass_truth("tests/data/distmass_small.fits")  # doctest: +SKIP
        >>> truth.kind  # doctest: +SKIP
        'distmass'
    """
    from bayesxp.io.distmass import read_distmass
    from bayesxp.io.library import read_library

    table = read_distmass(path)
    library = read_library() if library is None else library
    ids = library.meta["apogee_id"].astype(str).str.strip()
    matched = ids.isin(set(table["apogee_id"])) & (ids != "")
    rows = np.flatnonzero(matched.to_numpy())
    counts: dict[str, Any] = {
        "n_rows_in_file": int(table.attrs.get("rows_read", len(table))),
        "n_stars_in_file": len(table),
        "age_column": table.attrs.get("age_column"),
        "n_library_rows_matched": int(rows.size),
    }
    rows = rows[_one_row_per_star(library.meta.iloc[rows][["apogee_id", "snr"]])]
    counts["n_stars_matched"] = int(rows.size)
    usable = library.usable[rows]
    counts["n_unusable_spectrum"] = int((~usable).sum())
    rows = rows[usable]
    selected = _selection_of(library)[rows]
    counts["n_pass_default_selection"] = int(selected.sum())
    counts["n_fail_default_selection"] = int((~selected).sum())
    if require_selection:
        rows, selected = rows[selected], selected[selected]
    if rows.size == 0:
        raise InputFileError(str(path), "no DistMass star matches an XP library row by APOGEE_ID")
    by_id = table.drop_duplicates("apogee_id").set_index("apogee_id")
    star_ids = ids.to_numpy()[rows]
    mass = by_id["distmass_mass"].reindex(star_ids).to_numpy(float)
    mass_err = by_id["distmass_mass_err"].reindex(star_ids).to_numpy(float)
    age = by_id["distmass_age_gyr"].reindex(star_ids).to_numpy(float)
    age_err = by_id["distmass_age_err"].reindex(star_ids).to_numpy(float)
    fill_mass = np.isfinite(mass) & ~(mass_err > 0)
    fill_age = np.isfinite(age) & ~(age_err > 0)
    mass_err = np.where(fill_mass, mass_fractional_error * mass, mass_err)
    age_err = np.where(fill_age, age_fractional_error * age, age_err)
    counts.update({"n_mass_error_filled": int(fill_mass.sum()), "n_age_error_filled": int(fill_age.sum())})
    outside = by_id["distmass_outside_training_space"].reindex(star_ids).to_numpy(dtype=object)
    flag = np.where(outside == True, "outside training space", "inside training space")  # noqa: E712
    extra = pd.DataFrame(
        {
            "distmass_mass": mass,
            "distmass_mass_err": mass_err,
            "distmass_age_gyr": age,
            "distmass_age_err": age_err,
            "distmass_flag": flag,
            "passes_default_selection": selected,
        }
    )
    stars = _stars_from_library(library, rows, extra)
    values, errors = _apogee_truth(stars.meta)
    values["mass"], errors["mass"] = mass, mass_err
    values["age"], errors["age"] = age, age_err
    covariates = _common_covariates(stars, mass)
    covariates["distmass_flag"] = (flag.astype(str), None)
    covariates["split"] = (stars.split.astype(str), None)
    counts.update(
        {
            "n_stars": len(stars),
            "n_with_mass": int(np.isfinite(mass).sum()),
            "n_with_age": int(np.isfinite(age).sum()),
            "split_of_stars": {s: int((stars.split == s).sum()) for s in SPLITS},
        }
    )
    description = (
        f"DistMass mass and age ({path}, age column {counts['age_column']}) matched to the XP "
        f"library by APOGEE_ID, with the file's errors (missing ones: "
        f"{mass_fractional_error:.0%} of the mass, "
        f"{age_fractional_error:.0%} of the age); APOGEE DR17 Teff, logg, [M/H]"
    )
    return Truth(
        kind="distmass",
        description=description,
        stars=stars,
        values=values,
        errors=errors,
        ln_mass_age_corr=np.zeros(len(stars)),
        covariates=covariates,
        counts=counts,
        truth_kind=dict(DERIVED_MASS_AGE),
    )


def label_truth(stars: Any, quantity: str, seismic: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One quantity's truth of TrainingSet stars, with its 1-sigma error, in physical units.

    Args:
        stars: A TrainingSet.
        quantity: One of :data:`~bayesxp.quantities.QUANTITIES` (``"mass"`` or ``"age"`` when ``seismic``).
        seismic: Read the seismic dev columns of ``meta`` (:data:`SEISMIC_COLUMNS`) instead of the labels.

    Returns:
        ``((N,) values, (N,) errors)``: a label on the ln scale becomes ``exp(x)`` with error
        ``exp(x) * sigma_ln`` (first order).

    Example:
        >>> from bayesxp.data.dataset import TrainingSet
        >>> stars = TrainingSet.synthetic(4, seed=0)
        >>> value, error = label_truth(stars, "mass")
        >>> bool(np.allclose(np.log(value), stars.label("ln_mass")[0]))
        True
    """
    if seismic:
        value, error = SEISMIC_COLUMNS[quantity]
        return stars.meta[value].to_numpy(float), stars.meta[error].to_numpy(float)
    target = MODEL_LABELS[quantity]
    value, error = (np.asarray(a, float) for a in stars.label(target))
    if target.startswith("ln_"):  # log-normal label: value exp(x), 1-sigma error ~ exp(x) * sigma_ln
        value = np.exp(value)
        error = value * error
    return value, error


def load_training_set(data_dir: str | Path | None = None) -> Any:
    """The TrainingSet of the default :class:`~bayesxp.data.dataset.DataConfig` (built or read from the cache).

    Args:
        data_dir: Data folder (None: found as usual).

    Example:
        >>> training_set = load_training_set()  # doctest: +SKIP
    """
    from bayesxp.data.dataset import DataConfig, build_training_set

    return build_training_set(DataConfig(data_dir=data_dir))


def subsample(truth: Truth, n: int | None, seed: int) -> Truth:
    """A seeded random subset of ``n`` stars (all of them when ``n`` is None or not smaller).

    Example:
        >>> from bayesxp.data.dataset import TrainingSet
        >>> truth = Truth("test-split", "synthetic", TrainingSet.synthetic(10, seed=0), {}, {}, np.zeros(10), {})
        >>> small = subsample(truth, 4, seed=0)
        >>> len(small), small.counts["n_before_max_stars"]
        (4, 10)
    """
    if n is None or n >= len(truth):
        return truth
    keep = np.sort(np.random.default_rng(seed).choice(len(truth), n, replace=False))
    out = truth.take(keep)
    out.counts["n_before_max_stars"] = len(truth)
    out.counts["n_stars"] = n
    return out


def truth_of_test_split(training_set: Any) -> Truth:
    """The test split of the training set with its TrainingSet labels (see :func:`truth_from_training_set`).

    Args:
        training_set: A built TrainingSet.

    Returns:
        The truth table (kind ``"test-split"``).
    """
    return truth_from_training_set(
        training_set.subset("test"),
        "test-split",
        "test split of the training set: label-transfer mass and age (exp of ln_mass, ln_age; error = "
        "value x ln-space error, with the transfer's mass-age error correlation), APOGEE DR17 ASPCAP "
        "Teff, logg, [M/H] with their errors",
    )


def validation_truth(training_set: Any, max_stars: int | None = None, seed: int = 1) -> Truth:
    """The validation split with its TrainingSet labels: where recalibrators are fitted.

    Args:
        training_set: A built TrainingSet.
        max_stars: Cap on the stars (a seeded random subset; None: all).
        seed: Seed of the subset (the campaign passes its seed + 1).

    Returns:
        The validation stars' truth table.
    """
    truth = truth_from_training_set(
        training_set.subset("val"),
        "validation",
        "validation split: label-transfer mass and age, APOGEE atmospheric labels",
    )
    return subsample(truth, max_stars, seed)
