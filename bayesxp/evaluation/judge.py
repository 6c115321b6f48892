"""Judging predictions against truths: every number of a campaign and of the head-to-head benchmark.

- :func:`evaluate_quantity`: one quantity's calibration (noise-aware and naive coverage, PIT, CRPS, NLL,
  residuals, subgroups) of one prediction; :func:`benchmark_metrics` is the same numbers as the flat row
  of the head-to-head tables;
- noise-aware means by kind of truth (:mod:`bayesxp.evaluation.truth_noise`): a measured truth (label =
  truth + noise) is judged with the prediction convolved with its error; a derived truth (truth = label +
  error) with the prediction itself against one seeded draw of label + error, the same draw everywhere;
- :func:`joint_mass_age`: the joint (ln mass, ln age) check (HDR coverage, TARP);
- :func:`recalibration_study`: isotonic and CQR recalibrators fitted on validation stars, judged here;
- :func:`evaluate_campaign`: all of them for every model of a campaign, on the same stars per quantity.

Predictions are :class:`~bayesxp.posterior.Posterior` objects keyed by model name; truths are
:class:`~bayesxp.evaluation.truth.Truth` tables. Everything returns JSON-ready dicts; nothing here draws or
writes.

Example:
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
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from bayesxp.calibration import (
    DEFAULT_LEVELS,
    ConformalQuantileRecalibrator,
    CoverageResult,
    GroupCoverage,
    IsotonicRecalibrator,
    PredictiveDistribution,
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
from bayesxp.evaluation.config import GROUP_LEVELS, REPORT_LEVELS
from bayesxp.evaluation.joint_checks import JOINT_ORDER, evaluate_joint_all
from bayesxp.evaluation.truth import Truth
from bayesxp.evaluation.truth_noise import (
    DERIVED,
    MEASURED,
    NOISE_AWARE_TREATMENTS,
    check_truth_kind,
    draw_truths,
    ln_noise,
)
from bayesxp.posterior import Posterior
from bayesxp.quantities import QUANTITIES, unit_name

__all__ = [
    "coverage_cells",
    "evaluate_quantity",
    "benchmark_metrics",
    "joint_mass_age",
    "judge_rows",
    "naive_only_rows",
    "recalibration_study",
    "evaluate_campaign",
]


def _level_index(levels: Sequence[float], level: float) -> int:
    return int(np.argmin(np.abs(np.asarray(levels, float) - level)))


def coverage_cells(summary_coverage: dict, levels: Sequence[float] = REPORT_LEVELS) -> dict:
    """The coverage, band and verdict at some levels of a ``CoverageResult.as_dict()``, keyed ``"0.68"``...

    Example:
        >>> from bayesxp.calibration import GaussianPrediction, coverage
        >>> cov = coverage(GaussianPrediction(np.zeros(400), 1.0), np.zeros(400), [0.5, 0.68]).as_dict()
        >>> coverage_cells(cov, [0.68])["0.68"]["coverage"]
        1.0
    """
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
    judged: np.ndarray,
    truth: np.ndarray,
    covariate: np.ndarray,
    bins: int | None,
    min_stars: int,
    seed: int,
) -> GroupCoverage | None:
    """Coverage of ``scored`` against ``judged`` per group; residual bias and scatter of the point vs ``truth``."""
    if bins is None:
        names = np.unique(np.asarray(covariate).astype(str))
        if names.size < 2:
            return None
    elif np.sum(np.isfinite(np.asarray(covariate, float))) < 2:
        return None
    table = coverage_by_group(
        scored, judged, covariate, bins=bins, levels=GROUP_LEVELS, min_stars=min_stars, rng=seed
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
    error: np.ndarray | float | None,
    quantity: str,
    covariates: Mapping[str, tuple[np.ndarray, int | None]] | None = None,
    group_bins: int = 4,
    min_group_stars: int = 20,
    hdi: bool = True,
    seed: int = 0,
    truth_kind: str = MEASURED,
    truth_draw: np.ndarray | None = None,
) -> dict:
    """Every calibration number of one prediction against truths with their own errors.

    The noise-aware numbers depend on the kind of truth (:mod:`bayesxp.evaluation.truth_noise`):
    ``"measured"`` (label = truth + noise) judges the prediction convolved with the truth's error against
    the label; ``"derived"`` (truth = label + error) judges the prediction itself, not widened, against
    one seeded draw of label + error (``truth_draw``, or drawn here from ``seed``: in ln space for mass and
    age). The naive ones judge the prediction as it is against the label. Residuals (bias = median, std,
    mad_std) always use the prediction's median against the label; mass also as a fraction of the truth,
    age in dex. Without an error (``error=None``) only the naive numbers are computed; the noise-aware
    entries are None and the PIT histogram and subgroups judge the prediction as it is.

    Args:
        pred: Prediction over N stars (all judged: select rows before).
        truth: ``(N,)`` true values (labels).
        error: ``(N,)`` or scalar 1-sigma error of the truths, or None (naive numbers only).
        quantity: One of :data:`QUANTITIES` (names the unit and the relative scatter).
        covariates: ``{name: ((N,) values, bins)}`` for the subgroup tables (``bins`` None: categories;
            a negative number: ``group_bins`` equal-count bins).
        group_bins: Bins per numeric covariate.
        min_group_stars: Smallest group eligible as the worst.
        hdi: Also report HDI coverage.
        seed: Seed of the label-noise draws and randomised PIT.
        truth_kind: ``"measured"`` or ``"derived"``.
        truth_draw: ``(N,)`` the derived truth's draw of label + error (derived only; None: drawn here).

    Returns:
        JSON-ready ``{"quantity", "unit", "n", "truth_kind", "noise_aware_treatment", "table",
        "noise_aware", "naive", "pit_histogram", "groups", "worst_group"}``; ``table`` holds the report's
        row (coverage at :data:`REPORT_LEVELS` with binomial bands, noise-aware and naive); ``noise_aware``
        and ``naive`` are :func:`~bayesxp.calibration.calibration_summary` dicts.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(1)
        >>> true = rng.normal(size=1500); label = true + rng.normal(0, 0.5, 1500)
        >>> out = evaluate_quantity(GaussianPrediction(true + rng.normal(size=1500), 1.0), label, 0.5, "logg")
        >>> out["table"]["coverage"]["0.68"]["consistent"], out["table"]["coverage_naive"]["0.68"]["consistent"]
        (True, False)
        >>> out["noise_aware_treatment"]
        'convolve prediction (measured truth)'
    """
    check_truth_kind(truth_kind)
    truth = np.asarray(truth, float)
    noisy = error is not None
    treatment = NOISE_AWARE_TREATMENTS[truth_kind] if noisy else None
    if noisy:
        error = np.broadcast_to(np.asarray(error, float), truth.shape).copy()
        if truth_kind == DERIVED:
            if truth_draw is None:
                truth_draw = draw_truths({quantity: truth}, {quantity: error}, 0.0, seed)[quantity]
            judged = np.asarray(truth_draw, float)
            summary = calibration_summary(pred, judged, hdi=hdi, rng=seed)
            scored = pred
        else:
            judged = truth
            summary = calibration_summary(pred, truth, label_error=error, hdi=hdi, rng=seed)
            scored = pred.convolve(error, rng=np.random.default_rng(seed))  # the draws calibration_summary used
        summary["noise_aware_treatment"] = treatment
    else:
        summary, scored, judged = None, pred, truth
    naive = calibration_summary(pred, truth, hdi=False, rng=seed)
    aware = summary or {}
    pit_test = pit_uniformity(pit(scored, judged, rng=seed))
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
        "truth_kind": truth_kind,
        "noise_aware_treatment": treatment,
        "bias": naive["residual"]["bias"],  # residuals of the prediction itself: the same in both summaries
        "std": naive["residual"]["std"],
        "mad_std": naive["residual"]["mad_std"],
        "relative_kind": relative_name,
        "mad_std_relative": mad_std(relative) if relative is not None else None,
        "bias_relative": float(np.median(relative)) if relative is not None else None,
        "median_error_of_truth": float(np.median(error)) if noisy else None,
        "median_predicted_std": float(np.median(pred.std())),
        "coverage": coverage_cells(aware["coverage"]) if noisy else None,
        "coverage_naive": coverage_cells(naive["coverage"]),
        "pit_ks_pvalue": aware.get("pit", {}).get("ks_pvalue"),
        "pit_ks_pvalue_naive": naive["pit"]["ks_pvalue"],
        "miscalibration_area": aware.get("miscalibration_area"),
        "miscalibration_area_naive": naive["miscalibration_area"],
        "crps": aware.get("crps"),
        "nll": aware.get("nll"),
        "crps_naive": naive["crps"],
        "nll_naive": naive["nll"],
    }
    groups: dict[str, dict] = {}
    worst: dict = {}
    for name, (values, bins) in (covariates or {}).items():
        bins = group_bins if (bins is not None and bins < 0) else bins
        result = _group_table(scored, point, judged, truth, np.asarray(values), bins, min_group_stars, seed)
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
            "truth_kind": truth_kind,
            "noise_aware_treatment": treatment,
            "table": table,
            "noise_aware": summary,
            "naive": naive,
            "pit_histogram": histogram,
            "groups": groups,
            "worst_group": worst,
        }
    )


def benchmark_metrics(
    pred: PredictiveDistribution,
    truth: np.ndarray,
    error: np.ndarray | None,
    quantity: str,
    truth_kind: str = MEASURED,
) -> dict:
    """The head-to-head benchmark's flat row: :func:`evaluate_quantity`'s numbers of the stars with a truth.

    Stars with a non-finite truth (or, given errors, a non-finite or non-positive error) are dropped;
    HDI coverage is off and the seed is 0, as in the committed benchmark.

    Args:
        pred: Prediction over N stars.
        truth: ``(N,)`` true or labelled values.
        error: ``(N,)`` the truth's 1-sigma error for the noise-aware columns, or None.
        quantity: Quantity name (mass gets a fractional mad_std, age one in dex).
        truth_kind: Kind of truth of the noise-aware columns (``"derived"`` for transferred or DistMass
            masses and ages; the draw is seeded 0 on the kept stars).

    Returns:
        ``{"n", "bias", "std", "mad_std", "mad_std_rel" (mass, age), "cov68", "cov68_ok", "cov95",
        "cov95_ok", "crps", "nll", "ece", "summary": {"naive", "noise_aware"?}}`` plus, with errors,
        ``cov68_noise``... ``ece_noise``; ``{"n": 0}`` when no star has a truth.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> row = benchmark_metrics(GaussianPrediction(np.zeros(2000), 1.0), rng.normal(size=2000), None, "logg")
        >>> row["n"], row["cov68_ok"]
        (2000, True)
    """
    good = np.isfinite(truth)
    noisy = error is not None
    if noisy:
        good &= np.isfinite(error) & (np.nan_to_num(error) > 0)
    rows = np.flatnonzero(good)
    if rows.size == 0:
        return {"n": 0}
    result = evaluate_quantity(
        pred.take(rows), truth[rows], error[rows] if noisy else None, quantity, hdi=False, seed=0,
        truth_kind=truth_kind,
    )
    table, naive = result["table"], result["naive"]
    out: dict[str, Any] = {"n": result["n"], **{k: table[k] for k in ("bias", "std", "mad_std")}}
    if table["mad_std_relative"] is not None:
        out["mad_std_rel"] = table["mad_std_relative"]
    for level in ("0.68", "0.95"):
        cell = table["coverage_naive"][level]
        out[f"cov{level[2:]}"], out[f"cov{level[2:]}_ok"] = cell["coverage"], cell["consistent"]
    out["crps"], out["nll"], out["ece"] = naive["crps"], naive["nll"], naive["ece"]
    out["summary"] = {"naive": naive}
    if noisy:
        aware = result["noise_aware"]
        for level in ("0.68", "0.95"):
            cell = table["coverage"][level]
            out[f"cov{level[2:]}_noise"], out[f"cov{level[2:]}_noise_ok"] = cell["coverage"], cell["consistent"]
        out["crps_noise"], out["nll_noise"], out["ece_noise"] = aware["crps"], aware["nll"], aware["ece"]
        out["noise_aware_treatment"] = result["noise_aware_treatment"]
        out["summary"]["noise_aware"] = aware
    return out


def joint_mass_age(
    ln_samples: np.ndarray,
    ln_truth: np.ndarray,
    ln_error: np.ndarray | None = None,
    corr: np.ndarray | None = None,
    seed: int = 0,
    truth_kind: str = MEASURED,
    ln_truth_draw: np.ndarray | None = None,
) -> dict:
    """Joint (ln mass, ln age) calibration: HDR coverage (Gaussian regions) and TARP.

    With errors, by kind of truth (:mod:`bayesxp.evaluation.truth_noise`): measured, the correlated label
    noise is added to the draws (the joint prediction of a noisy label); derived, the draws are judged
    against one draw of the truth, ``ln_truth + e`` (``ln_truth_draw``, or drawn here), ``e`` correlated.

    Args:
        ln_samples: Joint draws ``[S, N, 2]`` of (ln mass, ln age).
        ln_truth: ``[N, 2]`` true (ln mass, ln age) (labels).
        ln_error: ``[N, 2]`` 1-sigma label errors in ln space, or None (naive).
        corr: ``(N,)`` correlation of the two label errors (default 0).
        seed: Seed of the noise, the HDR split and the TARP references.
        truth_kind: ``"measured"`` or ``"derived"``.
        ln_truth_draw: ``[N, 2]`` the derived truth's draw (derived only; None: drawn here).

    Returns:
        JSON-ready ``{"n", "label_noise", "noise_aware_treatment", "hdr_coverage" (CoverageResult.as_dict
        over DEFAULT_LEVELS), "hdr_ks_pvalue", "hdr_miscalibration_area", "tarp", "median_sample_corr"}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> out = joint_mass_age(rng.normal(size=(100, 500, 2)), rng.normal(size=(500, 2)))
        >>> out["hdr_coverage"]["all_consistent"]
        True
    """
    check_truth_kind(truth_kind)
    rng = np.random.default_rng(seed)
    x = np.asarray(ln_samples, float)
    y = np.asarray(ln_truth, float)
    noisy = ln_error is not None
    if noisy:
        rho = np.zeros(y.shape[0]) if corr is None else np.asarray(corr, float)
        if truth_kind == DERIVED:
            if ln_truth_draw is None:
                ln_truth_draw = y + ln_noise((y.shape[0],), np.asarray(ln_error, float), rho, rng)
            y = np.asarray(ln_truth_draw, float)
        else:
            x = x + ln_noise(x.shape[:2], np.asarray(ln_error, float), rho, rng)
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
            "noise_aware_treatment": NOISE_AWARE_TREATMENTS[truth_kind] if noisy else None,
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
        "cells": coverage_cells(cov),
        "pit_ks_pvalue": test.ks_pvalue,
        "miscalibration_area": test.miscalibration_area,
        "crps": float(np.mean(crps(pred, truth))),
    }


def _has_truth(truth: Truth, quantity: str, models: Iterable[Posterior]) -> np.ndarray:
    """``(N,)`` a finite truth (positive mass and age) and a usable prediction from every model."""
    values = truth.values[quantity]
    good = np.isfinite(values)
    if quantity in ("mass", "age"):
        good &= np.nan_to_num(values) > 0
    for model in models:
        good &= model.usable()
    return good


def _has_error(truth: Truth, quantity: str) -> np.ndarray:
    errors = truth.errors[quantity]
    return np.isfinite(errors) & (np.nan_to_num(errors) > 0)


def judge_rows(truth: Truth, quantity: str, models: Iterable[Posterior]) -> np.ndarray:
    """Stars judged for a quantity: a finite truth with a positive error (and positive mass and age), and a
    usable prediction from every model.

    Example:
        >>> from bayesxp.data.dataset import TrainingSet
        >>> mass = np.array([1.0, np.nan, 1.2, 1.5])
        >>> truth = Truth("test-split", "x", TrainingSet.synthetic(4, seed=0), {"mass": mass},
        ...               {"mass": np.array([0.1, 0.1, 0.0, 0.1])}, np.zeros(4), {})
        >>> judge_rows(truth, "mass", [Posterior({"mass": np.ones((4, 4))}, np.arange(4))]).tolist()
        [0, 3]
    """
    models = list(models)
    return np.flatnonzero(_has_truth(truth, quantity, models) & _has_error(truth, quantity))


def naive_only_rows(truth: Truth, quantity: str, models: Iterable[Posterior]) -> np.ndarray:
    """Stars with a truth but no usable error (e.g. APOKASC-3 v7.0.5 ages): judged naive only, reported apart.

    Example:
        >>> from bayesxp.data.dataset import TrainingSet
        >>> mass = np.array([1.0, np.nan, 1.2, 1.5])
        >>> truth = Truth("seismic", "x", TrainingSet.synthetic(4, seed=0), {"mass": mass},
        ...               {"mass": np.array([0.1, 0.1, np.nan, 0.1])}, np.zeros(4), {})
        >>> naive_only_rows(truth, "mass", [Posterior({"mass": np.ones((4, 4))}, np.arange(4))]).tolist()
        [2]
    """
    models = list(models)
    return np.flatnonzero(_has_truth(truth, quantity, models) & ~_has_error(truth, quantity))


def _noise_aware(
    pred: PredictiveDistribution, label: np.ndarray, error: np.ndarray, kind: str, draw: np.ndarray, seed: int
) -> tuple[PredictiveDistribution, np.ndarray]:
    """(prediction judged, values it is judged against) of the noise-aware check of a kind of truth."""
    if kind == DERIVED:
        return pred, draw
    return pred.convolve(error, rng=np.random.default_rng(seed)), label


def recalibration_study(
    models_val: Mapping[str, Posterior],
    truth_val: Truth,
    models: Mapping[str, Posterior],
    truth: Truth,
    quantities: Sequence[str],
    levels: Sequence[float] = REPORT_LEVELS,
    seed: int = 0,
) -> dict:
    """Isotonic and CQR recalibrators fitted on validation stars, judged on the campaign's stars.

    Noise-aware judging follows the campaign truth's kind (:func:`evaluate_quantity`): a measured truth
    judges the prediction convolved with its error against the label, a derived one the prediction
    itself against the campaign's truth draw (``truth.truth_draws(seed)``, the draw
    :func:`evaluate_campaign` uses). Two fitting spaces per method:

    - ``"label"``: fitted on the raw prediction against the validation labels (what recalibrating
      against derived labels gives); judged naive (against the truths as they are) and noise-aware.
    - ``"noise-aware"``, by the validation labels' kind: derived, fitted on the prediction against the
      validation labels' own draw of label + error (``truth_val.truth_draws(seed + 1)``), applied to the
      campaign's prediction, judged noise-aware; measured, fitted on the prediction convolved with the
      validation labels' errors, applied to the campaign's prediction convolved with its truths' errors,
      judged against the campaign's labels.

    Args:
        models_val: ``{model: predictions}`` for the validation stars (the same models as ``models``).
        truth_val: Validation truths.
        models: ``{model: predictions}`` for the campaign's stars.
        truth: The campaign's truths.
        quantities: Quantities to recalibrate.
        levels: CQR levels.
        seed: Seed of the noise draws and randomised PIT.

    Returns:
        JSON-ready ``{model: {quantity: {"n_fit", "n", "treatment": {"validation", "campaign"},
        "before": {"naive", "noise_aware"}, "<method>/<space>": {"naive"?, "noise_aware", "error"?}}}}``.
    """
    draws, draws_val = truth.truth_draws(seed), truth_val.truth_draws(seed + 1)
    out: dict[str, dict] = {}
    for name, model in models.items():
        model_val = models_val[name]
        per_quantity: dict[str, dict] = {}
        for quantity in quantities:
            rows_val = judge_rows(truth_val, quantity, [model_val])
            rows = judge_rows(truth, quantity, models.values())
            if rows_val.size < 20 or rows.size < 2:
                per_quantity[quantity] = {
                    "n_fit": int(rows_val.size),
                    "n": int(rows.size),
                    "error": "too few stars to fit or judge",
                }
                continue
            kind_val, kind = truth_val.kind_of(quantity), truth.kind_of(quantity)
            y_val, e_val = truth_val.values[quantity][rows_val], truth_val.errors[quantity][rows_val]
            y, e, d = truth.values[quantity][rows], truth.errors[quantity][rows], draws[quantity][rows]
            pred_val = model_val.predictive(quantity, rows_val)
            pred = model.predictive(quantity, rows)
            entry: dict[str, Any] = {
                "n_fit": int(rows_val.size),
                "n": int(rows.size),
                "treatment": {
                    "validation": NOISE_AWARE_TREATMENTS[kind_val],
                    "campaign": NOISE_AWARE_TREATMENTS[kind],
                },
                "before": {
                    "naive": _compact(pred, y, seed),
                    "noise_aware": _compact(*_noise_aware(pred, y, e, kind, d, seed), seed),
                },
            }
            if kind_val == DERIVED:  # the recalibrated prediction is one of the true value
                fit_on = (pred_val, draws_val[quantity][rows_val])
                applied_to, judged = pred, None
            else:  # the recalibrated prediction is one of a noisy label
                fit_on = (pred_val.convolve(e_val, rng=np.random.default_rng(seed)), y_val)
                applied_to, judged = pred.convolve(e, rng=np.random.default_rng(seed)), y
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
                        "noise_aware": _compact(*_noise_aware(after, y, e, kind, d, seed), seed),
                    }
                except ValueError as exc:
                    entry[f"{method}/label"] = {"error": str(exc)}
                try:
                    fitted = make().fit(*fit_on, rng=seed)
                    after = fitted.apply(applied_to)
                    scored = _noise_aware(after, y, e, kind, d, seed) if judged is None else (after, judged)
                    entry[f"{method}/noise-aware"] = {"noise_aware": _compact(*scored, seed)}
                except ValueError as exc:
                    entry[f"{method}/noise-aware"] = {"error": str(exc)}
            per_quantity[quantity] = entry
        out[name] = per_quantity
    return to_json_ready(out)


def _joint_inputs(truth: Truth, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mass, age = truth.values["mass"][rows], truth.values["age"][rows]
    ln_truth = np.stack([np.log(mass), np.log(age)], axis=1)  # [N, 2]
    ln_error = np.stack([truth.errors["mass"][rows] / mass, truth.errors["age"][rows] / age], axis=1)
    return ln_truth, ln_error


def evaluate_campaign(
    truth: Truth,
    models: Mapping[str, Posterior],
    quantities: Sequence[str] = QUANTITIES,
    group_bins: int = 4,
    min_group_stars: int = 20,
    hdi: bool = True,
    seed: int = 0,
    num_samples: int = 200,
    validation: tuple[Truth, Mapping[str, Posterior]] | None = None,
    recalibration_levels: Sequence[float] = REPORT_LEVELS,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Judge every model and quantity, the joint mass-age posterior, and (optionally) recalibration.

    All models are judged on the same stars per quantity: a finite truth with a positive error, and a
    usable prediction from every model. Stars with a truth but no error are judged naive only, apart
    (``"naive_only"``). Noise-aware judging follows each quantity's kind of truth; derived truths are
    judged against one draw, ``truth.truth_draws(seed)``, shared by the per-quantity and joint checks.

    Args:
        truth: The campaign's stars and truths.
        models: ``{model: predictions}`` for those stars (e.g. bayesxp and the baseline).
        quantities: Quantities judged.
        group_bins: Equal-count bins per numeric subgroup covariate.
        min_group_stars: Smallest group eligible as the worst.
        hdi: Also report HDI coverage.
        seed: Seed of every random draw.
        num_samples: Draws per star of a model without joint draws (its independent marginals).
        validation: ``(validation truth, {model: predictions for it})`` to fit recalibrators on; None: no
            study.
        recalibration_levels: Levels the CQR recalibrator conformalises.
        progress: Called with a line per step.

    Returns:
        JSON-ready ``{"models": {model: {"info", "quantities": {q: evaluate_quantity(...)}, "naive_only":
        {q: evaluate_quantity(..., error=None)}}}, "joint", "joint_all" (:mod:`~bayesxp.evaluation.joint_checks`),
        "recalibration", "n_judged", "n_naive_only",
        "truth_kind", "noise_aware_treatment"}``.
    """
    say = progress or (lambda _: None)
    out: dict[str, Any] = {
        "models": {name: {"info": m.info, "quantities": {}, "naive_only": {}} for name, m in models.items()},
        "n_judged": {},
        "n_naive_only": {},
        "truth_kind": {q: truth.kind_of(q) for q in quantities},
        "noise_aware_treatment": {q: NOISE_AWARE_TREATMENTS[truth.kind_of(q)] for q in quantities},
        "joint": {},
        "joint_all": {},
        "recalibration": None,
    }
    truth_draws = truth.truth_draws(seed)  # {quantity: (N,)}: what derived truths are judged against
    judged = {q: judge_rows(truth, q, models.values()) for q in quantities}  # the stars of every check below
    for quantity in quantities:
        rows = judged[quantity]
        out["n_judged"][quantity] = int(rows.size)
        apart = naive_only_rows(truth, quantity, models.values())
        if apart.size:
            out["n_naive_only"][quantity] = int(apart.size)
        for part, key, errors in ((rows, "quantities", truth.errors[quantity]), (apart, "naive_only", None)):
            if part.size < 2:
                if key == "quantities":
                    say(f"{quantity}: fewer than two stars with a truth, skipped")
                continue
            covariates = {k: (v[part], b) for k, (v, b) in truth.covariates.items()}
            for name, model in models.items():
                clock = time.perf_counter()
                out["models"][name][key][quantity] = evaluate_quantity(
                    model.predictive(quantity, part),
                    truth.values[quantity][part],
                    None if errors is None else errors[part],
                    quantity,
                    covariates,
                    group_bins,
                    min_group_stars,
                    hdi,
                    seed,
                    truth.kind_of(quantity),
                    truth_draws[quantity][part],
                )
                words = "judged" if errors is not None else "without a truth error judged naive only"
                say(f"{name} {quantity}: {part.size} stars {words} ({time.perf_counter() - clock:.1f} s)")
    if "mass" in quantities and "age" in quantities:
        rows = np.intersect1d(judged["mass"], judged["age"])
        out["n_judged"]["mass_age"] = int(rows.size)
        kind = truth.kind_of("mass")
        if truth.kind_of("age") != kind:
            raise ValueError("the joint check needs mass and age of one kind of truth")
        if rows.size >= 2:
            ln_truth, ln_error = _joint_inputs(truth, rows)
            corr = truth.ln_mass_age_corr[rows]
            ln_draw = np.log(np.stack([truth_draws["mass"][rows], truth_draws["age"][rows]], axis=1))  # [n, 2]
            rng = np.random.default_rng(seed)
            for model_name, model in models.items():
                draws = model.joint_ln_mass_age(rows)  # [S, n, 2]
                if draws is not None:
                    variants = {model_name: draws}
                    shuffled = draws.copy()
                    shuffled[..., 1] = rng.permuted(shuffled[..., 1], axis=0)  # age draws decoupled from mass
                    variants[f"{model_name} (mass-age correlation removed)"] = shuffled
                else:  # independent marginals: the model has no mass-age correlation
                    draws = np.stack(
                        [
                            np.log(model.predictive("mass", rows).sample(num_samples, rng)),
                            np.log(model.predictive("age", rows).sample(num_samples, rng)),
                        ],
                        axis=-1,
                    )
                    variants = {f"{model_name} (independent marginals)": draws}
                for name, samples in variants.items():
                    out["joint"][name] = {
                        "model": model_name,
                        "noise_aware": joint_mass_age(samples, ln_truth, ln_error, corr, seed, kind, ln_draw),
                        "naive": joint_mass_age(samples, ln_truth, None, None, seed),
                    }
            say(f"joint mass-age: {rows.size} stars judged")
    if all(q in quantities for q in JOINT_ORDER):
        clock = time.perf_counter()
        out["joint_all"] = evaluate_joint_all(truth, models, {q: judged[q] for q in JOINT_ORDER}, truth_draws, seed)
        say(f"joint checks over all five quantities ({time.perf_counter() - clock:.0f} s)")
    if validation is not None:
        truth_val, models_val = validation
        clock = time.perf_counter()
        out["recalibration"] = {
            "fitted_on": {"split": "val", "n_stars": len(truth_val), "description": truth_val.description},
            "levels_cqr": list(recalibration_levels),
            "results": recalibration_study(
                models_val,
                truth_val,
                models,
                truth,
                quantities,
                recalibration_levels,
                seed,
            ),
        }
        say(f"recalibration study ({time.perf_counter() - clock:.0f} s)")
    return to_json_ready(out)
