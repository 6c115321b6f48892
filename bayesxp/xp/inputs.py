"""What a user may hand the model, turned into :class:`~bayesxp.spectra.SampledSpectra` and photometric labels.

- :func:`as_spectra`: a flux array (with its errors), an astropy Table, a pandas DataFrame, a file path, or
  spectra already read, as :class:`~bayesxp.spectra.SampledSpectra`.
- :func:`photometry_labels`: the colours and extinction an input's columns carry (library or Gaia archive
  names), as the model's label matrix ``(N, len(LABELS))``, NaN where unknown.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from astropy.table import Table

from bayesxp.errors import BayesXPError
from bayesxp.quantities import LABELS
from bayesxp.spectra import SampledSpectra
from bayesxp.xp.read import read_spectra, spectra_from_table

__all__ = ["as_spectra", "photometry_labels"]


def photometry_labels(meta: pd.DataFrame) -> np.ndarray:
    """The label matrix holding only the photometry a file may carry (every other label NaN).

    Understands the library's columns (``j, h, k, gaiaedr3_phot_{bp,rp}_mean_mag, ak_targ``) and the Gaia
    archive's (``phot_bp_mean_mag``, ``phot_rp_mean_mag``, ``bp_rp``).

    Args:
        meta: Per-star columns, ``N`` rows.

    Returns:
        ``(N, len(LABELS))`` float32 labels in :data:`~bayesxp.quantities.LABELS` order.

    Example:
        >>> meta = pd.DataFrame({"phot_bp_mean_mag": [12.5], "phot_rp_mean_mag": [11.25]})
        >>> labels = photometry_labels(meta)
        >>> labels.shape, float(labels[0, LABELS.index("bp_rp")])
        ((1, 10), 1.25)
    """
    n = len(meta)
    out = np.full((n, len(LABELS)), np.nan, np.float32)

    def column(*names: str) -> np.ndarray:
        for name in names:
            if name in meta:
                return pd.to_numeric(meta[name], errors="coerce").to_numpy(np.float64)
        return np.full(n, np.nan)

    bp_rp = column("bp_rp")
    derived = (column("gaiaedr3_phot_bp_mean_mag", "phot_bp_mean_mag")
               - column("gaiaedr3_phot_rp_mean_mag", "phot_rp_mean_mag"))
    out[:, LABELS.index("bp_rp")] = np.where(np.isfinite(bp_rp), bp_rp, derived)
    out[:, LABELS.index("j_h")] = column("j", "j_m") - column("h", "h_m")
    out[:, LABELS.index("j_k")] = column("j", "j_m") - column("k", "ks_m", "k_m")
    ak = column("ak_targ")
    out[:, LABELS.index("ak_targ")] = np.where(np.abs(ak) < 5, ak, np.nan)
    return out


def as_spectra(x: object, flux_error: np.ndarray | None = None) -> SampledSpectra:
    """Turn any supported input into :class:`SampledSpectra`.

    Args:
        x: SampledSpectra; a path (any file :func:`bayesxp.xp.read.read_spectra` reads); an astropy Table
            or pandas DataFrame in a supported layout; or a flux array ``(N, 343)`` (or ``(343,)``) with
            ``flux_error``.
        flux_error: Errors when ``x`` is a flux array, same shape.

    Returns:
        The spectra.

    Raises:
        BayesXPError: A flux array without ``flux_error``.

    Example:
        >>> flux = np.ones((2, 343))
        >>> spectra = as_spectra(flux, flux_error=0.01 * flux)
        >>> len(spectra), spectra.flux.shape
        (2, (2, 343))
    """
    if isinstance(x, SampledSpectra):
        return x
    if isinstance(x, str | os.PathLike):
        return read_spectra(x)
    if isinstance(x, pd.DataFrame):
        return spectra_from_table(Table.from_pandas(x), "<DataFrame>")
    if isinstance(x, Table):
        return spectra_from_table(x, "<Table>")
    flux = np.asarray(x, dtype=np.float64)
    if flux.ndim == 1:
        flux = flux[None]  # (343,) -> (1, 343)
    if flux_error is None:
        raise BayesXPError("flux_error is needed with a flux array")
    flux_error = np.asarray(flux_error, dtype=np.float64).reshape(flux.shape)
    table = Table({"flux": flux, "flux_error": flux_error, "medflux": np.ones(len(flux))})
    return spectra_from_table(table, "<array>")
