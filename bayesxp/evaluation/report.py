"""Report text: the campaign's Markdown tables and ``report.md``, and the head-to-head benchmark's tables.

Everything here reads the JSON-ready results of :mod:`bayesxp.evaluation.judge` and returns text; nothing
computes a number of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesxp.evaluation.config import GROUP_LEVELS, REPORT_LEVELS
from bayesxp.evaluation.figures import FIGURES
from bayesxp.evaluation.judge import coverage_cells
from bayesxp.evaluation.truth import COVARIATE_TITLES
from bayesxp.evaluation.truth_noise import NOISE_AWARE_TREATMENTS, TRUTH_KINDS
from bayesxp.quantities import QUANTITIES, unit_name

__all__ = [
    "NOTES",
    "CATALOGUE_COVARIATES",
    "format_number",
    "format_pvalue",
    "coverage_cell",
    "markdown_table",
    "quantity_table",
    "report_markdown",
    "benchmark_table",
]

NOTES = [
    "Noise-aware numbers follow each quantity's kind of truth (results.json: truth_kind, "
    "noise_aware_treatment). Measured (label = truth + noise: seismic masses and ages, APOGEE Teff, logg, "
    "[M/H]): the prediction convolved with the truth's own error, judged against the label. Derived (truth "
    "= label + error, error independent of the label: transferred and DistMass masses and ages, themselves "
    "predictions): the prediction itself, not widened, judged against one seeded draw of label + error "
    "(mass and age drawn jointly in ln space with the label's mass-age error correlation; the same draw in "
    "the per-quantity, joint and recalibration checks). The two are not interchangeable: each treatment "
    "is miscalibrated on the other kind. Naive numbers ignore the truth's error. All are in results.json.",
    "The baseline's mass and age are predictions of the true value when baseline_propagate_label_error is "
    "true (its predicted label-transfer error is convolved in), judged noise-aware like bayesxp's: against "
    "the truth draw for a derived truth, convolved once more with the truth's error for a measured one "
    "(a measured label is the true value plus its own noise).",
    "Coverage bands are 95% Jeffreys intervals per level; with L levels tested at once, expect about 5% of "
    "the daggers by chance (use a Bonferroni reading for a pass/fail over all levels).",
    "PIT values of draws are randomised ranks (exactly uniform under calibration for any S).",
]
"""Notes at the end of every campaign report."""

CATALOGUE_COVARIATES = ("mass_source", "age_source")
"""Categorical covariates that name the catalogue of each truth: the report tabulates every group of them."""


def format_number(value: Any, digits: int = 3, ok: bool | None = None, large: str = "fixed") -> str:
    """A number for a Markdown cell: ``-`` for None or non-finite, ``yes``/``no`` for booleans.

    Args:
        value: The number.
        digits: Decimals (significant digits for ``large="significant"`` values of 1000 and above).
        ok: False appends ``†`` (a nominal level outside its band); None or True append nothing.
        large: Values of 1000 and above as whole numbers (``"fixed"``, the campaign report) or with
            ``digits`` significant digits (``"significant"``, the head-to-head tables: ``8e+03``).

    Example:
        >>> format_number(0.12345), format_number(8123.0, 0, large="significant"), format_number(0.9, 2, ok=False)
        ('0.123', '8e+03', '0.90†')
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        text = str(value)
    elif abs(value) >= 1000:
        text = f"{value:.0f}" if large == "fixed" else f"{value:.{digits}g}"
    else:
        text = f"{value:.{digits}f}"
    return text + ("" if ok is None or ok else "†")


def format_pvalue(value: Any) -> str:
    """A p-value for a Markdown cell (two significant digits, scientific below 1e-3).

    Example:
        >>> format_pvalue(0.0123), format_pvalue(1e-7)
        ('0.012', '1.0e-07')
    """
    if value is None:
        return "-"
    return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def coverage_cell(entry: dict) -> str:
    """``0.66 [0.61, 0.71]``, with a dagger when the nominal level is outside the band.

    Example:
        >>> coverage_cell({"coverage": 0.5, "lower": 0.45, "upper": 0.55, "consistent": False})
        '0.50 [0.45, 0.55] †'
    """
    if not entry or entry.get("coverage") is None:
        return "-"
    mark = "" if entry.get("consistent", True) else " †"
    return f"{entry['coverage']:.2f} [{entry['lower']:.2f}, {entry['upper']:.2f}]{mark}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table of text cells.

    Example:
        >>> print(markdown_table(["a", "b"], [["1", "2"]]))
        | a | b |
        |---|---|
        | 1 | 2 |
    """
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
        95% Jeffreys bands (``†``: nominal outside the band), PIT KS p, miscalibration area, CRPS, NLL;
        the noise-aware table also names each row's treatment (by kind of truth).

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> from bayesxp.evaluation.judge import evaluate_quantity
        >>> row = evaluate_quantity(GaussianPrediction(np.zeros(200), 1.0), np.zeros(200), 0.1, "logg", hdi=False)
        >>> "†" in quantity_table({"m": {"logg": row}})  # far too wide: over-covered
        True
    """
    suffix = "_naive" if naive else ""
    header = [
        "model",
        "quantity",
        "unit",
        *([] if naive else ["noise-aware treatment"]),
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
                    *([] if naive else [t.get("noise_aware_treatment") or NOISE_AWARE_TREATMENTS["measured"]]),
                    str(t["n"]),
                    format_number(t["bias"], digits),
                    format_number(t["std"], digits),
                    format_number(t["mad_std"], digits),
                    format_number(t.get("mad_std_relative")),
                    *[coverage_cell(cells.get(f"{a:g}", {})) for a in REPORT_LEVELS],
                    format_pvalue(t["pit_ks_pvalue" + suffix]),
                    format_number(t["miscalibration_area" + suffix]),
                    format_number(t["crps" + suffix], digits),
                    format_number(t["nll" + suffix]),
                ]
            )
    return markdown_table(header, rows)


def _joint_table(joint: Mapping[str, dict]) -> str:
    header = [
        "model",
        "truth's error",
        "n",
        *[f"HDR {a:g}" for a in REPORT_LEVELS],
        "HDR cred. KS p",
        "TARP KS p",
        "TARP area",
        "median draw corr",
    ]
    rows = []
    for name, entry in joint.items():
        for key in ("noise_aware", "naive"):
            r = entry[key]
            words = (r.get("noise_aware_treatment") or NOISE_AWARE_TREATMENTS["measured"]) if key == "noise_aware" else "ignored"
            cells = coverage_cells(r["hdr_coverage"])
            rows.append(
                [
                    name,
                    words,
                    str(r["n"]),
                    *[coverage_cell(cells[f"{a:g}"]) for a in REPORT_LEVELS],
                    format_pvalue(r["hdr_ks_pvalue"]),
                    format_pvalue(r["tarp"]["ks_pvalue"]),
                    format_number(r["tarp"]["area"]),
                    format_number(r["median_sample_corr"], 2),
                ]
            )
    return markdown_table(header, rows)


def _joint_all_table(joint_all: Mapping[str, dict]) -> str:
    header = ["model", "n (all five)", *[f"HDR {a:g}" for a in REPORT_LEVELS], "TARP KS p", "pairs within 0.15",
              "largest |difference|", "pair: predictive / residual [95% interval] (n)"]
    rows = []
    for name, entry in joint_all.items():
        hdr = coverage_cells(entry["hdr_coverage"]) if entry["hdr_coverage"] else None
        correlation = entry["correlation"]
        pairs = correlation["pairs"]
        details = "; ".join(
            f"{p['first']}-{p['second']}: {format_number(p['predictive_mean'], 2)} / "
            f"{format_number(p['residual'], 2)} [{format_number(p['residual_low'], 2)}, "
            f"{format_number(p['residual_high'], 2)}] ({p['n']})" + ("" if p["consistent"] else " †")
            for p in pairs
        )
        rows.append([
            name,
            str(entry["n_complete"]),
            *[coverage_cell(hdr[f"{a:g}"]) if hdr else "-" for a in REPORT_LEVELS],
            format_pvalue(entry["tarp"]["ks_pvalue"]) if entry["tarp"] else "-",
            f"{sum(p['consistent'] for p in pairs)} / {len(pairs)}",
            format_number(correlation["max_difference"], 2),
            details,
        ])
    return markdown_table(header, rows)


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
                    COVARIATE_TITLES.get(worst["covariate"], worst["covariate"]),
                    worst["group"],
                    str(worst["n"]),
                    f"{worst['level']:g}",
                    coverage_cell(worst),
                    format_pvalue(group_table["pit_ks_pvalue"][j]),
                ]
            )
    return markdown_table(header, rows)


def _catalogue_table(judged_sets: Sequence[tuple[str, Mapping[str, Mapping[str, dict]]]]) -> str | None:
    """Every group of the :data:`CATALOGUE_COVARIATES` (per seismic catalogue), or None when there are none."""
    header = ["model", "quantity", "judged", "grouped by", "catalogue", "n",
              *[f"cov {a:g}" for a in GROUP_LEVELS], "PIT KS p", "bias", "mad_std"]
    rows = []
    for judged, model_results in judged_sets:
        for model, by_quantity in model_results.items():
            for quantity in QUANTITIES:
                groups = by_quantity.get(quantity, {}).get("groups", {})
                digits = 1 if quantity == "teff" else 3
                for covariate in CATALOGUE_COVARIATES:
                    g = groups.get(covariate)
                    for j, name in enumerate(g["group"] if g else []):
                        cells = [
                            coverage_cell({"coverage": g["coverage"][j][k], "lower": g["lower"][j][k],
                                           "upper": g["upper"][j][k], "consistent": g["consistent"][j][k]})
                            for k in (_nearest(g["level"], a) for a in GROUP_LEVELS)
                        ]
                        rows.append([model, quantity, judged, COVARIATE_TITLES.get(covariate, covariate), str(name),
                                     str(g["n"][j]), *cells, format_pvalue(g["pit_ks_pvalue"][j]),
                                     format_number(g["bias"][j], digits), format_number(g["mad_std"][j], digits)])
    return markdown_table(header, rows) if rows else None


def _nearest(levels: Sequence[float], level: float) -> int:
    return int(np.argmin(np.abs(np.asarray(levels, float) - level)))


def _kinds_sentence(results: Mapping[str, Any]) -> str:
    """Which kind of truth each quantity is, and what noise-aware means for each kind present."""
    kinds = results.get("truth_kind") or {}
    if not kinds:
        return "Each prediction is convolved with the truth's own 1-sigma error before judging."
    named = ", ".join(f"{q} {k}" for q, k in kinds.items())
    meanings = " ".join(f"*{k}*: {TRUTH_KINDS[k]}." for k in sorted(set(kinds.values())))
    return f"Kinds of truth: {named}. {meanings}"


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
                            *[coverage_cell(r["cells"][f"{a:g}"]) for a in REPORT_LEVELS],
                            format_pvalue(r["pit_ks_pvalue"]),
                            format_number(r["crps"], digits),
                        ]
                    )
    return markdown_table(header, rows)


def report_markdown(results: Mapping[str, Any]) -> str:
    """The campaign's ``report.md``, read from its results dict only.



    Args:
        results: What :func:`~bayesxp.evaluation.run.run_campaign` returns.

    Returns:
        Markdown text.

    Example:
        >>> import json
        >>> from pathlib import Path
        >>> results = json.loads(Path("calibration/results/seismic_dev/results.json").read_text())
        >>> report_markdown(results).splitlines()[0]
        '# Calibration campaign `seismic_dev`'
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
        count_rows.append(["hash split of these stars (before reserved stars are excluded)", ", ".join(f"{k} {v}" for k, v in splits.items())])
    count_rows += [[f"judged: {k.replace('_', '-')}", str(v)] for k, v in results["n_judged"].items()]
    count_rows += [
        [f"judged naive only (no truth error): {k}", str(v)] for k, v in (results.get("n_naive_only") or {}).items()
    ]
    parts.append(
        "## Stars\n\nJudged per quantity: stars with a finite truth, a positive truth error and a "
        "usable prediction from every model. Stars with a truth but no error of their own are judged naive "
        "only and reported apart.\n\n" + markdown_table(["count", "stars"], count_rows)
    )
    parts.append(
        "## Per model and quantity, label-noise aware\n\n"
        f"{_kinds_sentence(results)} bias = median of (predictive median - label); std and mad_std (1.4826 x "
        "MAD) of the same; mad_std frac/dex: mass as a fraction of the truth, age in dex. Coverage of central "
        "intervals with the 95% Jeffreys band; † marks a nominal level outside it. CRPS and NLL are means over "
        "stars of the noise-aware comparison.\n\n" + quantity_table(model_results)
    )
    parts.append(
        "## Naive (the prediction as it is, label noise ignored)\n\n"
        + quantity_table(model_results, naive=True)
    )
    naive_only = {name: m.get("naive_only") or {} for name, m in results["models"].items()}
    naive_only = {name: by_q for name, by_q in naive_only.items() if by_q}
    if naive_only:
        parts.append(
            "## Truths without an error (naive only, reported apart)\n\n"
            "Stars whose truth has no error of its own catalogue (seismic: APOKASC-3 v7.0.5 ages, published "
            "without errors and with runaway values cut at 20 Gyr) are left out of every noise-aware number "
            "above and judged here, naive only, against the value as it is.\n\n"
            + quantity_table(naive_only, naive=True)
        )
    catalogues = _catalogue_table([("noise-aware", model_results), ("naive only", naive_only)])
    if catalogues:
        parts.append(
            "## Per seismic catalogue\n\n"
            "Every group of the catalogue covariates (the catalogue each star's mass or age comes from), "
            "beside the pooled numbers above: coverage (noise-aware, or naive for the stars reported apart) "
            "with its 95% band, PIT KS p, and the residual bias and mad_std of the predictive median. Groups "
            "of a few stars say little.\n\n" + catalogues
        )
    if results["joint"]:
        parts.append(
            "## Joint (ln mass, ln age)\n\n"
            "HDR: coverage of Gaussian highest-density regions fitted to half of each star's draws (exactly "
            "uniform credibility under calibration); TARP: Lemos et al. 2023 expected coverage. The truth's "
            "error (ln space, with the truth's mass-age error correlation: the transfer's on the test split, "
            "the catalogue-implied one for seismic truths) enters by kind: measured, correlated noise is "
            "added to the draws; derived, the draws are judged against the truth's draw of label + error. "
            "The baseline has no joint posterior: its draws are independent marginals. "
            "'mass-age correlation removed': bayesxp's age draws permuted per star, as a control.\n\n"
            + _joint_table(results["joint"])
        )
    if results.get("joint_all"):
        parts.append(
            "## Joint checks over all five quantities\n\n"
            "Draws of (Teff, logg, [M/H], ln mass, ln age), each quantity treated by its kind of truth as above. "
            "HDR: 5-D Gaussian highest-density regions (stars with all five truths); TARP as above. "
            "Correlations: for each pair, the mean over stars of the per-star predictive Spearman correlation "
            "against the Spearman correlation of the standardised residuals (truth - mean) / std across the stars "
            "with both truths, with its 95% bootstrap interval; a pair passes when the two differ by at most "
            "0.15. 'draws decoupled': every quantity's draws permuted per star (same marginals, no "
            "correlation), the wrong model these checks must reject.\n\n" + _joint_all_table(results["joint_all"])
        )
    parts.append(
        "## Worst subgroups (noise-aware)\n\n"
        f"Groups: {', '.join(COVARIATE_TITLES.get(k, k) for k in results['covariates'])} "
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
            "judged here, noise-aware by this campaign's kind of truth. Fit space 'label': the raw prediction "
            "fitted against the validation labels (intervals for the *label*; judged naive and noise-aware); "
            "'noise-aware', by the validation labels' kind: derived (transferred mass and age), the prediction "
            "fitted against the validation labels' own draw of label + error and applied to this campaign's "
            "prediction; measured (APOGEE labels), the prediction convolved with the validation labels' "
            "errors, applied to this campaign's prediction convolved with its truths' errors. CQR "
            f"conformalises the levels {', '.join(f'{a:g}' for a in recal['levels_cqr'])}."
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


def benchmark_table(rows: Sequence[Mapping[str, Any]], seismic: bool) -> str:
    """One head-to-head table from result rows (``†``: nominal level outside the 95% binomial band).

    Args:
        rows: ``{"model", "quantity", "metrics": benchmark_metrics(...), "fit_seconds",
            "stars_per_second"}`` per model and quantity (rows without stars are left out).
        seismic: CRPS and NLL of the noise-aware prediction (the seismic table) instead of the naive one.

    Returns:
        Markdown: ``n, bias, std, mad_std, mad_std frac/dex``, naive and noise-aware 68%/95% coverage,
        CRPS, NLL, fit seconds and predicted stars per second.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> from bayesxp.evaluation.judge import benchmark_metrics
        >>> metrics = benchmark_metrics(GaussianPrediction(np.ones(50), 0.1), np.ones(50), np.full(50, 0.1), "mass")
        >>> row = {"model": "m", "quantity": "mass", "metrics": metrics, "fit_seconds": 1.0, "stars_per_second": 5.0}
        >>> len(benchmark_table([row], seismic=True).splitlines())
        3
    """
    header = ["model", "quantity", "unit", "n", "bias", "std", "mad_std", "mad_std frac/dex", "cov68", "cov95",
              "cov68 noise-aware", "cov95 noise-aware", "CRPS", "NLL", "fit s", "predict stars/s"]
    lines = []
    for row in rows:
        r = row["metrics"]
        if not r.get("n"):
            continue
        crps, nll = (r.get("crps_noise"), r.get("nll_noise")) if seismic else (r.get("crps"), r.get("nll"))
        digits = 1 if row["quantity"] == "teff" else 3

        def number(value: Any, digits: int = 3, ok: bool | None = None) -> str:
            return format_number(value, digits, ok, large="significant")

        lines.append([
            row["model"], row["quantity"], unit_name(row["quantity"]), str(r["n"]),
            number(r["bias"], digits), number(r["std"], digits), number(r["mad_std"], digits),
            number(r.get("mad_std_rel")),
            number(r["cov68"], 2, r["cov68_ok"]), number(r["cov95"], 2, r["cov95_ok"]),
            number(r.get("cov68_noise"), 2, r.get("cov68_noise_ok")),
            number(r.get("cov95_noise"), 2, r.get("cov95_noise_ok")),
            number(crps, digits), number(nll, 3), number(row["fit_seconds"], 0),
            number(row["stars_per_second"], 0),
        ])
    return markdown_table(header, lines)
