"""Tables as the catalogue edits them: ``{column: list of cells}``, and writers to every input format.

A cell is a scalar, a NumPy array, a string (junk) or None, so that one cell can be broken without touching
the others; :func:`write_any` writes such a table as CSV, Parquet, FITS, ECSV or HDF5.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

__all__ = ["Columns", "write_csv", "to_astropy", "write_parquet", "write_any"]

Columns = dict[str, list]


def _parse_array(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.strip().strip("[]()").split(",") if v.strip()])


def _from_table(table: object, rows: list[int]) -> Columns:
    out: Columns = {}
    for name in table.colnames:
        values = np.asarray(table[name])
        cells = []
        for i in rows:
            cell = values[i]
            if isinstance(cell, str) and cell.strip()[:1] in "[(":
                cell = _parse_array(cell)
            elif isinstance(cell, np.ndarray):
                cell = cell.astype(np.float64)
            elif isinstance(cell, np.generic):
                cell = cell.item()
            cells.append(cell)
        out[name] = cells
    return out


def _is_array_column(cells: list) -> bool:
    return any(isinstance(c, np.ndarray) for c in cells)


def _text_cell(cell: object, brackets: str = "[]") -> str:
    if cell is None:
        return ""
    if isinstance(cell, np.ndarray):
        return brackets[0] + ", ".join(repr(float(v)) for v in cell) + brackets[1]
    if isinstance(cell, float):
        return repr(cell)
    return str(cell)


def write_csv(columns: Columns, path: Path, brackets: str = "[]") -> Path:
    """The archive's CSV: arrays as quoted ``"[a, b, ...]"`` cells, empty cells for nulls.

    Example:
        >>> import tempfile
        >>> path = write_csv({"source_id": [1], "flux": [np.array([1.0, 2.0])]}, Path(tempfile.mkdtemp()) / "a.csv")
        >>> path.read_text().splitlines()
        ['source_id,flux', '1,"[1.0, 2.0]"']
    """
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for i in range(n):
            writer.writerow([_text_cell(columns[c][i], brackets) for c in names])
    return path


def to_astropy(columns: Columns) -> object:
    """An astropy Table: array columns stacked (all cells must have one length), nulls as NaN.

    Example:
        >>> to_astropy({"flux": [np.array([1.0, 2.0]), None]})["flux"].shape
        (2, 2)
    """
    from astropy.table import Table

    table = Table()
    for name, cells in columns.items():
        if _is_array_column(cells):
            width = max(len(c) for c in cells if isinstance(c, np.ndarray))
            table[name] = np.stack([c if isinstance(c, np.ndarray) else np.full(width, np.nan) for c in cells])
        else:
            table[name] = np.array(cells)
    return table


def write_parquet(columns: Columns, path: Path) -> Path:
    """Parquet with list columns (ragged lengths and nulls allowed), as the archive writes it.

    Example:
        >>> import tempfile
        >>> write_parquet({"flux": [np.array([1.0]), None]}, Path(tempfile.mkdtemp()) / "a.parquet").suffix
        '.parquet'
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {name: [c.tolist() if isinstance(c, np.ndarray) else c for c in cells] for name, cells in columns.items()}
    pq.write_table(pa.table(data), path)
    return path


def write_any(columns: Columns, path: Path) -> Path:
    """Write a table in the format its suffix names (CSV, Parquet, or anything astropy writes).

    Example:
        >>> import tempfile
        >>> write_any({"source_id": [1, 2]}, Path(tempfile.mkdtemp()) / "a.fits").name
        'a.fits'
    """
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".gz") else path.suffix
    if suffix == ".csv":
        return write_csv(columns, path)
    if suffix == ".parquet":
        return write_parquet(columns, path)
    table = to_astropy(columns)
    kwargs = {"path": "data", "serialize_meta": True} if suffix == ".h5" else {}
    table.write(path, overwrite=True, **kwargs)
    return path


def _rows(columns: Columns, keep: list[int]) -> Columns:
    return {name: [cells[i] for i in keep] for name, cells in columns.items()}

