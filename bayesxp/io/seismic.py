"""The asteroseismic mass and age catalogues of ``seismic/`` as published, one reader each.

Every reader returns a :class:`pandas.DataFrame` with native dtypes and lower-case names that follow
``xp_seismic_dev.csv``: ``<catalogue>_mass``, ``<catalogue>_mass_err`` [Msun], ``<catalogue>_age_gyr``,
``<catalogue>_age_err`` [Gyr], the evolutionary state as ``"RGB"``, ``"RC"`` or ``""``, and the identifiers
``apogee_id`` (stripped str), ``kic``, ``gaia_source_id``, ``epic``, ``corot_id`` (``Int64``).

Parsing, the same for every catalogue: ``-9999`` and ``-999`` are missing values (NaN; ``""`` for
strings), counted in ``frame.attrs["cleaning"]`` (see :func:`cleaning_summary`); HDF5/FITS big-endian
values become native; byte strings are decoded and stripped. Every row of the file is kept: which values
count as valid (the 0.5-4 Msun and 0.1-20 Gyr ranges, positive errors, one row per repeated id) and which
catalogue counts as truth are decided in :mod:`bayesxp.labels.seismic_truth`.

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
  **no errors** and runaway ages up to ~80 Gyr.
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

:func:`read_catalogue` reads one by its short name, :func:`read_kic_apogee_map` joins KIC to APOGEE_ID
and :func:`read_seismic_dev_csv` reads ``xp_seismic_dev.csv`` (library stars with a seismic age).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.table import Table

from bayesxp.errors import InputFileError
from bayesxp.io.columns import MISSING_SENTINELS, decoded_strings, native_byte_order, nullable_int64
from bayesxp.io.tables import check_text_complete, read_table, require_columns, require_input_file
from bayesxp.paths import data_dir as default_data_dir

__all__ = [
    "CATALOGUES",
    "CATALOGUE_KEYS",
    "ID_COLUMNS",
    "seismic_file",
    "read_apokasc2",
    "read_apokasc705",
    "read_apokasc3",
    "read_miglio21",
    "read_montalban21",
    "read_corot",
    "read_k2galah",
    "read_catalogue",
    "read_kic_apogee_map",
    "read_seismic_dev_csv",
    "normalise_state",
    "cleaning_summary",
]

#: Catalogue short names, in the order they are merged.
CATALOGUES = ("apokasc2", "apokasc705", "apokasc3", "miglio21", "montalban21", "corot", "k2galah")
#: The identifier each catalogue is keyed by (one row per value in the published file).
CATALOGUE_KEYS = {"apokasc2": "kic", "apokasc705": "kic", "apokasc3": "kic", "miglio21": "kic",
                  "montalban21": "kic", "corot": "apogee_id", "k2galah": "epic"}
#: Identifier columns of the catalogues.
ID_COLUMNS = ("apogee_id", "kic", "gaia_source_id", "epic", "corot_id")

_SENTINEL_TEXT = ["-9999", "-9999.0", "-999", "-999.0"]
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
_DEV_STATE_NUMERIC = {"miglio21_evstate": {1: "RGB", 2: "RC"}}


# ----------------------------------------------------------------------------------------------------
# low-level helpers
# ----------------------------------------------------------------------------------------------------
def seismic_file(key: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The path of a catalogue's file.

    Args:
        key: A catalogue short name, or ``"apokasc2_ages"`` / ``"apokasc3_rgb"`` for the companion files.
        data_dir: Folder holding ``seismic/`` (default :func:`bayesxp.paths.data_dir`).

    Returns:
        ``<data_dir>/seismic/<file>``.

    Example:
        >>> seismic_file("miglio21", "/data").as_posix()
        '/data/seismic/kepler_apogee_miglio2021.fit'
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    return folder / "seismic" / _FILES[key]


def _table_column(table: Table, name: str) -> np.ndarray | pd.arrays.IntegerArray:
    """One astropy column as a pandas-ready array: floats (masked -> NaN), Int64 where masked, strings."""
    column = table[name]
    data = np.asarray(column)
    mask = np.ma.getmaskarray(column) if getattr(column, "mask", None) is not None else None
    kind = data.dtype.kind
    if kind in "SU":
        return decoded_strings(data, mask)
    if kind == "f":
        out = native_byte_order(data).astype(np.float64)
        if mask is not None and mask.any():
            out = np.where(mask, np.nan, out)
        return out
    if kind in "iu":
        if mask is not None and mask.any():
            return nullable_int64(np.ma.MaskedArray(data, mask))
        return native_byte_order(data)
    if kind == "b":
        return data.astype(bool)
    return data


def _read_fits(path: Path, mapping: Mapping[str, str]) -> pd.DataFrame:
    """Only the named columns of the first FITS table, renamed, native dtypes, ``TNULL`` integers as ``Int64``.

    Raises:
        InputFileError: Missing, empty or unreadable file, no table, no rows, or a missing column (named).
    """
    require_input_file(path)
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
            for source, target in mapping.items():
                values = np.array(data[source])
                null = hdu.columns[source].null
                if values.dtype.kind in "SU":
                    out[target] = decoded_strings(values)
                elif values.dtype.kind in "iu" and null is not None:
                    out[target] = nullable_int64(np.ma.MaskedArray(values, values == int(null)))
                else:
                    out[target] = native_byte_order(values)
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
    require_input_file(path)
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
            out[name] = decoded_strings(values) if values.dtype.kind in "SU" else native_byte_order(values)
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


def _replace_sentinels(frame: pd.DataFrame) -> int:
    """-9999 and -999 become NaN (floats) or ``""`` (strings), in place; returns how many were replaced."""
    n = 0
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values):
            hit = values.isin(MISSING_SENTINELS)
            n += int(hit.sum())
            frame.loc[hit, column] = np.nan
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            hit = values.astype(str).str.strip().isin(_SENTINEL_TEXT)
            n += int(hit.sum())
            frame.loc[hit, column] = ""
    return n


def _parsed(name: str, frame: pd.DataFrame, path: Path | Sequence[Path],
            extra: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Replace the sentinels of a catalogue just read and record the counts in ``attrs["cleaning"]``."""
    paths = [path] if isinstance(path, Path) else list(path)
    record: dict[str, object] = {"catalogue": name, "file": ", ".join(p.name for p in paths),
                                 "rows_read": len(frame)}
    record["sentinel_values"] = _replace_sentinels(frame)
    record.update(extra or {})
    frame = frame.reset_index(drop=True)
    frame.attrs["cleaning"] = [record]
    return frame


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
    vac_path = seismic_file("apokasc2", data_dir)
    ages_path = seismic_file("apokasc2_ages", data_dir)
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
    frame["kic"] = nullable_int64(raw["KIC"])
    ages = _read_h5_columns(ages_path, ["KIC", "Age", "Age_err", "ES"])
    ages_frame = pd.DataFrame({"kic": nullable_int64(ages["KIC"]), "_age_err": ages["Age_err"].astype(float),
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
    return _parsed("apokasc2", frame, [vac_path, ages_path], extra=extra)


def read_apokasc705(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """APOKASC-3 v7.0.5 ages (``AGE_JT``) for 11,672 Kepler giants; the file carries no age errors.

    The file has unphysical runaway ages (up to ~80 Gyr), kept here; the missing errors are filled at
    consensus time (see :mod:`bayesxp.labels.seismic_truth`).

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``apogee_id, kic, apokasc705_age_gyr``.

    Example:
        >>> len(read_apokasc705())
        11672
    """
    path = seismic_file("apokasc705", data_dir)
    frame = _read_fits(path, {"APOGEE_ID": "apogee_id", "KEPLER_ID": "kic", "AGE_JT": "apokasc705_age_gyr"})
    frame["kic"] = nullable_int64(frame["kic"].to_numpy())
    return _parsed("apokasc705", frame, path)


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
    path = seismic_file("apokasc3" if sample == "RGB+RC" else "apokasc3_rgb", data_dir)
    table = read_table(path)
    mapping = {"KIC": "kic"}
    if sample == "RGB+RC":
        mapping["Evol_State"] = "apokasc3_es"
    for column, name in (("Mass", "mass"), ("Radius", "radius"), ("Logg_Seis", "logg_seis"), ("Teff", "teff"),
                     ("[Fe/H]", "fe_h"), ("[Alp/Fe]", "alpha_fe"), ("[C/Fe]", "c_fe"), ("[N/Fe]", "n_fe"),
                     ("[C/N]", "c_n")):
        mapping[column] = f"apokasc3_{name}"
        mapping[f"S_{column}"] = f"apokasc3_{name}_err"
    frame = _frame_from_table(table, mapping, path)
    frame["kic"] = nullable_int64(frame["kic"].to_numpy())
    if sample == "RGB":
        frame.insert(1, "apokasc3_es", np.full(len(frame), "RGB", dtype=object))
    else:
        frame["apokasc3_es"] = normalise_state(frame["apokasc3_es"])
    for column in frame.columns[2:]:
        frame[column] = frame[column].astype(np.float64)
    return _parsed("apokasc3" if sample == "RGB+RC" else "apokasc3_rgb", frame, path)


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
    path = seismic_file("miglio21", data_dir)
    raw = _read_fits(path, {
        "APOGEE": "apogee_id", "KIC": "kic", "Mass": "mass", "b_Mass": "mass_lo", "b_mass_lc": "mass_hi",
        "Age": "age", "b_Age": "age_lo", "b_age_lc": "age_hi", "evstate": "evstate",
        "__Fe_H_": "fe_h", "__alpha_M_": "alpha_m"})
    frame = pd.DataFrame({
        "apogee_id": raw["apogee_id"], "kic": nullable_int64(raw["kic"].to_numpy()),
        "miglio21_mass": raw["mass"].astype(float), "miglio21_mass_err": _half_width(raw["mass_lo"], raw["mass_hi"]),
        "miglio21_age_gyr": raw["age"].astype(float), "miglio21_age_err": _half_width(raw["age_lo"], raw["age_hi"]),
        "miglio21_evstate": normalise_state(raw["evstate"].to_numpy(), numeric={1: "RGB", 2: "RC"}),
        "miglio21_fe_h": raw["fe_h"].astype(float), "miglio21_alpha_m": raw["alpha_m"].astype(float),
    })
    return _parsed("miglio21", frame, path)


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
    path = seismic_file("montalban21", data_dir)
    labels = {f"{label}{suffix}": f"montalban21_{label.lower()}{suffix.lower()}"
              for label in ("TEFF", "LOGG", "M_H", "FE_H", "ALPHA_M") for suffix in ("", "_ERR")}
    raw = _read_fits(path, {
        "APOGEE_ID": "apogee_id", "KIC": "kic", "GAIAEDR3_SOURCE_ID": "gaia_source_id",
        "mass_16": "m16", "mass": "mass", "mass_84": "m84", "age_16": "a16", "age": "age", "age_84": "a84",
        "group": "montalban21_group", **labels})
    frame = pd.DataFrame({
        "apogee_id": raw["apogee_id"], "kic": nullable_int64(raw["kic"].to_numpy()),
        "gaia_source_id": nullable_int64(raw["gaia_source_id"]),
        "montalban21_mass": raw["mass"].astype(float), "montalban21_mass_err": _half_width(raw["m16"], raw["m84"]),
        "montalban21_age_gyr": raw["age"].astype(float),
        "montalban21_age_err": _half_width(raw["a16"], raw["a84"]),
        "montalban21_group": raw["montalban21_group"],
    })
    for column in labels.values():
        frame[column] = raw[column].astype(float)
    return _parsed("montalban21", frame, path)


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
    path = seismic_file("corot", data_dir)
    raw = _read_fits(path, {
        "APOGEE": "apogee_id", "CoRoT": "corot_id", "MassM": "mass", "MassM68L": "m_lo", "MassM68U": "m_hi",
        "AgeM": "age", "AgeM68L": "a_lo", "AgeM68U": "a_hi", "MassS": "mass_s", "evstat": "evstat",
        "Teff": "teff", "e_Teff": "teff_err", "logg": "logg", "e_logg": "logg_err", "__M_H_": "m_h",
        "e__M_H_": "m_h_err", "__alpha_M_": "alpha_m", "e__alpha_M_": "alpha_m_err"})
    frame = pd.DataFrame({
        "apogee_id": raw["apogee_id"], "corot_id": nullable_int64(raw["corot_id"]),
        "corot_mass": raw["mass"].astype(float), "corot_mass_err": _half_width(raw["m_lo"], raw["m_hi"]),
        "corot_age_gyr": raw["age"].astype(float), "corot_age_err": _half_width(raw["a_lo"], raw["a_hi"]),
        "corot_mass_scaling": raw["mass_s"].astype(float),
        "corot_evstate": normalise_state(raw["evstat"]),
    })
    for name in ("teff", "logg", "m_h", "alpha_m"):
        frame[f"corot_{name}"] = raw[name].astype(float)
        frame[f"corot_{name}_err"] = raw[f"{name}_err"].astype(float)
    return _parsed("corot", frame, path)


def read_k2galah(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """K2 giants with GALAH spectra (Zinn et al. 2022 K2 GAP x GALAH DR3): seismic masses, GALAH ages.

    ``k2galah_mass`` is ``mass50`` with error half the 16-84 width. The file's own age percentiles
    (``age05..age95``) are all -999 ("no ages"), so ``k2galah_age_gyr`` is its ``age`` column with
    ``e_age``: the GALAH-side age of the join, **not a seismic age**; it is last in
    :data:`bayesxp.labels.seismic_truth.AGE_PREFERENCE`. ``EDR3_source_id`` is a string column (30 rows empty) read exactly as Int64.

    Args:
        data_dir: Folder holding ``seismic/``.

    Returns:
        ``epic, gaia_source_id, k2galah_sobject_id, k2galah_mass(_err), k2galah_age_gyr,
        k2galah_age_err, k2galah_teff(_err), k2galah_fe_h(_err), k2galah_mg_fe(_err)``.

    Example:
        >>> len(read_k2galah())
        1339
    """
    path = seismic_file("k2galah", data_dir)
    raw = _read_fits(path, {
        "EPIC": "epic", "EDR3_source_id": "sid", "sobject_id_1": "sobject", "mass16": "m16", "mass50": "mass",
        "mass84": "m84", "age": "age", "e_age": "age_err", "Teff": "teff", "e_Teff": "teff_err", "FeH": "fe_h",
        "e_FeH": "fe_h_err", "MgFe": "mg_fe", "e_MgFe": "mg_fe_err"})
    frame = pd.DataFrame({
        "epic": nullable_int64(raw["epic"]), "gaia_source_id": nullable_int64(raw["sid"]),
        "k2galah_sobject_id": nullable_int64(raw["sobject"]),
        "k2galah_mass": raw["mass"].astype(float), "k2galah_mass_err": _half_width(raw["m16"], raw["m84"]),
        "k2galah_age_gyr": raw["age"].astype(float), "k2galah_age_err": raw["age_err"].astype(float),
    })
    for name in ("teff", "fe_h", "mg_fe"):
        frame[f"k2galah_{name}"] = raw[name].astype(float)
        frame[f"k2galah_{name}_err"] = raw[f"{name}_err"].astype(float)
    return _parsed("k2galah", frame, path)


_READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "apokasc2": read_apokasc2,
    "apokasc705": read_apokasc705,
    "apokasc3": read_apokasc3,
    "miglio21": read_miglio21,
    "montalban21": read_montalban21,
    "corot": read_corot,
    "k2galah": read_k2galah,
}


def read_catalogue(name: str, data_dir: str | os.PathLike | None = None, **options: object) -> pd.DataFrame:
    """Read one catalogue, as published, by its short name.

    Args:
        name: One of :data:`CATALOGUES`.
        data_dir: Folder holding ``seismic/``.
        **options: Passed to the reader (e.g. ``sample="RGB"`` for ``apokasc3``).

    Returns:
        The reader's frame (see the ``read_<name>`` functions).

    Raises:
        ValueError: An unknown name.

    Example:
        >>> len(read_catalogue("montalban21"))
        92
    """
    if name not in _READERS:
        raise ValueError(f"unknown seismic catalogue {name!r}; use one of {', '.join(CATALOGUES)}")
    return _READERS[name](data_dir, **options)


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
        raise InputFileError(seismic_file("apokasc705", data_dir), f"KIC {bad} maps to two APOGEE ids",
                             column="APOGEE_ID")
    return pairs.set_index("kic")["apogee_id"].rename("apogee_id")


def read_seismic_dev_csv(path: str | os.PathLike | None = None,
                         data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """``xp_seismic_dev.csv`` (library stars with a seismic age, one column per catalogue) as published.

    The csv's columns keep their names and values; -9999 becomes NaN (counted in ``attrs["cleaning"]``),
    ``apogee_id`` is stripped, ``kic``, ``kic_jt`` and ``gaiaedr3_source_id`` are read exactly as
    ``Int64``, ``gaia_source_id`` (= ``gaiaedr3_source_id``) is added and the states are normalised
    (``miglio21_evstate`` 1/2 -> RGB/RC). Two stars appear twice (repeated library rows); both rows are kept.

    Args:
        path: The csv (default ``<data_dir>/xp_seismic_dev.csv``).
        data_dir: Folder holding the csv (default :func:`bayesxp.paths.data_dir`).

    Returns:
        One row per csv row.

    Raises:
        InputFileError: Missing, empty, truncated or unreadable file, or no ``xp_row``/``apogee_id`` column.

    Example:
        >>> len(read_seismic_dev_csv())
        179
    """
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    path = Path(path) if path is not None else folder / "xp_seismic_dev.csv"
    require_input_file(path)
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
            dev[column] = nullable_int64(dev[column].to_numpy())
    if "gaiaedr3_source_id" in dev:
        dev["gaia_source_id"] = dev["gaiaedr3_source_id"]
    for column in dev.columns:
        if column.endswith(("_es", "_evstate")):
            dev[column] = normalise_state(dev[column].to_numpy(dtype=object), numeric=_DEV_STATE_NUMERIC.get(column))
    return _parsed("xp_seismic_dev", dev, path)


def cleaning_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-catalogue counts a reader (and the validity cuts) left in ``frame.attrs["cleaning"]``, as a table.

    Args:
        frame: Output of a catalogue reader, or of :mod:`bayesxp.labels.seismic_truth`.

    Returns:
        One row per catalogue: rows read, sentinel values (and, after the validity cuts, masses and ages out
        of range, non-positive errors, duplicates dropped, rows kept; reader-specific counts).

    Example:
        >>> int(cleaning_summary(read_apokasc705())["sentinel_values"].iloc[0])
        0
    """
    return pd.DataFrame(frame.attrs.get("cleaning", [])).fillna(0)
