"""Science checks of the shipped model's predictions: do the predicted labels follow known astrophysics?

Three checks, no training; every number from :mod:`bayesxp.evaluation.science`:

a. **Age-metallicity and [alpha/M]-age** on the test split (2,329 giants, never trained on): the full-context
   posterior (:func:`bayesxp.evaluation.predictors.predict_bayesxp`: spectrum + the library photometry, 200
   draws, seed 0); median predicted age in bins of predicted [M/H] (16th/84th percentiles as the spread) and
   Spearman's rho of predicted age against predicted [M/H]; predicted age in bins of APOGEE [alpha/M], the
   median age of alpha-rich (> 0.12) and alpha-poor (< 0.08) stars with bootstrap errors, and rho. The
   label-transfer ages of the same stars (the training labels' relation) and predicted ages permuted between
   stars (the wrong model, rho ~ 0) are listed next to them.
b. **Giant-branch mass-luminosity relation** on the seismic dev stars (``xp_seismic_dev.csv``, XP library
   rows, never trained on) with an APOKASC-2 radius ``Rcorr``: ``L = R^2 (Teff / 5772 K)^4`` with the APOGEE
   DR17 Teff of the library; ``log10 L = a + b log10 M`` fitted with (i) the APOKASC-2 masses ``Mcorr`` and
   (ii) the model's posterior median masses; RGB stars (APOKASC-2 ``ES``) first, every state next; the
   seismic masses shuffled between stars are the wrong model. Along the giant branch L is set by the radius,
   not the mass, so that line is flat; the relation holds at fixed gravity and Teff (``L = 4 pi R^2 sigma
   Teff^4``, ``g = G M / R^2``: ``L ~ M Teff^4 / g``): ``log10 L = a + b log10 M + c logg + d log10 Teff``
   (:func:`~bayesxp.evaluation.science.fit_linear_model`; expected b = 1, c = -1, d = 4) with the APOGEE
   DR17 spectroscopic logg of the library (not the seismic one) and the three masses (seismic, predicted,
   seismic shuffled within the sample), and the same as one line: ``log10 (L g / Teff^4)`` in solar units
   (:func:`~bayesxp.evaluation.science.mass_from_luminosity_gravity`) against ``log10 M``, slope 1.
c. **Extinction apart from Teff** on the test split: A_K requested from the spectrum alone
   (``foundation.predict_labels`` with the spectral keys as context) against the catalogue ``ak_targ``
   (bias, mad_std, rho; the catalogue permuted between stars: rho ~ 0); Teff residuals (posterior median
   minus APOGEE, and the spectrum-only Teff minus APOGEE) in bins of ``ak_targ`` with a fitted slope.

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/science_checks.py [--threads 1]

Writes ``benchmarks/results/science_checks.md`` / ``.json`` and ``science_checks.png`` (2 x 2 panels).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
M_H_BINS = [-2.5, -1.0, -0.6, -0.4, -0.2, 0.0, 0.2, 0.6]
ALPHA_BINS = [-0.2, 0.0, 0.04, 0.08, 0.12, 0.2, 0.28, 0.5]
AK_BINS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.7, 1.0]
ALPHA_RICH, ALPHA_POOR = 0.12, 0.08
SMALL_TEFF_CHANGE_K = 50.0  # a Teff-residual trend below this over the 5-95% A_K range counts as small
N_BOOTSTRAP = 1000


def _age_metallicity(posterior, test) -> tuple[dict, dict]:
    """Check (a): numbers for the report and arrays for the figure."""
    from bayesxp.evaluation.science import binned_relation, bootstrap_median, rank_correlation
    from bayesxp.quantities import LABELS

    age = np.median(posterior.samples["age"], axis=0)  # (N,) posterior median [Gyr]
    m_h = np.median(posterior.samples["m_h"], axis=0)
    alpha = test.labels[:, LABELS.index("alpha_m")]
    apogee_m_h = test.labels[:, LABELS.index("m_h")]
    transfer_age = np.exp(test.labels[:, LABELS.index("ln_age")])
    permuted = np.random.default_rng(0).permutation(age)
    by_m_h = binned_relation(m_h, age, M_H_BINS)
    by_alpha = binned_relation(alpha, age, ALPHA_BINS)
    with_transfer = np.where(np.isfinite(transfer_age), age, np.nan)  # the same stars as the transfer ages
    groups = {}
    for name, ages in (("predicted", age), ("predicted, stars with a label-transfer age", with_transfer),
                       ("label transfer", transfer_age)):
        rich = bootstrap_median(ages[alpha > ALPHA_RICH], N_BOOTSTRAP, seed=0)
        poor = bootstrap_median(ages[alpha < ALPHA_POOR], N_BOOTSTRAP, seed=1)
        groups[name] = {"alpha_rich": {"n": int(np.sum(np.isfinite(ages) & (alpha > ALPHA_RICH))),
                                       "median_age": rich[0], "error": rich[1]},
                        "alpha_poor": {"n": int(np.sum(np.isfinite(ages) & (alpha < ALPHA_POOR))),
                                       "median_age": poor[0], "error": poor[1]},
                        "difference": rich[0] - poor[0], "difference_error": float(np.hypot(rich[1], poor[1]))}
    out = {
        "n": len(test),
        "age_by_predicted_m_h": by_m_h.rows(),
        "age_by_apogee_alpha_m": by_alpha.rows(),
        "alpha_groups": groups,
        "spearman": {
            "predicted age vs predicted [M/H]": rank_correlation(age, m_h).as_dict(),
            "predicted age vs APOGEE [M/H]": rank_correlation(age, apogee_m_h).as_dict(),
            "predicted age vs APOGEE [M/H], stars with a label-transfer age":
                rank_correlation(with_transfer, apogee_m_h).as_dict(),
            "label-transfer age vs APOGEE [M/H]": rank_correlation(transfer_age, apogee_m_h).as_dict(),
            "predicted age permuted (wrong) vs predicted [M/H]": rank_correlation(permuted, m_h).as_dict(),
            "predicted age vs APOGEE [alpha/M]": rank_correlation(age, alpha).as_dict(),
            "predicted age vs APOGEE [alpha/M], stars with a label-transfer age":
                rank_correlation(with_transfer, alpha).as_dict(),
            "label-transfer age vs APOGEE [alpha/M]": rank_correlation(transfer_age, alpha).as_dict(),
            "predicted age permuted (wrong) vs APOGEE [alpha/M]": rank_correlation(permuted, alpha).as_dict(),
        },
    }
    return out, {"age": age, "m_h": m_h, "alpha": alpha, "by_m_h": by_m_h, "by_alpha": by_alpha}


MASS_LUMINOSITY_VARIABLES = ("log10 mass", "logg", "log10 teff")
EXPECTED_COEFFICIENTS = {"log10 mass": 1.0, "logg": -1.0, "log10 teff": 4.0}  # L ~ M Teff^4 / g


def _mass_luminosity(model) -> tuple[dict, dict]:
    """Check (b): the seismic dev stars with an APOKASC-2 radius."""
    from bayesxp.evaluation.predictors import predict_bayesxp
    from bayesxp.evaluation.science import (
        SOLAR_LOGG_CGS,
        SOLAR_TEFF_K,
        agreement,
        fit_linear_model,
        fit_power_law,
        luminosity_from_radius,
        mass_from_luminosity_gravity,
    )
    from bayesxp.evaluation.truth import seismic_dev_truth
    from bayesxp.labels.seismic_truth import seismic_dev_consensus

    truth = seismic_dev_truth()  # one row per APOGEE_ID, usable library spectra
    dev = seismic_dev_consensus().set_index("xp_row")  # the csv's rows, with the APOKASC-2 columns joined
    rows = truth.stars.meta["xp_row"].to_numpy(int)
    radius = dev["apokasc2_radius"].reindex(rows).to_numpy(float)
    seismic_mass = dev["apokasc2_mass"].reindex(rows).to_numpy(float)  # validity cuts applied (0.5-4)
    state = dev["apokasc2_es"].reindex(rows).fillna("").astype(str).to_numpy()
    teff = truth.stars.meta["teff"].to_numpy(float)  # APOGEE DR17 (library)
    logg = truth.stars.meta["logg"].to_numpy(float)  # APOGEE DR17 ASPCAP spectroscopic logg (library)
    luminosity = luminosity_from_radius(radius, teff)
    gravity_mass = mass_from_luminosity_gravity(luminosity, logg, teff)  # (L / Lsun)(g / g_sun)(Teff / Teff_sun)^-4
    posterior = predict_bayesxp(model, truth.stars, num_samples=200, context="full", seed=0)
    predicted_mass = np.median(posterior.samples["mass"], axis=0)
    usable = np.isfinite(radius) & np.isfinite(seismic_mass) & np.isfinite(luminosity) & np.isfinite(predicted_mass)
    shuffled = np.random.default_rng(0).permutation(seismic_mass[usable])
    out = {"n_dev_stars": len(truth), "n_with_apokasc2_radius": int(np.isfinite(radius).sum()),
           "n_usable": int(usable.sum()),
           "states_of_usable": {s or "unknown": int(np.sum(usable & (state == s))) for s in np.unique(state[usable])},
           "teff_source": "APOGEE DR17 teff of the XP library", "fits": {},
           "logg_source": "APOGEE DR17 ASPCAP logg of the XP library (spectroscopic, not seismic)",
           "expected_coefficients": EXPECTED_COEFFICIENTS,
           "expected_intercept": SOLAR_LOGG_CGS - 4 * np.log10(SOLAR_TEFF_K), "multivariate": {}, "gravity_mass_line": {}}
    for sample, keep in (("RGB", usable & (state == "RGB")), ("all states", usable)):
        fits = {"APOKASC-2 mass": fit_power_law(seismic_mass[keep], luminosity[keep], N_BOOTSTRAP, seed=0),
                "predicted mass (posterior median)": fit_power_law(predicted_mass[keep], luminosity[keep],
                                                                   N_BOOTSTRAP, seed=0)}
        if sample == "all states":
            fits["APOKASC-2 mass shuffled (wrong)"] = fit_power_law(shuffled, luminosity[usable], N_BOOTSTRAP, seed=0)
        out["fits"][sample] = {name: fit.as_dict() for name, fit in fits.items()}
        if sample == "all states":
            real, wrong = fits["APOKASC-2 mass"], fits["APOKASC-2 mass shuffled (wrong)"]
            out["seismic_vs_shuffled_slope_z"] = float((real.slope - wrong.slope)
                                                       / np.hypot(real.slope_err, wrong.slope_err))
        out["fits"][sample]["predicted vs APOKASC-2 ln mass"] = agreement(np.log(predicted_mass[keep]),
                                                                          np.log(seismic_mass[keep]))
        masses = {"APOKASC-2 mass": seismic_mass[keep], "predicted mass (posterior median)": predicted_mass[keep],
                  # the same permutation as the power-law row above for all states; within the RGB stars for RGB
                  "APOKASC-2 mass shuffled (wrong)": np.random.default_rng(0).permutation(seismic_mass[keep])}
        multivariate, line, mass_coefficient = {}, {}, {}
        for name, mass in masses.items():
            columns = np.column_stack([np.log10(mass), logg[keep], np.log10(teff[keep])])  # (n, 3)
            fit = fit_linear_model(columns, np.log10(luminosity[keep]), N_BOOTSTRAP, seed=0,
                                   names=MASS_LUMINOSITY_VARIABLES)
            multivariate[name] = {"fit": fit.as_dict(), "z_mass_from_1": fit.z("log10 mass", 1.0),
                                  "z_mass_from_0": fit.z("log10 mass", 0.0),
                                  "z_from_expected": {v: fit.z(v, e) for v, e in EXPECTED_COEFFICIENTS.items()}}
            simple = fit_power_law(mass, gravity_mass[keep], N_BOOTSTRAP, seed=0)
            line[name] = {"fit": simple.as_dict(), "z_slope_from_1": simple.z(1.0), "z_slope_from_0": simple.z(0.0)}
            mass_coefficient[name] = (fit.coefficient("log10 mass"), (simple.slope, simple.slope_err))
        real, wrong = mass_coefficient["APOKASC-2 mass"], mass_coefficient["APOKASC-2 mass shuffled (wrong)"]
        power = [float((r[0] - w[0]) / np.hypot(r[1], w[1])) for r, w in zip(real, wrong)]  # multivariate, line
        out["multivariate"][sample] = {"fits": multivariate, "seismic_vs_shuffled_z": power[0]}
        out["gravity_mass_line"][sample] = {
            "fits": line, "seismic_vs_shuffled_z": power[1],
            # how far the spectroscopic logg is from the gravity APOKASC-2 implies (g = G M / R^2)
            "APOGEE logg - APOKASC-2 log10 (G M / R^2)": agreement(
                logg[keep], SOLAR_LOGG_CGS + np.log10(seismic_mass[keep] / radius[keep] ** 2))}
    arrays = {"luminosity": luminosity, "gravity_mass": gravity_mass, "seismic_mass": seismic_mass,
              "predicted_mass": predicted_mass, "rgb": usable & (state == "RGB"), "other": usable & (state != "RGB"),
              "lines": {name: value["fit"] for name, value in out["gravity_mass_line"]["RGB"]["fits"].items()}}
    return out, arrays


def _extinction(model, test, posterior) -> tuple[dict, dict]:
    """Check (c): A_K from the spectrum alone, and Teff residuals against the catalogue A_K."""
    from bayesxp.evaluation.science import agreement, binned_relation, fit_line
    from bayesxp.quantities import LABELS

    foundation = model.foundation
    spectral = foundation.predict_labels(test.flux, test.flux_error, request=("ak_targ", "teff"),
                                         context_keys=foundation.tokenizer.spectral_keys)
    ak_predicted, teff_spectrum = spectral["ak_targ"][0], spectral["teff"][0]
    ak = test.labels[:, LABELS.index("ak_targ")]
    apogee_teff = test.labels[:, LABELS.index("teff")]
    finite = np.isfinite(ak)
    permuted = ak.copy()
    permuted[finite] = np.random.default_rng(0).permutation(ak[finite])
    residuals = {"full-context posterior median": np.median(posterior.samples["teff"], axis=0) - apogee_teff,
                 "spectrum-only predict_labels": teff_spectrum - apogee_teff}
    lo, hi = np.nanpercentile(ak, [5, 95])
    out = {"n_finite_ak_targ": int(finite.sum()), "ak_range_5_95": [float(lo), float(hi)],
           "ak_spectrum_vs_catalogue": agreement(ak_predicted, ak),
           "ak_spectrum_vs_catalogue_permuted (wrong)": agreement(ak_predicted, permuted),
           "teff_residual_vs_ak": {}}
    for name, residual in residuals.items():
        fit = fit_line(ak, residual, N_BOOTSTRAP, seed=0)
        change = fit.slope * (hi - lo)
        out["teff_residual_vs_ak"][name] = {
            "fit": fit.as_dict(), "z_slope_zero": fit.z(0.0), "change_over_5_95_range_k": change,
            "passes": bool(abs(fit.z(0.0)) < 2 or abs(change) < SMALL_TEFF_CHANGE_K),
            "bins": binned_relation(ak, residual, AK_BINS).rows()}
    arrays = {"ak": ak, "ak_predicted": ak_predicted,
              "residual_bins": binned_relation(ak, residuals["full-context posterior median"], AK_BINS)}
    return out, arrays


def _figure(a: dict, b: dict, c: dict, path: Path) -> None:
    """2 x 2 panels drawn from the computed numbers and arrays."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesxp.io.tables import atomic_path
    from bayesxp.quantities import unit_name

    fig, axes = plt.subplots(2, 2, figsize=(11, 9))

    def binned(ax, rel, colour, label):
        ok = rel.n > 0
        ax.errorbar(rel.centres[ok], rel.median[ok], yerr=[rel.median[ok] - rel.p16[ok], rel.p84[ok] - rel.median[ok]],
                    fmt="o-", color=colour, capsize=3, label=label)

    ax = axes[0, 0]
    ax.scatter(a["m_h"], a["age"], s=2, alpha=0.25, color="grey", lw=0)
    binned(ax, a["by_m_h"], "C0", "median, 16-84%")
    ax.set(xlabel="predicted [M/H] [dex]", ylabel=f"predicted age [{unit_name('age')}]", ylim=(0, 14),
           title="(a) age-metallicity, test split (posterior medians)")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    ax.scatter(a["alpha"], a["age"], s=2, alpha=0.25, color="grey", lw=0)
    binned(ax, a["by_alpha"], "C1", "median, 16-84%")
    ax.axvline(ALPHA_POOR, color="k", ls=":", lw=0.8)
    ax.axvline(ALPHA_RICH, color="k", ls=":", lw=0.8)
    ax.set(xlabel="APOGEE [alpha/M] [dex]", ylabel=f"predicted age [{unit_name('age')}]", ylim=(0, 14),
           title="(a) [alpha/M]-age, test split")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    grid = np.linspace(np.log10(0.6), np.log10(3.5), 20)
    ax.plot(grid, grid, "k--", lw=0.8, label="slope 1: L g / Teff^4 = M")
    for key, colour, name in (("seismic_mass", "C2", "APOKASC-2 mass"),
                              ("predicted_mass", "C3", "predicted mass (posterior median)")):
        fit = b["lines"][name]
        ax.scatter(np.log10(b[key][b["rgb"]]), np.log10(b["gravity_mass"][b["rgb"]]), s=14, color=colour,
                   label=f"{name}, RGB: slope {fit['slope']:.2f} +- {fit['slope_err']:.2f} (n {fit['n']})")
        ax.scatter(np.log10(b[key][b["other"]]), np.log10(b["gravity_mass"][b["other"]]), s=14, facecolor="none",
                   edgecolor=colour)
        ax.plot(grid, fit["intercept"] + fit["slope"] * grid, color=colour, lw=1)
    wrong = b["lines"]["APOKASC-2 mass shuffled (wrong)"]
    ax.plot(grid, wrong["intercept"] + wrong["slope"] * grid, color="grey", lw=1, ls=":",
            label=f"APOKASC-2 mass shuffled (wrong), RGB: slope {wrong['slope']:.2f} +- {wrong['slope_err']:.2f}")
    ax.set(xlabel=f"log10 mass [{unit_name('mass')}]",
           ylabel="log10 (L/Lsun)(g/g_sun)(Teff/Teff_sun)^-4",
           title="(b) mass-luminosity at fixed g and Teff, seismic dev stars\n(filled: RGB; open: RC / unknown state)")
    ax.legend(fontsize=6.5)

    ax = axes[1, 1]
    ax.scatter(c["ak"], c["ak_predicted"], s=2, alpha=0.3, color="C4", lw=0)
    top = float(np.nanpercentile(c["ak"], 99.5))
    ax.plot([0, top], [0, top], "k--", lw=0.8)
    ax.set(xlabel="catalogue A_K (ak_targ) [mag]", ylabel="A_K from the spectrum alone [mag]",
           title="(c) extinction from the spectrum; inset: Teff residual vs A_K")
    inset = ax.inset_axes([0.58, 0.1, 0.38, 0.35])
    binned(inset, c["residual_bins"], "C5", None)
    inset.axhline(0, color="k", lw=0.6)
    inset.set_xlabel("ak_targ", fontsize=7)
    inset.set_ylabel("Teff post - APOGEE [K]", fontsize=7)
    inset.tick_params(labelsize=6)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pvalue(value: float) -> str:
    """A p-value; one that underflowed to 0 in double precision is written as a bound."""
    return "< 1e-300" if value == 0 else f"{value:.1e}"


def _markdown(results: dict, command: str) -> list[str]:
    from bayesxp.quantities import unit_name

    a, b, c = results["age_metallicity"], results["mass_luminosity"], results["extinction"]
    gyr, msun = unit_name("age"), unit_name("mass")
    lines = ["# Science checks of the shipped model", "", f"Command: `{command}` (shipped model, no training; "
             f"{results['runtime_s']:.0f} s on {results['threads']} thread(s)).", "",
             f"## (a) Age-metallicity and [alpha/M]-age, test split ({a['n']} giants)", "",
             "Posterior medians of the full-context posterior (spectrum + library photometry, 200 draws, seed 0).",
             "", f"| predicted [M/H] bin | n | median predicted age [{gyr}] | 16th pct | 84th pct |",
             "|---|---|---|---|---|"]
    for row in a["age_by_predicted_m_h"]:
        lines.append(f"| [{row['lo']:.1f}, {row['hi']:.1f}) | {row['n']} | {_number(row['median'])} | "
                     f"{_number(row['p16'])} | {_number(row['p84'])} |")
    lines += ["", f"| APOGEE [alpha/M] bin | n | median predicted age [{gyr}] | 16th pct | 84th pct |",
              "|---|---|---|---|---|"]
    for row in a["age_by_apogee_alpha_m"]:
        lines.append(f"| [{row['lo']:.2f}, {row['hi']:.2f}) | {row['n']} | {_number(row['median'])} | "
                     f"{_number(row['p16'])} | {_number(row['p84'])} |")
    lines += ["", f"| ages | alpha-rich (> {ALPHA_RICH}) n | median age [{gyr}] | alpha-poor (< {ALPHA_POOR}) n | "
              f"median age [{gyr}] | rich - poor [{gyr}] |", "|---|---|---|---|---|---|"]
    for name, g in a["alpha_groups"].items():
        rich, poor = g["alpha_rich"], g["alpha_poor"]
        lines.append(f"| {name} | {rich['n']} | {rich['median_age']:.2f} +- {rich['error']:.2f} | {poor['n']} | "
                     f"{poor['median_age']:.2f} +- {poor['error']:.2f} | "
                     f"{g['difference']:.2f} +- {g['difference_error']:.2f} |")
    lines += ["", "Errors: bootstrap standard errors of the medians (1,000 resamples).", "",
              "| Spearman rank correlation | n | rho | p-value |", "|---|---|---|---|"]
    for name, corr in a["spearman"].items():
        lines.append(f"| {name} | {corr['n']} | {corr['rho']:+.3f} | {_pvalue(corr['pvalue'])} |")
    lines += ["", "## (b) Mass-luminosity, seismic dev stars with an APOKASC-2 radius", "",
              f"{b['n_dev_stars']} dev stars (xp_seismic_dev.csv, one row per APOGEE_ID); "
              f"{b['n_with_apokasc2_radius']} with an APOKASC-2 radius Rcorr, {b['n_usable']} with a valid "
              f"APOKASC-2 mass Mcorr (0.5-4 {msun}); states (APOKASC-2 ES): "
              + ", ".join(f"{k} {v}" for k, v in b["states_of_usable"].items())
              + f". L = R^2 (Teff / 5772 K)^4 with the {b['teff_source']}. Fit: OLS of log10 L on log10 M, "
              "errors from 1,000 bootstrap resamples of the stars; scatter in dex.", "",
              "| stars | mass | n | slope b | intercept a (log10 L at 1 solar mass) | scatter [dex] |",
              "|---|---|---|---|---|---|"]
    for sample, fits in b["fits"].items():
        for name, fit in fits.items():
            if "slope" in fit:
                lines.append(f"| {sample} | {name} | {fit['n']} | {fit['slope']:.2f} +- {fit['slope_err']:.2f} | "
                             f"{fit['intercept']:.2f} +- {fit['intercept_err']:.2f} | {fit['scatter']:.3f} |")
    lines += ["", "Power of the check: the APOKASC-2-mass slope of all states differs from the shuffled-mass slope "
              f"by {b['seismic_vs_shuffled_slope_z']:+.2f} sigma (errors added in quadrature).", "",
              "| stars | predicted vs APOKASC-2 ln mass: n | bias | mad_std | Spearman rho |", "|---|---|---|---|---|"]
    for sample, fits in b["fits"].items():
        m = fits["predicted vs APOKASC-2 ln mass"]
        lines.append(f"| {sample} | {m['n']} | {m['bias']:+.3f} | {m['mad_std']:.3f} | {m['spearman_rho']:+.3f} |")
    lines += _markdown_fixed_gravity(b)
    lo, hi = c["ak_range_5_95"]
    lines += ["", f"## (c) Extinction apart from Teff, test split ({c['n_finite_ak_targ']} stars with a finite ak_targ)",
              "", "A_K requested from the spectrum alone (foundation.predict_labels, spectral keys as context) "
              "against the catalogue ak_targ:", "",
              "| comparison | n | bias [mag] | mad_std [mag] | Spearman rho | p-value |", "|---|---|---|---|---|---|"]
    for name in ("ak_spectrum_vs_catalogue", "ak_spectrum_vs_catalogue_permuted (wrong)"):
        m = c[name]
        lines.append(f"| {name.replace('_', ' ')} | {m['n']} | {m['bias']:+.4f} | {m['mad_std']:.4f} | "
                     f"{m['spearman_rho']:+.3f} | {_pvalue(m['spearman_pvalue'])} |")
    lines += ["", f"Teff residual (prediction - APOGEE) against ak_targ: OLS slope with a bootstrap error; the "
              f"change is slope x the 5-95% ak_targ range ({lo:.3f} to {hi:.3f} mag). Passes: slope within "
              f"2 sigma of 0, or a change below {SMALL_TEFF_CHANGE_K:.0f} K.", "",
              "| Teff | n | slope [K/mag] | z (slope = 0) | change over range [K] | scatter [K] | passes |",
              "|---|---|---|---|---|---|---|"]
    for name, r in c["teff_residual_vs_ak"].items():
        f = r["fit"]
        lines.append(f"| {name} | {f['n']} | {f['slope']:+.1f} +- {f['slope_err']:.1f} | {r['z_slope_zero']:+.2f} | "
                     f"{r['change_over_5_95_range_k']:+.1f} | {f['scatter']:.1f} | {'yes' if r['passes'] else 'no'} |")
    lines += ["", "| ak_targ bin | " + " | ".join(f"{name}: n, median, 16-84 [K]" for name in c["teff_residual_vs_ak"])
              + " |", "|---|" + "---|" * len(c["teff_residual_vs_ak"])]
    per_bin = [r["bins"] for r in c["teff_residual_vs_ak"].values()]
    for rows in zip(*per_bin):
        cells = [f"{r['n']}, {_number(r['median'], 1)}, [{_number(r['p16'], 1)}, {_number(r['p84'], 1)}]" for r in rows]
        lines.append(f"| [{rows[0]['lo']:.2f}, {rows[0]['hi']:.2f}) | " + " | ".join(cells) + " |")
    lines += ["", "Figure: `science_checks.png` (a: age vs predicted [M/H] and vs APOGEE [alpha/M] with binned "
              "medians and 16-84% bars; b: log10 (L g / Teff^4) vs log10 M for the APOKASC-2 and the predicted "
              "masses, RGB filled, the slope-1 line and the lines fitted to the RGB stars; c: A_K from the "
              "spectrum vs the catalogue, inset the binned full-context Teff residual vs ak_targ)."]
    return lines


def _markdown_fixed_gravity(b: dict) -> list[str]:
    """Check (b) at fixed gravity and Teff: the multivariate fit and the log10 (L g / Teff^4) line."""
    def coefficient(fit: dict, k: int) -> str:
        return f"{fit['coefficients'][k]:+.2f} +- {fit['coefficient_errors'][k]:.2f}"

    lines = ["", "At fixed gravity and Teff (L = 4 pi R^2 sigma Teff^4, g = G M / R^2, so L ~ M Teff^4 / g): OLS of "
             "log10 L = a + b log10 M + c logg + d log10 Teff, with logg the " + b["logg_source"] + "; expected "
             f"b = 1, c = -1, d = 4, a = {b['expected_intercept']:.2f} (log10 g_sun - 4 log10 5772 K); errors from 1,000 bootstrap resamples of the stars. The shuffled masses are "
             "permuted among the stars of each sample (all states: the permutation of the rows above).", "",
             "| stars | mass | n | b (log10 M) | z (b = 1) | z (b = 0) | c (logg) | d (log10 Teff) | a | scatter [dex] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for sample, table in b["multivariate"].items():
        for name, r in table["fits"].items():
            f = r["fit"]
            lines.append(f"| {sample} | {name} | {f['n']} | {coefficient(f, 0)} | {r['z_mass_from_1']:+.2f} | "
                         f"{r['z_mass_from_0']:+.2f} | {coefficient(f, 1)} | {coefficient(f, 2)} | "
                         f"{f['intercept']:+.2f} +- {f['intercept_err']:.2f} | {f['scatter']:.3f} |")
    lines += ["", "Power: b with the APOKASC-2 masses minus b with the shuffled masses, in sigma (errors in "
              "quadrature): " + ", ".join(f"{sample} {table['seismic_vs_shuffled_z']:+.2f}"
                                          for sample, table in b["multivariate"].items()) + ".", "",
              "The same as one line: log10 (L g / Teff^4) in solar units, (L / Lsun)(g / g_sun)(Teff / 5772 K)^-4 "
              "with g_sun = 10^4.438 cm s^-2 (the mass L, g and Teff imply), against log10 M; expected slope 1, "
              "intercept 0.", "",
              "| stars | mass | n | slope | z (slope = 1) | z (slope = 0) | intercept | scatter [dex] |",
              "|---|---|---|---|---|---|---|---|"]
    for sample, table in b["gravity_mass_line"].items():
        for name, r in table["fits"].items():
            f = r["fit"]
            lines.append(f"| {sample} | {name} | {f['n']} | {f['slope']:+.2f} +- {f['slope_err']:.2f} | "
                         f"{r['z_slope_from_1']:+.2f} | {r['z_slope_from_0']:+.2f} | "
                         f"{f['intercept']:+.3f} +- {f['intercept_err']:.3f} | {f['scatter']:.3f} |")
    lines += ["", "Power: slope with the APOKASC-2 masses minus slope with the shuffled masses, in sigma: "
              + ", ".join(f"{sample} {table['seismic_vs_shuffled_z']:+.2f}"
                          for sample, table in b["gravity_mass_line"].items()) + ". With the APOKASC-2 masses "
              "the relation holds by construction (the radius and the mass come from the same seismology, "
              "g = G M / R^2), up to the difference between the spectroscopic and the seismic gravity (next table): "
              "those rows check the inputs; the predicted-mass rows are the check of the model.", "",
              "| stars | APOGEE logg - APOKASC-2 log10 (G M / R^2): n | bias [dex] | mad_std [dex] | Spearman rho |",
              "|---|---|---|---|---|"]
    for sample, table in b["gravity_mass_line"].items():
        m = table["APOGEE logg - APOKASC-2 log10 (G M / R^2)"]
        lines.append(f"| {sample} | {m['n']} | {m['bias']:+.3f} | {m['mad_std']:.3f} | {m['spearman_rho']:+.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    import torch

    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.evaluation.predictors import predict_bayesxp
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.perf_counter()

    model = BayesXPModel.load()
    test = build_training_set(DataConfig(), progress=False).subset("test")
    posterior = predict_bayesxp(model, test, num_samples=200, context="full", seed=0)
    print(f"test-split posterior: {posterior.info['predict_seconds']:.0f} s", flush=True)
    age_metallicity, a_arrays = _age_metallicity(posterior, test)
    print("(a)", json.dumps(age_metallicity["spearman"]), flush=True)
    mass_luminosity, b_arrays = _mass_luminosity(model)
    print("(b)", json.dumps(mass_luminosity["fits"]), flush=True)
    extinction, c_arrays = _extinction(model, test, posterior)
    print("(c)", json.dumps({k: v for k, v in extinction.items() if k != "teff_residual_vs_ak"}), flush=True)

    results = {"threads": args.threads, "age_metallicity": age_metallicity, "mass_luminosity": mass_luminosity,
               "extinction": extinction}
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    _figure(a_arrays, b_arrays, c_arrays, output / "science_checks.png")
    results["runtime_s"] = time.perf_counter() - clock
    command = "BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/science_checks.py --threads " + str(args.threads)
    lines = _markdown(results, command)
    with atomic_path(output / "science_checks.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "science_checks.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
