"""The emcee fit of one star's labels through the generative direction (``bayesxp.model.mcmc``), shipped model.

Known answers, stated tolerances:

- a synthetic star: tokens drawn from the model itself at ``theta0`` (Teff 4700 K, logg 2.4, [M/H] -0.1,
  [alpha/M] 0.05, 1.2 solar masses, 4 Gyr), ``y = m(theta0) + s(theta0) z`` with a fixed seed. Fitted from a
  start 120 K / 0.15 dex / 0.1 dex away, the true Teff, logg and [M/H] lie inside the central 99% interval of
  the draws and the chi-square of the 80 tokens at the posterior median is not in the upper 0.1% tail of
  chi^2_80 (p > 0.001, i.e. chi-square per token below 1.56; measured 0.97 per token, p = 0.56);
- the wrong model: the same data shifted by +3 predictive standard deviations in every token. The labels
  absorb part of the shift (the walkers move to where the model's predictive std is larger, and the 99%
  intervals widen to most of the prior box), so the intervals alone do not reject it; the chi-square does,
  and the same check must fail (measured 2.0-2.7 per token, p < 1e-6);
- the log-likelihood is the sum of Gaussian log densities (scipy), the configuration and the inputs are
  validated with errors naming the problem, a seed fixes the chain.

The fits are small (16 walkers, 160 steps, 60 burn-in; integrated autocorrelation time about 10 steps) so the
file runs in about 30 s on one free thread.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.stats import chi2 as chi2_distribution
from scipy.stats import norm

from bayesxp.model.generate import GENERATION_LABELS, labels_array, spectral_tokens
from bayesxp.model.mcmc import MCMCConfig, MCMCResult, fit_star, fit_tokens, log_likelihood

THETA0 = {"teff": 4700.0, "logg": 2.4, "m_h": -0.1, "alpha_m": 0.05, "mass": 1.2, "age": 4.0}
START = {"teff": 4580.0, "logg": 2.25, "m_h": -0.2, "alpha_m": 0.1, "mass": 1.0, "age": 5.0}
CONFIG = MCMCConfig(n_walkers=16, n_steps=160, burn=60, seed=3)
CHECKED = ("teff", "logg", "m_h")


@pytest.fixture(scope="module")
def synthetic(foundation):
    """``(y, s)``: tokens drawn from the model at THETA0, and the predictive stds there."""
    mean, std = spectral_tokens(foundation, labels_array(THETA0))
    z = np.random.default_rng(2024).standard_normal(mean.shape[1])
    return mean[0] + std[0] * z, std[0]


@pytest.fixture(scope="module")
def synthetic_fit(foundation, synthetic) -> tuple[MCMCResult, float]:
    start = time.perf_counter()
    result = fit_tokens(foundation, synthetic[0], config=CONFIG, initial=START)
    return result, time.perf_counter() - start


def _explains(result: MCMCResult, truth: dict[str, float]) -> bool:
    """The known-answer check: truth inside the central 99% interval of every CHECKED label, chi-square p > 0.001."""
    draws = result.samples()
    inside = all(np.quantile(draws[k], 0.005) <= truth[k] <= np.quantile(draws[k], 0.995) for k in CHECKED)
    return inside and chi2_distribution.sf(result.chi_square, result.n_tokens) > 0.001


def test_recovers_the_labels_of_a_synthetic_star(synthetic_fit):
    result, seconds = synthetic_fit
    draws = result.samples()
    summary = {k: np.round(np.quantile(draws[k], [0.005, 0.5, 0.995]), 3).tolist() for k in CHECKED}
    print(f"\nfit {seconds:.1f} s, acceptance {result.acceptance_fraction.mean():.2f}, "
          f"tau {np.round(result.autocorr_time, 1).tolist()}, chi2/token {result.reduced_chi_square:.2f}, {summary}")
    assert _explains(result, THETA0), summary
    assert 0.1 < result.acceptance_fraction.mean() < 0.8
    assert result.chain.shape == (CONFIG.n_kept, CONFIG.n_walkers, 6)
    bounds = CONFIG.bounds()
    assert np.all((result.chain > bounds[:, 0]) & (result.chain < bounds[:, 1]))


def test_rejects_a_spectrum_no_labels_explain(foundation, synthetic):
    """Wrong model: every token shifted by +3 std; the same check must fail."""
    y, std = synthetic
    result = fit_tokens(foundation, y + 3.0 * std, config=CONFIG, initial=START)
    assert not _explains(result, THETA0)
    assert chi2_distribution.sf(result.chi_square, result.n_tokens) < 1e-6


def test_log_likelihood_is_a_sum_of_gaussian_densities(foundation, synthetic):
    y, _ = synthetic
    y = y.copy()
    y[[3, 50]] = np.nan  # unobserved tokens are left out
    theta = np.array([[4700.0, 2.4, -0.1, 0.05, np.log(1.2), np.log(4.0)],
                      [4300.0, 1.8, -0.5, 0.20, np.log(1.0), np.log(9.0)]])
    photometry = {"bp_rp": 1.3, "j_k": 0.7}
    logl, chi2 = log_likelihood(foundation, y, theta, photometry)
    x = labels_array({"teff": theta[:, 0], "logg": theta[:, 1], "m_h": theta[:, 2], "alpha_m": theta[:, 3],
                      "mass": np.exp(theta[:, 4]), "age": np.exp(theta[:, 5]), **photometry})
    mean, std = spectral_tokens(foundation, x)
    seen = np.isfinite(y)
    expected = norm.logpdf(y[seen], mean[:, seen], std[:, seen]).sum(axis=1)
    np.testing.assert_allclose(logl, expected, rtol=1e-10)
    np.testing.assert_allclose(chi2, (((y[seen] - mean[:, seen]) / std[:, seen]) ** 2).sum(axis=1), rtol=1e-10)


def test_a_seed_fixes_the_chain(foundation, synthetic):
    config = MCMCConfig(n_walkers=12, n_steps=6, burn=2, seed=7)
    first = fit_tokens(foundation, synthetic[0], config=config, initial=THETA0)
    second = fit_tokens(foundation, synthetic[0], config=config, initial=THETA0)
    np.testing.assert_array_equal(first.chain, second.chain)
    other = fit_tokens(foundation, synthetic[0], config=MCMCConfig(n_walkers=12, n_steps=6, burn=2, seed=8),
                       initial=THETA0)
    assert not np.array_equal(first.chain, other.chain)


def test_arviz_view_and_summary(synthetic_fit):
    result, _ = synthetic_fit
    idata = result.to_arviz()
    assert sorted(idata.posterior.data_vars) == sorted(GENERATION_LABELS)
    assert dict(idata.posterior.sizes) == {"chain": CONFIG.n_walkers, "draw": CONFIG.n_kept}
    np.testing.assert_allclose(np.sort(idata.posterior["mass"].values.ravel()), np.sort(result.samples()["mass"]))
    table = result.summary()
    assert {"r_hat", "ess_bulk", "ess_tail"} <= set(table.columns)
    assert list(table.index) == list(GENERATION_LABELS)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_walkers": 8}, "n_walkers must be at least 12"),
    ({"burn": 1500}, r"burn \(1500\) must be smaller than n_steps \(1500\)"),
    ({"thin": 0}, "thin must be >= 1"),
    ({"teff": (5500.0, 3500.0)}, "prior bounds of teff must be finite and increasing"),
    ({"logg": (0.5, np.inf)}, "prior bounds of logg must be finite"),
    ({"age": (0.0, 14.0)}, "prior bounds of age must be positive"),
    ({"initial_scatter": 0.0}, "initial_scatter must be in"),
])
def test_config_is_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MCMCConfig(**kwargs)


def test_a_star_without_a_finite_token_is_refused(foundation):
    with pytest.raises(ValueError, match="Gaia 42: no finite spectral token"):
        fit_tokens(foundation, np.full(80, np.nan), config=MCMCConfig(n_walkers=12, n_steps=2, burn=1),
                   star="Gaia 42")


def test_inputs_are_validated(foundation, synthetic):
    config = MCMCConfig(n_walkers=12, n_steps=2, burn=1)
    with pytest.raises(ValueError, match="unknown photometric label"):
        fit_tokens(foundation, synthetic[0], {"g_rp": 0.5}, config)
    with pytest.raises(ValueError, match="unknown initial label"):
        fit_tokens(foundation, synthetic[0], config=config, initial={"feh": 0.0})
    with pytest.raises(ValueError, match="one star's"):
        fit_tokens(foundation, np.zeros((2, 80)), config=config)
    with pytest.raises(ValueError, match="one star's spectrum"):
        fit_star(foundation, np.ones((2, 343)), np.ones((2, 343)), config=config)
