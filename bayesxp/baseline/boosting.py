"""One XGBoost booster: :func:`train_booster` (early stopping on validation rows) and :func:`repair_crossing`
(monotone rearrangement of separately fitted quantiles).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xgboost

from bayesxp.baseline.config import XGBParams

__all__ = ["train_booster", "repair_crossing"]


def train_booster(
    params: XGBParams,
    objective: str,
    features: np.ndarray,
    target: np.ndarray,
    features_val: np.ndarray | None = None,
    target_val: np.ndarray | None = None,
    n_rounds: int | None = None,
    **extra: Any,
) -> xgboost.Booster:
    """One booster; early stopping on the validation rows when given, else exactly ``n_rounds`` rounds.

    The returned booster is cut at its best iteration, so that it predicts with every tree it holds.

    Args:
        params: Hyper-parameters.
        objective: An XGBoost objective, e.g. ``"reg:squarederror"``.
        features: ``(N, F)`` training features (NaN = missing).
        target: ``(N,)`` training values.
        features_val: ``(M, F)`` validation features for early stopping (None: no early stopping).
        target_val: ``(M,)`` validation values.
        n_rounds: Boosting rounds without validation rows (default ``params.n_estimators``).
        **extra: Further booster parameters (``quantile_alpha``).

    Returns:
        The trained booster.

    Example:
        >>> x = np.arange(20.0)[:, None]
        >>> train_booster(XGBParams(max_depth=2), "reg:squarederror", x, 2 * x[:, 0], n_rounds=3).num_boosted_rounds()
        3
    """
    train_matrix = xgboost.QuantileDMatrix(features, target, max_bin=params.max_bin)
    booster_params = params.booster_params(objective, **extra)
    if features_val is None:
        return xgboost.train(booster_params, train_matrix, num_boost_round=int(n_rounds or params.n_estimators))
    val_matrix = xgboost.QuantileDMatrix(features_val, target_val, ref=train_matrix, max_bin=params.max_bin)
    booster = xgboost.train(
        booster_params,
        train_matrix,
        num_boost_round=params.n_estimators,
        evals=[(val_matrix, "val")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    return booster[: booster.best_iteration + 1]


def repair_crossing(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Repair crossing quantiles by sorting each star's quantiles (monotone rearrangement).

    Separately fitted quantile levels can cross (a 16% quantile above the 25% one). Sorting each row is
    the rearrangement of Chernozhukov, Fernandez-Val & Galichon (2010, Econometrica 78, 1093): the sorted
    curve is monotone, and is never farther (in any Lp norm over the levels) from the true, monotone
    quantile function than the crossing estimate was.

    Args:
        values: ``(N, Q)`` quantiles at increasing levels.

    Returns:
        ``(sorted values (N, Q), number of stars that had a crossing)``.

    Example:
        >>> fixed, n = repair_crossing(np.array([[0.0, 2.0, 1.0], [0.0, 1.0, 2.0]]))
        >>> fixed.tolist(), n
        ([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], 1)
    """
    values = np.asarray(values, dtype=float)
    n_crossing = int(np.sum(np.any(np.diff(values, axis=1) < 0, axis=1)))
    return np.sort(values, axis=1), n_crossing
