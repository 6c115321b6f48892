"""Output faults of ``bayesxp predict``: read-only folders, full disks, bad output paths."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bayesxp.testing.faults import enospc_on_fsync, enospc_on_write, full_disk, unprivileged
from bayesxp.testing.reliability.outcomes import ERROR, TRANSPARENT
from bayesxp.testing.reliability.runner import (
    Runner,
    _predict_outcome,
    _predict_row_equal,
    copy_model,
    run_predict,
)

__all__ = ["output_cases"]


def output_cases(runner: Runner) -> None:
    """``bayesxp predict`` writing where it cannot: a read-only folder, a full disk (from the start, in the
    final write, in a batch part, at fsync), an unknown suffix, a folder or the input as output; and where it
    can (a new folder, every format). An old output must stay intact, and a re-run after the fault must give
    a clean run's rows.

    Example:
        >>> output_cases(runner)  # doctest: +SKIP
    """
    workspace = runner.workspace
    stars = runner.clean_file("packed", ".csv")
    model = copy_model(runner.model, workspace)
    reference = runner.predict_reference("packed", ".csv")

    def attempt(name: str, output: Path, context: contextlib.AbstractContextManager, old: bytes | None = b"OLD",
                then_rerun: bool = False, extra: tuple[str, ...] = ()) -> None:
        if old is not None and output.parent.is_dir() and not output.exists():
            output.write_bytes(old)
        with context:
            run = run_predict(stars, output, model, runner.cli, extra)
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
            rerun = run_predict(stars, output, model, runner.cli, extra)
            same = rerun.table is not None and all(_predict_row_equal(rerun.table, i, reference, i)
                                                   for i in range(len(reference)))
            detail += "; re-run after the fault: " + ("same rows as a clean run" if same else "DIFFERENT rows")
            expected = expected and same
        runner.add(name, "output", "predict", outcome, escaped, expected, detail.replace(str(output.parent), "<dir>"))

    folder = workspace.fresh("readonly")
    folder.mkdir()
    for parent in (workspace.root, *[p for p in folder.parents if str(p).startswith(str(workspace.root))], folder):
        parent.chmod(0o755)
    stars.parent.chmod(0o755)
    stars.chmod(0o644)
    (folder / "out.csv").write_bytes(b"OLD")
    folder.chmod(0o555)
    attempt("output in a read-only folder", folder / "out.csv", unprivileged(), old=b"OLD")
    folder.chmod(0o755)

    folder = workspace.fresh("full")
    folder.mkdir()
    attempt("disk full from the start (every write under the folder)", folder / "out.csv", full_disk(folder))
    folder = workspace.fresh("full_final")
    folder.mkdir()
    attempt("disk full while writing the final output", folder / "out.csv", enospc_on_write(".out.csv"),
            then_rerun=True)
    folder = workspace.fresh("full_part")
    folder.mkdir()
    attempt("disk full while writing a batch part", folder / "out.csv", enospc_on_write(".part-"), then_rerun=True)
    folder = workspace.fresh("full_fsync")
    folder.mkdir()
    attempt("ENOSPC reported by fsync", folder / "out.csv", enospc_on_fsync(), then_rerun=True)
    folder = workspace.fresh("suffix")
    folder.mkdir()
    attempt("unknown output suffix (.txt)", folder / "out.txt", contextlib.nullcontext(), old=None)
    folder = workspace.fresh("dir_out")
    folder.mkdir()
    (folder / "out.csv").mkdir()
    attempt("output path is an existing folder", folder / "out.csv", contextlib.nullcontext(), old=None)
    attempt("output file is the input file", stars, contextlib.nullcontext(), old=None)
    folder = workspace.fresh("deep")
    attempt("output folder does not exist yet", folder / "a" / "b" / "out.parquet", contextlib.nullcontext(),
            old=None)
    for suffix in (".ecsv", ".fits", ".parquet", ".h5"):
        folder = workspace.fresh("fmt")
        folder.mkdir()
        attempt(f"output as {suffix}", folder / f"out{suffix}", contextlib.nullcontext(), old=None)
    # fix the expectations of the successful ones: writing where one may is the right outcome
    for row in runner.results:
        if row.group == "output" and row.case.startswith(("output folder does not", "output as")):
            row.expected = row.outcome == TRANSPARENT

