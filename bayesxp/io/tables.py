"""Read and write tables by file suffix, with errors that name the file and column.

Every writer goes through a temporary file in the target folder and an atomic rename, so a crash never
leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from astropy.table import Table

from bayesxp.errors import BayesXPError, InputFileError

__all__ = [
    "table_format",
    "read_table",
    "write_table",
    "atomic_path",
    "require_columns",
    "SUPPORTED_SUFFIXES",
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
        >>> read_table(p)["x"][0]
        np.float64(2.5)
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise InputFileError(path, "file does not exist")
    if path.is_dir():
        raise InputFileError(path, "is a folder, not a file")
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    kwargs: dict = {"format": fmt}
    if fmt == "fits" and hdu is not None:
        kwargs["hdu"] = hdu
    if fmt == "hdf5":
        kwargs["path"] = hdu if isinstance(hdu, str) else None
        if kwargs["path"] is None:
            kwargs.pop("path")
    try:
        table = Table.read(path, **kwargs)
    except InputFileError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read as {fmt} ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # pyarrow, h5py and astropy raise many private types for corrupt files
        raise InputFileError(path, f"cannot be read as {fmt} ({type(exc).__name__}: {exc})") from exc
    if len(table) == 0:
        raise InputFileError(path, "table has no rows")
    return table


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

    On any exception the temporary file is removed and ``path`` is left as it was. Full-disk and
    permission errors are re-raised as :class:`~bayesxp.errors.BayesXPError` naming the target.

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
        os.close(fd)
    except PermissionError as exc:
        raise BayesXPError(f"cannot write {path}: permission denied on {folder}") from exc
    except OSError as exc:
        raise BayesXPError(f"cannot write {path}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    # end with the target's own suffixes, so that writers choosing a format (or gzip) by name still work
    tmp_named = tmp.with_name(tmp.name + "".join(path.suffixes[-2:]))
    tmp.rename(tmp_named)
    try:
        yield tmp_named
        with open(tmp_named, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_named, path)
    except OSError as exc:
        tmp_named.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise BayesXPError(f"cannot write {path}: no space left on device") from exc
        if isinstance(exc, PermissionError):
            raise BayesXPError(f"cannot write {path}: permission denied") from exc
        raise
    except BaseException:
        tmp_named.unlink(missing_ok=True)
        raise


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
