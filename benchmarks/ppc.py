"""Posterior predictive checks on the test split: which real spectra can the model reproduce?

For a random subset of test-split giants (never trained on), :func:`bayesxp.model.ppc.posterior_predictive_check`
with the shipped model (full context: spectrum and photometry): per star the discrepancy over the 80 spectral
tokens and the posterior predictive p-value. Reported: the p-value distribution (histogram figure), the share
below 0.01 and 0.05, the discrepancy per token, and the stars the model reproduces worst with their labels.

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/ppc.py [--stars 600] [--num-samples 50] [--threads 2]

Writes ``benchmarks/results/ppc.md`` / ``.json`` and ``ppc_pvalues.png``.
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


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.ppc import posterior_predictive_check
    from bayesxp.quantities import LABELS
    from bayesxp.spectra import SampledSpectra

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--stars", type=int, default=600)
    parser.add_argument("--num-samples", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    test = build_training_set(DataConfig(), progress=False).subset("test")
    rows = np.sort(np.random.default_rng(0).choice(len(test), min(args.stars, len(test)), replace=False))
    stars = test.subset(rows)
    spectra = SampledSpectra.from_arrays(stars.source_id, stars.flux, stars.flux_error, meta=stars.meta)
    start = time.perf_counter()
    result = posterior_predictive_check(BayesXPModel.load(), spectra, num_samples=args.num_samples, seed=0)
    seconds = time.perf_counter() - start
    ok = result.status == "ok"
    pvalue, per_token = result.pvalue[ok], (result.chi2 / result.n_tokens)[ok]
    histogram = np.histogram(pvalue, bins=10, range=(0.0, 1.0))[0]
    summary = {"n": int(ok.sum()), "num_samples": args.num_samples, "seconds": seconds,
               "share_below_0.01": float(np.mean(pvalue < 0.01)), "share_below_0.05": float(np.mean(pvalue < 0.05)),
               "share_above_0.95": float(np.mean(pvalue > 0.95)), "chi2_per_token_median": float(np.median(per_token)),
               "chi2_per_token_mean": float(np.mean(per_token)), "histogram_10_bins": histogram.tolist()}
    worst = np.argsort(result.pvalue)[:10]
    label = {k: stars.labels[:, LABELS.index(k)] for k in ("teff", "logg", "m_h", "ak_targ")}
    snr = stars.meta["snr"].to_numpy(float) if "snr" in stars.meta else np.full(len(stars), np.nan)
    worst_rows = [{"source_id": int(result.source_id[i]), "chi2_per_token": float(result.chi2[i] / result.n_tokens[i]),
                   "pvalue": float(result.pvalue[i]), **{k: float(v[i]) for k, v in label.items()},
                   "apogee_snr": float(snr[i])} for i in worst]

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.hist(pvalue, bins=20, range=(0, 1), color="0.4")
    ax.axhline(len(pvalue) / 20, color="C3", lw=1, label="uniform")
    ax.set(xlabel="posterior predictive p-value", ylabel="stars",
           title=f"{len(pvalue)} test-split giants, {args.num_samples} draws each")
    ax.legend()
    fig.tight_layout()
    with atomic_path(output / "ppc_pvalues.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    lines = ["# Posterior predictive checks on the test split", "",
             f"Command: `python benchmarks/ppc.py --stars {args.stars} --num-samples {args.num_samples}` (shipped "
             f"model, full context; {summary['n']} random test-split giants; {seconds:.0f} s on {args.threads} "
             "threads). Discrepancy: chi-square over the 80 spectral tokens; p-value: posterior predictive.", "",
             "| n | p < 0.01 | p < 0.05 | p > 0.95 | chi2/token median | mean |", "|---|---|---|---|---|---|",
             f"| {summary['n']} | {summary['share_below_0.01']:.3f} | {summary['share_below_0.05']:.3f} | "
             f"{summary['share_above_0.95']:.3f} | {summary['chi2_per_token_median']:.2f} | "
             f"{summary['chi2_per_token_mean']:.2f} |", "",
             f"p-value histogram (10 bins from 0 to 1): {histogram.tolist()}; figure `ppc_pvalues.png`.", "",
             "The stars the model reproduces worst:", "",
             "| source_id | chi2/token | p | Teff [K] | logg | [M/H] | A_K | APOGEE S/N |", "|---|---|---|---|---|---|---|---|"]
    for r in worst_rows:
        lines.append(f"| {r['source_id']} | {r['chi2_per_token']:.2f} | {r['pvalue']:.2g} | {r['teff']:.0f} | "
                     f"{r['logg']:.2f} | {r['m_h']:.2f} | {r['ak_targ']:.2f} | {r['apogee_snr']:.0f} |")
    with atomic_path(output / "ppc.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "ppc.json") as tmp:
        tmp.write_text(json.dumps({"summary": summary, "worst": worst_rows}, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
