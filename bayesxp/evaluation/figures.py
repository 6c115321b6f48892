"""The campaign's figures: reliability curves, PIT histograms, subgroup coverage, TARP, recalibration.

Plotting functions only read the computed numbers (the JSON-ready results of
:mod:`bayesxp.evaluation.judge`); matplotlib is imported when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesxp.calibration import CoverageResult, GroupCoverage
from bayesxp.evaluation.truth import COVARIATE_TITLES
from bayesxp.quantities import QUANTITIES

__all__ = ["FIGURES", "draw_figures"]

FIGURES = {
    "reliability.png": "reliability curves per quantity, bayesxp vs baseline; top row noise-aware, bottom naive",
    "pit_histograms.png": "noise-aware PIT histograms, one row per model, one column per quantity",
    "group_coverage_<quantity>.png": "68% noise-aware coverage per subgroup (rows: covariates, e.g. the seismic "
    "mass and age catalogues; columns: models)",
    "group_coverage_naive_only_<quantity>.png": "68% naive coverage per subgroup of the stars without a truth "
    "error, reported apart",
    "tarp.png": "TARP expected-coverage curves of the joint (ln mass, ln age) draws, noise-aware by kind of truth",
    "recalibration.png": "noise-aware reliability before and after recalibration (noise-aware fit space)",
}
"""The report's figure files and what each shows."""


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


def _group_figure(
    models: Mapping[str, Mapping[str, dict]], quantity: str, covariates: Sequence[str], words: str
) -> Any:
    """68% coverage per subgroup of one quantity (rows: covariates, columns: models), or None without groups."""
    from matplotlib.figure import Figure

    from bayesxp.calibration.plots import plot_group_coverage

    covariates = [c for c in covariates if any(c in models[m].get(quantity, {}).get("groups", {}) for m in models)]
    if not covariates:
        return None
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
                f"{name} {quantity}{words}: {COVARIATE_TITLES.get(covariate, covariate)}", fontsize="small"
            )
    return fig


def draw_figures(results: Mapping[str, Any]) -> dict[str, Any]:
    """Every figure of the report as ``{file name: matplotlib Figure}``, read from the results only.

    Args:
        results: What :func:`~bayesxp.evaluation.run.run_campaign` returns (JSON-ready).

    Returns:
        ``{"reliability.png": Figure, ...}`` (see :data:`FIGURES`); empty when no quantity was judged.

    Example:
        >>> draw_figures({"models": {}, "covariates": [], "joint": {}})
        {}
    """
    from matplotlib.figure import Figure

    from bayesxp.calibration.joint import TARPResult
    from bayesxp.calibration.pit import PITTest
    from bayesxp.calibration.plots import plot_pit_histogram, plot_reliability, plot_tarp

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

    naive_only = {name: m.get("naive_only") or {} for name, m in results["models"].items()}
    variants = (("group_coverage_", models, ""), ("group_coverage_naive_only_", naive_only, " (naive only)"))
    for prefix, by_model, words in variants:
        for quantity in quantities:
            fig = _group_figure(by_model, quantity, results["covariates"], words)
            if fig is not None:
                figures[f"{prefix}{quantity}.png"] = fig

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
