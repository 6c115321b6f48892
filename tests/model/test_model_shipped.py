"""The shipped model (``bayesxp/resources/model``) as a user gets it: one joint head, fresh coherent draws.

Known answers on the bundled demo stars, with stated tolerances: 1000 draws are 1000 distinct values per
star and quantity; no mass or age draw on a physical bound; the per-star Teff-logg correlation is the joint
head's (not the ~1 of shared standard normals) and mass and age are strongly anti-correlated in every star.
The same checks reject the deliberately wrong models built from the same draws (draws repeated from a
stored set; one shared standard normal).

On real held-out stars (the seismic dev stars, reserved from every training; real files): the campaign's
joint check, each pair's mean per-star predictive correlation within 0.15 of the correlation of the
standardised residuals, passes for all ten pairs, and the draws decoupled per star fail it.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.data.demo import demo_path
from bayesxp.evaluation.joint_checks import JOINT_ORDER, evaluate_joint_all
from bayesxp.evaluation.judge import judge_rows
from bayesxp.evaluation.predictors import predict_bayesxp
from bayesxp.evaluation.truth import seismic_dev_truth
from bayesxp.io.library import read_sampled_table
from bayesxp.model.bayesian import BayesXPModel
from bayesxp.model.joint_likelihood import FAMILIES
from bayesxp.quantities import PHYSICAL_RANGE, QUANTITIES

N_STARS = 16


@pytest.fixture(scope="module")
def shipped() -> BayesXPModel:
    return BayesXPModel.load()


@pytest.fixture(scope="module")
def thousand(shipped):
    spectra = read_sampled_table(demo_path()).take(np.arange(N_STARS))
    return shipped.posterior(spectra, num_samples=1000, seed=3)


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([np.corrcoef(a[:, i], b[:, i])[0, 1] for i in range(a.shape[1])])


def _distinct(values: np.ndarray) -> int:
    return min(len(np.unique(values[:, i])) for i in range(values.shape[1]))


def test_the_shipped_model_has_the_joint_head(shipped):
    assert shipped.joint_head is not None
    assert shipped.config.joint.likelihood in FAMILIES and shipped.config.joint.feature_blocks


def test_thousand_fresh_draws_none_on_a_bound(thousand):
    for q in QUANTITIES:
        values = thousand.samples[q]
        assert values.shape == (1000, N_STARS) and np.isfinite(values).all(), q
        assert _distinct(values) == 1000, q
    assert _distinct(np.repeat(thousand.samples["teff"][:200], 5, axis=0)) == 200  # stored draws: rejected
    for q, label in (("mass", "ln_mass"), ("age", "ln_age")):
        low, high = PHYSICAL_RANGE[label]
        assert (thousand.samples[q] > low).all() and (thousand.samples[q] < high).all(), q


def test_per_star_correlations_are_the_joint_heads(thousand):
    """Tolerances: the standard error of r from 1000 draws is about 0.03."""
    s = thousand.samples
    teff_logg = _corr(s["teff"], s["logg"])
    assert (np.abs(teff_logg) < 0.9).all()
    mass_age = _corr(np.log(s["mass"]), np.log(s["age"]))
    # younger means heavier for a giant, in every star; and as strongly as the held-out residuals say
    # (about -0.9; the model that read every feature for its correlations gave -0.70 on these stars)
    assert (mass_age < -0.5).all() and mass_age.mean() < -0.8, mass_age.round(2)
    # the wrong model: one standard normal for every quantity (the old per-head sampling) fails the first check
    z = (s["teff"] - s["teff"].mean(0)) / s["teff"].std(0)
    shared_logg = s["logg"].mean(0) + z * s["logg"].std(0)
    assert (np.abs(_corr(s["teff"], shared_logg)) > 0.99).all()


def test_joint_correlations_match_held_out_seismic_residuals(shipped, shared_data, library):
    """The campaign's check (``calibration/configs/seismic_dev.yaml``: 1000 draws, seed 0, full context) on the
    177 dev stars: Teff, logg, [M/H] from APOGEE, mass (83) and age (70, published errors) seismic, each
    prediction widened by its truth's error (mass and age with their catalogue-implied error correlation)."""
    truth = seismic_dev_truth(data_dir=shared_data, library=library)
    posterior = predict_bayesxp(shipped, truth.stars, num_samples=1000, context="full", seed=0)
    judged = {q: judge_rows(truth, q, [posterior]) for q in JOINT_ORDER}
    assert judged["mass"].size >= 80 and judged["age"].size >= 65
    out = evaluate_joint_all(truth, {"bayesxp": posterior}, judged, truth.truth_draws(0), seed=0)
    pairs = out["bayesxp"]["correlation"]["pairs"]
    assert len(pairs) == 10
    assert all(abs(p["predictive_mean"] - p["residual"]) <= 0.15 for p in pairs), pairs
    mass_age = next(p for p in pairs if {p["first"], p["second"]} == {"mass", "age"})
    assert mass_age["residual"] < -0.8 and mass_age["predictive_mean"] < -0.8, mass_age
    # the wrong model: the same draws with no correlation fails the same check
    decoupled = out["bayesxp (draws decoupled)"]["correlation"]["pairs"]
    assert sum(abs(p["predictive_mean"] - p["residual"]) <= 0.15 for p in decoupled) <= 3, decoupled


def test_on_batch_reports_each_batch_and_changes_no_draw(shipped):
    """``on_batch`` (the run report's progress bar) sees every batch's size; the draws are those without it."""
    spectra = read_sampled_table(demo_path()).take(np.arange(N_STARS + 3))
    seen = []
    with_hook = shipped.posterior(spectra, num_samples=20, batch_size=8, seed=4, on_batch=seen.append)
    plain = shipped.posterior(spectra, num_samples=20, batch_size=8, seed=4)
    assert seen == [8, 8, 3]
    assert all(np.array_equal(with_hook.samples[q], plain.samples[q], equal_nan=True) for q in QUANTITIES)
    from_file = []
    shipped.posterior(demo_path(), num_samples=5, batch_size=100, on_batch=from_file.append)
    assert from_file == [100, 100, 40]
