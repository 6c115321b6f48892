"""MAP pseudo-coefficients of sampled XP spectra: known answers on the prior mean and on real library spectra.

Coefficient differences are measured in units of the prior standard deviation of each coefficient (the
population scatter of real DR3 sources), flux residuals in units of the flux error.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.spectra import N_SAMPLES, WAVELENGTH_NM
from bayesxp.xp.projection import N_PSEUDO, coefficient_prior, merged_design_matrix, project

BP, RP = slice(0, 55), slice(55, 110)


@pytest.fixture(scope="module")
def prior(shared_data):
    return coefficient_prior(str(shared_data / "xp_misc" / "xp_continuous_combined_chunk0.fits"))


@pytest.fixture(scope="module")
def prior_std(prior) -> np.ndarray:
    return np.sqrt(np.diag(prior.covariance))


@pytest.fixture(scope="module")
def real_spectra() -> tuple[np.ndarray, np.ndarray]:
    """200 real library spectra (flux / medflux and its error): the first rows of the bundled demo extract,
    which copies library rows verbatim (checked in test_spectra_library) and reads in milliseconds."""
    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table

    spectra = read_sampled_table(demo_path()).take(np.arange(200))
    return spectra.flux.astype(np.float64), spectra.flux_error.astype(np.float64)


@pytest.fixture(scope="module")
def real_map(real_spectra, prior):
    return project(*real_spectra, prior)[0]


def test_design_matrix_matches_the_reference_table(shared_data):
    design = merged_design_matrix()
    assert design.shape == (N_SAMPLES, N_PSEUDO) == (343, 110)
    reference = np.load(shared_data / "reference" / "xp_design_matrix_336_1020_2nm.npy")
    assert np.max(np.abs(design - reference)) < 1e-12 * np.max(np.abs(reference))
    with pytest.raises(ValueError):
        design[0, 0] = 1.0  # shared and read-only
    assert np.all(design[WAVELENGTH_NM > 643, BP] == 0) and np.all(design[WAVELENGTH_NM < 635, RP] == 0)


def test_prior_built_from_real_sources(prior):
    assert prior.n_sources > 1900  # of the 2,000 in the file
    assert prior.mean.shape == (N_PSEUDO,) and prior.covariance.shape == (N_PSEUDO, N_PSEUDO)
    assert np.allclose(prior.covariance, prior.covariance.T)
    assert np.all(np.linalg.eigvalsh(prior.covariance) > 0)
    median_flux = np.median(merged_design_matrix() @ prior.mean)
    assert median_flux == pytest.approx(1.0, abs=0.1)  # sources were normalised by their median flux


def test_prior_mean_spectrum_gives_back_the_prior_mean(prior, prior_std):
    flux = (merged_design_matrix() @ prior.mean)[None]  # (1, 343)
    error = np.full_like(flux, 1e-3)
    coefficients, _ = project(flux, error, prior)
    assert np.max(np.abs(coefficients[0] - prior.mean) / prior_std) < 1e-6
    assert np.max(np.abs(merged_design_matrix() @ coefficients[0] - flux[0]) / error[0]) < 1e-3
    # a different spectrum (10 % brighter in the red) is not mistaken for it
    other, _ = project(flux * np.where(WAVELENGTH_NM > 700, 1.1, 1.0), error, prior)
    assert np.max(np.abs(other[0] - prior.mean) / prior_std) > 1e-2


def test_real_spectra_are_reproduced(real_spectra, real_map):
    flux, error = real_spectra
    residual = np.abs(real_map @ merged_design_matrix().T - flux) / error
    assert np.median(residual) < 0.05  # measured 0.025 on these 200 rows (0.010 on the library's first 200)
    assert np.median(np.median(residual, axis=1) < 0.5) > 0.9


def test_pseudo_inverse_is_far_from_map(real_spectra, real_map, prior, prior_std):
    """The wrong method: pinv also fits the flux, but its BP high orders are absurd (rank 108 of 110)."""
    flux, error = real_spectra
    design = merged_design_matrix()
    pinv = flux @ np.linalg.pinv(design).T  # (200, 110)
    assert np.median(np.abs(pinv @ design.T - flux) / error) < 0.05  # flux alone cannot tell them apart
    distance = np.abs(pinv[:, 40:55] - real_map[:, 40:55]) / prior_std[40:55]
    assert np.median(distance) > 100.0  # measured ~2e7
    # plausibility: MAP coefficients sit within the population (median |c - mu| / sigma < 1; measured 0.11
    # for BP 40-54), the pseudo-inverse ones fail the same check
    assert np.median(np.abs(real_map[:, 40:55] - prior.mean[40:55]) / prior_std[40:55]) < 1.0
    assert np.median(np.abs(pinv[:, 40:55] - prior.mean[40:55]) / prior_std[40:55]) > 1.0


def test_nan_samples_are_ignored(real_spectra, real_map, prior, prior_std, rng):
    flux, error = real_spectra
    masked = rng.random(flux.shape) < 0.2
    holey = np.where(masked, np.nan, flux)
    coefficients, _ = project(holey, error, prior)
    change = np.abs(coefficients - real_map) / prior_std
    assert np.median(change) < 0.02  # measured 0.005
    predicted = (coefficients @ merged_design_matrix().T)[masked]
    assert np.median(np.abs(predicted - flux[masked]) / error[masked]) < 0.1  # holes filled (measured 0.044)
    # the wrong treatment (masked samples as zero flux) fails the same check (measured 2.4)
    zeroed, _ = project(np.where(masked, 0.0, flux), error, prior)
    assert np.median(np.abs(zeroed - real_map) / prior_std) > 0.02


@pytest.mark.parametrize(("masked_band", "cut"), [("bp", WAVELENGTH_NM < 635), ("rp", WAVELENGTH_NM > 643)])
def test_masking_one_band_changes_little_in_the_other(real_spectra, real_map, prior, prior_std, masked_band, cut):
    flux, error = real_spectra
    coefficients, _ = project(np.where(cut[None], np.nan, flux), error, prior)
    kept, lost = (RP, BP) if masked_band == "bp" else (BP, RP)
    kept_change = np.median(np.abs(coefficients[:, kept] - real_map[:, kept]) / prior_std[kept])
    lost_change = np.median(np.abs(coefficients[:, lost] - real_map[:, lost]) / prior_std[lost])
    assert kept_change < 0.15  # measured 0.071 (BP masked) and 0.064 (RP masked)
    assert lost_change > 2 * kept_change  # the masked band is the one that moved (measured 0.27 and 0.22)
    visible = ~cut
    residual = np.abs(coefficients @ merged_design_matrix().T - flux)[:, visible] / error[:, visible]
    assert np.median(residual) < 0.05


def test_rows_without_samples_and_batching(real_spectra, real_map, prior, prior_std):
    flux, error = real_spectra
    flux = flux[:9].copy()
    flux[4] = np.nan
    coefficients, errors = project(flux, error[:9], prior, batch_size=4, with_errors=True)
    assert np.isnan(coefficients[4]).all() and np.isnan(errors[4]).all()
    others = np.arange(9) != 4
    # batches of 4 instead of 1024 and a NaN neighbour: the same solution to round-off
    assert np.max(np.abs(coefficients[others] - real_map[:9][others]) / prior_std) < 1e-8


def test_posterior_errors_are_tighter_than_the_prior(real_spectra, prior, prior_std):
    flux, error = real_spectra
    _, errors = project(flux[:20], error[:20], prior, with_errors=True)
    assert np.isfinite(errors).all() and (errors > 0).all()
    assert (errors < prior_std * 1.0001).all()
    # the low orders carry the signal: they are pinned far better than the prior allows
    assert np.median(errors[:, :5] / prior_std[:5]) < 0.05
    assert project(flux[:2], error[:2], prior)[1] is None  # errors only when asked
