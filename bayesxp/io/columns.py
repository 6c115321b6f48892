"""Column helpers shared by every reader: native byte order, decoded strings, floats and ids with missing values.

FITS and HDF5 files are big-endian and hold byte strings; CSV cells are text; catalogues write ``-9999``
for a missing number. These helpers turn such columns into native NumPy / pandas arrays with missing
values as NaN (floats), ``""`` (strings) or ``<NA>`` (``Int64`` ids), the same way in every reader.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = [
    "MISSING_SENTINELS",
    "MISSING_TEXT",
    "INTEGER_TEXT",
    "native_byte_order",
    "decoded_strings",
    "float_column",
    "nullable_int64",
]

#: Numbers that catalogues write for a missing value.
MISSING_SENTINELS = (-9999.0, -999.0)
#: Cell texts (lower case, stripped) that mean "no value".
MISSING_TEXT = frozenset({"", "null", "none", "--", "nan", "masked"})
#: A decimal integer, optionally signed, as a whole cell.
INTEGER_TEXT = re.compile(r"[+-]?\d+")


def native_byte_order(values: np.ndarray) -> np.ndarray:
    """The array in native byte order (FITS and these HDF5 files are big-endian; pandas and torch want native).

    Args:
        values: Any array.

    Returns:
        The same values, converted only if their byte order is not native.

    Example:
        >>> native_byte_order(np.array([1.5], dtype=">f8")).dtype.byteorder
        '='
    """
    values = np.asarray(values)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    return values


def decoded_strings(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Decoded (ASCII, undecodable bytes replaced), stripped Python strings; masked entries become ``""``.

    Args:
        values: ``(N,)`` byte or unicode strings.
        mask: ``(N,)`` bool, True where the entry is missing.

    Returns:
        ``(N,)`` object array of ``str``.

    Example:
        >>> decoded_strings(np.array([b" 2M001 ", b"x"]), mask=np.array([False, True])).tolist()
        ['2M001', '']
    """
    values = np.asarray(values)
    if values.dtype.kind == "S":
        values = np.char.decode(values, "ascii", errors="replace")
    out = np.char.strip(values.astype(str)).astype(object)
    if mask is not None and np.any(mask):
        out[np.asarray(mask, bool)] = ""
    return out


def _to_float(value: object) -> float:
    if value is np.ma.masked:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def float_column(column: object) -> np.ndarray:
    """A scalar column as ``(N,)`` float64, NaN where masked, null or not a number.

    Args:
        column: An array, masked array, astropy column or list (``None`` for null).

    Returns:
        The values; a column that is not one-dimensional gives all NaN.

    Example:
        >>> float_column(np.ma.MaskedArray(["1.5", "x", "3"], mask=[False, False, True])).tolist()
        [1.5, nan, nan]
    """
    if isinstance(column, list):
        return np.array([np.nan if value is None else float(value) for value in column], dtype=np.float64)
    masked = np.ma.asarray(column)
    if masked.ndim != 1:
        return np.full(len(masked), np.nan)
    try:
        return np.ma.filled(masked.astype(np.float64), np.nan)
    except (TypeError, ValueError):
        return np.array([_to_float(value) for value in masked], dtype=np.float64)


def nullable_int64(values: object) -> pd.arrays.IntegerArray:
    """Integers as a nullable ``Int64`` array, exactly (Gaia ids do not survive a float64 round trip).

    Accepts int arrays, float arrays (NaN and :data:`MISSING_SENTINELS` -> NA), masked arrays, and strings
    of digits (``""`` or anything but an integer -> NA for that row only).

    Args:
        values: ``(N,)`` values.

    Returns:
        ``(N,)`` ``Int64`` array.

    Example:
        >>> nullable_int64(np.array(["123", "", "junk", "-4"], dtype=object)).tolist()
        [123, <NA>, <NA>, -4]
    """
    if isinstance(values, pd.Series | pd.Index):
        values = values.array
    if isinstance(values, pd.arrays.IntegerArray):
        return values.astype("Int64")
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        values = np.asarray(values.data)
    else:
        mask = None
    values = np.asarray(values)
    if values.dtype.kind in "SUO":
        text = decoded_strings(values, mask)
        integers = [int(t) if INTEGER_TEXT.fullmatch(t) and -(2**63) <= int(t) < 2**63 else None for t in text]
        return pd.array(integers, dtype="Int64")
    values = native_byte_order(values)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | np.isin(values, MISSING_SENTINELS)
        if mask is not None:
            bad |= mask
        return pd.arrays.IntegerArray(np.where(bad, 0, values).astype(np.int64), bad)
    bad = np.zeros(len(values), bool) if mask is None else mask
    return pd.arrays.IntegerArray(values.astype(np.int64), bad)
