"""A statistician's session: posteriors for the bundled demo giants, summaries, intervals, ArviZ.

    python examples/posterior_analysis.py [--num-samples 200] [--model DIR]

The draws are joint: draw s of star n of mass, age, Teff, logg and [M/H] come from one draw of the joint head,
so a quantity computed draw by draw (here the radius ``R = sqrt(M g_sun / g)`` and the luminosity
``R^2 (Teff / 5772 K)^4``) has the right posterior, correlations included, and any interval or probability is
read off the draws.
"""

from __future__ import annotations

import argparse

import numpy as np

import bayesxp
from bayesxp.data.demo import demo_path
from bayesxp.evaluation.science import SOLAR_LOGG_CGS, luminosity_from_radius


def main(num_samples: int = 200, model_path: str | None = None) -> dict:
    model = bayesxp.load(model_path)
    post = model.posterior(demo_path(), num_samples=num_samples)  # samples [S, N] per quantity
    mass_lo, mass_hi = post.interval(0.68, quantity="mass")  # central 68% interval
    age_lo, age_hi = post.interval(0.9, kind="hdi", quantity="age")  # 90% highest-density interval
    corr = post.mass_age_corr()  # correlation of ln mass and ln age per star
    # a derived quantity per joint draw: radius [Rsun] from mass and logg, luminosity [Lsun] from it and Teff
    radius = np.sqrt(post.samples["mass"] * 10.0 ** (SOLAR_LOGG_CGS - post.samples["logg"]))  # [S, N]
    luminosity = luminosity_from_radius(radius, post.samples["teff"])  # [S, N]
    lum_lo, lum_med, lum_hi = np.quantile(luminosity, [0.16, 0.5, 0.84], axis=0)  # [N] each
    p_old = np.mean(post.samples["age"] > 8.0, axis=0)  # posterior probability that age > 8 Gyr, [N]
    mass0, age0 = post.samples["mass"][:, 0], post.samples["age"][:, 0]  # star 0's joint (mass, age) draws [S]
    idata = post.to_arviz()  # ArviZ InferenceData: posterior[chain=1, draw=S, star=N]
    print(f"{len(post)} stars, {post.num_samples} samples each")
    print(f"median 68% mass interval width: {np.median(mass_hi - mass_lo):.3f} Msun")
    print(f"median 90% HDI age width: {np.median(age_hi - age_lo):.2f} Gyr")
    print(f"median ln-mass / ln-age correlation: {np.median(corr):+.2f}")
    print(f"star 0: mass {np.median(mass0):.2f} Msun, age {np.median(age0):.1f} Gyr, correlation of their draws "
          f"{np.corrcoef(mass0, age0)[0, 1]:+.2f}; luminosity {lum_med[0]:.0f} [{lum_lo[0]:.0f}, {lum_hi[0]:.0f}] Lsun (68%)")
    print(f"median luminosity over the stars: {np.median(lum_med):.0f} Lsun; "
          f"stars with P(age > 8 Gyr) > 0.5: {int(np.sum(p_old > 0.5))}")
    print(f"ArviZ posterior variables: {list(idata.posterior.data_vars)}")
    return {"stars": len(post), "mass_width": float(np.median(mass_hi - mass_lo)), "luminosity": lum_med,
            "luminosity_interval": (lum_lo, lum_hi), "p_old": p_old, "mass_age_corr_star0": float(corr[0])}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    main(args.num_samples, args.model)
