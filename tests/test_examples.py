"""Every example runs (STYLE: examples are run by the tests), with the shipped model and few samples."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_posterior_analysis_example(capsys):
    result = _load("posterior_analysis").main(num_samples=20)
    assert result["stars"] == 240
    assert 0.0 < result["mass_width"] < 2.0  # a 68% mass interval in Msun: positive and not absurd
    assert "ArviZ posterior variables" in capsys.readouterr().out


def test_predict_archive_file_example(xp_misc, tmp_path):
    from astropy.table import Table

    output = tmp_path / "out.fits"
    result = _load("predict_archive_file").main(str(xp_misc / "XP_CONTINUOUS_RAW_with_missing_BP.csv"),
                                                 str(output), num_samples=20)
    assert result["stars"] == 3 and result["ok"] == 3
    table = Table.read(output)
    assert np.all(np.isfinite(table["mass_q50"])) and np.all(table["mass_q16"] < table["mass_q84"])
