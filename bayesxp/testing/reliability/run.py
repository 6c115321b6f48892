"""Run the whole catalogue: every input case, then model folders, outputs, checkpoints and catalogues."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bayesxp.testing.reliability.catalogues import catalogue_cases
from bayesxp.testing.reliability.inputs import input_cases
from bayesxp.testing.reliability.models import checkpoint_cases, model_cases
from bayesxp.testing.reliability.outcomes import Outcome
from bayesxp.testing.reliability.outputs import output_cases
from bayesxp.testing.reliability.report import summarise, write_report
from bayesxp.testing.reliability.runner import Runner, copy_model
from bayesxp.testing.reliability.workspace import Workspace

__all__ = ["run_catalogue"]


def _line(row: Outcome, width: int) -> str:
    return f"{row.case}: {row.target}={row.outcome}{'!' if not row.expected else ''} {row.detail[:width]}"


def run_catalogue(
    model: Path | None,
    xp_misc: Path,
    cli: Callable[[list[str]], int],
    output: Path | None = None,
    only: str | None = None,
    distmass: Path | None = None,
    progress: bool = True,
) -> tuple[list[Outcome], dict]:
    """Try every case of the catalogue; optionally write ``reliability.md`` and ``.json``.

    Runs on one torch thread (faster than two contended ones for these tiny tensors), in a temporary,
    world-readable folder (the read-only output case acts as another user).

    Args:
        model: The model folder ``predict`` uses; None or a folder without a manifest: a tiny model is
            trained on synthetic stars (:func:`bayesxp.testing.tiny.train_tiny_model`, about a minute).
        xp_misc: The real Gaia archive files the bad inputs are derived from (``shared/data/xp_misc``);
            its parent folder holds the seismic catalogues.
        cli: The ``bayesxp`` command's entry point, :func:`bayesxp.cli.main` (passed in: the testing layer
            sits below the CLI).
        output: Folder for the report (None: no report written).
        only: Run only the input cases whose name contains this (and none of the other groups).
        distmass: A DistMass FITS file for the catalogue-reader cases (None: not tried).
        progress: Print one line per case.

    Returns:
        ``(every try, summary counts)``.

    Example:
        >>> from bayesxp.cli import main
        >>> from bayesxp.paths import data_dir
        >>> results, summary = run_catalogue(None, data_dir() / "xp_misc", main, only="zero errors")  # doctest: +SKIP
        >>> summary["crashes_with_traceback"]  # doctest: +SKIP
        0
    """
    import torch

    from bayesxp.testing.tiny import train_tiny_model

    torch.set_num_threads(1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bayesxp_reliability_") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        if model is None or not (Path(model) / "manifest.json").is_file():
            if progress:
                print(f"no model at {model}: training a tiny one", flush=True)
            model = train_tiny_model(root / "tiny")
        model = Path(model)
        workspace = Workspace(root / "ws", xp_misc)
        runner = Runner(workspace, copy_model(model, workspace), cli)
        for case in input_cases():
            if only and only not in case.name:
                continue
            runner.run_input(case)
            rows = [r for r in runner.results if r.case == case.name]
            if progress:
                print(f"{case.name}: " + ", ".join(f"{r.target}={r.outcome}{'!' if not r.expected else ''}"
                                                   for r in rows)
                      + "".join(f"\n    {r.target}: {r.detail[:150]}" for r in rows if not r.expected), flush=True)
        if not only:
            steps = (model_cases, output_cases, checkpoint_cases, lambda r: catalogue_cases(r, distmass))
            for step in steps:
                before = len(runner.results)
                step(runner)
                if progress:
                    for row in runner.results[before:]:
                        print(_line(row, 120), flush=True)
        summary = summarise(runner.results, time.perf_counter() - start)
        if progress:
            print(json.dumps(summary, indent=1))
        if output is not None:
            write_report(runner.results, summary, Path(output), model)
    return runner.results, summary
