"""The one predictions type: :class:`bayesxp.posterior.Posterior` holding draws or (for the baseline) distributions."""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.calibration import GaussianPrediction, SamplePrediction
from bayesxp.posterior import Posterior


def _draws(rng: np.random.Generator) -> Posterior:
    """Three stars: usable, NaN draws, a status that is not "ok"."""
    mass = rng.lognormal(0.2, 0.1, (50, 3))  # [S, N]
    age = rng.lognormal(1.0, 0.3, (50, 3))
    mass[:, 1] = np.nan
    return Posterior({"mass": mass, "age": age}, np.array([10, 11, 12]), status=np.array(["ok", "ok", "no flux"]))


def test_draws_give_sample_predictions_a_usable_mask_and_joint_draws(rng):
    post = _draws(rng)
    assert post.usable().tolist() == [True, False, False]
    pred = post.predictive("age", np.array([0, 2]))
    assert isinstance(pred, SamplePrediction) and np.array_equal(pred.samples, post.samples["age"][:, [0, 2]])
    joint = post.joint_ln_mass_age(np.array([0]))  # [S, 1, 2]
    assert joint.shape == (50, 1, 2)
    assert np.allclose(joint[..., 0], np.log(post.samples["mass"][:, [0]]))
    assert np.allclose(joint[..., 1], np.log(post.samples["age"][:, [0]]))


def test_distributions_are_predictions_too():
    gauss = {q: GaussianPrediction([1.0, 1.5, 2.0], 0.1) for q in ("mass", "age")}
    post = Posterior({}, np.array([1, 2, 3]), distributions=gauss, info={"variant": "gaussian"})
    assert post.quantities == ("mass", "age") and post.joint_ln_mass_age() is None
    assert post.usable().tolist() == [True, True, True]
    assert post.predictive("mass", np.array([2])).median().tolist() == [2.0]
    part = post.take(np.array([0, 2]))
    assert part.predictive("age").median().tolist() == [1.0, 2.0] and part.info == {"variant": "gaussian"}
    with pytest.raises(KeyError, match="use predictive"):
        post.mean("mass")
    with pytest.raises(ValueError, match="only posteriors of draws"):
        Posterior.concatenate([post, post])
    with pytest.raises(ValueError, match="covers 3 stars"):
        Posterior({}, np.array([1, 2]), distributions=gauss)
