"""The whole reliability catalogue (:mod:`bayesxp.testing.reliability`: every bad input x every reader and
``bayesxp predict``, damaged models, output faults) on the tiny model: no traceback and no good star lost.
About four minutes on two cores, so ``slow``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from bayesxp.cli import main
from bayesxp.testing.reliability import (
    Runner,
    Workspace,
    catalogue_cases,
    checkpoint_cases,
    copy_model,
    input_cases,
    model_cases,
    output_cases,
    summarise,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_catalogue_has_no_traceback_and_loses_no_good_star(xp_misc, tiny_model_folder, open_folder):
    workspace = Workspace(open_folder / "ws", xp_misc)  # another user must be able to enter it
    runner = Runner(workspace, copy_model(tiny_model_folder, workspace), main)
    with contextlib.redirect_stdout(io.StringIO()):
        for case in input_cases():
            runner.run_input(case)
        for step in (model_cases, output_cases, checkpoint_cases):
            step(runner)
        catalogue_cases(runner, REPO / "tests" / "data" / "distmass_small.fits")
    summary = summarise(runner.results, 0.0)
    assert summary["inputs_tried"] > 200
    failures = [r for r in runner.results if r.traceback or r.good_lost]
    assert failures == [], [(r.case, r.target, r.outcome, r.detail) for r in failures]
