"""ArviZ's own posterior predictive plots on bayesxp's generated spectra (three bundled demo giants).

:func:`bayesxp.model.ppc.posterior_predictive_data` gives an ``InferenceData`` with ``posterior``,
``posterior_predictive`` (one generated spectrum per posterior draw) and ``observed_data`` (the observed
spectrum); ``arviz.plot_ppc`` draws, per star, the distribution of the flux samples of the observed spectrum
against those of the replicated ones, and ``arviz.plot_bpv`` the per-pixel marginal posterior predictive p-values
(``kind="u_value"``; uniform for a calibrated model).

Usage::

    python benchmarks/ppc_arviz.py [--num-samples 100]

Writes ``benchmarks/results/ppc_arviz.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    import arviz
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.ppc import posterior_predictive_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--num-samples", type=int, default=100)
    args = parser.parse_args(argv)
    spectra = read_sampled_table(demo_path()).take(np.arange(3))
    data = posterior_predictive_data(BayesXPModel.load(), spectra, num_samples=args.num_samples, seed=0)
    stars = [int(s) for s in data.observed_data["star"].values]
    with matplotlib.rc_context({"text.usetex": False}):
        fig, axes = plt.subplots(2, len(stars), figsize=(4.5 * len(stars), 7))
        for k, star in enumerate(stars):
            arviz.plot_ppc(data, var_names=["flux"], coords={"star": [star]}, num_pp_samples=50, ax=axes[0, k],
                           legend=k == 0)
            axes[0, k].set_title(f"star {star}: flux samples", fontsize=9)
            arviz.plot_bpv(data, kind="u_value", var_names=["flux"], coords={"star": [star]}, ax=axes[1, k])
            axes[1, k].set_title("per-pixel marginal p-values (u-values; uniform if calibrated)", fontsize=9)
        fig.tight_layout()
        output = Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        with atomic_path(output / "ppc_arviz.png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
    print(f"wrote {output / 'ppc_arviz.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
