"""Empirical coverage of credible intervals, with binomial confidence bands.

For each nominal level the fraction of truths inside the predicted interval is compared with the level,
and a binomial confidence band on that fraction (Jeffreys by default, or Clopper-Pearson) says whether
the difference is larger than the finite number of stars allows. Against noisy labels (DistMass masses,
themselves predictions with ~12% error), pass ``label_error``: the intervals are then those of the
prediction convolved with the label's own error (:meth:`~bayesxp.calibration.distribution.PredictiveDistribution.convolve`).

One band per level is a per-level test; for a pass/fail over all L levels at once use
``confidence = 1 - alpha / L`` (Bonferroni).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive, as_truth

__all__ = [
    "DEFAULT_LEVELS",
    "CoverageResult",
    "binomial_band",
    "inside_interval",
    "coverage",
]

DEFAULT_LEVELS = np.unique(np.round(np.concatenate([np.arange(1, 20) * 0.05, [0.5, 0.68, 0.9, 0.95]]), 6))
"""0.05, 0.10, ..., 0.95 plus 0.68: shape ``[20]``."""


def binomial_band(
    n_inside: ArrayLike, n: int, confidence: float = 0.95, method: str = "jeffreys"
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided confidence band on a binomial proportion ``n_inside / n``.

    Args:
        n_inside: Successes, any shape.
        n: Trials (> 0).
        confidence: Two-sided confidence of the band.
        method: ``"jeffreys"`` (Beta(k + 1/2, n - k + 1/2) quantiles, lower end 0 at k = 0 and upper
            end 1 at k = n) or ``"clopper-pearson"`` (exact, conservative).

    Returns:
        ``(lower, upper)`` proportions, each with the shape of ``n_inside``.

    Example:
        >>> lo, hi = binomial_band(50, 100)
        >>> round(float(lo), 3), round(float(hi), 3)
        (0.403, 0.597)
    """
    k = np.asarray(n_inside, dtype=float)
    if n <= 0:
        raise ValueError("need at least one trial")
    alpha = 1.0 - confidence
    if method == "jeffreys":
        lo = stats.beta.ppf(alpha / 2, k + 0.5, n - k + 0.5)
        hi = stats.beta.ppf(1 - alpha / 2, k + 0.5, n - k + 0.5)
    elif method == "clopper-pearson":
        with np.errstate(invalid="ignore"):
            lo = stats.beta.ppf(alpha / 2, k, n - k + 1)
            hi = stats.beta.ppf(1 - alpha / 2, k + 1, n - k)
    else:
        raise ValueError(f"method must be 'jeffreys' or 'clopper-pearson', got {method!r}")
    lo = np.where(k <= 0, 0.0, lo)
    hi = np.where(k >= n, 1.0, hi)
    return lo, hi


@dataclass(frozen=True)
class CoverageResult:
    """Empirical coverage at several nominal levels.

    Attributes:
        level: Nominal levels, shape ``[L]``.
        coverage: Fraction of truths inside, shape ``[L]``.
        n_inside: Count of truths inside, shape ``[L]``.
        n: Number of stars.
        lower: Lower end of the binomial band on ``coverage``, shape ``[L]``.
        upper: Upper end, shape ``[L]``.
        consistent: Whether the nominal level lies inside the band, shape ``[L]``.
        kind: Interval kind (``"central"``, ``"hdi"``, or a joint-region name).
        confidence: The band's two-sided confidence.
        method: The band's method.
    """

    level: np.ndarray
    coverage: np.ndarray
    n_inside: np.ndarray
    n: int
    lower: np.ndarray
    upper: np.ndarray
    consistent: np.ndarray
    kind: str
    confidence: float
    method: str

    @classmethod
    def from_inside(
        cls,
        inside: np.ndarray,
        level: ArrayLike,
        kind: str,
        confidence: float = 0.95,
        method: str = "jeffreys",
    ) -> CoverageResult:
        """Build from a boolean table of which truth is inside which interval.

        Args:
            inside: Shape ``[L, N]``.
            level: Nominal levels, shape ``[L]``.
            kind: Interval kind, recorded.
            confidence: Band confidence.
            method: Band method (see :func:`binomial_band`).

        Returns:
            The coverage result.
        """
        level = np.asarray(level, dtype=float).ravel()
        n = inside.shape[1]
        k = inside.sum(axis=1)
        lo, hi = binomial_band(k, n, confidence, method)
        return cls(
            level=level,
            coverage=k / n,
            n_inside=k,
            n=int(n),
            lower=lo,
            upper=hi,
            consistent=(lo <= level) & (level <= hi),
            kind=kind,
            confidence=float(confidence),
            method=method,
        )

    @property
    def all_consistent(self) -> bool:
        """Whether every level's nominal value lies inside its band."""
        return bool(np.all(self.consistent))

    @property
    def max_deviation(self) -> float:
        """The largest ``|coverage - level|``."""
        return float(np.max(np.abs(self.coverage - self.level)))

    def as_dict(self) -> dict:
        """Plain lists and numbers (JSON-serialisable)."""
        return {
            "kind": self.kind,
            "n": self.n,
            "confidence": self.confidence,
            "method": self.method,
            "level": self.level.tolist(),
            "coverage": self.coverage.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "consistent": self.consistent.astype(bool).tolist(),
            "all_consistent": self.all_consistent,
            "max_deviation": self.max_deviation,
        }


def inside_interval(
    pred: PredictiveDistribution | ArrayLike, truth: ArrayLike, level: ArrayLike, kind: str = "central"
) -> np.ndarray:
    """Which truths fall inside the predicted intervals (closed at both ends).

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: True values, shape ``[N]``.
        level: Nominal levels, shape ``[L]`` (or a scalar).
        kind: ``"central"`` or ``"hdi"``.

    Returns:
        Booleans, shape ``[L, N]``.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> inside_interval(GaussianPrediction([0.0, 0.0], 1.0), [0.5, 1.5], [0.68]).tolist()
        [[True, False]]
    """
    pred = as_predictive(pred)
    level = np.atleast_1d(np.asarray(level, dtype=float))
    truth = as_truth(truth, pred.n_stars)
    lo, hi = pred.interval(level, kind=kind)  # [L, N] each
    return (lo <= truth) & (truth <= hi)


def coverage(
    pred: PredictiveDistribution | ArrayLike,
    truth: ArrayLike,
    levels: ArrayLike = DEFAULT_LEVELS,
    kind: str = "central",
    label_error: ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "jeffreys",
    rng: np.random.Generator | int | None = None,
) -> CoverageResult:
    """Empirical coverage of central or highest-density intervals at many levels.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: True (or labelled) values, shape ``[N]``.
        levels: Nominal levels in (0, 1), shape ``[L]``.
        kind: ``"central"`` or ``"hdi"``.
        label_error: The truth's own 1-sigma error, a scalar or ``[N]``; when given, the intervals are
            those of the prediction convolved with it (label-noise-aware coverage).
        confidence: Two-sided confidence of each level's binomial band.
        method: ``"jeffreys"`` or ``"clopper-pearson"``.
        rng: Generator or seed (noise draws for sample-based predictions with ``label_error``).

    Returns:
        The coverage per level with bands and consistency flags.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> truth = rng.normal(size=4000)
        >>> result = coverage(GaussianPrediction(np.zeros(4000), 1.0), truth, levels=[0.68, 0.95])
        >>> np.round(result.coverage, 2).tolist(), result.all_consistent
        ([0.67, 0.95], True)
    """
    pred = as_predictive(pred)
    if label_error is not None:
        pred = pred.convolve(label_error, rng=rng)
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    inside = inside_interval(pred, truth, levels, kind=kind)
    return CoverageResult.from_inside(inside, levels, kind, confidence, method)
