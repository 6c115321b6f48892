"""The asteroseismic mass and age catalogues of ``seismic/``, one reader each, merged into one table.

Every reader returns a :class:`pandas.DataFrame` with native dtypes and lower-case names that follow
``xp_seismic_dev.csv``: ``<catalogue>_mass``, ``<catalogue>_mass_err`` [Msun], ``<catalogue>_age_gyr``,
``<catalogue>_age_err`` [Gyr], the evolutionary state as ``"RGB"``, ``"RC"`` or ``""``, and the identifiers
``apogee_id`` (stripped str), ``kic``, ``gaia_source_id``, ``epic``, ``corot_id`` (``Int64``).

Cleaning, the same for every catalogue (counts land in ``frame.attrs["cleaning"]``, see
:func:`cleaning_summary`):

- ``-9999`` and ``-999`` are missing values (NaN; ``""`` for strings); HDF5/FITS big-endian values
  become native; byte strings are decoded and stripped.
- README caveat: a mass outside :data:`MASS_RANGE` (0.5-4 Msun) or an age outside :data:`AGE_RANGE`
  (0.1-20 Gyr) is treated as missing, together with its error. Errors that are not finite and positive
  are missing too.
- A catalogue id that repeats keeps the row with the smallest mass error (then the first row). None
  of the nine files has a repeated id today; the count is kept so that a new file version would show it.

Error rules: a 1-sigma error is the catalogue's sigma where it quotes one; from 16th/84th percentiles or
68% bounds it is half the interval width, ``(upper - lower) / 2``.

Catalogues (short name: file; columns besides the ids, and where they come from):

- ``apokasc2``: ``APOKASC2_astroNN_APOGEE_VAC.h5`` + ``APOKASC2_astroNN_ages.h5``. Mass ``Mcorr``
  (+``Mcorr_err``), age ``Age`` [Gyr], radius ``Rcorr``, ``numax``, ``deltanu``, ``es``. The VAC's
  ``Age_err`` is not in Gyr (median 0.064), so the age error is ``Age_err`` of the ages file (same ages,
  in Gyr) joined on KIC; stars absent from that file have no age error. A missing VAC ``ES`` is filled
  from the ages file's ``ES`` (1 = RGB, 2 = RC). The VAC's TEFF/LOGG/FE_H/MG_H are astroNN labels, not
  ASPCAP: ``apokasc2_astronn_*``. The ages file's ``Mass_err`` (about 25% larger) is not used.
- ``apokasc705``: ``APOKASC705_AGE_short.fits``. ``AGE_JT``, APOKASC-3 v7.0.5 ages; the file has
  **no errors** (they are filled at consensus time, see :func:`measure_fill_errors`).
- ``apokasc3``: ``Table4_Apoor_RGB+RC_Gold.csv`` (or ``Table4_Apoor_RGB_Gold.csv``, its RGB subset).
  APOKASC-3 gold mass, radius, seismic logg and APOGEE DR17 labels ``apokasc3_teff, _fe_h, _alpha_fe,
  _c_fe, _n_fe, _c_n`` (+``_err`` from ``S_*``). KIC only, no APOGEE_ID.
- ``miglio21``: ``kepler_apogee_miglio2021.fit``. ``Mass``, ``Age`` with 68% bounds ``b_*`` (lower) and
  ``b_*_lc`` (upper, VizieR's ``B_*``); ``evstate`` 1 = RGB, 2 = RC; ``[Fe/H]``, ``[a/M]`` (no errors).
- ``montalban21``: ``Montalban2021_X_APOGEE_DR17.fits``. Mass/age 16/50/84; DR17 allStar ``TEFF, LOGG,
  M_H, FE_H, ALPHA_M`` (+``_ERR``) as ``montalban21_teff`` etc.
- ``corot``: ``corot_apogee_anders2017.fit``. PARAM ``MassM``/``AgeM`` with 68% bounds; scaling mass
  ``MassS`` (no error); ``evstat`` (CLUMP = RC); the table's ASPCAP (DR12) Teff, logg, [M/H], [alpha/M].
- ``k2galah``: ``k2_galah_zinn2022.fits``. Seismic mass 16/50/84. The file's own age percentiles are all
  -999 ("no ages"); ``k2galah_age_gyr`` is its ``age`` column (``e_age``), from the GALAH side of the
  join, **not a seismic age**. GALAH Teff, [Fe/H], [Mg/Fe].

:func:`read_seismic_catalogues` merges them into one row per star (Kepler stars by KIC, CoRoT by
APOGEE_ID, K2 by Gaia source_id) and :func:`seismic_consensus` adds the truth columns ``mass, mass_err,
mass_source, mass_err_source, age_gyr, age_err, age_source, age_err_source, evolutionary_state``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from bayesxp.errors import InputFileError
from bayesxp.io.tables import check_text_complete, read_table, require_columns
from bayesxp.paths import data_dir as default_data_dir

__all__ = [
    "MASS_RANGE",
    "AGE_RANGE",
    "MASS_PREFERENCE",
    "AGE_PREFERENCE",
    "STATE_COLUMNS",
    "CATALOGUES",
    "ID_COLUMNS",
    "read_apokasc2",
    "read_apokasc705",
    "read_apokasc3",
    "read_miglio21",
    "read_montalban21",
    "read_corot",
    "read_k2galah",
    "read_kic_apogee_map",
    "read_seismic_catalogues",
    "read_seismic_dev",
    "measure_fill_errors",
    "seismic_consensus",
    "normalise_state",
    "cleaning_summary",
]

#: Physically plausible giant masses [Msun]; outside is treated as missing (data README caveat).
MASS_RANGE = (0.5, 4.0)
#: Plausible ages [Gyr]; APOKASC-3 v7.0.5 has runaway ages up to ~80 Gyr.
AGE_RANGE = (0.1, 20.0)
#: Source order for the consensus mass (first catalogue with a valid value wins).
MASS_PREFERENCE = ("apokasc2", "miglio21", "apokasc3", "montalban21", "corot", "k2galah")
#: Source order for the consensus age. The README asks for APOKASC-2 / Miglio+2021 first.
AGE_PREFERENCE = ("apokasc2", "miglio21", "montalban21", "apokasc705", "corot", "k2galah")
#: Evolutionary-state column of each catalogue that has one, in the order the consensus state is taken.
STATE_COLUMNS = {
    "apokasc2": "apokasc2_es",
    "miglio21": "miglio21_evstate",
    "apokasc3": "apokasc3_es",
    "corot": "corot_evstate",
}
#: Catalogue short names, in the order they are merged.
CATALOGUES = ("apokasc2", "apokasc705", "apokasc3", "miglio21", "montalban21", "corot", "k2galah")
#: Identifier columns of the merged table.
ID_COLUMNS = ("apogee_id", "kic", "gaia_source_id", "epic", "corot_id")

_SENTINELS = (-9999.0, -999.0)
_INTEGER = re.compile(r"[+-]?\d+")
_FILES = {
    "apokasc2": "APOKASC2_astroNN_APOGEE_VAC.h5",
    "apokasc2_ages": "APOKASC2_astroNN_ages.h5",
    "apokasc705": "APOKASC705_AGE_short.fits",
    "apokasc3": "Table4_Apoor_RGB+RC_Gold.csv",
    "apokasc3_rgb": "Table4_Apoor_RGB_Gold.csv",
    "miglio21": "kepler_apogee_miglio2021.fit",
    "montalban21": "Montalban2021_X_APOGEE_DR17.fits",
    "corot": "corot_apogee_anders2017.fit",
    "k2galah": "k2_galah_zinn2022.fits",
}
_STATE_WORDS = {"RGB": "RGB", "RC": "RC", "CLUMP": "RC", "HEB": "RC", "CHEB": "RC", "RC/2CL": "RC"}


# ----------------------------------------------------------------------------------------------------
# low-level helpers
# ----------------------------------------------------------------------------------------------------
def _seismic_path(data_dir: str | os.PathLike | None, key: str) -> Path:
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    return folder / "seismic" / _FILES[key]


def _native(values: np.ndarray) -> np.ndarray:
    """Native byte order (FITS and these HDF5 files are big-endian)."""
    values = np.asarray(values)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    return values


def _strings(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Decoded, stripped Python strings; masked entries become ``""``."""
    values = np.asarray(values)
    if values.dtype.kind == "S":
        values = np.char.decode(values, "ascii", errors="replace")
    out = np.char.strip(values.astype(str)).astype(object)
    if mask is not None and np.any(mask):
        out[np.asarray(mask, bool)] = ""
    return out


def _int64(values: object) -> pd.arrays.IntegerArray:
    """Integers as a nullable ``Int64`` array, exactly (Gaia ids do not survive a float64 round trip).

    Accepts int arrays, float arrays (NaN -> NA), masked arrays, and strings of digits ("" -> NA).
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
        text = _strings(values, mask)
        # anything but an integer (a damaged cell) is NA for that row only
        ints = [int(t) if _INTEGER.fullmatch(t) and -(2**63) <= int(t) < 2**63 else None for t in text]
        return pd.array(ints, dtype="Int64")
    values = _native(values)
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | np.isin(values, _SENTINELS)
        if mask is not None:
            bad |= mask
        return pd.arrays.IntegerArray(np.where(bad, 0, values).astype(np.int64), bad)
    bad = np.zeros(len(values), bool) if mask is None else mask
    return pd.arrays.IntegerArray(values.astype(np.int64), bad)


def _table_column(table: Table, name: str) -> np.ndarray | pd.arrays.IntegerArray:
    """One astropy column as a pandas-ready array: floats (masked -> NaN), Int64 where masked, strings."""
    column = table[name]
    data = np.asarray(column)
    mask = np.ma.getmaskarray(column) if getattr(column, "mask", None) is not None else None
    kind = data.dtype.kind
    if kind in "SU":
        return _strings(data, mask)
    if kind == "f":
        out = _native(data).astype(np.float64)
        if mask is not None and mask.any():
            out = np.where(mask, np.nan, out)
        return out
    if kind in "iu":
        if mask is not None and mask.any():
            return _int64(np.ma.MaskedArray(data, mask))
        return _native(data)
    if kind == "b":
        return data.astype(bool)
    return data


def _read_fits(path: Path, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Only the named columns of the first FITS table, renamed, native dtypes, ``TNULL`` integers as ``Int64``.

    Raises:
        InputFileError: Missing, empty or unreadable file, no table, no rows, or a missing column (named).
    """
    if not path.is_file():
        raise InputFileError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise InputFileError(path, "file is empty")
    try:
        with fits.open(path, memmap=True) as hdul:
            hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU)), None)
            if hdu is None:
                raise InputFileError(path, "has no binary table extension")
            names = list(hdu.columns.names)
            for column in mapping:
                if column not in names:
                    raise InputFileError(path, f"required column is missing (have: {', '.join(names)})",
                                         column=column)
            data = hdu.data
            if data is None or len(data) == 0:
                raise InputFileError(path, "table has no rows")
            out = {}
            for src, dst in mapping.items():
                values = np.array(data[src])
                null = hdu.columns[src].null
                if values.dtype.kind in "SU":
                    out[dst] = _strings(values)
                elif values.dtype.kind in "iu" and null is not None:
                    out[dst] = _int64(np.ma.MaskedArray(values, values == int(null)))
                else:
                    out[dst] = _native(values)
    except InputFileError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError) as exc:
        raise InputFileError(path, f"cannot be read as FITS ({type(exc).__name__}: {exc})") from exc
    return pd.DataFrame(out)


def _frame_from_table(table: Table, mapping: Mapping[str, str], path: str | os.PathLike) -> pd.DataFrame:
    """Select and rename columns of an astropy table (naming the first missing one in the error)."""
    require_columns(table, list(mapping), path)
    return pd.DataFrame({new: _table_column(table, old) for old, new in mapping.items()})


def _read_h5_columns(path: Path, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Read 1-d datasets from an HDF5 file of one dataset per column, native dtype, strings decoded."""
    if not path.exists():
        raise InputFileError(path, "file does not exist")
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputFileError(path, f"cannot be read as HDF5 ({exc})") from exc
    with handle:
        out = {}
        for name in names:
            if name not in handle:
                raise InputFileError(path, f"required dataset is missing (have: {', '.join(handle)})",
                                     column=name)
            try:
                values = handle[name][()]
            except OSError as exc:
                raise InputFileError(path, f"dataset cannot be read ({exc})", column=name) from exc
            out[name] = _strings(values) if values.dtype.kind in "SU" else _native(values)
    lengths = {len(v) for v in out.values()}
    if len(lengths) > 1:
        raise InputFileError(path, f"datasets differ in length ({sorted(lengths)})")
    if lengths == {0}:
        raise InputFileError(path, "table has no rows")
    return out


def normalise_state(values: object, numeric: Mapping[int, str] | None = None) -> np.ndarray:
    """Evolutionary states as ``"RGB"``, ``"RC"`` (core helium burning / red clump) or ``""`` (unknown).

    Args:
        values: Strings (``RGB``, ``RC``, ``CLUMP``, ``-9999``, masked ...) or codes.
        numeric: Meaning of numeric codes, e.g. ``{1: "RGB", 2: "RC"}``; other codes become ``""``.

    Returns:
        Object array of ``"RGB"``, ``"RC"`` or ``""``.

    Example:
        >>> normalise_state(["RGB", "CLUMP", "-9999.0", None]).tolist()
        ['RGB', 'RC', '', '']
        >>> normalise_state([1, 2, -1], numeric={1: "RGB", 2: "RC"}).tolist()
        ['RGB', 'RC', '']
    """
    series = pd.Series(values, dtype=object)
    out = np.full(len(series), "", dtype=object)
    for i, value in enumerate(series):
        if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
            continue
        if numeric is not None and not isinstance(value, str | bytes):
            out[i] = numeric.get(int(value), "")
            continue
        text = value.decode() if isinstance(value, bytes) else str(value)
        out[i] = _STATE_WORDS.get(text.strip().upper(), "")
    return out


def _half_width(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """1-sigma error from a 68% interval: ``(upper - lower) / 2``."""
    return (np.asarray(upper, float) - np.asarray(lower, float)) / 2.0


class _Cleaner:
    """Applies the common cleaning rules to one catalogue frame and counts what it changed."""

    def __init__(self, name: str, path: Path | Sequence[Path], rows_read: int) -> None:
        paths = [path] if isinstance(path, Path) else list(path)
        self.counts: dict[str, object] = {
            "catalogue": name,
            "file": ", ".join(p.name for p in paths),
            "rows_read": rows_read,
            "sentinel_values": 0,
            "mass_out_of_range": 0,
            "age_out_of_range": 0,
            "bad_errors": 0,
            "duplicates_dropped": 0,
            "rows_kept": rows_read,
        }
        self.name = name

    def sentinels(self, frame: pd.DataFrame) -> None:
        n = 0
        for column in frame.columns:
            values = frame[column]
            if pd.api.types.is_float_dtype(values):
                hit = values.isin(_SENTINELS)
                n += int(hit.sum())
                frame.loc[hit, column] = np.nan
            elif values.dtype == object or pd.api.types.is_string_dtype(values):
                hit = values.astype(str).str.strip().isin(["-9999", "-9999.0", "-999", "-999.0"])
                n += int(hit.sum())
                frame.loc[hit, column] = ""
        self.counts["sentinel_values"] = int(self.counts["sentinel_values"]) + n

    def ranges(self, frame: pd.DataFrame) -> None:
        p = self.name
        for quantity, (low, high), key in (("mass", MASS_RANGE, "mass_out_of_range"),
                                           ("age_gyr", AGE_RANGE, "age_out_of_range")):
            column = f"{p}_{quantity}"
            if column not in frame:
                continue
            err = f"{p}_{'mass' if quantity == 'mass' else 'age'}_err"
            values = frame[column]
            out = values.notna() & ((values < low) | (values > high))
            self.counts[key] = int(self.counts[key]) + int(out.sum())
            frame.loc[out, column] = np.nan
            if err in frame:
                frame.loc[out, err] = np.nan
        for column in frame.columns:
            if column.endswith("_err") and pd.api.types.is_float_dtype(frame[column]):
                values = frame[column]
                bad = values.notna() & ~((values > 0) & np.isfinite(values))
                self.counts["bad_errors"] = int(self.counts["bad_errors"]) + int(bad.sum())
                frame.loc[bad, column] = np.nan

    def deduplicate(self, frame: pd.DataFrame, key: str) -> pd.DataFrame:
        """Keep, per repeated ``key``, the row with the smallest mass error (then the first row)."""
        err = f"{self.name}_mass_err"
        has_key = frame[key].notna() & (frame[key].astype(str) != "")
        keyed = frame[has_key]
        if not keyed[key].duplicated().any():
            return frame
        order = keyed.assign(_err=keyed[err] if err in keyed else 0.0, _row=np.arange(len(keyed)))
        order = order.sort_values(["_err", "_row"], na_position="last", kind="stable")
        kept = order.drop_duplicates(key, keep="first").sort_values("_row").drop(columns=["_err", "_row"])
        self.counts["duplicates_dropped"] = int(self.counts["duplicates_dropped"]) + len(keyed) - len(kept)
        return pd.concat([kept, frame[~has_key]], ignore_index=True)

    def finish(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.reset_index(drop=True)
        self.counts["rows_kept"] = len(frame)
        frame.attrs["cleaning"] = [dict(self.counts)]
        return frame


def _clean(name: str, frame: pd.DataFrame, path: Path | Sequence[Path], key: str,
           rows_read: int | None = None, extra: Mapping[str, int] | None = None) -> pd.DataFrame:
    cleaner = _Cleaner(name, path, len(frame) if rows_read is None else rows_read)
    cleaner.sentinels(frame)
    cleaner.ranges(frame)
    frame = cleaner.deduplicate(frame, key)
    if extra:
        cleaner.counts.update(extra)
    return cleaner.finish(frame)


# ----------------------------------------------------------------------------------------------------
# one reader per catalogue
# ----------------------------------------------------------------------------------------------------
def read_apokasc2(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """APOKASC-2 (Pinsonneault et al. 2018) as in the astroNN APOGEE VAC, with Gyr age errors.

    Masses ``Mcorr`` and ages ``Age`` come from ``APOKASC2_astroNN_APOGEE_VAC.h5`` (6,612 rows); the age
    error is ``Age_err`` of ``APOKASC2_astroNN_ages.h5`` (6,298 rows, Gyr, identical ages) joined on KIC,
    because the VAC's own ``Age_err`` is not in Gyr. The VAC's ``TEFF, LOGG, FE_H, MG_H`` are astroNN
    neural-net labels (not ASPCAP) and are named ``apokasc2_astronn_*``.

    Args:
        data_dir: Folder holding ``seismic/`` (default :func:`bayesxp.paths.data_dir`).

    Returns:
        One row per star: ``apogee_id, kic, apokasc2_mass, apokasc2_mass_err, apokasc2_age_gyr,
        apokasc2_age_err, apokasc2_es, apokasc2_radius(_err), apokasc2_numax(_err),
        apokasc2_deltanu(_err), apokasc2_astronn_{teff,logg,fe_h,mg_h}(_err)``.

    Raises:
        InputFileError: A file or dataset is missing or unreadable.

    Example:
        >>> len(read_apokasc2())
        6612
    """
    vac_path = _seismic_path(data_dir, "apokasc2")
    ages_path = _seismic_path(data_dir, "apokasc2_ages")
    names = {
        "APOGEE_ID": "apogee_id", "KIC": "kic", "Mcorr": "apokasc2_mass", "Mcorr_err": "apokasc2_mass_err",
        "Age": "apokasc2_age_gyr", "ES": "apokasc2_es", "Rcorr": "apokasc2_radius",
        "Rcorr_err": "apokasc2_radius_err", "Numax": "apokasc2_numax", "Numax_err": "apokasc2_numax_err",
        "Deltanu": "apokasc2_deltanu", "Deltanu_err": "apokasc2_deltanu_err",
        "TEFF": "apokasc2_astronn_teff", "TEFF_ERR": "apokasc2_astronn_teff_err",
        "LOGG": "apokasc2_astronn_logg", "LOGG_ERR": "apokasc2_astronn_logg_err",
        "FE_H": "apokasc2_astronn_fe_h", "FE_H_ERR": "apokasc2_astronn_fe_h_err",
        "MG_H": "apokasc2_astronn_mg_h", "MG_H_ERR": "apokasc2_astronn_mg_h_err",
    }
    raw = _read_h5_columns(vac_path, list(names))
    frame = pd.DataFrame({new: raw[old] for old, new in names.items()})
    for column in frame.columns:
        if column not in ("apogee_id", "kic", "apokasc2_es"):
            frame[column] = frame[column].astype(np.float64)
    frame["kic"] = _int64(raw["KIC"])
    ages = _read_h5_columns(ages_path, ["KIC", "Age", "Age_err", "ES"])
    ages_frame = pd.DataFrame({"kic": _int64(ages["KIC"]), "_age_err": ages["Age_err"].astype(float),
                               "_age_check": ages["Age"].astype(float),
                               "_es_ages": normalise_state(ages["ES"], numeric={1: "RGB", 2: "RC"})})
    if ages_frame["kic"].duplicated().any():
        raise InputFileError(ages_path, "KIC repeats; cannot join the age errors unambiguously", column="KIC")
    frame = frame.merge(ages_frame, on="kic", how="left", validate="many_to_one")
    both = frame["_age_check"].notna() & frame["apokasc2_age_gyr"].notna() & (frame["apokasc2_age_gyr"] > 0)
    if not np.allclose(frame.loc[both, "_age_check"], frame.loc[both, "apokasc2_age_gyr"], rtol=1e-6):
        raise InputFileError(ages_path, "ages differ from the VAC's; the age errors would not belong to them",
                             column="Age")
    frame["apokasc2_age_err"] = frame.pop("_age_err")
    frame["apokasc2_es"] = normalise_state(frame["apokasc2_es"])
    frame["_es_ages"] = frame["_es_ages"].fillna("")
    missing_state = (frame["apokasc2_es"] == "") & (frame["_es_ages"] != "")
    frame.loc[missing_state, "apokasc2_es"] = frame.loc[missing_state, "_es_ages"]
    frame = frame.drop(columns=["_age_check", "_es_ages"])
    order = ["apogee_id", "kic", "apokasc2_mass", "apokasc2_mass_err", "apokasc2_age_gyr", "apokasc2_age_err",
             "apokasc2_es"]
    frame = frame[order + [c for c in frame.columns if c not in order]]
    extra = {"ages_file_rows": len(ages_frame), "state_from_ages_file": int(missing_state.sum()),
             "age_err_missing": int((frame["apokasc2_age_err"].isna()
                                     & (frame["apokasc2_age_gyr"] > 0)).sum())}
    return _clean("apokasc2", frame, [vac_path, ages_path], "kic", extra=extra)


def read_apokasc705(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """APOKASC-3 v7.0.5 ages (``AGE_JT``) for 11,672 Kepler giants; the file carries no age errors.

    Unphysical runaway ages (up to ~80 Gyr) fall outside :data:`AGE_RANGE` and become NaN. The missing
    errors are filled at consensus time by :func:`measure_fill_errors`.

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``apogee_id, kic, apokasc705_age_gyr``.

    Example:
        >>> bool(read_apokasc705()["apokasc705_age_gyr"].max() <= 20)
        True
    """
    path = _seismic_path(data_dir, "apokasc705")
    frame = _read_fits(path, {"APOGEE_ID": "apogee_id", "KEPLER_ID": "kic", "AGE_JT": "apokasc705_age_gyr"})
    frame["kic"] = _int64(frame["kic"].to_numpy())
    return _clean("apokasc705", frame, path, "kic")


def read_apokasc3(data_dir: str | os.PathLike | None = None, sample: str = "RGB+RC") -> pd.DataFrame:
    """APOKASC-3 gold sample (Pinsonneault et al. 2025, Table 4, "Apoor" version), KIC only.

    ``Teff``, ``[Fe/H]``, ``[Alp/Fe]`` are APOGEE DR17 ASPCAP values (Teff identical to DR17);
    ``Logg_Seis`` is the seismic surface gravity. The table has no ages (those are ``apokasc705``) and
    no APOGEE_ID: join to APOGEE through :func:`read_kic_apogee_map`.

    Args:
        data_dir: Folder holding ``seismic/``.
        sample: ``"RGB+RC"`` (6,578 stars, ``Evol_State`` given) or ``"RGB"`` (3,493 stars, the RGB
            subset with identical values; the state is set to ``"RGB"``).

    Returns:
        ``kic, apokasc3_es, apokasc3_mass(_err), apokasc3_radius(_err), apokasc3_logg_seis(_err),
        apokasc3_teff(_err), apokasc3_fe_h(_err), apokasc3_alpha_fe(_err), apokasc3_c_fe(_err),
        apokasc3_n_fe(_err), apokasc3_c_n(_err)``.

    Example:
        >>> len(read_apokasc3(sample="RGB"))
        3493
    """
    if sample not in ("RGB+RC", "RGB"):
        raise ValueError(f"sample must be 'RGB+RC' or 'RGB', not {sample!r}")
    path = _seismic_path(data_dir, "apokasc3" if sample == "RGB+RC" else "apokasc3_rgb")
    table = read_table(path)
    mapping = {"KIC": "kic"}
    if sample == "RGB+RC":
        mapping["Evol_State"] = "apokasc3_es"
    for src, dst in (("Mass", "mass"), ("Radius", "radius"), ("Logg_Seis", "logg_seis"), ("Teff", "teff"),
                     ("[Fe/H]", "fe_h"), ("[Alp/Fe]", "alpha_fe"), ("[C/Fe]", "c_fe"), ("[N/Fe]", "n_fe"),
                     ("[C/N]", "c_n")):
        mapping[src] = f"apokasc3_{dst}"
        mapping[f"S_{src}"] = f"apokasc3_{dst}_err"
    frame = _frame_from_table(table, mapping, path)
    frame["kic"] = _int64(frame["kic"].to_numpy())
    if sample == "RGB":
        frame.insert(1, "apokasc3_es", np.full(len(frame), "RGB", dtype=object))
    else:
        frame["apokasc3_es"] = normalise_state(frame["apokasc3_es"])
    for column in frame.columns[2:]:
        frame[column] = frame[column].astype(np.float64)
    out = _clean("apokasc3", frame, path, "kic")
    if sample == "RGB":
        out.attrs["cleaning"][0]["catalogue"] = "apokasc3_rgb"
    return out


def read_miglio21(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Miglio et al. (2021, A&A 645, A85) Kepler-APOGEE giants: masses and ages with 68% bounds.

    The VizieR lower bound ``b_X`` and upper bound ``B_X`` (renamed ``b_x_lc`` in this FITS file, whose
    column names are case-insensitive) give ``<x>_err = (upper - lower) / 2``. ``evstate``: 1 = RGB,
    2 = RC (checked against APOKASC-2: 2,387/2,398 and 872/882 agree).

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``apogee_id, kic, miglio21_mass(_err), miglio21_age_gyr, miglio21_age_err, miglio21_evstate,
        miglio21_fe_h, miglio21_alpha_m`` (the last two without errors).

    Example:
        >>> sorted(set(read_miglio21()["miglio21_evstate"]))
        ['RC', 'RGB']
    """
    path = _seismic_path(data_dir, "miglio21")
    raw = _read_fits(path, {
        "APOGEE": "apogee_id", "KIC": "kic", "Mass": "mass", "b_Mass": "mass_lo", "b_mass_lc": "mass_hi",
        "Age": "age", "b_Age": "age_lo", "b_age_lc": "age_hi", "evstate": "evstate",
        "__Fe_H_": "fe_h", "__alpha_M_": "alpha_m"})
    frame = pd.DataFrame({
        "apogee_id": raw["apogee_id"], "kic": _int64(raw["kic"].to_numpy()),
        "miglio21_mass": raw["mass"].astype(float), "miglio21_mass_err": _half_width(raw["mass_lo"], raw["mass_hi"]),
        "miglio21_age_gyr": raw["age"].astype(float), "miglio21_age_err": _half_width(raw["age_lo"], raw["age_hi"]),
        "miglio21_evstate": normalise_state(raw["evstate"].to_numpy(), numeric={1: "RGB", 2: "RC"}),
        "miglio21_fe_h": raw["fe_h"].astype(float), "miglio21_alpha_m": raw["alpha_m"].astype(float),
    })
    return _clean("miglio21", frame, path, "kic")


def read_montalban21(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Montalbán et al. (2021) Kepler red giants cross-matched with the APOGEE DR17 allStar file (92 stars).

    Mass and age are the 50th percentiles, errors half the 16-84 width. The labels are the DR17 allStar
    ASPCAP ``TEFF, LOGG, M_H, FE_H, ALPHA_M`` (+``_ERR``), identical to DR17.

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``apogee_id, kic, gaia_source_id, montalban21_mass(_err), montalban21_age_gyr,
        montalban21_age_err, montalban21_group, montalban21_{teff,logg,m_h,fe_h,alpha_m}(_err)``.

    Example:
        >>> len(read_montalban21())
        92
    """
    path = _seismic_path(data_dir, "montalban21")
    labels = {f"{src}{suffix}": f"montalban21_{src.lower()}{suffix.lower()}"
              for src in ("TEFF", "LOGG", "M_H", "FE_H", "ALPHA_M") for suffix in ("", "_ERR")}
    raw = _read_fits(path, {
        "APOGEE_ID": "apogee_id", "KIC": "kic", "GAIAEDR3_SOURCE_ID": "gaia_source_id",
        "mass_16": "m16", "mass": "mass", "mass_84": "m84", "age_16": "a16", "age": "age", "age_84": "a84",
        "group": "montalban21_group", **labels})
    frame = pd.DataFrame({
        "apogee_id": raw["apogee_id"], "kic": _int64(raw["kic"].to_numpy()),
        "gaia_source_id": _int64(raw["gaia_source_id"]),
        "montalban21_mass": raw["mass"].astype(float), "montalban21_mass_err": _half_width(raw["m16"], raw["m84"]),
        "montalban21_age_gyr": raw["age"].astype(float),
        "montalban21_age_err": _half_width(raw["a16"], raw["a84"]),
        "montalban21_group": raw["montalban21_group"],
    })
    for column in labels.values():
        frame[column] = raw[column].astype(float)
    return _clean("montalban21", frame, path, "kic")


def read_corot(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """CoRoT-APOGEE giants (CoRoGEE, Anders et al. 2017, A&A 597, A30): PARAM masses and ages.

    ``corot_mass``/``corot_age_gyr`` are ``MassM``/``AgeM`` with errors half the 68% interval
    (``*68L``, ``*68U``); ``corot_mass_scaling`` is the direct scaling-relation mass ``MassS`` (no error).
    The spectroscopic labels are the table's APOGEE (DR12 ASPCAP) ``Teff, logg, [M/H], [alpha/M]``.

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``apogee_id, corot_id, corot_mass(_err), corot_age_gyr, corot_age_err, corot_mass_scaling,
        corot_evstate, corot_{teff,logg,m_h,alpha_m}(_err)``.

    Example:
        >>> len(read_corot())
        603
    """
    path = _seismic_path(data_dir, "corot")
    raw = _read_fits(path, {
        "APOGEE": "apogee_id", "CoRoT": "corot_id", "MassM": "mass", "MassM68L": "m_lo", "MassM68U": "m_hi",
        "AgeM": "age", "AgeM68L": "a_lo", "AgeM68U": "a_hi", "MassS": "mass_s", "evstat": "evstat",
        "Teff": "teff", "e_Teff": "teff_err", "logg": "logg", "e_logg": "logg_err", "__M_H_": "m_h",
        "e__M_H_": "m_h_err", "__alpha_M_": "alpha_m", "e__alpha_M_": "alpha_m_err"})
    frame = pd.DataFrame({
        "apogee_id": raw["apogee_id"], "corot_id": _int64(raw["corot_id"]),
        "corot_mass": raw["mass"].astype(float), "corot_mass_err": _half_width(raw["m_lo"], raw["m_hi"]),
        "corot_age_gyr": raw["age"].astype(float), "corot_age_err": _half_width(raw["a_lo"], raw["a_hi"]),
        "corot_mass_scaling": raw["mass_s"].astype(float),
        "corot_evstate": normalise_state(raw["evstat"]),
    })
    for name in ("teff", "logg", "m_h", "alpha_m"):
        frame[f"corot_{name}"] = raw[name].astype(float)
        frame[f"corot_{name}_err"] = raw[f"{name}_err"].astype(float)
    return _clean("corot", frame, path, "apogee_id")


def read_k2galah(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """K2 giants with GALAH spectra (Zinn et al. 2022 K2 GAP x GALAH DR3): seismic masses, GALAH ages.

    ``k2galah_mass`` is ``mass50`` with error half the 16-84 width. The file's own age percentiles
    (``age05..age95``) are all -999 ("no ages"), so ``k2galah_age_gyr`` is its ``age`` column with
    ``e_age``: the GALAH-side age of the join, **not a seismic age**; it is last in
    :data:`AGE_PREFERENCE`. ``EDR3_source_id`` is a string column (30 rows empty) read exactly as Int64.

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``epic, gaia_source_id, k2galah_sobject_id, k2galah_mass(_err), k2galah_age_gyr,
        k2galah_age_err, k2galah_teff(_err), k2galah_fe_h(_err), k2galah_mg_fe(_err)``.

    Example:
        >>> len(read_k2galah())
        1339
    """
    path = _seismic_path(data_dir, "k2galah")
    raw = _read_fits(path, {
        "EPIC": "epic", "EDR3_source_id": "sid", "sobject_id_1": "sobject", "mass16": "m16", "mass50": "mass",
        "mass84": "m84", "age": "age", "e_age": "age_err", "Teff": "teff", "e_Teff": "teff_err", "FeH": "fe_h",
        "e_FeH": "fe_h_err", "MgFe": "mg_fe", "e_MgFe": "mg_fe_err"})
    frame = pd.DataFrame({
        "epic": _int64(raw["epic"]), "gaia_source_id": _int64(raw["sid"]),
        "k2galah_sobject_id": _int64(raw["sobject"]),
        "k2galah_mass": raw["mass"].astype(float), "k2galah_mass_err": _half_width(raw["m16"], raw["m84"]),
        "k2galah_age_gyr": raw["age"].astype(float), "k2galah_age_err": raw["age_err"].astype(float),
    })
    for name in ("teff", "fe_h", "mg_fe"):
        frame[f"k2galah_{name}"] = raw[name].astype(float)
        frame[f"k2galah_{name}_err"] = raw[f"{name}_err"].astype(float)
    return _clean("k2galah", frame, path, "epic")


_READERS: dict[str, Callable[[str | os.PathLike | None], pd.DataFrame]] = {
    "apokasc2": read_apokasc2,
    "apokasc705": read_apokasc705,
    "apokasc3": read_apokasc3,
    "miglio21": read_miglio21,
    "montalban21": read_montalban21,
    "corot": read_corot,
    "k2galah": read_k2galah,
}


def read_kic_apogee_map(data_dir: str | os.PathLike | None = None) -> pd.Series:
    """KIC -> APOGEE_ID from the APOKASC files (APOKASC-2 VAC and APOKASC-3 v7.0.5; 12,104 stars).

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        Series of APOGEE ids indexed by KIC (``Int64``), one entry per KIC.

    Raises:
        InputFileError: If the files map one KIC to two APOGEE ids.

    Example:
        >>> read_kic_apogee_map().index.is_unique
        True
    """
    pairs = pd.concat([read_apokasc2(data_dir)[["kic", "apogee_id"]],
                       read_apokasc705(data_dir)[["kic", "apogee_id"]]], ignore_index=True)
    pairs = pairs[pairs["kic"].notna() & (pairs["apogee_id"] != "")].drop_duplicates()
    if pairs["kic"].duplicated().any():
        bad = pairs.loc[pairs["kic"].duplicated(), "kic"].iloc[0]
        raise InputFileError(_seismic_path(data_dir, "apokasc705"), f"KIC {bad} maps to two APOGEE ids",
                             column="APOGEE_ID")
    return pairs.set_index("kic")["apogee_id"].rename("apogee_id")


# ----------------------------------------------------------------------------------------------------
# merge and consensus
# ----------------------------------------------------------------------------------------------------
def _outer_merge(left: pd.DataFrame, right: pd.DataFrame, key: str, conflicts: dict[str, int]) -> pd.DataFrame:
    """Outer-join on ``key`` (rows without a key are kept unjoined); shared id columns are coalesced."""
    def has(frame: pd.DataFrame) -> pd.Series:
        return frame[key].notna() & (frame[key].astype(str) != "") if key in frame else pd.Series(False, frame.index)

    lk, rk = has(left), has(right)
    joined = left[lk].merge(right[rk], on=key, how="outer", suffixes=("", "__right"), sort=False)
    for column in [c for c in joined.columns if c.endswith("__right")]:
        base = column[: -len("__right")]
        a, b = joined[base], joined[column]
        if base == "apogee_id":
            a_ok, b_ok = a.fillna("") != "", b.fillna("") != ""
        else:
            a_ok, b_ok = a.notna(), b.notna()
        clash = a_ok & b_ok & (a.astype(str) != b.astype(str))
        conflicts[base] = conflicts.get(base, 0) + int(clash.sum())
        joined[base] = a.where(a_ok, b)
        joined = joined.drop(columns=column)
    return pd.concat([joined, left[~lk], right[~rk]], ignore_index=True)


def read_seismic_catalogues(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """All seismic catalogues side by side, one row per star, with the consensus truth columns.

    Kepler catalogues (APOKASC-2, APOKASC-3 v7.0.5, APOKASC-3 gold, Miglio+2021, Montalbán+2021) are
    joined on KIC, CoRoT on APOGEE_ID, K2 on Gaia EDR3 source_id (its only id besides EPIC).
    ``apogee_id`` comes from the catalogues that carry it (APOKASC-3 gold stars known only to that table
    have none). ``in_<catalogue>`` says which catalogues list the star. Consensus columns follow
    :func:`seismic_consensus`, with fill-in errors from :func:`measure_fill_errors` on this table.

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        The merged table. ``attrs["cleaning"]``: per-catalogue cleaning counts; ``attrs["fill_errors"]``:
        the measured fill-in table (as records); ``attrs["id_conflicts"]``: ids that disagreed between
        catalogues (none today).

    Example:
        >>> table = read_seismic_catalogues()
        >>> set(table["mass_source"]) <= set(MASS_PREFERENCE) | {""}
        True
    """
    catalogues = {name: reader(data_dir) for name, reader in _READERS.items()}
    cleaning = [record for frame in catalogues.values() for record in frame.attrs.get("cleaning", [])]
    conflicts: dict[str, int] = {}
    merged: pd.DataFrame | None = None
    for name in ("apokasc2", "apokasc705", "apokasc3", "miglio21", "montalban21"):
        frame = catalogues[name].assign(**{f"in_{name}": True})
        frame.attrs = {}
        merged = frame if merged is None else _outer_merge(merged, frame, "kic", conflicts)
    for name, key in (("corot", "apogee_id"), ("k2galah", "gaia_source_id")):
        frame = catalogues[name].assign(**{f"in_{name}": True})
        frame.attrs = {}
        merged = _outer_merge(merged, frame, key, conflicts)
    assert merged is not None
    for name in CATALOGUES:
        merged[f"in_{name}"] = merged[f"in_{name}"].astype("boolean").fillna(False).astype(bool)
    merged["apogee_id"] = merged["apogee_id"].fillna("")
    for column in ("kic", "gaia_source_id", "epic", "corot_id"):
        merged[column] = merged[column].astype("Int64")
    for column in merged.columns:
        if column.endswith(("_es", "_evstate")):
            merged[column] = merged[column].fillna("")
    fill = measure_fill_errors(merged)
    merged = seismic_consensus(merged, fill_errors=fill)
    merged = merged.sort_values(["kic", "apogee_id", "epic"], na_position="last", kind="stable").reset_index(drop=True)
    merged.attrs = {"cleaning": cleaning, "fill_errors": fill.reset_index().to_dict("records"),
                    "id_conflicts": conflicts}
    return merged


def _fractional(frame: pd.DataFrame, value: str, error: str) -> pd.Series:
    ok = frame[value].notna() & frame[error].notna() & (frame[value] > 0)
    return (frame.loc[ok, error] / frame.loc[ok, value]).astype(float)


def _mad_std(values: np.ndarray) -> float:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(values - np.median(values)))) if len(values) else float("nan")


def measure_fill_errors(catalogues: pd.DataFrame, reference: str = "apokasc2", min_overlap: int = 20) -> pd.DataFrame:
    """Fractional errors used where a chosen consensus source gives no error, measured from the data.

    Per (quantity, catalogue) in the preference lists:

    - the catalogue quotes errors for some stars: ``fraction`` = median of ``err / value`` over them
      (method ``median_fractional_error``);
    - it quotes none (APOKASC-3 v7.0.5 ages): on the stars it shares with ``reference`` (APOKASC-2),
      ``scatter = mad_std(ln(value / reference_value)) / sqrt(2)`` and ``reference_error`` = median
      fractional error the reference quotes for the same stars; ``fraction = max(scatter,
      reference_error)`` (method ``scatter_vs_apokasc2``). The ``/ sqrt(2)`` scatter alone would assume
      independent, equal errors; both catalogues use the same Kepler seismic data, so their difference
      understates either error (measured: 0.119, against the 0.183 APOKASC-2 quotes for the same 6,051
      stars), and the larger number is kept.

    Args:
        catalogues: Table with ``<catalogue>_mass``/``_age_gyr`` (and ``_err``) columns, as from
            :func:`read_seismic_catalogues`.
        reference: Catalogue compared against for sources without errors.
        min_overlap: Fewest shared stars for the scatter estimate (NaN below).

    Returns:
        DataFrame indexed by ``(quantity, catalogue)`` with ``fraction``, ``method``, ``n_stars``,
        ``scatter``, ``reference_error``.

    Example:
        >>> fill = measure_fill_errors(read_seismic_catalogues())
        >>> fill.loc[("age", "apokasc705"), "method"]
        'scatter_vs_apokasc2'
    """
    rows = []
    for quantity, preference, suffix in (("mass", MASS_PREFERENCE, "mass"), ("age", AGE_PREFERENCE, "age_gyr")):
        for source in preference:
            value, error = f"{source}_{suffix}", f"{source}_{quantity}_err"
            row = {"quantity": quantity, "catalogue": source, "fraction": np.nan, "method": "",
                   "n_stars": 0, "scatter": np.nan, "reference_error": np.nan}
            if value not in catalogues:
                rows.append(row)
                continue
            own = _fractional(catalogues, value, error) if error in catalogues else pd.Series(dtype=float)
            if len(own):
                row.update(fraction=float(own.median()), method="median_fractional_error", n_stars=len(own))
            else:
                ref_value, ref_error = f"{reference}_{suffix}", f"{reference}_{quantity}_err"
                both = catalogues[value].notna() & catalogues[ref_value].notna()
                shared = catalogues[both]
                if len(shared) >= min_overlap:
                    scatter = _mad_std(np.log(shared[value] / shared[ref_value])) / np.sqrt(2.0)
                    ref = _fractional(shared, ref_value, ref_error).median()
                    row.update(fraction=float(np.nanmax([scatter, ref])), method=f"scatter_vs_{reference}",
                               n_stars=len(shared), scatter=scatter, reference_error=float(ref))
            rows.append(row)
    return pd.DataFrame(rows).set_index(["quantity", "catalogue"])


def seismic_consensus(frame: pd.DataFrame, fill_errors: pd.DataFrame | None = None) -> pd.DataFrame:
    """Add the consensus truth columns, choosing per star the first valid source in the preference order.

    - ``mass`` from :data:`MASS_PREFERENCE` (APOKASC-2 > Miglio+2021 > APOKASC-3 > Montalbán+2021 >
      CoRoT > K2); ``age_gyr`` from :data:`AGE_PREFERENCE` (APOKASC-2 > Miglio+2021 > Montalbán+2021 >
      APOKASC-3 v7.0.5 > CoRoT > K2). ``mass_source``/``age_source`` name the catalogue (``""``: none).
    - ``mass_err``/``age_err``: the chosen catalogue's error for that star (``*_err_source`` =
      ``"catalogue"``); where it has none, ``fraction x value`` from ``fill_errors`` and ``*_err_source``
      = that row's method (``median_fractional_error`` or ``scatter_vs_apokasc2``).
    - ``evolutionary_state``: the first non-empty state in the order of :data:`STATE_COLUMNS`
      (APOKASC-2, Miglio+2021, APOKASC-3, CoRoT); ``""`` when none.

    Mass and age may come from different catalogues; values outside the ranges were already removed.

    Args:
        frame: Table with any of the ``<catalogue>_mass``, ``_mass_err``, ``_age_gyr``, ``_age_err`` and
            state columns (missing columns count as missing values).
        fill_errors: Output of :func:`measure_fill_errors`; default: measured on ``frame`` itself.

    Returns:
        A copy of ``frame`` with the consensus columns added (replaced if present).

    Example:
        >>> toy = pd.DataFrame({"apokasc2_mass": [np.nan, 1.2], "apokasc2_mass_err": [np.nan, 0.1],
        ...                     "miglio21_mass": [1.5, 1.3], "miglio21_mass_err": [0.05, 0.05]})
        >>> seismic_consensus(toy)[["mass", "mass_source"]].values.tolist()
        [[1.5, 'miglio21'], [1.2, 'apokasc2']]
    """
    out = frame.copy()
    if fill_errors is None:
        fill_errors = measure_fill_errors(out)
    n = len(out)
    for quantity, preference, suffix, value_name in (("mass", MASS_PREFERENCE, "mass", "mass"),
                                                     ("age", AGE_PREFERENCE, "age_gyr", "age_gyr")):
        value = np.full(n, np.nan)
        error = np.full(n, np.nan)
        source = np.full(n, "", dtype=object)
        error_source = np.full(n, "", dtype=object)
        for name in preference:
            column = f"{name}_{suffix}"
            if column not in out:
                continue
            candidate = pd.to_numeric(out[column], errors="coerce").to_numpy(float)
            take = np.isnan(value) & np.isfinite(candidate)
            if not take.any():
                continue
            value[take] = candidate[take]
            source[take] = name
            err_column = f"{name}_{quantity}_err"
            own = (pd.to_numeric(out[err_column], errors="coerce").to_numpy(float) if err_column in out
                   else np.full(n, np.nan))
            has_own = take & np.isfinite(own) & (own > 0)
            error[has_own] = own[has_own]
            error_source[has_own] = "catalogue"
            lacks = take & ~has_own
            if lacks.any() and (quantity, name) in fill_errors.index:
                fraction = float(fill_errors.loc[(quantity, name), "fraction"])
                if np.isfinite(fraction):
                    error[lacks] = fraction * candidate[lacks]
                    error_source[lacks] = str(fill_errors.loc[(quantity, name), "method"])
        out[value_name] = value
        out[f"{quantity}_err"] = error
        out[f"{quantity}_source"] = source
        out[f"{quantity}_err_source"] = error_source
    state = np.full(n, "", dtype=object)
    for column in STATE_COLUMNS.values():
        if column in out:
            candidate = normalise_state(out[column].to_numpy(dtype=object))
            take = (state == "") & (candidate != "")
            state[take] = candidate[take]
    out["evolutionary_state"] = state
    return out


def cleaning_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-catalogue cleaning counts a reader left in ``frame.attrs["cleaning"]``, as a table.

    Args:
        frame: Output of a catalogue reader, :func:`read_seismic_catalogues` or :func:`read_seismic_dev`.

    Returns:
        One row per catalogue: rows read and kept, sentinel values, masses and ages out of range,
        non-positive errors, duplicates dropped (and reader-specific counts).

    Example:
        >>> int(cleaning_summary(read_apokasc705())["age_out_of_range"].iloc[0])
        336
    """
    return pd.DataFrame(frame.attrs.get("cleaning", [])).fillna(0)


# ----------------------------------------------------------------------------------------------------
# the development set
# ----------------------------------------------------------------------------------------------------
_DEV_STATE_NUMERIC = {"miglio21_evstate": {1: "RGB", 2: "RC"}}


def read_seismic_dev(path: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
                     catalogues: pd.DataFrame | None = None) -> pd.DataFrame:
    """``xp_seismic_dev.csv`` (library stars with a seismic age) cleaned and with the consensus columns.

    The csv's columns keep their names and values, cleaned like the catalogues: -9999 -> NaN, masses and
    ages outside the ranges -> NaN, states normalised (``miglio21_evstate`` 1/2 -> RGB/RC). Three fixes
    are applied and counted in ``attrs["cleaning"]``:

    - ``apokasc2_age_err`` in the csv is the VAC's ``Age_err``, which is not in Gyr; it is replaced by the
      Gyr error of :func:`read_apokasc2` (NaN where that has none).
    - An empty ``apokasc2_es`` (-9999 in the csv) takes the state :func:`read_apokasc2` fills in from the
      ages file.
    - Columns the csv lacks (the other catalogues' errors, labels, states) are taken from
      :func:`read_seismic_catalogues`, row by row, matching on KIC (``kic``, else ``kic_jt``), then
      APOGEE_ID, then Gaia source_id.

    The consensus is then computed by :func:`seismic_consensus` with the fill-in errors measured on the
    full catalogues, so a dev star gets the same truth as in the merged table. ``gaia_source_id`` (=
    ``gaiaedr3_source_id``) is added. Two stars appear twice (repeated library rows); both rows are kept.

    Args:
        path: The csv (default ``<data_dir>/xp_seismic_dev.csv``).
        data_dir: Folder holding ``seismic/`` and the csv.
        catalogues: :func:`read_seismic_catalogues` output, if already read (saves ~1 s).

    Returns:
        One row per csv row, ``xp_row`` first.

    Raises:
        InputFileError: Missing, unreadable file, or no ``xp_row``/``apogee_id`` column.

    Example:
        >>> dev = read_seismic_dev()
        >>> len(dev), int(dev["age_gyr"].notna().sum())
        (179, 164)
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    path = Path(path) if path is not None else folder / "xp_seismic_dev.csv"
    if not path.is_file():
        raise InputFileError(path, "file does not exist")
    check_text_complete(path)
    try:
        dev = pd.read_csv(path, dtype={"apogee_id": str, "apokasc2_es": str, "apokasc3_es": str})
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise InputFileError(path, f"cannot be read as csv ({exc})") from exc
    if dev.empty:
        raise InputFileError(path, "table has no rows")
    for column in ("xp_row", "apogee_id"):
        if column not in dev:
            raise InputFileError(path, "required column is missing", column=column)
    dev["apogee_id"] = dev["apogee_id"].fillna("").str.strip()
    for column in ("kic", "kic_jt", "gaiaedr3_source_id"):
        if column in dev:
            dev[column] = _int64(dev[column].to_numpy())
    if "gaiaedr3_source_id" in dev:
        dev["gaia_source_id"] = dev["gaiaedr3_source_id"]
    for column in dev.columns:
        if column.endswith(("_es", "_evstate")):
            dev[column] = normalise_state(dev[column].to_numpy(dtype=object), numeric=_DEV_STATE_NUMERIC.get(column))
    cleaner = _Cleaner("xp_seismic_dev", path, len(dev))
    cleaner.sentinels(dev)
    for name in CATALOGUES:
        cleaner.name = name
        cleaner.ranges(dev)
    cleaner.name = "xp_seismic_dev"

    merged = read_seismic_catalogues(folder) if catalogues is None else catalogues
    by_kic = {int(k): i for i, k in merged["kic"].items() if pd.notna(k)}
    by_apogee = {a: i for i, a in merged["apogee_id"].items() if a}
    by_gaia = {int(g): i for i, g in merged["gaia_source_id"].items() if pd.notna(g)}
    rows = []
    for _, star in dev.iterrows():
        found = None
        for column in ("kic", "kic_jt"):
            if found is None and column in dev and pd.notna(star[column]):
                found = by_kic.get(int(star[column]))
        if found is None and star["apogee_id"]:
            found = by_apogee.get(star["apogee_id"])
        if found is None and "gaia_source_id" in dev and pd.notna(star["gaia_source_id"]):
            found = by_gaia.get(int(star["gaia_source_id"]))
        rows.append(found)
    located = np.array([r is not None for r in rows], dtype=bool)
    index = [r if r is not None else 0 for r in rows]
    consensus = {"mass", "mass_err", "mass_source", "mass_err_source", "age_gyr", "age_err", "age_source",
                 "age_err_source", "evolutionary_state"}
    catalogue_columns = [c for c in merged.columns if c not in dev.columns and c not in consensus
                         and c not in ID_COLUMNS]
    taken = merged.loc[index, catalogue_columns].reset_index(drop=True)
    taken.loc[~located] = np.nan
    dev = pd.concat([dev.reset_index(drop=True), taken], axis=1)
    if "apokasc2_age_err" in dev:
        fixed = merged.loc[index, "apokasc2_age_err"].to_numpy(float, copy=True)
        fixed[~located] = np.nan
        fixed[dev["apokasc2_age_gyr"].isna().to_numpy()] = np.nan
        cleaner.counts["apokasc2_age_err_replaced"] = int(dev["apokasc2_age_err"].notna().sum())
        dev["apokasc2_age_err"] = fixed
    if "apokasc2_es" in dev:
        from_reader = merged.loc[index, "apokasc2_es"].fillna("").to_numpy(dtype=object)
        fill_state = located & (dev["apokasc2_es"].to_numpy(dtype=object) == "") & (from_reader != "")
        dev.loc[fill_state, "apokasc2_es"] = from_reader[fill_state]
        cleaner.counts["state_from_ages_file"] = int(fill_state.sum())
    cleaner.counts["rows_not_in_catalogues"] = int((~located).sum())
    for name in CATALOGUES:
        flag = f"in_{name}"
        if flag in dev:
            dev[flag] = dev[flag].astype("boolean").fillna(False).astype(bool)
    fill = pd.DataFrame(merged.attrs["fill_errors"]).set_index(["quantity", "catalogue"])
    dev = seismic_consensus(dev, fill_errors=fill)
    dev = cleaner.finish(dev)
    dev.attrs["fill_errors"] = merged.attrs["fill_errors"]
    return dev
