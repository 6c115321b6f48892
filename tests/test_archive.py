"""Gaia archive XP readers against GaiaXPy on every real file of ``xp_misc``, other formats, bad input."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import Table

from bayesxp.errors import InputFileError
from bayesxp.io.tables import write_table
from bayesxp.spectra import N_SAMPLES, WAVELENGTH_NM, SampledSpectra
from bayesxp.xp.continuous import XPContinuous, continuous_to_sampled
from bayesxp.xp.read import iter_spectra, read_spectra, read_xp_continuous

RAW = "XP_CONTINUOUS_RAW.csv"
MISSING_BP = "XP_CONTINUOUS_RAW_with_missing_BP.csv"
AVRO = "MeanSpectrumSolutionWithCov.avro"
SCO = "18Sco-XP-spectra.csv"
READER_SOLUTION = "input_reader_solution.csv"
FLAT = "xp_continuous_combined_chunk0.fits"
OLD_BASIS_AVRO = "sources.avro"
SAMPLED = "XP_SAMPLED_RAW_dr3int6.csv"
# statuses every real file must give, star by star (FLAT: all 2,000 "ok")
EXPECTED_STATUS = {
    RAW: ["ok", "ok"],
    MISSING_BP: ["ok", "missing BP", "ok"],
    AVRO: ["ok", "ok"],
    SCO: ["ok"],
    READER_SOLUTION: ["ok", "missing BP", "ok"],
    FLAT: ["ok"] * 2000,
    OLD_BASIS_AVRO: None,  # 30 stars of a pre-DR3 basis: checked in test_pre_dr3_basis_is_refused_per_star
    SAMPLED: ["ok", "ok"],
}
RTOL = 1e-6


def _calibrate(source: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GaiaXPy's absolute flux and errors on WAVELENGTH_NM, as ``(N, 343)`` arrays, and the source ids."""
    from gaiaxpy import calibrate

    with contextlib.redirect_stdout(io.StringIO()):
        frame, _ = calibrate(source, sampling=WAVELENGTH_NM, save_file=False)
    flux = np.vstack([np.broadcast_to(np.asarray(v, dtype=float), (N_SAMPLES,)) for v in frame["flux"]])
    error = np.vstack([np.broadcast_to(np.asarray(v, dtype=float), (N_SAMPLES,)) for v in frame["flux_error"]])
    return flux, error, frame["source_id"].to_numpy(np.int64)


def _assert_matches_gaiaxpy(spectra, reference: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Our flux x medflux equals GaiaXPy's to RTOL, NaN patterns identical; returns the max relative errors."""
    flux, error, source_id = reference
    np.testing.assert_array_equal(spectra.source_id, source_id)
    ours_flux = spectra.flux * spectra.medflux[:, None]
    ours_error = spectra.flux_error * spectra.medflux[:, None]
    np.testing.assert_array_equal(np.isnan(ours_flux), np.isnan(flux))
    np.testing.assert_array_equal(np.isnan(ours_error), np.isnan(error))
    np.testing.assert_allclose(ours_flux, flux, rtol=RTOL, atol=0)
    np.testing.assert_allclose(ours_error, error, rtol=RTOL, atol=0)
    finite = np.isfinite(flux)
    return (float(np.max(np.abs(ours_flux - flux)[finite] / np.abs(flux[finite]))),
            float(np.max(np.abs(ours_error - error)[finite] / error[finite])))


def _parse_cell(cell: object) -> np.ndarray | None:
    """Test-side parser of "(..)" / "[..]" cells (independent of the reader under test)."""
    if not isinstance(cell, str) or not cell.strip():
        return None
    return np.array(json.loads("[" + cell.strip()[1:-1] + "]"), dtype=float)


def _archive_frame(path: Path) -> pd.DataFrame:
    """An archive CSV with its array columns parsed to numpy arrays (None where the band is missing)."""
    frame = pd.read_csv(path)
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, str)).any():
            frame[column] = pd.Series([_parse_cell(v) for v in frame[column]], dtype=object)
    return frame


def _flat_reference_frame(table: Table, rows: np.ndarray) -> pd.DataFrame:
    """The flat layout as a GaiaXPy DataFrame: identity correlations (zero off-diagonal), unit std."""
    out: dict[str, object] = {"source_id": np.asarray(table["source_id"][rows], dtype=np.int64)}
    for band in ("bp", "rp"):
        out[f"{band}_coefficients"] = list(np.column_stack(
            [np.asarray(table[f"{band}_coeff_{i}"][rows], dtype=float) for i in range(55)]))
        out[f"{band}_coefficient_errors"] = list(np.column_stack(
            [np.asarray(table[f"e_{band}_coeff_{i}"][rows], dtype=float) for i in range(55)]))
        out[f"{band}_coefficient_correlations"] = [np.zeros(1485)] * len(rows)
        out[f"{band}_n_parameters"] = 55
        out[f"{band}_standard_deviation"] = 1.0
    return pd.DataFrame(out)


# ------------------------------------------------------------------------------------ every real file


def test_every_real_file_is_covered(xp_misc):
    assert sorted(p.name for p in xp_misc.iterdir() if p.is_file()) == sorted(EXPECTED_STATUS)


@pytest.mark.parametrize("name", [n for n, s in EXPECTED_STATUS.items() if s is not None])
def test_status_of_every_real_file(xp_misc, name):
    spectra = read_spectra(xp_misc / name)
    assert spectra.status.tolist() == EXPECTED_STATUS[name]
    assert spectra.flux.shape == (len(EXPECTED_STATUS[name]), N_SAMPLES)
    assert spectra.usable.all()
    np.testing.assert_allclose(np.nanmedian(spectra.flux, axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("name", [RAW, MISSING_BP, AVRO])
def test_flux_and_errors_match_gaiaxpy_on_archive_files(xp_misc, name):
    spectra = read_spectra(xp_misc / name)
    _assert_matches_gaiaxpy(spectra, _calibrate(str(xp_misc / name)))


def test_18sco_matches_gaiaxpy(xp_misc):
    """The file lacks *_standard_deviation, which GaiaXPy requires and which cancels in the errors."""
    frame = pd.read_csv(xp_misc / SCO)
    frame["bp_standard_deviation"] = 1.0
    frame["rp_standard_deviation"] = 1.0
    spectra = read_spectra(xp_misc / SCO)
    _assert_matches_gaiaxpy(spectra, _calibrate(frame))
    assert spectra.meta["phot_g_mean_mag"].tolist() == [5.327651]
    assert read_xp_continuous(xp_misc / SCO).phot_g_mean_mag.tolist() == [5.327651]


def test_full_matrix_correlations_match_gaiaxpy(xp_misc):
    """input_reader_solution.csv holds 55x55 correlation matrices "[[..],..]" that GaiaXPy's file reader
    cannot parse; GaiaXPy gets the same numbers as a DataFrame of arrays."""
    spectra = read_spectra(xp_misc / READER_SOLUTION)
    _assert_matches_gaiaxpy(spectra, _calibrate(_archive_frame(xp_misc / READER_SOLUTION)))


def test_flat_layout_matches_gaiaxpy_with_diagonal_covariance(xp_misc):
    table = Table.read(xp_misc / FLAT)
    rows = np.sort(np.random.default_rng(7).choice(len(table), size=100, replace=False))
    xp = read_xp_continuous(xp_misc / FLAT)
    spectra = continuous_to_sampled(xp)
    _assert_matches_gaiaxpy(spectra.take(rows), _calibrate(_flat_reference_frame(table, rows)))
    assert not xp.has_correlations.any() and not spectra.meta["has_correlations"].any()
    off_diagonal = xp.bp_covariance - np.einsum("nk,kl->nkl", xp.coefficient_errors("bp") ** 2, np.eye(55))
    assert np.all(off_diagonal == 0)
    np.testing.assert_array_equal(xp.rp_covariance[:, 3, 3], np.asarray(table["e_rp_coeff_3"], float) ** 2)
    np.testing.assert_array_equal(xp.bp_n_relevant_bases, np.asarray(table["bp_n_relevant_bases"]))


def test_missing_bp_star_is_nan_exactly_where_gaiaxpy_is(xp_misc):
    spectra = read_spectra(xp_misc / MISSING_BP)
    missing = np.isnan(spectra.flux[1])
    np.testing.assert_array_equal(missing, WAVELENGTH_NM <= 635.0)
    assert missing.sum() == 150 and np.isfinite(spectra.flux[[0, 2]]).all()
    xp = read_xp_continuous(xp_misc / MISSING_BP)
    assert np.isnan(xp.bp_coefficients[1]).all() and np.isfinite(xp.rp_coefficients[1]).all()
    assert xp.bp_n_parameters.tolist() == [55, 0, 55]
    # the star's flux does not depend on the other stars of the file
    np.testing.assert_array_equal(spectra.flux[[0, 2]], read_spectra(xp_misc / RAW).flux)


def test_avro_and_csv_give_the_same_covariance(xp_misc):
    """Avro stores the covariance over standard_deviation**2; the CSV errors x correlations."""
    from_avro = read_xp_continuous(xp_misc / AVRO)
    from_csv = read_xp_continuous(xp_misc / RAW)
    np.testing.assert_array_equal(from_avro.source_id, from_csv.source_id)
    np.testing.assert_array_equal(from_avro.bp_coefficients, from_csv.bp_coefficients)
    np.testing.assert_allclose(from_avro.rp_covariance, from_csv.rp_covariance, rtol=1e-6,
                               atol=1e-6 * np.abs(from_csv.rp_covariance).max())


def test_pre_dr3_basis_is_refused_per_star(xp_misc):
    """sources.avro holds 51 BP coefficients of another basis: GaiaXPy refuses the file, we flag each star."""
    with pytest.raises(ValueError, match="Coefficients length"):
        _calibrate(str(xp_misc / OLD_BASIS_AVRO))
    spectra = read_spectra(xp_misc / OLD_BASIS_AVRO)
    assert len(spectra) == 30 and not spectra.usable.any() and np.isnan(spectra.flux).all()
    assert all("bp_coefficients has 51 values, expected 55" in s for s in spectra.status)
    assert all("rp_basis_function_id is 0, not the DR3 RP basis 57" in s for s in spectra.status)


def test_archive_sampled_product_is_normalised(xp_misc):
    spectra = read_spectra(xp_misc / SAMPLED)
    frame = pd.read_csv(xp_misc / SAMPLED)
    absolute = np.vstack([_parse_cell(v) for v in frame["flux"]])
    absolute_error = np.vstack([_parse_cell(v) for v in frame["flux_error"]])
    assert absolute.shape == (2, N_SAMPLES)
    np.testing.assert_array_equal(spectra.source_id, [6, 4])
    np.testing.assert_allclose(spectra.medflux, np.median(absolute, axis=1), rtol=1e-6)
    np.testing.assert_allclose(spectra.flux * spectra.medflux[:, None], absolute, rtol=1e-6)
    np.testing.assert_allclose(spectra.flux_error * spectra.medflux[:, None], absolute_error, rtol=1e-6)
    with pytest.raises(InputFileError) as info:
        read_xp_continuous(xp_misc / SAMPLED)
    assert info.value.column == "bp_coefficients" and "sampled" in info.value.reason


# ---------------------------------------------------------------------------------- other formats


def _write_variants(frame: pd.DataFrame, folder: Path) -> dict[str, Path]:
    """The stars of ``frame`` written as the archive writes them, in six layouts."""
    arrays = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, np.ndarray)).any()]
    scalars = [c for c in frame.columns if c not in arrays]
    paths = {}

    def fixed(column: str) -> np.ndarray:
        width = max(len(v) for v in frame[column] if v is not None)
        return np.vstack([np.full(width, np.nan) if v is None else v for v in frame[column]])

    base = Table({c: frame[c].to_numpy() for c in scalars})
    # FITS, fixed-width vectors (NaN where a band is missing)
    fixed_table = base.copy()
    for column in arrays:
        fixed_table[column] = fixed(column)
    paths["fits-fixed"] = write_table(fixed_table, folder / "fixed.fits")
    # FITS, variable-length arrays (empty where a band is missing)
    variable = base.copy()
    for column in arrays:
        cells = np.empty(len(frame), dtype=object)  # 1-D even where every row has 55 values
        cells[:] = [np.array([]) if v is None else v for v in frame[column]]
        variable[column] = cells
    paths["fits-variable"] = write_table(variable, folder / "variable.fits")
    # Parquet with list columns and nulls
    parquet = {c: pa.array(frame[c].to_numpy()) for c in scalars}
    parquet.update({c: pa.array([None if v is None else v.tolist() for v in frame[c]], type=pa.list_(pa.float64()))
                    for c in arrays})
    pq.write_table(pa.table(parquet), folder / "lists.parquet")
    paths["parquet"] = folder / "lists.parquet"
    # ECSV with real array columns, and ECSV with bracketed strings (empty where missing)
    paths["ecsv-arrays"] = write_table(fixed_table, folder / "arrays.ecsv")
    paths["hdf5"] = write_table(fixed_table, folder / "arrays.h5")
    strings = base.copy()
    for column in arrays:
        strings[column] = ["" if v is None else "[" + ",".join(repr(float(x)) for x in v) + "]" for v in frame[column]]
    paths["ecsv-strings"] = write_table(strings, folder / "strings.ecsv")
    return paths


def test_other_formats_read_back_identically(xp_misc, tmp_path):
    reference = read_xp_continuous(xp_misc / MISSING_BP)
    reference_spectra = read_spectra(xp_misc / MISSING_BP)
    paths = _write_variants(_archive_frame(xp_misc / MISSING_BP), tmp_path)
    for layout, path in paths.items():
        xp = read_xp_continuous(path)
        assert xp.status.tolist() == ["ok", "missing BP", "ok"], layout
        for name in ("source_id", "bp_coefficients", "rp_coefficients", "bp_covariance", "rp_covariance",
                     "bp_n_relevant_bases", "rp_standard_deviation", "has_correlations"):
            np.testing.assert_array_equal(getattr(xp, name), getattr(reference, name), err_msg=f"{layout} {name}")
        spectra = read_spectra(path)
        np.testing.assert_array_equal(spectra.flux, reference_spectra.flux, err_msg=layout)
        np.testing.assert_array_equal(spectra.flux_error, reference_spectra.flux_error, err_msg=layout)


def test_library_layout_keeps_its_medflux(tmp_path, rng):
    flux = 1.0 + 0.1 * rng.standard_normal((3, N_SAMPLES))
    table = Table({"gaiaedr3_source_id": [11, 12, 13], "flux": flux, "flux_error": np.full((3, N_SAMPLES), 0.02),
                   "medflux": [2e-16, 3e-16, 4e-16]})
    spectra = read_spectra(write_table(table, tmp_path / "library.parquet"))
    np.testing.assert_array_equal(spectra.medflux, [2e-16, 3e-16, 4e-16])
    np.testing.assert_allclose(spectra.flux, flux, rtol=1e-6)
    assert spectra.source_id.tolist() == [11, 12, 13]


def test_sampled_table_on_another_grid_is_refused(tmp_path):
    table = Table({"source_id": [1, 2], "flux": np.ones((2, 100)), "flux_error": np.full((2, 100), 0.1)})
    path = write_table(table, tmp_path / "coarse.fits")
    with pytest.raises(InputFileError) as info:
        read_spectra(path)
    assert info.value.column == "flux" and "100 samples" in str(info.value) and "343" in str(info.value)


# ------------------------------------------------------------------------------------ covariance


def test_flux_errors_come_from_the_covariance(xp_misc, tmp_path):
    """Zeroing the correlations leaves the flux and changes the errors, exactly as in GaiaXPy."""
    frame = pd.read_csv(xp_misc / RAW)
    for band in ("bp", "rp"):
        frame[f"{band}_coefficient_correlations"] = "(" + ", ".join(["0.0"] * 1485) + ")"
    path = tmp_path / "no_correlations.csv"
    frame.to_csv(path, index=False)
    with_correlations = read_spectra(xp_misc / RAW)
    without = read_spectra(path)
    np.testing.assert_array_equal(without.flux, with_correlations.flux)
    change = np.abs(without.flux_error / with_correlations.flux_error - 1)
    assert np.median(change) > 0.05
    _assert_matches_gaiaxpy(without, _calibrate(str(path)))
    # and dropping the correlation columns gives the same diagonal covariance, flagged as such
    frame.drop(columns=["bp_coefficient_correlations", "rp_coefficient_correlations"]).to_csv(
        tmp_path / "dropped.csv", index=False)
    dropped = read_spectra(tmp_path / "dropped.csv")
    np.testing.assert_array_equal(dropped.flux_error, without.flux_error)
    assert without.meta["has_correlations"].all() and not dropped.meta["has_correlations"].any()


def test_covariance_unpacks_like_gaiaxpy(xp_misc):
    from gaiaxpy.core.generic_functions import array_to_symmetric_matrix

    frame = pd.read_csv(xp_misc / RAW)
    xp = read_xp_continuous(xp_misc / RAW)
    for i in range(len(frame)):
        errors = _parse_cell(frame["rp_coefficient_errors"][i])
        correlation = array_to_symmetric_matrix(_parse_cell(frame["rp_coefficient_correlations"][i]), 55)
        np.testing.assert_allclose(xp.rp_covariance[i], np.diag(errors) @ correlation @ np.diag(errors),
                                   rtol=1e-12, atol=0)
        assert xp.rp_covariance[i, 5, 2] != xp.rp_covariance[i, 5, 3]  # really not diagonal


# ------------------------------------------------------------------------------------- bad stars


def _bad_star_file(xp_misc: Path, tmp_path: Path) -> Path:
    frame = pd.read_csv(xp_misc / MISSING_BP)
    frame = pd.concat([frame, frame.iloc[[0, 2, 2, 0, 2]]], ignore_index=True)
    bp = _parse_cell(frame.loc[3, "bp_coefficients"])
    frame.loc[3, "bp_coefficients"] = "(" + ", ".join("NaN" if k == 4 else repr(v) for k, v in enumerate(bp)) + ")"
    rp = _parse_cell(frame.loc[4, "rp_coefficients"])
    frame.loc[4, "rp_coefficients"] = "(" + ", ".join(repr(v) for v in rp[:54]) + ")"
    correlations = _parse_cell(frame.loc[5, "bp_coefficient_correlations"])
    correlations[:3] = [0.99, -0.99, 0.99]  # C[1,0], C[2,0], C[2,1]: indefinite
    frame.loc[5, "bp_coefficient_correlations"] = "(" + ", ".join(repr(v) for v in correlations) + ")"
    for band in ("bp", "rp"):
        frame.loc[6, f"{band}_coefficients"] = ""
    frame.loc[7, "rp_coefficient_errors"] = "(1.0, abc)"
    path = tmp_path / "bad_stars.csv"
    frame.to_csv(path, index=False)
    return path


def test_bad_stars_keep_their_rows_and_the_good_stars(xp_misc, tmp_path):
    spectra = read_spectra(_bad_star_file(xp_misc, tmp_path))
    assert spectra.status.tolist() == [
        "ok", "missing BP", "ok",
        "bp_coefficients has non-finite values",
        "rp_coefficients has 54 values, expected 55",
        "BP covariance is not positive definite",
        "no BP or RP coefficients",
        "rp_coefficient_errors is not a list of numbers",
    ]
    assert spectra.usable.tolist() == [True, True, True, False, False, False, False, False]
    assert np.isnan(spectra.flux[3:]).all() and np.isnan(spectra.medflux[3:]).all()
    clean = read_spectra(xp_misc / MISSING_BP)
    np.testing.assert_array_equal(spectra.flux[:3], clean.flux)
    np.testing.assert_array_equal(spectra.flux_error[:3], clean.flux_error)


def test_continuous_to_sampled_rechecks_hand_made_input():
    xp = XPContinuous.empty(2)
    xp.bp_coefficients[:] = 1.0
    xp.bp_covariance[:] = np.eye(55)
    xp.bp_covariance[1, 0, 1] = xp.bp_covariance[1, 1, 0] = 2.0  # |correlation| > 1
    xp.status[:] = "missing RP"
    spectra = continuous_to_sampled(xp)
    assert spectra.status.tolist() == ["missing RP", "BP covariance is not positive definite"]
    np.testing.assert_array_equal(np.isnan(spectra.flux[0]), WAVELENGTH_NM >= 643.0)
    assert np.isnan(spectra.flux[1]).all()


# ------------------------------------------------------------------------------------- bad files


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _bad_files(xp_misc: Path, folder: Path) -> dict[str, tuple[Path, str | None]]:
    raw = pd.read_csv(xp_misc / MISSING_BP)
    csv_bytes = (xp_misc / RAW).read_bytes()
    (folder / "truncated.csv").write_bytes(csv_bytes[: int(0.9 * len(csv_bytes))])
    fits_bytes = (xp_misc / FLAT).read_bytes()
    (folder / "truncated.fits").write_bytes(fits_bytes[: len(fits_bytes) // 2])
    avro_bytes = (xp_misc / AVRO).read_bytes()
    (folder / "truncated.avro").write_bytes(avro_bytes[: int(0.6 * len(avro_bytes))])
    (folder / "corrupt.parquet").write_bytes(np.random.default_rng(3).bytes(4000))
    (folder / "empty.ecsv").write_bytes(b"")
    flat = Table.read(xp_misc / FLAT)[:5]
    flat.remove_column("e_rp_coeff_54")
    flat.write(folder / "flat_without_an_error.fits")
    garbage = raw.copy()
    garbage["bp_coefficients"] = "(abc, def)"
    float_ids = raw.copy()
    float_ids["source_id"] = float_ids["source_id"].astype(float)
    return {
        "missing": (folder / "does_not_exist.csv", None),
        "empty": (folder / "empty.ecsv", None),
        "truncated csv": (folder / "truncated.csv", None),
        "truncated fits": (folder / "truncated.fits", None),
        "truncated avro": (folder / "truncated.avro", None),
        "corrupt parquet": (folder / "corrupt.parquet", None),
        "no source_id": (_write(folder / "no_id.csv", raw.drop(columns=["source_id"])), "source_id"),
        "no coefficients": (_write(folder / "no_coefficients.csv", raw.drop(
            columns=["bp_coefficients", "rp_coefficients"])), "bp_coefficients"),
        "no errors": (_write(folder / "no_errors.csv", raw.drop(columns=["rp_coefficient_errors"])),
                      "rp_coefficient_errors"),
        "flat without an error column": (folder / "flat_without_an_error.fits", "e_rp_coeff_54"),
        "not numbers": (_write(folder / "garbage.csv", garbage), "bp_coefficients"),
        "float source ids": (_write(folder / "float_ids.csv", float_ids), "source_id"),
    }


@pytest.mark.parametrize("reader", [read_xp_continuous, read_spectra])
def test_bad_files_raise_naming_file_and_column(xp_misc, tmp_path, reader):
    for case, (path, column) in _bad_files(xp_misc, tmp_path).items():
        with pytest.raises(InputFileError) as info:
            reader(path)
        assert info.value.path == str(path), case
        assert str(path) in str(info.value), case
        assert info.value.column == column, f"{case}: {info.value}"


@pytest.mark.parametrize(("name", "batch_size"), [(MISSING_BP, 2), (AVRO, 1), (FLAT, 700)])
def test_batches_join_to_the_whole_file(xp_misc, name, batch_size):
    whole = read_spectra(xp_misc / name)
    batches = list(iter_spectra(xp_misc / name, batch_size=batch_size))
    assert [len(batch) for batch in batches[:-1]] == [batch_size] * (len(batches) - 1)
    joined = SampledSpectra.concatenate(batches)
    np.testing.assert_array_equal(joined.source_id, whole.source_id)
    np.testing.assert_array_equal(joined.flux, whole.flux)
    np.testing.assert_array_equal(joined.flux_error, whole.flux_error)
    assert joined.status.tolist() == whole.status.tolist()
