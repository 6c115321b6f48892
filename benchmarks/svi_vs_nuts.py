"""How far is the SVI head from the NUTS reference? Same frozen features, same stars, same priors.

    python benchmarks/svi_vs_nuts.py [--model DIR] [--stars 1500] [--warmup 300] [--samples 300]

For the joint mass-age head and the Teff head: fit SVI (low-rank MVN guide, the production path) and NUTS
on the frozen embeddings of the same stars of the heads' fitting split (the validation split), predict the
same test-split stars, and compare the
predictive distributions star by star: |mean difference| in units of the NUTS predictive std, the ratio
of predictive stds, the correlation of ln mass and ln age, and each method's coverage of the transferred
labels (the predictive widened by the label error; for the mass-age head, whose predictive already adds the
derived label's error, this over-covers by design: it compares the two methods, it does not judge calibration).
Writes ``benchmarks/results/svi_vs_nuts.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def compare(model_path: str | None, n_stars: int, warmup: int, n_samples: int, out: Path) -> dict:
    """Fit SVI and NUTS heads on the same stars and compare their predictives (see the module docstring)."""
    from bayesxp.data.dataset import build_training_set
    from bayesxp.model.bayesian import load
    from bayesxp.model.fit_heads import head_targets
    from bayesxp.model.heads import HEADS, fit_nuts, fit_svi, predictive_samples

    torch.set_num_threads(1)
    model = load(model_path)
    training_set = build_training_set()
    rng = np.random.default_rng(0)
    results = {}
    for name in ("mass_age", "teff"):
        keys = HEADS[name]
        config = dataclasses.replace(model.config.for_head(name), num_samples=n_samples)
        parts = {}
        for split, size in ((model.config.fit_split, n_stars), ("test", 1000)):
            stars = training_set.subset(split)
            y, cov = head_targets(model.tokenizer, stars, keys)
            rows = np.flatnonzero(np.isfinite(y).all(axis=1))
            rows = np.sort(rng.choice(rows, min(size, len(rows)), replace=False))
            stars = stars.subset(rows)
            tokens = model.tokenizer.encode(stars.flux, stars.flux_error, stars.labels, stars.label_error)
            z = model.feature_maps[name].transform(model.embeddings(tokens, "full")[name])
            parts[split] = (z, y[rows], cov[rows])
        z, y, cov = parts[model.config.fit_split]
        timing = {}
        start = time.perf_counter()
        svi = fit_svi(z, y, cov, config)
        timing["svi_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        nuts = fit_nuts(z, y, cov, config, warmup=warmup, num_samples=n_samples)
        timing["nuts_seconds"] = time.perf_counter() - start
        z_test, y_test, cov_test = parts["test"]
        draws = {m: predictive_samples(f, z_test, seed=1)[0] for m, f in (("svi", svi), ("nuts", nuts))}
        mean = {m: d.mean(axis=0) for m, d in draws.items()}
        std = {m: d.std(axis=0) for m, d in draws.items()}
        entry = {
            "n_train": len(z), "n_test": len(z_test), **timing, "nuts": nuts.diagnostics,
            "median_abs_mean_difference_over_nuts_std": np.median(np.abs(mean["svi"] - mean["nuts"]) / std["nuts"],
                                                                  axis=0).tolist(),
            "median_std_ratio_svi_over_nuts": np.median(std["svi"] / std["nuts"], axis=0).tolist(),
        }
        for m, d in draws.items():
            # coverage of the (noisy) labels: predictive convolved with the label error
            noisy = d + np.random.default_rng(2).standard_normal(d.shape) * np.sqrt(
                np.diagonal(cov_test, axis1=1, axis2=2))[None]
            lo, hi = np.quantile(noisy, [0.16, 0.84], axis=0)
            entry[f"{m}_coverage_68"] = ((y_test >= lo) & (y_test <= hi)).mean(axis=0).tolist()
            if d.shape[-1] == 2:
                entry[f"{m}_median_corr"] = float(np.median([np.corrcoef(d[:, i, 0], d[:, i, 1])[0, 1]
                                                             for i in range(d.shape[1])]))
        results[name] = entry
        print(name, json.dumps(entry), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "svi_vs_nuts.json").write_text(json.dumps(results, indent=2))
    lines = ["| head | fitting stars | SVI [s] | NUTS [s] | NUTS max r-hat | min ESS | median abs. mean diff / NUTS std |"
             " median std ratio SVI/NUTS | 68% cov. SVI | 68% cov. NUTS |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, entry in results.items():
        slash_joined = lambda v: "/".join(f"{x:.2f}" for x in v)  # noqa: E731
        lines.append(f"| {name} | {entry['n_train']} | {entry['svi_seconds']:.0f} | {entry['nuts_seconds']:.0f} | "
                     f"{entry['nuts']['max_r_hat']:.3f} | {entry['nuts']['min_n_eff']:.0f} | "
                     f"{slash_joined(entry['median_abs_mean_difference_over_nuts_std'])} | {slash_joined(entry['median_std_ratio_svi_over_nuts'])} | "
                     f"{slash_joined(entry['svi_coverage_68'])} | {slash_joined(entry['nuts_coverage_68'])} |")
    (out / "svi_vs_nuts.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--stars", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    compare(args.model, args.stars, args.warmup, args.samples, Path(args.output))
