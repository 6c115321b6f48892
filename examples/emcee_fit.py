"""An emcee fit of one demo giant's labels, next to its amortised posterior and APOGEE's labels.

    python examples/emcee_fit.py [--star 0] [--n-walkers 32] [--n-steps 500] [--burn 200] [--model DIR]

:func:`bayesxp.model.mcmc.fit_star` samples Teff, logg, [M/H], [alpha/M], ln mass and ln age with ``emcee``,
the likelihood being the star's 80 observed spectral tokens under the backbone's generative direction; the
walkers start from the amortised posterior median (``model.posterior``), as ``bayesxp fit-mcmc`` does. ArviZ
gives R-hat and the bulk ESS with each walker read as a chain (walkers of one ensemble are not independent:
indicative only). The README's measurements: at 32 walkers x 500 steps (about a minute per star on one
thread) the chains of real demo giants are not converged, and emcee's Teff sits 180-340 K from the amortised
answer, so this is a slow, independent check of the generative direction, not a reference posterior.
"""

from __future__ import annotations

import argparse

import numpy as np

import bayesxp
from bayesxp.data.demo import demo_path
from bayesxp.io.library import read_sampled_table
from bayesxp.model.generate import GENERATION_LABELS
from bayesxp.model.mcmc import MCMCConfig, fit_star
from bayesxp.quantities import LIBRARY_COLUMNS
from bayesxp.xp.inputs import photometry_labels


def main(star: int = 0, n_walkers: int = 32, n_steps: int = 500, burn: int = 200, num_samples: int = 400,
         model_path: str | None = None, seed: int = 0) -> dict:
    model = bayesxp.load(model_path)
    stars = read_sampled_table(demo_path()).take(np.array([star]))
    posterior = model.posterior(stars, num_samples=num_samples, seed=seed)  # samples [S, 1] per quantity
    initial = {q: float(np.median(posterior.samples[q][:, 0])) for q in posterior.quantities if q in GENERATION_LABELS}
    config = MCMCConfig(n_walkers=n_walkers, n_steps=n_steps, burn=burn, seed=seed)
    result = fit_star(model.foundation, stars.flux[0], stars.flux_error[0], photometry_labels(stars.meta)[0],
                      config, initial, star=f"demo star {stars.source_id[0]}")
    summary = result.summary()  # ArviZ: mean, sd, hdi_3%, hdi_97%, mcse, ess_bulk, ess_tail, r_hat per label
    print(f"demo star {stars.source_id[0]}: {n_walkers} walkers x {n_steps} steps ({burn} burn-in), chain "
          f"{result.chain.shape}, acceptance {np.mean(result.acceptance_fraction):.2f}, "
          f"chi2 per token at the median {result.reduced_chi_square:.2f}")
    print(f"{'label':>8} {'emcee mean +- sd':>21} {'R-hat':>6} {'ESS':>6} {'amortised 68%':>20} {'APOGEE':>9}")
    out: dict = {"chain_shape": result.chain.shape, "acceptance": float(np.mean(result.acceptance_fraction))}
    for name in GENERATION_LABELS:
        row = summary.loc[name]
        low, high = (posterior.interval(0.68, quantity=name) if name in posterior.quantities else ([np.nan],) * 2)
        apogee = stars.meta[LIBRARY_COLUMNS[name]].iloc[0] if name in LIBRARY_COLUMNS else np.nan
        amortised = f"{float(low[0]):.3f} - {float(high[0]):.3f}" if np.isfinite(low[0]) else "-"
        print(f"{name:>8} {row['mean']:10.3f} +- {row['sd']:<7.3f} {row['r_hat']:6.2f} {row['ess_bulk']:6.0f} "
              f"{amortised:>20} {apogee:9.3f}")
        out[name] = {"mean": float(row["mean"]), "sd": float(row["sd"]), "r_hat": float(row["r_hat"]),
                     "ess_bulk": float(row["ess_bulk"]), "amortised_68": (float(low[0]), float(high[0])),
                     "apogee": float(apogee)}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--star", type=int, default=0, help="row of the demo stars")
    parser.add_argument("--n-walkers", type=int, default=32)
    parser.add_argument("--n-steps", type=int, default=500)
    parser.add_argument("--burn", type=int, default=200)
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    main(args.star, args.n_walkers, args.n_steps, args.burn, model_path=args.model)
