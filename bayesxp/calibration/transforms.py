"""Predictions of a transformed quantity: from a log scale (:class:`FromLogPrediction`, :func:`to_linear`) and
stretched about a per-star centre (:class:`ScaledPrediction`, used by conformal rescaling).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from bayesxp.calibration.distribution import PredictiveDistribution, _per_star, as_predictive
from bayesxp.calibration.parametric import GaussianPrediction
from bayesxp.calibration.samples import SamplePrediction

__all__ = ["FromLogPrediction", "ScaledPrediction", "to_linear"]


class FromLogPrediction(PredictiveDistribution):
    """A prediction of ``y`` from a prediction of ``log_b(y)`` (e.g. log10 mass to mass in Msun).

    Quantiles and intervals map through ``b**x``; the density picks up the Jacobian ``1 / (y ln b)``. A
    Gaussian in log space gives a log-normal, with closed-form mean and standard deviation; other
    log-space predictions use Gauss-Hermite quadrature (sample-based ones the transformed draws).

    Args:
        log_prediction: The prediction of ``log_b(y)``.
        base: The logarithm's base b (10 for dex, ``np.e`` for natural logs).

    Example:
        >>> pred = FromLogPrediction(GaussianPrediction([0.0], [0.05]), base=10)
        >>> np.round(pred.median(), 3).tolist(), np.round(pred.cdf(1.0), 2).tolist()
        ([1.0], [0.5])
    """

    def __init__(self, log_prediction: PredictiveDistribution, base: float = 10.0) -> None:
        if base <= 0 or base == 1:
            raise ValueError(f"log base must be positive and not 1, got {base}")
        self.log_prediction = log_prediction
        self.base = float(base)
        self._ln_base = np.log(self.base)

    @property
    def n_stars(self) -> int:
        return self.log_prediction.n_stars

    def take(self, index: ArrayLike) -> FromLogPrediction:
        return FromLogPrediction(self.log_prediction.take(index), self.base)

    def _to_log(self, y: ArrayLike) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y > 0, np.log(np.where(y > 0, y, 1.0)) / self._ln_base, -np.inf)

    def cdf(self, y: ArrayLike) -> np.ndarray:
        return self.log_prediction.cdf(self._to_log(y))

    def ppf(self, u: ArrayLike) -> np.ndarray:
        return self.base ** self.log_prediction.ppf(u)

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        return self.base ** self.log_prediction._ppf_of_score(z)

    def _score_knots(self) -> np.ndarray:
        return self.log_prediction._score_knots()

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        x = self._to_log(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.log_prediction.logpdf(np.where(np.isfinite(x), x, 0.0)) - np.log(
                np.where(y > 0, y, 1.0)
            )
        return np.where(y > 0, out - np.log(self._ln_base), -np.inf)

    def _moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        base = self.log_prediction
        if isinstance(base, GaussianPrediction):
            mu, s = base.loc * self._ln_base, base.scale * self._ln_base  # natural-log parameters
            return np.exp(mu + 0.5 * s**2), np.sqrt(np.expm1(s**2)) * np.exp(mu + 0.5 * s**2)
        if isinstance(base, SamplePrediction):
            lin = self.base**base.samples
            return lin.mean(axis=0), lin.std(axis=0, ddof=1)
        return None

    def mean(self) -> np.ndarray:
        moments = self._moments()
        return super().mean() if moments is None else moments[0]

    def std(self) -> np.ndarray:
        moments = self._moments()
        return super().std() if moments is None else moments[1]

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.base ** self.log_prediction.sample(n_samples, rng)

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.log_prediction.pit(self._to_log(y), rng)

    def convolve(self, label_error: ArrayLike, rng: np.random.Generator | int | None = None) -> PredictiveDistribution:
        """Linear-space label noise: exact for sample-based log predictions, else the generic grid."""
        if isinstance(self.log_prediction, SamplePrediction):
            return to_linear(self.log_prediction, self.base).convolve(label_error, rng)
        return super().convolve(label_error, rng)


class ScaledPrediction(PredictiveDistribution):
    """Any prediction stretched about a per-star centre: ``y = center + factor * (x - center)``.

    Quantiles, HDIs and moments map exactly (a positive affine map preserves them); used by conformal
    rescaling.

    Args:
        base: The prediction of ``x``.
        factor: Positive stretch, a scalar or shape ``[N]``.
        center: Centre per star, a scalar or shape ``[N]``.

    Example:
        >>> pred = ScaledPrediction(GaussianPrediction([1.0], [0.1]), factor=2.0, center=1.0)
        >>> np.round(pred.std(), 6).tolist()
        [0.2]
    """

    def __init__(self, base: PredictiveDistribution, factor: ArrayLike, center: ArrayLike) -> None:
        self.base = base
        self.factor = _per_star(factor, base.n_stars, "factor")
        self.center = _per_star(center, base.n_stars, "center")
        if np.any(self.factor <= 0) or not np.all(np.isfinite(self.factor)):
            raise ValueError("factor must be finite and positive")

    @property
    def n_stars(self) -> int:
        return self.base.n_stars

    def take(self, index: ArrayLike) -> ScaledPrediction:
        return ScaledPrediction(self.base.take(index), self.factor[index], self.center[index])

    def _inverse(self, y: ArrayLike) -> np.ndarray:
        return self.center + (np.asarray(y, float) - self.center) / self.factor

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.center + self.factor * (x - self.center)

    def cdf(self, y: ArrayLike) -> np.ndarray:
        return self.base.cdf(self._inverse(y))

    def ppf(self, u: ArrayLike) -> np.ndarray:
        return self._forward(self.base.ppf(u))

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        return self._forward(self.base._ppf_of_score(z))

    def _score_knots(self) -> np.ndarray:
        return self.base._score_knots()

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        return self.base.logpdf(self._inverse(y)) - np.log(self.factor)

    def mean(self) -> np.ndarray:
        return self._forward(self.base.mean())

    def std(self) -> np.ndarray:
        return self.factor * self.base.std()

    def _hdi(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.base.interval(level, kind="hdi")
        return self._forward(lo), self._forward(hi)

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self._forward(self.base.sample(n_samples, rng))

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.base.pit(self._inverse(y), rng)


def to_linear(log_prediction: PredictiveDistribution | ArrayLike, base: float = 10.0) -> PredictiveDistribution:
    """Map a prediction of ``log_b(y)`` to a prediction of ``y``.

    Draws are transformed directly (exact, stays a :class:`SamplePrediction`); anything else is wrapped
    in :class:`FromLogPrediction`.

    Args:
        log_prediction: A prediction of the logarithm, or its draws ``[S, N]``.
        base: The logarithm's base.

    Returns:
        The prediction in linear units.

    Example:
        >>> to_linear(np.full((5, 2), 0.0)).mean().tolist()
        [1.0, 1.0]
    """
    pred = as_predictive(log_prediction)
    if isinstance(pred, SamplePrediction):
        return SamplePrediction(float(base) ** pred.samples, pred.bandwidth, pred.hdi_smoothing)
    return FromLogPrediction(pred, base)
