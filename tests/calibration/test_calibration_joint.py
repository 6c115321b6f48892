"""Joint calibration: HDR coverage and TARP (bivariate and 5-D Gaussians), and the predictive-correlation check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from bayesxp.calibration import (
    correlation_check,
    coverage,
    hdr_credibility,
    joint_coverage,
    stack_quantities,
    tarp,
)


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


def gaussian_5d(rng, n, s, scale=1.0):
    """Per-star 5-D Gaussians with random covariances; truths from them, draws with stds times ``scale``."""
    mean = rng.normal(0.0, 1.0, (n, 5))
    factor = rng.normal(size=(n, 5, 5)) * rng.uniform(0.05, 0.3, (n, 5, 1))  # per-quantity scale
    chol = np.linalg.cholesky(factor @ factor.transpose(0, 2, 1) + 1e-3 * np.eye(5))  # [N, 5, 5]
    truth = mean + np.einsum("nij,nj->ni", chol, rng.standard_normal((n, 5)))
    samples = mean + scale * np.einsum("nij,snj->sni", chol, rng.standard_normal((s, n, 5)))  # [S, N, 5]
    return samples, truth


@pytest.mark.parametrize("method, n", [("gaussian", 2000), ("kde", 1000)])
def test_hdr_coverage_in_five_dimensions(rng, bonferroni, method, n):
    samples, truth = gaussian_5d(rng, n, 200)
    good = joint_coverage(samples, truth, method=method, confidence=bonferroni, rng=rng)
    assert good.all_consistent, good.as_dict()
    # over-confident (stds x 0.5): the truth's squared Mahalanobis distance is 4 x chi2(5), so the 50% region
    # holds ~5% of truths (measured 0.04-0.07 over seeds, either method)
    narrow, truth2 = gaussian_5d(rng, n, 200, scale=0.5)
    bad = joint_coverage(narrow, truth2, method=method, confidence=bonferroni, rng=rng)
    assert not bad.all_consistent
    assert bad.coverage[bad.level == 0.5][0] < 0.15


def test_tarp_in_five_dimensions(rng):
    samples, truth = gaussian_5d(rng, 2000, 200)
    good = tarp(samples, truth, rng=rng)
    assert good.ks_pvalue > 0.001 and good.area < 0.03
    narrow, truth2 = gaussian_5d(rng, 2000, 200, scale=0.5)
    bad = tarp(narrow, truth2, rng=rng)
    assert bad.ks_pvalue < 1e-6 and bad.max_deviation > 0.1


def correlations_3d(rng, n):
    """Per-star correlation matrices ``[N, 3, 3]`` varying across stars, all entries in [-0.9, 0.5].

    rho01 ~ U(-0.9, -0.4) (like log mass - log age), rho02 ~ U(0.2, 0.5), and rho12 set through a partial
    correlation in U(-0.5, 0) (positive definite by construction): means about -0.65, 0.35, -0.40.
    """
    r01, r02, partial = rng.uniform(-0.9, -0.4, n), rng.uniform(0.2, 0.5, n), rng.uniform(-0.5, 0.0, n)
    r12 = r01 * r02 + partial * np.sqrt((1 - r01**2) * (1 - r02**2))
    corr = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    corr[:, 0, 1], corr[:, 0, 2], corr[:, 1, 2] = r01, r02, r12
    corr[:, 1, 0], corr[:, 2, 0], corr[:, 2, 1] = r01, r02, r12
    return corr


def correlated_model(rng, kind="calibrated", n=2000, s=200, df=None):
    """Draws ``[S, N, 3]`` and truths ``[N, 3]``; each star has its own mean, stds and correlation matrix.

    ``df`` makes every star's distribution a multivariate Student-t (same correlation, heavy tails).
    ``kind``: ``"calibrated"`` (draws from the truth's distribution), ``"independent"`` (the same draws,
    each quantity shuffled separately over the draw index: right marginals, correlation 0) or ``"shared"``
    (every quantity driven by the same standard normals: correlation 1).
    """
    chol = np.linalg.cholesky(correlations_3d(rng, n))  # [N, 3, 3]
    mean, std = rng.normal(0.0, 1.0, (n, 3)), rng.uniform(0.02, 0.3, (n, 3))

    def standard(shape):  # [*shape, N, 3]
        z = np.einsum("nij,...nj->...ni", chol, rng.standard_normal((*shape, n, 3)))
        return z if df is None else z / np.sqrt(rng.chisquare(df, (*shape, n, 1)) / df)

    truth = mean + std * standard(())
    z = standard((s,))  # [S, N, 3]
    if kind == "independent":
        z = np.stack([z[rng.permutation(s), :, d] for d in range(3)], axis=-1)
    elif kind == "shared":
        z = np.repeat(z[..., :1], 3, axis=-1)
    return mean + std * z, truth


NAMES = ["log_mass", "log_age", "mh"]


def test_correlation_check_accepts_a_calibrated_model_with_varying_correlations(rng):
    samples, truth = correlated_model(rng)
    for method in ("spearman", "pearson"):
        check = correlation_check(samples, truth, names=NAMES, method=method, n_boot=500, rng=rng)
        assert check.all_consistent, check.as_dict()
        # the compared quantities agree far inside the tolerance (SE ~0.02 at 2000 stars; <= 0.04 over 8 seeds)
        assert check.max_difference < 0.07
        for p in check.pairs:
            assert p.n == 2000 and p.residual_low <= p.residual <= p.residual_high
            assert p.residual_high - p.residual_low < 0.12
    mass_age = check.pair("log_age", "log_mass")  # Pearson: predictive mean ~ -0.65 by construction
    assert abs(mass_age.predictive_mean + 0.65) < 0.03
    assert mass_age.predictive_median != mass_age.predictive_mean
    assert [(p.first, p.second) for p in check.pairs] == [
        (NAMES[0], NAMES[1]),
        (NAMES[0], NAMES[2]),
        (NAMES[1], NAMES[2]),
    ]


@pytest.mark.parametrize("kind, predicted", [("independent", 0.0), ("shared", 1.0)])
def test_correlation_check_rejects_wrong_correlations(rng, kind, predicted):
    samples, truth = correlated_model(rng, kind)
    # each marginal is the calibrated one: per-quantity coverage cannot see the mistake ...
    for d in range(3):
        assert coverage(samples[..., d], truth[:, d], levels=[0.5, 0.9], confidence=0.999).all_consistent
    # ... the correlation check rejects every pair (the truths' mean correlations are -0.65, 0.35, -0.40)
    check = correlation_check(samples, truth, names=NAMES, n_boot=200, rng=rng)
    assert not check.all_consistent
    for p in check.pairs:
        assert not p.consistent
        assert abs(p.predictive_mean - predicted) < 0.02
        assert abs(p.difference) > 0.25


def test_correlation_check_is_robust_to_heavy_tails_by_default(rng):
    samples, truth = correlated_model(rng, df=4)  # multivariate Student-t (df = 4), calibrated
    robust = correlation_check(samples, truth, names=NAMES, n_boot=500, rng=rng)
    assert robust.method == "spearman"
    assert robust.all_consistent, robust.as_dict()
    pearson = correlation_check(samples, truth, names=NAMES, method="pearson", n_boot=500, rng=rng)
    for r, p in zip(robust.pairs, pearson.pairs):  # the rank correlation is measured more tightly
        assert r.residual_high - r.residual_low < p.residual_high - p.residual_low
    # 1% catastrophic truths, 30 sigma off in the same direction in every quantity: they set the sign of the
    # Pearson residual correlation (+0.82 to +0.94 for every pair) but move the rank correlation by ~0.05
    gross = truth.copy()
    bad = rng.choice(truth.shape[0], 20, replace=False)
    gross[bad] = samples[:, bad].mean(axis=0) + 30 * samples[:, bad].std(axis=0)
    assert correlation_check(samples, gross, names=NAMES, n_boot=0).all_consistent
    assert not correlation_check(samples, gross, names=NAMES, method="pearson", n_boot=0).all_consistent


def test_correlation_check_missing_truths_and_validation(rng):
    samples, truth = correlated_model(rng, n=300, s=50)
    truth[:100, 2] = np.nan  # [M/H] missing for the first 100 stars
    truth[100:110, 0] = np.nan
    check = correlation_check(samples, truth, names=NAMES, n_boot=100, rng=0)
    assert [p.n for p in check.pairs] == [290, 190, 200]
    again = correlation_check(samples, truth, names=NAMES, n_boot=100, rng=0)
    assert again.as_dict() == check.as_dict()  # seeded bootstrap
    record = json.loads(json.dumps(check.as_dict()))
    assert record["pairs"][1]["first"] == "log_mass" and record["pairs"][1]["second"] == "mh"
    assert set(record) >= {"method", "tolerance", "pairs", "all_consistent", "max_difference"}
    assert correlation_check(samples, truth).pairs[0].first == "0"  # default names
    samples[:, 150, 1] = 1.0  # constant draws: star 150 is left out of the pairs with log_age
    assert [p.n for p in correlation_check(samples, truth, names=NAMES, n_boot=0).pairs] == [289, 190, 199]
    with pytest.raises(ValueError, match="shape"):
        correlation_check(samples[..., :1], truth[:, :1])
    with pytest.raises(ValueError, match="shape"):
        correlation_check(samples, truth[:10])
    with pytest.raises(ValueError, match="names"):
        correlation_check(samples, truth, names=["a", "a", "b"])
    with pytest.raises(ValueError, match="method"):
        correlation_check(samples, truth, method="kendall")
    with pytest.raises(ValueError, match="finite"):
        correlation_check(samples, np.where(np.isnan(truth), np.inf, truth))
    with pytest.raises(KeyError):
        check.pair("log_mass", "log_mass")
