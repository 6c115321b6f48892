"""Read and write tables by file suffix, with errors that name the file and column.

Every writer goes through a temporary file in the target folder and an atomic rename, so a crash never
leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from bayesxp.errors import BayesXPError, InputFileError
from bayesxp.io.columns import INTEGER_TEXT, MISSING_TEXT

__all__ = [
    "table_format",
    "read_table",
    "write_table",
    "join_parquet_parts",
    "join_parts",
    "parquet_column",
    "atomic_path",
    "require_columns",
    "require_input_file",
    "fits_table_hdu",
    "os_error_reason",
    "current_umask",
    "parse_source_ids",
    "SUPPORTED_SUFFIXES",
    "ID_COLUMNS",
]

_FORMATS = {
    ".csv": "ascii.csv",
    ".ecsv": "ascii.ecsv",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".fit.gz": "fits",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
}
SUPPORTED_SUFFIXES = tuple(_FORMATS)
#: Columns holding Gaia source ids (int64 that a float64 would round): read exactly, parsed row by row.
ID_COLUMNS = ("source_id", "gaiaedr3_source_id", "gaiadr3_source_id")


def table_format(path: str | os.PathLike) -> str:
    """The astropy ``format`` name for a path, from its suffix.

    Args:
        path: A file name such as ``out.parquet`` or ``spectra.fits.gz``.

    Returns:
        The astropy unified-I/O format name.

    Raises:
        InputFileError: If the suffix is not one bayesxp reads or writes.

    Example:
        >>> table_format("stars.fits.gz")
        'fits'
    """
    name = Path(path).name.lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return _FORMATS[suffix]
    raise InputFileError(path, f"unknown table suffix; use one of {', '.join(SUPPORTED_SUFFIXES)}")


def fits_table_hdu(hdul: object, path: Path) -> object:
    """The first table HDU of an open FITS file, checked from its headers and the file's length: refused
    (naming the file) without a table, without rows, or cut short (naming the complete rows it holds).

    Args:
        hdul: ``astropy.io.fits.open(path, memmap=True)``.
        path: The file, for the messages.

    Returns:
        The HDU.

    Raises:
        InputFileError: No table, no rows, or a truncated file.
    """
    from astropy.io import fits
    from astropy.utils.exceptions import AstropyUserWarning

    try:
        with warnings.catch_warnings():  # a cut file warns here; it is refused below, naming the row
            warnings.filterwarnings("ignore", "File may have been truncated", AstropyUserWarning)
            hdus = list(hdul)  # every header (not the data), as a whole read reads them
    except Exception as exc:  # noqa: BLE001 - a cut or corrupt header
        raise InputFileError(path, f"cannot be read as fits ({_one_line(exc)})") from exc
    kinds = fits.BinTableHDU | fits.TableHDU | fits.GroupsHDU
    tables = [i for i, hdu in enumerate(hdus) if isinstance(hdu, kinds)]
    if not tables:
        raise InputFileError(path, f"cannot be read as fits ({_one_line(ValueError('No table found'))})")
    if len(tables) > 1:
        warnings.warn(f"hdu= was not specified but multiple tables are present, reading in first available "
                      f"table (hdu={tables[0]})", AstropyUserWarning, stacklevel=2)
    hdu = hdus[tables[0]]
    n_rows, row_bytes = hdu.header.get("NAXIS2", 0), hdu.header.get("NAXIS1", 0)
    if n_rows == 0:
        raise InputFileError(path, "table has no rows")
    start = hdu.fileinfo()["datLoc"]
    end, size = start + hdu.size, path.stat().st_size
    if size < end:
        complete = min(max(size - start, 0) // max(row_bytes, 1), n_rows)
        raise InputFileError(path, f"cannot be read as fits (file is truncated: it holds {complete} complete "
                             f"rows of the {n_rows} its header declares: {size} of {end} bytes)")
    return hdu


def read_table(path: str | os.PathLike, hdu: int | str | None = None) -> Table:
    """Read a table file into an astropy Table, refusing empty, truncated and corrupt files clearly.

    Args:
        path: CSV, ECSV, FITS (optionally gzipped), Parquet or HDF5 file.
        hdu: FITS extension to read (default: the first table).

    Returns:
        The table (at least one row).

    Raises:
        InputFileError: Missing, empty, unreadable or zero-row file, naming the file.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = p.write_text("source_id,x\\n1,2.5\\n")
        >>> float(read_table(p)["x"][0])
        2.5
    """
    path = Path(path)
    fmt = table_format(path)
    require_input_file(path)
    kwargs: dict = {"format": fmt}
    if fmt == "fits" and hdu is not None:
        kwargs["hdu"] = hdu
    if fmt == "hdf5":
        kwargs["path"] = hdu if isinstance(hdu, str) else None
        if kwargs["path"] is None:
            kwargs.pop("path")
    check_text_complete(path)
    if fmt == "fits" and hdu is None and path.suffix.lower() != ".gz":  # a cut file: name the rows it holds
        from astropy.io import fits

        try:
            with fits.open(path, memmap=True) as hdul:
                fits_table_hdu(hdul, path)
        except InputFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - astropy raises many types for corrupt files
            raise InputFileError(path, f"cannot be read as fits ({_one_line(exc)})") from exc
    try:
        table = Table.read(path, **kwargs)
    except InputFileError:
        raise
    except Exception as exc:  # pyarrow, h5py and astropy raise many (private) types for corrupt files
        raise InputFileError(path, f"cannot be read as {fmt} ({_one_line(exc)})") from exc
    if len(table) == 0:
        raise InputFileError(path, "table has no rows")
    if fmt == "ascii.csv":
        _exact_id_columns(table, path)
    return table


def require_input_file(path: str | os.PathLike) -> None:
    """Refuse a path that is missing, a folder, or an empty file, naming it.

    Args:
        path: The input file.

    Raises:
        InputFileError: ``file does not exist``, ``is a folder, not a file`` or ``file is empty``.

    Example:
        >>> import tempfile
        >>> require_input_file(tempfile.mkdtemp())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        bayesxp.errors.InputFileError: ...: is a folder, not a file
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "file does not exist")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (astropy and pyarrow messages span lines), at most ``limit`` characters."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_text_complete(path: str | os.PathLike) -> None:
    """Refuse a CSV/ECSV file cut off in its last row (astropy reads such a file short or pads it silently).

    Two signs of a cut: an odd number of double quotes (the cut fell inside a quoted array), or, in a CSV
    file that does not end with a line break, a last line with fewer fields than the header.

    Args:
        path: The file; other formats are not checked.

    Raises:
        InputFileError: If the file is truncated.
    """
    path = Path(path)
    try:
        fmt = table_format(path)
    except InputFileError:
        return
    if fmt not in ("ascii.csv", "ascii.ecsv") or not path.is_file():
        return
    quotes = 0
    tail = b""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not text (a cut multi-byte character at the end is)
                return  # binary junk: the reader's own error says it cannot be read
        if b"\x00" in head:
            return
        handle.seek(0)
        first = handle.readline()
        handle.seek(0)
        while block := handle.read(1 << 24):
            quotes += block.count(b'"')
            tail = (tail + block)[-(1 << 22) :]
    if quotes % 2:
        raise InputFileError(path, "file is truncated: a quoted field is not closed (the last row is cut off)")
    if fmt != "ascii.csv" or not tail or tail.endswith((b"\n", b"\r")) or b"\n" not in tail:
        return
    last = tail.rsplit(b"\n", 1)[1].decode("utf-8", errors="replace")
    header = first.decode("utf-8", errors="replace")
    n_header = len(next(csv.reader([header]), []))
    n_last = len(next(csv.reader([last]), []))
    if n_last < n_header:
        raise InputFileError(path, f"file is truncated: its last line has {n_last} of the header's {n_header} "
                             "fields and no line break")


def _exact_id_columns(table: Table, path: Path) -> None:
    """Id columns that CSV type guessing made float64 (one non-integer cell) are read again as text."""
    floats = [c for c in ID_COLUMNS if c in table.colnames and table[c].dtype.kind == "f"]
    if not floats:
        return
    import pandas as pd

    try:
        text = pd.read_csv(path, usecols=floats, dtype=str, keep_default_na=False)
    except Exception:  # noqa: BLE001 - keep astropy's reading; parse_source_ids will refuse lost digits
        return
    if len(text) == len(table):
        for column in floats:
            table.replace_column(column, np.asarray(text[column].to_numpy(), dtype=str))


def _is_big_float(text: object) -> bool:
    try:
        return abs(float(str(text))) > 2**53
    except ValueError:
        return False


def parse_source_ids(column: object, path: str | os.PathLike = "<table>", name: str = "source_id"
                     ) -> tuple[np.ndarray, dict[int, str]]:
    """Gaia source ids as int64, row by row, with why a row's id is unusable.

    Integer columns are taken as they are; text is parsed per row (``"123"``, ``" +123 "``); an empty,
    masked or null cell is a missing id; anything else (a word, ``"1,2"``, a float, a number beyond int64)
    is refused for that row alone. A row without a usable id gets 0 and a reason starting with
    ``"missing source_id"`` (such a star is still predicted; see :attr:`SampledSpectra.usable`).

    Args:
        column: The id column (array, masked array or list).
        path: The file, for the error.
        name: The column's name, for the error.

    Returns:
        ``(ids (N,) int64, {row: reason})``.

    Raises:
        InputFileError: A float column with values beyond 2**53 (its last digits are already lost), or a
            column of another type (e.g. bool).

    Example:
        >>> ids, problems = parse_source_ids(np.array(["12", " 7 ", "x"]))
        >>> ids.tolist(), problems
        ([12, 7, 0], {2: "missing source_id ('x' is not an integer)"})
    """
    values = np.ma.asarray(column)
    mask = np.ma.getmaskarray(values).ravel()
    data = np.ma.getdata(values).ravel()
    n = len(data)
    ids = np.zeros(n, dtype=np.int64)
    problems: dict[int, str] = {}
    kind = data.dtype.kind
    if kind in "iu":
        ids = np.where(mask, 0, data.astype(np.int64))
        problems = {int(i): "missing source_id" for i in np.flatnonzero(mask)}
    elif kind == "f":
        finite = np.isfinite(data) & ~mask
        if np.any(np.abs(data[finite]) > 2**53):
            raise InputFileError(path, "source ids are stored as floating-point numbers, which lose their last "
                                 "digits; write them as integers", column=name)
        integral = finite & (data == np.round(data))
        ids[integral] = data[integral].astype(np.int64)
        for i in np.flatnonzero(~integral):
            problems[int(i)] = ("missing source_id" if not finite[i]
                                else f"missing source_id ({float(data[i])!r} is not an integer)")
    elif kind in "SUO":
        n_float = n_given = 0
        for i, cell in enumerate(data):
            text = cell.decode("utf-8", errors="replace") if isinstance(cell, bytes) else cell
            if mask[i] or text is None or (isinstance(text, float) and np.isnan(text)):
                problems[i] = "missing source_id"
                continue
            if isinstance(text, int | np.integer):
                value = int(text)
            else:
                text = str(text).strip()
                if text.lower() in MISSING_TEXT:
                    problems[i] = "missing source_id"
                    continue
                value = int(text) if INTEGER_TEXT.fullmatch(text) else None
            n_given += 1
            if value is None and _is_big_float(text):
                n_float += 1
            if value is None or not -(2**63) <= value < 2**63:
                problems[i] = f"missing source_id ({str(cell)[:40]!r} is not an integer)"
                continue
            ids[i] = value
        if n_given and n_float == n_given:
            raise InputFileError(path, "source ids are stored as floating-point numbers, which lose their last "
                                 "digits; write them as integers", column=name)
    else:
        raise InputFileError(path, f"source ids must be integers, not {data.dtype}", column=name)
    return ids, problems


def require_columns(table: Table, columns: Sequence[str], path: str | os.PathLike) -> None:
    """Raise naming the first missing column.

    Args:
        table: The table read from ``path``.
        columns: Column names that must be present.
        path: The file the table came from, for the message.

    Raises:
        InputFileError: If a column is missing.

    Example:
        >>> require_columns(Table({"a": [1]}), ["a"], "x.csv")
    """
    for column in columns:
        if column not in table.colnames:
            raise InputFileError(path, f"required column is missing (have: {', '.join(table.colnames)})",
                                 column=column)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path`` atomically.

    The file gets the mode of any file the user creates (``0o666`` less the umask), not ``mkstemp``'s 0600.
    On any exception the temporary file is removed and ``path`` is left as it was. Full-disk and
    permission errors of the writer, and any error of the final flush and rename (a full disk, a target
    that is a folder), are re-raised as one-line :class:`~bayesxp.errors.BayesXPError` naming the target.

    Args:
        path: The final file.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        # mkstemp creates 0600; the output must be readable like any file the user writes (umask honoured)
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
    except PermissionError as exc:
        raise BayesXPError(f"cannot write {path}: permission denied on {folder}") from exc
    except OSError as exc:
        raise BayesXPError(f"cannot write {path}: {os_error_reason(exc)}") from exc
    tmp = Path(tmp_name)
    # end with the target's own suffixes, so that writers choosing a format (or gzip) by name still work
    tmp_named = tmp.with_name(tmp.name + "".join(path.suffixes[-2:]))
    try:
        tmp.rename(tmp_named)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise BayesXPError(f"cannot write {path}: {os_error_reason(exc)}") from exc
    try:
        yield tmp_named
    except OSError as exc:  # raised by the caller's writer
        tmp_named.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC or isinstance(exc, PermissionError):
            raise BayesXPError(f"cannot write {path}: {os_error_reason(exc)}") from exc
        raise
    except BaseException:
        tmp_named.unlink(missing_ok=True)
        raise
    try:  # our own steps: any failure here is the target's, reported as one clear error
        with open(tmp_named, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_named, path)
    except BaseException as exc:
        tmp_named.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise BayesXPError(f"cannot write {path}: {os_error_reason(exc)}") from exc
        raise


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where the OS allows).

    Example:
        >>> 0 <= current_umask() <= 0o777
        True
    """
    try:  # Linux: read it, no race with other threads creating files
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def os_error_reason(exc: OSError) -> str:
    """A short lower-case reason for an OS error (full disk, permissions, folder) for one-line messages.

    Example:
        >>> os_error_reason(OSError(errno.ENOSPC, "No space left on device"))
        'no space left on device'
    """
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    return (exc.strerror or str(exc)).lower()


def write_table(table: Table, path: str | os.PathLike) -> Path:
    """Write a table in the format its suffix names, atomically.

    Args:
        table: The table to write. Units and descriptions are kept where the format can.
        path: Output file (``.csv``, ``.ecsv``, ``.fits``, ``.parquet``, ``.h5``).

    Returns:
        The path written.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
        >>> _ = write_table(Table({"a": [1, 2]}), out)
        >>> len(read_table(out))
        2
    """
    path = Path(path)
    fmt = table_format(path)
    kwargs: dict = {"format": fmt, "overwrite": True}
    if fmt == "hdf5":
        kwargs.update(path="data", serialize_meta=True)
    if fmt == "parquet":
        table = _parquet_safe(table)
    with atomic_path(path) as tmp:
        table.write(tmp, **kwargs)
    return path


def _parquet_safe(table: Table) -> Table:
    """Parquet refuses some astropy metadata; keep columns and units, drop the rest."""
    out = Table()
    for name in table.colnames:
        column = table[name]
        out[name] = np.asarray(column)
        if getattr(column, "unit", None) is not None:
            out[name].unit = column.unit
    out.meta = {k: v for k, v in table.meta.items() if isinstance(v, str | int | float | bool)}
    return out


def join_parquet_parts(parts: Sequence[str | os.PathLike], template: Table, output: str | os.PathLike) -> int:
    """Concatenate Parquet parts into one Parquet file, one part in memory at a time, atomically.

    The output has the columns, units and ``meta`` of ``template`` (a table with the final columns; its rows
    are ignored) and the parts' rows in order, exactly what ``write_table(vstack(parts), output)`` writes
    for a Parquet output, without holding every row: a catalogue-scale join stays at the size of one part.

    Args:
        parts: Parquet files with the template's columns (written by :func:`write_table`).
        template: Columns, units and metadata of the output.
        output: The ``.parquet`` file to write.

    Returns:
        The number of rows written.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> parts = [write_table(Table({"a": [1.0, 2.0]}), folder / "p0.parquet"),
        ...          write_table(Table({"a": [3.0]}), folder / "p1.parquet")]
        >>> template = Table({"a": np.zeros(0)}, meta={"note": "joined"})
        >>> join_parquet_parts(parts, template, folder / "all.parquet")
        3
        >>> read_table(folder / "all.parquet")["a"].tolist(), read_table(folder / "all.parquet").meta["note"]
        ([1.0, 2.0, 3.0], 'joined')
    """
    import pyarrow.parquet as pq

    output = Path(output)
    if table_format(output) != "parquet":
        raise ValueError(f"{output}: join_parquet_parts writes Parquet only")
    with tempfile.TemporaryDirectory() as folder:  # the schema astropy writes for the template: units and meta
        schema = pq.read_schema(write_table(template[:0], Path(folder) / "template.parquet"))
    # astropy reads a string column back at the width recorded in ``table::len::<column>``: the widest part's
    metadata = dict(schema.metadata or {})
    width_keys = [k for k in metadata if k.startswith(b"table::len::")]
    widths = dict.fromkeys(width_keys, 0)
    for part in parts:  # footers only, once each: every part must hold the output's columns
        part_schema = pq.read_schema(part)
        missing = [name for name in schema.names if name not in part_schema.names]
        if missing:
            raise BayesXPError(f"cannot join {part} into {output}: it has no column {missing[0]!r}")
        for key in width_keys:
            widths[key] = max(widths[key], _string_width(part, part_schema, key))
    schema = schema.with_metadata({**metadata, **{k: str(w).encode() for k, w in widths.items()}})
    rows = 0
    with atomic_path(output) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for part in parts:
            table = pq.read_table(part).select(schema.names)
            writer.write_table(table.replace_schema_metadata(schema.metadata).cast(schema))
            rows += table.num_rows
    return rows


def _string_width(part: str | os.PathLike, part_schema: object, key: bytes) -> int:
    """The width of a string column of a Parquet part: astropy's record of it in the part's schema, else measured."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    recorded = (part_schema.metadata or {}).get(key)
    if recorded is not None:
        return int(recorded)
    name = key.decode().removeprefix("table::len::")
    return int(pc.max(pc.utf8_length(pq.read_table(part, columns=[name]).column(name))).as_py() or 0)


def join_parts(parts: Sequence[str | os.PathLike], output: str | os.PathLike, meta: dict | None = None,
               units: Callable[[str], object] | None = None) -> int:
    """Join Parquet parts into one output file of any format, atomically.

    A Parquet output is written part by part (:func:`join_parquet_parts`: one part in memory at a time);
    the other formats (CSV, ECSV, FITS, HDF5) are written whole by astropy.

    Args:
        parts: Parquet files with the same columns, in order.
        output: The output file (format from its suffix).
        meta: The output's metadata (default: none).
        units: Column name -> its unit or None (e.g. :func:`bayesxp.quantities.contract_unit`).

    Returns:
        The number of rows written.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> parts = [write_table(Table({"a": [1.0]}), folder / f"p{k}.parquet") for k in range(3)]
        >>> join_parts(parts, folder / "all.csv"), len(read_table(folder / "all.csv"))
        (3, 3)
    """
    from astropy.table import vstack

    def dressed(table: Table) -> Table:
        for name in table.colnames:
            unit = units(name) if units is not None else None
            if unit is not None:
                table[name].unit = unit
        table.meta = dict(meta or {})
        return table

    if table_format(output) == "parquet":
        return join_parquet_parts(parts, dressed(read_table(parts[0])[:0]), output)
    table = dressed(vstack([read_table(p) for p in parts], metadata_conflicts="silent"))
    write_table(table, output)
    return len(table)


def parquet_column(parts: Sequence[str | os.PathLike], name: str) -> np.ndarray:
    """One column of Parquet parts, concatenated in order (only that column is read).

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> parts = [write_table(Table({"a": [k], "b": ["x"]}), folder / f"p{k}.parquet") for k in range(2)]
        >>> parquet_column(parts, "a").tolist()
        [0, 1]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    column = pa.chunked_array([pq.read_table(p, columns=[name]).column(name) for p in parts])
    return column.to_numpy()

