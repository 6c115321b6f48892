"""DistMass reader on the small fixture in the DR17 v1.6.1 schema (``tests/data/distmass_small.fits``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from bayesxp.errors import InputFileError
from bayesxp.io.distmass import (
    REQUIRED_COLUMNS,
    age_err_to_log_age_err,
    log_age_err_to_age_err,
    read_distmass,
)

FIXTURE = Path(__file__).resolve().parent / "data" / "distmass_small.fits"


@pytest.fixture(scope="module")
def raw() -> fits.FITS_rec:
    with fits.open(FIXTURE) as hdul:
        return hdul[1].data.copy()


@pytest.fixture(scope="module")
def distmass():
    return read_distmass(FIXTURE)


def _rewrite(tmp_path: Path, drop: str | None = None, replace: dict | None = None) -> Path:
    """A copy of the fixture without column ``drop`` and/or with columns replaced by ``fits.Column``s."""
    with fits.open(FIXTURE) as hdul:
        columns = [c for c in hdul[1].columns if c.name != drop]
        if replace:
            columns = [replace.get(c.name, c) for c in columns] + [c for n, c in replace.items()
                                                                  if n not in hdul[1].columns.names]
        out = tmp_path / "distmass_variant.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(out, overwrite=True)
    return out


def test_reads_fixture_units_and_dtypes(distmass, raw):
    assert distmass.attrs["rows_read"] == len(raw) == 41
    assert distmass.attrs["duplicates_dropped"] == 1 and len(distmass) == 40
    assert distmass.attrs["age_column"] == "AGE_COR_SS"
    expected = ["apogee_id", "telescope", "field", "distmass_mass", "distmass_mass_err", "distmass_age_gyr",
                "distmass_age_err", "distmass_log_age", "distmass_log_age_err", "bitmask"]
    assert list(distmass.columns[: len(expected)]) == expected
    for column in distmass.columns:
        dtype = distmass[column].dtype
        if isinstance(dtype, np.dtype):
            assert dtype.byteorder in ("=", "|"), column
    by_id = {a.strip(): i for i, a in enumerate(raw["APOGEE_ID"])}
    rows = [by_id[a] for a in distmass["apogee_id"]]
    np.testing.assert_allclose(distmass["distmass_age_gyr"], raw["AGE_COR_SS"][rows] / 1e9)  # yr -> Gyr
    np.testing.assert_allclose(distmass["distmass_log_age"], np.log10(raw["AGE_COR_SS"][rows]))  # log10 yr
    np.testing.assert_allclose(distmass["distmass_mass"], raw["MASS"][rows])
    giants = distmass["distmass_age_gyr"].notna()
    assert giants.sum() == 36
    assert distmass.loc[giants, "distmass_mass"].between(0.5, 4).all()
    assert distmass.loc[giants, "distmass_age_gyr"].between(0.1, 20).all()
    assert distmass.loc[~giants, "distmass_logg"].gt(4).all()  # dwarfs get no ages


def test_age_error_from_dex(distmass, raw):
    by_id = {a.strip(): i for i, a in enumerate(raw["APOGEE_ID"])}
    rows = [by_id[a] for a in distmass["apogee_id"]]
    plus, minus = raw["AGE_ERR"][rows, 0], -raw["AGE_ERR"][rows, 1]
    age = raw["AGE_COR_SS"][rows] / 1e9
    np.testing.assert_allclose(distmass["distmass_age_err"], age * (10**plus - 10**-minus) / 2)
    np.testing.assert_allclose(distmass["distmass_log_age_err"], (plus + minus) / 2)
    giants = distmass["distmass_age_gyr"].notna()
    np.testing.assert_allclose(  # dex -> Gyr -> dex round trip on the fixture itself
        age_err_to_log_age_err(distmass.loc[giants, "distmass_age_gyr"], distmass.loc[giants, "distmass_age_err"]),
        distmass.loc[giants, "distmass_log_age_err"], rtol=1e-12)


def test_dex_gyr_round_trip(rng):
    age = rng.uniform(0.1, 15, 1000)
    dex = rng.uniform(0.001, 0.5, 1000)
    gyr = log_age_err_to_age_err(age, dex)
    np.testing.assert_allclose(age_err_to_log_age_err(age, gyr), dex, rtol=1e-12)
    # small errors: sigma_age ~ age * ln(10) * sigma_log_age
    np.testing.assert_allclose(log_age_err_to_age_err(age, 1e-4), age * np.log(10) * 1e-4, rtol=1e-6)
    # asymmetric: half the interval width
    assert log_age_err_to_age_err(1.0, 0.3, -0.1) == pytest.approx((10**0.3 - 10**-0.1) / 2)


def test_flags_and_duplicates(distmass):
    bits = distmass["bitmask"]
    assert set(bits) == {0, 4, 6}
    assert (distmass["distmass_outside_training_space"] == (bits == 6)).all()
    assert (distmass["distmass_in_mass_training"] == (bits > 0)).all()
    assert set(distmass.loc[bits > 0, "distmass_mass_training_source"]) == {0}
    assert set(distmass.loc[bits == 0, "distmass_mass_training_source"]) == {-1}
    assert not distmass["distmass_in_distance_training"].any()
    assert distmass["apogee_id"].is_unique
    assert "apo1m" not in set(distmass["telescope"])  # the repeated spectrum had the larger MASS_ERR
    every = read_distmass(FIXTURE, deduplicate=False)
    assert len(every) == 41 and (every["telescope"] == "apo1m").sum() == 1


def test_age_column_choice(tmp_path, distmass):
    other = read_distmass(FIXTURE, age_column="AGE_UNCOR_SS")
    np.testing.assert_allclose(other["distmass_age_gyr"], 1.03 * distmass["distmass_age_gyr"])
    with pytest.raises(InputFileError) as info:
        read_distmass(FIXTURE, age_column="AGE_NONE")
    assert info.value.column == "AGE_NONE"


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_column_names_file_and_column(tmp_path, column):
    path = _rewrite(tmp_path, drop=column)
    with pytest.raises(InputFileError) as info:
        read_distmass(path)
    assert info.value.column == column
    assert path.name in str(info.value) and column in str(info.value)


def test_no_age_column(tmp_path):
    path = tmp_path / "no_age.fits"
    with fits.open(FIXTURE) as hdul:
        columns = [c for c in hdul[1].columns if not c.name.startswith("AGE_") or c.name == "AGE_ERR"]
        fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(path)
    with pytest.raises(InputFileError, match="no age column"):
        read_distmass(path)


@pytest.mark.parametrize("keep", [0.98, 0.9, 0.5, 0.1])
def test_truncated_file_is_refused(tmp_path, keep):
    data = FIXTURE.read_bytes()
    path = tmp_path / "truncated.fits"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputFileError, match="truncated.fits"):
        read_distmass(path)


def test_missing_empty_and_not_fits(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_distmass(tmp_path / "nope.fits")
    (tmp_path / "folder.fits").mkdir()
    with pytest.raises(InputFileError, match="is a folder, not a file"):
        read_distmass(tmp_path / "folder.fits")
    (tmp_path / "empty.fits").write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        read_distmass(tmp_path / "empty.fits")
    (tmp_path / "text.fits").write_text("APOGEE_ID,MASS\n2M1,1.0\n")
    with pytest.raises(InputFileError, match="text.fits"):
        read_distmass(tmp_path / "text.fits")


def test_scalar_age_err_and_gaia_ids(tmp_path, raw):
    n = len(raw)
    dex = np.abs(raw["AGE_ERR"][:, 0])
    ids = np.arange(n, dtype=np.int64) + 4_000_000_000_000_000_001  # beyond float64's exact integers
    ids[0] = 0  # no Gaia match
    path = _rewrite(tmp_path, replace={
        "AGE_ERR": fits.Column("AGE_ERR", "D", unit="dex", array=dex),
        "GAIAEDR3_SOURCE_ID": fits.Column("GAIAEDR3_SOURCE_ID", "K", array=ids),
    })
    frame = read_distmass(path, deduplicate=False)
    np.testing.assert_allclose(frame["distmass_log_age_err"].dropna(), dex[np.isfinite(dex)])
    assert str(frame["gaia_source_id"].dtype) == "Int64"
    assert frame["gaia_source_id"].isna().sum() == 1
    assert int(frame["gaia_source_id"].iloc[1]) == 4_000_000_000_000_000_002


def test_bad_age_err_shape(tmp_path, raw):
    path = _rewrite(tmp_path, replace={
        "AGE_ERR": fits.Column("AGE_ERR", "3D", array=np.zeros((len(raw), 3)))})
    with pytest.raises(InputFileError) as info:
        read_distmass(path)
    assert info.value.column == "AGE_ERR"
