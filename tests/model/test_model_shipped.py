"""The shipped model (``bayesxp/resources/model``) as a user gets it: one joint head, fresh coherent draws.

Known answers on the bundled demo stars, with stated tolerances: 1000 draws are 1000 distinct values per
star and quantity; no mass or age draw on a physical bound; the per-star Teff-logg correlation is the joint
head's (star-specific, not the ~1 of shared standard normals) and mass and age are anti-correlated in every
star. The same checks reject the deliberately wrong models built from the same draws (draws repeated from a
stored set; one shared standard normal).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.data.demo import demo_path
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
    assert (np.abs(teff_logg) < 0.9).all() and np.ptp(teff_logg) > 0.05
    mass_age = _corr(np.log(s["mass"]), np.log(s["age"]))
    assert (mass_age < -0.3).all()  # younger means heavier for a giant, in every star
    # the wrong model: one standard normal for every quantity (the old per-head sampling) fails the first check
    z = (s["teff"] - s["teff"].mean(0)) / s["teff"].std(0)
    shared_logg = s["logg"].mean(0) + z * s["logg"].std(0)
    assert (np.abs(_corr(s["teff"], shared_logg)) > 0.99).all()
