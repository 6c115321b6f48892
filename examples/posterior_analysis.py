"""A statistician's session: posteriors for the bundled demo giants, summaries, intervals, ArviZ.

    python examples/posterior_analysis.py [--num-samples 200] [--model DIR]
"""

from __future__ import annotations

import argparse

import numpy as np

import bayesxp
from bayesxp.data.demo import demo_path


def main(num_samples: int = 200, model_path: str | None = None) -> dict:
    model = bayesxp.load(model_path)
    post = model.posterior(demo_path(), num_samples=num_samples)  # samples [S, N] per quantity
    mass_lo, mass_hi = post.interval(0.68, quantity="mass")  # central 68% interval
    age_lo, age_hi = post.interval(0.9, kind="hdi", quantity="age")  # 90% highest-density interval
    corr = post.mass_age_corr()  # correlation of ln mass and ln age per star
    idata = post.to_arviz()  # ArviZ InferenceData: posterior[chain=1, draw=S, star=N]
    print(f"{len(post)} stars, {post.num_samples} samples each")
    print(f"median 68% mass interval width: {np.median(mass_hi - mass_lo):.3f} Msun")
    print(f"median 90% HDI age width: {np.median(age_hi - age_lo):.2f} Gyr")
    print(f"median ln-mass / ln-age correlation: {np.median(corr):+.2f}")
    print(f"ArviZ posterior variables: {list(idata.posterior.data_vars)}")
    return {"stars": len(post), "mass_width": float(np.median(mass_hi - mass_lo))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    main(args.num_samples, args.model)
