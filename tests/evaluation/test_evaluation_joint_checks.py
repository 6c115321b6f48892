"""Known answers of the campaign's joint checks over all five quantities (bayesxp.evaluation.joint_checks).

A synthetic population whose truths are drawn from each star's own 5-D Gaussian (correlations varying from
star to star, measured Teff/logg/[M/H] with label noise, derived mass and age judged through the truth draw)
must pass; the same checks must reject draws sharing one standard normal (the old per-head sampling) and the
decoupled draws the campaign adds as its control. Seeds fixed; tolerances are the checks' own (0.15 on
correlations, 95% binomial bands on coverage).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.data.dataset import TrainingSet
from bayesxp.evaluation.joint_checks import JOINT_ORDER, evaluate_joint_all, joint_space
from bayesxp.evaluation.truth import DERIVED_MASS_AGE, Truth
from bayesxp.posterior import Posterior

N, S = 1200, 400
CENTRE = np.array([4700.0, 2.5, -0.1, np.log(1.2), np.log(4.0)])
SCALE = np.array([60.0, 0.12, 0.08, 0.12, 0.35])
LABEL_ERROR = np.array([50.0, 0.05, 0.03])  # measured Teff, logg, [M/H]
LN_ERROR = np.array([0.04, 0.12])  # derived ln mass, ln age


def _population(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-star means ``(N, 5)`` and covariances ``(N, 5, 5)`` with star-dependent correlations."""
    rng = np.random.default_rng(seed)
    mean = CENTRE + rng.normal(size=(N, 5)) * SCALE * 3
    t = rng.uniform(-1, 1, N)
    corr = np.tile(np.eye(5), (N, 1, 1))
    for (i, j), rho in {(0, 1): 0.5 * t, (3, 4): -0.4 - 0.3 * np.abs(t), (1, 3): 0.3 * t, (2, 4): 0.2}.items():
        corr[:, i, j] = corr[:, j, i] = rho
    cov = corr * SCALE[:, None] * SCALE[None, :]
    return mean, cov


def _truth(mean: np.ndarray, cov: np.ndarray, seed: int = 1) -> Truth:
    """Labels as the two kinds arise: measured = truth + noise; derived = what is left when an independent
    error is taken off the truth (``truth = label + e``: the labels drawn from the star's distribution with
    the error covariance removed from the mass-age block)."""
    rng = np.random.default_rng(seed)
    derived_error = np.diag(np.r_[0.0, 0.0, 0.0, LN_ERROR**2])
    y = mean + np.einsum("nij,nj->ni", np.linalg.cholesky(cov - derived_error), rng.normal(size=(N, 5)))
    values, errors = {}, {}
    for j, quantity in enumerate(JOINT_ORDER[:3]):
        values[quantity] = y[:, j] + LABEL_ERROR[j] * rng.normal(size=N)
        errors[quantity] = np.full(N, LABEL_ERROR[j])
    for k, quantity in enumerate(("mass", "age")):
        values[quantity] = np.exp(y[:, 3 + k])
        errors[quantity] = values[quantity] * LN_ERROR[k]
    return Truth("test-split", "synthetic", TrainingSet.synthetic(N, seed=0), values, errors, np.zeros(N),
                 {}, truth_kind=dict(DERIVED_MASS_AGE))


def _posterior(mean: np.ndarray, cov: np.ndarray, shared: bool = False, seed: int = 2) -> Posterior:
    rng = np.random.default_rng(seed)
    if shared:  # one standard normal drives every quantity: per-star correlation 1
        z = rng.normal(size=(S, N, 1))
        x = mean + z * np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    else:
        x = mean + np.einsum("nij,snj->sni", np.linalg.cholesky(cov), rng.normal(size=(S, N, 5)))
    samples = {q: np.exp(x[..., j]) if q in ("mass", "age") else x[..., j] for j, q in enumerate(JOINT_ORDER)}
    return Posterior(samples, np.arange(N))


@pytest.fixture(scope="module")
def population():
    mean, cov = _population()
    truth = _truth(mean, cov)
    return mean, cov, truth, truth.truth_draws(0)


def _check(truth: Truth, posterior: Posterior, draws: dict) -> dict:
    rows = {q: np.arange(N) for q in JOINT_ORDER}
    return evaluate_joint_all(truth, {"model": posterior}, rows, draws, seed=0)


def test_calibrated_joint_draws_pass_and_decoupled_draws_fail(population):
    mean, cov, truth, draws = population
    out = _check(truth, _posterior(mean, cov), draws)
    right, control = out["model"], out["model (draws decoupled)"]
    assert right["correlation"]["all_consistent"], right["correlation"]["max_difference"]
    assert right["hdr_coverage"]["all_consistent"]
    assert right["n_complete"] == N
    # the decoupled control has the same marginals but no correlation: the strong pairs fail
    failing = {(p["first"], p["second"]) for p in control["correlation"]["pairs"] if not p["consistent"]}
    assert ("mass", "age") in failing  # correlation -0.4 to -0.7 in every star
    assert not control["correlation"]["all_consistent"]


def test_shared_standard_normals_are_rejected(population):
    """The old per-head sampling (one standard normal for every quantity) has correct marginals only."""
    mean, cov, truth, draws = population
    out = _check(truth, _posterior(mean, cov, shared=True), draws)["model"]
    assert not out["correlation"]["all_consistent"]
    assert out["correlation"]["max_difference"] > 0.5


def test_models_without_every_quantity_are_skipped(population):
    mean, cov, truth, draws = population
    posterior = _posterior(mean, cov)
    partial = Posterior({q: posterior.samples[q] for q in ("mass", "age")}, np.arange(N))
    assert _check(truth, partial, draws) == {}


def test_joint_space_orders_and_logs():
    x = joint_space({"teff": [1.0], "logg": [2.0], "m_h": [3.0], "mass": [np.e], "age": [np.e**2]})
    assert x.tolist() == [[1.0, 2.0, 3.0, 1.0, 2.0]]
