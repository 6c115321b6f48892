"""Proper scores and point-error summaries of predictions against truths.

All scores are per star (shape ``[N]`` unless stated), negatively oriented (lower is better), in the
units of the quantity where they have units:

- :func:`crps`: continuous ranked probability score; closed form for Gaussians
  (:func:`crps_gaussian`), the energy form from samples (:func:`crps_ensemble`), the quantile
  decomposition otherwise.
- :func:`log_score`: negative log predictive density (NLL).
- :func:`interval_score` / :func:`winkler_score`: the interval (Winkler) score of central or HDI intervals.
- :func:`pinball_loss`: the quantile (pinball) loss at given levels.
- :func:`z_scores` and :func:`z_summary`; :func:`residual_summary` with bias (median), std and
  ``mad_std`` of the residual; :func:`mad_std`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive, as_truth
from bayesxp.calibration.parametric import GaussianPrediction, QuantilePrediction
from bayesxp.calibration.samples import SamplePrediction

__all__ = [
    "crps",
    "crps_ensemble",
    "crps_gaussian",
    "log_score",
    "winkler_score",
    "interval_score",
    "pinball_loss",
    "z_scores",
    "z_summary",
    "mad_std",
    "residual_summary",
    "MAD_TO_STD",
]

MAD_TO_STD = 1.482602218505602
"""``1 / Phi^-1(3/4)``: the median absolute deviation times this is the std of a Gaussian."""

_CRPS_LEVELS = 1000  # midpoint levels of the quantile decomposition of the CRPS
_INV_SQRT_PI = 1.0 / np.sqrt(np.pi)


def crps_gaussian(mean: ArrayLike, std: ArrayLike, truth: ArrayLike) -> np.ndarray:
    """CRPS of a Gaussian, in closed form: ``std * (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))``.

    Args:
        mean: Means, broadcastable with ``truth``.
        std: Positive standard deviations.
        truth: Observed values.

    Returns:
        CRPS per element of the broadcast shape.

    Example:
        >>> round(float(crps_gaussian(0.0, 1.0, 0.0)), 4)
        0.2337
    """
    std = np.asarray(std, dtype=float)
    z = (np.asarray(truth, dtype=float) - np.asarray(mean, dtype=float)) / std
    pdf = np.exp(-0.5 * z**2) / np.sqrt(2.0 * np.pi)
    return std * (z * (2.0 * special.ndtr(z) - 1.0) + 2.0 * pdf - _INV_SQRT_PI)


def crps_ensemble(samples: ArrayLike, truth: ArrayLike, fair: bool = False) -> np.ndarray:
    """CRPS of an ensemble (samples), ``E|X - y| - E|X - X'| / 2``, in O(S log S) per star by sorting.

    With sorted draws ``x_(1) <= ... <= x_(S)``, ``sum_{i,j} |x_i - x_j| = 2 sum_i (2i - S - 1) x_(i)``.
    The standard (energy, "nrg") estimator divides that sum by ``S**2`` and is the CRPS of the empirical
    distribution (as ``properscoring.crps_ensemble``); the fair estimator (Ferro 2014; ``fair=True``)
    divides by ``S (S - 1)``, which makes it unbiased for the CRPS of the distribution the draws come
    from. The fair value is always the smaller.

    Args:
        samples: Draws, shape ``[S, N]`` (sample dimension first).
        truth: Observed values, shape ``[N]``.
        fair: Use the fair (unbiased) estimator.

    Returns:
        CRPS per star, shape ``[N]``.

    Example:
        >>> crps_ensemble([[0.0], [1.0]], [0.0]).tolist(), crps_ensemble([[0.0], [1.0]], [0.0], fair=True).tolist()
        ([0.25], [0.0])
    """
    x = np.sort(np.asarray(samples, dtype=float), axis=0)  # [S, N]
    if x.ndim != 2:
        raise ValueError(f"samples must have shape [S, N], got {x.shape}")
    y = as_truth(truth, x.shape[1])
    s = x.shape[0]
    if fair and s < 2:
        raise ValueError("the fair CRPS needs at least two draws")
    abs_error = np.mean(np.abs(x - y), axis=0)
    weights = 2.0 * np.arange(1, s + 1) - s - 1  # [S]
    pair_sum = 2.0 * (weights @ x)  # sum over all ordered pairs |x_i - x_j|, [N]
    spread = pair_sum / (s * (s - 1) if fair else s * s)
    return abs_error - 0.5 * spread


def _crps_quantile_decomposition(pred: PredictiveDistribution, truth: np.ndarray) -> np.ndarray:
    """``2 int_0^1 pinball_t(y, F^-1(t)) dt`` by the midpoint rule over 1000 levels."""
    total = np.zeros(pred.n_stars)
    levels = (np.arange(_CRPS_LEVELS) + 0.5) / _CRPS_LEVELS
    for block in np.array_split(levels, 10):
        q = pred.quantile(block)  # [B, N]
        total += np.sum(((truth < q) - block[:, None]) * (q - truth), axis=0)
    return 2.0 * total / _CRPS_LEVELS


def crps(pred: PredictiveDistribution | ArrayLike, truth: ArrayLike, fair: bool = False) -> np.ndarray:
    """CRPS per star, by the best form each prediction allows.

    Gaussian predictions use the closed form; sample-based ones :func:`crps_ensemble` (``fair`` picks the
    estimator); any other prediction the quantile decomposition
    ``CRPS = 2 int_0^1 pinball_t(y, F^-1(t)) dt`` by the midpoint rule over 1000 levels (relative error
    about 1e-3 for Gaussian-tailed predictions).

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: Observed values, shape ``[N]``.
        fair: For sample-based predictions, use the fair estimator.

    Returns:
        CRPS per star, shape ``[N]``.

    Example:
        >>> round(float(crps(GaussianPrediction([0.0], [1.0]), [0.0])[0]), 4)
        0.2337
    """
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    if isinstance(pred, GaussianPrediction):
        return crps_gaussian(pred.loc, pred.scale, truth)
    if isinstance(pred, SamplePrediction):
        return crps_ensemble(pred.samples, truth, fair=fair)
    return _crps_quantile_decomposition(pred, truth)


def log_score(pred: PredictiveDistribution | ArrayLike, truth: ArrayLike) -> np.ndarray:
    """Negative log predictive density per star (the NLL; lower is better).

    Densities come from each prediction's ``logpdf``: exact for Gaussians, the normal-score
    interpolation for quantile predictions, and a Gaussian kernel density estimate for samples with
    :attr:`SamplePrediction.bandwidth` (Scott's factor ``S**(-1/5)`` times the sample std by default, as
    ``scipy.stats.gaussian_kde``).

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: Observed values, shape ``[N]``.

    Returns:
        ``-log p(truth)`` per star, shape ``[N]``.

    Example:
        >>> round(float(log_score(GaussianPrediction([0.0], [1.0]), [0.0])[0]), 4)
        0.9189
    """
    pred = as_predictive(pred)
    return -pred.logpdf(as_truth(truth, pred.n_stars))


def winkler_score(lower: ArrayLike, upper: ArrayLike, truth: ArrayLike, level: ArrayLike) -> np.ndarray:
    """Interval (Winkler) score of given bounds at nominal level ``1 - alpha``.

    ``(u - l) + (2 / alpha) (l - y) [y < l] + (2 / alpha) (y - u) [y > u]``.

    Args:
        lower: Lower bounds, shape ``[..., N]``.
        upper: Upper bounds, same shape.
        truth: Observed values, broadcastable (``[N]``).
        level: Nominal level(s), broadcastable with the bounds' leading axes (``[L, 1]`` for ``[L, N]``).

    Returns:
        Scores with the broadcast shape.

    Example:
        >>> winkler_score(0.0, 1.0, 2.0, 0.9).round(6).tolist()
        21.0
    """
    lo, hi, y = (np.asarray(a, dtype=float) for a in (lower, upper, truth))
    alpha = 1.0 - np.asarray(level, dtype=float)
    return (hi - lo) + (2.0 / alpha) * (np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0))


def interval_score(
    pred: PredictiveDistribution | ArrayLike, truth: ArrayLike, level: ArrayLike = 0.9, kind: str = "central"
) -> np.ndarray:
    """Interval (Winkler) score of the predicted central or HDI intervals.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: Observed values, shape ``[N]``.
        level: Nominal level, a scalar or shape ``[L]``.
        kind: ``"central"`` or ``"hdi"``.

    Returns:
        Scores, shape ``[N]`` or ``[L, N]``.

    Example:
        >>> interval_score(GaussianPrediction([0.0], [1.0]), [0.0], 0.9).round(3).tolist()
        [3.29]
    """
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    level = np.asarray(level, dtype=float)
    lo, hi = pred.interval(level, kind=kind)
    return winkler_score(lo, hi, truth, level[..., None] if level.ndim else level)


def pinball_loss(
    pred: PredictiveDistribution | ArrayLike, truth: ArrayLike, levels: ArrayLike | None = None
) -> np.ndarray:
    """Pinball (quantile) loss ``(1[y < q] - t) (q - y)`` of the predicted quantiles at levels t.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: Observed values, shape ``[N]``.
        levels: Levels t, shape ``[Q]``; default the levels of a :class:`QuantilePrediction`, else
            0.025, 0.16, 0.5, 0.84, 0.975.

    Returns:
        Losses, shape ``[Q, N]``.

    Example:
        >>> pinball_loss(GaussianPrediction([0.0], [1.0]), [1.0], [0.5]).tolist()
        [[0.5]]
    """
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    if levels is None:
        levels = pred.levels if isinstance(pred, QuantilePrediction) else [0.025, 0.16, 0.5, 0.84, 0.975]
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    q = pred.quantile(levels)  # [Q, N]
    return ((truth < q) - levels[:, None]) * (q - truth)


def z_scores(pred: PredictiveDistribution | ArrayLike, truth: ArrayLike) -> np.ndarray:
    """Standardised residuals ``(mean - truth) / std`` (prediction minus truth, as the residuals).

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: Observed values, shape ``[N]``.

    Returns:
        z per star, shape ``[N]``.

    Example:
        >>> z_scores(GaussianPrediction([1.0], [2.0]), [0.0]).tolist()
        [0.5]
    """
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    return (pred.mean() - truth) / pred.std()


def z_summary(z: ArrayLike) -> dict:
    """Mean, std and tail fractions of z-scores, with the standard-normal expectations.

    Args:
        z: z-scores, shape ``[N]``.

    Returns:
        ``{"mean", "std", "frac_abs_gt1", "frac_abs_gt2", "expected_frac_abs_gt1",
        "expected_frac_abs_gt2"}`` as floats (expected: 0.3173 and 0.0455).

    Example:
        >>> z_summary([0.0, 0.5, -1.5, 2.5])["frac_abs_gt1"]
        0.5
    """
    z = np.asarray(z, dtype=float).ravel()
    return {
        "mean": float(np.mean(z)),
        "std": float(np.std(z, ddof=1)) if z.size > 1 else float("nan"),
        "frac_abs_gt1": float(np.mean(np.abs(z) > 1)),
        "frac_abs_gt2": float(np.mean(np.abs(z) > 2)),
        "expected_frac_abs_gt1": float(2 * special.ndtr(-1.0)),
        "expected_frac_abs_gt2": float(2 * special.ndtr(-2.0)),
    }


def mad_std(x: ArrayLike) -> float:
    """Robust standard deviation: 1.4826 times the median absolute deviation from the median.

    Args:
        x: Values, any shape (flattened).

    Returns:
        The robust scatter.

    Example:
        >>> round(mad_std([1.0, 2.0, 3.0, 4.0, 100.0]), 4)
        1.4826
    """
    x = np.asarray(x, dtype=float).ravel()
    return float(MAD_TO_STD * np.median(np.abs(x - np.median(x))))


def residual_summary(
    pred: PredictiveDistribution | ArrayLike, truth: ArrayLike, point: str = "median", fractional: bool = False
) -> dict:
    """Bias (median), mean, std and mad_std of the residual ``point prediction - truth``.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: Observed values, shape ``[N]``.
        point: ``"median"`` or ``"mean"`` of the prediction as the point estimate.
        fractional: Divide the residual by the truth (e.g. mass error as a fraction).

    Returns:
        ``{"point", "n", "bias", "mean", "std", "mad_std"}`` (``bias`` is the median residual).

    Example:
        >>> residual_summary(GaussianPrediction([1.0, 2.0, 3.0], 1.0), [1.0, 1.0, 1.0])["bias"]
        1.0
    """
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    if point == "median":
        estimate = pred.median()
    elif point == "mean":
        estimate = pred.mean()
    else:
        raise ValueError(f"point must be 'median' or 'mean', got {point!r}")
    r = estimate - truth
    if fractional:
        r = r / truth
    return {
        "point": point,
        "n": int(r.size),
        "bias": float(np.median(r)),
        "mean": float(np.mean(r)),
        "std": float(np.std(r, ddof=1)) if r.size > 1 else float("nan"),
        "mad_std": mad_std(r),
    }
