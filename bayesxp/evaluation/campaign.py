"""Calibration campaigns: bayesxp and the XGBoost baseline judged against one set of truths, end to end.

A campaign takes a *label source*, predicts the same stars with the bayesxp posterior and with the XGBoost
baseline, and writes one report (Markdown tables, PNG figures, ``results.json`` with every number, the
resolved config) into an output folder. Three label sources:

- ``"test-split"``: the TrainingSet's test split. Truth: the label-transfer masses and ages (``exp`` of
  ``ln_mass``, ``ln_age``; their 1-sigma error ``value x`` the ln-space error, with the transfer's
  mass-age error correlation) and APOGEE ASPCAP Teff, logg, [M/H] with their errors.
- a ``xp_seismic_dev.csv``-layout CSV (or the word ``"seismic-dev"``: the data folder's own): the dev
  stars' consensus asteroseismic mass and age (:func:`bayesxp.io.seismic.read_seismic_dev`) with their
  own errors, and APOGEE Teff, logg, [M/H]. Spectra are the XP library rows ``xp_row`` (every row, not only
  the selected ones; how many pass the default selection is recorded).
- a DistMass FITS file (:func:`bayesxp.io.distmass.read_distmass`): rows matched to the library by
  APOGEE_ID (one library row per star, the highest APOGEE S/N), truth the DistMass mass and age with
  their errors (a fractional default where the file has none).

Every number is label-noise aware (DESIGN: coverage must add the label's own uncertainty): for each model
and quantity :func:`~bayesxp.calibration.calibration_summary` is run with ``label_error`` (the prediction
convolved with the truth's error) and without it (naive); coverage per subgroup of XP S/N, [M/H], Teff,
the true mass, the evolutionary state and the training-set split names the worst group; mass and age are
judged jointly in (ln mass, ln age) by HDR coverage and TARP, with the label noise added to the draws in
log space (the baseline's joint draws are independent marginals: it has no mass-age correlation).
Optionally, isotonic and conformal (CQR) recalibrators fitted on the validation split are judged on the
campaign's stars.

Layers, compute apart from drawing:

- :func:`build_truth` -> :class:`Truth`; :func:`predict_bayesxp`, :func:`predict_baseline` ->
  :class:`ModelPredictions`;
- :func:`evaluate_quantity`, :func:`joint_mass_age`, :func:`evaluate_campaign` -> JSON-ready dicts;
- :func:`report_markdown` and :func:`write_outputs` only read those dicts;
- :func:`run_campaign` ties them; :func:`calibrate_command` is the body of ``bayesxp calibrate``.

Example:
    >>> import numpy as np
    >>> from bayesxp.calibration import GaussianPrediction
    >>> rng = np.random.default_rng(0)
    >>> true = rng.normal(1.5, 0.3, 2000)
    >>> label = true + rng.normal(0, 0.1, 2000)  # a noisy label, 0.1 Msun error
    >>> pred = GaussianPrediction(true + rng.normal(0, 0.2, 2000), 0.2)  # calibrated for the true mass
    >>> row = evaluate_quantity(pred, label, 0.1, "mass", hdi=False)["table"]
    >>> row["coverage"]["0.68"]["consistent"], row["coverage_naive"]["0.68"]["consistent"]
    (True, False)
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from bayesxp._version import __version__
from bayesxp.calibration import (
    DEFAULT_LEVELS,
    ConformalQuantileRecalibrator,
    CoverageResult,
    GroupCoverage,
    IsotonicRecalibrator,
    PredictiveDistribution,
    SamplePrediction,
    calibration_summary,
    coverage,
    coverage_by_group,
    crps,
    hdr_credibility,
    mad_std,
    miscalibration_area,
    pit,
    pit_uniformity,
    tarp,
)
from bayesxp.calibration.report import to_json_ready
from bayesxp.config import from_dict, load_config, save_config, to_dict
from bayesxp.errors import ConfigError, InputFileError
from bayesxp.io.tables import atomic_path
from bayesxp.quantities import LIBRARY_COLUMNS, QUANTITIES, SPLITS, unit_name

__all__ = [
    "REPORT_LEVELS",
    "GROUP_LEVELS",
    "CampaignConfig",
    "load_campaign_config",
    "Truth",
    "build_truth",
    "truth_from_training_set",
    "validation_truth",
    "ModelPredictions",
    "predict_bayesxp",
    "predict_baseline",
    "load_or_fit_baseline",
    "evaluate_quantity",
    "joint_mass_age",
    "recalibration_study",
    "evaluate_campaign",
    "quantity_table",
    "report_markdown",
    "write_outputs",
    "judge_predictions",
    "run_campaign",
    "calibrate_command",
    "summary_lines",
    "config_from_dict",
]

"""Quantities a campaign can judge, in report order."""


REPORT_LEVELS = (0.5, 0.68, 0.9, 0.95)
"""Central-interval levels shown in the report tables (the JSON holds all of ``DEFAULT_LEVELS``)."""

GROUP_LEVELS = (0.68, 0.95)
"""Levels of the subgroup coverage tables."""

LABEL_WORDS = {"test-split": "test-split", "seismic-dev": "seismic"}
"""Label sources given by a word rather than a file."""

_COVARIATE_TITLES = {
    "xp_snr": "XP S/N",
    "m_h": "[M/H] (APOGEE)",
    "teff": "Teff (APOGEE) [K]",
    "mass": "mass (truth) [Msun]",
    "evolutionary_state": "evolutionary state",
    "distmass_flag": "DistMass flag",
    "split": "training-set split",
}


# ------------------------------------------------------------------------------------------------ config
@dataclass(frozen=True)
class CampaignConfig:
    """One calibration campaign (filled from ``calibration/configs/*.yaml``; unknown keys are refused).

    Attributes:
        name: Campaign name; the default output folder is ``calibration/results/<name>``.
        labels: ``"test-split"``; ``"seismic-dev"`` (the data folder's ``xp_seismic_dev.csv``); a path to
            a CSV in the ``xp_seismic_dev.csv`` layout; or a path to a DistMass FITS file.
        model: bayesxp model folder (None: the model shipped in the package).
        baseline: Folder of a fitted XGBoost baseline (:func:`bayesxp.baseline.load_baseline`). None:
            fit the baseline of ``baseline_config`` on the train/val splits (minutes; reused from
            ``<cache>/baseline-models/xgb-<variant>`` when the data and config match), unless
            ``skip_baseline``.
        skip_baseline: Judge bayesxp alone.
        baseline_config: YAML filling :class:`bayesxp.baseline.BaselineConfig` for fitting (None: defaults).
        baseline_propagate_label_error: The baseline convolves mass and age with its predicted label
            error (a prediction of the true value); False: the literature baseline (of the label itself).
        num_samples: Posterior draws per star S.
        context: bayesxp context: ``"full"`` (spectrum and photometry) or ``"spectrum"``.
        quantities: Quantities judged (subset of :data:`QUANTITIES`).
        recalibrate: Fit isotonic and CQR recalibrators on the validation split, judge them here.
        recalibration_levels: Levels the CQR recalibrator conformalises.
        max_calibration_stars: Cap on the validation stars used for recalibration (None: all).
        distmass_mass_fractional_error: DistMass mass error as a fraction of the mass where the file
            has none (the catalogue quotes ~12%).
        distmass_age_fractional_error: Same for age (age ~ mass^-3 turns 12% into ~36%).
        require_selection: Keep only stars that pass the default training-set selection (seismic and
            DistMass sources; the test split always does).
        max_stars: Random subset of this many stars (None: all), for quick runs.
        group_bins: Equal-count bins per numeric subgroup covariate.
        min_group_stars: Smallest group eligible as the worst group.
        hdi: Also report highest-density-interval coverage.
        seed: Seed of every random draw (subsets, label-noise draws, randomised PIT, TARP references).
        output: Output folder (None: ``calibration/results/<name>`` under the working directory).
        data_dir: Data folder with ``seismic/`` and ``xp_seismic_dev.csv`` (None: found as usual).
        note: A sentence printed at the top of the report (e.g. "synthetic fixture: demonstrates the
            pipeline, not a calibration").

    Example:
        >>> CampaignConfig(labels="test-split").source_kind
        'test-split'
    """

    name: str = "campaign"
    labels: str = "test-split"
    model: str | None = None
    baseline: str | None = None
    skip_baseline: bool = False
    baseline_config: str | None = None
    baseline_propagate_label_error: bool = True
    num_samples: int = 200
    context: Literal["full", "spectrum"] = "full"
    quantities: tuple[str, ...] = QUANTITIES
    recalibrate: bool = True
    recalibration_levels: tuple[float, ...] = REPORT_LEVELS
    max_calibration_stars: int | None = None
    distmass_mass_fractional_error: float = 0.12
    distmass_age_fractional_error: float = 0.36
    require_selection: bool = False
    max_stars: int | None = None
    group_bins: int = 4
    min_group_stars: int = 20
    hdi: bool = True
    seed: int = 0
    output: str | None = None
    data_dir: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        unknown = [q for q in self.quantities if q not in QUANTITIES]
        if unknown or not self.quantities:
            raise ValueError(
                f"quantities must be a non-empty subset of {QUANTITIES}, got {list(self.quantities)}"
            )
        if self.num_samples < 8:
            raise ValueError("num_samples must be at least 8 (the joint checks split the draws in halves)")
        for name in ("distmass_mass_fractional_error", "distmass_age_fractional_error"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if any(not 0 < a < 1 for a in self.recalibration_levels) or not self.recalibration_levels:
            raise ValueError("recalibration_levels must lie strictly between 0 and 1")
        if self.group_bins < 1 or self.min_group_stars < 1:
            raise ValueError("group_bins and min_group_stars must be positive")
        for name in ("max_stars", "max_calibration_stars"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise ValueError(f"{name} must be at least 2 (or null for all)")

    @property
    def source_kind(self) -> str:
        """``"test-split"``, ``"seismic"`` or ``"distmass"``, from :attr:`labels`."""
        if self.labels in LABEL_WORDS:
            return LABEL_WORDS[self.labels]
        name = self.labels.lower()
        if name.endswith((".csv", ".csv.gz")):
            return "seismic"
        if name.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
            return "distmass"
        raise ValueError(
            f"labels must be 'test-split', 'seismic-dev', a .csv in the xp_seismic_dev.csv layout or a "
            f"DistMass .fits file, got {self.labels!r}"
        )

    def output_folder(self) -> Path:
        """The folder the campaign writes to."""
        return Path(self.output) if self.output else Path("calibration") / "results" / self.name


_PATH_FIELDS = ("labels", "model", "baseline", "baseline_config", "output", "data_dir")


def load_campaign_config(
    source: str | Path | dict | None = None, base: str | Path | None = None, **overrides: Any
) -> CampaignConfig:
    """Read a campaign YAML (or mapping), apply overrides, and resolve relative paths against ``base``.

    Args:
        source: YAML file, mapping, or None for the defaults.
        base: Folder that relative paths (labels, model, baseline, baseline_config, output, data_dir) are
            relative to (None: the working directory, i.e. left as they are). Overrides are resolved too.
        **overrides: Fields to replace (None values are ignored, so CLI defaults can be passed through).

    Returns:
        The config.

    Raises:
        ConfigError: Unknown key, wrong type or invalid value.

    Example:
        >>> load_campaign_config({"labels": "x.fits"}, base="/repo").labels
        '/repo/x.fits'
    """
    config = load_config(CampaignConfig, source, **{k: v for k, v in overrides.items() if v is not None})
    if base is None:
        return config
    resolved = {}
    for name in _PATH_FIELDS:
        value = getattr(config, name)
        if value is None or (name == "labels" and value in LABEL_WORDS) or Path(value).is_absolute():
            continue
        resolved[name] = str(Path(base) / value)
    return dataclasses.replace(config, **resolved) if resolved else config


# ------------------------------------------------------------------------------------------------- truth
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
    """

    kind: str
    description: str
    stars: Any  # bayesxp.data.dataset.TrainingSet (imported lazily: h5py, label transfer)
    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    ln_mass_age_corr: np.ndarray
    covariates: dict[str, tuple[np.ndarray, int | None]]
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.stars)

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


def truth_from_training_set(ts: Any, kind: str, description: str) -> Truth:
    """Truths of TrainingSet stars: their mass and age labels, APOGEE atmospheric labels from ``meta``.

    Mass and age are ``exp`` of the ``ln_mass`` and ``ln_age`` labels (label transfer, or DistMass when the
    set was built with one), their errors the value times the ln-space error; the mass-age error
    correlation is ``meta["transfer_mass_age_corr"]`` where present. Teff, logg and [M/H] come from the
    ``teff, logg, fe_h`` columns of ``meta`` and their ``_err`` columns.

    Args:
        ts: A TrainingSet (any split or subset).
        kind: Recorded as :attr:`Truth.kind`.
        description: Recorded as :attr:`Truth.description`.

    Returns:
        The truth table.
    """
    values, errors = _apogee_truth(ts.meta)
    for quantity, label in (("mass", "ln_mass"), ("age", "ln_age")):
        ln_value, ln_error = (np.asarray(a, float) for a in ts.label(label))
        values[quantity] = np.exp(ln_value)
        errors[quantity] = values[quantity] * ln_error  # ln-space error -> linear 1-sigma (first order)
    corr = (
        ts.meta["transfer_mass_age_corr"].to_numpy(float)
        if "transfer_mass_age_corr" in ts.meta
        else np.zeros(len(ts))
    )
    covariates = _common_covariates(ts, values["mass"])
    if "seismic_evolutionary_state" in ts.meta:
        covariates["evolutionary_state"] = (_states(ts.meta["seismic_evolutionary_state"]), None)
    return Truth(
        kind=kind,
        description=description,
        stars=ts,
        values=values,
        errors=errors,
        ln_mass_age_corr=np.nan_to_num(np.clip(corr, -0.999, 0.999)),
        covariates=covariates,
        counts={
            "n_stars": len(ts),
            "n_with_mass": int(np.isfinite(values["mass"]).sum()),
            "n_with_age": int(np.isfinite(values["age"]).sum()),
        },
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


def _seismic_truth(config: CampaignConfig) -> Truth:
    from bayesxp.io.library import read_library
    from bayesxp.io.seismic import read_seismic_dev

    path = None if config.labels == "seismic-dev" else config.labels
    dev = read_seismic_dev(path, data_dir=config.data_dir).reset_index(drop=True)
    library = read_library()
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
    if config.require_selection:
        dev, rows = dev[selected].reset_index(drop=True), rows[selected]
    extra = pd.DataFrame(
        {
            "seismic_mass": dev["mass"].to_numpy(float),
            "seismic_mass_err": dev["mass_err"].to_numpy(float),
            "seismic_age_gyr": dev["age_gyr"].to_numpy(float),
            "seismic_age_err": dev["age_err"].to_numpy(float),
            "seismic_evolutionary_state": _states(dev["evolutionary_state"]),
            "passes_default_selection": selected
            if not config.require_selection
            else np.ones(len(rows), bool),
        }
    )
    for column in ("mass_source", "age_source"):
        if column in dev:
            extra[f"seismic_{column}"] = dev[column].astype(str).to_numpy()
    stars = _stars_from_library(library, rows, extra)
    values, errors = _apogee_truth(stars.meta)
    values["mass"], errors["mass"] = extra["seismic_mass"].to_numpy(), extra["seismic_mass_err"].to_numpy()
    values["age"], errors["age"] = extra["seismic_age_gyr"].to_numpy(), extra["seismic_age_err"].to_numpy()
    covariates = _common_covariates(stars, values["mass"])
    covariates["evolutionary_state"] = (extra["seismic_evolutionary_state"].to_numpy(), None)
    covariates["split"] = (stars.split.astype(str), None)
    counts.update(
        {
            "n_stars": len(stars),
            "n_with_mass": int(np.isfinite(values["mass"]).sum()),
            "n_with_age": int(np.isfinite(values["age"]).sum()),
            "split_of_stars": {s: int((stars.split == s).sum()) for s in SPLITS},
        }
    )
    source = "xp_seismic_dev.csv of the data folder" if path is None else str(path)
    description = (
        f"consensus asteroseismic mass and age of the seismic dev stars ({source}) with their own "
        "errors; APOGEE DR17 ASPCAP Teff, logg, [M/H] (fe_h) with theirs; spectra: the XP library "
        "rows xp_row. Their mass and age were withheld from every training label; stars of the "
        "train hash split had their spectra and APOGEE labels seen in training (the 'split' "
        "subgroups separate them)"
    )
    return Truth(
        kind="seismic",
        description=description,
        stars=stars,
        values=values,
        errors=errors,
        ln_mass_age_corr=np.zeros(len(stars)),
        covariates=covariates,
        counts=counts,
    )


def _distmass_truth(config: CampaignConfig) -> Truth:
    from bayesxp.io.distmass import read_distmass
    from bayesxp.io.library import read_library

    table = read_distmass(config.labels)
    library = read_library()
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
    if config.require_selection:
        rows, selected = rows[selected], selected[selected]
    if rows.size == 0:
        raise InputFileError(config.labels, "no DistMass star matches an XP library row by APOGEE_ID")
    by_id = table.drop_duplicates("apogee_id").set_index("apogee_id")
    star_ids = ids.to_numpy()[rows]
    mass = by_id["distmass_mass"].reindex(star_ids).to_numpy(float)
    mass_err = by_id["distmass_mass_err"].reindex(star_ids).to_numpy(float)
    age = by_id["distmass_age_gyr"].reindex(star_ids).to_numpy(float)
    age_err = by_id["distmass_age_err"].reindex(star_ids).to_numpy(float)
    fill_mass = np.isfinite(mass) & ~(mass_err > 0)
    fill_age = np.isfinite(age) & ~(age_err > 0)
    mass_err = np.where(fill_mass, config.distmass_mass_fractional_error * mass, mass_err)
    age_err = np.where(fill_age, config.distmass_age_fractional_error * age, age_err)
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
        f"DistMass mass and age ({config.labels}, age column {counts['age_column']}) matched to the XP "
        f"library by APOGEE_ID, with the file's errors (missing ones: "
        f"{config.distmass_mass_fractional_error:.0%} of the mass, "
        f"{config.distmass_age_fractional_error:.0%} of the age); APOGEE DR17 Teff, logg, [M/H]"
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
    )


def _training_set(config: CampaignConfig) -> Any:
    from bayesxp.data.dataset import DataConfig, build_training_set

    return build_training_set(DataConfig(data_dir=config.data_dir))


def _subsample(truth: Truth, n: int | None, seed: int) -> Truth:
    if n is None or n >= len(truth):
        return truth
    keep = np.sort(np.random.default_rng(seed).choice(len(truth), n, replace=False))
    out = truth.take(keep)
    out.counts["n_before_max_stars"] = len(truth)
    out.counts["n_stars"] = n
    return out


def build_truth(config: CampaignConfig, training_set: Any | None = None) -> Truth:
    """The stars and truths of a campaign's label source (see the module docstring).

    Args:
        config: The campaign.
        training_set: A built TrainingSet to reuse (test-split source only; default: built or loaded
            from the cache).

    Returns:
        The truth table (subsampled to ``max_stars`` when set).

    Raises:
        InputFileError: A label file that cannot be read or matches no library row.
        ConfigError: A label source that is neither a known word nor a .csv/.fits path.
    """
    try:
        kind = config.source_kind
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if kind == "test-split":
        ts = training_set if training_set is not None else _training_set(config)
        truth = truth_from_training_set(
            ts.subset("test"),
            "test-split",
            "test split of the training set: label-transfer mass and age (exp of ln_mass, ln_age; error = "
            "value x ln-space error, with the transfer's mass-age error correlation), APOGEE DR17 ASPCAP "
            "Teff, logg, [M/H] with their errors",
        )
    elif kind == "seismic":
        truth = _seismic_truth(config)
    else:
        truth = _distmass_truth(config)
    return _subsample(truth, config.max_stars, config.seed)


def validation_truth(config: CampaignConfig, training_set: Any | None = None) -> Truth:
    """The validation split with its TrainingSet labels: where recalibrators are fitted.

    Args:
        config: The campaign (``max_calibration_stars``, ``seed``, ``data_dir``).
        training_set: A built TrainingSet to reuse.

    Returns:
        The validation stars' truth table.
    """
    ts = training_set if training_set is not None else _training_set(config)
    truth = truth_from_training_set(
        ts.subset("val"),
        "validation",
        "validation split: label-transfer mass and age, APOGEE atmospheric labels",
    )
    return _subsample(truth, config.max_calibration_stars, config.seed + 1)


# ------------------------------------------------------------------------------------------- predictions
@dataclass
class ModelPredictions:
    """One model's predictions for the N stars of a campaign.

    Attributes:
        name: ``"bayesxp"`` or ``"baseline"``.
        predictions: ``{quantity: Predictive over N stars}`` in :data:`UNITS`.
        usable: ``(N,)`` stars that got a prediction (others hold placeholders and are never judged).
        joint_ln_mass_age: ``[S, N, 2]`` joint draws of (ln mass, ln age), or None (no joint posterior).
        info: JSON-ready facts (model folder, manifest, timing, status counts).
    """

    name: str
    predictions: dict[str, PredictiveDistribution]
    usable: np.ndarray
    joint_ln_mass_age: np.ndarray | None
    info: dict = field(default_factory=dict)


def _spectra_of(stars: Any) -> Any:
    from bayesxp.spectra import SampledSpectra

    medflux = stars.meta["medflux"].to_numpy(float) if "medflux" in stars.meta else None
    return SampledSpectra.from_arrays(
        stars.source_id, stars.flux, stars.flux_error, medflux=medflux, meta=stars.meta
    )


def predict_bayesxp(
    model: Any, stars: Any, num_samples: int = 200, context: str = "full", seed: int = 0
) -> ModelPredictions:
    """Posterior draws of every quantity for the stars, as :class:`~bayesxp.calibration.SamplePrediction`.

    Args:
        model: A :class:`bayesxp.model.bayesian.BayesXPModel`.
        stars: A TrainingSet (flux, flux errors and library photometry in ``meta``).
        num_samples: Draws per star S.
        context: ``"full"`` or ``"spectrum"``.
        seed: Seed of the draws.

    Returns:
        The predictions; stars with a non-"ok" status or non-finite draws are not usable.
    """
    clock = time.perf_counter()
    posterior = model.posterior(_spectra_of(stars), num_samples=num_samples, context=context, seed=seed)
    seconds = time.perf_counter() - clock
    usable = np.asarray(posterior.status == "ok", bool)
    for values in posterior.samples.values():
        usable &= np.all(np.isfinite(values), axis=0)
    usable &= np.all(posterior.samples["mass"] > 0, axis=0) & np.all(posterior.samples["age"] > 0, axis=0)
    predictions = {}
    for quantity, values in posterior.samples.items():
        filled = np.where(usable[None, :], values, 1.0)  # [S, N]; placeholders for stars never judged
        predictions[quantity] = SamplePrediction(filled)
    joint = np.stack(
        [np.log(predictions["mass"].samples), np.log(predictions["age"].samples)], axis=-1
    )  # [S, N, 2]
    corr = posterior.mass_age_corr()[usable]
    status, counts = np.unique(posterior.status.astype(str), return_counts=True)
    info = {
        "predict_seconds": seconds,
        "num_samples": num_samples,
        "context": context,
        "status_counts": dict(zip(status.tolist(), counts.tolist())),
        "n_usable": int(usable.sum()),
        "median_ln_mass_age_corr": float(np.median(corr)) if corr.size else None,
        "manifest": {k: v for k, v in getattr(model, "manifest", {}).items() if k != "summary"},
    }
    return ModelPredictions("bayesxp", predictions, usable, joint, info)


def predict_baseline(
    baseline: Any, stars: Any, propagate_label_error: bool = True, feature_cache: bool = True
) -> ModelPredictions:
    """The XGBoost baseline's predictive distributions for the stars.

    Args:
        baseline: A fitted :class:`bayesxp.baseline.XGBBaseline`.
        stars: A TrainingSet.
        propagate_label_error: See :meth:`bayesxp.baseline.XGBBaseline.predict`.
        feature_cache: Use the pseudo-coefficient cache.

    Returns:
        The predictions (no joint draws: mass and age are separate models).
    """
    clock = time.perf_counter()
    predictions = baseline.predict(stars, propagate_label_error=propagate_label_error, cache=feature_cache)
    seconds = time.perf_counter() - clock
    usable = np.ones(len(stars), bool)
    for pred in predictions.values():
        usable &= np.isfinite(pred.median())
    info = {
        "predict_seconds": seconds,
        "variant": getattr(baseline, "variant", None),
        "propagate_label_error": propagate_label_error,
        "n_usable": int(usable.sum()),
        "config": to_dict(baseline.config) if hasattr(baseline, "config") else None,
        "fit_info": {
            k: v
            for k, v in getattr(baseline, "info", {}).items()
            if k in ("fit_seconds_total", "data_fingerprint", "n_train")
        },
    }
    return ModelPredictions("baseline", predictions, usable, None, info)


def _fingerprint(ts: Any) -> str:
    """Same key as ``benchmarks/head_to_head.py``: baselines fitted there are reused here and back."""
    import hashlib

    digest = hashlib.sha256()
    for array in (ts.source_id, ts.labels, ts.label_error):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def load_or_fit_baseline(
    config: CampaignConfig, training_set: Any | None = None, progress: Callable[[str], None] | None = None
) -> tuple[Any | None, str]:
    """The campaign's baseline: loaded, reused from the cache, fitted, or none.

    Args:
        config: ``baseline``, ``skip_baseline``, ``baseline_config``.
        training_set: A built TrainingSet (for fitting).
        progress: Called with a line per step.

    Returns:
        ``(baseline or None, how it was obtained)``.
    """
    from bayesxp.baseline import BaselineConfig, load_baseline, make_baseline
    from bayesxp.errors import ModelFileError
    from bayesxp.paths import cache_dir

    say = progress or (lambda _: None)
    if config.skip_baseline:
        return None, "skipped (skip_baseline)"
    if config.baseline:
        return load_baseline(config.baseline), f"loaded from {config.baseline}"
    baseline_config = load_config(BaselineConfig, config.baseline_config)
    ts = training_set if training_set is not None else _training_set(config)
    train, val = ts.subset("train"), ts.subset("val")
    fingerprint = _fingerprint(train) + _fingerprint(val)
    folder = cache_dir() / "baseline-models" / f"xgb-{baseline_config.variant}"
    if (folder / "baseline.json").is_file():
        try:
            model = load_baseline(folder)
        except ModelFileError as exc:
            say(f"not reusing {folder}: {exc}")
        else:
            if model.info.get("data_fingerprint") == fingerprint and to_dict(model.config) == to_dict(
                baseline_config
            ):
                return model, f"reused {folder} (same data and config)"
    say(
        f"fitting the {baseline_config.variant} baseline on {len(train)} train / {len(val)} val stars (minutes)"
    )
    clock = time.perf_counter()
    model = make_baseline(baseline_config)
    model.fit(train, val)
    model.info["data_fingerprint"] = fingerprint
    model.info["fit_seconds_total"] = time.perf_counter() - clock
    model.save(folder)
    return model, f"fitted in this run ({model.info['fit_seconds_total']:.0f} s), saved to {folder}"


# -------------------------------------------------------------------------------------------- evaluation
def _level_index(levels: Sequence[float], level: float) -> int:
    return int(np.argmin(np.abs(np.asarray(levels, float) - level)))


def _coverage_cells(summary_coverage: dict, levels: Sequence[float] = REPORT_LEVELS) -> dict:
    out = {}
    for level in levels:
        k = _level_index(summary_coverage["level"], level)
        out[f"{level:g}"] = {
            "coverage": summary_coverage["coverage"][k],
            "lower": summary_coverage["lower"][k],
            "upper": summary_coverage["upper"][k],
            "consistent": summary_coverage["consistent"][k],
        }
    return out


def _group_table(
    scored: PredictiveDistribution,
    point: np.ndarray,
    truth: np.ndarray,
    covariate: np.ndarray,
    bins: int | None,
    min_stars: int,
    seed: int,
) -> GroupCoverage | None:
    """Noise-aware coverage per group; residual bias and scatter from the prediction itself."""
    if bins is None:
        names = np.unique(np.asarray(covariate).astype(str))
        if names.size < 2:
            return None
    elif np.sum(np.isfinite(np.asarray(covariate, float))) < 2:
        return None
    table = coverage_by_group(
        scored, truth, covariate, bins=bins, levels=GROUP_LEVELS, min_stars=min_stars, rng=seed
    )
    if table.group.size < 2:
        return None
    from bayesxp.calibration.subgroups import assign_groups

    codes, _, _ = assign_groups(covariate, bins)
    bias, scatter = np.full(table.group.size, np.nan), np.full(table.group.size, np.nan)
    for j in range(table.group.size):
        members = codes == j
        if members.any():
            residual = point[members] - truth[members]
            bias[j], scatter[j] = np.median(residual), mad_std(residual)
    return dataclasses.replace(table, bias=bias, mad_std=scatter)


def evaluate_quantity(
    pred: PredictiveDistribution,
    truth: np.ndarray,
    error: np.ndarray | float,
    quantity: str,
    covariates: Mapping[str, tuple[np.ndarray, int | None]] | None = None,
    group_bins: int = 4,
    min_group_stars: int = 20,
    hdi: bool = True,
    seed: int = 0,
) -> dict:
    """Every calibration number of one prediction against truths with their own errors.

    The noise-aware numbers judge the prediction convolved with the truth's error (the prediction of a
    noisy label); the naive ones judge the prediction as it is. Residuals (bias = median, std,
    mad_std) always use the prediction's median; mass also as a fraction of the truth, age in dex.

    Args:
        pred: Prediction over N stars (all judged: select rows before).
        truth: ``(N,)`` true values.
        error: ``(N,)`` or scalar 1-sigma error of the truths.
        quantity: One of :data:`QUANTITIES` (names the unit and the relative scatter).
        covariates: ``{name: ((N,) values, bins)}`` for the subgroup tables (``bins`` None: categories;
            a negative number: ``group_bins`` equal-count bins).
        group_bins: Bins per numeric covariate.
        min_group_stars: Smallest group eligible as the worst.
        hdi: Also report HDI coverage.
        seed: Seed of the label-noise draws and randomised PIT.

    Returns:
        JSON-ready ``{"quantity", "unit", "n", "table", "noise_aware", "naive", "pit_histogram",
        "groups", "worst_group"}``; ``table`` holds the report's row (coverage at
        :data:`REPORT_LEVELS` with binomial bands, noise-aware and naive).

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(1)
        >>> true = rng.normal(size=1500); label = true + rng.normal(0, 0.5, 1500)
        >>> out = evaluate_quantity(GaussianPrediction(true + rng.normal(size=1500), 1.0), label, 0.5, "logg")
        >>> out["table"]["coverage"]["0.68"]["consistent"], out["table"]["coverage_naive"]["0.68"]["consistent"]
        (True, False)
    """
    truth = np.asarray(truth, float)
    error = np.broadcast_to(np.asarray(error, float), truth.shape).copy()
    summary = calibration_summary(pred, truth, label_error=error, hdi=hdi, rng=seed)
    naive = calibration_summary(pred, truth, hdi=False, rng=seed)
    scored = pred.convolve(error, rng=np.random.default_rng(seed))  # the same draws calibration_summary used
    pit_test = pit_uniformity(pit(scored, truth, rng=seed))
    point = pred.median()
    residual = point - truth
    if quantity == "mass":
        relative, relative_name = residual / truth, "fractional"
    elif quantity == "age":
        relative, relative_name = np.log10(point / truth), "dex"
    else:
        relative, relative_name = None, None
    table = {
        "n": int(truth.size),
        "bias": summary["residual"]["bias"],
        "std": summary["residual"]["std"],
        "mad_std": summary["residual"]["mad_std"],
        "relative_kind": relative_name,
        "mad_std_relative": mad_std(relative) if relative is not None else None,
        "bias_relative": float(np.median(relative)) if relative is not None else None,
        "median_error_of_truth": float(np.median(error)),
        "median_predicted_std": float(np.median(pred.std())),
        "coverage": _coverage_cells(summary["coverage"]),
        "coverage_naive": _coverage_cells(naive["coverage"]),
        "pit_ks_pvalue": summary["pit"]["ks_pvalue"],
        "pit_ks_pvalue_naive": naive["pit"]["ks_pvalue"],
        "miscalibration_area": summary["miscalibration_area"],
        "miscalibration_area_naive": naive["miscalibration_area"],
        "crps": summary["crps"],
        "nll": summary["nll"],
        "crps_naive": naive["crps"],
        "nll_naive": naive["nll"],
    }
    groups: dict[str, dict] = {}
    worst: dict = {}
    for name, (values, bins) in (covariates or {}).items():
        bins = group_bins if (bins is not None and bins < 0) else bins
        result = _group_table(scored, point, truth, np.asarray(values), bins, min_group_stars, seed)
        if result is None:
            continue
        groups[name] = result.as_dict()
        if result.worst and result.worst["deviation"] > worst.get("deviation", -1.0):
            worst = {"covariate": name, **result.worst}
    histogram = {
        **pit_test.as_dict(),
        "expected": pit_test.expected,
        "band_lower": pit_test.band_lower.tolist(),
        "band_upper": pit_test.band_upper.tolist(),
        "confidence": pit_test.confidence,
    }
    return to_json_ready(
        {
            "quantity": quantity,
            "unit": unit_name(quantity),
            "n": int(truth.size),
            "table": table,
            "noise_aware": summary,
            "naive": naive,
            "pit_histogram": histogram,
            "groups": groups,
            "worst_group": worst,
        }
    )


def _ln_noise(
    shape: tuple[int, int], ln_error: np.ndarray, corr: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Correlated Gaussian label noise ``[S, N, 2]`` in (ln mass, ln age)."""
    z1, z2 = rng.standard_normal(shape), rng.standard_normal(shape)  # [S, N]
    rho = np.clip(corr, -0.999, 0.999)
    return np.stack([ln_error[:, 0] * z1, ln_error[:, 1] * (rho * z1 + np.sqrt(1 - rho**2) * z2)], axis=-1)


def joint_mass_age(
    ln_samples: np.ndarray,
    ln_truth: np.ndarray,
    ln_error: np.ndarray | None = None,
    corr: np.ndarray | None = None,
    seed: int = 0,
) -> dict:
    """Joint (ln mass, ln age) calibration: HDR coverage (Gaussian regions) and TARP.

    Args:
        ln_samples: Joint draws ``[S, N, 2]`` of (ln mass, ln age).
        ln_truth: ``[N, 2]`` true (ln mass, ln age).
        ln_error: ``[N, 2]`` 1-sigma label errors in ln space; when given, the label noise is added to the
            draws (the joint prediction of a noisy label), with correlation ``corr``.
        corr: ``(N,)`` correlation of the two label errors (default 0).
        seed: Seed of the noise, the HDR split and the TARP references.

    Returns:
        JSON-ready ``{"n", "label_noise", "hdr_coverage" (CoverageResult.as_dict over DEFAULT_LEVELS),
        "hdr_ks_pvalue", "hdr_miscalibration_area", "tarp", "median_sample_corr"}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> out = joint_mass_age(rng.normal(size=(100, 500, 2)), rng.normal(size=(500, 2)))
        >>> out["hdr_coverage"]["all_consistent"]
        True
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(ln_samples, float)
    y = np.asarray(ln_truth, float)
    noisy = ln_error is not None
    if noisy:
        rho = np.zeros(y.shape[0]) if corr is None else np.asarray(corr, float)
        x = x + _ln_noise(x.shape[:2], np.asarray(ln_error, float), rho, rng)
    credibility = hdr_credibility(x, y, method="gaussian", rng=rng)
    levels = np.asarray(DEFAULT_LEVELS)
    hdr = CoverageResult.from_inside(credibility[None, :] <= levels[:, None], levels, "hdr-gaussian")
    result = tarp(x, y, rng=rng)
    centred = x - x.mean(axis=0)
    sample_corr = np.sum(centred[..., 0] * centred[..., 1], axis=0) / np.sqrt(
        np.sum(centred[..., 0] ** 2, axis=0) * np.sum(centred[..., 1] ** 2, axis=0)
    )
    return to_json_ready(
        {
            "n": int(y.shape[0]),
            "label_noise": noisy,
            "hdr_coverage": hdr.as_dict(),
            "hdr_ks_pvalue": float(stats.kstest(credibility, "uniform").pvalue),
            "hdr_miscalibration_area": miscalibration_area(credibility),
            "tarp": result.as_dict(),
            "median_sample_corr": float(np.median(sample_corr)),
        }
    )


def _compact(pred: PredictiveDistribution, truth: np.ndarray, seed: int) -> dict:
    """Coverage (DEFAULT_LEVELS, central), PIT KS p, miscalibration area and CRPS of one prediction."""
    cov = coverage(pred, truth, DEFAULT_LEVELS).as_dict()
    test = pit_uniformity(pit(pred, truth, rng=seed))
    return {
        "coverage": cov,
        "cells": _coverage_cells(cov),
        "pit_ks_pvalue": test.ks_pvalue,
        "miscalibration_area": test.miscalibration_area,
        "crps": float(np.mean(crps(pred, truth))),
    }


def _judge_rows(truth: Truth, quantity: str, models: Sequence[ModelPredictions]) -> np.ndarray:
    values, errors = truth.values[quantity], truth.errors[quantity]
    good = np.isfinite(values) & np.isfinite(errors) & (np.nan_to_num(errors) > 0)
    if quantity in ("mass", "age"):
        good &= np.nan_to_num(values) > 0
    for model in models:
        good &= model.usable
    return np.flatnonzero(good)


def recalibration_study(
    models_val: Sequence[ModelPredictions],
    truth_val: Truth,
    models: Sequence[ModelPredictions],
    truth: Truth,
    quantities: Sequence[str],
    levels: Sequence[float] = REPORT_LEVELS,
    seed: int = 0,
) -> dict:
    """Isotonic and CQR recalibrators fitted on validation stars, judged on the campaign's stars.

    Two fitting spaces per method:

    - ``"label"``: fitted on the raw prediction against the validation labels (what recalibrating
      against derived labels gives); judged naive (against the truths as they are) and noise-aware (the
      recalibrated prediction convolved with the truth's error).
    - ``"noise-aware"``: fitted on the prediction convolved with the validation labels' errors; applied
      to the campaign's prediction convolved with its truths' errors; judged against the truths.

    Args:
        models_val: Predictions for the validation stars (same model order as ``models``).
        truth_val: Validation truths.
        models: Predictions for the campaign's stars.
        truth: The campaign's truths.
        quantities: Quantities to recalibrate.
        levels: CQR levels.
        seed: Seed of the noise draws and randomised PIT.

    Returns:
        JSON-ready ``{model: {quantity: {"n_fit", "n", "before": {"naive", "noise_aware"},
        "<method>/<space>": {"naive"?, "noise_aware", "error"?}}}}``.
    """
    out: dict[str, dict] = {}
    for model_val, model in zip(models_val, models):
        per_quantity: dict[str, dict] = {}
        for quantity in quantities:
            rows_val = _judge_rows(truth_val, quantity, [model_val])
            rows = _judge_rows(truth, quantity, list(models))
            if rows_val.size < 20 or rows.size < 2:
                per_quantity[quantity] = {
                    "n_fit": int(rows_val.size),
                    "n": int(rows.size),
                    "error": "too few stars to fit or judge",
                }
                continue
            y_val, e_val = truth_val.values[quantity][rows_val], truth_val.errors[quantity][rows_val]
            y, e = truth.values[quantity][rows], truth.errors[quantity][rows]
            pred_val = model_val.predictions[quantity].take(rows_val)
            pred = model.predictions[quantity].take(rows)
            pred_val_noisy = pred_val.convolve(e_val, rng=np.random.default_rng(seed))
            pred_noisy = pred.convolve(e, rng=np.random.default_rng(seed))
            entry: dict[str, Any] = {
                "n_fit": int(rows_val.size),
                "n": int(rows.size),
                "before": {"naive": _compact(pred, y, seed), "noise_aware": _compact(pred_noisy, y, seed)},
            }
            makers = {
                "isotonic": lambda: IsotonicRecalibrator(),
                "cqr": lambda: ConformalQuantileRecalibrator(levels),
            }
            for method, make in makers.items():
                try:
                    fitted = make().fit(pred_val, y_val, rng=seed)
                    after = fitted.apply(pred)
                    entry[f"{method}/label"] = {
                        "naive": _compact(after, y, seed),
                        "noise_aware": _compact(after.convolve(e, rng=np.random.default_rng(seed)), y, seed),
                    }
                except ValueError as exc:
                    entry[f"{method}/label"] = {"error": str(exc)}
                try:
                    fitted = make().fit(pred_val_noisy, y_val, rng=seed)
                    entry[f"{method}/noise-aware"] = {
                        "noise_aware": _compact(fitted.apply(pred_noisy), y, seed)
                    }
                except ValueError as exc:
                    entry[f"{method}/noise-aware"] = {"error": str(exc)}
            per_quantity[quantity] = entry
        out[model.name] = per_quantity
    return to_json_ready(out)


def _joint_inputs(truth: Truth, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mass, age = truth.values["mass"][rows], truth.values["age"][rows]
    ln_truth = np.stack([np.log(mass), np.log(age)], axis=1)  # [N, 2]
    ln_error = np.stack([truth.errors["mass"][rows] / mass, truth.errors["age"][rows] / age], axis=1)
    return ln_truth, ln_error


def evaluate_campaign(
    truth: Truth,
    models: Sequence[ModelPredictions],
    config: CampaignConfig,
    validation: tuple[Truth, Sequence[ModelPredictions]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Judge every model and quantity, the joint mass-age posterior, and (optionally) recalibration.

    All models are judged on the same stars per quantity: a finite truth with a positive error, and a
    usable prediction from every model.

    Args:
        truth: The campaign's stars and truths.
        models: Predictions for those stars (e.g. bayesxp and the baseline).
        config: ``quantities``, ``group_bins``, ``min_group_stars``, ``hdi``, ``seed``,
            ``recalibration_levels``.
        validation: ``(validation truth, predictions for it)`` to fit recalibrators on; None: no study.
        progress: Called with a line per step.

    Returns:
        JSON-ready ``{"models": {model: {"info", "quantities": {q: evaluate_quantity(...)}}}, "joint",
        "recalibration", "n_judged"}``.
    """
    say = progress or (lambda _: None)
    out: dict[str, Any] = {
        "models": {m.name: {"info": m.info, "quantities": {}} for m in models},
        "n_judged": {},
        "joint": {},
        "recalibration": None,
    }
    for quantity in config.quantities:
        rows = _judge_rows(truth, quantity, models)
        out["n_judged"][quantity] = int(rows.size)
        if rows.size < 2:
            say(f"{quantity}: fewer than two stars with a truth, skipped")
            continue
        covariates = {k: (v[rows], b) for k, (v, b) in truth.covariates.items()}
        for model in models:
            clock = time.perf_counter()
            result = evaluate_quantity(
                model.predictions[quantity].take(rows),
                truth.values[quantity][rows],
                truth.errors[quantity][rows],
                quantity,
                covariates,
                config.group_bins,
                config.min_group_stars,
                config.hdi,
                config.seed,
            )
            out["models"][model.name]["quantities"][quantity] = result
            say(f"{model.name} {quantity}: {rows.size} stars judged ({time.perf_counter() - clock:.1f} s)")
    if "mass" in config.quantities and "age" in config.quantities:
        rows = np.intersect1d(_judge_rows(truth, "mass", models), _judge_rows(truth, "age", models))
        out["n_judged"]["mass_age"] = int(rows.size)
        if rows.size >= 2:
            ln_truth, ln_error = _joint_inputs(truth, rows)
            corr = truth.ln_mass_age_corr[rows]
            rng = np.random.default_rng(config.seed)
            for model in models:
                if model.joint_ln_mass_age is not None:
                    draws = model.joint_ln_mass_age[:, rows]  # [S, n, 2]
                    variants = {model.name: draws}
                    shuffled = draws.copy()
                    shuffled[..., 1] = rng.permuted(shuffled[..., 1], axis=0)  # age draws decoupled from mass
                    variants[f"{model.name} (mass-age correlation removed)"] = shuffled
                else:  # independent marginals: the model has no mass-age correlation
                    s = config.num_samples
                    draws = np.stack(
                        [
                            np.log(model.predictions["mass"].take(rows).sample(s, rng)),
                            np.log(model.predictions["age"].take(rows).sample(s, rng)),
                        ],
                        axis=-1,
                    )
                    variants = {f"{model.name} (independent marginals)": draws}
                for name, samples in variants.items():
                    out["joint"][name] = {
                        "model": model.name,
                        "noise_aware": joint_mass_age(samples, ln_truth, ln_error, corr, config.seed),
                        "naive": joint_mass_age(samples, ln_truth, None, None, config.seed),
                    }
            say(f"joint mass-age: {rows.size} stars judged")
    if validation is not None:
        truth_val, models_val = validation
        clock = time.perf_counter()
        out["recalibration"] = {
            "fitted_on": {"split": "val", "n_stars": len(truth_val), "description": truth_val.description},
            "levels_cqr": list(config.recalibration_levels),
            "results": recalibration_study(
                models_val,
                truth_val,
                models,
                truth,
                config.quantities,
                config.recalibration_levels,
                config.seed,
            ),
        }
        say(f"recalibration study ({time.perf_counter() - clock:.0f} s)")
    return to_json_ready(out)


# ------------------------------------------------------------------------------------------------ report
def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.{digits}f}"


def _pvalue(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def _cell(entry: dict) -> str:
    """``0.66 [0.61, 0.71]``, with a dagger when the nominal level is outside the band."""
    if not entry or entry.get("coverage") is None:
        return "-"
    mark = "" if entry.get("consistent", True) else " †"
    return f"{entry['coverage']:.2f} [{entry['lower']:.2f}, {entry['upper']:.2f}]{mark}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def quantity_table(model_results: Mapping[str, Mapping[str, dict]], naive: bool = False) -> str:
    """The per-model, per-quantity Markdown table of the report.

    Args:
        model_results: ``{model: {quantity: evaluate_quantity(...)}}``.
        naive: Coverage, PIT, CRPS and NLL of the prediction as it is, instead of noise-aware.

    Returns:
        Markdown: ``n, bias, std, mad_std, mad_std frac/dex``, coverage at :data:`REPORT_LEVELS` with
        95% Jeffreys bands (``†``: nominal outside the band), PIT KS p, miscalibration area, CRPS, NLL.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> row = evaluate_quantity(GaussianPrediction(np.zeros(200), 1.0), np.zeros(200), 0.1, "logg", hdi=False)
        >>> "†" in quantity_table({"m": {"logg": row}})  # far too wide: over-covered
        True
    """
    suffix = "_naive" if naive else ""
    header = [
        "model",
        "quantity",
        "unit",
        "n",
        "bias",
        "std",
        "mad_std",
        "mad_std frac/dex",
        *[f"cov {a:g}" for a in REPORT_LEVELS],
        "PIT KS p",
        "miscal. area",
        "CRPS",
        "NLL",
    ]
    rows = []
    for model, by_quantity in model_results.items():
        for quantity in QUANTITIES:
            if quantity not in by_quantity:
                continue
            t = by_quantity[quantity]["table"]
            digits = 1 if quantity == "teff" else 3
            cells = t["coverage" + suffix]
            rows.append(
                [
                    model,
                    quantity,
                    unit_name(quantity),
                    str(t["n"]),
                    _fmt(t["bias"], digits),
                    _fmt(t["std"], digits),
                    _fmt(t["mad_std"], digits),
                    _fmt(t.get("mad_std_relative")),
                    *[_cell(cells.get(f"{a:g}", {})) for a in REPORT_LEVELS],
                    _pvalue(t["pit_ks_pvalue" + suffix]),
                    _fmt(t["miscalibration_area" + suffix]),
                    _fmt(t["crps" + suffix], digits),
                    _fmt(t["nll" + suffix]),
                ]
            )
    return _table(header, rows)


def _joint_table(joint: Mapping[str, dict]) -> str:
    header = [
        "model",
        "label noise",
        "n",
        *[f"HDR {a:g}" for a in REPORT_LEVELS],
        "HDR cred. KS p",
        "TARP KS p",
        "TARP area",
        "median draw corr",
    ]
    rows = []
    for name, entry in joint.items():
        for key, words in (("noise_aware", "added"), ("naive", "none")):
            r = entry[key]
            cells = _coverage_cells(r["hdr_coverage"])
            rows.append(
                [
                    name,
                    words,
                    str(r["n"]),
                    *[_cell(cells[f"{a:g}"]) for a in REPORT_LEVELS],
                    _pvalue(r["hdr_ks_pvalue"]),
                    _pvalue(r["tarp"]["ks_pvalue"]),
                    _fmt(r["tarp"]["area"]),
                    _fmt(r["median_sample_corr"], 2),
                ]
            )
    return _table(header, rows)


def _worst_table(model_results: Mapping[str, Mapping[str, dict]]) -> str:
    header = ["model", "quantity", "covariate", "group", "n", "level", "coverage [band]", "PIT KS p of group"]
    rows = []
    for model, by_quantity in model_results.items():
        for quantity in QUANTITIES:
            worst = by_quantity.get(quantity, {}).get("worst_group")
            if not worst:
                continue
            group_table = by_quantity[quantity]["groups"][worst["covariate"]]
            j = group_table["group"].index(worst["group"])
            rows.append(
                [
                    model,
                    quantity,
                    _COVARIATE_TITLES.get(worst["covariate"], worst["covariate"]),
                    worst["group"],
                    str(worst["n"]),
                    f"{worst['level']:g}",
                    _cell(worst),
                    _pvalue(group_table["pit_ks_pvalue"][j]),
                ]
            )
    return _table(header, rows)


def _recalibration_table(recalibration: dict) -> str:
    header = [
        "model",
        "quantity",
        "method (fit space)",
        "n fit",
        "n",
        "judged",
        *[f"cov {a:g}" for a in REPORT_LEVELS],
        "PIT KS p",
        "CRPS",
    ]
    rows = []
    for model, by_quantity in recalibration["results"].items():
        for quantity in QUANTITIES:
            entry = by_quantity.get(quantity)
            if not entry:
                continue
            if "before" not in entry:
                rows.append(
                    [
                        model,
                        quantity,
                        "-",
                        str(entry["n_fit"]),
                        str(entry["n"]),
                        entry.get("error", "-"),
                        *["-"] * len(REPORT_LEVELS),
                        "-",
                        "-",
                    ]
                )
                continue
            variants = [("before", entry["before"])] + [(k, v) for k, v in entry.items() if "/" in k]
            for name, result in variants:
                if "error" in result:
                    rows.append(
                        [
                            model,
                            quantity,
                            name,
                            str(entry["n_fit"]),
                            str(entry["n"]),
                            f"failed: {result['error']}",
                            *["-"] * len(REPORT_LEVELS),
                            "-",
                            "-",
                        ]
                    )
                    continue
                for judged in ("naive", "noise_aware"):
                    if judged not in result:
                        continue
                    r = result[judged]
                    digits = 1 if quantity == "teff" else 3
                    rows.append(
                        [
                            model,
                            quantity,
                            name,
                            str(entry["n_fit"]),
                            str(entry["n"]),
                            judged.replace("_", "-"),
                            *[_cell(r["cells"][f"{a:g}"]) for a in REPORT_LEVELS],
                            _pvalue(r["pit_ks_pvalue"]),
                            _fmt(r["crps"], digits),
                        ]
                    )
    return _table(header, rows)


def report_markdown(results: Mapping[str, Any]) -> str:
    """The campaign's ``report.md``, read from its results dict only.

    Args:
        results: What :func:`run_campaign` returns.

    Returns:
        Markdown text.
    """
    config = results["config"]
    truth = results["truth"]
    model_results = {name: m["quantities"] for name, m in results["models"].items()}
    parts = [f"# Calibration campaign `{config['name']}`"]
    if config.get("note"):
        parts.append(f"> **Note.** {config['note']}")
    parts.append(
        f"Labels: `{config['labels']}` ({truth['kind']}). Truth: {truth['description']}.\n\n"
        f"Models: {', '.join(f'**{k}** ({v})' for k, v in results['model_sources'].items())}.\n\n"
        f"Command: `{results['command']}`; runtime {results['runtime_seconds']:.0f} s; bayesxp "
        f"{results['versions']['bayesxp']}."
    )
    count_rows = [
        [k.replace("_", " "), str(v)] for k, v in truth["counts"].items() if not isinstance(v, dict)
    ]
    splits = truth["counts"].get("split_of_stars")
    if splits:
        count_rows.append(["hash split of these stars", ", ".join(f"{k} {v}" for k, v in splits.items())])
    count_rows += [[f"judged: {k.replace('_', '-')}", str(v)] for k, v in results["n_judged"].items()]
    parts.append(
        "## Stars\n\nJudged per quantity: stars with a finite truth, a positive truth error and a "
        "usable prediction from every model.\n\n" + _table(["count", "stars"], count_rows)
    )
    parts.append(
        "## Per model and quantity, label-noise aware\n\n"
        "Each prediction is convolved with the truth's own 1-sigma error before judging (the prediction of "
        "a noisy label). bias = median of (predictive median - truth); std and mad_std (1.4826 x MAD) of the "
        "same; mad_std frac/dex: mass as a fraction of the truth, age in dex. Coverage of central intervals "
        "with the 95% Jeffreys band; † marks a nominal level outside it. CRPS and NLL are means over stars "
        "of the noise-aware prediction.\n\n" + quantity_table(model_results)
    )
    parts.append(
        "## Naive (the prediction as it is, label noise ignored)\n\n"
        + quantity_table(model_results, naive=True)
    )
    if results["joint"]:
        parts.append(
            "## Joint (ln mass, ln age)\n\n"
            "HDR: coverage of Gaussian highest-density regions fitted to half of each star's draws (exactly "
            "uniform credibility under calibration); TARP: Lemos et al. 2023 expected coverage. 'added': the "
            "truth's label noise (ln-space errors, with the transfer's correlation on the test split) is "
            "added to the draws. The baseline has no joint posterior: its draws are independent marginals. "
            "'mass-age correlation removed': bayesxp's age draws permuted per star, as a control.\n\n"
            + _joint_table(results["joint"])
        )
    parts.append(
        "## Worst subgroups (noise-aware)\n\n"
        f"Groups: {', '.join(_COVARIATE_TITLES.get(k, k) for k in results['covariates'])} "
        f"({config['group_bins']} equal-count bins for numbers); the worst (group, level) by |coverage - "
        f"nominal| among groups of at least {config['min_group_stars']} stars, at levels "
        f"{', '.join(f'{a:g}' for a in GROUP_LEVELS)}. All groups are in results.json and the "
        "group_coverage_*.png figures.\n\n" + _worst_table(model_results)
    )
    if results.get("recalibration"):
        recal = results["recalibration"]
        parts.append(
            "## Recalibration\n\n"
            f"Fitted on {recal['fitted_on']['n_stars']} validation stars ({recal['fitted_on']['description']}), "
            "judged here. Fit space 'label': the raw prediction fitted against the validation labels (intervals "
            "for the *label*; judged naive and with the truth's noise added on top, which double counts the "
            "label noise if the labels are as noisy as the truths); 'noise-aware': the prediction convolved "
            "with the validation labels' errors, applied to this campaign's prediction convolved with its "
            f"truths' errors. CQR conformalises the levels {', '.join(f'{a:g}' for a in recal['levels_cqr'])}."
            "\n\n" + _recalibration_table(recal)
        )
    parts.append(
        "## Figures\n\n"
        + "\n".join(
            f"- `{name}`: {words}"
            for name, words in FIGURES.items()
            if any(f.startswith(name.split("<")[0]) for f in results.get("files", []))
        )
    )
    parts.append("## Notes\n\n" + "\n".join(f"- {line}" for line in results.get("notes", [])))
    return "\n\n".join(parts) + "\n"


FIGURES = {
    "reliability.png": "reliability curves per quantity, bayesxp vs baseline; top row noise-aware, bottom naive",
    "pit_histograms.png": "noise-aware PIT histograms, one row per model, one column per quantity",
    "group_coverage_<quantity>.png": "68% coverage per subgroup (rows: covariates, columns: models)",
    "tarp.png": "TARP expected-coverage curves of the joint (ln mass, ln age) draws, label noise added",
    "recalibration.png": "noise-aware reliability before and after recalibration (noise-aware fit space)",
}


def _coverage_from_dict(d: dict) -> CoverageResult:
    cov = np.asarray(d["coverage"], float)
    return CoverageResult(
        level=np.asarray(d["level"], float),
        coverage=cov,
        n_inside=np.round(cov * d["n"]),
        n=int(d["n"]),
        lower=np.asarray(d["lower"], float),
        upper=np.asarray(d["upper"], float),
        consistent=np.asarray(d["consistent"], bool),
        kind=d["kind"],
        confidence=float(d["confidence"]),
        method=d["method"],
    )


def _nan(values: Sequence) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _group_from_dict(d: dict) -> GroupCoverage:
    return GroupCoverage(
        group=np.asarray(d["group"]),
        n=np.asarray(d["n"]),
        level=np.asarray(d["level"], float),
        coverage=np.array([_nan(r) for r in d["coverage"]]),
        lower=np.array([_nan(r) for r in d["lower"]]),
        upper=np.array([_nan(r) for r in d["upper"]]),
        consistent=np.asarray(d["consistent"], bool),
        pit_ks_pvalue=_nan(d["pit_ks_pvalue"]),
        bias=_nan(d["bias"]),
        mad_std=_nan(d["mad_std"]),
        edges=None if d["edges"] is None else np.asarray(d["edges"], float),
        kind=d["kind"],
        confidence=float(d["confidence"]),
        worst=d["worst"],
    )


def _figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure of the report as ``{file name: matplotlib Figure}``, read from the results only."""
    from matplotlib.figure import Figure

    from bayesxp.calibration.joint import TARPResult
    from bayesxp.calibration.pit import PITTest
    from bayesxp.calibration.plots import plot_group_coverage, plot_pit_histogram, plot_reliability, plot_tarp

    models = {name: m["quantities"] for name, m in results["models"].items()}
    quantities = [q for q in QUANTITIES if any(q in by_q for by_q in models.values())]
    figures: dict[str, Any] = {}
    if not quantities:
        return figures
    fig = Figure(figsize=(3.6 * len(quantities), 7.2), layout="constrained")
    axes = np.atleast_2d(fig.subplots(2, len(quantities), squeeze=False))
    for j, quantity in enumerate(quantities):
        for i, key in enumerate(("noise_aware", "naive")):
            names = [m for m in models if quantity in models[m]]
            plot_reliability(
                [_coverage_from_dict(models[m][quantity][key]["coverage"]) for m in names],
                labels=names,
                ax=axes[i, j],
            )
            axes[i, j].set_title(f"{quantity} ({'noise-aware' if i == 0 else 'naive'})", fontsize="small")
    figures["reliability.png"] = fig

    fig = Figure(figsize=(3.6 * len(quantities), 2.8 * len(models)), layout="constrained")
    axes = fig.subplots(len(models), len(quantities), squeeze=False)
    for i, (name, by_q) in enumerate(models.items()):
        for j, quantity in enumerate(quantities):
            ax = axes[i, j]
            if quantity not in by_q:
                ax.set_axis_off()
                continue
            h = by_q[quantity]["pit_histogram"]
            test = PITTest(
                n=h["n"],
                ks_statistic=h["ks_statistic"],
                ks_pvalue=h["ks_pvalue"],
                chi2_statistic=h["chi2_statistic"],
                chi2_pvalue=h["chi2_pvalue"],
                miscalibration_area=h["miscalibration_area"],
                edges=np.asarray(h["edges"]),
                counts=np.asarray(h["counts"]),
                expected=h["expected"],
                band_lower=np.asarray(h["band_lower"]),
                band_upper=np.asarray(h["band_upper"]),
                confidence=h["confidence"],
            )
            plot_pit_histogram(test, ax=ax)
            ax.set_title(f"{name} {quantity}\n{ax.get_title()}", fontsize="small")
    figures["pit_histograms.png"] = fig

    for quantity in quantities:
        covariates = [
            c
            for c in results["covariates"]
            if any(c in models[m].get(quantity, {}).get("groups", {}) for m in models)
        ]
        if not covariates:
            continue
        fig = Figure(figsize=(5.0 * len(models), 3.4 * len(covariates)), layout="constrained")
        axes = fig.subplots(len(covariates), len(models), squeeze=False)
        for i, covariate in enumerate(covariates):
            for j, name in enumerate(models):
                groups = models[name].get(quantity, {}).get("groups", {})
                if covariate not in groups:
                    axes[i, j].set_axis_off()
                    continue
                plot_group_coverage(_group_from_dict(groups[covariate]), level=0.68, ax=axes[i, j])
                axes[i, j].set_title(
                    f"{name} {quantity}: {_COVARIATE_TITLES.get(covariate, covariate)}", fontsize="small"
                )
        figures[f"group_coverage_{quantity}.png"] = fig

    if results["joint"]:
        names = list(results["joint"])
        fig = Figure(figsize=(3.8 * len(names), 3.9), layout="constrained")
        axes = fig.subplots(1, len(names), squeeze=False)
        for j, name in enumerate(names):
            t = results["joint"][name]["noise_aware"]["tarp"]
            plot_tarp(
                TARPResult(
                    alpha=np.asarray(t["alpha"]),
                    ecp=np.asarray(t["ecp"]),
                    f=np.empty(0),
                    max_deviation=t["max_deviation"],
                    area=t["area"],
                    ks_statistic=t["ks_statistic"],
                    ks_pvalue=t["ks_pvalue"],
                ),
                ax=axes[0, j],
            )
            axes[0, j].set_title(f"{name}\n{axes[0, j].get_title()}", fontsize="small")
        figures["tarp.png"] = fig

    recal = (results.get("recalibration") or {}).get("results")
    if recal:
        fig = Figure(figsize=(3.6 * len(quantities), 3.7 * len(recal)), layout="constrained")
        axes = fig.subplots(len(recal), len(quantities), squeeze=False)
        for i, (name, by_q) in enumerate(recal.items()):
            for j, quantity in enumerate(quantities):
                entry = by_q.get(quantity, {})
                curves, labels = [], []
                for key, label in (
                    ("before", "before"),
                    ("isotonic/noise-aware", "isotonic"),
                    ("cqr/noise-aware", "CQR"),
                ):
                    part = entry.get(key, {}).get("noise_aware")
                    if part:
                        curves.append(_coverage_from_dict(part["coverage"]))
                        labels.append(label)
                if not curves:
                    axes[i, j].set_axis_off()
                    continue
                plot_reliability(curves, labels=labels, ax=axes[i, j])
                axes[i, j].set_title(f"{name} {quantity} (noise-aware)", fontsize="small")
        figures["recalibration.png"] = fig
    return figures


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_outputs(
    results: dict, folder: str | Path, config: CampaignConfig | None = None, figures: bool = True
) -> list[Path]:
    """Write ``results.json``, ``report.md``, ``config.yaml`` and the PNG figures, each atomically.

    Every file is written to a temporary name next to it and renamed over the target only when complete
    (:func:`bayesxp.io.tables.atomic_path`): a failure leaves the previous file, never a partial one.

    Args:
        results: What :func:`run_campaign` computed (JSON-ready).
        folder: Output folder (created).
        config: The resolved config to save as ``config.yaml`` (None: skip).
        figures: Draw the figures.

    Returns:
        The paths written.
    """
    import matplotlib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    # gaiaxpy's plotter (imported with the XP projection) sets text.usetex globally; no LaTeX is needed here
    with matplotlib.rc_context({"text.usetex": False}):
        drawn = _figures(results) if figures else {}
        results["files"] = sorted(["results.json", "report.md", *(["config.yaml"] if config else []), *drawn])
        for name, fig in drawn.items():
            with atomic_path(folder / name) as tmp:
                fig.savefig(tmp, dpi=100, format="png")
            written.append(folder / name)
    if config is not None:
        save_config(config, folder / "config.yaml")
        written.append(folder / "config.yaml")
    written.append(
        _write_text(folder / "results.json", json.dumps(to_json_ready(results), indent=1, allow_nan=False))
    )
    written.append(_write_text(folder / "report.md", report_markdown(results)))
    return written


NOTES = [
    "Noise-aware numbers judge the prediction convolved with the truth's own error (DESIGN: DistMass and "
    "transferred labels are themselves predictions); naive numbers ignore it. Both are in results.json.",
    "The baseline's mass and age are predictions of the true value when baseline_propagate_label_error is "
    "true (its predicted label-transfer error is convolved in); judging them noise-aware then adds the "
    "truth's error once more, which is right: a noisy label is the true value plus its own noise.",
    "Coverage bands are 95% Jeffreys intervals per level; with L levels tested at once, expect about 5% of "
    "the daggers by chance (use a Bonferroni reading for a pass/fail over all levels).",
    "PIT values of draws are randomised ranks (exactly uniform under calibration for any S).",
]


# ----------------------------------------------------------------------------------------------- running
def judge_predictions(
    config: CampaignConfig,
    truth: Truth,
    models: Sequence[ModelPredictions],
    validation: tuple[Truth, Sequence[ModelPredictions]] | None = None,
    model_sources: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
    timing: dict[str, float] | None = None,
    write: bool = True,
) -> dict:
    """Evaluate predictions already made, assemble the results and (optionally) write the report.

    The second half of :func:`run_campaign`, usable on its own with any predictions (tests, notebooks).

    Args:
        config: The campaign (evaluation settings, output folder, name, note).
        truth: The stars and their truths.
        models: Predictions for those stars.
        validation: ``(validation truth, predictions)`` for the recalibration study, or None.
        model_sources: ``{model: where it came from}`` for the report.
        progress: Called with a line per step.
        command: The command line to record.
        timing: Seconds of the earlier steps, recorded with the evaluation's.
        write: Write the outputs to :meth:`CampaignConfig.output_folder`.

    Returns:
        The JSON-ready results (see :func:`run_campaign`).
    """
    started = time.perf_counter()
    timing = dict(timing or {})
    evaluation = evaluate_campaign(truth, models, config, validation, progress)
    timing["evaluate_s"] = time.perf_counter() - started
    results: dict[str, Any] = {
        "campaign": config.name,
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "config": to_dict(config),
        "versions": _versions(any(m.name == "baseline" for m in models)),
        "truth": {"kind": truth.kind, "description": truth.description, "counts": truth.counts},
        "model_sources": dict(model_sources or {m.name: m.name for m in models}),
        "covariates": list(truth.covariates),
        **evaluation,
        "notes": NOTES + ([f"Note from the config: {config.note}"] if config.note else []),
        "timing": timing,
        "runtime_seconds": float(sum(timing.values())),  # up to the writing of the outputs
    }
    if write:
        folder = config.output_folder()
        write_outputs(results, folder, config)
        if progress:
            progress(
                f"wrote {folder}: report.md, results.json, config.yaml and {len(results['files']) - 3} figures"
            )
    return to_json_ready(results)


def run_campaign(
    config: CampaignConfig, progress: bool = False, command: str | None = None, write: bool = True
) -> dict:
    """Run one campaign end to end: truths, predictions, evaluation, report.

    Args:
        config: The campaign.
        progress: Print a line per step.
        command: The command line to record (default: ``sys.argv``).
        write: Write the outputs to :meth:`CampaignConfig.output_folder`.

    Returns:
        The JSON-ready results (also ``results.json``): ``campaign``, ``command``, ``config``,
        ``versions``, ``truth`` (kind, description, counts), ``model_sources``, ``covariates``,
        ``models`` (``{model: {"info", "quantities": {q: evaluate_quantity(...)}}}``), ``n_judged``,
        ``joint``, ``recalibration``, ``notes``, ``timing``, ``runtime_seconds``, ``files``.

    Raises:
        BayesXPError: Unreadable label files or model folders, a missing data folder.
    """
    from bayesxp.model.bayesian import load

    started = time.perf_counter()
    timing: dict[str, float] = {}

    def say(message: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    def lap(name: str, clock: float) -> None:
        timing[name] = time.perf_counter() - clock

    kind = config.source_kind
    needs_ts = (
        kind == "test-split" or config.recalibrate or (config.baseline is None and not config.skip_baseline)
    )
    clock = time.perf_counter()
    training_set = _training_set(config) if needs_ts else None
    lap("training_set_s", clock)
    clock = time.perf_counter()
    say(f"building the truth table ({config.labels})")
    truth = build_truth(config, training_set)
    lap("truth_s", clock)
    say(f"{len(truth)} stars: {truth.counts}")

    clock = time.perf_counter()
    model = load(config.model)
    lap("load_model_s", clock)
    clock = time.perf_counter()
    baseline, baseline_source = load_or_fit_baseline(config, training_set, say)
    lap("baseline_s", clock)
    sources = {"bayesxp": str(config.model) if config.model else "shipped model (bayesxp/resources/model)"}
    if baseline is not None:
        sources["baseline"] = baseline_source

    def predict_all(stars: Any) -> list[ModelPredictions]:
        out = [predict_bayesxp(model, stars, config.num_samples, config.context, config.seed)]
        if baseline is not None:
            out.append(predict_baseline(baseline, stars, config.baseline_propagate_label_error))
        return out

    clock = time.perf_counter()
    say(f"predicting {len(truth)} stars")
    models = predict_all(truth.stars)
    lap("predict_s", clock)
    validation = None
    if config.recalibrate:
        clock = time.perf_counter()
        truth_val = validation_truth(config, training_set)
        say(f"predicting {len(truth_val)} validation stars (recalibration)")
        validation = (truth_val, predict_all(truth_val.stars))
        lap("predict_validation_s", clock)
    return judge_predictions(config, truth, models, validation, sources, say, command, timing, write)


def _versions(with_baseline: bool) -> dict:
    import torch

    versions = {
        "bayesxp": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if with_baseline:
        import xgboost

        versions["xgboost"] = xgboost.__version__
    return versions


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """A few lines for the terminal: 68% and 95% noise-aware coverage per model and quantity.

    Args:
        results: What :func:`run_campaign` returns.

    Returns:
        Lines of text.
    """
    lines = []
    for name, entry in results["models"].items():
        for quantity, r in entry["quantities"].items():
            t = r["table"]
            lines.append(
                f"{name:>8} {quantity:>5}: n={t['n']:<5} mad_std={_fmt(t['mad_std'])} "
                f"cov68={_cell(t['coverage']['0.68'])} cov95={_cell(t['coverage']['0.95'])} "
                f"(naive cov68 {_cell(t['coverage_naive']['0.68'])})"
            )
    return lines


def calibrate_command(
    model: str | None,
    labels: str,
    output: str,
    config: str | None = None,
    progress: bool = True,
    **overrides: Any,
) -> int:
    """The body of ``bayesxp calibrate --model DIR --labels FILE --output DIR``.

    Args:
        model: bayesxp model folder (None: the shipped model).
        labels: ``test-split``, ``seismic-dev``, a ``xp_seismic_dev.csv``-layout CSV or a DistMass FITS.
        output: Output folder (its name becomes the campaign name unless the config gives one).
        config: Optional campaign YAML for the other settings (CLI arguments win).
        progress: Print a line per step.
        **overrides: Further :class:`CampaignConfig` fields (``baseline``, ``skip_baseline``,
            ``num_samples``, ``max_stars``, ``recalibrate``...); None values are ignored.

    Returns:
        0 on success. User errors (unreadable files, bad config) raise
        :class:`~bayesxp.errors.BayesXPError`, which ``bayesxp.cli.main`` turns into exit code 2.

    Example:
        >>> import inspect
        >>> list(inspect.signature(calibrate_command).parameters)[:3]
        ['model', 'labels', 'output']
    """
    settings = load_campaign_config(config, labels=labels, output=output, model=model, **overrides)
    if config is None or settings.name == CampaignConfig.name:
        settings = dataclasses.replace(settings, name=Path(output).name or settings.name)
    command = "bayesxp calibrate " + " ".join(
        f"--{k} {v}" for k, v in (("model", model), ("labels", labels), ("output", output)) if v is not None
    )
    results = run_campaign(settings, progress=progress, command=command)
    for line in summary_lines(results):
        print(line)
    print(f"report: {Path(settings.output_folder()) / 'report.md'}")
    return 0


def config_from_dict(mapping: dict) -> CampaignConfig:
    """A :class:`CampaignConfig` from a plain mapping (e.g. ``results["config"]``), checking every key."""
    return from_dict(CampaignConfig, mapping)
