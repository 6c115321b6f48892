"""The seismic truth: which catalogue values count as valid, and which catalogue counts as truth per star.

The readers of :mod:`bayesxp.io.seismic` return the catalogues as published; the decisions are made here,
each one named and tested:

- **Validity** (:func:`apply_validity_cuts`, the data README's caveat): a mass outside :data:`MASS_RANGE`
  (0.5-4 Msun) or an age outside :data:`AGE_RANGE` (0.1-20 Gyr) is missing, together with its error;
  errors that are not finite and positive are missing too; a catalogue id that repeats keeps the row with
  the smallest mass error (then the first row). None of the nine files has a repeated id today; the
  count is kept so that a new file version would show it. Counts land in ``frame.attrs["cleaning"]``
  (see :func:`bayesxp.io.seismic.cleaning_summary`).
- **Merge** (:func:`merge_seismic_catalogues`): one row per star, Kepler stars by KIC, CoRoT by
  APOGEE_ID, K2 by Gaia source_id.
- **Consensus** (:func:`seismic_consensus`): per star the first valid value in :data:`MASS_PREFERENCE`
  and :data:`AGE_PREFERENCE` (the README asks for APOKASC-2 / Miglio+2021 first), its error, or, where the
  chosen catalogue quotes none, a fractional error measured from the data (:func:`measure_fill_errors`);
  the columns ``mass, mass_err, mass_source, mass_err_source, age_gyr, age_err, age_source,
  age_err_source, evolutionary_state``.
- **Development set** (:func:`seismic_dev_consensus`): ``xp_seismic_dev.csv`` with the same cuts, fixes and
  consensus, so a dev star gets the same truth as in the merged table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayesxp.io.seismic import (
    CATALOGUE_KEYS,
    CATALOGUES,
    ID_COLUMNS,
    normalise_state,
    read_catalogue,
    read_seismic_dev_csv,
)

__all__ = [
    "MASS_RANGE",
    "AGE_RANGE",
    "MASS_PREFERENCE",
    "AGE_PREFERENCE",
    "STATE_COLUMNS",
    "apply_validity_cuts",
    "valid_catalogue",
    "merge_seismic_catalogues",
    "measure_fill_errors",
    "seismic_consensus",
    "seismic_dev_consensus",
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

_CONSENSUS_COLUMNS = ("mass", "mass_err", "mass_source", "mass_err_source", "age_gyr", "age_err", "age_source",
                      "age_err_source", "evolutionary_state")
_READ_COUNTS = ("catalogue", "file", "rows_read", "sentinel_values")
_VALIDITY_COUNTS = ("mass_out_of_range", "age_out_of_range", "bad_errors", "duplicates_dropped")


# ----------------------------------------------------------------------------------------------------
# validity
# ----------------------------------------------------------------------------------------------------
def _cut_ranges(frame: pd.DataFrame, catalogue: str, counts: dict[str, int]) -> None:
    """Masses and ages outside the ranges (and their errors), and errors not finite and positive -> NaN, in place."""
    for quantity, (low, high), key in (("mass", MASS_RANGE, "mass_out_of_range"),
                                       ("age_gyr", AGE_RANGE, "age_out_of_range")):
        column = f"{catalogue}_{quantity}"
        if column not in frame:
            continue
        error = f"{catalogue}_{'mass' if quantity == 'mass' else 'age'}_err"
        values = frame[column]
        out = values.notna() & ((values < low) | (values > high))
        counts[key] += int(out.sum())
        frame.loc[out, column] = np.nan
        if error in frame:
            frame.loc[out, error] = np.nan
    for column in frame.columns:
        if column.endswith("_err") and pd.api.types.is_float_dtype(frame[column]):
            values = frame[column]
            bad = values.notna() & ~((values > 0) & np.isfinite(values))
            counts["bad_errors"] += int(bad.sum())
            frame.loc[bad, column] = np.nan


def _deduplicate(frame: pd.DataFrame, catalogue: str, key: str, counts: dict[str, int]) -> pd.DataFrame:
    """Keep, per repeated ``key``, the row with the smallest mass error (then the first row)."""
    error = f"{catalogue}_mass_err"
    has_key = frame[key].notna() & (frame[key].astype(str) != "")
    keyed = frame[has_key]
    if not keyed[key].duplicated().any():
        return frame
    order = keyed.assign(_err=keyed[error] if error in keyed else 0.0, _row=np.arange(len(keyed)))
    order = order.sort_values(["_err", "_row"], na_position="last", kind="stable")
    kept = order.drop_duplicates(key, keep="first").sort_values("_row").drop(columns=["_err", "_row"])
    counts["duplicates_dropped"] += len(keyed) - len(kept)
    return pd.concat([kept, frame[~has_key]], ignore_index=True)


def _record(read: Mapping[str, object], counts: Mapping[str, int], rows_kept: int,
            extra: Mapping[str, int] | None = None) -> dict[str, object]:
    """The cleaning record: the reader's counts, the validity counts, rows kept, then reader and extra counts."""
    record = {key: read[key] for key in _READ_COUNTS}
    record.update(counts)
    record["rows_kept"] = rows_kept
    record.update({key: value for key, value in read.items() if key not in record})
    record.update(extra or {})
    return record


def _read_record(frame: pd.DataFrame, catalogue: str) -> dict[str, object]:
    records = frame.attrs.get("cleaning") or [{}]
    read = {"catalogue": catalogue, "file": "", "rows_read": len(frame), "sentinel_values": 0}
    read.update(records[0])
    return read


def apply_validity_cuts(frame: pd.DataFrame, catalogue: str) -> pd.DataFrame:
    """A catalogue as published with the validity rules applied (see the module docstring).

    Args:
        frame: A reader's output (:mod:`bayesxp.io.seismic`).
        catalogue: Its short name (the prefix of its columns), one of
            :data:`~bayesxp.io.seismic.CATALOGUES`.

    Returns:
        A cleaned copy; ``attrs["cleaning"]`` holds the reader's counts and the masses and ages out of
        range, non-positive errors, duplicates dropped and rows kept.

    Example:
        >>> toy = pd.DataFrame({"kic": pd.array([1, 2], dtype="Int64"), "miglio21_mass": [1.2, 7.0],
        ...                     "miglio21_mass_err": [0.1, 0.5]})
        >>> clean = apply_validity_cuts(toy, "miglio21")
        >>> clean["miglio21_mass_err"].tolist(), clean.attrs["cleaning"][0]["mass_out_of_range"]
        ([0.1, nan], 1)
    """
    read = _read_record(frame, catalogue)
    frame = frame.copy()
    frame.attrs = {}
    counts = dict.fromkeys(_VALIDITY_COUNTS, 0)
    _cut_ranges(frame, catalogue, counts)
    frame = _deduplicate(frame, catalogue, CATALOGUE_KEYS[catalogue], counts).reset_index(drop=True)
    frame.attrs["cleaning"] = [_record(read, counts, len(frame))]
    return frame


def valid_catalogue(name: str, data_dir: str | os.PathLike | None = None, **options: object) -> pd.DataFrame:
    """Read one catalogue and apply the validity rules.

    Args:
        name: One of :data:`~bayesxp.io.seismic.CATALOGUES`.
        data_dir: Folder holding ``seismic/``.
        **options: Passed to the reader (e.g. ``sample="RGB"`` for ``apokasc3``).

    Returns:
        The cleaned catalogue.

    Example:
        >>> from bayesxp.io.seismic import cleaning_summary
        >>> int(cleaning_summary(valid_catalogue("apokasc705"))["age_out_of_range"].iloc[0])
        336
    """
    return apply_validity_cuts(read_catalogue(name, data_dir, **options), name)


# ----------------------------------------------------------------------------------------------------
# merge and consensus
# ----------------------------------------------------------------------------------------------------
def _outer_merge(left: pd.DataFrame, right: pd.DataFrame, key: str, conflicts: dict[str, int]) -> pd.DataFrame:
    """Outer-join on ``key`` (rows without a key are kept unjoined); shared id columns are coalesced."""
    def has(frame: pd.DataFrame) -> pd.Series:
        return frame[key].notna() & (frame[key].astype(str) != "") if key in frame else pd.Series(False, frame.index)

    left_keyed, right_keyed = has(left), has(right)
    joined = left[left_keyed].merge(right[right_keyed], on=key, how="outer", suffixes=("", "__right"), sort=False)
    for column in [c for c in joined.columns if c.endswith("__right")]:
        base = column[: -len("__right")]
        ours, theirs = joined[base], joined[column]
        if base == "apogee_id":
            ours_given, theirs_given = ours.fillna("") != "", theirs.fillna("") != ""
        else:
            ours_given, theirs_given = ours.notna(), theirs.notna()
        clash = ours_given & theirs_given & (ours.astype(str) != theirs.astype(str))
        conflicts[base] = conflicts.get(base, 0) + int(clash.sum())
        joined[base] = ours.where(ours_given, theirs)
        joined = joined.drop(columns=column)
    return pd.concat([joined, left[~left_keyed], right[~right_keyed]], ignore_index=True)


def merge_seismic_catalogues(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """All seismic catalogues, validity rules applied, side by side, one row per star, with the consensus truth.

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
        >>> table = merge_seismic_catalogues()
        >>> set(table["mass_source"]) <= set(MASS_PREFERENCE) | {""}
        True
    """
    catalogues = {name: valid_catalogue(name, data_dir) for name in CATALOGUES}
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
            :func:`merge_seismic_catalogues`.
        reference: Catalogue compared against for sources without errors.
        min_overlap: Fewest shared stars for the scatter estimate (NaN below).

    Returns:
        DataFrame indexed by ``(quantity, catalogue)`` with ``fraction``, ``method``, ``n_stars``,
        ``scatter``, ``reference_error``.

    Example:
        >>> fill = measure_fill_errors(merge_seismic_catalogues())
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
                reference_value, reference_error = f"{reference}_{suffix}", f"{reference}_{quantity}_err"
                both = catalogues[value].notna() & catalogues[reference_value].notna()
                shared = catalogues[both]
                if len(shared) >= min_overlap:
                    scatter = _mad_std(np.log(shared[value] / shared[reference_value])) / np.sqrt(2.0)
                    quoted = _fractional(shared, reference_value, reference_error).median()
                    row.update(fraction=float(np.nanmax([scatter, quoted])), method=f"scatter_vs_{reference}",
                               n_stars=len(shared), scatter=scatter, reference_error=float(quoted))
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
            error_column = f"{name}_{quantity}_err"
            own = (pd.to_numeric(out[error_column], errors="coerce").to_numpy(float) if error_column in out
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




# ----------------------------------------------------------------------------------------------------
# the development set
# ----------------------------------------------------------------------------------------------------
def seismic_dev_consensus(path: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None,
                      catalogues: pd.DataFrame | None = None) -> pd.DataFrame:
    """The seismic truth of ``xp_seismic_dev.csv`` (library stars with a seismic age): cleaned, with the consensus.

    The csv as read by :func:`bayesxp.io.seismic.read_seismic_dev_csv` gets the validity rules of the
    catalogues (masses and ages outside the ranges -> NaN) and three fixes, counted in
    ``attrs["cleaning"]``:

    - ``apokasc2_age_err`` in the csv is the VAC's ``Age_err``, which is not in Gyr; it is replaced by the
      Gyr error of :func:`bayesxp.io.seismic.read_apokasc2` (NaN where that has none).
    - An empty ``apokasc2_es`` (-9999 in the csv) takes the state the APOKASC-2 reader fills in from the
      ages file.
    - Columns the csv lacks (the other catalogues' errors, labels, states) are taken from
      :func:`merge_seismic_catalogues`, row by row, matching on KIC (``kic``, else ``kic_jt``), then
      APOGEE_ID, then Gaia source_id.

    The consensus is then computed by :func:`seismic_consensus` with the fill-in errors measured on the
    full catalogues, so a dev star gets the same truth as in the merged table. Two stars appear twice
    (repeated library rows); both rows are kept.

    Args:
        path: The csv (default ``<data_dir>/xp_seismic_dev.csv``).
        data_dir: Folder holding ``seismic/`` and the csv.
        catalogues: :func:`merge_seismic_catalogues` output, if already read (saves ~1 s).

    Returns:
        One row per csv row, ``xp_row`` first.

    Raises:
        InputFileError: Missing, unreadable file, or no ``xp_row``/``apogee_id`` column.

    Example:
        >>> dev = seismic_dev_consensus()
        >>> len(dev), int(dev["age_gyr"].notna().sum())
        (179, 164)
    """
    dev = read_seismic_dev_csv(path, data_dir)
    read = _read_record(dev, "xp_seismic_dev")
    dev.attrs = {}
    counts = dict.fromkeys(_VALIDITY_COUNTS, 0)
    for name in CATALOGUES:
        _cut_ranges(dev, name, counts)
    extra: dict[str, int] = {}

    merged = merge_seismic_catalogues(data_dir) if catalogues is None else catalogues
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
    catalogue_columns = [column for column in merged.columns if column not in dev.columns
                         and column not in _CONSENSUS_COLUMNS and column not in ID_COLUMNS]
    taken = merged.loc[index, catalogue_columns].reset_index(drop=True)
    taken.loc[~located] = np.nan
    dev = pd.concat([dev.reset_index(drop=True), taken], axis=1)
    if "apokasc2_age_err" in dev:
        fixed = merged.loc[index, "apokasc2_age_err"].to_numpy(float, copy=True)
        fixed[~located] = np.nan
        fixed[dev["apokasc2_age_gyr"].isna().to_numpy()] = np.nan
        extra["apokasc2_age_err_replaced"] = int(dev["apokasc2_age_err"].notna().sum())
        dev["apokasc2_age_err"] = fixed
    if "apokasc2_es" in dev:
        from_reader = merged.loc[index, "apokasc2_es"].fillna("").to_numpy(dtype=object)
        fill_state = located & (dev["apokasc2_es"].to_numpy(dtype=object) == "") & (from_reader != "")
        dev.loc[fill_state, "apokasc2_es"] = from_reader[fill_state]
        extra["state_from_ages_file"] = int(fill_state.sum())
    extra["rows_not_in_catalogues"] = int((~located).sum())
    for name in CATALOGUES:
        flag = f"in_{name}"
        if flag in dev:
            dev[flag] = dev[flag].astype("boolean").fillna(False).astype(bool)
    fill = pd.DataFrame(merged.attrs["fill_errors"]).set_index(["quantity", "catalogue"])
    dev = seismic_consensus(dev, fill_errors=fill).reset_index(drop=True)
    dev.attrs["cleaning"] = [_record(read, counts, len(dev), extra)]
    dev.attrs["fill_errors"] = merged.attrs["fill_errors"]
    return dev
