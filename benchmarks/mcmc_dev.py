"""emcee against the amortised joint posterior on seismic dev stars (:mod:`bayesxp.model.mcmc`).

The stars are the seismic dev stars (:func:`bayesxp.evaluation.truth.seismic_dev_truth`: consensus
asteroseismic mass [Msun] and age [Gyr], APOGEE DR17 Teff, logg, [M/H]); ``--stars`` of those with a finite
seismic mass and age are drawn with :func:`bayesxp.evaluation.truth.subsample` (seeded). Each star gets the
amortised joint posterior (``context="full"``: spectrum and library photometry,
:func:`bayesxp.evaluation.predictors.predict_bayesxp`) and an emcee fit (:func:`bayesxp.model.mcmc.fit_star`)
started from the amortised median with the same photometry, as in ``benchmarks/mcmc_demo.py``.

Per star and label (teff, logg, m_h, mass, age): both posteriors' median, 16/84% and 2.5/97.5%, the truth,
whether the 68% and 95% central intervals hold it (naive: the truth's own error is not convolved), and the
overlap of the two 68% intervals (length of intersection / length of union); per star the emcee runtime,
acceptance fraction, autocorrelation times, R-hat max and ESS min (ArviZ, each walker read as a chain:
walkers of one ensemble are not independent, so indicative). Summed per label: coverage counts with a
Jeffreys 68% band, median |median - truth|, median overlap, share of stars with R-hat < 1.1.

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/mcmc_dev.py [--stars 24] [--n-walkers 32] \
        [--n-steps 500] [--burn 200] [--seed 0] [--threads 1] [--output benchmarks/results]

Writes ``<output>/mcmc_dev.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
QUANTITIES = ("teff", "logg", "m_h", "mass", "age")
"""The compared labels, in report order (alpha_m is sampled by emcee only and recorded, not compared)."""
PERCENTS = (2.5, 16.0, 50.0, 84.0, 97.5)
DIGITS = {"teff": 0, "logg": 2, "m_h": 2, "mass": 2, "age": 1}


def interval_overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Length of the intersection over the length of the union of two intervals (0 when disjoint).

    Example:
        >>> interval_overlap((0.0, 2.0), (1.0, 3.0)), interval_overlap((0.0, 1.0), (2.0, 3.0))
        (0.3333333333333333, 0.0)
    """
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else float("nan")


def _percentiles(draws: np.ndarray) -> list[float]:
    """``[2.5, 16, 50, 84, 97.5]`` percentiles of the finite draws (NaN when none)."""
    draws = np.asarray(draws, float)
    draws = draws[np.isfinite(draws)]
    return np.percentile(draws, PERCENTS).tolist() if draws.size else [float("nan")] * len(PERCENTS)


def _judge(p: list[float], truth: float) -> dict:
    """Whether the 68% and 95% central intervals ``p`` (as :data:`PERCENTS`) hold the truth; |median - truth|."""
    if not (np.isfinite(truth) and np.all(np.isfinite(p))):
        return {"in_68": None, "in_95": None, "abs_error": None}
    return {"in_68": bool(p[1] <= truth <= p[3]), "in_95": bool(p[0] <= truth <= p[4]),
            "abs_error": abs(p[2] - truth)}


def star_record(result: object, amortised: dict[str, np.ndarray], truth: dict[str, float],
                truth_error: dict[str, float]) -> dict:
    """Everything recorded of one star: its emcee fit against its amortised draws and its truth.

    Args:
        result: The :class:`~bayesxp.model.mcmc.MCMCResult`.
        amortised: ``{quantity: (S,)}`` amortised draws of the star.
        truth: ``{quantity: value}`` (NaN: none).
        truth_error: ``{quantity: 1-sigma error}`` of the truth (recorded, not used in the coverage).

    Returns:
        JSON-ready ``{"acceptance", "autocorr_time", "r_hat", "ess_bulk", "ess_tail", "r_hat_max",
        "ess_min", "reduced_chi_square", "labels": {q: {...}}, "alpha_m_emcee"}``.
    """
    draws, summary = result.samples(), result.summary()  # summary rows: GENERATION_LABELS, physical units
    record = {"acceptance": float(np.mean(result.acceptance_fraction)),
              "autocorr_time": dict(zip(result.names, np.asarray(result.autocorr_time, float).tolist())),
              "n_kept_per_walker": int(result.chain.shape[0]),
              "r_hat": summary["r_hat"].astype(float).to_dict(),
              "ess_bulk": summary["ess_bulk"].astype(float).to_dict(),
              "ess_tail": summary["ess_tail"].astype(float).to_dict(),
              "r_hat_max": float(summary["r_hat"].max()),
              "ess_min": float(summary[["ess_bulk", "ess_tail"]].to_numpy(float).min()),
              "reduced_chi_square": float(result.reduced_chi_square),
              "alpha_m_emcee": _percentiles(draws["alpha_m"]), "labels": {}}
    for q in QUANTITIES:
        e, a = _percentiles(draws[q]), _percentiles(amortised[q])
        record["labels"][q] = {"truth": truth[q], "truth_error": truth_error[q],
                               "emcee": e, "amortised": a,
                               "emcee_judged": _judge(e, truth[q]), "amortised_judged": _judge(a, truth[q]),
                               "overlap_68": interval_overlap((e[1], e[3]), (a[1], a[3]))
                               if np.all(np.isfinite(e + a)) else None,
                               "r_hat": float(summary.loc[q, "r_hat"]),
                               "ess_bulk": float(summary.loc[q, "ess_bulk"])}
    return record


def summarise(stars: list[dict], band_confidence: float = 0.68) -> dict:
    """Per label, over the fitted stars: coverage counts with bands, errors, overlap, R-hat share.

    Args:
        stars: :func:`star_record` rows (with ``"status"``; only ``"ok"`` ones count).
        band_confidence: Confidence of the Jeffreys band on each coverage count.

    Returns:
        ``{quantity: {"n", "<method>_<level>": {"n_inside", "n", "band", "expected"}, ...}}`` where ``band``
        is the Jeffreys band on the observed count and ``expected`` the central ``band_confidence`` range
        of the count a calibrated interval gives (Binomial(n, level)).
    """
    from scipy import stats

    from bayesxp.calibration.coverage import binomial_band

    fitted = [s for s in stars if s["status"] == "ok"]
    out = {}
    tail = (1 - band_confidence) / 2
    for q in QUANTITIES:
        rows = [s["labels"][q] for s in fitted]
        entry: dict = {}
        for method in ("emcee", "amortised"):
            judged = [r[f"{method}_judged"] for r in rows if r[f"{method}_judged"]["in_68"] is not None]
            n = len(judged)
            for level, key in ((0.68, "in_68"), (0.95, "in_95")):
                k = sum(j[key] for j in judged)
                lo, hi = binomial_band(k, n, confidence=band_confidence) if n else (np.nan, np.nan)
                expected = stats.binom(n, level).ppf([tail, 1 - tail]).tolist() if n else [np.nan, np.nan]
                entry[f"{method}_{key[3:]}"] = {"n_inside": int(k), "n": n, "coverage": k / n if n else None,
                                                 "band": [float(lo) * n, float(hi) * n], "expected": expected}
            entry[f"{method}_median_abs_error"] = float(np.median([j["abs_error"] for j in judged])) if n else None
        overlaps = [r["overlap_68"] for r in rows if r["overlap_68"] is not None]
        entry["median_overlap_68"] = float(np.median(overlaps)) if overlaps else None
        entry["n_overlap_zero"] = int(sum(o == 0 for o in overlaps))
        entry["share_r_hat_below_1_1"] = float(np.mean([r["r_hat"] < 1.1 for r in rows])) if rows else None
        entry["median_r_hat"] = float(np.median([r["r_hat"] for r in rows])) if rows else None
        out[q] = entry
    return out


def markdown(results: dict) -> str:
    """The report's text, read off :func:`main`'s results (no numbers computed here but formatting)."""
    args, summary, stars = results["args"], results["summary"], results["stars"]
    fitted = [s for s in stars if s["status"] == "ok"]
    n = len(fitted)
    lines = ["# emcee against the amortised joint posterior (seismic dev stars)", "",
             f"Command: `{results['command']}` ({args['threads']} torch thread).", "",
             f"Stars: {len(stars)} of the {results['selection']['n_with_mass_and_age']} seismic dev stars with a "
             f"finite seismic mass and age (of {results['selection']['n_dev_stars']} dev stars on the XP library, "
             "`bayesxp.evaluation.truth.seismic_dev_truth`), drawn with "
             f"`subsample(truth, {args['stars']}, seed={args['seed']})` (NumPy `default_rng({args['seed']}).choice` "
             f"without replacement, sorted). {n} fitted. Truths: consensus seismic mass [Msun] and age [Gyr], "
             "APOGEE DR17 ASPCAP Teff, logg, [M/H] (`fe_h`).", "",
             f"Amortised: `BayesXPModel.load().posterior(..., num_samples={results['num_samples']}, "
             f"context=\"full\", seed={args['seed']})` (spectrum and library photometry). emcee: `fit_star` with "
             f"{args['n_walkers']} walkers x {args['n_steps']} steps, burn {args['burn']} "
             f"({results['n_kept_per_walker']} kept per walker), started from the amortised median ([alpha/M] from "
             "the prior box centre), the same photometry; MCMCConfig's default prior box. "
             f"Total runtime {results['runtime_s'] / 60:.1f} min "
             f"(emcee {results['emcee_seconds_total'] / 60:.1f} min, median {results['emcee_seconds_median']:.0f} s "
             "per star).", "",
             "Coverage is naive: is the truth inside the central interval (the truth's own error not convolved). "
             "Cells: count inside [Jeffreys 68% band on the count] (calibrated: the 16-84% range of the count a "
             "calibrated interval gives, Binomial(n, level)). Overlap: |intersection| / |union| of the two 68% "
             "intervals. R-hat per label with each walker read as a chain (indicative); "
             f"stars whose R-hat max over all six sampled labels (alpha_m included) is below 1.1: "
             f"{results['n_r_hat_max_below_1_1']}/{n}.", ""]
    lines += ["| label | n | emcee 68% | amortised 68% | emcee 95% | amortised 95% | "
              "median abs err emcee | median abs err amortised | median overlap 68% | overlap = 0 | "
              "R-hat < 1.1 | median R-hat |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(c: dict) -> str:
        return (f"{c['n_inside']}/{c['n']} [{c['band'][0]:.1f}, {c['band'][1]:.1f}] "
                f"(calibrated: {c['expected'][0]:.0f}-{c['expected'][1]:.0f})")

    for q in QUANTITIES:
        s = summary[q]
        d = DIGITS[q] + 1
        lines.append(f"| {q} [{results['units'][q]}] | {s['emcee_68']['n']} | {cell(s['emcee_68'])} | "
                     f"{cell(s['amortised_68'])} | {cell(s['emcee_95'])} | {cell(s['amortised_95'])} | "
                     f"{s['emcee_median_abs_error']:.{d}f} | {s['amortised_median_abs_error']:.{d}f} | "
                     f"{s['median_overlap_68']:.2f} | {s['n_overlap_zero']}/{n} | "
                     f"{s['share_r_hat_below_1_1']:.2f} | {s['median_r_hat']:.2f} |")
    lines += ["", "Per star (emcee):", "",
              "| source_id | runtime [s] | acceptance | R-hat max | ESS min | autocorr. time [steps] | "
              "chi2/token at median | status |",
              "|---|---|---|---|---|---|---|---|"]
    for s in stars:
        if s["status"] != "ok":
            lines.append(f"| {s['source_id']} | | | | | | | {s['status']} |")
            continue
        tau = [t for t in s["autocorr_time"].values() if t is not None and np.isfinite(t)]
        taus = f"{min(tau):.0f}-{max(tau):.0f}" if tau else "n/a"
        lines.append(f"| {s['source_id']} | {s['seconds']:.0f} | {s['acceptance']:.2f} | {s['r_hat_max']:.2f} | "
                     f"{s['ess_min']:.0f} | {taus} | {s['reduced_chi_square']:.2f} | ok |")
    lines += ["", "Per star and label, median [16%, 84%] (in 68%: E emcee, A amortised):", "",
              "| source_id | label | truth | emcee | amortised | in 68% | overlap |", "|---|---|---|---|---|---|---|"]
    for s in fitted:
        for q in QUANTITIES:
            v, d = s["labels"][q], DIGITS[q]
            e, a = v["emcee"], v["amortised"]
            inside = "".join(m for m, key in (("E", "emcee_judged"), ("A", "amortised_judged")) if v[key]["in_68"])
            overlap = "" if v["overlap_68"] is None else f"{v['overlap_68']:.2f}"
            lines.append(f"| {s['source_id']} | {q} | {v['truth']:.{d}f} | {e[2]:.{d}f} [{e[1]:.{d}f}, {e[3]:.{d}f}] | "
                         f"{a[2]:.{d}f} [{a[1]:.{d}f}, {a[3]:.{d}f}] | {inside or '-'} | {overlap} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=24)
    parser.add_argument("--n-walkers", type=int, default=32)
    parser.add_argument("--n-steps", type=int, default=500)
    parser.add_argument("--burn", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--num-samples", type=int, default=1000, help="amortised draws per star")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)

    from bayesxp.calibration.report import to_json_ready
    from bayesxp.evaluation.predictors import predict_bayesxp
    from bayesxp.evaluation.truth import seismic_dev_truth, subsample
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.generate import GENERATION_LABELS
    from bayesxp.model.mcmc import MCMCConfig, fit_star
    from bayesxp.quantities import unit_name
    from bayesxp.xp.inputs import photometry_labels

    started = time.perf_counter()
    dev = seismic_dev_truth()
    both = np.flatnonzero(np.isfinite(dev.values["mass"]) & np.isfinite(dev.values["age"]))
    truth = subsample(dev.take(both), args.stars, args.seed)
    stars = truth.stars
    model = BayesXPModel.load()
    posterior = predict_bayesxp(model, stars, num_samples=args.num_samples, context="full", seed=args.seed)
    photometry = photometry_labels(stars.meta)  # (N, len(LABELS)): the columns the "full" context reads
    config = MCMCConfig(n_walkers=args.n_walkers, n_steps=args.n_steps, burn=args.burn, seed=args.seed)
    records = []
    for i, source_id in enumerate(np.asarray(stars.source_id)):
        base = {"source_id": int(source_id), "apogee_id": str(stars.meta["apogee_id"].iloc[i]),
                "amortised_status": str(posterior.status[i]) if posterior.status is not None else "ok",
                "mass_source": str(stars.meta["seismic_mass_source"].iloc[i]),
                "age_source": str(stars.meta["seismic_age_source"].iloc[i]),
                "evolutionary_state": str(stars.meta["seismic_evolutionary_state"].iloc[i])}
        amortised = {q: np.asarray(posterior.samples[q][:, i], float) for q in QUANTITIES}
        initial = {q: float(np.median(v[:, i])) for q, v in posterior.samples.items() if q in GENERATION_LABELS}
        clock = time.perf_counter()
        try:
            if not all(np.isfinite(v).all() for v in initial.values()):
                raise ValueError(f"no amortised median ({base['amortised_status']})")
            result = fit_star(model.foundation, stars.flux[i], stars.flux_error[i], photometry[i], config,
                              initial=initial, star=str(source_id))
        except ValueError as exc:
            records.append({**base, "status": str(exc)})
            continue
        seconds = time.perf_counter() - clock
        record = star_record(result, amortised, {q: float(truth.values[q][i]) for q in QUANTITIES},
                             {q: float(truth.errors[q][i]) for q in QUANTITIES})
        records.append({**base, "status": "ok", "seconds": seconds, "initial": initial, **record})
        print(f"[{time.perf_counter() - started:7.1f} s] star {i + 1}/{len(stars)} {source_id}: {seconds:.0f} s, "
              f"acceptance {record['acceptance']:.2f}, R-hat max {record['r_hat_max']:.2f}", flush=True)
    seconds = [r["seconds"] for r in records if r["status"] == "ok"]
    results = {
        "command": " ".join([*([f"BAYESXP_CACHE_DIR={cache}"] if (cache := os.environ.get("BAYESXP_CACHE_DIR")) else []),
                             "python benchmarks/mcmc_dev.py", *(sys.argv[1:] if argv is None else argv)]),
        "args": vars(args),
        "num_samples": args.num_samples,
        "mcmc_config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "n_kept_per_walker": config.n_kept,
        "units": {q: unit_name(q) for q in QUANTITIES},
        "selection": {"n_dev_stars": len(dev), "n_with_mass_and_age": int(both.size),
                      "rule": f"subsample(seismic_dev_truth() with finite mass and age, {args.stars}, "
                              f"seed={args.seed})",
                      "truth_description": dev.description, "truth_counts": dev.counts},
        "amortised_info": posterior.info,
        "summary": summarise(records),
        "stars": records,
        "n_r_hat_max_below_1_1": int(sum(r["r_hat_max"] < 1.1 for r in records if r["status"] == "ok")),
        "emcee_seconds_total": float(np.sum(seconds)),
        "emcee_seconds_median": float(np.median(seconds)) if seconds else None,
        "runtime_s": time.perf_counter() - started,
    }
    results = to_json_ready(results)
    text = markdown(results)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "mcmc_dev.md") as tmp:
        tmp.write_text(text)
    with atomic_path(output / "mcmc_dev.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2, allow_nan=False))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
