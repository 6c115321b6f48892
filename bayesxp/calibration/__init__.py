"""Calibration checks of predictive distributions against truths: coverage, PIT, proper scores, recalibration.

The maths depends on NumPy and SciPy alone and works on anything that yields samples or quantiles:
bayesxp posteriors (samples ``[S, N]``, sample dimension first), the XGBoost quantile baseline (levels
``[Q]``, values ``[N, Q]``), or a Gaussian mean and std. Every metric is ``f(pred, truth)``.

Modules, one concept each:

- :mod:`~bayesxp.calibration.distribution`: the :class:`PredictiveDistribution` interface, :func:`as_predictive`.
- :mod:`~bayesxp.calibration.samples`: :class:`SamplePrediction`, posterior draws ``[S, N]``.
- :mod:`~bayesxp.calibration.parametric`: :class:`GaussianPrediction` and :class:`QuantilePrediction`.
- :mod:`~bayesxp.calibration.transforms`: :class:`FromLogPrediction`, :func:`to_linear`, :class:`ScaledPrediction`.
- :mod:`~bayesxp.calibration.convolution`: the noisy-label convolution behind :meth:`PredictiveDistribution.convolve`.
- :mod:`~bayesxp.calibration.coverage`: interval coverage with binomial bands (label-noise aware).
- :mod:`~bayesxp.calibration.pit`: PIT values, uniformity tests, miscalibration area, ECE.
- :mod:`~bayesxp.calibration.scores`: CRPS, log score, interval and pinball scores, z and residuals.
- :mod:`~bayesxp.calibration.subgroups`: calibration within bins or categories of a covariate.
- :mod:`~bayesxp.calibration.joint`: joint (mass, age) HDR coverage, TARP, predictive-correlation check.
- :mod:`~bayesxp.calibration.recalibration`: isotonic and conformal recalibration.
- :mod:`~bayesxp.calibration.report`: one JSON-ready summary.
- :mod:`~bayesxp.calibration.plots`: figures reading the results (matplotlib imported on first use).

Example:
    >>> import numpy as np
    >>> from bayesxp.calibration import GaussianPrediction, coverage
    >>> rng = np.random.default_rng(0)
    >>> coverage(GaussianPrediction(np.zeros(1000), 1.0), rng.normal(size=1000), levels=[0.68]).all_consistent
    True
"""

from __future__ import annotations

import importlib

from bayesxp.calibration.coverage import (
    DEFAULT_LEVELS,
    CoverageResult,
    binomial_band,
    coverage,
    inside_interval,
)
from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive
from bayesxp.calibration.joint import (
    CorrelationCheck,
    PairCorrelation,
    TARPResult,
    correlation_check,
    hdr_credibility,
    joint_coverage,
    stack_quantities,
    tarp,
)
from bayesxp.calibration.parametric import GaussianPrediction, QuantilePrediction
from bayesxp.calibration.pit import (
    PITTest,
    calibration_curve,
    expected_calibration_error,
    miscalibration_area,
    pit,
    pit_uniformity,
)
from bayesxp.calibration.recalibration import (
    ConformalQuantileRecalibrator,
    ConformalScaleRecalibrator,
    IsotonicRecalibrator,
    RecalibratedPrediction,
    Recalibrator,
    conformal_quantile,
)
from bayesxp.calibration.report import calibration_summary
from bayesxp.calibration.samples import SamplePrediction
from bayesxp.calibration.scores import (
    crps,
    crps_ensemble,
    crps_gaussian,
    interval_score,
    log_score,
    mad_std,
    pinball_loss,
    residual_summary,
    winkler_score,
    z_scores,
    z_summary,
)
from bayesxp.calibration.subgroups import GroupCoverage, assign_groups, coverage_by_group
from bayesxp.calibration.transforms import FromLogPrediction, ScaledPrediction, to_linear

__all__ = [
    # predictions
    "PredictiveDistribution",
    "SamplePrediction",
    "GaussianPrediction",
    "QuantilePrediction",
    "FromLogPrediction",
    "ScaledPrediction",
    "as_predictive",
    "to_linear",
    # coverage
    "DEFAULT_LEVELS",
    "CoverageResult",
    "binomial_band",
    "inside_interval",
    "coverage",
    # pit
    "pit",
    "PITTest",
    "pit_uniformity",
    "miscalibration_area",
    "calibration_curve",
    "expected_calibration_error",
    # scores
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
    # subgroups
    "assign_groups",
    "GroupCoverage",
    "coverage_by_group",
    # joint
    "stack_quantities",
    "hdr_credibility",
    "joint_coverage",
    "TARPResult",
    "tarp",
    "PairCorrelation",
    "CorrelationCheck",
    "correlation_check",
    # recalibration
    "conformal_quantile",
    "Recalibrator",
    "RecalibratedPrediction",
    "IsotonicRecalibrator",
    "ConformalQuantileRecalibrator",
    "ConformalScaleRecalibrator",
    # report
    "calibration_summary",
    # plots (imported lazily: matplotlib only when drawing)
    "plot_reliability",
    "plot_pit_histogram",
    "plot_group_coverage",
    "plot_tarp",
]

_PLOTS = ("plot_reliability", "plot_pit_histogram", "plot_group_coverage", "plot_tarp")


def __getattr__(name: str) -> object:
    if name in _PLOTS:
        return getattr(importlib.import_module("bayesxp.calibration.plots"), name)
    raise AttributeError(f"module 'bayesxp.calibration' has no attribute {name!r}")
