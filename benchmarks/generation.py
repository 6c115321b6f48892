"""Parameter -> spectrum on the test split: how well the backbone's generative direction reproduces real spectra.

For each test-split giant (2,329; never trained on) the XP spectrum is generated from its labels
(:func:`bayesxp.model.generate.generate_spectra`) in three contexts: the APOGEE labels (Teff, logg, [M/H],
[alpha/M]) with the photometry (BP-RP, J-H, J-K, A_K); the same with the label-transfer mass and age added; the
APOGEE labels alone. Judged against the observed spectrum:

- chi-square per star over the 80 spectral tokens (normalised pseudo-coefficients; expectation 80 under a
  calibrated model), its mean, median and 90th percentile per token, and the share of stars above 3 per token;
- the median over stars of the RMS flux residual in units of the star's median flux (the normalisation), and
  in units of ``sqrt(predictive var + observed error^2)``;
- the wrong model the same numbers must reject: the labels permuted between stars;
- round trip: the generated mean spectra, given the observed spectra's own flux errors, read back by the shipped
  model (spectrum context): mad_std of Teff, logg, [M/H] against the labels they were generated from, next to
  the same model on the observed spectra.

A figure of sweeps (one label varied, the others fixed; mean and 1-sigma band) goes to
``benchmarks/results/generation_sweeps.png``.

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/generation.py [--threads 2]

Writes ``benchmarks/results/generation.md`` / ``.json`` and the figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SWEEP_BASE = {"teff": 4700.0, "logg": 2.5, "m_h": 0.0, "alpha_m": 0.05, "mass": 1.2, "age": 4.0}
SWEEPS = {"teff": [4000.0, 4400.0, 4800.0, 5200.0], "m_h": [-1.0, -0.5, 0.0, 0.3], "logg": [1.5, 2.0, 2.5, 3.0]}


def _judge(generated, observed_tokens: np.ndarray, flux: np.ndarray, flux_error: np.ndarray) -> dict:
    chi = generated.chi_square(observed_tokens) / observed_tokens.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = flux - generated.flux  # in units of the star's median flux (the normalisation)
        z = (flux - generated.flux) / np.sqrt(generated.flux_error**2 + flux_error**2)
    return {"chi2_per_token_mean": float(np.mean(chi)), "chi2_per_token_median": float(np.median(chi)),
            "chi2_per_token_q90": float(np.quantile(chi, 0.9)), "share_above_3": float(np.mean(chi > 3)),
            "flux_rms_median": float(np.median(np.sqrt(np.nanmean(residual**2, axis=1)))),
            "flux_z_rms_median": float(np.median(np.sqrt(np.nanmean(z**2, axis=1))))}


def _sweeps(foundation, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesxp.model.generate import generate_spectra

    fig, axes = plt.subplots(1, len(SWEEPS), figsize=(5 * len(SWEEPS), 4), sharey=True)
    for ax, (name, values) in zip(axes, SWEEPS.items()):
        labels = {k: np.full(len(values), v) for k, v in SWEEP_BASE.items()}
        labels[name] = np.asarray(values)
        generated = generate_spectra(foundation, labels)
        for i, value in enumerate(values):
            line, = ax.plot(generated.wavelength, generated.flux[i], lw=1, label=f"{name} = {value:g}")
            ax.fill_between(generated.wavelength, generated.flux[i] - generated.flux_error[i],
                            generated.flux[i] + generated.flux_error[i], color=line.get_color(), alpha=0.2, lw=0)
        others = ", ".join(f"{k} {v:g}" for k, v in SWEEP_BASE.items() if k != name)
        ax.set(title=f"{name} varied ({others})", xlabel="wavelength [nm]")
        ax.title.set_fontsize(8)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("flux / median flux (mean and 1-sigma)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import torch
    from astropy.stats import mad_std

    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.generate import generate_spectra, observed_tokens
    from bayesxp.quantities import LABELS, PHOTOMETRIC_LABELS
    from bayesxp.spectra import SampledSpectra

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = BayesXPModel.load()
    foundation = model.foundation
    test = build_training_set(DataConfig(), progress=False).subset("test")
    observed = observed_tokens(foundation.tokenizer, test.flux, test.flux_error)
    apogee = [LABELS.index(k) for k in ("teff", "logg", "m_h", "alpha_m")]
    photometry = [LABELS.index(k) for k in PHOTOMETRIC_LABELS]
    derived = [LABELS.index(k) for k in ("ln_mass", "ln_age")]
    contexts = {"APOGEE labels + photometry": apogee + photometry,
                "APOGEE labels + photometry + transfer mass, age": apogee + photometry + derived,
                "APOGEE labels alone": apogee}
    permutation = np.random.default_rng(0).permutation(len(test))
    results: dict = {"n": len(test), "contexts": {}}
    for name, columns in contexts.items():
        x = np.full_like(test.labels, np.nan, dtype=np.float64)
        x[:, columns] = test.labels[:, columns]
        usable = np.isfinite(x[:, apogee]).all(axis=1)
        row = {"n": int(usable.sum())}
        for variant, order in (("labels", np.arange(len(test))), ("labels permuted (wrong)", permutation)):
            generated = generate_spectra(foundation, x[order][usable])
            row[variant] = _judge(generated, observed[usable], test.flux[usable], test.flux_error[usable])
        results["contexts"][name] = row
        print(name, json.dumps(row), flush=True)

    # round trip: generated means (APOGEE labels + photometry), observed errors, read back from the spectrum
    x = np.full_like(test.labels, np.nan, dtype=np.float64)
    x[:, apogee + photometry] = test.labels[:, apogee + photometry]
    usable = np.isfinite(x[:, apogee]).all(axis=1)
    generated = generate_spectra(foundation, x[usable])
    inputs = {"generated": SampledSpectra.from_arrays(test.source_id[usable], generated.flux, test.flux_error[usable]),
              "observed": SampledSpectra.from_arrays(test.source_id[usable], test.flux[usable], test.flux_error[usable])}
    round_trip = {}
    for name, spectra in inputs.items():
        posterior = model.posterior(spectra, num_samples=200, context="spectrum", seed=0)
        round_trip[name] = {q: float(mad_std(np.median(posterior.samples[q], 0) - x[usable, LABELS.index(q)]))
                            for q in ("teff", "logg", "m_h")}
    results["round_trip"] = round_trip
    print("round trip", json.dumps(round_trip), flush=True)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    _sweeps(foundation, output / "generation_sweeps.png")
    lines = ["# Parameter -> spectrum on the test split", "",
             f"Command: `python benchmarks/generation.py` (shipped model; {len(test)} test-split giants). "
             "chi2/T: chi-square over the T = 80 spectral tokens per token (1 for a calibrated model); flux "
             "residuals: median over stars of the RMS residual in units of the star's median flux, and of the RMS "
             "residual in units of sqrt(predictive var + observed error^2).", "",
             "| context | labels | n | chi2/T mean | median | 90th pct | share > 3 | flux RMS | flux z RMS |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["contexts"].items():
        for variant in ("labels", "labels permuted (wrong)"):
            m = row[variant]
            lines.append(f"| {name} | {variant} | {row['n']} | {m['chi2_per_token_mean']:.2f} | "
                         f"{m['chi2_per_token_median']:.2f} | {m['chi2_per_token_q90']:.2f} | {m['share_above_3']:.3f} | "
                         f"{m['flux_rms_median']:.4f} | {m['flux_z_rms_median']:.2f} |")
    lines += ["", "Round trip (generated mean spectra with the observed flux errors, read back by the shipped model "
              "from the spectrum alone; mad_std against the labels they came from):", "",
              "| spectra | Teff [K] | logg [dex] | [M/H] [dex] |", "|---|---|---|---|"]
    for name, m in round_trip.items():
        lines.append(f"| {name} | {m['teff']:.1f} | {m['logg']:.3f} | {m['m_h']:.3f} |")
    lines += ["", "Sweeps: `generation_sweeps.png` (one label varied, the others fixed; mean and 1-sigma band)."]
    with atomic_path(output / "generation.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "generation.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
