"""One JSON-ready summary of how well a prediction is calibrated against truths.

:func:`calibration_summary` combines coverage (central and HDI intervals), the PIT uniformity tests,
the miscalibration area and expected calibration error, CRPS, NLL, interval scores, the z-score summary
and the residual's bias, std and mad_std, as plain Python numbers, lists and dicts.

With ``label_error`` (the truth's own error, e.g. ~12% for DistMass masses) every calibration number and
score is computed against the *noisy-label* prediction (the prediction convolved with that error), and
``coverage_naive`` keeps the coverage of the prediction as it is, for comparison. Residual numbers always
use the prediction itself.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from bayesxp.calibration.coverage import DEFAULT_LEVELS, coverage
from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive, as_truth
from bayesxp.calibration.pit import expected_calibration_error, pit, pit_uniformity
from bayesxp.calibration.scores import crps, interval_score, log_score, residual_summary, z_scores, z_summary

__all__ = ["calibration_summary", "to_json_ready"]


def to_json_ready(obj: object) -> object:
    """Convert NumPy scalars and arrays in nested dicts and lists to plain Python; NaN and inf to None.

    Args:
        obj: A nested structure.

    Returns:
        The same structure that ``json.dumps(..., allow_nan=False)`` accepts.

    Example:
        >>> to_json_ready({"a": np.float64(1.5), "b": np.array([np.nan, 2])})
        {'a': 1.5, 'b': [None, 2.0]}
    """
    if isinstance(obj, dict):
        return {str(k): to_json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json_ready(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer | int):
        return int(obj)
    if isinstance(obj, np.floating | float):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def _level_key(level: float) -> str:
    return f"{level:g}"


def calibration_summary(
    pred: PredictiveDistribution | ArrayLike,
    truth: ArrayLike,
    label_error: ArrayLike | None = None,
    levels: ArrayLike = DEFAULT_LEVELS,
    interval_levels: ArrayLike = (0.68, 0.9, 0.95),
    confidence: float = 0.95,
    point: str = "median",
    hdi: bool = True,
    rng: np.random.Generator | int | None = 0,
) -> dict:
    """Every calibration number of a prediction against truths, as plain JSON-serialisable values.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: True (or labelled) values, shape ``[N]``.
        label_error: The truth's own 1-sigma error, scalar or ``[N]`` (see the module docstring).
        levels: Coverage levels, shape ``[L]``.
        interval_levels: Levels of the reported interval (Winkler) scores.
        confidence: Two-sided confidence of the binomial bands.
        point: ``"median"`` or ``"mean"``: the point prediction for residuals.
        hdi: Also report HDI coverage (costs a search per level for non-sample predictions).
        rng: Generator or seed (randomised PIT, label-noise draws); fixed by default so that reports
            are reproducible.

    Returns:
        A dict with keys ``n``, ``label_error``, ``coverage`` (central), ``coverage_hdi`` (if ``hdi``),
        ``coverage_naive`` (if ``label_error``), ``pit`` (KS and chi-square statistics and p-values),
        ``miscalibration_area``, ``ece`` (mean ``|coverage - level|`` over ``levels``), ``crps``,
        ``nll`` (means over stars), ``interval_score`` (mean per level, keyed ``"0.9"``...), ``z``
        (see :func:`~bayesxp.calibration.scores.z_summary`) and ``residual`` (``bias`` = median, ``std``,
        ``mad_std``, ``mean``).

    Example:
        >>> import json
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> summary = calibration_summary(GaussianPrediction(np.zeros(500), 1.0), rng.normal(size=500))
        >>> sorted(summary)[:4], len(json.dumps(summary, allow_nan=False)) > 0
        (['coverage', 'coverage_hdi', 'crps', 'ece'], True)
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    scored = pred if label_error is None else pred.convolve(label_error, rng=rng)

    central = coverage(scored, truth, levels, kind="central", confidence=confidence)
    pit_values = pit(scored, truth, rng=rng)
    test = pit_uniformity(pit_values, confidence=confidence)
    widths = interval_score(scored, truth, np.atleast_1d(np.asarray(interval_levels, dtype=float)))

    summary: dict = {
        "n": pred.n_stars,
        "label_error": label_error is not None,
        "coverage": central.as_dict(),
    }
    if hdi:
        summary["coverage_hdi"] = coverage(scored, truth, levels, kind="hdi", confidence=confidence).as_dict()
    if label_error is not None:
        summary["coverage_naive"] = coverage(
            pred, truth, levels, kind="central", confidence=confidence
        ).as_dict()
    summary.update(
        {
            "pit": {k: v for k, v in test.as_dict().items() if k not in ("counts", "edges")},
            "miscalibration_area": test.miscalibration_area,
            "ece": expected_calibration_error(pit_values, levels),
            "crps": float(np.mean(crps(scored, truth))),
            "nll": float(np.mean(log_score(scored, truth))),
            "interval_score": {
                _level_key(a): float(np.mean(w)) for a, w in zip(np.atleast_1d(interval_levels), widths)
            },
            "z": z_summary(z_scores(scored, truth)),
            "residual": residual_summary(pred, truth, point=point),
        }
    )
    return to_json_ready(summary)
