"""APOGEE DR17 DistMass (Stone-Martinez et al. 2024): neural-network masses and isochrone ages per spectrum.

``APOGEE_DistMass-DR17_v1.6.1.fits`` has one row per DR17 allStar spectrum (733,901 rows); masses come
from a network on Teff, logg, [M/H], [C/Fe], [N/Fe] trained on APOKASC (plus isochrone masses for dwarfs);
ages (396,548 giants) from the mass via isochrones, in **years**, several ``AGE_*`` variants; ``AGE_ERR``
in **dex**. The file is not reachable here; :func:`read_distmass` is tested on ``tests/data/distmass_small.fits``,
written with the schema below by ``tests/data/make_distmass_fixture.py``.

Where the column names come from (the SDSS datamodel page itself was not in the searchable corpus):

- Two public analysis scripts that open ``APOGEE_DistMass-DR17_v1.6.1.fits`` use ``APOGEE_ID``, ``TEFF``,
  ``LOGG``, ``WEIGHTED_DIST``, ``WEIGHTED_DIST_ERR``, ``BITMASK``, ``AGE_ERR`` and the age columns
  ``AGE_COR_SS``, ``AGE_UNCOR_SS``, ``AGE_COR_MO``, ``AGE_UNCOR_MO``, ``AGE_COR_TW``, ``AGE_UNCOR_TW``
  (both divide ages by 1e9 for Gyr). One reads ``AGE_ERR`` as a ``(N, 2)`` column ``[+dex, -dex]``
  (``+ > 0``, ``- < 0``) and cites the paper's Table 3 for ``BITMASK`` value 2 = "outside covered
  parameter space"; the other treats it as one number per row. Both layouts are accepted here.
- A public draft of the catalogue-building script (GitHub code search; it writes
  ``APOGEE_DistMass-DR17.fits``) names ``MASS``, ``MASS_ERR`` (float64) and builds ``BITMASK`` (int64) as
  ``trained | bounded | source``: 1 = star in the distance training set, 2 = outside the Teff/logg/[M/H]
  region the networks cover, 4 / 8 / 16 = star in the mass training set, from training source 0 / 1 / 2.
- ``TELESCOPE``, ``FIELD`` (and ``GAIAEDR3_SOURCE_ID``) are the row identifiers of DR17 allStar, with which
  the file is row-aligned (733,901 rows); they are read when present and are not required.

Output (:func:`read_distmass`): ``apogee_id, telescope, field, gaia_source_id, distmass_mass,
distmass_mass_err`` [Msun], ``distmass_age_gyr, distmass_age_err`` [Gyr], ``distmass_log_age`` [log10 yr],
``distmass_log_age_err`` [dex], ``bitmask`` and the flags ``distmass_in_distance_training``,
``distmass_outside_training_space``, ``distmass_in_mass_training``, ``distmass_mass_training_source``
(0, 1, 2; -1 = not in it), plus the input labels ``distmass_teff, _logg, _m_h, _c_fe, _n_fe`` where present.

Age error in Gyr from dex: with ``age`` in Gyr and ``AGE_ERR = [+a, -b]`` (``a, b > 0``),
``age_err = age * (10**a - 10**-b) / 2`` (half the 1-sigma interval) and ``log_age_err = (a + b) / 2``.
For a symmetric error ``e`` this is ``age * sinh(e ln 10)``, inverted exactly by
:func:`age_err_to_log_age_err`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits
from astropy.utils.exceptions import AstropyUserWarning

from bayesxp.errors import InputFileError
from bayesxp.io.columns import MISSING_SENTINELS, decoded_strings, native_byte_order
from bayesxp.io.tables import require_input_file

__all__ = [
    "read_distmass",
    "log_age_err_to_age_err",
    "age_err_to_log_age_err",
    "AGE_COLUMNS",
    "REQUIRED_COLUMNS",
    "BITMASK_BITS",
]

#: Age columns in the order the default one is chosen (years).
AGE_COLUMNS = ("AGE_COR_SS", "AGE_UNCOR_SS", "AGE_COR_MO", "AGE_UNCOR_MO", "AGE_COR_TW", "AGE_UNCOR_TW", "AGE")
#: Columns without which the file is refused (plus one of :data:`AGE_COLUMNS`).
REQUIRED_COLUMNS = ("APOGEE_ID", "MASS", "MASS_ERR", "AGE_ERR", "BITMASK")
#: BITMASK bit -> meaning (from the catalogue-building script; see the module docstring).
BITMASK_BITS = {
    0: "in the distance training set",
    1: "outside the parameter space covered by the training sets",
    2: "in the mass training set (source 0)",
    3: "in the mass training set (source 1)",
    4: "in the mass training set (source 2)",
}
_OPTIONAL = {"TELESCOPE": "telescope", "FIELD": "field", "GAIAEDR3_SOURCE_ID": "gaia_source_id",
             "TEFF": "distmass_teff", "LOGG": "distmass_logg", "M_H": "distmass_m_h", "C_FE": "distmass_c_fe",
             "N_FE": "distmass_n_fe"}


def log_age_err_to_age_err(age_gyr: np.ndarray, plus_dex: np.ndarray,
                           minus_dex: np.ndarray | None = None) -> np.ndarray:
    """Age error in Gyr from a log-age error in dex: half the width of the 1-sigma interval.

    Args:
        age_gyr: Ages [Gyr].
        plus_dex: Upper error [dex], positive.
        minus_dex: Lower error [dex]; sign ignored (default: ``plus_dex``, symmetric).

    Returns:
        ``age * (10**plus - 10**-|minus|) / 2`` [Gyr].

    Example:
        >>> float(np.round(log_age_err_to_age_err(10.0, 0.1), 3))
        2.323
    """
    age = np.asarray(age_gyr, float)
    plus = np.abs(np.asarray(plus_dex, float))
    minus = plus if minus_dex is None else np.abs(np.asarray(minus_dex, float))
    return age * (10.0**plus - 10.0**-minus) / 2.0


def age_err_to_log_age_err(age_gyr: np.ndarray, age_err_gyr: np.ndarray) -> np.ndarray:
    """Symmetric log-age error [dex] from an age error [Gyr]: the inverse of :func:`log_age_err_to_age_err`.

    Args:
        age_gyr: Ages [Gyr].
        age_err_gyr: Errors [Gyr].

    Returns:
        ``asinh(err / age) / ln 10`` [dex].

    Example:
        >>> float(np.round(age_err_to_log_age_err(10.0, log_age_err_to_age_err(10.0, 0.1)), 12))
        0.1
    """
    return np.arcsinh(np.asarray(age_err_gyr, float) / np.asarray(age_gyr, float)) / np.log(10.0)


def _floats(values: np.ndarray) -> np.ndarray:
    """Native float64, the catalogue's -9999 / -999 as NaN."""
    out = native_byte_order(values).astype(np.float64)
    out[np.isin(out, MISSING_SENTINELS)] = np.nan
    return out


def _table_hdu(hdul: fits.HDUList, path: Path) -> fits.BinTableHDU:
    for hdu in hdul[1:]:
        if isinstance(hdu, fits.BinTableHDU):
            return hdu
    raise InputFileError(path, "has no binary table extension")


def read_distmass(path: str | os.PathLike, age_column: str | None = None,
                  deduplicate: bool = True) -> pd.DataFrame:
    """Read the DistMass VAC, only the columns needed, memory-mapped (the 733,901-row file in seconds).

    Args:
        path: ``APOGEE_DistMass-DR17_v1.6.1.fits`` (or a file with its schema).
        age_column: Which ``AGE_*`` column [yr] to use; default the first present in :data:`AGE_COLUMNS`.
            The choice is kept in ``attrs["age_column"]``.
        deduplicate: Keep one row per APOGEE_ID (the file has one row per spectrum, so stars observed
            from two telescopes appear twice): the row with the smallest ``MASS_ERR`` (NaN last), then the
            first. The number dropped is ``attrs["duplicates_dropped"]``.

    Returns:
        The columns listed in the module docstring, native dtypes, NaN for missing (-9999) values.

    Raises:
        InputFileError: Missing, empty, truncated or non-FITS file; no table; a required column missing
            (naming it); ``AGE_ERR`` of an unexpected shape.

    Example:
        >>> from pathlib import Path
        >>> fixture = Path("tests/data/distmass_small.fits")
        >>> dm = read_distmass(fixture) if fixture.exists() else None
        >>> dm is None or bool((dm["distmass_mass"] > 0).all())
        True
    """
    path = Path(path)
    require_input_file(path)
    try:
        with warnings.catch_warnings():
            # astropy only *warns* about a short file or a broken header; those must not read as a shorter
            # catalogue, while other, harmless astropy warnings are left alone
            for pattern in (".*truncated.*", ".*validating header.*", ".*END card.*"):
                warnings.filterwarnings("error", message=pattern, category=AstropyUserWarning)
            with fits.open(path, memmap=not path.name.endswith(".gz"), lazy_load_hdus=True) as hdul:
                hdu = _table_hdu(hdul, path)
                names = list(hdu.columns.names)
                upper = {n.upper(): n for n in names}
                for column in REQUIRED_COLUMNS:
                    if column not in upper:
                        raise InputFileError(path, f"required column is missing (have: {', '.join(names)})",
                                             column=column)
                if age_column is None:
                    age_column = next((c for c in AGE_COLUMNS if c in upper), None)
                    if age_column is None:
                        raise InputFileError(path, f"no age column (looked for {', '.join(AGE_COLUMNS)})",
                                             column=AGE_COLUMNS[0])
                elif age_column.upper() not in upper:
                    raise InputFileError(path, "requested age column is missing", column=age_column)
                n_rows = hdu.header.get("NAXIS2", 0)
                if n_rows == 0:
                    raise InputFileError(path, "table has no rows")
                data = hdu.data
                raw = {c: np.array(data[upper[c]]) for c in (*REQUIRED_COLUMNS, age_column.upper())}
                optional = {name: np.array(data[upper[column]]) for column, name in _OPTIONAL.items() if column in upper}
    except InputFileError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError, AstropyUserWarning) as exc:
        raise InputFileError(path, f"cannot be read as FITS ({type(exc).__name__}: {exc})") from exc

    age_gyr = _floats(raw[age_column.upper()]) / 1e9
    age_gyr[~(age_gyr > 0)] = np.nan
    age_err = _floats(raw["AGE_ERR"])
    if age_err.ndim == 1:
        plus = minus = np.abs(age_err)
    elif age_err.ndim == 2 and age_err.shape[1] == 2:
        plus, minus = np.abs(age_err[:, 0]), np.abs(age_err[:, 1])
    else:
        raise InputFileError(path, f"AGE_ERR has shape {age_err.shape}; expected (N,) or (N, 2) [dex]",
                             column="AGE_ERR")
    bitmask = native_byte_order(raw["BITMASK"]).astype(np.int64)
    frame = pd.DataFrame({
        "apogee_id": decoded_strings(raw["APOGEE_ID"]),
        "telescope": decoded_strings(optional.pop("telescope")) if "telescope" in optional else "",
        "field": decoded_strings(optional.pop("field")) if "field" in optional else "",
    })
    if "gaia_source_id" in optional:
        ids = native_byte_order(optional.pop("gaia_source_id")).astype(np.int64)
        frame["gaia_source_id"] = pd.arrays.IntegerArray(ids, ids <= 0)
    frame["distmass_mass"] = _floats(raw["MASS"])
    frame["distmass_mass_err"] = _floats(raw["MASS_ERR"])
    frame["distmass_age_gyr"] = age_gyr
    frame["distmass_age_err"] = log_age_err_to_age_err(age_gyr, plus, minus)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["distmass_log_age"] = np.log10(age_gyr * 1e9)
    frame["distmass_log_age_err"] = np.where(np.isfinite(age_gyr), (plus + minus) / 2.0, np.nan)
    frame["bitmask"] = bitmask
    frame["distmass_in_distance_training"] = (bitmask & 1) != 0
    frame["distmass_outside_training_space"] = (bitmask & 2) != 0
    frame["distmass_in_mass_training"] = (bitmask & (4 | 8 | 16)) != 0
    frame["distmass_mass_training_source"] = np.select(
        [(bitmask & 4) != 0, (bitmask & 8) != 0, (bitmask & 16) != 0], [0, 1, 2], default=-1)
    for name, values in optional.items():
        frame[name] = _floats(values)
    for column in ("distmass_mass_err", "distmass_age_err", "distmass_log_age_err"):
        frame.loc[~(frame[column] > 0), column] = np.nan

    dropped = 0
    if deduplicate:
        order = frame.assign(_err=frame["distmass_mass_err"], _row=np.arange(len(frame)))
        order = order.sort_values(["_err", "_row"], na_position="last", kind="stable")
        has_id = order["apogee_id"] != ""
        kept = pd.concat([order[has_id].drop_duplicates("apogee_id", keep="first"), order[~has_id]])
        dropped = len(frame) - len(kept)
        frame = kept.sort_values("_row").drop(columns=["_err", "_row"]).reset_index(drop=True)
    frame.attrs = {"file": str(path), "rows_read": int(n_rows), "age_column": age_column.upper(),
                   "duplicates_dropped": int(dropped)}
    return frame

