"""How much of a withheld 40 nm band's noise the rest of a real XP sampled spectrum already fixes.

A DR3 sampled spectrum is a fixed linear map (343 x 110, rank 108) of the 110 noisy BP/RP coefficients, so
its noise covariance is ``D C D^T`` with ``C`` the coefficient covariance: rank 110 over 343 samples.

1. **Real covariances.** For each archive source whose file gives the full coefficient correlations
   (``xp_misc/XP_CONTINUOUS_RAW.csv`` and ``MeanSpectrumSolutionWithCov.avro``, read by
   :func:`bayesxp.xp.read.read_xp_continuous`), the std of a withheld band sample's noise conditional on the
   noise of every seen sample, over its marginal std (1: independent noise, the case the inpainting contract's
   judge assumes; 0: the seen samples determine it).
2. **What that does to the judge.** Linear inpainting (:func:`bayesxp.model.inpaint.inpaint`,
   ``method="linear"``) of test-split giants with the seen samples' errors scaled by ``s`` (``s < 1`` trusts
   the seen samples more, as a shared-noise model would): RMSE of the withheld observed flux in units of its
   error, and the 68% coverage with the observation's error added (DESIGN.md's judge) and without.

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/band_noise.py [--stars 600]

Writes ``benchmarks/results/band_noise.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
BANDS = ("420-460", "500-540", "580-620", "700-740", "850-890")
SOURCES = ("XP_CONTINUOUS_RAW.csv", "MeanSpectrumSolutionWithCov.avro")
SCALES = (1.0, 0.1, 0.03)


def conditional_noise_ratios(data_dir: Path) -> dict:
    """Per band: the median and maximum over sources and withheld samples of
    ``std(noise_w | noise_seen) / std(noise_w)``."""
    from bayesxp.model.inpaint import parse_mask
    from bayesxp.xp.projection import merged_design_matrix
    from bayesxp.xp.read import read_xp_continuous

    design = merged_design_matrix()
    covariances = []
    for name in SOURCES:
        xp = read_xp_continuous(data_dir / "xp_misc" / name)
        for i in np.flatnonzero(xp.has_correlations & (xp.status == "ok")):
            c = np.zeros((110, 110))
            c[:55, :55], c[55:, 55:] = xp.bp_covariance[i], xp.rp_covariance[i]
            covariances.append(design @ c @ design.T)
    out = {"n_sources": len(covariances), "bands": {}}
    for band in BANDS:
        withheld = parse_mask(band)
        seen = ~withheld
        ratios = []
        for s in covariances:
            s = s + 1e-12 * np.median(np.diag(s)) * np.eye(len(s))  # float jitter only
            cross = s[np.ix_(withheld, seen)]
            conditional = s[np.ix_(withheld, withheld)] - cross @ np.linalg.solve(s[np.ix_(seen, seen)], cross.T)
            ratios.append(np.sqrt(np.clip(np.diag(conditional), 0.0, None) / np.diag(s)[withheld]))
        ratios = np.concatenate(ratios)
        out["bands"][band] = {"median": float(np.median(ratios)), "max": float(ratios.max())}
    return out


def scaled_error_inpainting(n_stars: int) -> dict:
    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.model.inpaint import inpaint, inpainting_scores, parse_mask

    split = build_training_set(DataConfig(), progress=False).subset("test")
    flux = split.flux.astype(np.float64)[:n_stars]
    flux_error = split.flux_error.astype(np.float64)[:n_stars]
    out = {"n_stars": len(flux), "bands": {}}
    for band in BANDS:
        mask = parse_mask(band)
        rows = {}
        for scale in SCALES:
            scores = inpainting_scores(inpaint(flux, flux_error * scale, mask, method="linear"), flux, flux_error, mask)
            rows[str(scale)] = {k: scores[k] for k in ("rmse", "coverage_68", "coverage_68_shared")}
        out["bands"][band] = rows
        print(band, json.dumps(rows), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from bayesxp.io.tables import atomic_path
    from bayesxp.paths import data_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=600, help="first N test-split stars")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    results = {"covariances": conditional_noise_ratios(data_dir()),
               "linear": scaled_error_inpainting(args.stars)}
    cov = results["covariances"]
    lines = ["# Shared noise of withheld bands in real XP sampled spectra", "",
             f"Command: `python benchmarks/band_noise.py --stars {args.stars}`", "",
             f"## Conditional noise std of a withheld sample given the seen ones ({cov['n_sources']} archive "
             "sources with full coefficient correlations)", "",
             "| band [nm] | median ratio | max ratio |", "|---|---|---|"]
    lines += [f"| {b} | {r['median']:.2e} | {r['max']:.2e} |" for b, r in cov["bands"].items()]
    lin = results["linear"]
    lines += ["", f"## Linear inpainting, seen errors scaled by s ({lin['n_stars']} test-split giants)", "",
              "| band [nm] | s | RMSE [flux errors] | cov68, error added (contract) | cov68, interval alone |",
              "|---|---|---|---|---|"]
    for band, rows in lin["bands"].items():
        lines += [f"| {band} | {s} | {r['rmse']:.3f} | {r['coverage_68']:.3f} | {r['coverage_68_shared']:.3f} |"
                  for s, r in rows.items()]
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "band_noise.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "band_noise.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
