"""Features of the XGBoost baseline: the literature recipe of Leung & Bovy (2024).

Per star, 63 columns (:data:`FEATURE_NAMES`):

- ``bp0 ... bp29`` and ``rp0 ... rp29``: the first 30 BP and 30 RP XP pseudo-coefficients, the MAP
  projection of the sampled spectrum onto the DR3 Hermite bases (:func:`bayesxp.xp.projection.project`),
  normalised by the spectrum's median flux (Leung & Bovy divide by the G-band flux instead; trees are
  invariant to a per-column scale, and the two normalisations differ only by a smooth colour term);
- ``j_h``, ``j_k``, ``bp_rp``: 2MASS J-H, J-K and Gaia BP-RP colours from the TrainingSet labels (or from
  the photometry columns of spectra).

Missing values stay NaN: XGBoost learns a default branch for them. The projection (~1.8 ms per star) is
cached by :func:`bayesxp.xp.projection.project_cached`, keyed by a hash of the flux and flux-error bytes
and the projection's prior, so reruns load in a fraction of a second.
"""

from __future__ import annotations

import numpy as np

from bayesxp.data.dataset import TrainingSet
from bayesxp.quantities import LABELS
from bayesxp.spectra import SampledSpectra
from bayesxp.xp.basis import N_COEFFICIENTS
from bayesxp.xp.inputs import photometry_labels

__all__ = [
    "N_COEFFICIENTS_USED",
    "COLOUR_NAMES",
    "FEATURE_NAMES",
    "pseudo_coefficients",
    "features_from_arrays",
    "xp_features",
]

N_COEFFICIENTS_USED = 30
"""Leading pseudo-coefficients kept per band (Leung & Bovy's XGBoost baseline)."""

COLOUR_NAMES = ("j_h", "j_k", "bp_rp")
"""Colour features, named as the TrainingSet labels they come from."""

FEATURE_NAMES = tuple(
    [f"bp{i}" for i in range(N_COEFFICIENTS_USED)]
    + [f"rp{i}" for i in range(N_COEFFICIENTS_USED)]
    + list(COLOUR_NAMES)
)
"""The 63 feature columns, in order."""

def pseudo_coefficients(flux: np.ndarray, flux_error: np.ndarray, cache: bool = True) -> np.ndarray:
    """MAP pseudo-coefficients of sampled spectra (:func:`bayesxp.xp.projection.project_cached` when cached).

    Args:
        flux: ``(N, 343)`` flux over median flux.
        flux_error: ``(N, 343)`` its errors.
        cache: Use the on-disk cache (False: always project, write nothing; for timing).

    Returns:
        ``(N, 110)`` float64 coefficients, BP 0-54 then RP 0-54 (NaN rows for stars without flux).

    Example:
        >>> from bayesxp.xp.projection import coefficient_prior, merged_design_matrix
        >>> flux = (merged_design_matrix() @ coefficient_prior().mean)[None]
        >>> pseudo_coefficients(flux, np.full_like(flux, 1e-3), cache=False).shape
        (1, 110)
    """
    from bayesxp.xp.projection import project, project_cached

    return project_cached(flux, flux_error) if cache else project(flux, flux_error)[0]


def features_from_arrays(coefficients: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Assemble the feature matrix from projected coefficients and colours.

    Args:
        coefficients: ``(N, 110)`` pseudo-coefficients, BP 0-54 then RP 0-54.
        colours: ``(N, 3)`` J-H, J-K, BP-RP (NaN allowed).

    Returns:
        ``(N, 63)`` float32 features in the order of :data:`FEATURE_NAMES`.

    Example:
        >>> features_from_arrays(np.zeros((2, 110)), np.full((2, 3), np.nan)).shape
        (2, 63)
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    colours = np.asarray(colours, dtype=np.float64)
    if coefficients.ndim != 2 or coefficients.shape[1] != 2 * N_COEFFICIENTS:
        raise ValueError(f"coefficients must have shape (N, 110), got {coefficients.shape}")
    if colours.shape != (len(coefficients), len(COLOUR_NAMES)):
        raise ValueError(f"colours must have shape ({len(coefficients)}, 3), got {colours.shape}")
    bp = coefficients[:, :N_COEFFICIENTS_USED]  # (N, 30)
    rp = coefficients[:, N_COEFFICIENTS : N_COEFFICIENTS + N_COEFFICIENTS_USED]  # (N, 30)
    return np.concatenate([bp, rp, colours], axis=1).astype(np.float32)  # (N, 63)


def xp_features(stars: TrainingSet | SampledSpectra, cache: bool = True) -> np.ndarray:
    """The baseline's features of every star of a TrainingSet or of spectra (same rows, same order).

    Args:
        stars: The stars (any selection or split; used as given); spectra read their colours from ``meta``
            (:func:`~bayesxp.xp.inputs.photometry_labels`).
        cache: Read and write the projection cache.

    Returns:
        ``(N, 63)`` float32 features, columns :data:`FEATURE_NAMES`; NaN where a value is missing.

    Example:
        >>> stars = TrainingSet.synthetic(3)
        >>> xp_features(stars, cache=False).shape
        (3, 63)
    """
    coefficients = pseudo_coefficients(stars.flux, stars.flux_error, cache=cache)
    if hasattr(stars, "label"):  # a TrainingSet
        colours = np.stack([stars.label(name)[0] for name in COLOUR_NAMES], axis=1)  # (N, 3)
    else:  # SampledSpectra: the photometry its meta carries (library or Gaia archive columns)
        colours = photometry_labels(stars.meta)[:, [LABELS.index(name) for name in COLOUR_NAMES]]
    return features_from_arrays(coefficients, colours)
