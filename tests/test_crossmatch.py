"""Cross-matching the XP library with label catalogues: rules on tiny tables, counts on the real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesxp.data.crossmatch import (
    REASON_DUPLICATE,
    REASON_NO_IDENTIFIER,
    REASON_NO_LABEL,
    REASON_NOT_IN_LIBRARY,
    crossmatch_library,
    deduplicate_library,
)
from bayesxp.io.distmass import read_distmass
from bayesxp.labels.seismic_truth import merge_seismic_catalogues

FIXTURE = Path(__file__).resolve().parent / "data" / "distmass_small.fits"


# ---------------------------------------------------------------------------- rules, on tiny tables
@pytest.fixture
def library() -> pd.DataFrame:
    return pd.DataFrame({
        "apogee_id": ["A", "A", "B", "C", "D", "D"],
        "source_id": [11, 11, 22, 33, 44, 44],
        "snr": [80.0, 120.0, 50.0, 60.0, 70.0, 70.0],
        "logg": [2.5, 2.5, 4.5, 2.0, 3.0, 3.0],
        "teff": [4800.0, 4800.0, 5800.0, 4500.0, 5000.0, 5000.0],
    })


def test_library_repeats_keep_highest_snr_then_lowest_row(library):
    kept, dropped = deduplicate_library(library)
    assert kept["xp_row"].tolist() == [1, 2, 3, 4]  # A: snr 120 wins; D: tie -> lowest xp_row
    assert sorted(dropped["xp_row"].tolist()) == [0, 5]
    assert kept.set_index("xp_row")["library_rows"].to_dict() == {1: 2, 2: 1, 3: 1, 4: 2}


def test_keys_reasons_and_duplicates(library):
    catalogue = pd.DataFrame({
        "apogee_id": ["A", "", "C", "", "Z", "", "D", "D", "B"],
        "gaia_source_id": pd.array([pd.NA, 22, 99, pd.NA, pd.NA, pd.NA, pd.NA, 44, pd.NA], dtype="Int64"),
        "kic": pd.array([pd.NA, pd.NA, pd.NA, 7, pd.NA, pd.NA, pd.NA, pd.NA, pd.NA], dtype="Int64"),
        "mass": [1.1, 1.0, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, np.nan],
    })
    result = crossmatch_library(library, catalogue, kic_to_apogee={7: "C"})
    matched = result.matched.set_index("xp_row")
    # A by apogee_id (highest-snr row 1); B by source_id; C: the catalogue's Gaia id 99 is unknown, so
    # its apogee_id matches, and the KIC row (-> C) is a duplicate of it; D: source_id beats apogee_id
    assert matched["match_key"].to_dict() == {1: "apogee_id", 2: "source_id", 3: "apogee_id", 4: "source_id"}
    assert matched.loc[4, "mass"] == 1.7
    reasons = result.rejected.set_index("mass", drop=False)["reason"]
    assert reasons[1.3] == REASON_DUPLICATE
    assert reasons[1.4] == REASON_NOT_IN_LIBRARY
    assert reasons[1.5] == REASON_NO_IDENTIFIER
    assert reasons[1.6] == REASON_DUPLICATE
    assert result.rejected["reason"].isin([REASON_NO_LABEL]).sum() == 1  # B's second row has no mass
    assert len(result.matched) + len(result.rejected) == len(catalogue)
    row = result.report.iloc[-1]
    assert row["rows"] == 9 and row["matched"] == 4 and row["duplicates_resolved"] == 2
    assert row["matched_source_id"] + row["matched_apogee_id"] + row["matched_kic"] == row["matched"]
    assert row["matched_giants"] == 3  # B is a dwarf
    assert row["library_repeats_resolved"] == 2


def test_kic_key_used_when_nothing_else_matches(library):
    catalogue = pd.DataFrame({"kic": pd.array([7, 8], dtype="Int64"), "apokasc3_mass": [1.2, 1.3]})
    result = crossmatch_library(library, catalogue, kic_to_apogee=pd.Series({7: "C"}), name="apokasc3")
    assert result.matched["xp_row"].tolist() == [3]
    assert result.matched["match_key"].tolist() == ["kic"]
    assert result.rejected["reason"].tolist() == [REASON_NO_IDENTIFIER]  # KIC 8 has no APOGEE id
    assert "| apokasc3 | 2 | 1 | 0 | 0 | 1 |" in result.to_markdown()
    assert "apokasc3" in result.to_text()


# ---------------------------------------------------------------------------- the real library
@pytest.fixture(scope="module")
def library_meta(library_file) -> pd.DataFrame:
    from bayesxp.io.library import read_library

    return read_library(library_file).meta


@pytest.fixture(scope="module")
def seismic_match(library_meta, shared_data):
    return crossmatch_library(library_meta, merge_seismic_catalogues(shared_data), name="seismic")


def test_real_library_counts(seismic_match):
    assert seismic_match.library == {"rows": 40226, "unique_stars": 39851, "repeated_rows_dropped": 375,
                                     "giants": seismic_match.library["giants"]}
    assert 24000 < seismic_match.library["giants"] < 24800


def test_real_report_partitions_every_catalogue(seismic_match, shared_data):
    report = seismic_match.report
    parts = report[["matched", "not_in_library", "no_identifier", "no_valid_mass_age", "duplicates_resolved"]]
    assert (parts.sum(axis=1) == report["rows"]).all()
    keys = report[["matched_source_id", "matched_apogee_id", "matched_kic"]].sum(axis=1)
    assert (keys == report["matched"]).all()
    total = report.iloc[-1]
    assert total["rows"] == len(seismic_match.matched) + len(seismic_match.rejected)
    assert total["matched"] == len(seismic_match.matched) > 150
    assert seismic_match.matched["xp_row"].is_unique
    assert seismic_match.matched["mass"].notna().sum() > 90
    assert (seismic_match.matched["mass"].notna() | seismic_match.matched["age_gyr"].notna()).all()
    markdown = seismic_match.to_markdown()
    for name in ("apokasc2", "apokasc705", "apokasc3", "miglio21", "montalban21", "corot", "k2galah"):
        assert f"| {name} |" in markdown


def test_apokasc2_dev_stars_get_the_csv_xp_row(seismic_match, shared_data):
    dev = pd.read_csv(shared_data / "xp_seismic_dev.csv")
    apokasc2 = dev[dev["apokasc2_mass"].notna()]  # all 66 APOKASC-2 rows, -9999 ones included
    found = pd.concat([seismic_match.matched[["kic", "xp_row"]],
                       seismic_match.rejected.loc[seismic_match.rejected["xp_row"].notna(), ["kic", "xp_row"]]])
    by_kic = found.dropna(subset=["kic"]).set_index("kic")["xp_row"]
    assert len(apokasc2) == 66
    got = by_kic.reindex(apokasc2["kic"].astype("int64").to_numpy()).to_numpy()
    np.testing.assert_array_equal(got.astype(np.int64), apokasc2["xp_row"].to_numpy())
    # stars whose only entries are -9999 APOKASC-2 values are found, then rejected for having no label
    labels = [c for c in dev.columns if c.endswith(("_mass", "_age_gyr")) and not c.startswith("apokasc2")]
    empty = apokasc2[(apokasc2["apokasc2_mass"] < -9000) & dev.loc[apokasc2.index, labels].isna().all(axis=1)]
    assert len(empty) == 4
    rejected = seismic_match.rejected.dropna(subset=["xp_row"]).set_index("xp_row")["reason"]
    assert (rejected.loc[empty["xp_row"].to_numpy()] == REASON_NO_LABEL).all()


def test_distmass_fixture_matches_library(library_meta):
    result = crossmatch_library(library_meta, read_distmass(FIXTURE), name="distmass")
    row = result.report.iloc[-1]
    assert row["rows"] == 40 and row["matched"] == 40 and row["matched_apogee_id"] == 40
    assert result.matched["distmass_mass"].notna().all()


def test_catalogue_own_xp_row_is_kept_under_another_name(library):
    catalogue = pd.DataFrame({"apogee_id": ["C"], "xp_row": [99], "age_gyr": [3.0]})
    matched = crossmatch_library(library, catalogue).matched
    assert matched[["xp_row", "catalogue_xp_row"]].values.tolist() == [[3, 99]]
