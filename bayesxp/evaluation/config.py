"""The configuration of a calibration campaign: :class:`CampaignConfig` and its YAML loader.

A campaign YAML (``calibration/configs/*.yaml``) only fills :class:`CampaignConfig`; the runner
(:mod:`bayesxp.evaluation.run`) is the one place that unpacks it. The report levels live here too, as the
config's defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bayesxp.config import from_dict, load_config
from bayesxp.quantities import QUANTITIES

__all__ = [
    "REPORT_LEVELS",
    "GROUP_LEVELS",
    "LABEL_WORDS",
    "CampaignConfig",
    "load_campaign_config",
    "config_from_dict",
]

REPORT_LEVELS = (0.5, 0.68, 0.9, 0.95)
"""Central-interval levels shown in the report tables (the JSON holds all of ``DEFAULT_LEVELS``)."""

GROUP_LEVELS = (0.68, 0.95)
"""Levels of the subgroup coverage tables."""

LABEL_WORDS = {"test-split": "test-split", "seismic-dev": "seismic"}
"""Label sources given by a word rather than a file."""


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


def config_from_dict(mapping: dict) -> CampaignConfig:
    """A :class:`CampaignConfig` from a plain mapping (e.g. ``results["config"]``), checking every key.

    Example:
        >>> config_from_dict({"name": "x", "max_stars": 10}).max_stars
        10
    """
    return from_dict(CampaignConfig, mapping)
