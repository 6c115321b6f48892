"""The report's numbers (bayesxp.report.compute) against known answers, with wrong models they must reject."""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.calibration import GaussianPrediction
from bayesxp.report.compute import (
    SUN_LOGG,
    SUN_TEFF,
    compare_models,
    derived_views,
    label_checks,
    log_luminosity,
    ppc_bands,
)


def _stars(rng, n=2000, label_error=0.1):
    truth = rng.normal(size=n)
    label = truth + label_error * rng.normal(size=n)  # a measured label: truth plus its own noise
    return truth, label, np.full(n, label_error)


def test_calibrated_samples_cover_and_overconfident_ones_are_rejected(rng):
    truth, label, error = _stars(rng)
    centre = truth + rng.normal(size=truth.size)  # a calibrated posterior: truth ~ N(centre, 1)
    calibrated = centre + rng.normal(size=(400, truth.size))
    overconfident = centre + 0.5 * rng.normal(size=(400, truth.size))
    usable = np.ones(truth.size, bool)
    good = label_checks({"teff": calibrated}, {"teff": label}, {"teff": error}, usable, "good")[0]
    bad = label_checks({"teff": overconfident}, {"teff": label}, {"teff": error}, usable, "bad")[0]
    cov, lower, upper = good.at(0.68)
    assert lower <= 0.68 <= upper and abs(cov - 0.68) < 0.04  # binomial sd at n = 2000 is 0.010
    assert good.coverage.consistent.mean() > 0.85  # nearly every level inside its band
    cov, lower, upper = bad.at(0.68)
    assert upper < 0.68 and cov < 0.45  # the half-width posterior covers about 0.38 at 68%
    assert not bad.coverage.consistent[bad.coverage.level >= 0.5].any()
    # scatter: the residual of the median is N(0, 1) plus the label error
    assert good.mad_std == pytest.approx(np.sqrt(1 + 0.1**2), rel=0.06) and abs(good.bias) < 0.08


def test_label_noise_aware_coverage_widens_only_by_the_label_error(rng):
    # a perfect posterior of the truth, judged against noisy labels: naive coverage is too low, aware is right
    truth, label, error = _stars(rng, label_error=1.0)
    samples = truth + 0.3 * rng.normal(size=(400, truth.size)) + 0.3 * rng.normal(size=truth.size)
    check = label_checks({"logg": samples}, {"logg": label}, {"logg": error}, np.ones(truth.size, bool), "m")[0]
    assert check.at(0.68)[1] <= 0.68 <= check.at(0.68)[2]
    assert check.at(0.68, naive=True)[0] < 0.35


def test_label_checks_judge_only_usable_stars_with_labels(rng):
    truth, label, error = _stars(rng, n=50)
    label[:10] = np.nan
    error[10:15] = 0.0
    usable = np.ones(50, bool)
    usable[15:20] = False
    samples = truth + rng.normal(size=(100, 50))
    check = label_checks({"m_h": samples}, {"m_h": label}, {"m_h": error}, usable, "m")[0]
    assert check.n == 30 and check.label.shape == (30,)
    assert label_checks({"m_h": samples}, {"m_h": np.full(50, np.nan)}, {"m_h": error}, usable, "m") == []
    # a distribution works as well as samples
    dist = label_checks({"m_h": GaussianPrediction(truth, 1.0)}, {"m_h": label}, {"m_h": error}, usable, "d")[0]
    assert dist.n == 30


def test_log_luminosity_known_answers():
    assert log_luminosity(np.array(1.0), np.array(SUN_TEFF), np.array(SUN_LOGG)) == pytest.approx(0.0, abs=1e-12)
    # twice the mass at the same Teff and logg: twice the radius squared, so twice the luminosity
    assert log_luminosity(np.array(2.0), np.array(SUN_TEFF), np.array(SUN_LOGG)) == pytest.approx(np.log10(2))
    # Arcturus (Ramirez & Allende Prieto 2011: 1.08 Msun, 4286 K, logg 1.66) against Stefan-Boltzmann with
    # astropy's constants, R = sqrt(G M / g), L = 4 pi R^2 sigma Teff^4 (their radius 25.4 Rsun gives the same)
    import astropy.constants as const
    import astropy.units as u

    radius = np.sqrt(const.G * 1.08 * u.M_sun / (10**1.66 * u.cm / u.s**2))
    expected = (4 * np.pi * radius**2 * const.sigma_sb * (4286.0 * u.K) ** 4).to(u.L_sun).value
    assert radius.to(u.R_sun).value == pytest.approx(25.4, rel=0.01)
    assert 10 ** log_luminosity(np.array(1.08), np.array(4286.0), np.array(1.66)) == pytest.approx(expected, rel=0.002)


def test_derived_views_use_the_joint_draws(rng):
    # mass and logg drawn jointly with logg = const + log10(mass) (same radius): L does not depend on mass,
    # so the joint correlation of ln M and log L is ~0; with the draws decoupled (a wrong model treating the
    # marginals as independent) it is strongly positive
    s, n = 2000, 4
    ln_mass = rng.normal(0.2, 0.2, (s, n))
    mass = np.exp(ln_mass)
    logg = 2.5 + np.log10(mass) - np.log10(np.exp(0.2))
    samples = {"mass": mass, "age": np.full((s, n), 5.0), "teff": np.full((s, n), 4800.0), "logg": logg,
               "m_h": np.zeros((s, n))}
    joint = derived_views(samples, np.ones(n, bool))
    assert np.allclose(joint.summaries["log_luminosity"][0], joint.summaries["log_luminosity"][2], atol=1e-9)
    decoupled = dict(samples, logg=rng.permuted(logg, axis=0))
    wrong = derived_views(decoupled, np.ones(n, bool))
    assert np.all(wrong.mass_luminosity_corr > 0.6)
    assert np.all(wrong.summaries["log_luminosity"][2] - wrong.summaries["log_luminosity"][0] > 0.1)


def test_derived_views_skip_unusable_stars(rng):
    samples = {q: rng.uniform(1, 2, (50, 3)) for q in ("mass", "age", "m_h", "logg")}
    samples["teff"] = np.full((50, 3), 4800.0)
    samples["mass"][:, 1] = np.nan
    views = derived_views(samples, np.array([True, False, True]))
    assert views.index.tolist() == [0, 2] and np.isfinite(views.summaries["log_luminosity"]).all()


def test_ppc_bands_and_model_comparison(rng):
    flux = rng.normal(size=(3, 343))
    predictive = 2.0 + 0.5 * rng.normal(size=(4000, 3, 343))
    bands = ppc_bands(flux, np.ones((3, 343)), predictive, np.array([0.1, 0.2, 0.3]), np.array([2, 0]))
    assert bands.pvalue.tolist() == [0.3, 0.1] and np.array_equal(bands.observed[0], flux[2])
    assert np.allclose(bands.quantiles[2], 2.0, atol=0.05) and np.allclose(bands.quantiles[3] - bands.quantiles[1], 1.0,
                                                                           atol=0.08)
    ours = 1.0 + 0.1 * rng.normal(size=(4000, 5))
    result = compare_models({"mass": ours, "age": ours}, {"mass": GaussianPrediction(np.full(5, 1.5), 0.3)},
                            np.array([True, True, False, True, True]))
    assert list(result.medians) == ["mass"] and result.n == 4
    assert np.allclose(result.medians["mass"][1], 1.5) and np.allclose(result.medians["mass"][0], 1.0, atol=0.02)
    assert np.allclose(result.widths["mass"], [[0.2], [0.6]], atol=0.02)
