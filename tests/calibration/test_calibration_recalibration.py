"""Recalibration fitted on a calibration split restores coverage on a held-out split."""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.calibration import (
    DEFAULT_LEVELS,
    ConformalQuantileRecalibrator,
    ConformalScaleRecalibrator,
    GaussianPrediction,
    IsotonicRecalibrator,
    QuantilePrediction,
    RecalibratedPrediction,
    conformal_quantile,
    coverage,
    pit,
    pit_uniformity,
)

REPRESENTATIONS = ["gaussian", "samples", "quantiles"]


@pytest.fixture
def split(make_synthetic, rng):
    """Synthetic stars in a calibration split of 30000 and a held-out split of 3000.

    The calibration split is the larger because the noise of what it learns adds to the held-out
    split's binomial noise, which the held-out bands alone do not allow for (here by 10% in variance).
    Draws are 200 per star to keep the 30000-star split small.
    """
    return make_synthetic(rng, 30_000), make_synthetic(rng, 3000)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_isotonic_recalibration_restores_coverage(split, represent, bonferroni, rng, representation):
    cal, test = split
    pred_cal = represent(cal.model(0, 0.5), representation, rng, 200)
    pred_test = represent(test.model(0, 0.5), representation, rng, 200)
    assert not coverage(pred_test, test.truth, confidence=bonferroni).all_consistent
    fitted = IsotonicRecalibrator().fit(pred_cal, cal.truth, rng=rng)
    new = fitted.apply(pred_test)
    assert isinstance(new, RecalibratedPrediction)
    result = coverage(new, test.truth, confidence=bonferroni)
    assert result.all_consistent, result.as_dict()
    assert not pit_uniformity(pit(new, test.truth, rng=rng)).rejects(0.001)


def test_recalibrated_prediction_is_a_consistent_distribution(split, rng):
    cal, test = split
    fitted = IsotonicRecalibrator().fit(cal.model(0, 0.5), cal.truth, rng=rng)
    new = fitted.apply(test.model(0, 0.5))
    # the map learned from std x 0.5 turns it back into (nearly) the true Gaussian
    np.testing.assert_allclose(new.std(), test.std, rtol=0.08)
    np.testing.assert_allclose(new.mean(), test.mean, atol=0.1 * test.std.max())
    u = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(new.cdf(new.quantile(u)), np.broadcast_to(u[:, None], (3, 3000)), atol=1e-9)
    y = test.mean + test.std * np.linspace(-2, 2, 5)[:, None]
    np.testing.assert_allclose(new.logpdf(y), test.model().logpdf(y), atol=0.25)
    assert np.all(np.diff(fitted.knots_pit) > 0) and np.all(np.diff(fitted.knots_level) > 0)
    assert new.take(np.arange(10)).n_stars == 10


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_conformal_quantile_regression_restores_coverage(split, represent, rng, representation):
    """Conformal coverage at the fitted levels, checked at 99.99% confidence per level."""
    cal, test = split
    levels = [0.68, 0.9]
    cqr = ConformalQuantileRecalibrator(levels).fit(
        represent(cal.model(0, 0.5), representation, rng, 200), cal.truth
    )
    pred_test = represent(test.model(0, 0.5), representation, rng, 200)
    new = cqr.apply(pred_test)
    assert isinstance(new, QuantilePrediction)
    result = coverage(new, test.truth, levels=levels, confidence=0.9999)
    assert result.all_consistent, result.as_dict()
    lo, hi = cqr.interval(pred_test)
    np.testing.assert_allclose(new.interval(levels)[0], lo, atol=1e-7)
    np.testing.assert_allclose(new.interval(levels)[1], hi, atol=1e-7)


def test_cqr_on_an_xgboost_like_quantile_table(split):
    """CQR on crossing-free but over-confident q16/q50/q84 columns as a baseline would write them."""
    cal, test = split
    table_cal = {f"mass_q{k}": cal.mean + f * 0.5 * cal.std for k, f in (("16", -1), ("50", 0), ("84", 1))}
    table_test = {f"mass_q{k}": test.mean + f * 0.5 * test.std for k, f in (("16", -1), ("50", 0), ("84", 1))}
    cqr = ConformalQuantileRecalibrator(0.68).fit(QuantilePrediction.from_table(table_cal, "mass"), cal.truth)
    new = cqr.apply(QuantilePrediction.from_table(table_test, "mass"))
    assert coverage(new, test.truth, levels=[0.68], confidence=0.9999).all_consistent


@pytest.mark.parametrize("representation", REPRESENTATIONS)
@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_normalised_residual_conformal_restores_coverage(split, represent, rng, representation, factor):
    cal, test = split
    scaler = ConformalScaleRecalibrator(0.68).fit(
        represent(cal.model(0, factor), representation, rng, 200), cal.truth
    )
    assert scaler.factor == pytest.approx(1 / factor, rel=0.1)  # widens over-, narrows under-confident
    new = scaler.apply(represent(test.model(0, factor), representation, rng, 200))
    assert coverage(new, test.truth, levels=[0.68], confidence=0.9999).all_consistent
    # one factor fixes every level when only the width was wrong (5 standard errors of 0.009)
    assert coverage(new, test.truth, levels=DEFAULT_LEVELS).max_deviation < 0.045


def test_conformal_quantile_and_errors():
    assert conformal_quantile(np.arange(1.0, 10.0), 0.8) == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile([1.0, 2.0], 0.9) == np.inf
    with pytest.raises(ValueError, match="too few"):
        ConformalQuantileRecalibrator(0.95).fit(GaussianPrediction(np.zeros(5), 1.0), np.zeros(5))
    for recalibrator in (
        IsotonicRecalibrator(),
        ConformalQuantileRecalibrator(),
        ConformalScaleRecalibrator(),
    ):
        with pytest.raises(RuntimeError, match="not fitted"):
            recalibrator.apply(GaussianPrediction([0.0], [1.0]))
