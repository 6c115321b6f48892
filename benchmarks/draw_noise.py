"""How many posterior draws a point estimate needs: Monte Carlo noise of the seismic dev figures.

The shipped model draws 4,000 samples per seismic dev star (``calibration/configs/seismic_dev.yaml``'s stars,
full context, seed 0); the mad_std of the predictive median against the seismic truth (mass: 83 stars, age: 70
with a published error) is computed from all 4,000 and from disjoint sets of 200 and of 1,000 of them. The spread
over the sets is the Monte Carlo noise a campaign with that many draws carries (the weight draws are shared by
the stars of one call, so the stars' errors move together).

Usage::

    python benchmarks/draw_noise.py [--threads 1]

Writes ``benchmarks/results/draw_noise.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TOTAL = 4000


def main(argv: list[str] | None = None) -> int:
    import torch
    from astropy.stats import mad_std

    from bayesxp.evaluation.predictors import predict_bayesxp
    from bayesxp.evaluation.truth import seismic_dev_truth
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    truth = seismic_dev_truth()
    posterior = predict_bayesxp(BayesXPModel.load(), truth.stars, num_samples=TOTAL, context="full", seed=0)
    results = {}
    for quantity in ("mass", "age"):
        values, errors = truth.values[quantity], truth.errors[quantity]
        judged = np.isfinite(values) & np.isfinite(errors) & (errors > 0)
        draws = posterior.samples[quantity][:, judged]
        scatter = {"all": float(mad_std(np.median(draws, 0) - values[judged]))}
        for size in (200, 1000):
            sets = [float(mad_std(np.median(draws[k * size:(k + 1) * size], 0) - values[judged]))
                    for k in range(TOTAL // size)]
            scatter[str(size)] = {"n_sets": len(sets), "min": min(sets), "median": float(np.median(sets)),
                                  "max": max(sets)}
        results[quantity] = {"n": int(judged.sum()), "mad_std": scatter}
    lines = ["# Monte Carlo noise of the seismic dev figures", "",
             "Command: `python benchmarks/draw_noise.py --threads 1` (the shipped model; seismic dev stars, full "
             f"context, {TOTAL} draws per star, seed 0).", "",
             f"| quantity | n | mad_std, {TOTAL} draws | 200 draws: min / median / max over sets | "
             "1,000 draws: min / median / max over sets |", "|---|---|---|---|---|"]
    for quantity, r in results.items():
        cells = [f"{r['mad_std'][s]['min']:.3g} / {r['mad_std'][s]['median']:.3g} / {r['mad_std'][s]['max']:.3g} "
                 f"({r['mad_std'][s]['n_sets']} sets)" for s in ("200", "1000")]
        lines.append(f"| {quantity} | {r['n']} | {r['mad_std']['all']:.3g} | " + " | ".join(cells) + " |")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "draw_noise.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "draw_noise.json") as tmp:
        tmp.write_text(json.dumps({"total_draws": TOTAL, "results": results}, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
