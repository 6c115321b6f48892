"""The :class:`Runner` of the catalogue: each input case against every reader and ``bayesxp predict``, with the
good stars compared with a clean run's.

The good stars lost by a try are those missing, flagged, or whose result differs from a clean run (readers:
the same flux or coefficients; predict: the same output row, compared with the clean file's run and with the
run of the clean file without the bad rows, since the draws of a batch depend on its usable rows).
"""

from __future__ import annotations

import copy
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bayesxp.testing.reliability.columns import _rows
from bayesxp.testing.reliability.inputs import InputCase, _targets
from bayesxp.testing.reliability.outcomes import (
    CRASH,
    ERROR,
    N_STARS,
    NUM_SAMPLES,
    STATUS,
    TRANSPARENT,
    VAGUE,
    Outcome,
    _call,
    _names_place,
    _quiet,
)
from bayesxp.testing.reliability.workspace import Workspace

__all__ = ["PredictRun", "run_predict", "Runner", "copy_model"]


def _reader(target: str) -> Callable[[Path], object]:
    from bayesxp.io.library import read_sampled_table
    from bayesxp.io.tables import read_table
    from bayesxp.spectra import SampledSpectra
    from bayesxp.xp.read import iter_spectra, read_spectra, read_xp_continuous

    def iterate(path: Path) -> object:
        parts = list(iter_spectra(path, batch_size=2))
        return SampledSpectra.concatenate(parts) if parts else None

    return {"read_table": read_table, "read_sampled_table": read_sampled_table,
            "read_xp_continuous": read_xp_continuous, "read_spectra": read_spectra, "iter_spectra": iterate}[target]



def _rows_equal(value: object, reference: object, i: int, j: int) -> bool:
    """Row ``i`` of a reader result equals row ``j`` of the clean result."""
    if hasattr(value, "flux"):
        a = np.asarray(value.flux[i], np.float64)
        b = np.asarray(reference.flux[j], np.float64)
        return bool(np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a, b, rtol=1e-5, atol=0, equal_nan=True))
    a = np.r_[value.bp_coefficients[i], value.rp_coefficients[i]]
    b = np.r_[reference.bp_coefficients[j], reference.rp_coefficients[j]]
    return bool(np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True))



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


def run_predict(input_path: Path, output: Path, model: Path, cli: Callable[[list[str]], int],
                extra: tuple[str, ...] = ()) -> PredictRun:
    """``bayesxp predict`` in this process, stdout/stderr captured, any escaping exception kept.

    Args:
        input_path: The stars.
        output: The output table.
        model: The model folder.
        cli: The ``bayesxp`` command's entry point, :func:`bayesxp.cli.main` (passed in: the testing layer
            sits below the CLI).
        extra: Further ``predict`` arguments.

    Returns:
        The run: exit status, captured output, escaping exception, and the output table when written.

    Example:
        >>> from bayesxp.cli import main
        >>> run_predict(Path("stars.csv"), Path("out.csv"), Path("model"), main).rc  # doctest: +SKIP
        0
    """
    argv = ["predict", "--input", str(input_path), "--output", str(output), "--model", str(model),
            "--num-samples", str(NUM_SAMPLES), "--quiet", *extra]
    rc, exception, tail = None, None, ""
    with _quiet() as (out, err, caught):
        try:
            rc = cli(argv)
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



class Runner:
    """Runs the catalogue; keeps clean references per (base, format) and per removed rows.

    Args:
        workspace: The clean bases and the folder for the variants.
        model: The model folder ``predict`` uses (a private copy: :func:`copy_model`).
        cli: The ``bayesxp`` command's entry point, :func:`bayesxp.cli.main`.

    Example:
        >>> from bayesxp.cli import main
        >>> runner = Runner(workspace, copy_model(model, workspace), main)  # doctest: +SKIP
        >>> runner.run_input(input_cases()[0]); runner.results[0].outcome  # doctest: +SKIP
        'handled transparently'
    """

    def __init__(self, workspace: Workspace, model: Path, cli: Callable[[list[str]], int]) -> None:
        self.workspace = workspace
        self.model = model
        self.cli = cli
        self._reader_refs: dict[tuple, object] = {}
        self._predict_refs: dict[tuple, object] = {}
        self.results: list[Outcome] = []

    def clean_file(self, base: str, suffix: str, drop: tuple[int, ...] = ()) -> Path:
        """A clean base written in the format of ``suffix``, without the rows ``drop``."""
        if base == "avro":
            records = [r for i, r in enumerate(self.workspace.avro_records) if i not in drop]
            return self.workspace.write_avro(records, "clean")
        keep = [i for i in range(N_STARS) if i not in drop]
        return self.workspace.write(base, suffix, _rows(copy.deepcopy(self.workspace.bases[base]), keep), "clean")

    def reader_reference(self, base: str, suffix: str, target: str) -> object:
        """What ``target`` reads from the clean base (computed once)."""
        key = (base, suffix, target)
        if key not in self._reader_refs:
            self._reader_refs[key] = _reader(target)(self.clean_file(base, suffix))
        return self._reader_refs[key]

    def predict_reference(self, base: str, suffix: str, drop: tuple[int, ...] = ()) -> object:
        """The ``predict`` output table of the clean base without the rows ``drop`` (computed once)."""
        key = (base, suffix, drop)
        if key not in self._predict_refs:
            path = self.clean_file(base, suffix, drop)
            run = run_predict(path, path.with_name("clean_out.csv"), self.model, self.cli)
            if run.table is None:
                raise RuntimeError(f"clean predict failed on {path}: {run.stderr or run.tail}")
            self._predict_refs[key] = run.table
        return self._predict_refs[key]

    # ---------------------------------------------------------------- inputs
    def run_input(self, case: InputCase) -> None:
        """Try one input case against each of its targets; append the outcomes to :attr:`results`."""
        path = case.build(self.workspace)
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
        run = run_predict(path, output, self.model, self.cli)
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
        """Record the outcome of a try that is not an input case (model folders, outputs, catalogues)."""
        detail = detail.replace(str(self.workspace.root), "<tmp>")
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



def copy_model(model: Path, workspace: Workspace) -> Path:
    """A readable private copy of a model folder, in a fresh folder of the workspace.

    Example:
        >>> folder = copy_model(model, workspace)  # doctest: +SKIP
    """
    folder = workspace.fresh("model")
    shutil.copytree(model, folder)
    for child in [folder, *folder.iterdir()]:
        child.chmod(0o755 if child.is_dir() else 0o644)
    return folder

