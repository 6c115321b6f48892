"""Probability integral transform (PIT) values, their uniformity tests and calibration-error numbers.

For a calibrated prediction the PIT ``u = F(y)`` of the truth is uniform on [0, 1]. Sample-based
predictions give a randomised rank PIT, exactly uniform under calibration for any number of draws (see
:meth:`~bayesxp.calibration.samples.SamplePrediction.pit`). From the PIT values this module gives:

- :func:`pit_uniformity`: Kolmogorov-Smirnov and binned chi-square tests (statistic and p-value), the
  histogram with its binomial band, and the miscalibration area;
- :func:`miscalibration_area`: ``integral_0^1 |G(t) - t| dt`` with G the empirical CDF of the PIT, exact;
- :func:`calibration_curve` and :func:`expected_calibration_error`: observed versus nominal coverage over
  levels, and its mean absolute difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesxp.calibration.coverage import DEFAULT_LEVELS
from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive, as_truth

__all__ = [
    "pit",
    "PITTest",
    "pit_uniformity",
    "miscalibration_area",
    "calibration_curve",
    "expected_calibration_error",
]


def pit(
    pred: PredictiveDistribution | ArrayLike,
    truth: ArrayLike,
    label_error: ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """PIT values of the truths under their predictions.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: True (or labelled) values, shape ``[N]``.
        label_error: The truth's own 1-sigma error; when given, the PIT is taken under the prediction
            convolved with it.
        rng: Generator or seed (randomised ranks of sample-based predictions, label noise draws).

    Returns:
        PIT values in [0, 1], shape ``[N]``.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> pit(GaussianPrediction([0.0, 0.0], 1.0), [0.0, 1.0]).round(3).tolist()
        [0.5, 0.841]
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    if label_error is not None:
        pred = pred.convolve(label_error, rng=rng)
    return pred.pit(truth, rng=rng)


def _as_pit(pit_values: ArrayLike) -> np.ndarray:
    u = np.asarray(pit_values, dtype=float).ravel()
    if u.size == 0 or np.any(~np.isfinite(u)) or np.any((u < 0) | (u > 1)):
        raise ValueError("PIT values must be a non-empty array of finite numbers in [0, 1]")
    return u


def miscalibration_area(pit_values: ArrayLike) -> float:
    """Area between the empirical CDF of the PIT values and the identity, ``int_0^1 |G(t) - t| dt``.

    Computed exactly for the step function G. Zero for a perfectly uniform PIT, 1/2 at most (all PIT
    values at 0 or at 1); Monte-Carlo noise alone gives about ``0.5 / sqrt(N)``.

    Args:
        pit_values: PIT values, shape ``[N]``.

    Returns:
        The area.

    Example:
        >>> round(miscalibration_area([0.25, 0.75]), 4)
        0.125
    """
    u = np.sort(_as_pit(pit_values))
    n = u.size
    a = np.concatenate([[0.0], u])  # G = i / n on [a_i, b_i)
    b = np.concatenate([u, [1.0]])
    c = np.arange(n + 1) / n

    def antiderivative(t: np.ndarray) -> np.ndarray:  # of |t - c|
        return np.sign(t - c) * (t - c) ** 2 / 2

    return float(np.sum(antiderivative(b) - antiderivative(a)))


def calibration_curve(
    pit_values: ArrayLike, levels: ArrayLike = DEFAULT_LEVELS, kind: str = "central"
) -> np.ndarray:
    """Observed coverage at nominal levels, read off the PIT values.

    Args:
        pit_values: PIT values, shape ``[N]``.
        levels: Nominal levels, shape ``[L]``.
        kind: ``"central"`` (fraction with ``|u - 1/2| <= level / 2``) or ``"quantile"`` (fraction with
            ``u <= level``, one-sided intervals).

    Returns:
        Observed coverage, shape ``[L]``.

    Example:
        >>> calibration_curve([0.1, 0.5, 0.9], [0.5]).tolist()
        [0.3333333333333333]
    """
    u = _as_pit(pit_values)
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    if kind == "central":
        return np.mean(np.abs(u[None, :] - 0.5) <= levels[:, None] / 2, axis=1)
    if kind == "quantile":
        return np.mean(u[None, :] <= levels[:, None], axis=1)
    raise ValueError(f"kind must be 'central' or 'quantile', got {kind!r}")


def expected_calibration_error(
    pit_values: ArrayLike, levels: ArrayLike = DEFAULT_LEVELS, kind: str = "central"
) -> float:
    """Mean over levels of ``|observed coverage - level|`` (the expected calibration error).

    Args:
        pit_values: PIT values, shape ``[N]``.
        levels: Nominal levels, shape ``[L]``.
        kind: ``"central"`` or ``"quantile"`` (see :func:`calibration_curve`).

    Returns:
        The error, between 0 and 1.

    Example:
        >>> round(expected_calibration_error(np.linspace(0.0, 1.0, 10001)), 3)
        0.0
    """
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    return float(np.mean(np.abs(calibration_curve(pit_values, levels, kind) - levels)))


@dataclass(frozen=True)
class PITTest:
    """Uniformity tests of PIT values, with the histogram the tests and plots read.

    Attributes:
        n: Number of PIT values.
        ks_statistic: Kolmogorov-Smirnov distance to U(0, 1).
        ks_pvalue: Its p-value.
        chi2_statistic: Pearson chi-square over equal-width bins.
        chi2_pvalue: Its p-value (``n_bins - 1`` degrees of freedom).
        miscalibration_area: See :func:`miscalibration_area`.
        edges: Bin edges, shape ``[B + 1]``.
        counts: Counts per bin, shape ``[B]``.
        expected: Expected count per bin, ``n / B``.
        band_lower: Per-bin binomial band on the counts under uniformity, shape ``[B]``.
        band_upper: Its upper end, shape ``[B]``.
        confidence: The band's two-sided confidence.
    """

    n: int
    ks_statistic: float
    ks_pvalue: float
    chi2_statistic: float
    chi2_pvalue: float
    miscalibration_area: float
    edges: np.ndarray
    counts: np.ndarray
    expected: float
    band_lower: np.ndarray
    band_upper: np.ndarray
    confidence: float

    @property
    def n_bins(self) -> int:
        """Number of histogram bins B."""
        return self.counts.size

    def rejects(self, alpha: float = 0.01) -> bool:
        """Whether either test rejects uniformity at significance ``alpha``.

        Args:
            alpha: Significance level of each test.

        Returns:
            True if the KS or the chi-square p-value is below ``alpha``.
        """
        return bool(min(self.ks_pvalue, self.chi2_pvalue) < alpha)

    def as_dict(self) -> dict:
        """Plain numbers (JSON-serialisable); the histogram as lists."""
        return {
            "n": self.n,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "chi2_statistic": self.chi2_statistic,
            "chi2_pvalue": self.chi2_pvalue,
            "n_bins": self.n_bins,
            "miscalibration_area": self.miscalibration_area,
            "counts": self.counts.tolist(),
            "edges": self.edges.tolist(),
        }


def pit_uniformity(pit_values: ArrayLike, bins: int = 20, confidence: float = 0.95) -> PITTest:
    """Test PIT values for uniformity (KS and binned chi-square) and summarise their histogram.

    Args:
        pit_values: PIT values, shape ``[N]``.
        bins: Number of equal-width bins; reduced to ``N // 5`` where fewer stars would leave under five
            expected per bin (at least 2).
        confidence: Two-sided confidence of the per-bin band drawn on the histogram.

    Returns:
        The test results.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> result = pit_uniformity(rng.uniform(size=2000))
        >>> result.rejects(0.01), result.n_bins
        (False, 20)
    """
    u = _as_pit(pit_values)
    n = u.size
    n_bins = int(max(2, min(bins, n // 5)))
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    counts = np.histogram(u, bins=edges)[0]
    ks = stats.kstest(u, "uniform")
    chi2 = stats.chisquare(counts)
    p = 1.0 / n_bins
    lo = stats.binom.ppf((1 - confidence) / 2, n, p)
    hi = stats.binom.ppf((1 + confidence) / 2, n, p)
    return PITTest(
        n=int(n),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
        chi2_statistic=float(chi2.statistic),
        chi2_pvalue=float(chi2.pvalue),
        miscalibration_area=miscalibration_area(u),
        edges=edges,
        counts=counts,
        expected=n * p,
        band_lower=np.full(n_bins, lo),
        band_upper=np.full(n_bins, hi),
        confidence=float(confidence),
    )
