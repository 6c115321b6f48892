"""emcee against the amortised posterior on three bundled demo giants (:mod:`bayesxp.model.mcmc`).

Each star: ``fit_star`` from the amortised posterior median (the shipped joint head; [alpha/M] from the prior
box centre), photometry in the context; reported per star the runtime, acceptance fraction, autocorrelation
times, R-hat (walkers read as chains: indicative), the reduced chi-square at the emcee median, and for Teff,
logg, [M/H] the emcee and amortised medians with 68% intervals next to the APOGEE labels.

Usage::

    python benchmarks/mcmc_demo.py [--n-walkers 32] [--n-steps 500] [--burn 200]

Writes ``benchmarks/results/mcmc_demo.md`` / ``.json``.
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
    import torch

    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.mcmc import MCMCConfig, fit_star
    from bayesxp.xp.inputs import photometry_labels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--n-walkers", type=int, default=32)
    parser.add_argument("--n-steps", type=int, default=500)
    parser.add_argument("--burn", type=int, default=200)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    spectra = read_sampled_table(demo_path()).take(np.arange(3))
    model = BayesXPModel.load()
    posterior = model.posterior(spectra, num_samples=200, seed=0)
    photometry = photometry_labels(spectra.meta)  # (N, len(LABELS)): fit_star reads the photometric columns
    config = MCMCConfig(n_walkers=args.n_walkers, n_steps=args.n_steps, burn=args.burn)
    apogee_columns = {"teff": "teff", "logg": "logg", "m_h": "fe_h"}
    rows = []
    for i in range(len(spectra)):
        initial = {q: float(np.median(v[:, i])) for q, v in posterior.samples.items()}
        clock = time.perf_counter()
        result = fit_star(model.foundation, spectra.flux[i], spectra.flux_error[i], photometry[i], config,
                          initial=initial,
                          star=str(spectra.source_id[i]))
        seconds = time.perf_counter() - clock
        draws, summary = result.samples(), result.summary()
        row = {"source_id": int(spectra.source_id[i]), "seconds": seconds,
               "acceptance": float(result.acceptance_fraction.mean()),
               "autocorr_time": [float(t) for t in result.autocorr_time],
               "r_hat": [float(summary["r_hat"].min()), float(summary["r_hat"].max())],
               "reduced_chi_square": float(result.reduced_chi_square), "labels": {}}
        for q, column in apogee_columns.items():
            row["labels"][q] = {"emcee": np.percentile(draws[q], [16, 50, 84]).tolist(),
                                "amortised": np.percentile(posterior.samples[q][:, i], [16, 50, 84]).tolist(),
                                "apogee": float(spectra.meta[column].iloc[i])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["# emcee against the amortised posterior (three demo giants)", "",
             f"Command: `python benchmarks/mcmc_demo.py --n-walkers {args.n_walkers} --n-steps {args.n_steps} "
             f"--burn {args.burn}` (1 thread).", "",
             "| star | runtime [s] | acceptance | autocorr. time [steps] | R-hat | chi2/token at median |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['source_id']} | {r['seconds']:.0f} | {r['acceptance']:.2f} | "
                     f"{min(r['autocorr_time']):.0f}-{max(r['autocorr_time']):.0f} | "
                     f"{r['r_hat'][0]:.2f}-{r['r_hat'][1]:.2f} | {r['reduced_chi_square']:.2f} |")
    lines += ["", "Median [16%, 84%]:", "", "| star | label | emcee | amortised | APOGEE |", "|---|---|---|---|---|"]
    for r in rows:
        for q, v in r["labels"].items():
            e, a = v["emcee"], v["amortised"]
            digits = 0 if q == "teff" else 2
            lines.append(f"| {r['source_id']} | {q} | {e[1]:.{digits}f} [{e[0]:.{digits}f}, {e[2]:.{digits}f}] | "
                         f"{a[1]:.{digits}f} [{a[0]:.{digits}f}, {a[2]:.{digits}f}] | {v['apogee']:.{digits}f} |")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "mcmc_demo.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "mcmc_demo.json") as tmp:
        tmp.write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
