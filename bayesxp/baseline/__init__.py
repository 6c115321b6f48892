"""The XGBoost baseline of bayesxp: literature features and distributional gradient-boosted trees.

- :mod:`~bayesxp.baseline.features`: XP pseudo-coefficients bp0-29, rp0-29 and J-H, J-K, BP-RP
  (Leung & Bovy 2024's recipe), with an on-disk cache of the projection.
- :mod:`~bayesxp.baseline.config`: :class:`BaselineConfig` and :class:`XGBParams` (what is fitted, how).
- :mod:`~bayesxp.baseline.boosting`: one booster with early stopping; :func:`repair_crossing` of quantiles.
- :mod:`~bayesxp.baseline.xgb`: :class:`XGBQuantileBaseline` (multi-quantile regression) and
  :class:`XGBGaussianBaseline` (mean plus out-of-fold log-variance model), returning predictive
  distributions of :mod:`bayesxp.calibration`.
- :mod:`~bayesxp.baseline.persistence`: the folder format (XGBoost JSON models plus a checked sidecar).
- :mod:`~bayesxp.baseline.tuning`: the cross-validated :func:`tune`.

Example:
    >>> import numpy as np
    >>> from bayesxp.baseline import BaselineConfig, XGBParams, make_baseline
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2)); y = x[:, 0] + 0.1 * rng.normal(size=400)
    >>> model = make_baseline(BaselineConfig(params=XGBParams(n_estimators=20)))
    >>> model.fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]}).predict_arrays(x[:2])["y"].n_stars
    2
"""

from __future__ import annotations

from bayesxp.baseline.boosting import repair_crossing
from bayesxp.baseline.config import QUANTILE_LEVELS, TARGETS, BaselineConfig, XGBParams
from bayesxp.baseline.features import FEATURE_NAMES, features_from_arrays, pseudo_coefficients, xp_features
from bayesxp.baseline.tuning import TuningGrid, tune
from bayesxp.baseline.xgb import (
    XGBBaseline,
    XGBGaussianBaseline,
    XGBQuantileBaseline,
    load_baseline,
    make_baseline,
)

__all__ = [
    "FEATURE_NAMES",
    "features_from_arrays",
    "pseudo_coefficients",
    "xp_features",
    "TARGETS",
    "QUANTILE_LEVELS",
    "XGBParams",
    "BaselineConfig",
    "repair_crossing",
    "XGBBaseline",
    "XGBQuantileBaseline",
    "XGBGaussianBaseline",
    "make_baseline",
    "load_baseline",
    "TuningGrid",
    "tune",
]
