"""Bad input files: each gives a clear error naming the file, or a per-star status with the good stars kept.

Every file is derived from the real archive files of ``xp_misc`` inside ``tmp_path``. The full catalogue (with
``bayesxp predict`` on each) is ``benchmarks/reliability.py``; these are its cases that the readers fixed.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.table import Table
from reliability_helpers import N_STARS, packed_lines, write_lines

from bayesxp.cli import main
from bayesxp.errors import BayesXPError, InputFileError
from bayesxp.io.library import read_sampled_table
from bayesxp.io.tables import atomic_path, parse_source_ids, read_table, write_table
from bayesxp.spectra import N_SAMPLES, STATUS_OK, SampledSpectra
from bayesxp.xp.read import iter_spectra, read_spectra, read_xp_continuous, spectra_from_table

BAD = 1


def _all_spectra(path):
    return SampledSpectra.concatenate(list(iter_spectra(path, batch_size=2)))


def _good_rows_equal(spectra, clean, bad=(BAD,)):
    for i in range(len(clean)):
        if i in bad:
            continue
        assert spectra.status[i] == clean.status[i], i
        assert spectra.source_id[i] == clean.source_id[i], i
        np.testing.assert_array_equal(spectra.flux[i], clean.flux[i])


def _with_id(xp_misc, tmp_path, junk):
    header, lines = packed_lines(xp_misc)
    lines[BAD] = junk + "," + lines[BAD].split(",", 1)[1]
    return write_lines(tmp_path / "junk_id.csv", header, lines)


@pytest.mark.parametrize("junk", ["★4242", '"12,34"', '"x""y\'z"', "", "5.853498713190526e+18", "abc"])
def test_a_junk_source_id_is_that_stars_note_and_every_star_is_kept(xp_misc, tmp_path, packed_csv, junk):
    clean = read_spectra(packed_csv)
    path = _with_id(xp_misc, tmp_path, junk)
    for reader in (read_spectra, _all_spectra):
        spectra = reader(path)
        assert len(spectra) == N_STARS
        _good_rows_equal(spectra, clean)
        assert spectra.status[BAD].startswith("missing source_id")  # still usable: predicted, flagged
        assert spectra.usable[BAD] and spectra.source_id[BAD] == 0
        np.testing.assert_array_equal(spectra.flux[BAD], clean.flux[BAD])
    assert read_xp_continuous(path).status[BAD].startswith("missing source_id")


def test_a_column_of_float_ids_is_refused_as_before(xp_misc, tmp_path):
    header, lines = packed_lines(xp_misc, 2)
    lines = [f"{float(line.split(',', 1)[0]):.15e},{line.split(',', 1)[1]}" for line in lines]
    path = write_lines(tmp_path / "float_ids.csv", header, lines)
    with pytest.raises(InputFileError, match="floating-point") as info:
        read_spectra(path)
    assert info.value.column == "source_id" and str(path) in str(info.value)


def test_parse_source_ids_row_by_row():
    ids, problems = parse_source_ids(np.array(["5853498713190525696", " 7 ", "", "x,y", "1e3", "99999999999999999999"]))
    assert ids.tolist() == [5853498713190525696, 7, 0, 0, 0, 0]
    assert sorted(problems) == [2, 3, 4, 5]
    assert all(reason.startswith("missing source_id") for reason in problems.values())
    masked = np.ma.MaskedArray([1, 2, 3], mask=[False, True, False])
    assert parse_source_ids(masked)[1] == {1: "missing source_id"}


def test_a_word_in_one_stars_flux_is_that_stars_status(tmp_path):
    good = "[" + ", ".join(["1.0"] * N_SAMPLES) + "]"
    table = Table({"gaiaedr3_source_id": [1, 2, 3], "flux": [good, "[1.0, abc, 2.0]", good],
                   "flux_error": [good.replace("1.0", "0.01")] * 3, "medflux": ["2e-16", "n/a", "3e-16"]})
    path = write_table(table, tmp_path / "word.csv")
    for reader in (read_sampled_table, read_spectra, _all_spectra):
        spectra = reader(path)
        assert spectra.status.tolist()[0::2] == [STATUS_OK, STATUS_OK]
        assert spectra.status[1].startswith("flux is not a list of numbers")
        assert spectra.source_id.tolist() == [1, 2, 3]
    assert np.isnan(read_sampled_table(path).medflux[1])  # a word as medflux is a missing medflux


def test_null_and_ragged_parquet_cells_are_per_star(tmp_path):
    flux = [list(np.ones(N_SAMPLES)), None, list(np.ones(300)), list(np.ones(N_SAMPLES))]
    error = [list(np.full(N_SAMPLES, 0.01))] * 4
    path = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"source_id": [1, 2, 3, 4], "flux": flux, "flux_error": error, "medflux": [1.0] * 4}),
                   path)
    for reader in (read_sampled_table, read_spectra, _all_spectra):
        status = reader(path).status.tolist()
        assert status == [STATUS_OK, "flux is missing", f"flux has 300 samples, expected {N_SAMPLES}", STATUS_OK]


@pytest.mark.parametrize("factor", [1e10, 1e-10, 1e-20, 1e20])
def test_flux_in_other_units_gives_the_same_normalised_spectra(xp_misc, tmp_path, factor):
    """The archive's absolute XP_SAMPLED flux in another unit: the division by the median undoes it."""
    clean = read_spectra(xp_misc / "XP_SAMPLED_RAW_dr3int6.csv")
    table = read_table(xp_misc / "XP_SAMPLED_RAW_dr3int6.csv")
    for column in ("flux", "flux_error"):
        values = [np.array([float(v) for v in str(cell).strip("()[]").split(",")]) * factor for cell in table[column]]
        table[column] = ["(" + ", ".join(repr(float(v)) for v in row) + ")" for row in values]
    scaled = read_spectra(write_table(table, tmp_path / "scaled.csv"))
    np.testing.assert_allclose(scaled.flux, clean.flux, rtol=1e-6)
    np.testing.assert_allclose(scaled.flux_error, clean.flux_error, rtol=1e-6)
    np.testing.assert_allclose(scaled.medflux, clean.medflux * factor, rtol=1e-6)
    assert scaled.status.tolist() == clean.status.tolist()


def test_library_layout_in_other_units_is_renormalised_and_library_rows_are_untouched(tmp_path, rng):
    flux = 1.0 + 0.05 * rng.standard_normal((3, N_SAMPLES))
    flux /= np.median(flux, axis=1, keepdims=True)
    error = np.full((3, N_SAMPLES), 0.02)
    table = Table({"source_id": [1, 2, 3], "flux": flux, "flux_error": error, "medflux": [2e-16, 3e-16, 4e-16]})
    clean = read_spectra(write_table(table, tmp_path / "library.fits"))
    np.testing.assert_array_equal(clean.flux, flux.astype(np.float32))  # a library row is read as it is
    table["flux"][1] *= 1e10
    table["flux_error"][1] *= 1e10
    scaled = read_spectra(write_table(table, tmp_path / "units.fits"))
    np.testing.assert_allclose(scaled.flux, clean.flux, rtol=1e-6)
    np.testing.assert_allclose(scaled.medflux, [2e-16, 3e-6, 4e-16], rtol=1e-6)


def test_flux_beyond_float32_is_masked_or_normalised_never_infinite(tmp_path):
    flux = np.ones((2, N_SAMPLES))
    flux[1] *= 1e40
    table = Table({"source_id": [1, 2], "flux": flux, "flux_error": np.full((2, N_SAMPLES), 0.01)})
    path = write_table(table, tmp_path / "huge.parquet")
    raw = read_sampled_table(path)  # read as it is: the samples overflow float32 and are masked
    assert not np.isinf(raw.flux).any() and raw.status[1] != STATUS_OK
    spectra = read_spectra(path)  # divided by the median in float64 first
    assert spectra.status.tolist() == [STATUS_OK, STATUS_OK]
    np.testing.assert_array_equal(spectra.flux[1], spectra.flux[0])


@pytest.mark.parametrize("cut", ["inside a quoted array", "after a complete field"])
def test_a_truncated_csv_is_refused_by_every_reader(xp_misc, tmp_path, packed_csv, cut):
    data = packed_csv.read_bytes()
    data = data[: data.rfind(b'"') - 20] if cut == "inside a quoted array" else data[: data.rstrip(b"\n").rfind(b",")]
    path = tmp_path / "cut.csv"
    path.write_bytes(data)
    for reader in (read_table, read_xp_continuous, read_spectra, _all_spectra):
        with pytest.raises(InputFileError, match="truncated") as info:
            reader(path)
        assert str(path) in str(info.value)


def test_a_header_only_parquet_is_refused_by_iter_spectra(tmp_path):
    schema = pa.schema([("source_id", pa.int64()), ("flux", pa.list_(pa.float64())),
                        ("flux_error", pa.list_(pa.float64()))])
    path = tmp_path / "header_only.parquet"
    pq.write_table(pa.Table.from_pylist([], schema=schema), path)
    for reader in (read_spectra, _all_spectra):
        with pytest.raises(InputFileError, match="no rows"):
            reader(path)


def test_read_errors_are_one_line(tmp_path):
    path = tmp_path / "broken.ecsv"
    path.write_text("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: int64}\na\n1 2 3\n")
    with pytest.raises(InputFileError) as info:
        read_table(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_writing_onto_a_folder_is_one_clear_error(tmp_path):
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(BayesXPError, match="cannot write .*out.csv: it is a folder"):
        write_table(Table({"a": [1]}), tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    with pytest.raises(BayesXPError), atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("x")


def test_per_star_garbage_in_memory_tables_keeps_the_good_stars(xp_misc):
    table = read_table(xp_misc / "XP_CONTINUOUS_RAW_with_missing_BP.csv")
    clean = spectra_from_table(table.copy())
    table["bp_coefficients"] = table["bp_coefficients"].astype(object)
    table["bp_coefficients"][0] = "[1, 2, not-a-number]"
    spectra = spectra_from_table(table)
    assert spectra.status[0].startswith("bp_coefficients is not a list of numbers")
    assert spectra.status.tolist()[1:] == clean.status.tolist()[1:]
    np.testing.assert_array_equal(spectra.flux[2], clean.flux[2])


# --------------------------------------------------------------------------------- seismic, DistMass


def test_seismic_dev_truncated_or_header_only_is_a_clear_error(shared_data, tmp_path):
    from bayesxp.labels.seismic_truth import seismic_dev_consensus

    data = (shared_data / "xp_seismic_dev.csv").read_bytes()
    cut = tmp_path / "cut" / "xp_seismic_dev.csv"
    cut.parent.mkdir()
    cut.write_bytes(data[: int(0.6 * len(data))])
    header = tmp_path / "header" / "xp_seismic_dev.csv"
    header.parent.mkdir()
    header.write_bytes(data.split(b"\n", 1)[0] + b"\n")
    for path, message in ((cut, "truncated"), (header, "no rows")):
        with pytest.raises(InputFileError, match=message) as info:
            seismic_dev_consensus(path, data_dir=shared_data)
        assert str(path) in str(info.value)


def test_a_damaged_integer_cell_in_a_catalogue_is_missing_not_a_crash():
    from bayesxp.io.columns import nullable_int64

    values = nullable_int64(np.array(["123", "", "\x89\x01junk", "-4"], dtype=object))
    assert values.tolist()[0] == 123 and values.tolist()[3] == -4
    assert values.isna().tolist() == [False, True, True, False]


# ------------------------------------------------------------------------------------------ predict


def _predict(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def test_predict_keeps_every_good_star_of_a_file_of_mixed_bad_stars(xp_misc, tmp_path, packed_csv,
                                                                    tiny_model_folder):
    """One file with a junk id, a word in an array, a missing band and NaN coefficients: the good stars' rows
    equal those of a clean file holding only them, the bad ones are flagged, and no traceback escapes."""
    header, lines = packed_lines(xp_misc)
    names = header.split(",")
    bad = {1: "source_id", 2: "bp_coefficients", 4: "rp_coefficients"}
    broken = []
    for i, line in enumerate(lines):
        cells = next(iter(__import__("csv").reader([line])))
        if i == 1:
            cells[0] = "★1"
        elif i == 2:
            cells[names.index("bp_coefficients")] = "[1.0, two, 3.0]"
        elif i == 4:
            for column in ("rp_coefficients", "rp_coefficient_errors", "rp_coefficient_correlations"):
                cells[names.index(column)] = ""
        broken.append(",".join(f'"{c}"' if "," in c else c for c in cells))
    path = write_lines(tmp_path / "mixed.csv", header, broken)
    base = ["--model", str(tiny_model_folder), "--num-samples", "10", "--quiet"]
    rc, err = _predict(["predict", "--input", str(path), "--output", str(tmp_path / "out.csv"), *base])
    assert rc == 0 and "Traceback" not in err
    out = read_table(tmp_path / "out.csv")
    assert len(out) == N_STARS
    flags = ["" if np.ma.is_masked(f) else str(f) for f in out["flags"]]
    assert str(out["status"][2]).startswith("bp_coefficients is not a list of numbers")
    assert "missing source_id" in flags[1] and "missing RP" in flags[4]
    # a usable bad star (no id, RP missing) is predicted too, so the reference batch keeps its place
    keep = [i for i in range(N_STARS) if i != 2]
    reference_path = write_lines(tmp_path / "clean.csv", header, [lines[i] for i in keep])
    rc, _ = _predict(["predict", "--input", str(reference_path), "--output", str(tmp_path / "ref.csv"), *base])
    reference = read_table(tmp_path / "ref.csv")
    numeric = [c for c in out.colnames if c not in ("source_id", "status", "flags")]
    for row, i in enumerate(keep):
        if i in bad:
            continue
        assert out["source_id"][i] == reference["source_id"][row]
        np.testing.assert_allclose([out[c][i] for c in numeric], [reference[c][row] for c in numeric], rtol=1e-9)
