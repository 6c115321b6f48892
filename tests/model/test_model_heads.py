"""Bayesian heads on a synthetic problem whose posterior is known.

Truth: features ``z ~ N(0, I_2)``; the true (ln mass, ln age)-like pair of each star is bivariate Gaussian with
mean ``z @ W_MU + B_MU``, heteroscedastic log-linear scales ``exp(z @ W_S + B_S)`` (0.15-1.0) and correlation
-0.7, exactly the head's model family. The labels the head is fitted on carry extra noise of known per-star
std (0.2-0.5, comparable to the intrinsic scatter), passed as ``label_cov``. The head's predictive samples
describe the TRUE pair, so their central intervals must cover fresh true values at the nominal rate.

Coverage tolerance: 3 binomial standard deviations for the test stars, plus 0.02 for the fitted weights'
own finite-training-set error (1,000 training stars give the scales to ~4 %: coverage moves by ~0.02;
measured with other seeds). Correlation tolerance 0.15 (3 posterior standard deviations of the fitted
correlation at 1,000 stars).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from bayesxp.model.features import FeatureMap
from bayesxp.model.heads import (
    BayesianHeadConfig,
    HeadFit,
    HeadFittingConfig,
    fit_nuts,
    fit_svi,
    predictive_samples,
)

W_MU = np.array([[0.8, -0.3], [0.2, 0.6]])
B_MU = np.array([0.1, -0.2])
W_S = np.array([[0.3, -0.2], [0.0, 0.25]])
B_S = np.log([0.4, 0.45])
RHO = -0.7
N_TRAIN, N_TEST = 1000, 1000
FIT = BayesianHeadConfig(n_features=2, svi_steps=250, svi_learning_rate=0.08, num_samples=200)
LEVELS = (0.68, 0.95)


def _truth(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True predictive mean ``(N, 2)`` and std ``(N, 2)``."""
    return z @ W_MU + B_MU, np.exp(z @ W_S + B_S) + 1e-3


def _draw(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    loc, scale = _truth(z)
    e = rng.standard_normal((len(z), 2))
    return np.stack([loc[:, 0] + scale[:, 0] * e[:, 0],
                     loc[:, 1] + scale[:, 1] * (RHO * e[:, 0] + np.sqrt(1 - RHO**2) * e[:, 1])], axis=1)


@dataclass(frozen=True)
class Problem:
    z: np.ndarray
    y_noisy: np.ndarray
    label_cov: np.ndarray
    z_test: np.ndarray
    y_test: np.ndarray  # true values
    y_test_noisy: np.ndarray  # with label noise of the same law
    fit: HeadFit
    samples: np.ndarray  # (S, N_TEST, 2)


def _make_problem(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    z = rng.standard_normal((N_TRAIN, 2))
    y = _draw(z, rng)
    noise = rng.uniform(0.2, 0.5, (N_TRAIN, 2))
    label_cov = np.zeros((N_TRAIN, 2, 2))
    label_cov[:, 0, 0], label_cov[:, 1, 1] = noise[:, 0] ** 2, noise[:, 1] ** 2
    y_noisy = y + noise * rng.standard_normal((N_TRAIN, 2))
    z_test = rng.standard_normal((N_TEST, 2))
    y_test = _draw(z_test, rng)
    y_test_noisy = y_test + rng.uniform(0.2, 0.5, (N_TEST, 2)) * rng.standard_normal((N_TEST, 2))
    return z, y_noisy, label_cov, z_test, y_test, y_test_noisy


@pytest.fixture(scope="module")
def problem() -> Problem:
    z, y_noisy, label_cov, z_test, y_test, y_test_noisy = _make_problem(np.random.default_rng(42))
    fit = fit_svi(z, y_noisy, label_cov, FIT)
    samples, _, _ = predictive_samples(fit, z_test, seed=1)
    return Problem(z, y_noisy, label_cov, z_test, y_test, y_test_noisy, fit, samples)


def _coverage(samples: np.ndarray, truth: np.ndarray, level: float) -> np.ndarray:
    """Fraction of stars whose central ``level`` interval (from ``[S, N, d]`` samples) holds the truth, ``(d,)``."""
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return ((truth >= lo) & (truth <= hi)).mean(axis=0)


def _tolerance(level: float, n: int) -> float:
    return 3 * np.sqrt(level * (1 - level) / n) + 0.02


def _calibrated(samples: np.ndarray, truth: np.ndarray) -> bool:
    return all(np.all(np.abs(_coverage(samples, truth, level) - level) <= _tolerance(level, len(truth)))
               for level in LEVELS)


def _mean_correlation(samples: np.ndarray) -> float:
    centred = samples - samples.mean(axis=0)
    per_star = (centred[..., 0] * centred[..., 1]).sum(0) / np.sqrt(
        (centred[..., 0] ** 2).sum(0) * (centred[..., 1] ** 2).sum(0))
    return float(per_star.mean())


def test_svi_head_intervals_reach_nominal_coverage_of_the_true_values(problem):
    assert problem.samples.shape == (FIT.num_samples, N_TEST, 2)
    for level in LEVELS:
        coverage = _coverage(problem.samples, problem.y_test, level)
        assert np.all(np.abs(coverage - level) <= _tolerance(level, N_TEST)), (level, coverage)
    assert _calibrated(problem.samples, problem.y_test)


def test_svi_head_recovers_the_correlation_and_the_scales(problem):
    assert _mean_correlation(problem.samples) == pytest.approx(RHO, abs=0.15)
    _, scale = _truth(problem.z_test)
    ratio = np.median(problem.samples.std(axis=0) / scale, axis=0)
    assert np.all(np.abs(ratio - 1) < 0.1), ratio  # heteroscedastic scales recovered to 10 %


def test_an_overconfident_head_is_rejected(problem):
    """The same check rejects the predictive spread shrunk x0.5 around its mean."""
    mean = problem.samples.mean(axis=0)
    shrunk = mean + 0.5 * (problem.samples - mean)
    assert not _calibrated(shrunk, problem.y_test)
    assert np.all(_coverage(shrunk, problem.y_test, 0.68) < 0.68 - _tolerance(0.68, N_TEST))


def test_judging_true_value_samples_against_noisy_labels_is_rejected(problem):
    """The samples describe the true value: against labels with their noise they are overconfident."""
    assert not _calibrated(problem.samples, problem.y_test_noisy)
    assert np.all(_coverage(problem.samples, problem.y_test_noisy, 0.68) < 0.68 - _tolerance(0.68, N_TEST))


def test_predictive_split_obeys_the_law_of_total_variance(problem):
    samples, aleatoric, epistemic = predictive_samples(problem.fit, problem.z_test[:200], seed=3)
    again, _, _ = predictive_samples(problem.fit, problem.z_test[:200], seed=3)
    assert np.array_equal(samples, again)  # reproducible for a seed
    other, _, _ = predictive_samples(problem.fit, problem.z_test[:200], seed=4)
    assert not np.array_equal(samples, other)
    _, scale = _truth(problem.z_test[:200])
    assert np.all(epistemic < 0.5 * aleatoric)  # 1,000 training stars: data noise dominates
    assert np.median(aleatoric / scale) == pytest.approx(1.0, abs=0.1)
    total = np.sqrt(aleatoric**2 + epistemic**2)
    # sample std of 200 draws: relative error 1/sqrt(400) = 5 %; the median over stars is much tighter
    assert np.median(samples.std(axis=0) / total) == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_a_head_fitted_without_the_label_covariance_is_rejected():
    """Noisy labels, no ``label_cov``: the head mistakes the noise for scatter, is underconfident for the true
    values and its correlation is diluted towards 0 (expected -0.7 * s^2 / (s^2 + noise^2) ~ -0.35)."""
    z, y_noisy, label_cov, z_test, y_test, _ = _make_problem(np.random.default_rng(42))
    fit = fit_svi(z, y_noisy, np.zeros_like(label_cov), FIT)
    samples, _, _ = predictive_samples(fit, z_test, seed=1)
    assert not _calibrated(samples, y_test)
    assert np.all(_coverage(samples, y_test, 0.68) > 0.68 + _tolerance(0.68, N_TEST))
    assert abs(_mean_correlation(samples) - RHO) > 0.15


def _derived_label_problem(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Labels that are themselves estimates of the truth (a label transfer): truth = label + error, the
    error independent of the label with a known per-star std 0.2-0.4 (here a function of z, so a predictive
    can learn it)."""
    z = rng.standard_normal((n, 2))
    label = _draw(z, rng)
    error = 0.3 * np.exp(0.3 * z[:, :1] * np.array([[1.0, -1.0]]))  # (n, 2)
    cov = np.zeros((n, 2, 2))
    cov[:, 0, 0], cov[:, 1, 1] = error[:, 0] ** 2, error[:, 1] ** 2
    truth = label + error * rng.standard_normal((n, 2))
    return z, label, cov, truth


def test_propagating_a_derived_labels_error_covers_the_truth_and_convolving_it_does_not():
    """Known answer: truth | z ~ label | z widened by the label's error. ``label_error="propagate"`` reaches
    nominal coverage of the truth; the measurement treatment (``"convolve"``) removes the error instead of
    adding it and the same check rejects it as over-confident."""
    rng = np.random.default_rng(7)
    z, label, cov, _ = _derived_label_problem(rng, N_TRAIN)
    z_test, _, _, truth_test = _derived_label_problem(rng, N_TEST)
    from dataclasses import replace

    propagated = fit_svi(z, label, cov, replace(FIT, label_error="propagate"))
    samples, _, _ = predictive_samples(propagated, z_test, seed=1)
    assert _calibrated(samples, truth_test), [_coverage(samples, truth_test, lv) for lv in LEVELS]
    convolved = fit_svi(z, label, cov, FIT)
    samples, _, _ = predictive_samples(convolved, z_test, seed=1)
    assert not _calibrated(samples, truth_test)
    assert np.all(_coverage(samples, truth_test, 0.68) < 0.68 - _tolerance(0.68, N_TEST))


def _one_dimensional(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    z = rng.standard_normal((n, 2))
    loc = z @ np.array([0.8, -0.4]) + 0.1
    scale = np.exp(z @ np.array([0.3, 0.15]) - 1.2)
    y = (loc + scale * rng.standard_normal(n))[:, None]
    return z, y, np.full((n, 1, 1), 0.05**2)


def _pooled(fit: HeadFit, z: np.ndarray, seeds: range) -> np.ndarray:
    """Predictive draws from several seeds, pooled (less Monte Carlo noise in means and stds)."""
    return np.concatenate([predictive_samples(fit, z, seed=s)[0] for s in seeds])


def _agree(reference: np.ndarray, candidate: np.ndarray) -> bool:
    """Per star: means within 0.2 reference std, std ratio within 20 %."""
    std = reference.std(axis=0)
    mean_ok = np.abs(candidate.mean(axis=0) - reference.mean(axis=0)) <= 0.2 * std
    std_ok = np.abs(candidate.std(axis=0) / std - 1) <= 0.2
    return bool(np.all(mean_ok) and np.all(std_ok))


@pytest.mark.slow
def test_svi_agrees_with_nuts_on_a_small_problem():
    """300 stars, 2 features, 1-d head. Pooled 4 x 300 draws: Monte Carlo error of a mean 0.04 std, of a std 3 %."""
    rng = np.random.default_rng(42)
    z, y, label_cov = _one_dimensional(rng, 300)
    config = BayesianHeadConfig(n_features=2, svi_steps=1000, svi_learning_rate=0.02, num_samples=300)
    svi = fit_svi(z, y, label_cov, config)
    nuts = fit_nuts(z, y, label_cov, config, warmup=200, num_samples=300)
    assert nuts.diagnostics["max_r_hat"] < 1.05 and nuts.diagnostics["min_n_eff"] > 50
    z_test = rng.standard_normal((100, 2))
    reference = _pooled(nuts, z_test, range(4))
    assert _agree(reference, _pooled(svi, z_test, range(10, 14)))
    # the same check rejects an SVI run stopped after 5 steps
    early = fit_svi(z, y, label_cov, BayesianHeadConfig(n_features=2, svi_steps=5, svi_learning_rate=0.05, num_samples=300))
    assert not _agree(reference, _pooled(early, z_test, range(10, 14)))


def test_nuts_runs_on_the_head_and_reports_diagnostics():
    rng = np.random.default_rng(0)
    z, y, label_cov = _one_dimensional(rng, 40)
    fit = fit_nuts(z, y, label_cov, BayesianHeadConfig(n_features=2, num_samples=10), warmup=10, num_samples=10)
    assert fit.method == "nuts" and fit.samples["weight"].shape == (10, 2, 2)
    assert set(fit.diagnostics) == {"max_r_hat", "min_n_eff"}
    samples, aleatoric, epistemic = predictive_samples(fit, z[:5], seed=0)
    assert samples.shape == (10, 5, 1) and np.isfinite(samples).all()


@pytest.mark.parametrize("likelihood", ["student_t", "mixture"])
@pytest.mark.parametrize("dim", [1, 2])
def test_robust_likelihoods_fit_and_give_finite_samples(likelihood, dim):
    rng = np.random.default_rng(1)
    n = 200
    z = rng.standard_normal((n, 3))
    y = z[:, :dim] * 0.5 + 0.3 * rng.standard_t(3, size=(n, dim))
    if dim == 2:
        y[::4, 1] = np.nan  # stars without an age count through their mass marginal
    label_cov = np.tile(np.eye(dim) * 0.01, (n, 1, 1))
    config = BayesianHeadConfig(n_features=3, likelihood=likelihood, svi_steps=60, num_samples=30)
    fit = fit_svi(z, y, label_cov, config)
    assert np.isfinite(fit.diagnostics["final_loss_per_star"])
    assert all(torch.isfinite(v).all() for v in fit.samples.values())
    if likelihood == "student_t":
        assert fit.samples["log_df"].shape == (30,)
    samples, aleatoric, epistemic = predictive_samples(fit, z[:50], seed=0)
    assert samples.shape == (30, 50, dim)
    assert np.isfinite(samples).all() and np.isfinite(aleatoric).all() and np.isfinite(epistemic).all()


def test_missing_second_quantity_does_not_poison_the_joint_fit():
    """Ages missing for a third of the stars: the fit matches the one on the mass-only marginal for loc/scale 0."""
    rng = np.random.default_rng(2)
    n = 300
    z = rng.standard_normal((n, 2))
    y = np.stack([z[:, 0] * 0.7 + 0.3 * rng.standard_normal(n), z[:, 1] * 0.5 + 0.3 * rng.standard_normal(n)], 1)
    y[: n // 3, 1] = np.nan
    label_cov = np.tile(np.eye(2) * 0.01, (n, 1, 1))
    label_cov[: n // 3, 1, 1] = np.nan  # unknown errors of unknown labels are tolerated
    fit = fit_svi(z, y, label_cov, BayesianHeadConfig(n_features=2, svi_steps=200, svi_learning_rate=0.05, num_samples=50))
    assert np.isfinite(fit.diagnostics["final_loss_per_star"])
    samples, _, _ = predictive_samples(fit, z, seed=0)
    assert np.isfinite(samples).all()
    # the mass slope is learnt from every star: ~0.7 on z0
    slope = np.polyfit(z[:, 0], samples[..., 0].mean(axis=0), 1)[0]
    assert slope == pytest.approx(0.7, abs=0.1)


def test_feature_map_whitens_the_training_embeddings(rng):
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6)) + 3.0
    feature_map = FeatureMap(4).fit(x)
    features = feature_map.transform(x)
    assert features.shape == (500, 4)
    np.testing.assert_allclose(features.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(np.cov(features, rowvar=False, bias=True), np.eye(4), atol=1e-8)
    again = FeatureMap.from_state(feature_map.state())
    np.testing.assert_array_equal(again.transform(x), features)
    with pytest.raises(RuntimeError, match="not fitted"):
        FeatureMap(2).transform(x)


def test_bayesian_head_config_refuses_an_unknown_likelihood():
    with pytest.raises(ValueError, match="likelihood"):
        BayesianHeadConfig(likelihood="laplace")
    with pytest.raises(ValueError, match="label_error"):
        BayesianHeadConfig(label_error="ignore")


def test_head_fitting_config_refuses_an_unknown_fit_split_or_selection_share():
    with pytest.raises(ValueError, match="fit_split"):
        HeadFittingConfig(fit_split="test")
    with pytest.raises(ValueError, match="selection_fraction"):
        HeadFittingConfig(selection_fraction=1.0)
    config = HeadFittingConfig()
    assert config.mass_age.label_error == "propagate" and config.labels.label_error == "convolve"
    assert config.for_head("mass_age") is config.mass_age
    assert all(config.for_head(name) is config.labels for name in ("teff", "logg", "m_h"))
    with pytest.raises(KeyError, match="no head"):
        config.for_head("mass")
