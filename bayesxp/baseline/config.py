"""What the XGBoost baseline fits: the modelled targets, the quantile levels and the frozen configuration.

:class:`BaselineConfig` (filled from ``configs/baseline.yaml``) holds the variant, targets, quantile levels,
booster hyper-parameters (:class:`XGBParams`, optionally per target from :func:`~bayesxp.baseline.tuning.tune`)
and which targets carry their label error into the prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from bayesxp.quantities import LN_SCALE, MODEL_LABELS, TARGET_LABELS

__all__ = ["TARGETS", "LOG_TARGETS", "QUANTILE_LEVELS", "XGBParams", "BaselineConfig"]

TARGETS = tuple(label for label in TARGET_LABELS if label in MODEL_LABELS.values())
"""The modelled TrainingSet labels: the model labels of the posterior quantities, in token order
(``teff, logg, m_h, ln_mass, ln_age``)."""

LOG_TARGETS = frozenset(LN_SCALE.values())
"""Targets modelled as natural logarithms and reported through ``exp``."""

QUANTILE_LEVELS = (0.025, 0.05, 0.16, 0.25, 0.5, 0.75, 0.84, 0.95, 0.975)
"""Quantile levels of the quantile baseline."""


@dataclass(frozen=True)
class XGBParams:
    """Booster hyper-parameters (XGBoost names where they differ are noted).

    Attributes:
        max_depth: Tree depth.
        learning_rate: Shrinkage (``eta``).
        min_child_weight: Minimum hessian sum in a leaf.
        n_estimators: Maximum boosting rounds (early stopping picks fewer).
        early_stopping_rounds: Rounds without improvement on the validation rows before stopping.
        subsample: Row fraction per tree.
        colsample_bytree: Feature fraction per tree.
        reg_lambda: L2 penalty on leaf values (``lambda``).
        max_bin: Histogram bins per feature (64: 2.5x faster than 256 on these data).
        n_jobs: Threads (``nthread``); 1 avoids OpenMP spinning on shared cores.
        seed: Random seed of row and feature sampling.

    Example:
        >>> XGBParams(max_depth=4).booster_params("reg:squarederror")["max_depth"]
        4
    """

    max_depth: int = 6
    learning_rate: float = 0.1
    min_child_weight: float = 1.0
    n_estimators: int = 2000
    early_stopping_rounds: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    max_bin: int = 64
    n_jobs: int = 1
    seed: int = 0

    def booster_params(self, objective: str, **extra: Any) -> dict:
        """The parameter dict of :func:`xgboost.train` for one objective.

        Args:
            objective: An XGBoost objective, e.g. ``"reg:squarederror"``.
            **extra: Further parameters (``quantile_alpha``, ``eval_metric``).

        Returns:
            The parameters, with ``tree_method="hist"``.
        """
        return {
            "objective": objective,
            "tree_method": "hist",
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "min_child_weight": self.min_child_weight,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "lambda": self.reg_lambda,
            "max_bin": self.max_bin,
            "nthread": self.n_jobs,
            "seed": self.seed,
            **extra,
        }


@dataclass(frozen=True)
class BaselineConfig:
    """What the baseline fits (filled from ``configs/baseline.yaml``).

    Attributes:
        variant: ``"quantile"`` or ``"gaussian"``: the default variant (:func:`make_baseline`).
        targets: TrainingSet labels to model.
        levels: Quantile levels of the quantile variant.
        params: Booster hyper-parameters for every target without its own.
        target_params: Per-target hyper-parameters (from :func:`tune`).
        variance_folds: K of the out-of-fold residuals of the Gaussian variant.
        n_bootstrap: Bootstrap mean boosters of the Gaussian variant (0: none); their variance is added.
        propagate_label_error: Targets whose label error is modelled and convolved at predict time.

    Example:
        >>> BaselineConfig(target_params={"teff": XGBParams(max_depth=4)}).params_for("teff").max_depth
        4
    """

    variant: Literal["quantile", "gaussian"] = "quantile"
    targets: tuple[str, ...] = TARGETS
    levels: tuple[float, ...] = QUANTILE_LEVELS
    params: XGBParams = field(default_factory=XGBParams)
    target_params: dict[str, XGBParams] = field(default_factory=dict)
    variance_folds: int = 5
    n_bootstrap: int = 0
    propagate_label_error: tuple[str, ...] = ("ln_mass", "ln_age")

    def __post_init__(self) -> None:
        if self.variance_folds < 2:
            raise ValueError("variance_folds must be at least 2")
        if self.n_bootstrap < 0:
            raise ValueError("n_bootstrap must be non-negative")
        levels = np.asarray(self.levels, dtype=float)
        if levels.size < 2 or np.any((levels <= 0) | (levels >= 1)) or np.any(np.diff(levels) <= 0):
            raise ValueError(f"levels must be increasing and inside (0, 1), got {self.levels}")

    def params_for(self, target: str) -> XGBParams:
        """The hyper-parameters of one target.

        Args:
            target: A target name.

        Returns:
            ``target_params[target]`` if given, else ``params``.
        """
        return self.target_params.get(target, self.params)
