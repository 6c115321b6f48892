"""Proper scores agree with properscoring and scoringrules; the calibrated model scores best."""

from __future__ import annotations

import numpy as np
import properscoring
import pytest
import scoringrules
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from bayesxp.calibration import (
    GaussianPrediction,
    QuantilePrediction,
    SamplePrediction,
    crps,
    crps_ensemble,
    crps_gaussian,
    interval_score,
    log_score,
    mad_std,
    pinball_loss,
    residual_summary,
    winkler_score,
    z_scores,
    z_summary,
)

WRONG_MODELS = {"over-confident": (0.0, 0.5), "under-confident": (0.0, 2.0), "biased": (1.0, 1.0)}


@pytest.fixture
def ensemble(rng):
    draws = rng.gamma(2.0, 1.0, size=(257, 60)) + rng.normal(size=60)  # [S, N], skewed, per-star shifts
    truth = rng.normal(2.0, 1.5, size=60)
    return draws, truth


def test_crps_ensemble_matches_properscoring_and_scoringrules(ensemble):
    draws, truth = ensemble
    ours = crps_ensemble(draws, truth)
    np.testing.assert_allclose(ours, properscoring.crps_ensemble(truth, draws.T), rtol=1e-10)
    np.testing.assert_allclose(ours, scoringrules.crps_ensemble(truth, draws.T, estimator="nrg"), rtol=1e-10)
    fair = crps_ensemble(draws, truth, fair=True)
    np.testing.assert_allclose(fair, scoringrules.crps_ensemble(truth, draws.T, estimator="fair"), rtol=1e-10)
    assert np.all(fair <= ours)
    np.testing.assert_allclose(crps(SamplePrediction(draws), truth), ours)


def test_crps_gaussian_matches_properscoring_and_scoringrules(rng):
    mu, sigma, y = rng.normal(size=50), rng.uniform(0.1, 3, 50), rng.normal(size=50) * 2
    ours = crps_gaussian(mu, sigma, y)
    np.testing.assert_allclose(ours, properscoring.crps_gaussian(y, mu, sigma), rtol=1e-10)
    np.testing.assert_allclose(ours, scoringrules.crps_normal(y, mu, sigma), rtol=1e-10)
    np.testing.assert_allclose(crps(GaussianPrediction(mu, sigma), y), ours)


def test_crps_of_other_representations_agrees_with_the_closed_form(rng):
    pred = GaussianPrediction(rng.normal(size=40), rng.uniform(0.5, 2, 40))
    y = pred.mean() + pred.std() * rng.normal(0, 1.5, 40)
    exact = crps(pred, y)
    levels = [0.025, 0.16, 0.5, 0.84, 0.975]
    quant = QuantilePrediction(levels, pred.quantile(levels).T)
    np.testing.assert_allclose(crps(quant, y), exact, rtol=2e-3)  # quantile decomposition, 1000 levels
    draws = SamplePrediction(pred.sample(20_000, rng))
    np.testing.assert_allclose(crps(draws, y, fair=True), exact, atol=0.02 * pred.std().max())


def test_log_score_matches_scipy_and_scoringrules(ensemble, rng):
    mu, sigma = rng.normal(size=20), rng.uniform(0.1, 2, 20)
    y = rng.normal(size=20)
    np.testing.assert_allclose(log_score(GaussianPrediction(mu, sigma), y), -stats.norm.logpdf(y, mu, sigma))
    np.testing.assert_allclose(
        log_score(GaussianPrediction(mu, sigma), y), scoringrules.logs_normal(y, mu, sigma)
    )
    draws, truth = ensemble
    pred = SamplePrediction(draws)
    expected = scoringrules.logs_ensemble(truth, draws.T, bw=pred.bandwidths())
    np.testing.assert_allclose(log_score(pred, truth), expected, rtol=1e-8)


def test_interval_and_pinball_scores_match_scoringrules(ensemble):
    draws, truth = ensemble
    pred = SamplePrediction(draws)
    lo, hi = pred.interval(0.9)
    np.testing.assert_allclose(
        interval_score(pred, truth, 0.9), scoringrules.interval_score(truth, lo, hi, 0.1)
    )
    several = interval_score(pred, truth, [0.5, 0.9])
    assert several.shape == (2, truth.size)
    np.testing.assert_allclose(several[1], interval_score(pred, truth, 0.9))
    levels = np.array([0.05, 0.5, 0.95])
    q = pred.quantile(levels)
    loss = pinball_loss(pred, truth, levels)
    for i, t in enumerate(levels):
        np.testing.assert_allclose(loss[i], scoringrules.quantile_score(truth, q[i], t), atol=1e-12)
    quant = QuantilePrediction(levels, q.T)
    assert pinball_loss(quant, truth).shape == (3, truth.size)  # its own levels by default


def test_crps_is_twice_the_pinball_loss_integrated_over_levels(rng):
    pred = GaussianPrediction(rng.normal(size=30), rng.uniform(0.5, 2, 30))
    y = rng.normal(size=30)
    levels = (np.arange(4000) + 0.5) / 4000
    np.testing.assert_allclose(2 * pinball_loss(pred, y, levels).mean(axis=0), crps(pred, y), rtol=1e-4)


@pytest.mark.parametrize("wrong", list(WRONG_MODELS))
def test_calibrated_model_has_the_best_proper_scores(synthetic, wrong):
    right, bad = synthetic.model(), synthetic.model(*WRONG_MODELS[wrong])
    for score in (crps, log_score, lambda p, y: interval_score(p, y, 0.9)):
        assert np.mean(score(right, synthetic.truth)) < np.mean(score(bad, synthetic.truth))


def test_z_scores_and_summary(synthetic):
    summary = z_summary(z_scores(synthetic.model(), synthetic.truth))
    assert summary["mean"] == pytest.approx(0.0, abs=0.05)
    assert summary["std"] == pytest.approx(1.0, abs=0.03)
    # binomial standard error on 4000 stars: 0.0074 and 0.0033; 4 sigma
    assert summary["frac_abs_gt1"] == pytest.approx(summary["expected_frac_abs_gt1"], abs=0.03)
    assert summary["frac_abs_gt2"] == pytest.approx(summary["expected_frac_abs_gt2"], abs=0.014)
    over = z_summary(z_scores(synthetic.model(0, 0.5), synthetic.truth))
    assert over["std"] == pytest.approx(2.0, abs=0.1) and over["frac_abs_gt2"] > 0.25
    biased = z_summary(z_scores(synthetic.model(1.0, 1.0), synthetic.truth))
    assert biased["mean"] == pytest.approx(1.0, abs=0.05)  # z = (prediction - truth) / std


def test_residual_summary_and_mad_std(synthetic, rng):
    assert mad_std(rng.normal(0, 2.0, 100_000)) == pytest.approx(2.0, rel=0.02)
    assert mad_std([1.0, 2.0, 3.0, 4.0, 1000.0]) == pytest.approx(1.4826, rel=1e-4)  # robust to the outlier
    biased = synthetic.model(1.0, 1.0)
    summary = residual_summary(biased, synthetic.truth)
    residual = synthetic.mean + synthetic.std - synthetic.truth  # median prediction minus truth
    assert summary["bias"] == pytest.approx(np.median(residual))
    assert summary["bias"] > 0.08  # the 1-std shift (median std 0.12) shows up as bias
    assert summary["mad_std"] == pytest.approx(mad_std(residual))
    assert summary["std"] == pytest.approx(np.std(residual, ddof=1))
    frac = residual_summary(synthetic.model(), synthetic.truth, point="mean", fractional=True)
    assert abs(frac["bias"]) < 0.01 and frac["point"] == "mean"
    with pytest.raises(ValueError):
        residual_summary(biased, synthetic.truth, point="mode")


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(2, 30), st.integers(1, 4)), elements=st.floats(-1e4, 1e4)),
    st.floats(-2e4, 2e4),
)
def test_crps_is_non_negative_and_fair_is_smaller(draws, y):
    truth = np.full(draws.shape[1], y)
    standard = crps_ensemble(draws, truth)
    fair = crps_ensemble(draws, truth, fair=True)
    scale = 1e-9 * (1 + np.abs(draws).max() + abs(y))
    assert np.all(standard >= -scale)
    assert np.all(fair <= standard + scale)
    np.testing.assert_allclose(standard, properscoring.crps_ensemble(truth, draws.T), rtol=1e-7, atol=scale)


@settings(max_examples=80, deadline=None)
@given(st.floats(-100, 100), st.floats(1e-3, 100), st.floats(-1e3, 1e3), st.floats(0.01, 0.99))
def test_gaussian_crps_and_interval_score_bounds(mu, sigma, y, level):
    assert crps_gaussian(mu, sigma, y) >= -1e-12 * sigma
    lo, hi = GaussianPrediction([mu], [sigma]).interval(level)
    assert winkler_score(lo, hi, y, level)[0] >= hi[0] - lo[0]
