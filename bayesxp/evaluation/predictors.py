"""Predictions to judge: the bayesxp posterior and the XGBoost baseline, each as a :class:`~bayesxp.posterior.Posterior`.

- :func:`predict_bayesxp`, :func:`predict_baseline`: one model's predictions for the stars of a truth table
  (the baseline's quantile or Gaussian predictions fill :attr:`Posterior.distributions`);
- :func:`data_fingerprint`, :func:`reuse_baseline`, :func:`fit_baseline`, :func:`load_or_fit_baseline`: the fitted
  baseline, reused from ``<cache>/baseline-models/xgb-<variant>`` when the data and config match (the
  campaign and the head-to-head benchmark share that cache);
- :class:`Predictor` and its adapters :class:`BayesXPPredictor`, :class:`XGBPredictor`, found by name
  through :data:`REGISTRY` and :func:`make_predictor`: what ``benchmarks/head_to_head.py`` fits and
  predicts.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bayesxp.config import from_dict, load_config, to_dict
from bayesxp.errors import ConfigError
from bayesxp.posterior import Posterior

__all__ = [
    "predict_bayesxp",
    "predict_baseline",
    "data_fingerprint",
    "reuse_baseline",
    "fit_baseline",
    "load_or_fit_baseline",
    "Predictor",
    "as_posterior",
    "BayesXPPredictor",
    "XGBPredictor",
    "REGISTRY",
    "DEFAULT_MODELS",
    "make_predictor",
]


# ------------------------------------------------------------------------------------------ predicting
def _spectra_of(stars: Any) -> Any:
    from bayesxp.spectra import SampledSpectra

    medflux = stars.meta["medflux"].to_numpy(float) if "medflux" in stars.meta else None
    return SampledSpectra.from_arrays(
        stars.source_id, stars.flux, stars.flux_error, medflux=medflux, meta=stars.meta
    )


def predict_bayesxp(
    model: Any, stars: Any, num_samples: int = 200, context: str = "full", seed: int = 0
) -> Posterior:
    """Posterior draws of every quantity for the stars, with what the campaign records in ``info``.

    Args:
        model: A :class:`bayesxp.model.bayesian.BayesXPModel`.
        stars: A TrainingSet (flux, flux errors and library photometry in ``meta``).
        num_samples: Draws per star S.
        context: ``"full"`` or ``"spectrum"``.
        seed: Seed of the draws.

    Returns:
        The posterior; :meth:`Posterior.usable` tells the stars that can be judged.

    Example:
        >>> from bayesxp.model.bayesian import load
        >>> posterior = predict_bayesxp(load(), stars, 200)  # doctest: +SKIP
    """
    clock = time.perf_counter()
    posterior = model.posterior(_spectra_of(stars), num_samples=num_samples, context=context, seed=seed)
    seconds = time.perf_counter() - clock
    usable = posterior.usable()
    corr = posterior.mass_age_corr()[usable]
    status, counts = np.unique(posterior.status.astype(str), return_counts=True)
    posterior.info = {
        **posterior.info,
        "predict_seconds": seconds,
        "num_samples": num_samples,
        "context": context,
        "status_counts": dict(zip(status.tolist(), counts.tolist())),
        "n_usable": int(usable.sum()),
        "median_ln_mass_age_corr": float(np.median(corr)) if corr.size else None,
        "manifest": {k: v for k, v in getattr(model, "manifest", {}).items() if k != "summary"},
    }
    return posterior


def predict_baseline(
    baseline: Any, stars: Any, propagate_label_error: bool = True, feature_cache: bool = True
) -> Posterior:
    """The XGBoost baseline's predictive distributions for the stars (no draws, no joint posterior).

    Args:
        baseline: A fitted :class:`bayesxp.baseline.XGBBaseline`.
        stars: A TrainingSet.
        propagate_label_error: See :meth:`bayesxp.baseline.XGBBaseline.predict`.
        feature_cache: Use the pseudo-coefficient cache.

    Returns:
        A posterior whose :attr:`~Posterior.distributions` hold the predictions.

    Example:
        >>> posterior = predict_baseline(baseline, stars)  # doctest: +SKIP
    """
    clock = time.perf_counter()
    predictions = baseline.predict(stars, propagate_label_error=propagate_label_error, cache=feature_cache)
    seconds = time.perf_counter() - clock
    posterior = Posterior({}, np.asarray(stars.source_id), distributions=dict(predictions))
    posterior.info = {
        "predict_seconds": seconds,
        "variant": getattr(baseline, "variant", None),
        "propagate_label_error": propagate_label_error,
        "n_usable": int(posterior.usable().sum()),
        "config": to_dict(baseline.config) if hasattr(baseline, "config") else None,
        "fit_info": {
            k: v
            for k, v in getattr(baseline, "info", {}).items()
            if k in ("fit_seconds_total", "data_fingerprint", "n_train")
        },
    }
    return posterior


# ------------------------------------------------------------------------------------------ the baseline
def data_fingerprint(stars: Any) -> str:
    """A short hash of the stars' ids, labels and label errors: a fitted baseline is reused only on a match.

    Args:
        stars: A TrainingSet.

    Returns:
        16 hex digits.

    Example:
        >>> from bayesxp.data.dataset import TrainingSet
        >>> stars = TrainingSet.synthetic(5, seed=0)
        >>> len(data_fingerprint(stars)), data_fingerprint(stars) == data_fingerprint(stars.subset(np.arange(5)))
        (16, True)
    """
    import hashlib

    digest = hashlib.sha256()
    for array in (stars.source_id, stars.labels, stars.label_error):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def reuse_baseline(
    config: Any, train: Any, val: Any, folder: str | Path, progress: Callable[[str], None] | None = None
) -> Any | None:
    """The baseline saved in ``folder`` if it was fitted with ``config`` on these train and val stars.

    Args:
        config: A :class:`bayesxp.baseline.BaselineConfig`.
        train: Training stars.
        val: Validation stars.
        folder: Where a fitted model may be (``<cache>/baseline-models/xgb-<variant>``).
        progress: Called with a line when a saved model cannot be read.

    Returns:
        The baseline, or None (nothing saved, another config or other data, unreadable).

    Example:
        >>> from bayesxp.baseline import BaselineConfig
        >>> reuse_baseline(BaselineConfig(), None, None, "/nonexistent") is None
        True
    """
    from bayesxp.baseline import load_baseline
    from bayesxp.baseline.persistence import SIDECAR
    from bayesxp.errors import ModelFileError

    folder = Path(folder)
    if not (folder / SIDECAR).is_file():
        return None
    try:
        model = load_baseline(folder)
    except ModelFileError as exc:
        if progress:
            progress(f"not reusing {folder}: {exc}")
        return None
    fingerprint = data_fingerprint(train) + data_fingerprint(val)
    if model.info.get("data_fingerprint") == fingerprint and to_dict(model.config) == to_dict(config):
        return model
    return None


def fit_baseline(config: Any, train: Any, val: Any, folder: str | Path) -> Any:
    """Fit the baseline of ``config`` on ``train`` (``val`` for early stopping) and save it to ``folder``.

    ``info["data_fingerprint"]`` (see :func:`reuse_baseline`) and ``info["fit_seconds_total"]`` are set.

    Args:
        config: A :class:`bayesxp.baseline.BaselineConfig`.
        train: Training stars.
        val: Validation stars.
        folder: Where the fitted model is saved.

    Returns:
        The fitted baseline.

    Example:
        >>> baseline = fit_baseline(config, train, val, folder)  # doctest: +SKIP
    """
    from bayesxp.baseline import make_baseline

    fingerprint = data_fingerprint(train) + data_fingerprint(val)
    clock = time.perf_counter()
    model = make_baseline(config)
    model.fit(train, val)
    model.info["data_fingerprint"] = fingerprint
    model.info["fit_seconds_total"] = time.perf_counter() - clock
    model.save(Path(folder))
    return model


def load_or_fit_baseline(
    training_set: Any | None,
    baseline: str | None = None,
    skip: bool = False,
    baseline_config: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Any | None, str]:
    """A campaign's baseline: loaded from a folder, reused from the cache, fitted, or none.

    Args:
        training_set: A built TrainingSet (fitting uses its train and val splits; may be None when
            ``baseline`` or ``skip`` is given).
        baseline: Folder of a fitted baseline to load.
        skip: No baseline.
        baseline_config: YAML filling :class:`bayesxp.baseline.BaselineConfig` (None: defaults).
        progress: Called with a line per step.

    Returns:
        ``(baseline or None, how it was obtained)``.

    Example:
        >>> load_or_fit_baseline(None, skip=True)
        (None, 'skipped (skip_baseline)')
    """
    from bayesxp.baseline import BaselineConfig, load_baseline
    from bayesxp.paths import cache_dir

    say = progress or (lambda _: None)
    if skip:
        return None, "skipped (skip_baseline)"
    if baseline:
        return load_baseline(baseline), f"loaded from {baseline}"
    config = load_config(BaselineConfig, baseline_config)
    train, val = training_set.subset("train"), training_set.subset("val")
    folder = cache_dir() / "baseline-models" / f"xgb-{config.variant}"
    model = reuse_baseline(config, train, val, folder, say)
    if model is not None:
        return model, f"reused {folder} (same data and config)"
    say(f"fitting the {config.variant} baseline on {len(train)} train / {len(val)} val stars (minutes)")
    model = fit_baseline(config, train, val, folder)
    return model, f"fitted in this run ({model.info['fit_seconds_total']:.0f} s), saved to {folder}"


# ------------------------------------------------------------------------------- benchmark predictors
@runtime_checkable
class Predictor(Protocol):
    """What the head-to-head benchmark needs from a model (structural: nothing to import or subclass).

    ``predict`` returns a :class:`~bayesxp.posterior.Posterior` over the stars, or a plain
    ``{quantity: PredictiveDistribution}`` (:func:`as_posterior` wraps it), in Msun, Gyr, K, dex, dex.

    Attributes:
        name: Row label in the tables.
    """

    name: str

    def fit(self, train: Any, val: Any) -> None:
        """Train (or load an identical trained model) on the train split, using val for early stopping."""

    def predict(self, stars: Any) -> Posterior | Mapping[str, Any]:
        """Predictions of mass, age, teff, logg and m_h for the stars."""


def as_posterior(predictions: Posterior | Mapping[str, Any], source_id: np.ndarray) -> Posterior:
    """A predictor's output as a :class:`~bayesxp.posterior.Posterior` (a mapping fills its distributions).

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> as_posterior({"mass": GaussianPrediction([1.0], 0.1)}, np.array([7])).quantities
        ('mass',)
    """
    if isinstance(predictions, Posterior):
        return predictions
    return Posterior({}, np.asarray(source_id), distributions=dict(predictions))


class BayesXPPredictor:
    """The bayesxp model as a :class:`Predictor`.

    The model is pre-trained: ``fit`` loads it and records the training time written in its manifest
    (backbone and heads), so the benchmark's fit-time column reports what training actually cost.

    Args:
        model_path: Model folder (None: the shipped model).
        num_samples: Posterior samples per star.
        context: ``"full"`` (spectrum and colours, the baseline's inputs) or ``"spectrum"``.

    Example:
        >>> BayesXPPredictor(context="spectrum").name
        'bayesxp (spectrum only)'
    """

    def __init__(self, model_path: str | None = None, num_samples: int = 200, context: str = "full") -> None:
        self.name = "bayesxp" if context == "full" else "bayesxp (spectrum only)"
        self.model_path = model_path
        self.num_samples = num_samples
        self.context = context
        self.model = None
        self.fit_seconds: float | None = None
        self.fit_note = "pre-trained model loaded; fit time = recorded training time (backbone + heads)"

    def fit(self, train: Any, val: Any) -> None:
        """Load the pre-trained model; ``fit_seconds`` is the recorded training time."""
        from bayesxp.model.bayesian import load

        start = time.perf_counter()
        self.model = load(self.model_path)
        summary = self.model.manifest.get("summary", {})
        recorded = summary.get("foundation", {}).get("seconds", 0.0) + summary.get("heads_seconds", 0.0)
        self.fit_seconds = recorded or (time.perf_counter() - start)

    def predict(self, stars: Any) -> Posterior:
        """The posterior of the stars (from their flux, errors and ``meta`` photometry)."""
        from bayesxp.spectra import SampledSpectra

        if self.model is None:
            self.fit(stars, stars)
        spectra = SampledSpectra.from_arrays(stars.source_id, stars.flux, stars.flux_error, meta=stars.meta)
        return self.model.posterior(spectra, num_samples=self.num_samples, context=self.context)


class XGBPredictor:
    """An XGBoost baseline variant as a :class:`Predictor`, saved to and reused from ``model_dir``.

    Args:
        name: Row label.
        config: Baseline configuration (its variant is the one fitted).
        model_dir: Parent folder of the saved models (``<model_dir>/xgb-<variant>``).
        retrain: Always train, never reuse a saved model.
        propagate_label_error: Convolve mass and age with the predicted label error (prediction of the
            true value); False is the literature baseline's prediction of the label.
        shared: Fitted baselines by variant, so that two rows of one variant fit once.

    Example:
        >>> from bayesxp.baseline import BaselineConfig
        >>> XGBPredictor("xgb", BaselineConfig(), Path("/tmp/models")).folder.name
        'xgb-quantile'
    """

    def __init__(
        self,
        name: str,
        config: Any,
        model_dir: Path,
        retrain: bool = False,
        propagate_label_error: bool = True,
        shared: dict | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.folder = Path(model_dir) / f"xgb-{config.variant}"
        self.retrain = retrain
        self.propagate_label_error = propagate_label_error
        self.shared = shared if shared is not None else {}
        self.model: Any | None = None
        self.fit_seconds: float = float("nan")
        self.fit_note = ""

    def fit(self, train: Any, val: Any) -> None:
        """Reuse a fitted baseline of the same variant, config and data, or train and save one."""
        key = self.config.variant
        if key in self.shared:
            self.model, self.fit_seconds, note = self.shared[key]
            self.fit_note = f"{note}; shared with the {key} fit"
            return
        if not self.retrain:
            self.model = reuse_baseline(
                self.config, train, val, self.folder, lambda line: print(f"[{self.name}] {line}", flush=True)
            )
        if self.model is not None:
            self.fit_note = "loaded; fit time recorded when trained"
        else:
            self.model, self.fit_note = fit_baseline(self.config, train, val, self.folder), "trained in this run"
        self.fit_seconds = float(self.model.info.get("fit_seconds_total", np.nan))
        self.shared[key] = (self.model, self.fit_seconds, self.fit_note)

    def predict(self, stars: Any) -> Posterior:
        """Predict from the flux (pseudo-coefficients projected afresh, no cache: end-to-end cost)."""
        assert self.model is not None, "fit first"
        predictions = self.model.predict(stars, propagate_label_error=self.propagate_label_error, cache=False)
        return Posterior({}, np.asarray(stars.source_id), distributions=dict(predictions))


def _xgb_factory(variant: str | None, propagate: bool) -> Callable[[dict], Predictor]:
    def factory(options: dict) -> Predictor:
        from bayesxp.baseline import BaselineConfig

        config = options["config"]
        chosen = variant or config.variant
        if chosen != config.variant:
            config = from_dict(BaselineConfig, {**to_dict(config), "variant": chosen})
        return XGBPredictor(
            options["name"], config, options["model_dir"], options["retrain"], propagate, options["shared"]
        )

    return factory


def _bayesxp_factory(options: dict) -> Predictor:
    return BayesXPPredictor(options.get("model"), int(options.get("num_samples", 200)), options.get("context", "full"))


REGISTRY: dict[str, Callable[[dict], Predictor] | str] = {
    "baseline": _xgb_factory(None, True),  # the config's default variant
    "xgb-quantile": _xgb_factory("quantile", True),
    "xgb-gaussian": _xgb_factory("gaussian", True),
    "xgb-quantile-label": _xgb_factory("quantile", False),  # literature: intervals for the derived label
    "xgb-gaussian-label": _xgb_factory("gaussian", False),
    "bayesxp": _bayesxp_factory,  # the transformer (the shipped model unless options["model"])
}
"""Benchmark models by name: a factory ``f(options) -> Predictor``, or ``"module:attribute"`` naming one."""

DEFAULT_MODELS = "bayesxp,xgb-quantile,xgb-gaussian,xgb-quantile-label,xgb-gaussian-label"
"""The head-to-head benchmark's default ``--models``."""


def make_predictor(name: str, options: dict) -> Predictor:
    """Resolve a model name (registry key or ``module:attribute``) to a :class:`Predictor`.

    Args:
        name: Registry key, or ``package.module:factory``.
        options: ``config`` (a BaselineConfig), ``model_dir``, ``retrain``, ``shared``, ``model`` (the bayesxp
            model folder; None: the shipped model), passed to the factory with ``name``.

    Returns:
        The predictor.

    Raises:
        ConfigError: An unknown name, a factory that cannot be imported, or one that makes no Predictor.

    Example:
        >>> make_predictor("bayesxp", {}).name
        'bayesxp'
    """
    entry = REGISTRY.get(name, name)
    if isinstance(entry, str):
        if ":" not in entry:
            raise ConfigError(f"unknown model {name!r}; known: {sorted(REGISTRY)} or module:attribute")
        module, attribute = entry.split(":", 1)
        try:
            entry = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"model {name!r}: cannot import {module}:{attribute} ({exc})") from exc
    predictor = entry({**options, "name": name})
    if not isinstance(predictor, Predictor):
        raise ConfigError(f"model {name!r}: {type(predictor).__name__} lacks name/fit/predict")
    return predictor

