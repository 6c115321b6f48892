"""Cross-match the XP library with a label catalogue (seismic, DistMass, ...) and say why stars drop out.

A catalogue row is matched to a library star by, in this order:

1. Gaia EDR3 ``source_id`` (catalogue column ``gaia_source_id``, ``source_id`` or ``gaiaedr3_source_id``);
2. ``apogee_id`` (stripped);
3. ``kic``, through KIC -> APOGEE_ID from the APOKASC files (:func:`bayesxp.io.seismic.read_kic_apogee_map`).

Rules, applied in this order:

- **Repeated library rows.** The library holds some stars twice (375 repeated APOGEE ids among 40,226
  rows). Per APOGEE_ID (then per Gaia source_id) the row with the highest APOGEE ``snr`` is kept; ties go to
  the lowest ``xp_row``. Only kept rows are matched.
- **Usable labels.** A matched row is kept only if it has a finite value in one of the label columns
  (default: ``mass``/``age_gyr`` where present, else every ``*_mass``/``*_age_gyr`` column).
- **Two catalogue rows on one library star.** The row matched by the stronger key (source_id > apogee_id >
  kic) is kept, then the one with more finite labels, then the first.

Every catalogue row ends in exactly one of :attr:`CrossmatchResult.matched` or
:attr:`CrossmatchResult.rejected` (with a ``reason``); :attr:`CrossmatchResult.report` counts them per
catalogue (per ``in_<catalogue>`` flag of the merged seismic table, plus the whole table).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "CrossmatchResult",
    "crossmatch_library",
    "deduplicate_library",
    "MATCH_KEYS",
    "REASON_NO_IDENTIFIER",
    "REASON_NOT_IN_LIBRARY",
    "REASON_NO_LABEL",
    "REASON_DUPLICATE",
    "GIANT_LOGG_MAX",
    "GIANT_TEFF_MAX",
]

#: Keys in the order they are tried.
MATCH_KEYS = ("source_id", "apogee_id", "kic")
REASON_NO_IDENTIFIER = "no identifier the library carries"
REASON_NOT_IN_LIBRARY = "not in library"
REASON_NO_LABEL = "matched but no valid mass or age"
REASON_DUPLICATE = "duplicate: library star already matched by another catalogue row"
#: Giants as in the data README: logg < 3.5 and Teff < 5500 K (library ASPCAP labels).
GIANT_LOGG_MAX = 3.5
GIANT_TEFF_MAX = 5500.0

_SOURCE_COLUMNS = ("gaia_source_id", "source_id", "gaiaedr3_source_id")
_REPORT_COLUMNS = ["catalogue", "rows", "matched", "matched_source_id", "matched_apogee_id", "matched_kic",
                   "matched_giants", "not_in_library", "no_identifier", "no_valid_mass_age",
                   "duplicates_resolved", "library_repeats_resolved"]


@dataclass(frozen=True)
class CrossmatchResult:
    """What :func:`crossmatch_library` found.

    Attributes:
        matched: One row per kept match: ``xp_row`` (row of the library file), ``match_key``
            (``source_id``/``apogee_id``/``kic``), ``library_rows`` (how many library rows that star
            has; >1 means the highest-snr row was chosen), then the catalogue's columns.
        rejected: The other catalogue rows with ``reason`` (and ``xp_row`` where a star was found).
        report: Counts per catalogue (columns: ``catalogue, rows, matched, matched_source_id,
            matched_apogee_id, matched_kic, matched_giants, not_in_library, no_identifier,
            no_valid_mass_age, duplicates_resolved, library_repeats_resolved``).
        library: Library totals: ``rows``, ``unique_stars``, ``repeated_rows_dropped``, ``giants``.
    """

    matched: pd.DataFrame
    rejected: pd.DataFrame
    report: pd.DataFrame
    library: dict = field(default_factory=dict)

    def to_markdown(self) -> str:
        """The report as a Markdown table with the library totals above it.

        Example:
            >>> lib = pd.DataFrame({"apogee_id": ["a"], "source_id": [1], "snr": [100.0], "xp_row": [0]})
            >>> cat = pd.DataFrame({"apogee_id": ["a", "b"], "mass": [1.2, 1.0]})
            >>> print(crossmatch_library(lib, cat).to_markdown().splitlines()[-1])
            | catalogue | 2 | 1 | 0 | 1 | 0 | 0 | 1 | 0 | 0 | 0 | 0 |
        """
        head = (f"Library: {self.library.get('rows', 0):,} rows, {self.library.get('unique_stars', 0):,} "
                f"unique stars ({self.library.get('repeated_rows_dropped', 0):,} repeated rows dropped, "
                f"highest snr kept), {self.library.get('giants', 0):,} giants "
                f"(logg < {GIANT_LOGG_MAX}, Teff < {GIANT_TEFF_MAX:.0f} K).")
        columns = list(self.report.columns)
        lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        for _, row in self.report.iterrows():
            lines.append("| " + " | ".join(str(row[c]) for c in columns) + " |")
        return "\n".join(lines)

    def to_text(self) -> str:
        """The report as plain fixed-width text.

        Example:
            >>> lib = pd.DataFrame({"apogee_id": ["a"], "source_id": [1], "snr": [100.0], "xp_row": [0]})
            >>> "not_in_library" in crossmatch_library(lib, pd.DataFrame({"apogee_id": ["a"], "mass": [1.0]})).to_text()
            True
        """
        return self.to_markdown().splitlines()[0] + "\n" + self.report.to_string(index=False)


def _library_ids(library_meta: pd.DataFrame) -> pd.DataFrame:
    """xp_row, apogee_id, source_id (Int64, 0 -> NA), snr, giant flag of the library."""
    lib = pd.DataFrame(index=library_meta.index)
    lib["xp_row"] = (library_meta["xp_row"].to_numpy(np.int64) if "xp_row" in library_meta
                     else np.arange(len(library_meta)))
    if "apogee_id" in library_meta:
        lib["apogee_id"] = library_meta["apogee_id"].fillna("").astype(str).str.strip().to_numpy()
    else:
        lib["apogee_id"] = ""
    source = next((c for c in _SOURCE_COLUMNS if c in library_meta), None)
    ids = pd.array(library_meta[source], dtype="Int64") if source else pd.array([pd.NA] * len(lib), dtype="Int64")
    lib["source_id"] = pd.Series(ids, index=lib.index).mask(lambda s: s <= 0)
    lib["snr"] = library_meta["snr"].to_numpy(float) if "snr" in library_meta else np.nan
    if "logg" in library_meta and "teff" in library_meta:
        lib["giant"] = ((library_meta["logg"].to_numpy(float) < GIANT_LOGG_MAX)
                        & (library_meta["teff"].to_numpy(float) < GIANT_TEFF_MAX))
    else:
        lib["giant"] = False
    return lib.reset_index(drop=True)


def deduplicate_library(library_meta: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One library row per star: per APOGEE_ID, then per Gaia source_id, the highest ``snr`` (ties: lowest xp_row).

    Args:
        library_meta: ``read_library().meta`` or any table with ``apogee_id`` and/or ``source_id``
            (``gaiaedr3_source_id``), optional ``snr``, ``xp_row`` (default: the row number), ``logg``, ``teff``.

    Returns:
        ``(kept, dropped)``: kept rows with ``xp_row, apogee_id, source_id, snr, giant, library_rows``;
        dropped rows with ``xp_row`` and ``kept_xp_row``.

    Example:
        >>> meta = pd.DataFrame({"apogee_id": ["a", "a", "b"], "snr": [50.0, 80.0, 10.0]})
        >>> kept, dropped = deduplicate_library(meta)
        >>> kept["xp_row"].tolist(), dropped["xp_row"].tolist()
        ([1, 2], [0])
    """
    lib = _library_ids(library_meta)
    lib["_snr"] = lib["snr"].fillna(-np.inf)
    ordered = lib.sort_values(["_snr", "xp_row"], ascending=[False, True], kind="stable")
    dropped_parts = []
    for key in ("apogee_id", "source_id"):
        has = ordered[key].notna() & (ordered[key].astype(str) != "")
        keyed = ordered[has]
        repeated = keyed[key].duplicated(keep="first")
        if repeated.any():
            first = keyed[~repeated].set_index(key)["xp_row"]
            gone = keyed[repeated]
            dropped_parts.append(pd.DataFrame({"xp_row": gone["xp_row"].to_numpy(),
                                               "kept_xp_row": gone[key].map(first).to_numpy(),
                                               "key": key}))
            ordered = ordered.drop(index=gone.index)
    kept = ordered.sort_values("xp_row").drop(columns="_snr")
    dropped = (pd.concat(dropped_parts, ignore_index=True) if dropped_parts
               else pd.DataFrame({"xp_row": [], "kept_xp_row": [], "key": []}))
    counts = dropped["kept_xp_row"].value_counts()
    kept["library_rows"] = 1 + kept["xp_row"].map(counts).fillna(0).astype(int)
    return kept.reset_index(drop=True), dropped


def _catalogue_ids(catalogue: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    n = len(catalogue)
    source = next((c for c in _SOURCE_COLUMNS if c in catalogue), None)
    gaia = (pd.Series(pd.array(catalogue[source], dtype="Int64")) if source
            else pd.Series(pd.array([pd.NA] * n, dtype="Int64")))
    gaia = gaia.mask(gaia <= 0)
    apogee = (catalogue["apogee_id"].fillna("").astype(str).str.strip().reset_index(drop=True)
              if "apogee_id" in catalogue else pd.Series([""] * n, dtype=str))
    kic = (pd.Series(pd.array(catalogue["kic"], dtype="Int64")) if "kic" in catalogue
           else pd.Series(pd.array([pd.NA] * n, dtype="Int64")))
    return gaia, apogee, kic


def _default_labels(catalogue: pd.DataFrame) -> list[str]:
    consensus = [c for c in ("mass", "age_gyr") if c in catalogue]
    if consensus:
        return consensus
    return [c for c in catalogue.columns if c.endswith(("_mass", "_age_gyr"))]


def _usable(catalogue: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    if not columns:
        return np.zeros(len(catalogue), bool)
    values = np.column_stack([pd.to_numeric(catalogue[c], errors="coerce").to_numpy(float) for c in columns])
    return np.isfinite(values).any(axis=1)


def _n_labels(catalogue: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    if not columns:
        return np.zeros(len(catalogue), int)
    values = np.column_stack([pd.to_numeric(catalogue[c], errors="coerce").to_numpy(float) for c in columns])
    return np.isfinite(values).sum(axis=1)


def _resolve(xp_row: pd.Series, key_rank: np.ndarray, n_labels: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Among candidate rows sharing an xp_row keep one (strongest key, most labels, first); True = kept."""
    order = pd.DataFrame({"xp": xp_row.to_numpy(), "rank": key_rank, "labels": -n_labels,
                          "row": np.arange(len(xp_row))})[candidates]
    order = order.sort_values(["rank", "labels", "row"], kind="stable")
    keep = np.zeros(len(xp_row), bool)
    keep[order.drop_duplicates("xp", keep="first")["row"].to_numpy()] = True
    return keep


def _summary(name: str, rows: np.ndarray, key: pd.Series, found: np.ndarray, has_id: np.ndarray,
             usable: np.ndarray, xp_row: pd.Series, key_rank: np.ndarray, n_labels: np.ndarray,
             giants: set[int], repeated: set[int]) -> dict:
    sub = rows  # (N,) bool: the catalogue rows this summary is about
    candidates = sub & found & usable
    kept = _resolve(xp_row, key_rank, n_labels, candidates)
    kept_rows = xp_row[kept].astype(int)
    return {
        "catalogue": name,
        "rows": int(sub.sum()),
        "matched": int(kept.sum()),
        "matched_source_id": int((kept & (key == "source_id").to_numpy()).sum()),
        "matched_apogee_id": int((kept & (key == "apogee_id").to_numpy()).sum()),
        "matched_kic": int((kept & (key == "kic").to_numpy()).sum()),
        "matched_giants": int(sum(r in giants for r in kept_rows)),
        "not_in_library": int((sub & has_id & ~found).sum()),
        "no_identifier": int((sub & ~has_id).sum()),
        "no_valid_mass_age": int((sub & found & ~usable).sum()),
        "duplicates_resolved": int((candidates & ~kept).sum()),
        "library_repeats_resolved": int(sum(r in repeated for r in kept_rows)),
    }


def crossmatch_library(
    library_meta: pd.DataFrame,
    catalogue: pd.DataFrame,
    *,
    kic_to_apogee: Mapping[int, str] | pd.Series | None = None,
    label_columns: Sequence[str] | None = None,
    name: str = "catalogue",
    data_dir: str | os.PathLike | None = None,
) -> CrossmatchResult:
    """Match catalogue rows to XP library rows by Gaia source_id, then APOGEE_ID, then KIC.

    Args:
        library_meta: ``read_library().meta`` (``apogee_id``, ``source_id``, ``snr``, ``xp_row``,
            ``logg``, ``teff``) or any table with some of these columns.
        catalogue: Rows to match, with any of ``gaia_source_id``/``source_id``, ``apogee_id``, ``kic``.
            The merged seismic table's ``in_<catalogue>`` flags give one report row per catalogue.
        kic_to_apogee: KIC -> APOGEE_ID. Default: :func:`bayesxp.io.seismic.read_kic_apogee_map`, read
            only when some row has a KIC and no other usable id match.
        label_columns: Columns of which at least one must be finite for a match to be kept (default:
            ``mass``/``age_gyr`` if present, else all ``*_mass``/``*_age_gyr``).
        name: Report name of the whole catalogue.
        data_dir: Data folder for the default KIC map.

    Returns:
        The :class:`CrossmatchResult`.

    Example:
        >>> lib = pd.DataFrame({"apogee_id": ["a", "a", "b"], "source_id": [7, 7, 8], "snr": [50.0, 90.0, 60.0]})
        >>> cat = pd.DataFrame({"apogee_id": ["a", "c"], "gaia_source_id": [pd.NA, 8], "mass": [1.1, 1.3]})
        >>> result = crossmatch_library(lib, cat)
        >>> result.matched[["xp_row", "match_key"]].values.tolist()
        [[1, 'apogee_id'], [2, 'source_id']]
    """
    kept_lib, dropped = deduplicate_library(library_meta)
    by_source = {int(s): int(r) for s, r in zip(kept_lib["source_id"], kept_lib["xp_row"]) if pd.notna(s)}
    by_apogee = {a: int(r) for a, r in zip(kept_lib["apogee_id"], kept_lib["xp_row"]) if a}
    giants = set(kept_lib.loc[kept_lib["giant"], "xp_row"].astype(int))
    repeated = set(kept_lib.loc[kept_lib["library_rows"] > 1, "xp_row"].astype(int))

    cat = catalogue.reset_index(drop=True)
    # the result adds these columns; a catalogue's own (e.g. the dev csv's xp_row) keeps a prefixed name
    cat = cat.rename(columns={c: f"catalogue_{c}" for c in ("xp_row", "match_key", "library_rows", "reason")
                              if c in cat})
    gaia, apogee, kic = _catalogue_ids(cat)
    hit_source = gaia.map(lambda s: by_source.get(int(s)) if pd.notna(s) else None)
    hit_apogee = apogee.map(lambda a: by_apogee.get(a) if a else None)
    hit_source = pd.to_numeric(hit_source, errors="coerce")
    hit_apogee = pd.to_numeric(hit_apogee, errors="coerce")
    need_kic = kic.notna() & hit_source.isna() & hit_apogee.isna()
    apogee_from_kic = pd.Series([""] * len(cat), dtype=str)
    if need_kic.any():
        if kic_to_apogee is None:
            from bayesxp.io.seismic import read_kic_apogee_map

            kic_to_apogee = read_kic_apogee_map(data_dir)
        mapping = {int(k): str(v) for k, v in dict(kic_to_apogee).items() if pd.notna(k) and v}
        apogee_from_kic = kic.map(lambda k: mapping.get(int(k), "") if pd.notna(k) else "").fillna("").astype(str)
    hit_kic = pd.to_numeric(apogee_from_kic.map(lambda a: by_apogee.get(a) if a else None), errors="coerce")

    xp_row = hit_source.fillna(hit_apogee).fillna(hit_kic)
    key = pd.Series(np.where(hit_source.notna(), "source_id",
                             np.where(hit_apogee.notna(), "apogee_id", np.where(hit_kic.notna(), "kic", ""))))
    key_rank = key.map({"source_id": 0, "apogee_id": 1, "kic": 2, "": 3}).to_numpy()
    found = xp_row.notna().to_numpy()
    has_id = (gaia.notna() | (apogee != "") | (apogee_from_kic != "")).to_numpy()

    labels = list(label_columns) if label_columns is not None else _default_labels(cat)
    for column in labels:
        if column not in cat:
            raise KeyError(f"label column {column!r} is not in the catalogue")
    usable = _usable(cat, labels)
    n_labels = _n_labels(cat, labels)
    everything = np.ones(len(cat), bool)
    kept = _resolve(xp_row, key_rank, n_labels, found & usable)

    reason = np.full(len(cat), "", dtype=object)
    reason[~has_id] = REASON_NO_IDENTIFIER
    reason[has_id & ~found] = REASON_NOT_IN_LIBRARY
    reason[found & ~usable] = REASON_NO_LABEL
    reason[found & usable & ~kept] = REASON_DUPLICATE

    matched = cat[kept].copy()
    matched.insert(0, "library_rows", xp_row[kept].astype(int).map(
        kept_lib.set_index("xp_row")["library_rows"]).to_numpy())
    matched.insert(0, "match_key", key[kept].to_numpy())
    matched.insert(0, "xp_row", xp_row[kept].astype(np.int64).to_numpy())
    matched = matched.sort_values("xp_row", kind="stable").reset_index(drop=True)
    rejected = cat[~kept].copy()
    rejected.insert(0, "xp_row", pd.array(xp_row[~kept].to_numpy(), dtype="Int64"))
    rejected.insert(0, "reason", reason[~kept])
    rejected = rejected.reset_index(drop=True)

    rows = []
    flags = [c for c in cat.columns if c.startswith("in_") and cat[c].dtype == bool]
    for flag in flags:
        catalogue_name = flag[len("in_"):]
        own = [c for c in (f"{catalogue_name}_mass", f"{catalogue_name}_age_gyr") if c in cat]
        rows.append(_summary(catalogue_name, cat[flag].to_numpy(), key, found, has_id, _usable(cat, own),
                             xp_row, key_rank, _n_labels(cat, own), giants, repeated))
    rows.append(_summary(name if not flags else f"{name} (all, consensus labels)", everything, key, found,
                         has_id, usable, xp_row, key_rank, n_labels, giants, repeated))
    report = pd.DataFrame(rows, columns=_REPORT_COLUMNS)
    library = {"rows": len(library_meta), "unique_stars": len(kept_lib), "repeated_rows_dropped": len(dropped),
               "giants": len(giants)}
    return CrossmatchResult(matched=matched, rejected=rejected, report=report, library=library)
