"""The shipped model card quotes the committed calibration results, digit for digit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bayesxp.paths import resources_dir
from bayesxp.report.card import build_model_card, load_model_card

RESULTS = Path(__file__).resolve().parents[2] / "calibration" / "results"


def _manifest() -> dict:
    return json.loads((resources_dir() / "model" / "manifest.json").read_text())


def test_shipped_card_matches_the_campaign_results():
    # rebuilt from calibration/results/*/results.json: a rerun campaign without `python -m bayesxp.report.card`
    # (or a hand-edited card) fails here
    assert load_model_card() == json.loads(json.dumps(build_model_card(RESULTS, _manifest())))


def test_card_numbers_follow_the_results_file(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results, ignore=shutil.ignore_patterns("*.png", "*.md"))
    source = results / "seismic_dev" / "results.json"
    data = json.loads(source.read_text())
    data["models"]["bayesxp"]["quantities"]["mass"]["table"]["mad_std"] = 9.99
    source.write_text(json.dumps(data))
    card = build_model_card(results, _manifest())
    assert card["campaigns"]["seismic_dev"]["models"]["bayesxp"]["mass"]["mad_std"] == 9.99
    assert card != load_model_card()


def test_card_content():
    card = load_model_card()
    dev = card["campaigns"]["seismic_dev"]["models"]
    assert set(dev) == {"bayesxp", "baseline"} and set(dev["bayesxp"]) == {"mass", "age", "teff", "logg", "m_h"}
    assert dev["bayesxp"]["mass"]["n"] == 83 and 0 < dev["bayesxp"]["mass"]["mad_std"] < 0.5
    assert card["training_stars"] == {"train": 17811, "val": 2271}
    assert any("giants only" in limit.lower() or "red giants only" in limit.lower() for limit in card["limits"])
    assert any("s/n" in limit.lower() for limit in card["limits"])


def test_missing_results_are_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_model_card(tmp_path, _manifest())
