"""The catalogue of bad input files: :class:`InputCase` and :func:`input_cases`.

Every case derives a bad file from a clean base of the :class:`~bayesxp.testing.reliability.workspace.Workspace`
(NaN or absurd values, wrong dtypes, ragged arrays, missing columns or bands, junk ids, other units, empty,
truncated, corrupt or mislabelled files) and says which rows are broken and what a right outcome is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayesxp.testing.reliability.columns import Columns, _rows, write_csv
from bayesxp.testing.reliability.outcomes import BAD, N_STARS, SPECTRA_READERS
from bayesxp.testing.reliability.workspace import Workspace

__all__ = ["InputCase", "input_cases"]


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
        note: What to know when reading the outcome.
        raw_readers_pass: ``read_sampled_table`` may read the bad row as it is (it does not normalise).
        same_ids: The output keeps the input's source ids (False where the id column is missing).
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
    def build(workspace: Workspace) -> Path:
        columns = copy.deepcopy(workspace.bases[base])
        change(columns)
        return workspace.write(base, suffix, columns, name)

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
    def build(workspace: Workspace) -> Path:
        path = workspace.fresh(name)
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return path

    return build


def _derived_file(base: str, suffix: str, edit: Callable[[bytes], bytes], name: str = "stars",
                  out_suffix: str | None = None) -> Callable[[Workspace], Path]:
    def build(workspace: Workspace) -> Path:
        clean = workspace.write(base, suffix)
        path = workspace.fresh(name + (out_suffix or suffix))
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
    def build(workspace: Workspace) -> Path:
        if base == "avro":
            return workspace.write_avro([], "header_only")
        columns = _rows(workspace.bases[base], [])
        path = workspace.fresh("header_only" + suffix)
        if suffix == ".csv":
            return write_csv(columns, path)
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            clean = pq.read_schema(workspace.write(base, suffix))
            pq.write_table(pa.Table.from_pylist([], schema=clean), path)
            return path
        from astropy.table import Table

        clean = Table.read(workspace.write(base, suffix), **({"path": "data"} if suffix == ".h5" else {}))
        empty = clean[:0]
        kwargs = {"path": "data", "serialize_meta": True} if suffix == ".h5" else {}
        empty.write(path, overwrite=True, **kwargs)
        return path

    return build


def _avro_edit(edit: Callable[[list], None]) -> Callable[[Workspace], Path]:
    def build(workspace: Workspace) -> Path:
        records = copy.deepcopy(workspace.avro_records)
        edit(records)
        return workspace.write_avro(records)

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
    """The catalogue of bad input files.

    Example:
        >>> cases = input_cases()
        >>> len(cases) > 150, cases[0].name
        (True, 'sampled.csv: NaN in 20 flux samples of one star')
    """
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
    add(InputCase("input file does not exist", "files", lambda workspace: workspace.fresh("missing.csv"), None, ".csv",
                  bad_rows=None, file_level=True))
    add(InputCase("input is a folder", "files", lambda workspace: _mkdir(workspace.fresh("folder.csv")), None, ".csv",
                  bad_rows=None, file_level=True))
    return cases


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path

