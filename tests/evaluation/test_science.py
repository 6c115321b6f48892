"""Known answers of the science-check functions (bayesxp.evaluation.science).

Each test states its tolerance and uses fixed seeds; each has a wrong input the same check must reject: a
luminosity with an outdated solar temperature, a mass-luminosity sample with the masses shuffled between
stars (for the power law and for the multivariate ``log L = a + b log M + c logg + d log Teff``), a gravity
in SI instead of cgs units, a step function shifted by a bin, independent samples for the rank correlation.
"""

from __future__ import annotations

import astropy.constants as const
import astropy.units as u
import numpy as np
import pytest
from scipy import stats

from bayesxp.evaluation.science import (
    SOLAR_LOGG_CGS,
    SOLAR_TEFF_K,
    agreement,
    binned_relation,
    bootstrap_median,
    fit_line,
    fit_linear_model,
    fit_power_law,
    luminosity_from_radius,
    mass_from_luminosity_gravity,
    rank_correlation,
)

N_STARS = 300
EXPONENT = 3.5  # L ~ M^3.5
SCATTER_DEX = 0.1


def _stefan_boltzmann(radius_rsun: np.ndarray, teff_k: np.ndarray) -> np.ndarray:
    """``4 pi R^2 sigma Teff^4 / L_sun`` with astropy's IAU 2015 nominal R_sun and L_sun."""
    luminosity = 4 * np.pi * (radius_rsun * const.R_sun) ** 2 * const.sigma_sb * (teff_k * u.K) ** 4
    return (luminosity / const.L_sun).decompose().value


def _mass_luminosity_sample(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mass = rng.uniform(0.8, 3.0, N_STARS)
    return mass, mass**EXPONENT * 10 ** rng.normal(0.0, SCATTER_DEX, N_STARS)


def test_the_sun_has_unit_luminosity():
    """R = 1 Rsun, Teff = 5772 K -> L = 1 within 1e-3; an outdated 5778 K reference misses that by 4e-3."""
    assert abs(float(luminosity_from_radius(1.0, 5772.0)) - 1.0) < 1e-3
    assert abs(float(_stefan_boltzmann(1.0, SOLAR_TEFF_K)) - 1.0) < 1e-3
    wrong = (5772.0 / 5778.0) ** 4  # the same law with Teff_sun = 5778 K
    assert abs(wrong - 1.0) > 1e-3


def test_luminosity_matches_the_stefan_boltzmann_law():
    """Giants (R 3-40 Rsun, Teff 3800-5200 K): relative difference from astropy's constants below 1e-3."""
    rng = np.random.default_rng(0)
    radius, teff = rng.uniform(3, 40, 50), rng.uniform(3800, 5200, 50)
    relative = luminosity_from_radius(radius, teff) / _stefan_boltzmann(radius, teff) - 1
    assert np.max(np.abs(relative)) < 1e-3
    swapped = luminosity_from_radius(teff / 100, radius * 100)  # arguments in the wrong order
    assert np.max(np.abs(swapped / _stefan_boltzmann(radius, teff) - 1)) > 0.5


def test_power_law_recovers_the_exponent():
    """L ~ M^3.5 with 0.1 dex scatter, 300 stars: slope within 2 bootstrap sigma of 3.5, intercept of 0;
    scatter within 10% of 0.1 dex; the bootstrap error within 20% of OLS's analytic standard error."""
    mass, luminosity = _mass_luminosity_sample()
    fit = fit_power_law(mass, luminosity, n_bootstrap=1000, seed=0)
    assert fit.n == N_STARS
    assert abs(fit.z(EXPONENT)) < 2
    assert abs(fit.intercept) < 2 * fit.intercept_err
    assert abs(fit.scatter / SCATTER_DEX - 1) < 0.1
    analytic = stats.linregress(np.log10(mass), np.log10(luminosity)).stderr
    assert abs(fit.slope_err / analytic - 1) < 0.2


def test_power_law_rejects_shuffled_masses():
    """Masses shuffled between stars: slope consistent with 0 (within 3 sigma), more than 10 sigma from 3.5."""
    mass, luminosity = _mass_luminosity_sample()
    shuffled = np.random.default_rng(2).permutation(mass)
    fit = fit_power_law(shuffled, luminosity, n_bootstrap=1000, seed=0)
    assert abs(fit.z(0.0)) < 3
    assert abs(fit.z(EXPONENT)) > 10


def test_power_law_drops_non_positive_and_missing_values():
    mass, luminosity = _mass_luminosity_sample()
    mass[:5], luminosity[5:8] = np.nan, -1.0
    fit = fit_power_law(mass, luminosity, n_bootstrap=200)
    assert fit.n == N_STARS - 8
    assert abs(fit.z(EXPONENT)) < 2


def test_fit_line_is_seeded_and_refuses_degenerate_input():
    x = np.linspace(0, 1, 50)
    y = 2 * x + np.random.default_rng(0).normal(0, 0.1, 50)
    assert fit_line(x, y, seed=3) == fit_line(x, y, seed=3)
    assert fit_line(x, y, seed=3).slope_err != fit_line(x, y, seed=4).slope_err
    with pytest.raises(ValueError, match="at least 3"):
        fit_line([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="constant"):
        fit_line(np.ones(10), np.arange(10.0))


GIANT_COEFFICIENTS = (1.0, -1.0, 4.0)  # log10 L = a + log10 M - logg + 4 log10 Teff
GIANT_NAMES = ("log10 mass", "logg", "log10 teff")


def _giant_sample(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3)`` columns log10 M, logg, log10 Teff of giants and ``(N,)`` log10 L: the luminosity that M, g and
    Teff imply (``L = M / mass_from_luminosity_gravity(1, logg, Teff)``, intercept ``4.438 - 4 log10 5772 =
    -10.61``) plus 0.05 dex of noise."""
    rng = np.random.default_rng(seed)
    columns = np.column_stack([np.log10(rng.uniform(0.8, 2.8, N_STARS)), rng.uniform(1.5, 3.3, N_STARS),
                               np.log10(rng.uniform(4000, 5200, N_STARS))])
    log_luminosity = columns[:, 0] - np.log10(mass_from_luminosity_gravity(1.0, columns[:, 1], 10 ** columns[:, 2]))
    return columns, log_luminosity + rng.normal(0.0, 0.05, N_STARS)


def test_mass_from_luminosity_gravity_matches_newton_and_stefan_boltzmann():
    """Giants (M 0.8-3, R 4-40 Rsun, Teff 3800-5200 K): L from the Stefan-Boltzmann law and g = G M / R^2 with
    astropy's constants (cgs) give back M within 1e-3 relative; g in SI (m s^-2, log 2 lower) is 100x off."""
    rng = np.random.default_rng(0)
    mass, radius, teff = rng.uniform(0.8, 3.0, 50), rng.uniform(4, 40, 50), rng.uniform(3800, 5200, 50)
    gravity = const.G * mass * const.M_sun / (radius * const.R_sun) ** 2
    logg = np.log10(gravity.cgs.value)
    luminosity = _stefan_boltzmann(radius, teff)
    assert abs(SOLAR_LOGG_CGS - 4.438) < 1e-3
    assert np.max(np.abs(mass_from_luminosity_gravity(luminosity, logg, teff) / mass - 1)) < 1e-3
    in_si = mass_from_luminosity_gravity(luminosity, np.log10(gravity.si.value), teff)
    assert np.min(np.abs(in_si / mass - 1)) > 0.9


def test_linear_model_recovers_known_coefficients():
    """log10 L = a + 1 log10 M - 1 logg + 4 log10 Teff + N(0, 0.05 dex), 300 giants: every coefficient and the
    intercept within 3 bootstrap sigma of the truth; scatter within 10% of 0.05 dex; bootstrap errors within
    25% of the analytic OLS standard errors sigma sqrt(diag (X'X)^-1)."""
    columns, log_luminosity = _giant_sample()
    fit = fit_linear_model(columns, log_luminosity, n_bootstrap=1000, seed=0, names=GIANT_NAMES)
    assert fit.n == N_STARS and fit.names == GIANT_NAMES
    for name, truth in zip(GIANT_NAMES, GIANT_COEFFICIENTS):
        assert abs(fit.z(name, truth)) < 3, name
    intercept = SOLAR_LOGG_CGS - 4 * np.log10(SOLAR_TEFF_K)
    assert abs(fit.intercept - intercept) < 3 * fit.intercept_err
    assert abs(fit.scatter / 0.05 - 1) < 0.1
    design = np.column_stack([np.ones(N_STARS), columns])
    analytic = fit.scatter * np.sqrt(np.diag(np.linalg.inv(design.T @ design)))[1:]
    np.testing.assert_allclose(fit.coefficient_errors, analytic, rtol=0.25)
    assert fit.coefficient("logg")[0] == fit.coefficients[1]
    assert set(fit.as_dict()) >= {"names", "coefficients", "coefficient_errors", "scatter", "n"}


def test_linear_model_rejects_shuffled_masses():
    """The mass column shuffled between stars: its coefficient within 3 sigma of 0 and more than 10 sigma
    from 1; logg and Teff, untouched, still within 3 sigma of -1 and 4."""
    columns, log_luminosity = _giant_sample()
    columns[:, 0] = np.random.default_rng(2).permutation(columns[:, 0])
    fit = fit_linear_model(columns, log_luminosity, n_bootstrap=1000, seed=0, names=GIANT_NAMES)
    assert abs(fit.z("log10 mass", 0.0)) < 3
    assert abs(fit.z("log10 mass", 1.0)) > 10
    assert abs(fit.z("logg", -1.0)) < 3 and abs(fit.z("log10 teff", 4.0)) < 3


def test_linear_model_drops_missing_rows_and_refuses_degenerate_input():
    columns, log_luminosity = _giant_sample()
    columns[:4, 1], log_luminosity[4:6] = np.nan, np.inf
    assert fit_linear_model(columns, log_luminosity, n_bootstrap=100).n == N_STARS - 6
    single = fit_linear_model(columns[:, 0], log_luminosity, n_bootstrap=100)  # (N,) is one variable
    assert single.names == ("x0",) and len(single.coefficients) == 1
    collinear = np.column_stack([columns[:, 0], 2 * columns[:, 0] + 1])
    with pytest.raises(ValueError, match="collinear"):
        fit_linear_model(collinear, log_luminosity)
    with pytest.raises(ValueError, match="at least 5"):
        fit_linear_model(columns[:4], log_luminosity[:4])
    with pytest.raises(ValueError, match="names"):
        fit_linear_model(columns, log_luminosity, names=("a", "b"))
    with pytest.raises(ValueError, match="len"):
        fit_linear_model(columns, log_luminosity[:-1])


def test_binned_relation_of_a_step_function():
    """y = [x >= 1] + N(0, 0.1): medians 0 and 1 within 0.02, 16/84th percentiles -+0.1 within 0.02, exact
    counts; the same bins on a step moved to x = 1.5 give a second-bin median far from 1."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 2, 4000)
    noise = rng.normal(0, 0.1, x.size)
    rel = binned_relation(x, (x >= 1) + noise, [0.0, 1.0, 2.0])
    assert rel.n.tolist() == [int(np.sum(x < 1)), int(np.sum(x >= 1))]
    np.testing.assert_allclose(rel.median, [0.0, 1.0], atol=0.02)
    np.testing.assert_allclose(rel.p16, [-0.1, 0.9], atol=0.02)
    np.testing.assert_allclose(rel.p84, [0.1, 1.1], atol=0.02)
    np.testing.assert_allclose(rel.centres, [0.5, 1.5])
    shifted = binned_relation(x, (x >= 1.5) + noise, [0.0, 1.0, 2.0])
    assert abs(shifted.median[1] - 1.0) > 0.2 or abs(shifted.p16[1] - 0.9) > 0.2


def test_binned_relation_edges_and_empty_bins():
    """The last bin holds its upper edge; points outside the edges and NaNs are left out; empty bins are NaN."""
    x = [0.0, 0.5, 1.0, 3.0, 5.0, np.nan]
    rel = binned_relation(x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [0.0, 1.0, 2.0, 2.5, 3.0])
    assert rel.n.tolist() == [2, 1, 0, 1]
    assert rel.median[0] == 1.5 and rel.median[3] == 4.0 and np.isnan(rel.median[2])
    assert rel.rows()[2] == {"lo": 2.0, "hi": 2.5, "n": 0, "median": None, "p16": None, "p84": None}
    with pytest.raises(ValueError, match="increasing"):
        binned_relation([1.0], [1.0], [1.0, 0.0])


def test_rank_correlation_of_a_bivariate_normal():
    """Pearson r = 0.5 -> Spearman rho = (6 / pi) arcsin(r / 2) = 0.483 within 0.05 (n = 2000); independent
    samples: |rho| < 0.05 and p > 0.01."""
    rng = np.random.default_rng(0)
    xy = rng.multivariate_normal([0, 0], [[1, 0.5], [0.5, 1]], size=2000)
    corr = rank_correlation(xy[:, 0], xy[:, 1])
    assert corr.n == 2000
    assert abs(corr.rho - 6 / np.pi * np.arcsin(0.25)) < 0.05 and corr.pvalue < 1e-10
    independent = rank_correlation(xy[:, 0], rng.permutation(xy[:, 1]))
    assert abs(independent.rho) < 0.05 and independent.pvalue > 0.01
    assert np.isnan(rank_correlation([1.0, np.nan], [2.0, 3.0]).rho)
    x = np.linspace(0, 10, 50)
    assert rank_correlation(x, np.exp(x)).rho == pytest.approx(1.0, abs=1e-12)  # ranks, not values (Pearson 0.69)


def test_bootstrap_median_error_matches_the_normal_theory():
    """Median of 400 N(5, 1) draws: within 3 standard errors of 5; its bootstrap error within 25% of
    sqrt(pi / 2) / sqrt(n)."""
    values = np.random.default_rng(0).normal(5.0, 1.0, 400)
    median, error = bootstrap_median(values, n_bootstrap=2000)
    expected = np.sqrt(np.pi / 2) / np.sqrt(values.size)
    assert abs(median - 5.0) < 3 * expected
    assert abs(error / expected - 1) < 0.25
    assert np.isnan(bootstrap_median([np.nan])[0])


def test_agreement_measures_bias_scatter_and_rejects_a_permutation():
    """pred = ref + 0.2 + N(0, 0.05) with 5% of the stars off by +5: bias 0.2 within 0.01, mad_std 0.05
    within 15% (robust to the outliers, which inflate the standard deviation tenfold), rho above 0.8; the
    predictions permuted between stars: |rho| < 0.1."""
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 1, 2000)
    predicted = reference + 0.2 + rng.normal(0, 0.05, reference.size)
    predicted[::20] += 5.0
    out = agreement(predicted, reference)
    assert out["n"] == 2000
    assert abs(out["bias"] - 0.2) < 0.01
    assert abs(out["mad_std"] / 0.05 - 1) < 0.15
    assert np.std(predicted - reference) > 10 * 0.05
    assert out["spearman_rho"] > 0.8  # 0.88: the outliers take the top ranks
    assert abs(agreement(rng.permutation(predicted), reference)["spearman_rho"]) < 0.1
