"""Joint (log mass, log age) calibration: HDR coverage and TARP on correlated bivariate Gaussians."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesxp.calibration import coverage, hdr_credibility, joint_coverage, stack_quantities, tarp


def bivariate(rng, n, s, rho_true, rho_model, scale=1.0):
    """Per-star means and scales; truths with correlation rho_true, model draws with rho_model."""
    mean = np.column_stack([rng.normal(0.1, 0.1, n), rng.normal(0.6, 0.3, n)])  # log mass, log age
    sd = np.column_stack([rng.uniform(0.02, 0.06, n), rng.uniform(0.05, 0.15, n)])

    def draw(rho, size):
        z1 = rng.standard_normal(size)
        z2 = rho * z1 + np.sqrt(1 - rho**2) * rng.standard_normal(size)
        return np.stack([z1, z2], axis=-1)

    truth = mean + sd * draw(-rho_true, (n,))  # mass and age anti-correlated
    samples = mean + scale * sd * draw(-rho_model, (s, n))  # [S, N, 2]
    return samples, truth


@pytest.mark.parametrize("method, n", [("gaussian", 3000), ("kde", 1500)])
def test_hdr_coverage_is_nominal_for_the_right_correlation(rng, bonferroni, method, n):
    samples, truth = bivariate(rng, n, 200, 0.8, 0.8)
    result = joint_coverage(samples, truth, method=method, confidence=bonferroni, rng=rng)
    assert result.kind == f"hdr-{method}"
    assert result.all_consistent, result.as_dict()
    if method == "gaussian":  # the credibility itself is uniform (one more pass; skipped for the slower KDE)
        assert stats.kstest(hdr_credibility(samples, truth, method=method, rng=rng), "uniform").pvalue > 0.001


@pytest.mark.parametrize("method, n", [("gaussian", 3000), ("kde", 1500)])
def test_hdr_coverage_rejects_a_model_that_ignores_the_correlation(rng, bonferroni, method, n):
    samples, truth = bivariate(rng, n, 200, 0.8, 0.0)
    # each marginal is calibrated: per-quantity coverage cannot see the mistake ... (central intervals
    # of 200 draws cover level * 199 / 201 on average: -0.009 at 0.9, inside the Bonferroni band)
    for d in range(2):
        assert coverage(samples[..., d], truth[:, d], levels=[0.5, 0.9], confidence=bonferroni).all_consistent
    # ... the joint regions can: coverage is off by 0.08-0.10 near the 50% level (measured over seeds)
    result = joint_coverage(samples, truth, method=method, confidence=bonferroni, rng=rng)
    assert not result.all_consistent
    assert result.max_deviation > 0.05


def test_tarp_accepts_calibrated_and_rejects_over_confident(rng):
    samples, truth = bivariate(rng, 2000, 200, 0.8, 0.8)
    good = tarp(samples, truth, rng=rng)
    assert good.ks_pvalue > 0.001 and good.area < 0.03
    assert good.ecp[0] == 0 and good.ecp[-1] == 1 and np.all(np.diff(good.ecp) >= 0)
    narrow, truth2 = bivariate(rng, 2000, 200, 0.8, 0.8, scale=0.5)
    bad = tarp(narrow, truth2, rng=rng)
    assert bad.ks_pvalue < 1e-6 and bad.max_deviation > 0.1
    fixed = tarp(samples, truth, references=truth.mean(axis=0) + np.zeros_like(truth), rng=rng)
    assert fixed.f.shape == (2000,)
    assert set(good.as_dict()) >= {"alpha", "ecp", "area", "ks_pvalue"}


def test_stack_and_validation(rng):
    posterior = {"mass": rng.uniform(0.8, 2, (50, 4)), "age_gyr": rng.uniform(1, 10, (50, 4))}
    joint = stack_quantities(posterior, ["mass", "age_gyr"], log10=True)
    assert joint.shape == (50, 4, 2)
    np.testing.assert_allclose(joint[..., 1], np.log10(posterior["age_gyr"]))
    with pytest.raises(ValueError, match="shape"):
        hdr_credibility(joint, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="method"):
        hdr_credibility(joint, np.zeros((4, 2)), method="histogram")
