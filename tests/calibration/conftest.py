"""Synthetic predictions with known calibration for the calibration-library tests.

Truths are drawn from a Gaussian predictive per star, so a model that reports that Gaussian is
calibrated by construction; the deliberately wrong models are over-confident (std x 0.5),
under-confident (std x 2) and biased (mean + 1 std).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from bayesxp.calibration import GaussianPrediction, QuantilePrediction, SamplePrediction

QUANTILE_LEVELS = np.array([0.025, 0.05, 0.1, 0.16, 0.25, 0.5, 0.75, 0.84, 0.9, 0.95, 0.975])


@dataclass(frozen=True)
class Synthetic:
    """N stars with a Gaussian predictive ``N(mean, std)`` and truths drawn from it."""

    mean: np.ndarray
    std: np.ndarray
    truth: np.ndarray

    def model(self, shift: float = 0.0, factor: float = 1.0) -> GaussianPrediction:
        """The Gaussian prediction with the mean shifted by ``shift`` stds and the std times ``factor``."""
        return GaussianPrediction(self.mean + shift * self.std, factor * self.std)


def _represent(pred: GaussianPrediction, kind: str, rng: np.random.Generator, n_samples: int = 400):
    """The same Gaussian prediction as a Gaussian, as samples ``[S, N]`` or as XGBoost-style quantiles."""
    if kind == "gaussian":
        return pred
    if kind == "samples":
        return SamplePrediction(pred.sample(n_samples, rng))
    if kind == "quantiles":
        return QuantilePrediction(QUANTILE_LEVELS, pred.quantile(QUANTILE_LEVELS).T)
    raise ValueError(kind)


def _make_synthetic(rng: np.random.Generator, n: int) -> Synthetic:
    mean = rng.uniform(0.8, 2.0, n)  # like red-giant masses in Msun
    std = rng.uniform(0.05, 0.2, n)
    return Synthetic(mean, std, mean + std * rng.standard_normal(n))


@pytest.fixture
def synthetic(rng: np.random.Generator) -> Synthetic:
    """4000 stars, calibrated by construction."""
    return _make_synthetic(rng, 4000)


@pytest.fixture
def make_synthetic():
    """``make_synthetic(rng, n)``: n calibrated synthetic stars."""
    return _make_synthetic


@pytest.fixture
def represent():
    """``represent(pred, kind, rng)``: a Gaussian prediction as ``"gaussian"``, ``"samples"`` or ``"quantiles"``."""
    return _represent


@pytest.fixture
def bonferroni() -> float:
    """Per-level band confidence so that a calibrated model fails any default level with < 0.1% chance."""
    from bayesxp.calibration import DEFAULT_LEVELS

    return 1.0 - 0.001 / DEFAULT_LEVELS.size
