"""Table I/O by suffix: round trips, clear errors on bad files, the required-column check, atomic writes."""

from __future__ import annotations

import errno
import gzip
import os
import shutil

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table

from bayesxp.errors import BayesXPError, InputFileError
from bayesxp.io import tables
from bayesxp.io.tables import atomic_path, read_table, require_columns, table_format, write_table

BIG_ID = 5853418002145112704  # a real Gaia DR3 source_id: exact only as int64, not as float64

#: suffix -> (keeps units, keeps 2-d columns)
ROUND_TRIP = {
    ".csv": (False, False),
    ".ecsv": (True, True),
    ".fits": (True, True),
    ".fit": (True, True),
    ".parquet": (True, True),
    ".pq": (True, True),
    ".h5": (True, True),
    ".hdf5": (True, True),
}


def _numeric_table(rng: np.random.Generator) -> Table:
    table = Table()
    table["source_id"] = np.array([1, 2, BIG_ID], dtype=np.int64)
    table["teff"] = rng.normal(4800.0, 300.0, 3) * u.K  # full float64 precision must survive
    table["flag"] = np.array([True, False, True])
    table["flux"] = rng.normal(1.0, 0.1, (3, 343)).astype(np.float32)
    return table


def _assert_same(written: Table, read: Table, units: bool, two_d: bool) -> None:
    """Values bit-identical column by column (CSV: bools come back as text), units where the format keeps them."""
    for name in written.colnames:
        if written[name].ndim > 1 and not two_d:
            continue
        expected, got = np.asarray(written[name]), np.asarray(read[name])
        if expected.dtype == bool and got.dtype.kind == "U":
            got = got == "True"
        assert got.shape == expected.shape, name
        assert np.array_equal(got, expected), name
        if units:
            assert read[name].unit == written[name].unit, name


# ---------------------------------------------------------------------------------- suffix -> format
@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.csv", "ascii.csv"), ("a.ecsv", "ascii.ecsv"), ("A.FITS", "fits"), ("a.fits.gz", "fits"),
     ("a.fit.gz", "fits"), ("a.parquet", "parquet"), ("a.pq", "parquet"), ("a.h5", "hdf5"), ("a.hdf5", "hdf5")],
)
def test_table_format_by_suffix(name, fmt):
    assert table_format(name) == fmt


def test_unknown_suffix_names_the_file():
    with pytest.raises(InputFileError, match=r"stars\.txt: unknown table suffix") as info:
        table_format("stars.txt")
    assert info.value.path == "stars.txt"


# ---------------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", list(ROUND_TRIP))
def test_round_trip_every_suffix(tmp_path, rng, suffix):
    units, two_d = ROUND_TRIP[suffix]
    table = _numeric_table(rng)
    if not two_d:
        table.remove_column("flux")
    path = write_table(table, tmp_path / f"stars{suffix}")
    read = read_table(path)
    assert len(read) == 3
    assert int(read["source_id"][2]) == BIG_ID
    _assert_same(table, read, units, two_d)
    assert sorted(os.listdir(tmp_path)) == [f"stars{suffix}"]  # no temporary file left behind


def test_csv_drops_units_but_keeps_values(tmp_path, rng):
    table = _numeric_table(rng)
    table.remove_column("flux")
    read = read_table(write_table(table, tmp_path / "t.csv"))
    assert read["teff"].unit is None
    assert np.array_equal(np.asarray(read["teff"]), np.asarray(table["teff"]))


def test_round_trip_check_rejects_a_changed_table(tmp_path, rng):
    """The comparison used above is not vacuous: one ulp or a changed unit is caught."""
    table = _numeric_table(rng)
    read = read_table(write_table(table, tmp_path / "t.fits"))
    read["teff"][1] = np.nextafter(read["teff"][1], np.inf)
    with pytest.raises(AssertionError):
        _assert_same(table, read, units=True, two_d=True)
    read = read_table(tmp_path / "t.fits")
    read["teff"].unit = u.deg_C
    with pytest.raises(AssertionError):
        _assert_same(table, read, units=True, two_d=True)


def test_fits_gz_is_read(tmp_path, rng):
    table = _numeric_table(rng)
    write_table(table, tmp_path / "t.fits")
    gz = tmp_path / "t.fits.gz"
    gz.write_bytes(gzip.compress((tmp_path / "t.fits").read_bytes()))
    _assert_same(table, read_table(gz), units=True, two_d=True)


def test_written_fits_gz_is_gzip(tmp_path, rng):
    path = write_table(_numeric_table(rng), tmp_path / "t.fits.gz")
    assert path.read_bytes()[:2] == b"\x1f\x8b"


@pytest.mark.parametrize(
    "suffix",
    [".ecsv", ".fits", ".h5",
     ".parquet"],
)
def test_string_column_round_trip(tmp_path, suffix):
    table = Table({"apogee_id": ["2M19245967+3638183", "2M19241923+3645378"], "x": [1.0, 2.0]})
    read = read_table(write_table(table, tmp_path / f"t{suffix}"))
    got = np.char.strip(np.asarray(read["apogee_id"]).astype(str))
    assert got.tolist() == ["2M19245967+3638183", "2M19241923+3645378"]


# ----------------------------------------------------------------------------------- unreadable files
def _cut_in_half(source, target):
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


@pytest.fixture
def real_fits(shared_data):
    """A real catalogue FITS file (Miglio+2021, 3,286 rows)."""
    return shared_data / "seismic" / "kepler_apogee_miglio2021.fit"


def test_real_fits_reads(real_fits):
    assert len(read_table(real_fits)) == 3286


@pytest.mark.parametrize("suffix", [".fits", ".parquet", ".fits.gz", ".h5"])
def test_truncated_file_raises_naming_it(tmp_path, real_fits, suffix):
    full = tmp_path / f"full{suffix}"
    if suffix == ".fits":
        shutil.copy(real_fits, full)
    elif suffix == ".fits.gz":
        full.write_bytes(gzip.compress(real_fits.read_bytes()))
    else:  # the same real table converted
        table = read_table(real_fits)
        write_table(Table({name: np.asarray(table[name]) for name in table.colnames
                           if np.asarray(table[name]).dtype.kind in "fiub"}), full)
    assert len(read_table(full)) == 3286  # the uncut file is fine: what fails below is the cut
    cut = _cut_in_half(full, tmp_path / f"cut{suffix}")
    with pytest.raises(InputFileError) as info:
        read_table(cut)
    assert str(cut) in str(info.value)
    assert info.value.path == str(cut)
    if suffix == ".fits":  # the whole read words it as streaming does, naming the rows the file holds
        assert "file is truncated: it holds 1623 complete rows of the 3286 its header declares" in str(info.value)  # (550080 - 14400) // 330


@pytest.mark.parametrize("suffix", [".csv", ".ecsv", ".fits", ".fits.gz", ".parquet", ".h5"])
def test_random_bytes_raise_naming_the_file(tmp_path, rng, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(rng.bytes(4096))
    with pytest.raises(InputFileError, match="cannot be read as") as info:
        read_table(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".parquet", ".h5"])
def test_empty_missing_and_folder_paths(tmp_path, suffix):
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="file is empty") as info:
        read_table(empty)
    assert info.value.path == str(empty)
    missing = tmp_path / f"missing{suffix}"
    with pytest.raises(InputFileError, match="does not exist") as info:
        read_table(missing)
    assert info.value.path == str(missing)
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    with pytest.raises(InputFileError, match="is a folder") as info:
        read_table(folder)
    assert info.value.path == str(folder)


def test_header_only_csv_has_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("source_id,flux\n")
    with pytest.raises(InputFileError, match="table has no rows"):
        read_table(path)
    path.write_text("source_id,flux\n7,1.5\n")  # one row is enough
    assert len(read_table(path)) == 1


def test_input_file_error_is_a_value_error_and_bayesxp_error():
    error = InputFileError("x.csv", "broken")
    assert isinstance(error, ValueError) and isinstance(error, BayesXPError)


# ------------------------------------------------------------------------------------ require_columns
def test_require_columns_names_the_missing_column():
    table = Table({"source_id": [1], "bp_coefficients": [0.5]})
    require_columns(table, ["source_id", "bp_coefficients"], "spectra.csv")  # all present: no error
    with pytest.raises(InputFileError) as info:
        require_columns(table, ["source_id", "rp_coefficients"], "spectra.csv")
    assert info.value.column == "rp_coefficients"
    assert str(info.value).startswith("spectra.csv: column 'rp_coefficients': required column is missing")
    assert "source_id, bp_coefficients" in str(info.value)  # says what the file has


# -------------------------------------------------------------------------------------- atomic writes
def test_atomic_path_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_atomic_path_keeps_old_file_when_writer_raises(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="writer crashed"), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("writer crashed")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_write_table_failure_leaves_old_file(tmp_path):
    target = tmp_path / "stars.fits"
    write_table(Table({"a": [1, 2]}), target)
    before = target.read_bytes()
    unwritable = Table({"a": np.array([{"x": 1}, {"y": 2}], dtype=object)})  # FITS cannot hold dicts
    with pytest.raises(TypeError, match="unsupported object types"):
        write_table(unwritable, target)
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["stars.fits"]


@pytest.mark.parametrize(
    ("error", "message"),
    [(OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
     (PermissionError(errno.EACCES, "Permission denied"), "permission denied")],
)
def test_atomic_path_disk_errors_name_the_target(tmp_path, error, message):
    target = tmp_path / "out.parquet"
    with pytest.raises(BayesXPError, match=f"cannot write {target}: {message}"), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise error
    assert os.listdir(tmp_path) == []


def test_atomic_path_other_os_errors_propagate(tmp_path):
    with pytest.raises(IsADirectoryError), atomic_path(tmp_path / "out.txt"):
        raise IsADirectoryError(errno.EISDIR, "Is a directory")
    assert os.listdir(tmp_path) == []


def test_permission_denied_on_folder_is_reported(tmp_path, monkeypatch):
    """The temporary file cannot be created (what a read-only folder does): one error naming target and folder."""

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tables.tempfile, "mkstemp", refuse)
    target = tmp_path / "out.csv"
    with pytest.raises(BayesXPError, match=f"cannot write {target}: permission denied on {tmp_path}"):
        write_table(Table({"a": [1]}), target)


def test_read_only_folder_real_chmod(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("x")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("this user (e.g. root) can write into a read-only folder")
        with pytest.raises(BayesXPError, match=f"cannot write {folder / 'out.csv'}: permission denied"):
            write_table(Table({"a": [1]}), folder / "out.csv")
    finally:
        folder.chmod(0o700)


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it after."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
@pytest.mark.parametrize("suffix", [".csv", ".fits", ".parquet", ".h5", ".txt"])
def test_written_files_honour_the_umask(tmp_path, umask, mask, mode, suffix):
    # a shared group folder must be able to read outputs: the mode is 0o666 less the umask, as for any file
    # the user creates (mkstemp's 0600 for every umask was the defect: the 0o022 and 0o002 cases fail on it)
    umask(mask)
    target = tmp_path / f"out{suffix}"
    if suffix == ".txt":
        with atomic_path(target) as tmp:
            tmp.write_text("done")
    else:
        write_table(Table({"a": [1, 2]}), target)
    assert oct(target.stat().st_mode & 0o777) == oct(mode)
    reference = tmp_path / "plain"
    reference.write_text("x")  # the mode a plain open() gives under the same umask
    assert target.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777


def test_current_umask_reads_the_mask(umask):
    from bayesxp.io.tables import current_umask

    umask(0o027)
    assert current_umask() == 0o027
    umask(0o002)
    assert current_umask() == 0o002


def _contract_parts(folder, rng, n_parts=4, rows=50):
    parts = []
    for k in range(n_parts):  # the first part's statuses are all "ok": a narrower string column than the others'
        status = np.where(rng.random(rows) < (0.1 if k else 0.0), "no finite flux samples", "ok")
        table = Table({"source_id": np.arange(k * rows, (k + 1) * rows, dtype=np.int64),
                       "mass_q50": rng.lognormal(0.2, 0.2, rows), "teff_mean": rng.normal(4800, 300, rows),
                       "status": status, "flags": np.where(status == "ok", "", "missing BP")})
        parts.append(tables.write_table(table, folder / f"part-{k:06d}.parquet"))
    return parts


def test_streamed_parquet_join_equals_the_whole_join(tmp_path, rng):
    from astropy.table import vstack

    from bayesxp.quantities import contract_unit

    parts = _contract_parts(tmp_path, rng)
    meta = {"bayesxp_model": "default", "samples_per_star": 200, "input": "x.csv"}
    assert tables.join_parts(parts, tmp_path / "streamed.parquet", meta, units=contract_unit) == 200
    whole = vstack([read_table(p) for p in parts])
    for name in whole.colnames:
        whole[name].unit = contract_unit(name)
    whole.meta = meta
    write_table(whole, tmp_path / "whole.parquet")
    streamed, reference = read_table(tmp_path / "streamed.parquet"), read_table(tmp_path / "whole.parquet")
    assert streamed.colnames == reference.colnames and dict(streamed.meta) == dict(reference.meta)
    for name in reference.colnames:
        assert streamed[name].unit == reference[name].unit, name
        assert np.asarray(streamed[name]).tolist() == np.asarray(reference[name]).tolist(), name
    assert streamed["mass_q50"].unit == u.solMass and streamed.meta["samples_per_star"] == 200
    assert tables.parquet_column(parts, "status").tolist() == np.asarray(reference["status"]).tolist()
    # any other format goes through astropy whole, with the same units and meta
    assert tables.join_parts(parts, tmp_path / "whole.fits", meta, units=contract_unit) == 200
    fits = read_table(tmp_path / "whole.fits")
    assert fits["teff_mean"].unit == u.K and np.allclose(fits["teff_mean"], reference["teff_mean"])


def test_streamed_join_refuses_a_part_of_another_schema(tmp_path, rng):
    parts = _contract_parts(tmp_path, rng, n_parts=2)
    odd = tables.write_table(Table({"source_id": [1], "other": [2.0]}), tmp_path / "odd.parquet")
    with pytest.raises(BayesXPError, match="odd.parquet.*no column 'mass_q50'"):
        tables.join_parts([*parts, odd], tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()  # atomic: nothing half-written
    with pytest.raises(ValueError, match="Parquet only"):
        tables.join_parquet_parts(parts, Table(), tmp_path / "out.csv")
