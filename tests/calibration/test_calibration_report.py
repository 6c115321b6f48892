"""The JSON summary, the figures, the runnable docstring examples and the core's import hygiene."""

from __future__ import annotations

import doctest
import importlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import bayesxp.calibration as calibration
from bayesxp.calibration import (
    QuantilePrediction,
    SamplePrediction,
    calibration_summary,
    coverage,
    coverage_by_group,
    pit,
    pit_uniformity,
    tarp,
)

MODULES = [
    "distribution",
    "samples",
    "parametric",
    "transforms",
    "convolution",
    "coverage",
    "pit",
    "scores",
    "subgroups",
    "joint",
    "recalibration",
    "report",
    "plots",
    "__init__",
]


def test_summary_of_a_calibrated_model(synthetic):
    summary = calibration_summary(synthetic.model(), synthetic.truth)
    json.dumps(summary, allow_nan=False)
    assert summary["n"] == synthetic.truth.size and summary["label_error"] is False
    assert summary["coverage"]["max_deviation"] < 0.03 and summary["coverage_hdi"]["max_deviation"] < 0.03
    assert (
        summary["pit"]["ks_pvalue"] > 0.001
        and summary["miscalibration_area"] < 0.02
        and summary["ece"] < 0.02
    )
    assert summary["z"]["std"] == pytest.approx(1.0, abs=0.05)
    assert abs(summary["residual"]["bias"]) < 0.01
    assert summary["residual"]["mad_std"] == pytest.approx(np.median(synthetic.std), rel=0.15)
    assert set(summary["interval_score"]) == {"0.68", "0.9", "0.95"}
    for key in ("crps", "nll", "miscalibration_area", "ece"):
        assert isinstance(summary[key], float)


def test_summary_with_noisy_labels_reports_naive_and_aware_coverage(synthetic, rng):
    label_error = 0.12 * synthetic.mean
    noisy = synthetic.truth + label_error * rng.standard_normal(synthetic.truth.size)
    summary = calibration_summary(synthetic.model(), noisy, label_error=label_error, hdi=False)
    json.dumps(summary, allow_nan=False)
    assert "coverage_hdi" not in summary
    assert summary["coverage_naive"]["max_deviation"] > 0.1
    assert summary["coverage"]["max_deviation"] < 0.03
    assert summary["pit"]["ks_pvalue"] > 0.001


@pytest.mark.parametrize("representation", ["samples", "quantiles"])
def test_summary_of_other_representations_flags_over_confidence(synthetic, represent, rng, representation):
    good = calibration_summary(represent(synthetic.model(), representation, rng), synthetic.truth, hdi=False)
    bad = calibration_summary(
        represent(synthetic.model(0, 0.5), representation, rng), synthetic.truth, hdi=False
    )
    json.dumps(bad, allow_nan=False)
    assert good["pit"]["ks_pvalue"] > 0.001 and bad["pit"]["ks_pvalue"] < 1e-6
    assert bad["miscalibration_area"] > 5 * good["miscalibration_area"]
    assert bad["z"]["frac_abs_gt2"] > 0.2 and not bad["coverage"]["all_consistent"]


def test_summary_is_reproducible(synthetic, represent, rng):
    pred = represent(synthetic.model(), "samples", rng)
    assert calibration_summary(pred, synthetic.truth) == calibration_summary(pred, synthetic.truth)


def test_figures_only_read_results(synthetic, rng):
    from matplotlib.figure import Figure

    results = [
        coverage(synthetic.model(), synthetic.truth),
        coverage(synthetic.model(0, 0.5), synthetic.truth),
    ]
    figures = [
        calibration.plot_reliability(results, labels=["calibrated", "over-confident"]),
        calibration.plot_pit_histogram(pit_uniformity(pit(synthetic.model(), synthetic.truth))),
        calibration.plot_group_coverage(
            coverage_by_group(synthetic.model(), synthetic.truth, synthetic.mean, bins=4)
        ),
        calibration.plot_tarp(tarp(rng.normal(size=(50, 300, 2)), rng.normal(size=(300, 2)), rng=rng)),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.getvalue()[:4] == b"\x89PNG"
    with pytest.raises(AttributeError):
        calibration.plot_nothing  # noqa: B018


def test_core_imports_numpy_and_scipy_only():
    code = (
        "import sys, bayesxp.calibration as c; "
        "c.coverage(c.GaussianPrediction([0.0], 1.0), [0.0]); "
        "bad = [m for m in ('matplotlib', 'torch', 'pyro', 'sklearn', 'pandas') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(
        f"bayesxp.calibration.{name}" if name != "__init__" else "bayesxp.calibration"
    )
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0
    assert result.attempted > 0 or name == "__init__"


def test_every_public_name_is_exported_and_documented():
    for name in calibration.__all__:
        obj = getattr(calibration, name)
        if callable(obj):
            assert obj.__doc__, name


def test_representations_of_one_distribution_give_one_summary(synthetic, rng):
    """Gaussian, draws and quantiles of the same distribution agree on the headline numbers."""
    gauss = synthetic.model()
    levels = [0.025, 0.05, 0.1, 0.16, 0.25, 0.5, 0.75, 0.84, 0.9, 0.95, 0.975]
    variants = {
        "gaussian": gauss,
        "samples": SamplePrediction(gauss.sample(2000, rng)),
        "quantiles": QuantilePrediction(levels, gauss.quantile(levels).T),
    }
    summaries = {k: calibration_summary(v, synthetic.truth, hdi=False) for k, v in variants.items()}
    ref = summaries["gaussian"]
    for summary in summaries.values():
        assert summary["crps"] == pytest.approx(ref["crps"], rel=0.01)
        assert summary["nll"] == pytest.approx(ref["nll"], abs=0.02)
        assert summary["interval_score"]["0.9"] == pytest.approx(ref["interval_score"]["0.9"], rel=0.02)
        np.testing.assert_allclose(summary["coverage"]["coverage"], ref["coverage"]["coverage"], atol=0.015)
