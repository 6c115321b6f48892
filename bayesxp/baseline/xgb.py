"""The XGBoost baselines: distributional gradient-boosted trees that return predictive distributions.

Two distributional variants, trained per target (:data:`~bayesxp.baseline.config.TARGETS`: teff, logg, m_h,
ln_mass, ln_age; mass and age are modelled in ln space and reported in Msun and Gyr by :meth:`XGBBaseline.predict`):

- :class:`XGBQuantileBaseline`: one multi-quantile booster per target (``reg:quantileerror`` with
  ``quantile_alpha`` = :data:`~bayesxp.baseline.config.QUANTILE_LEVELS`), returning a
  :class:`~bayesxp.calibration.parametric.QuantilePrediction`. Quantiles that cross are repaired by
  sorting each star's quantiles (:func:`~bayesxp.baseline.boosting.repair_crossing`).
- :class:`XGBGaussianBaseline`: a mean booster plus a booster of the log squared *out-of-fold*
  residuals (K-fold on the training rows, so the variance is not learned from in-sample residuals,
  which gradient boosting shrinks towards zero), returning a
  :class:`~bayesxp.calibration.parametric.GaussianPrediction`; optionally a bootstrap ensemble of mean
  boosters whose spread is added to the variance.

Both skip rows whose label is NaN, stop early on the validation split, and can *propagate the label's own
error*: mass and age labels are derived (label transfer or DistMass, themselves predictions with ~10-15%
error that is not in the label values), so intervals learned against them are intervals for the derived
label, not for the star's true mass. For the targets in ``BaselineConfig.propagate_label_error`` a third
booster predicts the label's error from the features, and :meth:`XGBBaseline.predict` convolves the
label-space prediction with it (:meth:`~bayesxp.calibration.distribution.PredictiveDistribution.convolve`),
giving a prediction of the true value. ``propagate_label_error=False`` at predict time returns the
literature baseline's label-space prediction.

A trained baseline is a folder (:mod:`~bayesxp.baseline.persistence`): :meth:`XGBBaseline.save`,
:func:`load_baseline`. The configuration lives in :mod:`~bayesxp.baseline.config`, the booster training in
:mod:`~bayesxp.baseline.boosting`, the hyper-parameter search in :mod:`~bayesxp.baseline.tuning`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import xgboost

from bayesxp.baseline.boosting import repair_crossing, train_booster
from bayesxp.baseline.config import LOG_TARGETS, BaselineConfig
from bayesxp.baseline.features import FEATURE_NAMES, xp_features
from bayesxp.baseline.persistence import read_boosters, read_sidecar, write_folder
from bayesxp.calibration import (
    FromLogPrediction,
    GaussianPrediction,
    PredictiveDistribution,
    QuantilePrediction,
)
from bayesxp.config import from_dict, to_dict
from bayesxp.data.dataset import TrainingSet
from bayesxp.errors import ModelFileError
from bayesxp.quantities import MODEL_LABELS

__all__ = [
    "XGBBaseline",
    "XGBQuantileBaseline",
    "XGBGaussianBaseline",
    "make_baseline",
    "load_baseline",
    "LOG_CHI2_MEAN",
]

LOG_CHI2_MEAN = -1.2703628454614782
"""``E[ln chi2_1] = digamma(1/2) + ln 2``: the mean of ``ln(r**2 / sigma**2)`` for a Gaussian residual."""


def _finite_rows(*arrays: np.ndarray) -> np.ndarray:
    good = np.ones(len(arrays[0]), dtype=bool)
    for array in arrays:
        good &= np.isfinite(array)
    return good



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
            >>> from bayesxp.baseline.config import XGBParams
            >>> config = BaselineConfig(params=XGBParams(n_estimators=20, max_depth=2))
            >>> model = XGBGaussianBaseline(config).fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]})
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
        self.boosters[f"{target}.label_error"] = train_booster(
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
        """Predictive distributions per fitted target, in the targets' own units (ln Msun, ln Gyr, ...).

        Args:
            features: ``(N, F)`` features.
            propagate_label_error: Convolve with the predicted label error where it is modelled (a
                prediction of the true value); False gives the prediction of the label itself.

        Returns:
            Target name -> prediction over the N stars.

        Example:
            >>> rng = np.random.default_rng(0)
            >>> x = rng.normal(size=(300, 2)); y = x[:, 0] + 0.1 * rng.normal(size=300)
            >>> label_error = np.full(300, 0.2)  # the label's own error, propagated at predict time
            >>> from bayesxp.baseline.config import XGBParams
            >>> config = BaselineConfig(params=XGBParams(n_estimators=20), propagate_label_error=("y",))
            >>> model = XGBGaussianBaseline(config).fit_arrays(x[:200], {"y": y[:200]}, x[200:], {"y": y[200:]},
            ...                                             {"y": label_error[:200]}, {"y": label_error[200:]})
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
        self, stars: TrainingSet, propagate_label_error: bool = True, cache: bool = True
    ) -> dict[str, PredictiveDistribution]:
        """Predictive distributions of mass [Msun], age [Gyr], teff [K], logg and m_h [dex].

        Args:
            stars: The stars (only flux, flux errors and colours are read; labels are not used).
            propagate_label_error: See :meth:`predict_arrays`.
            cache: Use the pseudo-coefficient cache (False: project every star, as for new stars).

        Returns:
            Quantity -> prediction over ``stars``; keys as :data:`bayesxp.quantities.MODEL_LABELS` (fitted ones).
            ``last_timing`` holds the seconds spent on features and on the model.
        """
        clock = time.perf_counter()
        features = xp_features(stars, cache=cache)
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

        The format is described in :mod:`~bayesxp.baseline.persistence`.

        Args:
            folder: Created if needed; existing files of the same names are replaced.

        Returns:
            The folder.
        """
        return write_folder(folder, self.boosters, self.variant, to_dict(self.config), self.targets_,
                            self.feature_names, self.info)

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
        sidecar = read_sidecar(folder)
        variants = {c.variant: c for c in (XGBQuantileBaseline, XGBGaussianBaseline)}
        klass = variants.get(sidecar.get("variant"))
        if klass is None or not issubclass(klass, cls):
            raise ModelFileError(f"{folder}: variant {sidecar.get('variant')!r} is not a {cls.__name__}")
        model = klass(from_dict(BaselineConfig, sidecar["config"]))
        model.boosters.update(read_boosters(folder, sidecar))
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
        >>> from bayesxp.baseline.config import XGBParams
        >>> config = BaselineConfig(params=XGBParams(n_estimators=20, max_depth=2))
        >>> model = XGBQuantileBaseline(config).fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]})
        >>> model.predict_arrays(x[:3])["y"].levels.size
        9
    """

    variant: ClassVar[str] = "quantile"

    def _fit_target(
        self, target: str, features: np.ndarray, y: np.ndarray, features_val: np.ndarray, y_val: np.ndarray
    ) -> None:
        params = self.config.params_for(target)
        self.boosters[f"{target}.quantile"] = train_booster(
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
        >>> from bayesxp.baseline.config import XGBParams
        >>> config = BaselineConfig(params=XGBParams(n_estimators=20, max_depth=2))
        >>> model = XGBGaussianBaseline(config).fit_arrays(x[:300], {"y": y[:300]}, x[300:], {"y": y[300:]})
        >>> bool(np.all(model.predict_arrays(x[:3])["y"].std() > 0))
        True
    """

    variant: ClassVar[str] = "gaussian"

    def _fit_target(
        self, target: str, features: np.ndarray, y: np.ndarray, features_val: np.ndarray, y_val: np.ndarray
    ) -> None:
        params = self.config.params_for(target)
        mean = train_booster(params, "reg:squarederror", features, y, features_val, y_val)
        n_rounds = mean.num_boosted_rounds()
        rng = np.random.default_rng(params.seed)
        folds = rng.permutation(len(y)) % self.config.variance_folds  # (N,) fold of each row
        out_of_fold = np.empty(len(y))
        for k in range(self.config.variance_folds):
            held = folds == k
            fold_model = train_booster(params, "reg:squarederror", features[~held], y[~held], n_rounds=n_rounds)
            out_of_fold[held] = fold_model.inplace_predict(features[held])
        floor = (1e-6 * np.std(y)) ** 2 + 1e-300  # keeps ln finite for an exact fit; far below any residual
        z = np.log((y - out_of_fold) ** 2 + floor)
        z_val = np.log((y_val - mean.inplace_predict(features_val)) ** 2 + floor)
        self.boosters[f"{target}.mean"] = mean
        self.boosters[f"{target}.log_variance"] = train_booster(
            params, "reg:squarederror", features, z, features_val, z_val
        )
        for b in range(self.config.n_bootstrap):
            rows = rng.integers(0, len(y), len(y))
            self.boosters[f"{target}.bootstrap{b}"] = train_booster(
                params, "reg:squarederror", features[rows], y[rows], n_rounds=n_rounds
            )

    def mean_and_std(self, target: str, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation of one target, ``(N,)`` each (label space).

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
        >>> from bayesxp.baseline.config import XGBParams
        >>> model = XGBGaussianBaseline(BaselineConfig(params=XGBParams(n_estimators=5)))
        >>> folder = model.fit_arrays(x[:150], {"y": y[:150]}, x[150:], {"y": y[150:]}).save(tempfile.mkdtemp())
        >>> loaded = load_baseline(folder)
        >>> type(loaded).__name__, bool(np.all(loaded.predict_arrays(x)["y"].mean() == model.predict_arrays(x)["y"].mean()))
        ('XGBGaussianBaseline', True)
    """
    return XGBBaseline.load(folder)


# Names that lived in this module before it was split by concept: import them from bayesxp.baseline.
