"""Known-answer tests of coverage and PIT: calibrated models pass, deliberately wrong ones fail.

Every synthetic truth is drawn from a Gaussian predictive, so the reported Gaussian (in any
representation) is calibrated by construction. Each check uses per-level binomial bands at the
Bonferroni confidence ``1 - 0.001 / L`` (a calibrated model fails some level with < 0.1% chance) and PIT
tests at significance 0.001; the wrong models (std x 0.5, std x 2, mean + 1 std) must fail both, with
p-values below 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from bayesxp.calibration import (
    DEFAULT_LEVELS,
    GaussianPrediction,
    SamplePrediction,
    binomial_band,
    calibration_curve,
    coverage,
    expected_calibration_error,
    inside_interval,
    miscalibration_area,
    pit,
    pit_uniformity,
)

REPRESENTATIONS = ["gaussian", "samples", "quantiles"]
WRONG_MODELS = {"over-confident": (0.0, 0.5), "under-confident": (0.0, 2.0), "biased": (1.0, 1.0)}


def test_default_levels():
    assert DEFAULT_LEVELS.size == 20
    for level in (0.05, 0.5, 0.68, 0.9, 0.95):
        assert np.any(np.isclose(DEFAULT_LEVELS, level))


@pytest.mark.parametrize("kind", ["central", "hdi"])
@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_calibrated_model_passes_at_every_level(synthetic, represent, bonferroni, rng, representation, kind):
    # even smoothed, the HDI of S draws under-covers by ~1% at S = 400 (it is chosen on the draws' own
    # noise; see SamplePrediction), so HDIs from draws are checked with S = 1000
    n_samples = 1000 if kind == "hdi" else 400
    pred = represent(synthetic.model(), representation, rng, n_samples)
    result = coverage(pred, synthetic.truth, kind=kind, confidence=bonferroni)
    assert result.all_consistent, result.as_dict()
    assert result.max_deviation < 0.03
    test = pit_uniformity(pit(pred, synthetic.truth, rng=rng))
    assert not test.rejects(0.001), test.as_dict()


@pytest.mark.parametrize("wrong", list(WRONG_MODELS))
@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_miscalibrated_model_is_rejected(synthetic, represent, bonferroni, rng, representation, wrong):
    pred = represent(synthetic.model(*WRONG_MODELS[wrong]), representation, rng)
    result = coverage(pred, synthetic.truth, confidence=bonferroni)
    assert not result.all_consistent
    assert np.sum(~result.consistent) >= 10  # not a marginal failure: most levels are off
    test = pit_uniformity(pit(pred, synthetic.truth, rng=rng))
    assert test.ks_pvalue < 1e-6 and test.chi2_pvalue < 1e-6
    assert test.miscalibration_area > 0.05


def test_directions_of_failure(synthetic):
    """Over-confident intervals cover too little, under-confident too much, at the 68% level."""
    over = coverage(synthetic.model(0, 0.5), synthetic.truth, levels=[0.68])
    under = coverage(synthetic.model(0, 2.0), synthetic.truth, levels=[0.68])
    assert over.upper[0] < 0.68 < under.lower[0]
    assert over.coverage[0] == pytest.approx(2 * stats.norm.cdf(0.5 * 0.994) - 1, abs=0.03)


@pytest.mark.parametrize("representation", REPRESENTATIONS)
def test_label_noise_aware_coverage(make_synthetic, represent, bonferroni, rng, representation):
    """Labels with a 12% error of their own: naive coverage fails, coverage against the convolved prediction passes."""
    data = make_synthetic(rng, 4000)
    label_error = 0.12 * data.mean  # a per-star error known independently of the (unknown) true value
    noisy_label = data.truth + label_error * rng.standard_normal(data.truth.size)
    pred = represent(data.model(), representation, rng)
    naive = coverage(pred, noisy_label, confidence=bonferroni)
    aware = coverage(pred, noisy_label, label_error=label_error, confidence=bonferroni, rng=rng)
    assert not naive.all_consistent and naive.coverage[DEFAULT_LEVELS == 0.68][0] < 0.6
    assert aware.all_consistent, aware.as_dict()
    noisy_pit = pit(pred, noisy_label, label_error=label_error, rng=rng)
    assert not pit_uniformity(noisy_pit).rejects(0.001)


def test_binomial_bands_match_scipy():
    for k, n in [(0, 20), (7, 20), (20, 20), (512, 1000)]:
        lo, hi = binomial_band(k, n, 0.95, method="clopper-pearson")
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        assert (float(lo), float(hi)) == pytest.approx((ci.low, ci.high), abs=1e-10)
    lo, hi = binomial_band(np.array([0, 10]), 10)
    assert lo[0] == 0 and hi[1] == 1
    with pytest.raises(ValueError):
        binomial_band(1, 10, method="wald")


def test_jeffreys_band_has_its_nominal_coverage(rng):
    """Over 4000 binomial experiments the 95% Jeffreys band holds the true proportion 93-97% of the time."""
    n, p = 200, 0.3
    k = rng.binomial(n, p, size=4000)
    lo, hi = binomial_band(k, n, 0.95)
    assert 0.93 < np.mean((lo <= p) & (p <= hi)) < 0.97


def test_inside_interval_and_result_dict(synthetic):
    inside = inside_interval(synthetic.model(), synthetic.truth, [0.5, 0.9])
    assert inside.shape == (2, synthetic.truth.size) and inside.dtype == bool
    assert np.all(inside[1] | ~inside[0])  # nested central intervals
    d = coverage(synthetic.model(), synthetic.truth).as_dict()
    assert set(d) >= {"level", "coverage", "lower", "upper", "consistent", "all_consistent", "max_deviation"}
    with pytest.raises(ValueError, match="shape"):
        coverage(synthetic.model(), synthetic.truth[:10])
    with pytest.raises(ValueError, match="non-finite"):
        coverage(synthetic.model(), np.where(np.arange(synthetic.truth.size) == 3, np.nan, synthetic.truth))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, (12, 5), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    arrays(np.float64, (5,), elements=st.floats(-1e3, 1e3, allow_nan=False)),
)
def test_central_coverage_is_monotone_in_level(draws, truth):
    result = coverage(SamplePrediction(draws), truth, levels=np.linspace(0.05, 0.95, 19))
    assert np.all(np.diff(result.coverage) >= 0)
    assert np.all((result.lower <= result.coverage) & (result.coverage <= result.upper))


# ------------------------------------------------------------------------------------------------ PIT
def test_miscalibration_area_known_answers(rng):
    assert miscalibration_area([0.25, 0.75]) == pytest.approx(0.125)
    assert miscalibration_area([0.0, 0.0, 0.0]) == pytest.approx(0.5)
    assert miscalibration_area([1.0]) == pytest.approx(0.5)
    assert miscalibration_area((np.arange(1000) + 0.5) / 1000) == pytest.approx(0.00025, rel=1e-6)
    assert miscalibration_area(rng.uniform(size=4000)) < 0.02
    # a U-shaped PIT (over-confidence): G(t) = Beta(0.5, 0.5) CDF, area = int |G - t|
    grid = np.linspace(0, 1, 200_001)
    expected = np.trapezoid(np.abs(stats.beta(0.5, 0.5).cdf(grid) - grid), grid)
    assert miscalibration_area(rng.beta(0.5, 0.5, size=20_000)) == pytest.approx(expected, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 1)))
def test_miscalibration_area_is_bounded(u):
    assert 0.0 <= miscalibration_area(u) <= 0.5 + 1e-12


def test_calibration_curve_and_ece(rng):
    even = (np.arange(10_000) + 0.5) / 10_000
    np.testing.assert_allclose(calibration_curve(even, [0.2, 0.68]), [0.2, 0.68], atol=1e-4)
    np.testing.assert_allclose(calibration_curve(even, [0.2], kind="quantile"), [0.2], atol=1e-4)
    assert expected_calibration_error(even) < 1e-3
    over = pit(GaussianPrediction(np.zeros(4000), 0.5), rng.normal(size=4000))
    # |observed - nominal| averaged over 0.05..0.95: about 0.2 for std x 0.5
    assert expected_calibration_error(over) > 0.15
    with pytest.raises(ValueError):
        calibration_curve([0.5, 1.5], [0.5])


def test_pit_histogram_shows_the_over_confident_u_shape(rng):
    test = pit_uniformity(pit(GaussianPrediction(np.zeros(4000), 0.5), rng.normal(size=4000)), bins=10)
    assert test.counts.sum() == 4000 and test.n_bins == 10
    assert test.counts[0] > test.band_upper[0] and test.counts[-1] > test.band_upper[-1]
    assert test.counts[5] < test.band_lower[5]
    assert pit_uniformity(rng.uniform(size=30), bins=20).n_bins == 6  # >= 5 expected per bin
