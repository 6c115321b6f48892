"""The whole catalogue of ``benchmarks/reliability.py`` (every bad input x every reader and ``bayesxp predict``)
on the tiny model: no traceback and no good star lost. About four minutes on two cores, so ``slow``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _benchmark():
    spec = importlib.util.spec_from_file_location("reliability_benchmark", REPO / "benchmarks" / "reliability.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_catalogue_has_no_traceback_and_loses_no_good_star(xp_misc, tiny_model_folder, open_folder):
    bench = _benchmark()
    workspace = bench.Workspace(open_folder / "ws", xp_misc)  # another user must be able to enter it
    runner = bench.Runner(workspace, bench._copy_model(tiny_model_folder, workspace))
    with contextlib.redirect_stdout(io.StringIO()):
        for case in bench.input_cases():
            runner.run_input(case)
        for step in (bench.model_cases, bench.output_cases, bench.checkpoint_cases, bench.catalogue_cases):
            step(runner)
    summary = bench.summarise(runner.results, 0.0)
    assert summary["inputs_tried"] > 200
    failures = [r for r in runner.results if r.traceback or r.good_lost]
    assert failures == [], [(r.case, r.target, r.outcome, r.detail) for r in failures]
