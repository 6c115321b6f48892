"""Pseudo-coefficients: sampled XP spectra projected back onto the 2 x 55 DR3 Hermite bases (MAP).

The sampled grid lies in the span of the coefficient -> flux map, but that 343 x 110 map has rank 108
(condition ~1e15): a plain pseudo-inverse returns BP coefficients wrong by several times their population
scatter. The MAP estimate with a Gaussian prior built from real DR3 coefficient vectors
(``xp_continuous_combined_chunk0.fits``, 2,000 sources, each divided by its median sampled flux like the
library spectra) is well conditioned:

    c = (D^T W D + P^-1)^-1 (D^T W f + P^-1 mu),   W = diag(1 / flux_error^2),

with ``D`` the merged design matrix (343 x 110, BP then RP), ``f`` the normalised flux, ``mu`` and ``P``
the prior mean and covariance. Masked (NaN) samples get zero weight. The posterior covariance
``(D^T W D + P^-1)^-1`` gives the coefficient errors.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bayesxp.io.tables import read_table
from bayesxp.spectra import N_COEFFICIENTS
from bayesxp.xp.basis import design_matrix, merge_weights

__all__ = ["merged_design_matrix", "CoefficientPrior", "coefficient_prior", "project", "project_cached", "N_PSEUDO"]

N_PSEUDO = 2 * N_COEFFICIENTS


@functools.lru_cache(maxsize=1)
def merged_design_matrix() -> np.ndarray:
    """``(343, 110)``: normalised coefficients (BP 55 then RP 55) -> merged sampled flux.

    Example:
        >>> merged_design_matrix().shape
        (343, 110)
    """
    columns = [design_matrix(band).T * merge_weights(band)[:, None] for band in ("bp", "rp")]
    matrix = np.concatenate(columns, axis=1)
    matrix.setflags(write=False)
    return matrix


@dataclass(frozen=True)
class CoefficientPrior:
    """Gaussian prior over normalised coefficients.

    Attributes:
        mean: ``(110,)``.
        covariance: ``(110, 110)``.
        n_sources: How many real coefficient vectors it was built from.
    """

    mean: np.ndarray
    covariance: np.ndarray
    n_sources: int

    @property
    def precision(self) -> np.ndarray:
        """``(110, 110)`` inverse covariance."""
        return np.linalg.inv(self.covariance)


@functools.lru_cache(maxsize=4)
def coefficient_prior(path: str | None = None, shrinkage: float = 1e-6) -> CoefficientPrior:
    """The prior from real DR3 coefficient vectors, each divided by the median of its sampled flux.

    Args:
        path: A FITS/Parquet/CSV file with ``bp_coeff_0..54`` and ``rp_coeff_0..54`` (default:
            ``<data_dir>/xp_misc/xp_continuous_combined_chunk0.fits``).
        shrinkage: Added to the diagonal, relative to its mean, so the covariance is invertible.

    Returns:
        The prior.
    """
    if path is None:
        from bayesxp.paths import data_dir

        path = str(data_dir() / "xp_misc" / "xp_continuous_combined_chunk0.fits")
    table = read_table(Path(path))
    names = [f"{band}_coeff_{i}" for band in ("bp", "rp") for i in range(N_COEFFICIENTS)]
    coefficients = np.stack([np.asarray(table[n], dtype=np.float64) for n in names], axis=1)  # (M, 110)
    coefficients = coefficients[np.isfinite(coefficients).all(axis=1)]
    medflux = np.median(coefficients @ merged_design_matrix().T, axis=1)  # (M,)
    normalised = coefficients[medflux > 0] / medflux[medflux > 0, None]
    covariance = np.cov(normalised, rowvar=False)
    covariance += shrinkage * np.mean(np.diag(covariance)) * np.eye(N_PSEUDO)
    return CoefficientPrior(mean=normalised.mean(axis=0), covariance=covariance, n_sources=len(normalised))


def project_cached(flux: np.ndarray, flux_error: np.ndarray, prior: CoefficientPrior | None = None,
                   min_stars: int = 256) -> np.ndarray:
    """:func:`project`, cached on disk by a hash of the inputs and the prior (batches of at least
    ``min_stars``; smaller ones are projected directly).

    Args:
        flux: ``(N, 343)``.
        flux_error: ``(N, 343)``.
        prior: The prior (default :func:`coefficient_prior`).
        min_stars: Below this many stars the cache is not used.

    Returns:
        ``(N, 110)`` MAP pseudo-coefficients.
    """
    prior = prior or coefficient_prior()
    if len(flux) < min_stars:
        return project(flux, flux_error, prior)[0]
    from bayesxp.io.tables import atomic_path
    from bayesxp.paths import cache_dir

    flux = np.ascontiguousarray(flux, dtype=np.float32)
    flux_error = np.ascontiguousarray(flux_error, dtype=np.float32)
    digest = hashlib.sha256(flux.tobytes() + flux_error.tobytes() + prior.mean.tobytes()
                            + prior.covariance.tobytes()).hexdigest()[:20]
    path = cache_dir() / f"pseudo-coefficients-{digest}.npy"
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape == (len(flux), N_PSEUDO):
                return cached
        except (OSError, ValueError):
            pass
    coefficients, _ = project(flux, flux_error, prior)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, coefficients, allow_pickle=False)
    return coefficients


def project(
    flux: np.ndarray,
    flux_error: np.ndarray,
    prior: CoefficientPrior | None = None,
    batch_size: int = 1024,
    with_errors: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """MAP pseudo-coefficients of normalised sampled spectra.

    Args:
        flux: ``(N, 343)`` flux over medflux (NaN = masked sample).
        flux_error: ``(N, 343)`` its errors.
        prior: Coefficient prior (default :func:`coefficient_prior`).
        batch_size: Stars per batched solve (bounds memory: ~0.4 MB per star).
        with_errors: Also return the posterior standard deviations (a full inverse per star: ~10x slower).

    Returns:
        ``(coefficients, errors)``: ``(N, 110)`` each (BP 0-54 then RP 0-54), errors None unless asked;
        NaN rows for stars without any finite sample.

    Example:
        >>> prior = coefficient_prior()
        >>> flux = (merged_design_matrix() @ prior.mean)[None]
        >>> c, _ = project(flux, np.full_like(flux, 1e-3), prior)
        >>> bool(np.allclose(merged_design_matrix() @ c[0], flux[0], rtol=1e-3))
        True
    """
    prior = prior or coefficient_prior()
    design = torch.tensor(merged_design_matrix())  # (343, 110) float64
    precision = torch.tensor(prior.precision)
    prior_term = precision @ torch.tensor(prior.mean)  # (110,)
    flux = np.asarray(flux, dtype=np.float64)
    flux_error = np.asarray(flux_error, dtype=np.float64)
    n = flux.shape[0]
    out = np.full((n, N_PSEUDO), np.nan)
    err = np.full((n, N_PSEUDO), np.nan) if with_errors else None
    for start in range(0, n, batch_size):
        f = torch.tensor(flux[start : start + batch_size])
        e = torch.tensor(flux_error[start : start + batch_size])
        good = torch.isfinite(f) & torch.isfinite(e) & (e > 0)
        sqrt_weight = torch.where(good, 1.0 / torch.where(good, e, 1.0), 0.0)  # (B, 343)
        weighted = design * sqrt_weight[:, :, None]  # (B, 343, 110)
        normal = weighted.transpose(1, 2) @ weighted + precision  # (B, 110, 110)
        rhs = (weighted.transpose(1, 2) @ (sqrt_weight * torch.where(good, f, 0.0))[..., None])[..., 0]
        solution = torch.linalg.solve(normal, rhs + prior_term)  # (B, 110)
        any_good = good.any(dim=1).numpy()
        rows = np.arange(start, start + len(f))[any_good]
        out[rows] = solution.numpy()[any_good]
        if err is not None:
            variance = torch.diagonal(torch.linalg.inv(normal), dim1=1, dim2=2)
            err[rows] = np.sqrt(variance.numpy()[any_good])
    return out, err
