"""Calibration within subgroups finds the group where a model that looks fine on average is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayesxp.calibration import GaussianPrediction, assign_groups, coverage, coverage_by_group


@pytest.fixture
def snr_dependent(make_synthetic, rng):
    """Truths with twice the predicted scatter at SNR < 30: over-confident there, calibrated elsewhere."""
    data = make_synthetic(rng, 6000)
    snr = rng.uniform(10, 100, data.truth.size)
    factor = np.where(snr < 30, 2.0, 1.0)
    truth = data.mean + factor * (data.truth - data.mean)
    return data.model(), truth, snr


def test_worst_group_is_the_over_confident_one(snr_dependent, bonferroni):
    pred, truth, snr = snr_dependent
    table = coverage_by_group(
        pred, truth, snr, bins=[10, 30, 60, 100], levels=[0.68, 0.95], confidence=bonferroni
    )
    assert table.group.tolist() == ["[10, 30)", "[30, 60)", "[60, 100)"]
    assert table.n.sum() == truth.size
    assert table.worst["group"] == "[10, 30)" and not table.worst["consistent"]
    assert table.worst["coverage"] < table.worst["level"]
    assert not np.any(table.consistent[0]) and np.all(table.consistent[1:])
    assert table.pit_ks_pvalue[0] < 1e-6 and np.all(table.pit_ks_pvalue[1:] > 1e-3)
    assert table.mad_std[0] > 1.5 * table.mad_std[1]


def test_group_coverage_equals_coverage_of_the_subset(snr_dependent):
    pred, truth, snr = snr_dependent
    state = np.where(snr > 50, "RC", "RGB")  # categories, e.g. evolutionary state
    table = coverage_by_group(pred, truth, state, levels=[0.5, 0.9])
    for j, name in enumerate(table.group):
        members = state == name
        direct = coverage(pred.take(members), truth[members], levels=[0.5, 0.9])
        np.testing.assert_allclose(table.coverage[j], direct.coverage)
        np.testing.assert_allclose(table.lower[j], direct.lower)
        assert table.n[j] == members.sum()


def test_equal_count_bins_and_missing_covariates(rng):
    x = rng.normal(size=1000)
    x[:10] = np.nan
    codes, names, edges = assign_groups(x, bins=4)
    assert names.size == 4 and edges.size == 5
    assert np.all(codes[:10] == -1)
    counts = np.bincount(codes[codes >= 0])
    assert counts.sum() == 990 and counts.max() - counts.min() <= 2
    assert codes[np.nanargmax(x)] == 3  # the right edge belongs to the last bin
    codes, names, _ = assign_groups(np.array([1.0, np.nan, 2.0, 1.0]))
    assert codes.tolist() == [0, -1, 1, 0] and names.tolist() == ["1.0", "2.0"]
    with pytest.raises(ValueError):
        assign_groups(x, bins=[1.0, 0.0])


def test_label_noise_and_json(snr_dependent, rng):
    pred, truth, snr = snr_dependent
    table = coverage_by_group(
        pred, truth, snr, bins=[0, 10, 30, 100], label_error=0.01, min_stars=50, rng=rng
    )
    assert table.n[0] == 0 and np.all(np.isnan(table.coverage[0]))
    d = table.as_dict()
    json.dumps(d, allow_nan=False)
    assert d["coverage"][0] == [None, None]
    assert d["worst"]["group"] == "[10, 30)"


def test_small_groups_are_not_eligible_as_worst(rng):
    truth = rng.normal(size=500)
    group = np.where(np.arange(500) < 5, "tiny", "big")
    truth[:5] = 50.0  # the tiny group is wildly off
    table = coverage_by_group(GaussianPrediction(np.zeros(500), 1.0), truth, group, min_stars=20)
    assert table.worst["group"] == "big"
    assert table.coverage[table.group.tolist().index("tiny")].tolist() == [0.0, 0.0]
