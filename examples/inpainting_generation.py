"""The backbone's other directions: spectra generated from labels, and withheld parts of real spectra inpainted.

    python examples/inpainting_generation.py [--stars 240] [--mask bp --mask 500-540] [--model DIR]

Generation: each bundled demo giant's APOGEE Teff, logg, [M/H], [alpha/M] and its photometry (BP-RP, J-H, J-K,
A_K) generate its XP spectrum (:func:`bayesxp.model.generate.generate_spectra`: mean flux, predictive std and
covariance, draws). Judged by the chi-square of the star's observed spectral tokens per token (1 for a
calibrated predictive spread) and, as the wrong model that must do worse, the same with the labels shuffled
between stars. Inpainting: each mask (all of BP, a 40 nm band...) is withheld from the real spectra and predicted
from the rest (:func:`bayesxp.model.inpaint.inpaint`), by the model and by the linear (population-Gaussian)
baseline; :func:`bayesxp.model.inpaint.inpainting_scores` gives the RMSE in units of the flux error and the share
of withheld samples inside the 68% / 95% predictive intervals (widened by the observation's error).
"""

from __future__ import annotations

import argparse

import numpy as np

import bayesxp
from bayesxp.data.demo import demo_path
from bayesxp.io.library import read_sampled_table
from bayesxp.model.generate import generate_spectra, observed_tokens
from bayesxp.model.inpaint import inpaint, inpainting_scores
from bayesxp.quantities import LABELS, LIBRARY_COLUMNS, PHOTOMETRIC_LABELS
from bayesxp.xp.inputs import photometry_labels


def main(n_stars: int = 240, masks: tuple[str, ...] = ("bp", "500-540"), num_draws: int = 100,
         model_path: str | None = None, seed: int = 0) -> dict:
    foundation = bayesxp.load(model_path).foundation
    stars = read_sampled_table(demo_path()).take(np.arange(n_stars))
    photometry = photometry_labels(stars.meta)  # (N, len(LABELS)), only the photometric columns filled
    labels = {q: stars.meta[column].to_numpy(float) for q, column in LIBRARY_COLUMNS.items()}
    labels |= {p: photometry[:, LABELS.index(p)] for p in PHOTOMETRIC_LABELS}

    generated = generate_spectra(foundation, labels)  # flux (N, 343), covariance (N, 343, 343)
    draws = generated.draws(num_draws, seed=seed)  # (S, N, 343)
    tokens = observed_tokens(foundation.tokenizer, stars.flux, stars.flux_error)  # (N, T) observed tokens
    n_tokens = np.isfinite(tokens).sum(axis=1)
    chi2 = generated.chi_square(tokens) / n_tokens  # per token: 1 for a calibrated spread
    shuffled = np.random.default_rng(seed).permutation(n_stars)
    wrong = generate_spectra(foundation, {k: v[shuffled] for k, v in labels.items()})
    chi2_wrong = wrong.chi_square(tokens) / n_tokens
    inside = np.abs(stars.flux - generated.flux) < generated.flux_error  # the 68% band of the true flux
    print(f"generated {len(generated)} spectra from APOGEE labels + photometry, {draws.shape[0]} draws each "
          f"(draws {draws.shape})")
    print(f"  chi2 per token: median {np.median(chi2):.2f}, mean {np.mean(chi2):.2f} "
          f"(labels shuffled between stars: median {np.median(chi2_wrong):.2f}, mean {np.mean(chi2_wrong):.2f})")
    print(f"  observed flux inside the generated 1-sigma band: {np.nanmean(inside):.2f} of the samples")
    out: dict = {"chi2_median": float(np.median(chi2)), "chi2_wrong_median": float(np.median(chi2_wrong)),
                 "draws_shape": draws.shape}

    print(f"inpainting {n_stars} real spectra: RMSE in flux errors, coverage of the 68% / 95% intervals")
    for mask in masks:
        for method in ("model", "linear"):
            result = inpaint(stars.flux, stars.flux_error, mask, foundation=foundation, method=method)
            scores = inpainting_scores(result, stars.flux, stars.flux_error)
            out[(mask, method)] = scores
            print(f"  {mask:>9} {method:>6}: {scores['n']:6d} samples, RMSE {scores['rmse']:6.2f}, "
                  f"cov68 {scores['coverage_68']:.3f}, cov95 {scores['coverage_95']:.3f} "
                  f"(interval of the true flux alone: cov68 {scores['coverage_68_shared']:.3f}); "
                  f"median tokens from the model {np.median(result.n_model_tokens):.0f}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=240, help="the first N demo stars")
    parser.add_argument("--mask", action="append", default=None, help="bp, rp or LO-HI in nm (repeatable)")
    parser.add_argument("--num-draws", type=int, default=100)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    main(args.stars, tuple(args.mask or ("bp", "500-540")), args.num_draws, args.model)
