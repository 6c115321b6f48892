"""Tests of :mod:`bayesxp.evaluation`: known-answer calibration tables, the joint check, and the campaign end to end.

The end-to-end tests use a tiny bayesxp model (untrained backbone ``d_model=16``, heads with 5 SVI steps) and a
tiny XGBoost baseline (5 trees), both fitted on :meth:`bayesxp.data.dataset.TrainingSet.synthetic` stars in a
module fixture: they predict nothing useful and exercise every path. The real-data test (seismic dev stars)
skips where the data folder or the XP library is missing.
"""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from bayesxp.calibration import GaussianPrediction, SamplePrediction
from bayesxp.errors import BayesXPError, ConfigError
from bayesxp.evaluation import (
    REPORT_LEVELS,
    CampaignConfig,
    calibrate_command,
    evaluate_quantity,
    joint_mass_age,
    judge_predictions,
    load_campaign_config,
    predict_baseline,
    predict_bayesxp,
    quantity_table,
    run_campaign,
    truth_from_training_set,
    write_outputs,
)
from bayesxp.evaluation import run as campaign_run
from bayesxp.evaluation.truth_noise import DERIVED, MEASURED, NOISE_AWARE_TREATMENTS
from bayesxp.quantities import QUANTITIES

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)  # two threads on two contended cores are slower for these tiny tensors


# ------------------------------------------------------------------------------------------- fixtures
def _synthetic_set(n: int = 90, seed: int = 3):
    """Synthetic stars with the meta columns a truth table reads; the last 40 are val (20) and test (20)."""
    from bayesxp.data.dataset import TrainingSet
    from bayesxp.quantities import LABELS

    training_set = TrainingSet.synthetic(n, seed=seed)
    training_set.split[n - 40 : n - 20] = "val"
    training_set.split[n - 20 :] = "test"
    for column, label in (("teff", "teff"), ("logg", "logg"), ("fe_h", "m_h")):
        training_set.meta[column] = training_set.labels[:, LABELS.index(label)].astype(float)
        training_set.meta[f"{column}_err"] = 0.1
    training_set.meta["transfer_mass_age_corr"] = -0.3
    return training_set


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, shared_data):  # the coefficient prior reads shared data
    """A tiny bayesxp model folder and a tiny baseline folder, fitted on synthetic stars, and those stars."""
    from bayesxp.baseline import BaselineConfig, XGBParams, XGBQuantileBaseline
    from bayesxp.model.backbone import BackboneConfig
    from bayesxp.model.fit_heads import fit_heads
    from bayesxp.model.foundation import ModelSpec
    from bayesxp.model.heads import BayesianHeadConfig, HeadFittingConfig
    from bayesxp.model.train import build_model

    root = tmp_path_factory.mktemp("campaign_tiny")
    torch.manual_seed(0)
    training_set = _synthetic_set()
    spec = ModelSpec(backbone=BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1))
    foundation, _, _ = build_model(training_set, spec)
    head = BayesianHeadConfig(n_features=4, svi_steps=5, num_samples=20)
    model = fit_heads(foundation.eval(), training_set, HeadFittingConfig(mass_age=head, labels=head))
    model.save(root / "model")
    config = BaselineConfig(params=XGBParams(n_estimators=5, max_depth=2, early_stopping_rounds=2))
    baseline = XGBQuantileBaseline(config).fit(training_set.subset("train"), training_set.subset("val"), cache=False)
    baseline.save(root / "baseline")
    return {"model": root / "model", "baseline": root / "baseline", "stars": training_set}


@pytest.fixture(scope="module")
def synthetic_results(tiny, tmp_path_factory):
    """The campaign's evaluation on the synthetic test stars (both models, recalibration on val)."""
    from bayesxp.baseline import load_baseline
    from bayesxp.model.bayesian import load

    training_set = tiny["stars"]
    model, baseline = load(tiny["model"]), load_baseline(tiny["baseline"])
    config = CampaignConfig(
        name="synthetic",
        num_samples=40,
        group_bins=2,
        min_group_stars=5,
        hdi=False,
        output=str(tmp_path_factory.mktemp("synthetic_campaign")),
    )

    def predict(stars):
        return {
            "bayesxp": predict_bayesxp(model, stars, config.num_samples),
            "baseline": predict_baseline(baseline, stars, feature_cache=False),
        }

    truth = truth_from_training_set(training_set.subset("test"), "test-split", "synthetic stars")
    truth_val = truth_from_training_set(training_set.subset("val"), "validation", "synthetic validation stars")
    results = judge_predictions(
        config,
        truth,
        predict(truth.stars),
        (truth_val, predict(truth_val.stars)),
        command="pytest",
        write=False,
    )
    return config, results


# ----------------------------------------------------------------------------------- known answers
def _noisy_labels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True masses, their noisy labels (per-star error 5-20%) and the label errors."""
    true = rng.lognormal(np.log(1.3), 0.25, n)
    error = true * rng.uniform(0.05, 0.20, n)
    return true, true + error * rng.standard_normal(n), error


@pytest.mark.parametrize("kind", ["gaussian", "samples"])
def test_noise_aware_coverage_of_a_calibrated_predictor_is_nominal(rng, kind):
    # A predictor calibrated for the TRUE mass (predictive sd 0.15 Msun, centred on a draw around the truth),
    # judged against labels that carry their own 5-20% noise: the noise-aware coverage must be nominal
    # (every report level inside its 95% band, |coverage - level| < 0.035 for n = 3000, ~3.5 sigma), while
    # the naive coverage ignores the label noise and must be flagged as too low.
    n, scale = 3000, 0.15
    true, label, error = _noisy_labels(rng, n)
    centre = true + scale * rng.standard_normal(n)
    pred = GaussianPrediction(centre, scale)
    if kind == "samples":
        pred = SamplePrediction(
            centre + scale * rng.standard_normal((400, n))
        )  # [S, N], the bayesxp contract
    table = evaluate_quantity(pred, label, error, "mass", hdi=False, seed=1)["table"]
    for level in REPORT_LEVELS:
        cell = table["coverage"][f"{level:g}"]
        assert cell["consistent"], (level, cell)
        assert abs(cell["coverage"] - level) < 0.035
    assert table["pit_ks_pvalue"] > 0.01
    assert not table["coverage_naive"]["0.68"]["consistent"]
    assert table["coverage_naive"]["0.68"]["coverage"] < 0.68


def test_overconfident_and_biased_predictors_are_flagged(rng):
    n, scale = 3000, 0.15
    true, label, error = _noisy_labels(rng, n)
    centre = true + scale * rng.standard_normal(n)
    results = {
        "calibrated": evaluate_quantity(GaussianPrediction(centre, scale), label, error, "mass", hdi=False),
        "overconfident": evaluate_quantity(
            GaussianPrediction(centre, scale / 3), label, error, "mass", hdi=False
        ),
        "biased": evaluate_quantity(
            GaussianPrediction(centre + scale, scale), label, error, "mass", hdi=False
        ),
    }
    over = results["overconfident"]["table"]
    assert not any(over["coverage"][f"{a:g}"]["consistent"] for a in REPORT_LEVELS)
    # known answer: the noise-aware 68% interval has half-width z sqrt((s/3)^2 + e^2) where the label needs
    # z sqrt(s^2 + e^2), so each star is covered with probability 2 Phi(z ratio) - 1 (binomial sd ~0.009)
    z68 = stats.norm.ppf(0.84)
    ratio = np.sqrt((scale / 3) ** 2 + error**2) / np.sqrt(scale**2 + error**2)
    expected = float(np.mean(2 * stats.norm.cdf(z68 * ratio) - 1))
    assert over["coverage"]["0.68"]["coverage"] == pytest.approx(expected, abs=0.03)
    assert expected < 0.6
    assert over["pit_ks_pvalue"] < 1e-6
    biased = results["biased"]["table"]
    assert biased["pit_ks_pvalue"] < 1e-6
    assert biased["bias"] == pytest.approx(scale, abs=0.02)
    # the report's table marks exactly the flagged rows
    rows = {
        line.split(" | ")[0].strip("| "): line
        for line in quantity_table({name: {"mass": r} for name, r in results.items()}).splitlines()[2:]
    }
    assert "†" not in rows["calibrated"] and "†" in rows["overconfident"] and "†" in rows["biased"]


def test_joint_check_accepts_the_right_correlation_and_flags_independent_marginals(rng):
    # Truths drawn from a correlated (ln mass, ln age) posterior, rho = -0.9. The correct joint draws give
    # nominal HDR coverage; independent marginals with the same sds do not: their Mahalanobis distance of
    # the truth is 1.9 z1^2 + 0.1 z2^2 instead of chi2_2, so the 50% region holds ~61% of the truths.
    n, s, rho = 2000, 400, -0.9
    cov = np.array([[1.0, rho], [rho, 1.0]]) * 0.1**2
    chol = np.linalg.cholesky(cov)
    centre = rng.normal(size=(n, 2))
    truth = centre + rng.standard_normal((n, 2)) @ chol.T
    draws = centre + rng.standard_normal((s, n, 2)) @ chol.T  # [S, N, 2]
    independent = centre + rng.standard_normal((s, n, 2)) * 0.1

    # tolerances: binomial sd of a coverage is <= 0.011 for n = 2000, so a calibrated model stays within 0.035
    # (~3 sd) at all 20 levels; a KS p-value below 1e-4 rejects
    def calibrated(result):
        return result["hdr_ks_pvalue"] > 0.01 and result["hdr_coverage"]["max_deviation"] < 0.035

    def rejected(result):
        return result["hdr_ks_pvalue"] < 1e-4 and result["hdr_coverage"]["max_deviation"] > 0.05

    good = joint_mass_age(draws, truth, seed=1)
    assert calibrated(good) and good["median_sample_corr"] == pytest.approx(rho, abs=0.05)
    assert rejected(joint_mass_age(independent, truth, seed=1))
    # with label noise (ln errors 0.05, uncorrelated) on the truths, only the noise-aware check is nominal
    ln_error = np.full((n, 2), 0.05)
    noisy_truth = truth + ln_error * rng.standard_normal((n, 2))
    assert calibrated(joint_mass_age(draws, noisy_truth, ln_error, np.zeros(n), seed=2))
    assert rejected(joint_mass_age(draws, noisy_truth, seed=2))


# ------------------------------------------------------------------------------------------ configs
def test_shipped_configs_load_and_name_their_sources():
    kinds = {"test_split": "test-split", "seismic_dev": "seismic", "distmass_example": "distmass"}
    for name, kind in kinds.items():
        config = load_campaign_config(REPO / "calibration" / "configs" / f"{name}.yaml", base=REPO)
        assert config.name == name and config.source_kind == kind
        assert config.baseline_config == str(REPO / "configs" / "baseline.yaml")
    example = load_campaign_config(REPO / "calibration" / "configs" / "distmass_example.yaml", base=REPO)
    assert Path(example.labels).is_file() and "demonstrates the pipeline" in example.note


def test_config_refuses_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match="unknown key"):
        load_campaign_config({"lables": "test-split"})
    with pytest.raises(ConfigError):
        load_campaign_config({"quantities": ["mass", "radius"]})
    with pytest.raises(ConfigError):
        load_campaign_config({"num_samples": 2})
    with pytest.raises(ValueError, match="labels must be"):
        _ = CampaignConfig(labels="labels.txt").source_kind


def test_calibrate_command_builds_the_config(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_run(config, progress=False, command=None, write=True):
        seen["config"], seen["command"] = config, command
        return {"models": {}}

    monkeypatch.setattr(campaign_run, "run_campaign", fake_run)
    out = tmp_path / "my_campaign"
    code = calibrate_command(
        None, model="/models/m", labels="test-split", output=str(out), max_stars=10, skip_baseline=True,
        num_samples=None,
    )
    assert code == 0
    config = seen["config"]
    assert (config.name, config.labels, config.model, config.output) == (
        "my_campaign",
        "test-split",
        "/models/m",
        str(out),
    )
    assert config.max_stars == 10 and config.skip_baseline and config.num_samples == 200
    assert seen["command"] == f"bayesxp calibrate --model /models/m --labels test-split --output {out} " \
        "--max-stars 10 --skip-baseline"
    assert "report:" in capsys.readouterr().out

    # a campaign YAML: its paths are relative to `base`, the default output is <base>/calibration/results/<name>
    yaml = REPO / "calibration" / "configs" / "seismic_dev.yaml"
    calibrate_command(yaml, base=REPO, recalibrate=False, progress=False)
    config = seen["config"]
    assert config.name == "seismic_dev" and config.labels == "seismic-dev" and not config.recalibrate
    assert config.baseline_config == str(REPO / "configs" / "baseline.yaml")
    assert config.output == str(REPO / "calibration" / "results" / "seismic_dev")
    assert seen["command"] == f"bayesxp calibrate --config {yaml} --no-recalibration"


# --------------------------------------------------------------------------------------- end to end
def _no_nan(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"{constant} in results.json")

    return json.loads(text, parse_constant=refuse)


def test_campaign_results_hold_every_model_and_quantity(synthetic_results):
    config, results = synthetic_results
    assert set(results["models"]) == {"bayesxp", "baseline"}
    # the test split: APOGEE labels are measured truths, transferred masses and ages derived ones
    kinds = {q: DERIVED if q in ("mass", "age") else MEASURED for q in QUANTITIES}
    assert results["truth_kind"] == kinds
    assert results["noise_aware_treatment"] == {q: NOISE_AWARE_TREATMENTS[k] for q, k in kinds.items()}
    for model in ("bayesxp", "baseline"):
        by_quantity = results["models"][model]["quantities"]
        assert set(by_quantity) == set(QUANTITIES)
        for quantity, entry in by_quantity.items():
            table = entry["table"]
            assert table["n"] == results["n_judged"][quantity] > 0
            assert set(table["coverage"]) == {f"{a:g}" for a in REPORT_LEVELS} == set(table["coverage_naive"])
            for key in ("bias", "std", "mad_std", "pit_ks_pvalue", "miscalibration_area", "crps", "nll"):
                assert key in table
            assert entry["table"]["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[kinds[quantity]]
            # convolved for a measured truth; the prediction itself against the truth draw for a derived one
            assert entry["noise_aware"]["label_error"] == (kinds[quantity] == MEASURED)
            assert not entry["naive"]["label_error"]
            assert {"xp_snr", "m_h", "teff"} <= set(entry["groups"])
    assert {"bayesxp", "bayesxp (mass-age correlation removed)", "baseline (independent marginals)"} == set(
        results["joint"]
    )
    for entry in results["joint"].values():
        assert entry["noise_aware"]["label_noise"] and not entry["naive"]["label_noise"]
        assert entry["noise_aware"]["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[DERIVED]
        assert len(entry["noise_aware"]["tarp"]["ecp"]) == 101
    recal = results["recalibration"]["results"]
    assert set(recal) == {"bayesxp", "baseline"}
    for quantity in QUANTITIES:
        entry = recal["bayesxp"][quantity]
        assert entry["n_fit"] == 20 and "before" in entry
        assert entry["treatment"]["validation"] == entry["treatment"]["campaign"] == NOISE_AWARE_TREATMENTS[kinds[quantity]]
        assert {"isotonic/label", "isotonic/noise-aware", "cqr/label", "cqr/noise-aware"} <= set(entry)
    _no_nan(json.dumps(results, allow_nan=False))


def _trimmed(results: dict, quantities: tuple[str, ...]) -> dict:
    """The results restricted to some quantities (figures cost ~1 s of CPU per panel row)."""
    out = json.loads(json.dumps(results))
    for entry in out["models"].values():
        entry["quantities"] = {q: v for q, v in entry["quantities"].items() if q in quantities}
    for entry in out["recalibration"]["results"].values():
        for q in [q for q in entry if q not in quantities]:
            del entry[q]
    return out


def test_outputs_are_written_atomically(synthetic_results, tmp_path, monkeypatch):
    from bayesxp.io import tables

    config, results = synthetic_results
    folder = tmp_path / "report"
    seen: list[Path] = []
    real = tables.atomic_path

    def recording(path):
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(campaign_run, "atomic_path", recording)
    monkeypatch.setattr(tables, "atomic_path", recording)  # save_config imports it from there
    written = write_outputs(_trimmed(results, ("mass", "age")), folder, config)  # fewer figures: faster
    files = sorted(p.name for p in folder.iterdir())
    assert {
        "results.json",
        "report.md",
        "config.yaml",
        "reliability.png",
        "pit_histograms.png",
        "tarp.png",
        "recalibration.png",
        "group_coverage_mass.png",
    } <= set(files)
    assert (
        sorted(p.name for p in seen) == files == sorted(p.name for p in written)
    )  # every file went through it
    stored = _no_nan((folder / "results.json").read_text())
    assert stored["files"] == files
    report = (folder / "report.md").read_text()
    for heading in ("label-noise aware", "## Naive", "## Joint", "## Worst subgroups", "## Recalibration"):
        assert heading in report
    assert NOISE_AWARE_TREATMENTS[DERIVED] in report  # the treatment of each row is named
    assert load_campaign_config(folder / "config.yaml") == config
    for name in ("reliability.png", "tarp.png"):
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a failure at the final rename (e.g. a full disk) leaves the previous files whole and no debris
    before = {name: (folder / name).read_bytes() for name in ("results.json", "report.md")}

    def failing_replace(src, dst):
        raise OSError(errno.EIO, "simulated I/O error")

    monkeypatch.setattr(tables.os, "replace", failing_replace)
    changed = dict(results, campaign="changed")
    with pytest.raises((OSError, BayesXPError)):
        write_outputs(changed, folder, config, figures=False)
    assert {name: (folder / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in folder.iterdir()) == files


def test_seismic_campaign_on_real_data(tiny, shared_data, library_file, tmp_path):
    config = CampaignConfig(
        name="seismic_tiny",
        labels="seismic-dev",
        model=str(tiny["model"]),
        baseline=str(tiny["baseline"]),
        recalibrate=False,
        max_stars=40,
        num_samples=40,
        quantities=("mass", "age"),
        group_bins=2,
        min_group_stars=5,
        hdi=False,
        data_dir=str(shared_data),
        output=str(tmp_path / "seismic"),
    )
    results = run_campaign(config, command="pytest", write=False)
    write_outputs(
        results, config.output_folder(), config, figures=False
    )  # figures: tested on synthetic stars
    counts = results["truth"]["counts"]
    assert counts["n_rows_in_file"] == 179 and counts["n_stars"] == 40
    assert (
        counts["n_pass_default_selection"]
        + counts["n_fail_default_selection"]
        + counts["n_duplicate_rows_dropped"]
        + counts["n_unusable_spectrum"]
        <= 179
    )
    assert results["truth"]["kind"] == "seismic"
    # seismic truths are measured; mass and age errors correlate through the catalogue's d ln age / d ln mass
    assert results["truth_kind"] == {"mass": MEASURED, "age": MEASURED}
    correlation = counts["mass_age_error_correlation"]
    assert -3.6 < correlation["slopes"]["apokasc2"]["slope_ln_age_ln_mass"] < -2.4
    assert correlation["slopes"]["apokasc2"]["n_stars"] > 5000
    assert -0.99 <= correlation["median_corr_of_correlated"] < 0
    # APOKASC-3 v7.0.5 ages have no error of their own: judged naive only, apart from the others
    assert counts["n_age_without_own_error"] > 0 and results["n_naive_only"]["age"] > 0
    for model in ("bayesxp", "baseline"):
        assert set(results["models"][model]["quantities"]) == {"mass", "age"}
        groups = results["models"][model]["quantities"]["age"]["groups"]
        assert "evolutionary_state" in groups and "mass" in groups
        apart = results["models"][model]["naive_only"]["age"]
        assert apart["noise_aware"] is None and apart["n"] == results["n_naive_only"]["age"]
        assert "mass_source" in results["models"][model]["quantities"]["mass"]["groups"]
    report = (tmp_path / "seismic" / "report.md").read_text()
    assert "## Truths without an error (naive only, reported apart)" in report
    assert "## Per seismic catalogue" in report and NOISE_AWARE_TREATMENTS[MEASURED] in report
    mass = results["models"]["bayesxp"]["quantities"]["mass"]["table"]
    assert 0 < mass["n"] <= counts["n_with_mass"] and math.isfinite(mass["mad_std"])
    stored = _no_nan((tmp_path / "seismic" / "results.json").read_text())
    assert stored["truth"]["counts"] == counts
