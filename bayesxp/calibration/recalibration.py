"""Post-hoc recalibration: fit on a calibration split, apply to new predictions.

Every recaliber follows ``fit(pred_cal, y_cal)`` then ``apply(pred_new) -> PredictiveDistribution``:

- :class:`IsotonicRecalibrator` (Kuleshov et al. 2018): learns a monotone map ``R`` from predicted to
  observed cumulative probability on the calibration PIT values (``scipy.optimize.isotonic_regression``),
  and returns :class:`RecalibratedPrediction` with CDF ``R(F(y))`` and quantiles ``F^-1(R^-1(t))``: all
  levels at once, marginal (average over stars) calibration.
- :class:`ConformalQuantileRecalibrator` (CQR, Romano, Patterson & Candes 2019): widens (or narrows) the
  central interval at each chosen level by the conformal quantile of the scores
  ``max(lo - y, y - hi)``; finite-sample coverage ``>= level`` for exchangeable stars.
- :class:`ConformalScaleRecalibrator` (normalised-residual split conformal, Lei et al. 2018): stretches
  the whole prediction about its median by the conformal quantile of the residual normalised by the
  interval half-width (``|y - mu| / (z sigma)`` for a Gaussian), keeping each star's relative width.

Conformal guarantees hold at the fitted levels only; the isotonic map fits every level but only
asymptotically. Neither repairs calibration *within* subgroups (check with
:func:`~bayesxp.calibration.subgroups.coverage_by_group`).
"""

from __future__ import annotations

import abc

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive, as_truth
from bayesxp.calibration.parametric import QuantilePrediction
from bayesxp.calibration.samples import SamplePrediction

__all__ = [
    "conformal_quantile",
    "Recalibrator",
    "RecalibratedPrediction",
    "IsotonicRecalibrator",
    "ConformalQuantileRecalibrator",
    "ConformalScaleRecalibrator",
]

_MOMENT_LEVELS = 512  # midpoint levels for moments of a recalibrated prediction


def conformal_quantile(scores: ArrayLike, level: float) -> float:
    """The split-conformal quantile: the ``ceil((n + 1) level)``-th smallest of n scores.

    Args:
        scores: Conformity scores on the calibration split, shape ``[n]``.
        level: Target coverage in (0, 1).

    Returns:
        The score threshold (``inf`` when ``n`` is too small for the level).

    Example:
        >>> conformal_quantile(np.arange(1.0, 10.0), 0.8)
        8.0
    """
    s = np.sort(np.asarray(scores, dtype=float).ravel())
    k = int(np.ceil((s.size + 1) * level))
    return float(s[k - 1]) if k <= s.size else float("inf")


def _probit_interp(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear ``f(x)`` through ``(xp, fp)``, extended linearly beyond the ends; also the slope."""
    slope = np.diff(fp) / np.diff(xp)
    k = np.clip(np.searchsorted(xp, x, side="right") - 1, 0, slope.size - 1)
    return fp[k] + slope[k] * (x - xp[k]), slope[k]


class RecalibratedPrediction(PredictiveDistribution):
    """A prediction with its cumulative probabilities remapped: CDF ``R(F(y))``, quantile ``F^-1(R^-1(t))``.

    ``R`` is piecewise linear in normal-score (probit) space through the knots, ``Phi^-1(R(u))`` linear
    in ``Phi^-1(u)`` between them and beyond the outer ones, so ``R(0) = 0``, ``R(1) = 1`` and the map is
    exact for a Gaussian prediction whose only faults are its scale and its bias. Moments use the
    midpoint rule over 512 quantile levels.

    Args:
        base: The prediction ``F``.
        knots_pit: Predicted cumulative probabilities of the knots, strictly increasing in (0, 1), ``[K]``.
        knots_level: Observed cumulative probabilities ``R`` there, strictly increasing in (0, 1), ``[K]``.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> widen = RecalibratedPrediction(GaussianPrediction([0.0], [1.0]), [0.16, 0.84], [0.31, 0.69])
        >>> np.round(widen.quantile(0.84), 2).tolist()  # R maps z to z / 2: the std doubles
        [1.99]
    """

    def __init__(self, base: PredictiveDistribution, knots_pit: ArrayLike, knots_level: ArrayLike) -> None:
        self.base = base
        self.knots_pit = np.asarray(knots_pit, dtype=float)
        self.knots_level = np.asarray(knots_level, dtype=float)
        if (
            self.knots_pit.shape != self.knots_level.shape
            or self.knots_pit.ndim != 1
            or self.knots_pit.size < 2
        ):
            raise ValueError("knots must be two 1-D arrays of the same length, at least 2")
        for knots in (self.knots_pit, self.knots_level):
            if np.any(np.diff(knots) <= 0) or knots[0] <= 0 or knots[-1] >= 1:
                raise ValueError("knots must be strictly increasing inside (0, 1)")
        self._z_pit = special.ndtri(self.knots_pit)
        self._z_level = special.ndtri(self.knots_level)

    @property
    def n_stars(self) -> int:
        return self.base.n_stars

    def take(self, index: ArrayLike) -> RecalibratedPrediction:
        return RecalibratedPrediction(self.base.take(index), self.knots_pit, self.knots_level)

    def _score_knots(self) -> np.ndarray:
        return self._z_level

    def calibration_map(self, u: ArrayLike) -> np.ndarray:
        """``R(u)``: observed cumulative probability at predicted cumulative probability ``u``."""
        return special.ndtr(
            _probit_interp(special.ndtri(np.asarray(u, float)), self._z_pit, self._z_level)[0]
        )

    def inverse_map(self, t: ArrayLike) -> np.ndarray:
        """``R^-1(t)``: the predicted level whose observed frequency is ``t``."""
        return special.ndtr(
            _probit_interp(special.ndtri(np.asarray(t, float)), self._z_level, self._z_pit)[0]
        )

    def cdf(self, y: ArrayLike) -> np.ndarray:
        return self.calibration_map(self.base.cdf(y))

    def ppf(self, u: ArrayLike) -> np.ndarray:
        return self.base.ppf(self.inverse_map(u))

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        z = special.ndtri(self.base.cdf(y))
        z_new, slope = _probit_interp(z, self._z_pit, self._z_level)
        with np.errstate(invalid="ignore"):  # dR/du = slope * phi(z_new) / phi(z)
            log_slope = np.log(slope) - 0.5 * z_new**2 + 0.5 * z**2
        return self.base.logpdf(y) + np.where(np.isfinite(z), log_slope, 0.0)

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.calibration_map(self.base.pit(y, rng))

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        center = self.median()
        levels = (np.arange(_MOMENT_LEVELS) + 0.5) / _MOMENT_LEVELS
        s1, s2 = np.zeros(self.n_stars), np.zeros(self.n_stars)
        for block in np.array_split(levels, 8):
            d = self.quantile(block) - center  # [B, N]
            s1 += d.sum(axis=0)
            s2 += (d**2).sum(axis=0)
        m1, m2 = s1 / _MOMENT_LEVELS, s2 / _MOMENT_LEVELS
        return center + m1, np.sqrt(np.maximum(m2 - m1**2, 0.0))

    def mean(self) -> np.ndarray:
        return self._moments()[0]

    def std(self) -> np.ndarray:
        return self._moments()[1]


class Recalibrator(abc.ABC):
    """Fit on a calibration split, then apply to new predictions."""

    @abc.abstractmethod
    def fit(
        self, pred_cal: PredictiveDistribution | ArrayLike, y_cal: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> Recalibrator:
        """Learn the correction.

        Args:
            pred_cal: Predictions for the calibration stars.
            y_cal: Their true values, shape ``[n]``.
            rng: Generator or seed (randomised PIT of sample-based predictions).

        Returns:
            ``self``, fitted.
        """

    @abc.abstractmethod
    def apply(self, pred: PredictiveDistribution | ArrayLike) -> PredictiveDistribution:
        """The recalibrated prediction.

        Args:
            pred: New predictions of the same model.

        Returns:
            The corrected prediction.
        """

    def _require_fitted(self, attribute: str) -> None:
        if getattr(self, attribute) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(pred_cal, y_cal) first")


def _with_tails(pred: PredictiveDistribution) -> PredictiveDistribution:
    """Draws tabulated with Gaussian tails beyond their range; other predictions unchanged."""
    return QuantilePrediction.from_samples(pred) if isinstance(pred, SamplePrediction) else pred


class IsotonicRecalibrator(Recalibrator):
    """Isotonic recalibration of the PIT (Kuleshov, Fenner & Ermon 2018).

    Fitting sorts the calibration PIT values ``u_(i)`` and regresses their empirical CDF (Hazen plotting
    positions ``(i - 1/2) / n``, tied PIT values pooled) on them with
    ``scipy.optimize.isotonic_regression``: the monotone map ``R`` from predicted to observed cumulative
    probability. ``R`` is then thinned to ``n_knots`` knots at equal steps of observed probability
    (equal numbers of calibration stars per segment) and interpolated linearly in normal-score space
    (:class:`RecalibratedPrediction`), so that its slope, the factor by which the density changes, is not
    the noisy derivative of a step function, and the tails beyond the outer knots stay sensible.

    Args:
        n_knots: Interior knots of ``R``; default ``n // 50`` clipped to [10, 100] (about 1/sqrt(50) =
            14% relative noise in the recalibrated density).

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=2000)  # true std 1, predicted 0.5: over-confident
        >>> fitted = IsotonicRecalibrator().fit(GaussianPrediction(np.zeros(2000), 0.5), y, rng=rng)
        >>> new = fitted.apply(GaussianPrediction(np.zeros(1), 0.5))
        >>> round(float(new.interval(0.68)[1][0]), 1)
        1.0
    """

    def __init__(self, n_knots: int | None = None) -> None:
        if n_knots is not None and n_knots < 1:
            raise ValueError("n_knots must be positive")
        self.n_knots = n_knots
        self.knots_pit: np.ndarray | None = None
        self.knots_level: np.ndarray | None = None

    def fit(
        self, pred_cal: PredictiveDistribution | ArrayLike, y_cal: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> IsotonicRecalibrator:
        pred = _with_tails(as_predictive(pred_cal))
        u = np.sort(pred.pit(as_truth(y_cal, pred.n_stars), rng=rng))
        n = u.size
        positions = (np.arange(1, n + 1) - 0.5) / n  # empirical CDF at each sorted PIT value
        ux, inverse = np.unique(u, return_inverse=True)
        pooled = np.bincount(inverse, weights=positions) / np.bincount(inverse)
        fitted = optimize.isotonic_regression(pooled).x  # R at the distinct PIT values, monotone
        n_knots = self.n_knots if self.n_knots is not None else int(np.clip(n // 50, 10, 100))
        levels = np.arange(1, n_knots + 1) / (n_knots + 1)  # observed probabilities of the knots
        # R^-1 at those levels; a strictly increasing copy of the fit makes the inverse unique
        strict = fitted + 1e-12 * np.arange(fitted.size)
        knots_pit = np.interp(levels, strict, ux)
        keep = np.concatenate([[True], np.diff(knots_pit) > 0]) & (knots_pit > 0) & (knots_pit < 1)
        if keep.sum() < 2:
            raise ValueError(f"the PIT values of {n} calibration stars give fewer than two distinct knots")
        self.knots_pit, self.knots_level = knots_pit[keep], levels[keep]
        return self

    def apply(self, pred: PredictiveDistribution | ArrayLike) -> RecalibratedPrediction:
        """The recalibrated prediction ``R(F(y))``.

        Draws are tabulated by :meth:`QuantilePrediction.from_samples` (Gaussian tails beyond the draws),
        in :meth:`fit` as here: recalibrating an over-confident model reaches for predicted levels beyond
        the most extreme draw (the 97.5% point of a model with half the true width is its 99.996% point),
        and the rank PIT of draws cannot tell how far beyond them a truth lies.

        Args:
            pred: New predictions of the same model.

        Returns:
            The recalibrated prediction.
        """
        self._require_fitted("knots_pit")
        return RecalibratedPrediction(_with_tails(as_predictive(pred)), self.knots_pit, self.knots_level)


class ConformalQuantileRecalibrator(Recalibrator):
    """Conformalised quantile regression (CQR) of central intervals at one or several levels.

    For level ``a`` the score of a calibration star is ``E = max(lo - y, y - hi)`` with ``[lo, hi]`` the
    predicted central ``a`` interval; the margin ``m_a`` is :func:`conformal_quantile` of the scores, and
    new intervals are ``[lo - m_a, hi + m_a]`` (coverage ``>= a`` for exchangeable stars).

    Args:
        levels: The interval level(s) to conformalise, scalar or shape ``[L]``.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=2000)
        >>> cqr = ConformalQuantileRecalibrator(0.9).fit(GaussianPrediction(np.zeros(2000), 0.5), y)
        >>> round(cqr.margins[0], 1)  # half-width 0.82 widened to about 1.64
        0.8
    """

    def __init__(self, levels: ArrayLike = 0.9) -> None:
        self.levels = np.atleast_1d(np.asarray(levels, dtype=float))
        if np.any((self.levels <= 0) | (self.levels >= 1)):
            raise ValueError("levels must lie strictly between 0 and 1")
        self.margins: list[float] | None = None

    def fit(
        self, pred_cal: PredictiveDistribution | ArrayLike, y_cal: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> ConformalQuantileRecalibrator:
        pred = as_predictive(pred_cal)
        y = as_truth(y_cal, pred.n_stars)
        lo, hi = pred.interval(self.levels)  # [L, n]
        scores = np.maximum(lo - y, y - hi)
        margins = [conformal_quantile(s, a) for s, a in zip(scores, self.levels)]
        if not np.all(np.isfinite(margins)):
            raise ValueError(f"{y.size} calibration stars are too few for levels {self.levels.tolist()}")
        self.margins = margins
        return self

    def interval(self, pred: PredictiveDistribution | ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """The conformalised central intervals.

        Args:
            pred: New predictions.

        Returns:
            ``(lower, upper)``, each ``[L, N]``.
        """
        self._require_fitted("margins")
        pred = as_predictive(pred)
        lo, hi = pred.interval(self.levels)
        m = np.asarray(self.margins)[:, None]
        return lo - m, hi + m

    def apply(self, pred: PredictiveDistribution | ArrayLike) -> QuantilePrediction:
        """A :class:`QuantilePrediction` whose central intervals at the fitted levels are the conformal ones.

        Its knots are ``(1 - a) / 2`` and ``(1 + a) / 2`` for each level plus the median (crossing knots,
        possible when a narrower level got a larger margin, are sorted); other levels are interpolated.

        Args:
            pred: New predictions.

        Returns:
            The recalibrated prediction.
        """
        pred = as_predictive(pred)
        lo, hi = self.interval(pred)
        knots = np.concatenate([(1 - self.levels) / 2, (1 + self.levels) / 2])
        values = np.concatenate([lo, hi], axis=0)  # [2L, N]
        if not np.any(np.isclose(knots, 0.5)):
            knots = np.append(knots, 0.5)
            values = np.concatenate([values, pred.median()[None]], axis=0)
        return QuantilePrediction(knots, values.T)


class ConformalScaleRecalibrator(Recalibrator):
    """Normalised-residual split conformal: one stretch factor for every star's distribution.

    The score of a calibration star is how far its central ``level`` interval, stretched about the
    median m, must be widened to reach the truth: ``(y - m) / (hi - m)`` above the median,
    ``(m - y) / (m - lo)`` below (``|y - mu| / (z sigma)`` for a Gaussian). The factor is the conformal
    quantile of the scores; :meth:`apply` stretches the whole prediction by it about the median, so its
    central ``level`` interval has conformal coverage and every star keeps its relative width and shape.

    Args:
        level: The interval level the guarantee is for.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> y = rng.normal(size=4000)
        >>> scaler = ConformalScaleRecalibrator(0.68).fit(GaussianPrediction(np.zeros(4000), 0.5), y)
        >>> round(scaler.factor, 1)
        2.0
    """

    def __init__(self, level: float = 0.68) -> None:
        if not 0 < level < 1:
            raise ValueError("level must lie strictly between 0 and 1")
        self.level = float(level)
        self.factor: float | None = None

    def fit(
        self, pred_cal: PredictiveDistribution | ArrayLike, y_cal: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> ConformalScaleRecalibrator:
        pred = as_predictive(pred_cal)
        y = as_truth(y_cal, pred.n_stars)
        m = pred.median()
        lo, hi = pred.interval(self.level)
        tiny = 1e-300
        scores = np.where(y >= m, (y - m) / np.maximum(hi - m, tiny), (m - y) / np.maximum(m - lo, tiny))
        factor = conformal_quantile(scores, self.level)
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(f"cannot fit a positive finite stretch from {y.size} calibration stars")
        self.factor = factor
        return self

    def apply(self, pred: PredictiveDistribution | ArrayLike) -> PredictiveDistribution:
        self._require_fitted("factor")
        return as_predictive(pred).rescale(self.factor)
