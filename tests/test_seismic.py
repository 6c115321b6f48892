"""Seismic catalogue readers on the real files, the validity and consensus rules on known answers, the dev set."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from bayesxp.errors import InputFileError
from bayesxp.io import seismic
from bayesxp.io.seismic import CATALOGUES, cleaning_summary
from bayesxp.labels.seismic_truth import (
    AGE_PREFERENCE,
    AGE_RANGE,
    MASS_PREFERENCE,
    MASS_RANGE,
    apply_validity_cuts,
    measure_fill_errors,
    merge_seismic_catalogues,
    seismic_consensus,
    seismic_dev_consensus,
    valid_catalogue,
)

READERS = {
    "apokasc2": seismic.read_apokasc2,
    "apokasc705": seismic.read_apokasc705,
    "apokasc3": seismic.read_apokasc3,
    "miglio21": seismic.read_miglio21,
    "montalban21": seismic.read_montalban21,
    "corot": seismic.read_corot,
    "k2galah": seismic.read_k2galah,
}
# rows per file before cleaning, from the data README
README_ROWS = {"apokasc2": 6612, "apokasc705": 11672, "apokasc3": 6578, "miglio21": 3286, "montalban21": 92,
               "corot": 603, "k2galah": 1339}


@pytest.fixture(scope="module")
def published(shared_data) -> dict[str, pd.DataFrame]:
    """The catalogues as the readers return them (as published, sentinels parsed)."""
    return {name: reader(shared_data) for name, reader in READERS.items()}


@pytest.fixture(scope="module")
def frames(published) -> dict[str, pd.DataFrame]:
    """The catalogues with the validity rules applied."""
    return {name: apply_validity_cuts(frame, name) for name, frame in published.items()}


@pytest.fixture(scope="module")
def merged(shared_data) -> pd.DataFrame:
    return merge_seismic_catalogues(shared_data)


@pytest.fixture(scope="module")
def dev(shared_data, merged) -> pd.DataFrame:
    return seismic_dev_consensus(data_dir=shared_data, catalogues=merged)


# ---------------------------------------------------------------------------- readers on the real files
@pytest.mark.parametrize("name", list(READERS))
def test_row_counts_match_readme(published, frames, name):
    assert published[name].attrs["cleaning"][0]["rows_read"] == README_ROWS[name]
    assert len(published[name]) == README_ROWS[name]
    counts = frames[name].attrs["cleaning"][0]
    assert counts["rows_read"] == README_ROWS[name]
    assert counts["duplicates_dropped"] == 0
    assert len(frames[name]) == README_ROWS[name]


def test_apokasc_companion_files_counts(frames, shared_data):
    assert frames["apokasc2"].attrs["cleaning"][0]["ages_file_rows"] == 6298
    rgb = seismic.read_apokasc3(shared_data, sample="RGB")
    assert len(rgb) == 3493
    assert set(rgb["apokasc3_es"]) == {"RGB"}


@pytest.mark.parametrize("name", list(READERS))
def test_no_sentinels_native_dtypes(published, name):
    frame = published[name]
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            finite = values.dropna().to_numpy(float)
            assert not np.isin(finite, (-9999.0, -999.0)).any(), column
            if isinstance(values.dtype, np.dtype):
                assert values.dtype.byteorder in ("=", "|"), column
        else:
            assert not values.astype(str).str.startswith("-999").any(), column
            assert not any(isinstance(v, bytes) for v in values), column


@pytest.mark.parametrize("name", list(READERS))
def test_masses_and_ages_within_ranges(frames, name):
    frame = frames[name]
    for column, (low, high) in ((f"{name}_mass", MASS_RANGE), (f"{name}_age_gyr", AGE_RANGE)):
        if column in frame:
            values = frame[column].dropna()
            assert len(values) > 0
            assert values.between(low, high).all(), column
    for column in frame.columns:
        if column.endswith("_err"):
            assert (frame[column].dropna() > 0).all(), column


@pytest.mark.parametrize("name", list(READERS))
def test_identifiers_and_states(published, name):
    frame = published[name]
    if "apogee_id" in frame:
        ids = frame["apogee_id"]
        assert (ids == ids.str.strip()).all()
        assert ids.str.match(r"^2M\d{8}[+-]\d{7}$").mean() > 0.99
    for column in ("kic", "gaia_source_id", "epic", "corot_id"):
        if column in frame:
            assert str(frame[column].dtype) == "Int64", column
    for column in frame.columns:
        if column.endswith(("_es", "_evstate")):
            assert set(frame[column]) <= {"RGB", "RC", ""}, column


def test_apokasc705_runaway_ages_removed(published, frames):
    assert published["apokasc705"]["apokasc705_age_gyr"].max() > AGE_RANGE[1]  # the reader keeps them
    assert cleaning_summary(frames["apokasc705"])["age_out_of_range"].iloc[0] == 336
    assert frames["apokasc705"]["apokasc705_age_gyr"].notna().sum() == 11672 - 336
    assert frames["apokasc705"].attrs["cleaning"][0]["sentinel_values"] == (
        published["apokasc705"].attrs["cleaning"][0]["sentinel_values"])


def test_validity_cuts_known_answer():
    nan = np.nan
    toy = pd.DataFrame({
        "kic": pd.array([7, 7, 8, 9, None], dtype="Int64"),
        "miglio21_mass": [1.0, 1.1, 5.0, 1.3, 1.4], "miglio21_mass_err": [0.2, 0.1, 0.3, -1.0, 0.1],
        "miglio21_age_gyr": [3.0, 4.0, 2.0, 25.0, 6.0], "miglio21_age_err": [0.5, 0.5, 0.5, 1.0, 1.0],
    })
    clean = apply_validity_cuts(toy, "miglio21")
    # kic 7 keeps its smaller mass error; 8 loses its 5 Msun mass and error; 9 its 25 Gyr age and -1 error
    assert clean["kic"].tolist()[:3] == [7, 8, 9] and clean["kic"].isna().tolist() == [False] * 3 + [True]
    np.testing.assert_array_equal(clean["miglio21_mass"], [1.1, nan, 1.3, 1.4])
    np.testing.assert_array_equal(clean["miglio21_mass_err"], [0.1, nan, nan, 0.1])
    np.testing.assert_array_equal(clean["miglio21_age_gyr"], [4.0, 2.0, nan, 6.0])
    np.testing.assert_array_equal(clean["miglio21_age_err"], [0.5, 0.5, nan, 1.0])
    counts = clean.attrs["cleaning"][0]
    assert (counts["mass_out_of_range"], counts["age_out_of_range"], counts["bad_errors"],
            counts["duplicates_dropped"], counts["rows_kept"]) == (1, 1, 1, 1, 4)
    np.testing.assert_array_equal(toy["miglio21_mass"], [1.0, 1.1, 5.0, 1.3, 1.4])  # the input is left alone


def test_apokasc2_age_errors_are_gyr_from_ages_file(frames, shared_data):
    frame = frames["apokasc2"].set_index("kic")
    with h5py.File(shared_data / "seismic" / "APOKASC2_astroNN_ages.h5") as handle:
        kic = handle["KIC"][()].astype(np.int64)
        age_err = handle["Age_err"][()].astype(float)
    np.testing.assert_allclose(frame.loc[kic, "apokasc2_age_err"].to_numpy(float), age_err)
    fractional = frame["apokasc2_age_err"] / frame["apokasc2_age_gyr"]
    assert 0.1 < fractional.median() < 0.3  # Gyr; the VAC's own Age_err would give ~0.01
    # the VAC's TEFF/LOGG are astroNN labels, named as such
    assert "apokasc2_astronn_logg" in frame and "apokasc2_logg" not in frame
    assert frames["apokasc2"].attrs["cleaning"][0]["sentinel_values"] > 0


def test_apokasc3_rgb_table_is_subset_of_rgb_rc(frames, shared_data):
    rgb = valid_catalogue("apokasc3", shared_data, sample="RGB")
    assert rgb.attrs["cleaning"][0]["catalogue"] == "apokasc3_rgb"
    rgb = rgb.set_index("kic")
    full = frames["apokasc3"].set_index("kic").loc[rgb.index]
    assert (full["apokasc3_es"] == "RGB").all()
    pd.testing.assert_frame_equal(rgb.drop(columns="apokasc3_es"), full.drop(columns="apokasc3_es"))


def test_errors_from_bounds_and_percentiles(frames):
    miglio = frames["miglio21"].set_index("kic").loc[1569842]  # Mass 1.00 [0.93, 1.06], Age 9.8 [7.9, 12.6]
    assert miglio["miglio21_mass_err"] == pytest.approx(0.065)
    assert miglio["miglio21_age_err"] == pytest.approx(2.35)
    assert miglio["miglio21_evstate"] == "RGB"
    k2 = frames["k2galah"].set_index("epic").loc[210707147]  # mass16/50/84 = 1.031/1.108/1.189
    assert k2["k2galah_mass"] == pytest.approx(1.108034, abs=1e-6)
    assert k2["k2galah_mass_err"] == pytest.approx((1.188769 - 1.031173) / 2, abs=1e-6)
    assert k2["gaia_source_id"] == 47498288140962304  # exact, not through float64


def test_missing_file_and_column_errors(shared_data, tmp_path):
    with pytest.raises(InputFileError, match="APOKASC2_astroNN_APOGEE_VAC.h5"):
        seismic.read_apokasc2(tmp_path)
    (tmp_path / "seismic").mkdir()
    table = pd.read_csv(shared_data / "seismic" / "Table4_Apoor_RGB+RC_Gold.csv").drop(columns="S_Mass")
    table.to_csv(tmp_path / "seismic" / "Table4_Apoor_RGB+RC_Gold.csv", index=False)
    with pytest.raises(InputFileError) as info:
        seismic.read_apokasc3(tmp_path)
    assert info.value.column == "S_Mass" and "Table4_Apoor_RGB+RC_Gold.csv" in str(info.value)
    shutil.copy(shared_data / "seismic" / "APOKASC2_astroNN_ages.h5", tmp_path / "seismic")
    with h5py.File(tmp_path / "seismic" / "APOKASC2_astroNN_APOGEE_VAC.h5", "w") as handle:
        handle["APOGEE_ID"] = np.array([b"2M00000000+0000000"])
        handle["KIC"] = np.array([1], dtype=">i4")
    with pytest.raises(InputFileError) as info:
        seismic.read_apokasc2(tmp_path)
    assert info.value.column == "Mcorr"
    (tmp_path / "seismic" / "kepler_apogee_miglio2021.fit").mkdir()
    with pytest.raises(InputFileError, match="kepler_apogee_miglio2021.fit: is a folder, not a file"):
        seismic.read_miglio21(tmp_path)
    (tmp_path / "seismic" / "APOKASC705_AGE_short.fits").write_bytes(b"")
    with pytest.raises(InputFileError, match="APOKASC705_AGE_short.fits: file is empty"):
        seismic.read_apokasc705(tmp_path)


# ---------------------------------------------------------------------------- merged table and consensus
def _toy_fill() -> pd.DataFrame:
    rows = [("mass", name, 0.10, "median_fractional_error") for name in MASS_PREFERENCE]
    rows += [("age", name, 0.20, "median_fractional_error") for name in AGE_PREFERENCE]
    fill = pd.DataFrame(rows, columns=["quantity", "catalogue", "fraction", "method"])
    fill.loc[(fill["quantity"] == "age") & (fill["catalogue"] == "apokasc705"), ["fraction", "method"]] = [
        0.25, "scatter_vs_apokasc2"]
    return fill.set_index(["quantity", "catalogue"])


def test_consensus_known_answer():
    nan = np.nan
    toy = pd.DataFrame({
        "apokasc2_mass": [1.2, nan, nan, nan], "apokasc2_mass_err": [0.1, nan, nan, nan],
        "apokasc2_age_gyr": [5.0, nan, nan, nan], "apokasc2_age_err": [1.0, nan, nan, nan],
        "apokasc2_es": ["", "", "", ""],
        "miglio21_mass": [1.3, 1.5, nan, nan], "miglio21_mass_err": [0.05, nan, nan, nan],
        "miglio21_age_gyr": [6.0, nan, nan, nan], "miglio21_age_err": [0.5, nan, nan, nan],
        "miglio21_evstate": ["RC", "", "", ""],
        "apokasc3_mass": [nan, 1.4, 1.1, nan], "apokasc3_mass_err": [nan, 0.05, 0.04, nan],
        "apokasc3_es": ["RGB", "RGB", "RC", ""],
        "montalban21_age_gyr": [nan, 9.0, nan, nan], "montalban21_age_err": [nan, 1.0, nan, nan],
        "apokasc705_age_gyr": [4.0, 8.0, 4.0, nan],
    })
    out = seismic_consensus(toy, fill_errors=_toy_fill())
    expected = pd.DataFrame({
        "mass": [1.2, 1.5, 1.1, nan], "mass_err": [0.1, 0.15, 0.04, nan],
        "mass_source": ["apokasc2", "miglio21", "apokasc3", ""],
        "mass_err_source": ["catalogue", "median_fractional_error", "catalogue", ""],
        "age_gyr": [5.0, 9.0, 4.0, nan], "age_err": [1.0, 1.0, 1.0, nan],
        "age_source": ["apokasc2", "montalban21", "apokasc705", ""],
        "age_err_source": ["catalogue", "catalogue", "scatter_vs_apokasc2", ""],
        "evolutionary_state": ["RC", "RGB", "RC", ""],
    })
    pd.testing.assert_frame_equal(out[expected.columns], expected, check_dtype=False)


def test_fill_error_scatter_known_answer(rng):
    n = 4000
    truth = rng.uniform(2.0, 10.0, n)
    toy = pd.DataFrame({"apokasc2_age_gyr": truth, "apokasc2_age_err": 0.05 * truth,
                        "apokasc705_age_gyr": truth * np.exp(rng.normal(0.0, 0.20, n))})
    fill = measure_fill_errors(toy)
    row = fill.loc[("age", "apokasc705")]
    assert row["method"] == "scatter_vs_apokasc2" and row["n_stars"] == n
    assert row["fraction"] == pytest.approx(0.20 / np.sqrt(2), abs=0.01)  # scatter beats the 5% reference
    assert fill.loc[("age", "apokasc2"), "fraction"] == pytest.approx(0.05)
    # a deliberately wrong, overconfident reference does not pull the fill below the measured scatter
    toy["apokasc2_age_err"] = 0.5 * truth
    assert measure_fill_errors(toy).loc[("age", "apokasc705"), "fraction"] == pytest.approx(0.5)


def test_merged_table(merged, frames):
    assert not any(merged.attrs["id_conflicts"].values())  # no KIC/APOGEE_ID/Gaia id disagrees between files
    for name in CATALOGUES:
        assert merged[f"in_{name}"].sum() == len(frames[name]), name
    kepler = merged[merged["kic"].notna()]
    assert kepler["kic"].is_unique
    assert merged.loc[merged["apogee_id"] != "", "apogee_id"].is_unique
    assert merged["mass"].dropna().between(*MASS_RANGE).all()
    assert merged["age_gyr"].dropna().between(*AGE_RANGE).all()
    has_mass = merged["mass"].notna()
    assert merged.loc[has_mass, "mass_err"].gt(0).all()
    has_age = merged["age_gyr"].notna()
    assert merged.loc[has_age, "age_err"].gt(0).all()
    assert set(merged["age_err_source"]) <= {"catalogue", "median_fractional_error", "scatter_vs_apokasc2", ""}
    apokasc2 = merged[merged["in_apokasc2"] & merged["apokasc2_mass"].notna()]
    assert (apokasc2["mass_source"] == "apokasc2").all()
    fill = pd.DataFrame(merged.attrs["fill_errors"]).set_index(["quantity", "catalogue"])
    row = fill.loc[("age", "apokasc705")]
    assert row["method"] == "scatter_vs_apokasc2"
    assert row["fraction"] == pytest.approx(max(row["scatter"], row["reference_error"]))
    assert 0.05 < row["fraction"] < 0.4


# ---------------------------------------------------------------------------- the development set
def test_dev_reproduces_csv_values(dev, shared_data):
    raw = pd.read_csv(shared_data / "xp_seismic_dev.csv")
    assert len(dev) == len(raw) == 179
    assert (dev["xp_row"].to_numpy() == raw["xp_row"].to_numpy()).all()
    for column in raw.columns:
        if column.endswith(("_mass", "_mass_err", "_age_gyr")):
            expected = raw[column].where(raw[column] > -9000)
            name = column.split("_")[0]
            low, high = MASS_RANGE if column.endswith(("_mass", "_mass_err")) else AGE_RANGE
            if not column.endswith("_err"):
                expected = expected.where(expected.between(low, high))
            np.testing.assert_allclose(dev[column].to_numpy(float), expected.to_numpy(float), err_msg=name)
    states = raw["miglio21_evstate"].map({1.0: "RGB", 2.0: "RC"}).fillna("")
    assert (dev["miglio21_evstate"] == states).all()
    assert dev.attrs["cleaning"][0]["age_out_of_range"] == 13  # runaway APOKASC-3 v7.0.5 ages


def test_dev_values_equal_catalogue_readers(dev, frames):
    any_kic = dev["kic"].fillna(dev["kic_jt"])
    for name, frame in frames.items():
        if name == "k2galah":
            lookup, dev_key = frame.dropna(subset=["gaia_source_id"]).set_index("gaia_source_id"), dev["gaia_source_id"]
        elif "apogee_id" in frame:
            lookup, dev_key = frame.set_index("apogee_id"), dev["apogee_id"]
        else:
            lookup, dev_key = frame.set_index("kic"), any_kic
        for column in (f"{name}_mass", f"{name}_age_gyr", f"{name}_mass_err", f"{name}_age_err"):
            if column not in frame:
                continue
            rows = dev[column].notna()
            assert rows.any() or name == "corot", column
            ids = dev_key[rows]
            np.testing.assert_allclose(dev.loc[rows, column].to_numpy(float),
                                       lookup.loc[ids.to_numpy(), column].to_numpy(float), err_msg=column)


def test_dev_consensus_equals_merged(dev, merged):
    by_kic = merged.dropna(subset=["kic"]).set_index("kic")
    by_apogee = merged[merged["apogee_id"] != ""].set_index("apogee_id")
    by_gaia = merged.dropna(subset=["gaia_source_id"]).set_index("gaia_source_id")
    columns = ["mass", "mass_err", "age_gyr", "age_err", "mass_source", "age_source", "evolutionary_state"]
    for _, star in dev.iterrows():
        kic = star["kic"] if pd.notna(star["kic"]) else star["kic_jt"]
        if pd.notna(kic):
            reference = by_kic.loc[kic]
        elif star["apogee_id"] in by_apogee.index:
            reference = by_apogee.loc[star["apogee_id"]]
        else:
            reference = by_gaia.loc[star["gaia_source_id"]]
        for column in columns:
            a, b = star[column], reference[column]
            if isinstance(a, float):
                assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b), (star["xp_row"], column)
            else:
                assert a == b, (star["xp_row"], column)
    assert dev["age_gyr"].notna().sum() == 164  # 4 stars have only -9999 entries, 11 only runaway ages
    assert dev["apokasc2_age_err"].dropna().div(dev["apokasc2_age_gyr"]).median() > 0.1  # now in Gyr
