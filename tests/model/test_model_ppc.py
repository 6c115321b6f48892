"""Posterior predictive checks (``bayesxp.model.ppc``, ``bayesxp ppc``).

Known answers, stated tolerances:

- :func:`ppc_pvalues` on data drawn from the model (each of 600 stars with its own token means and stds, 40
  predictive draws that all equal the data's model) gives uniform p-values: KS p > 0.01 against U(0, 1); the
  same check rejects data from a shifted model (every token 0.4 sigma off) and from a too-wide one (1.3 sigma):
  KS p < 1e-6 and over 20% of the p-values below 0.05 (measured about 25% and 95%; 5% under the model);
- the file job writes the contract columns for every star, and a star without flux keeps its row with NaN and
  its status.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest

from bayesxp.data.demo import demo_path
from bayesxp.io.tables import read_table, write_table
from bayesxp.model.ppc import ppc_pvalues
from bayesxp.predict import ppc_file

N_STARS, N_DRAWS, N_TOKENS = 600, 40, 80


@pytest.fixture(scope="module")
def model_tokens():
    rng = np.random.default_rng(5)
    mean = rng.normal(0.0, 3.0, (N_STARS, N_TOKENS))
    std = rng.uniform(0.2, 2.0, (N_STARS, N_TOKENS))
    return rng, mean, std


def _pvalues(observed: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    draws_mean = np.broadcast_to(mean, (N_DRAWS, *mean.shape))
    draws_std = np.broadcast_to(std, (N_DRAWS, *std.shape))
    discrepancy, pvalue = ppc_pvalues(observed, draws_mean, draws_std)
    assert discrepancy.shape == (N_DRAWS, N_STARS) and pvalue.shape == (N_STARS,)
    return pvalue


def test_pvalues_are_uniform_for_data_from_the_model(model_tokens):
    rng, mean, std = model_tokens
    pvalue = _pvalues(mean + std * rng.standard_normal(mean.shape), mean, std)
    assert kstest(pvalue, "uniform").pvalue > 0.01


@pytest.mark.parametrize(("shift", "scale"), [(0.4, 1.0), (0.0, 1.3)])
def test_pvalues_reject_data_from_a_shifted_or_wider_model(model_tokens, shift, scale):
    rng, mean, std = model_tokens
    observed = mean + std * (shift + scale * rng.standard_normal(mean.shape))
    pvalue = _pvalues(observed, mean, std)
    assert kstest(pvalue, "uniform").pvalue < 1e-6 and np.mean(pvalue < 0.05) > 0.2, np.mean(pvalue < 0.05)


def test_missing_tokens_are_left_out(model_tokens):
    rng, mean, std = model_tokens
    observed = mean + std * rng.standard_normal(mean.shape)
    observed[:, 40:] = np.nan  # half the tokens unobserved: chi2 with 40 degrees of freedom
    observed[0] = np.nan  # nothing observed: no p-value
    pvalue = _pvalues(observed, mean, std)
    assert np.isnan(pvalue[0]) and kstest(pvalue[1:], "uniform").pvalue > 0.01


def test_ppc_file_writes_every_star(tmp_path):
    table = read_table(demo_path())[:4]
    table["flux"][2] = np.nan  # a star without flux keeps its row
    write_table(table, tmp_path / "four.fits")
    result = ppc_file(tmp_path / "four.fits", tmp_path / "ppc.csv", num_samples=10)
    assert result["stars"] == 4 and result["ok"] == 3
    out = read_table(tmp_path / "ppc.csv")
    assert out.colnames == ["source_id", "chi2", "n_tokens", "ppc_pvalue", "status"]
    pvalue = np.asarray(out["ppc_pvalue"], float)
    assert np.isnan(pvalue[2]) and out["status"][2] != "ok"
    assert ((pvalue[[0, 1, 3]] >= 0) & (pvalue[[0, 1, 3]] <= 1)).all()
    assert np.isfinite(np.asarray(out["chi2"], float)[[0, 1, 3]]).all()


def test_posterior_predictive_data_feeds_arviz(tmp_path):
    """The InferenceData has the three groups with matching names and dims, and ArviZ's own PPC plots read it."""
    import arviz
    import matplotlib

    matplotlib.use("Agg")
    from bayesxp.io.library import read_sampled_table
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.ppc import posterior_predictive_data

    spectra = read_sampled_table(demo_path()).take(np.arange(2))
    data = posterior_predictive_data(BayesXPModel.load(), spectra, num_samples=12, seed=1)
    assert {"posterior", "posterior_predictive", "observed_data"} <= set(data.groups())
    assert data.posterior_predictive["flux"].shape == (1, 12, 2, 343)
    assert data.posterior_predictive["flux"].dims == ("chain", "draw", "star", "wavelength")
    assert np.array_equal(data.observed_data["flux"].values, spectra.flux.astype(np.float64))
    replicated = data.posterior_predictive["flux"].values[0]
    assert np.isfinite(replicated).all() and np.unique(replicated[:, 0, 100]).size == 12  # a fresh draw each
    with matplotlib.rc_context({"text.usetex": False}):
        axes = arviz.plot_ppc(data, var_names=["flux"], num_pp_samples=5)
        arviz.plot_bpv(data, kind="u_value", var_names=["flux"])
    assert axes is not None
    data.to_netcdf(tmp_path / "ppc.nc")
    assert arviz.from_netcdf(tmp_path / "ppc.nc").posterior_predictive["flux"].shape == (1, 12, 2, 343)
