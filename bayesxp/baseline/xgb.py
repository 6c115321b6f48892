"""XGBoost baselines that return predictive distributions, their save format, and their tuning.

Two distributional variants, trained per target (:data:`TARGETS`: teff, logg, m_h, ln_mass, ln_age; mass
and age are modelled in ln space and reported in Msun and Gyr by :meth:`predict`):

- :class:`XGBQuantileBaseline`: one multi-quantile booster per target (``reg:quantileerror`` with
  ``quantile_alpha`` = :data:`QUANTILE_LEVELS`), returning a
  :class:`~bayesxp.calibration.predictions.QuantilePrediction`. Quantiles that cross are repaired by
  sorting each star's quantiles (:func:`repair_crossing`).
- :class:`XGBGaussianBaseline`: a mean booster plus a booster of the log squared *out-of-fold*
  residuals (K-fold on the training rows, so the variance is not learned from in-sample residuals,
  which gradient boosting shrinks towards zero), returning a
  :class:`~bayesxp.calibration.predictions.GaussianPrediction`; optionally a bootstrap ensemble of mean
  boosters whose spread is added to the variance.

Both skip rows whose label is NaN, stop early on the validation split, and can *propagate the label's own
error*: mass and age labels are derived (label transfer or DistMass, themselves predictions with ~10-15%
error that is not in the label values), so intervals learned against them are intervals for the derived
label, not for the star's true mass. For the targets in ``BaselineConfig.propagate_label_error`` a third
booster predicts the label's error from the features, and :meth:`predict` convolves the label-space
prediction with it (:meth:`~bayesxp.calibration.predictions.PredictiveDistribution.convolve`), giving a prediction
of the true value. ``propagate_label_error=False`` at predict time returns the literature baseline's
label-space prediction.

A trained baseline is a folder: one XGBoost JSON model per booster (``<target>.<role>.json``) and a JSON
sidecar (``baseline.json``) with the resolved config, the feature names, the bayesxp and XGBoost
versions, the format version and a SHA-256 checksum per model file. Nothing is pickled; loading refuses a
sidecar whose versions differ from the running ones and files whose checksums do not match.

:func:`tune` runs the small cross-validated hyper-parameter search on the training split.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import xgboost

from bayesxp._version import __version__
from bayesxp.baseline.features import FEATURE_NAMES, xp_features
from bayesxp.calibration.predictions import (
    FromLogPrediction,
    GaussianPrediction,
    PredictiveDistribution,
    QuantilePrediction,
)
from bayesxp.config import from_dict, to_dict
from bayesxp.data.dataset import TrainingSet
from bayesxp.errors import ModelFileError
from bayesxp.io.tables import atomic_path
from bayesxp.quantities import MODEL_LABELS

__all__ = [
    "TARGETS",
    "LOG_TARGETS",
    "QUANTILE_LEVELS",
    "FORMAT_VERSION",
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

TARGETS = ("teff", "logg", "m_h", "ln_mass", "ln_age")
"""The modelled TrainingSet labels."""

"""Reported quantity (Msun, Gyr, K, dex, dex) -> the target it comes from."""

LOG_TARGETS = frozenset({"ln_mass", "ln_age"})
"""Targets modelled as natural logarithms and reported through ``exp``."""

QUANTILE_LEVELS = (0.025, 0.05, 0.16, 0.25, 0.5, 0.75, 0.84, 0.95, 0.975)
"""Quantile levels of the quantile baseline."""

FORMAT_VERSION = 1
"""Version of the folder layout and sidecar; bumped when either changes meaning."""

SIDECAR = "baseline.json"
_FORMAT_NAME = "bayesxp-xgboost-baseline"
LOG_CHI2_MEAN = -1.2703628454614782
"""``E[ln chi2_1] = digamma(1/2) + ln 2``: the mean of ``ln(r**2 / sigma**2)`` for a Gaussian residual."""


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


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    good = np.ones(len(arrays[0]), dtype=bool)
    for array in arrays:
        good &= np.isfinite(array)
    return good


def _train(
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
    """
    dtrain = xgboost.QuantileDMatrix(features, target, max_bin=params.max_bin)
    booster_params = params.booster_params(objective, **extra)
    if features_val is None:
        return xgboost.train(booster_params, dtrain, num_boost_round=int(n_rounds or params.n_estimators))
    dval = xgboost.QuantileDMatrix(features_val, target_val, ref=dtrain, max_bin=params.max_bin)
    booster = xgboost.train(
        booster_params,
        dtrain,
        num_boost_round=params.n_estimators,
        evals=[(dval, "val")],
        early_stopping_rounds=params.early_stopping_rounds,
        verbose_eval=False,
    )
    return booster[: booster.best_iteration + 1]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class XGBBaseline:
    """Common part of the XGBoost baselines: fitting per target, label-error propagation, save/load.

    Subclasses implement ``_fit_target`` and ``_predict_target``. Use :class:`XGBQuantileBaseline` or
    :class:`XGBGaussianBaseline`.

    Args:
        config: The configuration (its ``variant`` is set to the subclass's).
    """

    variant: ClassVar[str] = ""

    def __init__(self, config: BaselineConfig | None = None) -> None:
        config = config or BaselineConfig()
        if config.variant != self.variant:
            config = from_dict(BaselineConfig, {**to_dict(config), "variant": self.variant})
        self.config = config
        self.boosters: dict[str, xgboost.Booster] = {}  # "<target>.<role>" -> booster
        self.targets_: tuple[str, ...] = ()
        self.feature_names: tuple[str, ...] = FEATURE_NAMES
        self.info: dict = {"fit_seconds": {}, "n_rounds": {}, "n_train": {}}
        self.last_timing: dict[str, float] = {}
        self.n_crossing: dict[str, int] = {}

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, train: TrainingSet, val: TrainingSet, cache: bool = True) -> XGBBaseline:
        """Fit every configured target on the train split, stopping early on the val split.

        Args:
            train: Training stars.
            val: Validation stars (early stopping only).
            cache: Use the pseudo-coefficient cache for the features.

        Returns:
            ``self``.
        """
        names = [t for t in self.config.targets if t in train.label_names]
        features, features_val = xp_features(train, cache=cache), xp_features(val, cache=cache)
        labels = {t: train.label(t)[0] for t in names}
        labels_val = {t: val.label(t)[0] for t in names}
        errors = {t: train.label(t)[1] for t in names}
        errors_val = {t: val.label(t)[1] for t in names}
        return self.fit_arrays(features, labels, features_val, labels_val, errors, errors_val)

    def fit_arrays(
        self,
        features: np.ndarray,
        labels: Mapping[str, np.ndarray],
        features_val: np.ndarray,
        labels_val: Mapping[str, np.ndarray],
        label_error: Mapping[str, np.ndarray] | None = None,
        label_error_val: Mapping[str, np.ndarray] | None = None,
    ) -> XGBBaseline:
        """Fit one model per target on plain arrays (the targets are the keys of ``labels``).

        Args:
            features: ``(N, F)`` training features (NaN = missing).
            labels: Target name -> ``(N,)`` values; NaN rows are skipped for that target.
            features_val: ``(M, F)`` validation features.
            labels_val: Target name -> ``(M,)`` validation values.
            label_error: Target name -> ``(N,)`` 1-sigma label errors, for the targets listed in
                ``config.propagate_label_error``.
            label_error_val: The same for the validation rows.

        Returns:
            ``self``.

        Example:
            >>> rng = np.random.default_rng(0)
            >>> x = rng.normal(size=(400, 2)); y = x[:, 0] + 0.1 * rng.normal(size=400)
            >>> cfg = BaselineConfig(params=XGBParams(n_estimators=20, max_depth=2))
            >>> model = XGBGaussianBaseline(cfg).fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]})
            >>> model.predict_arrays(x[:3])["y"].n_stars
            3
        """
        features = np.asarray(features, dtype=np.float32)
        features_val = np.asarray(features_val, dtype=np.float32)
        if features.shape[1] != len(self.feature_names):
            self.feature_names = tuple(f"f{i}" for i in range(features.shape[1]))
        label_error = label_error or {}
        label_error_val = label_error_val or {}
        for target, values in labels.items():
            clock = time.perf_counter()
            y, y_val = np.asarray(values, float), np.asarray(labels_val[target], float)
            rows, rows_val = _finite_rows(y), _finite_rows(y_val)
            if rows.sum() < 2 * self.config.variance_folds or rows_val.sum() < 2:
                raise ValueError(f"target {target!r}: too few finite labels ({rows.sum()} train, {rows_val.sum()} val)")
            self._fit_target(target, features[rows], y[rows], features_val[rows_val], y_val[rows_val])
            if target in self.config.propagate_label_error and target in label_error:
                self._fit_label_error(
                    target, features, y, np.asarray(label_error[target], float),
                    features_val, y_val, np.asarray(label_error_val[target], float),
                )
            self.info["fit_seconds"][target] = time.perf_counter() - clock
            self.info["n_train"][target] = int(rows.sum())
        self.targets_ = tuple(dict.fromkeys((*self.targets_, *labels)))
        self.info["n_rounds"] = {name: b.num_boosted_rounds() for name, b in self.boosters.items()}
        return self

    def _fit_label_error(
        self,
        target: str,
        features: np.ndarray,
        y: np.ndarray,
        error: np.ndarray,
        features_val: np.ndarray,
        y_val: np.ndarray,
        error_val: np.ndarray,
    ) -> None:
        """A booster of ``ln(label error)`` from the features (rows with a finite label and error > 0)."""
        rows = _finite_rows(y, error) & (np.nan_to_num(error) > 0)
        rows_val = _finite_rows(y_val, error_val) & (np.nan_to_num(error_val) > 0)
        if rows.sum() < 10 or rows_val.sum() < 2:
            return
        params = self.config.params_for(target)
        self.boosters[f"{target}.label_error"] = _train(
            params, "reg:squarederror", features[rows], np.log(error[rows]),
            features_val[rows_val], np.log(error_val[rows_val]),
        )

    def _fit_target(
        self, target: str, features: np.ndarray, y: np.ndarray, features_val: np.ndarray, y_val: np.ndarray
    ) -> None:
        raise NotImplementedError

    def _predict_target(self, target: str, features: np.ndarray) -> PredictiveDistribution:
        raise NotImplementedError

    # --------------------------------------------------------------------------------------- prediction
    def label_error(self, target: str, features: np.ndarray) -> np.ndarray | None:
        """The predicted 1-sigma error of a target's label, ``(N,)``, or None if it is not modelled.

        Args:
            target: A fitted target.
            features: ``(N, F)`` features.

        Returns:
            ``exp`` of the predicted ``ln(label error)`` (a geometric-mean estimate), or None.
        """
        booster = self.boosters.get(f"{target}.label_error")
        if booster is None:
            return None
        return np.exp(booster.inplace_predict(np.asarray(features, np.float32)).astype(float))

    def predict_arrays(self, features: np.ndarray, propagate_label_error: bool = True) -> dict[str, PredictiveDistribution]:
        """PredictiveDistribution distributions per fitted target, in the targets' own units (ln Msun, ln Gyr, ...).

        Args:
            features: ``(N, F)`` features.
            propagate_label_error: Convolve with the predicted label error where it is modelled (a
                prediction of the true value); False gives the prediction of the label itself.

        Returns:
            Target name -> prediction over the N stars.

        Example:
            >>> rng = np.random.default_rng(0)
            >>> x = rng.normal(size=(300, 2)); y = x[:, 0] + 0.1 * rng.normal(size=300)
            >>> err = np.full(300, 0.2)  # the label's own error, propagated at predict time
            >>> cfg = BaselineConfig(params=XGBParams(n_estimators=20), propagate_label_error=("y",))
            >>> model = XGBGaussianBaseline(cfg).fit_arrays(x[:200], {"y": y[:200]}, x[200:], {"y": y[200:]},
            ...                                             {"y": err[:200]}, {"y": err[200:]})
            >>> wide, narrow = model.predict_arrays(x[:5]), model.predict_arrays(x[:5], propagate_label_error=False)
            >>> bool(np.all(wide["y"].std() > narrow["y"].std()))
            True
        """
        features = np.asarray(features, dtype=np.float32)
        if not self.targets_:
            raise RuntimeError("the baseline is not fitted")
        if features.shape[1] != len(self.feature_names):
            raise ValueError(f"expected {len(self.feature_names)} features, got {features.shape[1]}")
        out = {}
        for target in self.targets_:
            pred = self._predict_target(target, features)
            error = self.label_error(target, features) if propagate_label_error else None
            out[target] = pred if error is None else pred.convolve(error)
        return out

    def predict(
        self, ts: TrainingSet, propagate_label_error: bool = True, cache: bool = True
    ) -> dict[str, PredictiveDistribution]:
        """PredictiveDistribution distributions of mass [Msun], age [Gyr], teff [K], logg and m_h [dex].

        Args:
            ts: The stars (only flux, flux errors and colours are read; labels are not used).
            propagate_label_error: See :meth:`predict_arrays`.
            cache: Use the pseudo-coefficient cache (False: project every star, as for new stars).

        Returns:
            Quantity -> prediction over the stars of ``ts``; keys as :data:`bayesxp.quantities.MODEL_LABELS` (fitted ones).
            ``last_timing`` holds the seconds spent on features and on the model.
        """
        clock = time.perf_counter()
        features = xp_features(ts, cache=cache)
        middle = time.perf_counter()
        by_target = self.predict_arrays(features, propagate_label_error=propagate_label_error)
        out: dict[str, PredictiveDistribution] = {}
        for quantity, target in MODEL_LABELS.items():
            if target in by_target:
                pred = by_target[target]
                out[quantity] = FromLogPrediction(pred, base=np.e) if target in LOG_TARGETS else pred
        self.last_timing = {"features_s": middle - clock, "model_s": time.perf_counter() - middle}
        return out

    # ------------------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> Path:
        """Write the boosters (XGBoost JSON) and the sidecar ``baseline.json`` into a folder.

        Args:
            folder: Created if needed; existing files of the same names are replaced.

        Returns:
            The folder.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, booster in self.boosters.items():
            path = folder / f"{name}.json"
            with atomic_path(path) as tmp:
                tmp.write_bytes(bytes(booster.save_raw(raw_format="json")))  # = save_model("*.json")
            files[name] = {"file": path.name, "sha256": _sha256(path)}
        sidecar = {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "variant": self.variant,
            "bayesxp_version": __version__,
            "xgboost_version": xgboost.__version__,
            "config": to_dict(self.config),
            "targets": list(self.targets_),
            "feature_names": list(self.feature_names),
            "files": files,
            "info": self.info,
        }
        with atomic_path(folder / SIDECAR) as tmp:
            tmp.write_text(json.dumps(sidecar, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> XGBBaseline:
        """Read a folder written by :meth:`save` (checking versions and checksums).

        Args:
            folder: The model folder.

        Returns:
            The baseline, of the class named in the sidecar (which must be ``cls`` or a subclass).

        Raises:
            ModelFileError: Missing or unreadable sidecar, another format or version of bayesxp,
                XGBoost or the folder layout, a wrong variant, or a model file whose checksum differs.
        """
        folder = Path(folder)
        try:
            sidecar = json.loads((folder / SIDECAR).read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{folder}: cannot read {SIDECAR} ({exc})") from exc
        expected = {
            "format": _FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "bayesxp_version": __version__,
            "xgboost_version": xgboost.__version__,
        }
        for key, value in expected.items():
            if sidecar.get(key) != value:
                raise ModelFileError(
                    f"{folder / SIDECAR}: {key} is {sidecar.get(key)!r}, this installation needs {value!r}; "
                    "retrain the baseline with this version"
                )
        variants = {c.variant: c for c in (XGBQuantileBaseline, XGBGaussianBaseline)}
        klass = variants.get(sidecar.get("variant"))
        if klass is None or not issubclass(klass, cls):
            raise ModelFileError(f"{folder}: variant {sidecar.get('variant')!r} is not a {cls.__name__}")
        model = klass(from_dict(BaselineConfig, sidecar["config"]))
        for name, entry in sidecar["files"].items():
            path = folder / entry["file"]
            if not path.is_file() or _sha256(path) != entry["sha256"]:
                raise ModelFileError(f"{path}: missing or its checksum differs from {SIDECAR}")
            booster = xgboost.Booster()
            booster.load_model(str(path))
            model.boosters[name] = booster
        model.targets_ = tuple(sidecar["targets"])
        model.feature_names = tuple(sidecar["feature_names"])
        model.info = sidecar.get("info", {})
        return model


class XGBQuantileBaseline(XGBBaseline):
    """One multi-quantile XGBoost model per target, returning quantile predictions.

    Args:
        config: The configuration (levels, hyper-parameters).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(400, 2)); y = x[:, 0] + 0.1 * rng.normal(size=400)
        >>> cfg = BaselineConfig(params=XGBParams(n_estimators=20, max_depth=2))
        >>> model = XGBQuantileBaseline(cfg).fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]})
        >>> model.predict_arrays(x[:3])["y"].levels.size
        9
    """

    variant: ClassVar[str] = "quantile"

    def _fit_target(
        self, target: str, features: np.ndarray, y: np.ndarray, features_val: np.ndarray, y_val: np.ndarray
    ) -> None:
        params = self.config.params_for(target)
        self.boosters[f"{target}.quantile"] = _train(
            params, "reg:quantileerror", features, y, features_val, y_val,
            quantile_alpha=list(self.config.levels),
        )

    def predict_quantiles(self, target: str, features: np.ndarray) -> np.ndarray:
        """Repaired quantiles of one target, ``(N, Q)`` at ``config.levels`` (label space).

        Args:
            target: A fitted target.
            features: ``(N, F)`` features.

        Returns:
            Quantiles sorted per star (:func:`repair_crossing`); ``n_crossing[target]`` counts the
            stars that needed it.
        """
        raw = self.boosters[f"{target}.quantile"].inplace_predict(np.asarray(features, np.float32))
        values, self.n_crossing[target] = repair_crossing(np.asarray(raw, float).reshape(len(features), -1))
        return values

    def _predict_target(self, target: str, features: np.ndarray) -> PredictiveDistribution:
        return QuantilePrediction(self.config.levels, self.predict_quantiles(target, features))


class XGBGaussianBaseline(XGBBaseline):
    """A mean model plus a model of the log squared out-of-fold residuals, per target.

    The variance model is fitted to ``z = ln(r**2)`` with ``r`` the K-fold out-of-fold residual of the
    training rows (the K fold models have the full mean model's number of rounds). For a Gaussian
    residual ``E[z] = ln sigma**2 + E[ln chi2_1]``, so ``sigma**2 = exp(z_hat - E[ln chi2_1])`` with
    ``E[ln chi2_1] = -1.2704`` (:data:`LOG_CHI2_MEAN`). With ``n_bootstrap > 0``, that many mean models on
    bootstrap resamples are added: the mean is their average with the full model, and their variance is
    added to ``sigma**2``.

    Args:
        config: The configuration.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(400, 2)); y = x[:, 0] + 0.1 * rng.normal(size=400)
        >>> cfg = BaselineConfig(params=XGBParams(n_estimators=20, max_depth=2))
        >>> model = XGBGaussianBaseline(cfg).fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]})
        >>> bool(np.all(model.predict_arrays(x[:3])["y"].std() > 0))
        True
    """

    variant: ClassVar[str] = "gaussian"

    def _fit_target(
        self, target: str, features: np.ndarray, y: np.ndarray, features_val: np.ndarray, y_val: np.ndarray
    ) -> None:
        params = self.config.params_for(target)
        mean = _train(params, "reg:squarederror", features, y, features_val, y_val)
        n_rounds = mean.num_boosted_rounds()
        rng = np.random.default_rng(params.seed)
        folds = rng.permutation(len(y)) % self.config.variance_folds  # (N,) fold of each row
        out_of_fold = np.empty(len(y))
        for k in range(self.config.variance_folds):
            held = folds == k
            fold_model = _train(params, "reg:squarederror", features[~held], y[~held], n_rounds=n_rounds)
            out_of_fold[held] = fold_model.inplace_predict(features[held])
        floor = (1e-6 * np.std(y)) ** 2 + 1e-300  # keeps ln finite for an exact fit; far below any residual
        z = np.log((y - out_of_fold) ** 2 + floor)
        z_val = np.log((y_val - mean.inplace_predict(features_val)) ** 2 + floor)
        self.boosters[f"{target}.mean"] = mean
        self.boosters[f"{target}.log_variance"] = _train(
            params, "reg:squarederror", features, z, features_val, z_val
        )
        for b in range(self.config.n_bootstrap):
            rows = rng.integers(0, len(y), len(y))
            self.boosters[f"{target}.bootstrap{b}"] = _train(
                params, "reg:squarederror", features[rows], y[rows], n_rounds=n_rounds
            )

    def mean_and_std(self, target: str, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """PredictiveDistribution mean and standard deviation of one target, ``(N,)`` each (label space).

        Args:
            target: A fitted target.
            features: ``(N, F)`` features.

        Returns:
            ``(mean, std)``.
        """
        features = np.asarray(features, np.float32)
        members = [self.boosters[f"{target}.mean"].inplace_predict(features)]
        b = 0
        while f"{target}.bootstrap{b}" in self.boosters:
            members.append(self.boosters[f"{target}.bootstrap{b}"].inplace_predict(features))
            b += 1
        members = np.stack(members).astype(float)  # (B + 1, N)
        z = self.boosters[f"{target}.log_variance"].inplace_predict(features).astype(float)
        variance = np.exp(z - LOG_CHI2_MEAN)
        if len(members) > 1:
            variance = variance + members.var(axis=0, ddof=1)
        return members.mean(axis=0), np.sqrt(variance)

    def _predict_target(self, target: str, features: np.ndarray) -> PredictiveDistribution:
        mean, std = self.mean_and_std(target, features)
        return GaussianPrediction(mean, std)


def make_baseline(config: BaselineConfig | None = None) -> XGBBaseline:
    """The baseline of the config's ``variant`` (quantile or Gaussian).

    Args:
        config: The configuration (default: quantile with default parameters).

    Returns:
        An unfitted baseline.

    Example:
        >>> type(make_baseline(BaselineConfig(variant="gaussian"))).__name__
        'XGBGaussianBaseline'
    """
    config = config or BaselineConfig()
    return {"quantile": XGBQuantileBaseline, "gaussian": XGBGaussianBaseline}[config.variant](config)


def load_baseline(folder: str | Path) -> XGBBaseline:
    """Load either variant from a folder written by :meth:`XGBBaseline.save`.

    Args:
        folder: The model folder.

    Returns:
        The fitted baseline.

    Raises:
        ModelFileError: See :meth:`XGBBaseline.load`.

    Example:
        >>> import tempfile
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(200, 2)); y = x[:, 0] + 0.1 * rng.normal(size=200)
        >>> model = XGBGaussianBaseline(BaselineConfig(params=XGBParams(n_estimators=5)))
        >>> folder = model.fit_arrays(x[:150], {"y": y[:150]}, x[150:], {"y": y[150:]}).save(tempfile.mkdtemp())
        >>> loaded = load_baseline(folder)
        >>> type(loaded).__name__, bool(np.all(loaded.predict_arrays(x)["y"].mean() == model.predict_arrays(x)["y"].mean()))
        ('XGBGaussianBaseline', True)
    """
    return XGBBaseline.load(folder)


# ------------------------------------------------------------------------------------------------ tuning
@dataclass(frozen=True)
class TuningGrid:
    """The cross-validated search of :func:`tune`.

    Stage 1 tries every ``(max_depth, min_child_weight)`` at the first learning rate; stage 2 tries the
    other learning rates with stage 1's best structure. The ``quick_targets`` (the atmospheric labels,
    whose 18k rows need up to ~1,500 rounds per fit) search ``max_depth`` only, at the first
    ``min_child_weight`` and learning rate. This keeps the whole search near 15 minutes on two shared
    cores while giving the headline targets (mass, age) the full grid.

    Attributes:
        max_depth: Depths tried.
        min_child_weight: Leaf weights tried.
        learning_rate: Learning rates; the first is used in stage 1.
        n_folds: K of the cross-validation.
        targets: Targets tuned.
        quick_targets: Targets for which only ``max_depth`` is searched.

    Example:
        >>> len(TuningGrid().max_depth) * len(TuningGrid().min_child_weight)
        6
    """

    max_depth: tuple[int, ...] = (4, 6, 8)
    min_child_weight: tuple[float, ...] = (1.0, 10.0)
    learning_rate: tuple[float, ...] = (0.1, 0.05)
    n_folds: int = 3
    targets: tuple[str, ...] = ("ln_mass", "ln_age", "teff", "logg", "m_h")
    quick_targets: tuple[str, ...] = ("teff", "logg", "m_h")


def _cross_validate(params: XGBParams, dtrain: xgboost.DMatrix, n_folds: int) -> dict:
    clock = time.perf_counter()
    history = xgboost.cv(
        params.booster_params("reg:squarederror", eval_metric="rmse"),
        dtrain,
        num_boost_round=params.n_estimators,
        nfold=n_folds,
        early_stopping_rounds=params.early_stopping_rounds,
        seed=params.seed,
        shuffle=True,
    )  # one row per round up to the best (mean over the held-out folds)
    return {
        "max_depth": params.max_depth,
        "min_child_weight": params.min_child_weight,
        "learning_rate": params.learning_rate,
        "cv_rmse": float(history["test-rmse-mean"].iloc[-1]),
        "cv_rmse_std": float(history["test-rmse-std"].iloc[-1]),
        "n_rounds": len(history),
        "seconds": time.perf_counter() - clock,
    }


def tune(
    features: np.ndarray,
    labels: Mapping[str, np.ndarray],
    grid: TuningGrid | None = None,
    base: XGBParams | None = None,
    progress: bool = False,
) -> dict:
    """K-fold cross-validated search of the tree structure per target, on the training rows only.

    The score is the held-out-fold RMSE of the squared-error (mean) booster, early-stopped on the mean of
    the held-out folds (as :func:`xgboost.cv`); both variants then use the chosen structure, and each
    final booster picks its own number of rounds by early stopping on the validation split. (Scoring the
    9-level quantile booster instead would cost ~9x, beyond the CPU budget of two shared cores.)

    Args:
        features: ``(N, F)`` training features.
        labels: Target name -> ``(N,)`` values (NaN rows skipped).
        grid: The search.
        base: Parameters not searched (subsample, max_bin, rounds, early stopping, seed, threads).
        progress: Print one line per evaluated setting.

    Returns:
        JSON-ready ``{"grid", "base", "scoring", "scores": {target: [rows]}, "chosen": {target: params},
        "seconds"}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(300, 2)); y = x[:, 0] + 0.1 * rng.normal(size=300)
        >>> small = TuningGrid(max_depth=(2,), min_child_weight=(1.0,), learning_rate=(0.3,), targets=("y",))
        >>> tune(x, {"y": y}, small, XGBParams(n_estimators=20))["chosen"]["y"]["max_depth"]
        2
    """
    grid = grid or TuningGrid()
    base = base or XGBParams()
    clock = time.perf_counter()
    scores: dict[str, list] = {}
    chosen: dict[str, dict] = {}
    for target in grid.targets:
        if target not in labels:
            continue
        y = np.asarray(labels[target], float)
        rows = np.isfinite(y)
        dtrain = xgboost.DMatrix(np.asarray(features, np.float32)[rows], y[rows])
        rows_out: list[dict] = []

        def with_(**kw: Any) -> XGBParams:
            return from_dict(XGBParams, {**to_dict(base), **kw})

        quick = target in grid.quick_targets
        weights = grid.min_child_weight[:1] if quick else grid.min_child_weight
        stage1 = [
            with_(max_depth=depth, min_child_weight=weight, learning_rate=grid.learning_rate[0])
            for depth in grid.max_depth
            for weight in weights
        ]
        for stage, candidates in ((1, stage1), (2, None)):
            if candidates is None and quick:
                break
            if candidates is None:  # stage 2: the other learning rates with stage 1's best structure
                best = min(rows_out, key=lambda r: r["cv_rmse"])
                candidates = [
                    with_(max_depth=best["max_depth"], min_child_weight=best["min_child_weight"], learning_rate=rate)
                    for rate in grid.learning_rate[1:]
                ]
            for params in candidates:
                row = {"stage": stage, **_cross_validate(params, dtrain, grid.n_folds)}
                rows_out.append(row)
                if progress:
                    print(f"[tune {time.perf_counter() - clock:6.0f} s] {target}: {row}", flush=True)
        best = min(rows_out, key=lambda r: r["cv_rmse"])
        scores[target] = rows_out
        chosen[target] = to_dict(
            with_(max_depth=best["max_depth"], min_child_weight=best["min_child_weight"],
                  learning_rate=best["learning_rate"])
        )
        chosen[target]["cv_rmse"] = best["cv_rmse"]
        chosen[target]["n_train"] = int(rows.sum())
    return {
        "grid": to_dict(grid),
        "base": to_dict(base),
        "scoring": "K-fold held-out RMSE of the squared-error booster (xgboost.cv, early stopping on the "
        "mean held-out metric); training split only",
        "scores": scores,
        "chosen": chosen,
        "seconds": time.perf_counter() - clock,
        "xgboost_version": xgboost.__version__,
    }
