"""The fast :func:`~bayesxp.xp.projection.condition` (one matrix product for all stars' ``D^T W D``, Cholesky
solves) against the direct formula written out below, on the 240 real spectra of the bundled demo extract.

Agreement is judged per star relative to that star's largest value: ``|new - reference| <= 1e-9 * max|reference|``
over its 110 coefficients (and over its 110 x 110 covariance). An element-wise relative tolerance is not
meaningful here: coefficients that are near zero by cancellation differ by up to ~1e-7 of themselves while the
per-star error is ~1e-13.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bayesxp.xp.projection import (
    N_PSEUDO,
    coefficient_prior,
    condition,
    giant_prior,
    merged_design_matrix,
    project,
)

RTOL = 1e-9


def reference_condition(flux, flux_error, prior_mean, prior_precision, weight_power=2):
    """The direct formula: ``W^(1/2) D`` per star, a batched ``A^T A``, ``torch.linalg.solve`` and ``inv``.
    ``weight_power`` 2 is right (``W = 1 / e^2``); any other value is a deliberately wrong variant."""
    design = torch.tensor(merged_design_matrix())
    precision = torch.as_tensor(np.asarray(prior_precision, np.float64))
    f, e = torch.as_tensor(flux), torch.as_tensor(flux_error)
    good = torch.isfinite(f) & torch.isfinite(e) & (e > 0)
    sqrt_weight = torch.where(good, torch.where(good, e, 1.0) ** (-weight_power / 2), 0.0)
    weighted = design * sqrt_weight[:, :, None]
    normal = weighted.transpose(1, 2) @ weighted + precision
    rhs = (weighted.transpose(1, 2) @ (sqrt_weight * torch.where(good, f, 0.0))[..., None])[..., 0]
    rhs = rhs + (precision @ torch.as_tensor(np.asarray(prior_mean, np.float64))[..., None])[..., 0]
    covariance = torch.linalg.inv(normal)
    return torch.linalg.solve(normal, rhs).numpy(), (0.5 * (covariance + covariance.transpose(1, 2))).numpy()


def agree(new: np.ndarray, reference: np.ndarray, rtol: float = RTOL) -> bool:
    """Per star (first axis): every element within ``rtol`` of that star's largest absolute value."""
    axes = tuple(range(1, reference.ndim))
    scale = np.max(np.abs(reference), axis=axes, keepdims=True)
    return bool(np.all(np.abs(new - reference) <= rtol * scale))


@pytest.fixture(scope="module")
def prior(shared_data):
    return coefficient_prior(str(shared_data / "xp_misc" / "xp_continuous_combined_chunk0.fits"))


@pytest.fixture(scope="module")
def spectra() -> tuple[np.ndarray, np.ndarray]:
    """The 240 demo stars with masked samples: scattered NaN fluxes and errors in the first 60 stars, one star
    entirely NaN, and one otherwise complete star with a zero error sample (zero weight)."""
    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table

    table = read_sampled_table(demo_path())
    flux, error = table.flux.astype(np.float64), table.flux_error.astype(np.float64)
    assert flux.shape == (240, 343) and np.isfinite(flux).all() and (error > 0).all()
    rng = np.random.default_rng(1)
    flux[:60][rng.random((60, 343)) < 0.1] = np.nan
    error[:60][rng.random((60, 343)) < 0.05] = np.nan
    flux[60] = np.nan
    error[100, 50] = 0.0
    return flux, error


def test_condition_matches_direct_formula(spectra, prior):
    mean, covariance = condition(*spectra, prior.mean, prior.precision)
    reference_mean, reference_covariance = reference_condition(*spectra, prior.mean, prior.precision)
    assert mean.dtype == covariance.dtype == np.float64
    assert agree(mean, reference_mean) and agree(covariance, reference_covariance)
    assert np.array_equal(covariance, covariance.transpose(0, 2, 1))
    assert agree(mean[60:61], prior.mean[None])  # no data: the prior mean
    alone, none = condition(*spectra, prior.mean, prior.precision, with_covariance=False)
    assert none is None and np.array_equal(alone, mean)


def test_zero_error_sample_has_no_weight(spectra, prior):
    flux, error = (a[100:101].copy() for a in spectra)
    before, _ = condition(flux, error, prior.mean, prior.precision)
    flux[0, 50] = 1e6  # the zero-error sample: ignored, whatever its flux
    after, _ = condition(flux, error, prior.mean, prior.precision)
    assert np.array_equal(before, after)


def test_comparison_rejects_wrong_variants(spectra, prior):
    mean, covariance = condition(*spectra, prior.mean, prior.precision)
    wrong_mean, wrong_covariance = reference_condition(*spectra, prior.mean, prior.precision, weight_power=1)
    assert not agree(mean, wrong_mean) and not agree(covariance, wrong_covariance)
    flux = spectra[0].copy()
    flux[200, 170] *= 1 + 1e-5  # one sample of one star
    changed, _ = reference_condition(flux, spectra[1], prior.mean, prior.precision)
    assert not agree(mean, changed) and agree(np.delete(mean, 200, 0), np.delete(changed, 200, 0))


def test_per_star_priors_match_direct_formula(spectra):
    """Per-star prior means and precisions, as in inpainting: alternately the giant prior and a variant. The
    giant prior's precision has condition number ~1e8, so any two solves of the all-NaN star (the prior alone)
    agree only to ~1e8 x 2e-16 relative (measured 1.1e-9 on 2 threads): tolerance 1e-7 here."""
    giant = giant_prior()
    means = np.stack([giant.mean, giant.mean * 1.1] * 120)
    precisions = np.stack([giant.precision, 2 * giant.precision] * 120)
    mean, covariance = condition(*spectra, means, precisions)
    reference_mean, reference_covariance = reference_condition(*spectra, means, precisions)
    assert agree(mean, reference_mean, 1e-7) and agree(covariance, reference_covariance, 1e-7)
    wrong_mean, _ = reference_condition(*spectra, means, precisions, weight_power=1)
    assert not agree(mean, wrong_mean, 1e-7)


def test_indefinite_normal_matrix_falls_back_to_a_general_solve(spectra, prior):
    """A precision that makes some normal matrices indefinite (Cholesky fails): those stars take the
    ``torch.linalg.solve`` / ``inv`` path and still match the direct formula."""
    flux, error = (a[:20] for a in spectra)
    precision = prior.precision - 1e3 * np.trace(prior.precision) / N_PSEUDO * np.eye(N_PSEUDO)
    mean, covariance = condition(flux, error, prior.mean, precision)
    reference_mean, reference_covariance = reference_condition(flux, error, prior.mean, precision)
    assert agree(mean, reference_mean) and agree(covariance, reference_covariance)


def test_project_matches_direct_formula(spectra, prior):
    coefficients, errors = project(*spectra, prior, batch_size=100, with_errors=True)
    reference_mean, reference_covariance = reference_condition(*spectra, prior.mean, prior.precision)
    seen = np.ones(len(coefficients), bool)
    seen[60] = False  # the all-NaN star: NaN rows
    assert np.isnan(coefficients[60]).all() and np.isnan(errors[60]).all()
    assert agree(coefficients[seen], reference_mean[seen])
    reference_errors = np.sqrt(np.diagonal(reference_covariance, axis1=1, axis2=2))
    assert agree(errors[seen], reference_errors[seen])
