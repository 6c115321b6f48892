"""Head-to-head benchmark of predictive distributions: the same test stars, and the real seismic stars.

One command trains (or loads) each model, predicts the test split and the ``xp_seismic_dev`` stars, and
writes ONE table (Markdown + JSON) per star set: for mass [Msun], age [Gyr], teff [K], logg and m_h [dex]
the residual bias (median), std and mad_std, 68% and 95% central-interval coverage (naive and
label-noise aware), CRPS, NLL, the fit time and the predict throughput (stars/s, end to end, measured in
this run).

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/head_to_head.py \\
        [--models bayesxp,xgb-gaussian] [--bayesxp-model DIR] [--output benchmarks/results] [--retrain]
    python benchmarks/head_to_head.py --tune     # the cross-validated search -> baseline_tuning.json

Models plug in by name through :data:`REGISTRY`: a factory ``f(options) -> Predictor`` or a string
``"module:attribute"`` naming one (imported only when asked for), or ``--models module:attribute``
directly. A :class:`Predictor` is anything with ``name``, ``fit(train, val)`` and
``predict(ts) -> {"mass", "age", "teff", "logg", "m_h": PredictiveDistribution}`` (units Msun, Gyr, K, dex, dex).
The transformer is ``bayesxp`` (``bayesxp.model.benchmark:make_predictor``, the shipped model).

Truths. Test split: the TrainingSet labels (teff, logg, m_h from ASPCAP; mass and age from the label
transfer, themselves predictions whose error is not in the label values), with their label errors for
the noise-aware columns. Seismic stars (``meta["seismic_dev"]``; their mass/age labels are withheld from
training): ``seismic_mass`` and ``seismic_age_gyr``, noise-aware columns convolved with
``seismic_mass_err`` / ``seismic_age_err``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xgboost

from bayesxp._version import __version__
from bayesxp.baseline.features import xp_features
from bayesxp.baseline.xgb import (
    SIDECAR,
    TARGETS,
    BaselineConfig,
    TuningGrid,
    XGBBaseline,
    load_baseline,
    make_baseline,
    tune,
)
from bayesxp.calibration.predictions import PredictiveDistribution
from bayesxp.calibration.report import calibration_summary, to_json_ready
from bayesxp.config import from_dict, load_config, to_dict
from bayesxp.data.dataset import TrainingSet, build_training_set
from bayesxp.errors import ModelFileError
from bayesxp.io.tables import atomic_path
from bayesxp.paths import cache_dir
from bayesxp.quantities import MODEL_LABELS, unit_name
from bayesxp.quantities import QUANTITIES as QUANTITY_ORDER

REPO = Path(__file__).resolve().parents[1]
SEISMIC_TRUTH = {"mass": ("seismic_mass", "seismic_mass_err"), "age": ("seismic_age_gyr", "seismic_age_err")}


@runtime_checkable
class Predictor(Protocol):
    """What the benchmark needs from a model (structural: no import of this script is required).

    Attributes:
        name: Row label in the tables.
    """

    name: str

    def fit(self, train: TrainingSet, val: TrainingSet) -> None:
        """Train (or load an identical trained model) on the train split, using val for early stopping."""

    def predict(self, ts: TrainingSet) -> dict[str, PredictiveDistribution]:
        """Predictions keyed mass [Msun], age [Gyr], teff [K], logg, m_h [dex] over the stars of ``ts``."""


def _fingerprint(ts: TrainingSet) -> str:
    digest = hashlib.sha256()
    for array in (ts.source_id, ts.labels, ts.label_error):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


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
    """

    def __init__(
        self,
        name: str,
        config: BaselineConfig,
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
        self.model: XGBBaseline | None = None
        self.fit_seconds: float = float("nan")
        self.fit_note = ""

    def fit(self, train: TrainingSet, val: TrainingSet) -> None:
        """Reuse a fitted baseline of the same variant, config and data, or train and save one."""
        key = self.config.variant
        fingerprint = _fingerprint(train) + _fingerprint(val)
        if key in self.shared:
            self.model, self.fit_seconds, note = self.shared[key]
            self.fit_note = f"{note}; shared with the {key} fit"
            return
        if not self.retrain and (self.folder / SIDECAR).is_file():
            try:
                model = load_baseline(self.folder)
            except ModelFileError as exc:
                print(f"[{self.name}] not reusing {self.folder}: {exc}", flush=True)
            else:
                if model.info.get("data_fingerprint") == fingerprint and to_dict(model.config) == to_dict(self.config):
                    self.model = model
                    self.fit_seconds = float(model.info.get("fit_seconds_total", np.nan))
                    self.fit_note = "loaded; fit time recorded when trained"
                    self.shared[key] = (model, self.fit_seconds, self.fit_note)
                    return
        clock = time.perf_counter()
        model = make_baseline(self.config)
        model.fit(train, val)
        self.fit_seconds = time.perf_counter() - clock
        model.info["data_fingerprint"] = fingerprint
        model.info["fit_seconds_total"] = self.fit_seconds
        model.save(self.folder)
        self.model, self.fit_note = model, "trained in this run"
        self.shared[key] = (model, self.fit_seconds, self.fit_note)

    def predict(self, ts: TrainingSet) -> dict[str, PredictiveDistribution]:
        """Predict from the flux (pseudo-coefficients projected afresh, no cache: end-to-end cost)."""
        assert self.model is not None, "fit first"
        return self.model.predict(ts, propagate_label_error=self.propagate_label_error, cache=False)


def _xgb_factory(variant: str | None, propagate: bool, suffix: str = "") -> Callable[[dict], Predictor]:
    def factory(options: dict) -> Predictor:
        config: BaselineConfig = options["config"]
        chosen = variant or config.variant
        if chosen != config.variant:
            config = from_dict(BaselineConfig, {**to_dict(config), "variant": chosen})
        name = options["name"]
        return XGBPredictor(name, config, options["model_dir"], options["retrain"], propagate, options["shared"])

    return factory


REGISTRY: dict[str, Callable[[dict], Predictor] | str] = {
    "baseline": _xgb_factory(None, True),  # the config's default variant
    "xgb-quantile": _xgb_factory("quantile", True),
    "xgb-gaussian": _xgb_factory("gaussian", True),
    "xgb-quantile-label": _xgb_factory("quantile", False),  # literature: intervals for the derived label
    "xgb-gaussian-label": _xgb_factory("gaussian", False),
    "bayesxp": "bayesxp.model.benchmark:make_predictor",  # the transformer (shipped model)
}
DEFAULT_MODELS = "bayesxp,xgb-quantile,xgb-gaussian,xgb-quantile-label,xgb-gaussian-label"


def make_predictor(name: str, options: dict) -> Predictor:
    """Resolve a model name (registry key or ``module:attribute``) to a :class:`Predictor`.

    Args:
        name: Registry key, or ``package.module:factory``.
        options: ``config``, ``model_dir``, ``retrain``, ``shared``, ``model`` (the bayesxp model folder; None:
            the shipped model), passed to the factory with ``name``.

    Returns:
        The predictor.
    """
    entry = REGISTRY.get(name, name)
    if isinstance(entry, str):
        if ":" not in entry:
            raise SystemExit(f"unknown model {name!r}; known: {sorted(REGISTRY)} or module:attribute")
        module, attribute = entry.split(":", 1)
        try:
            entry = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise SystemExit(f"model {name!r}: cannot import {module}:{attribute} ({exc})") from exc
    predictor = entry({**options, "name": name})
    if not isinstance(predictor, Predictor):
        raise SystemExit(f"model {name!r}: {type(predictor).__name__} lacks name/fit/predict")
    return predictor


# ----------------------------------------------------------------------------------------------- metrics
def _coverage_at(summary_coverage: dict, level: float) -> tuple[float, bool]:
    levels = np.asarray(summary_coverage["level"])
    k = int(np.argmin(np.abs(levels - level)))
    return summary_coverage["coverage"][k], bool(summary_coverage["consistent"][k])


def evaluate(pred: PredictiveDistribution, truth: np.ndarray, error: np.ndarray | None, quantity: str) -> dict:
    """Residual, coverage and score figures of one prediction against truths.

    Args:
        pred: Prediction over N stars.
        truth: ``(N,)`` true or labelled values (rows with a non-finite truth are dropped).
        error: ``(N,)`` the truth's 1-sigma error for the noise-aware columns, or None.
        quantity: Quantity name (mass gets a fractional mad_std, age one in dex).

    Returns:
        A flat JSON-ready dict (plus the full calibration summaries under ``summary``).
    """
    good = np.isfinite(truth)
    noisy = error is not None
    if noisy:
        good &= np.isfinite(error) & (np.nan_to_num(error) > 0)
    rows = np.flatnonzero(good)
    if rows.size == 0:
        return {"n": 0}
    pred, truth = pred.take(rows), truth[rows]
    naive = calibration_summary(pred, truth, hdi=False)
    out: dict[str, Any] = {"n": int(rows.size), **{k: naive["residual"][k] for k in ("bias", "std", "mad_std")}}
    median = pred.median()
    if quantity == "mass":
        out["mad_std_rel"] = float(1.4826 * np.median(np.abs((median - truth) / truth - np.median((median - truth) / truth))))
    elif quantity == "age":
        dex = np.log10(median) - np.log10(truth)
        out["mad_std_rel"] = float(1.4826 * np.median(np.abs(dex - np.median(dex))))
    out["cov68"], out["cov68_ok"] = _coverage_at(naive["coverage"], 0.68)
    out["cov95"], out["cov95_ok"] = _coverage_at(naive["coverage"], 0.95)
    out["crps"], out["nll"], out["ece"] = naive["crps"], naive["nll"], naive["ece"]
    out["summary"] = {"naive": naive}
    if noisy:
        aware = calibration_summary(pred, truth, label_error=error[rows], hdi=False)
        out["cov68_noise"], out["cov68_noise_ok"] = _coverage_at(aware["coverage"], 0.68)
        out["cov95_noise"], out["cov95_noise_ok"] = _coverage_at(aware["coverage"], 0.95)
        out["crps_noise"], out["nll_noise"], out["ece_noise"] = aware["crps"], aware["nll"], aware["ece"]
        out["summary"]["noise_aware"] = aware
    return out


def _truths(ts: TrainingSet, quantity: str, seismic: bool) -> tuple[np.ndarray, np.ndarray]:
    if seismic:
        value, error = SEISMIC_TRUTH[quantity]
        return ts.meta[value].to_numpy(float), ts.meta[error].to_numpy(float)
    target = MODEL_LABELS[quantity]
    value, error = (a.astype(float) for a in ts.label(target))
    if target.startswith("ln_"):  # log-normal label: value exp(x), 1-sigma error ~ exp(x) * sigma_ln
        value = np.exp(value)
        error = value * error
    return value, error


# ---------------------------------------------------------------------------------------------- tables
def _fmt(value: Any, digits: int = 3, ok: bool | None = None) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    text = f"{value:.{digits}g}" if abs(value) >= 1000 else f"{value:.{digits}f}"
    return text + ("" if ok is None or ok else "†")


def markdown_table(rows: list[dict], seismic: bool) -> str:
    """One Markdown table from result rows (``†``: nominal level outside the 95% binomial band)."""
    header = ["model", "quantity", "unit", "n", "bias", "std", "mad_std", "mad_std frac/dex", "cov68", "cov95",
              "cov68 noise-aware", "cov95 noise-aware", "CRPS", "NLL", "fit s", "predict stars/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        r = row["metrics"]
        if not r.get("n"):
            continue
        crps, nll = (r.get("crps_noise"), r.get("nll_noise")) if seismic else (r.get("crps"), r.get("nll"))
        digits = 1 if row["quantity"] == "teff" else 3
        lines.append("| " + " | ".join([
            row["model"], row["quantity"], unit_name(row["quantity"]), str(r["n"]),
            _fmt(r["bias"], digits), _fmt(r["std"], digits), _fmt(r["mad_std"], digits),
            _fmt(r.get("mad_std_rel")),
            _fmt(r["cov68"], 2, r["cov68_ok"]), _fmt(r["cov95"], 2, r["cov95_ok"]),
            _fmt(r.get("cov68_noise"), 2, r.get("cov68_noise_ok")),
            _fmt(r.get("cov95_noise"), 2, r.get("cov95_noise_ok")),
            _fmt(crps, digits), _fmt(nll, 3), _fmt(row["fit_seconds"], 0), _fmt(row["stars_per_second"], 0),
        ]) + " |")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# ---------------------------------------------------------------------------------------------- running
def select_default(models: dict[str, XGBBaseline], val: TrainingSet) -> dict:
    """Judge each variant's calibration on the val split (label space, against the val labels).

    The better-calibrated variant has the lower mean ECE (mean |coverage - level| over 20 levels) over
    the five quantities; CRPS per quantity is recorded alongside.

    Args:
        models: Variant -> fitted baseline.
        val: Validation stars.

    Returns:
        JSON-ready per-variant figures and the ``chosen`` variant with the reason.
    """
    per_variant: dict[str, dict] = {}
    for variant, model in models.items():
        preds = model.predict(val, propagate_label_error=False)
        figures = {}
        for quantity in QUANTITY_ORDER:
            truth, _ = _truths(val, quantity, seismic=False)
            metrics = evaluate(preds[quantity], truth, None, quantity)
            figures[quantity] = {k: metrics[k] for k in ("n", "cov68", "cov95", "ece", "crps", "nll", "mad_std")}
        per_variant[variant] = {
            "by_quantity": figures,
            "mean_ece": float(np.mean([f["ece"] for f in figures.values()])),
            "mean_abs_cov68_error": float(np.mean([abs(f["cov68"] - 0.68) for f in figures.values()])),
            "mean_abs_cov95_error": float(np.mean([abs(f["cov95"] - 0.95) for f in figures.values()])),
        }
    chosen = min(per_variant, key=lambda v: per_variant[v]["mean_ece"])
    others = {v: round(per_variant[v]["mean_ece"], 4) for v in per_variant}
    return {
        "split": "val",
        "criterion": "lowest mean ECE over mass, age, teff, logg, m_h (label-space predictions vs val labels)",
        "variants": per_variant,
        "chosen": chosen,
        "reason": f"mean ECE {others}; chosen {chosen}",
    }


def run_benchmark(args: argparse.Namespace) -> dict:
    """Fit or load each model, predict the test split and the seismic stars, and tabulate."""
    started = time.perf_counter()
    config = load_config(BaselineConfig, args.config)
    ts = build_training_set()
    train, val, test = ts.subset("train"), ts.subset("val"), ts.subset("test")
    seismic = ts.subset(ts.meta["seismic_dev"].to_numpy(bool))
    for part in (train, val):  # warm the pseudo-coefficient cache used for fitting
        xp_features(part)
    options = {"config": config, "model_dir": Path(args.model_dir), "retrain": args.retrain, "shared": {},
               "model": args.bayesxp_model}
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    rows: dict[str, list[dict]] = {"test": [], "seismic": []}
    fitted: dict[str, XGBBaseline] = {}
    notes: dict[str, str] = {}
    for name in names:
        predictor = make_predictor(name, options)
        print(f"[{time.perf_counter() - started:6.0f} s] {name}: fit", flush=True)
        clock = time.perf_counter()
        predictor.fit(train, val)
        fit_seconds = getattr(predictor, "fit_seconds", time.perf_counter() - clock)
        notes[name] = getattr(predictor, "fit_note", "trained in this run")
        if isinstance(predictor, XGBPredictor) and predictor.model is not None:
            fitted[predictor.config.variant] = predictor.model
        for set_name, stars in (("test", test), ("seismic", seismic)):
            print(f"[{time.perf_counter() - started:6.0f} s] {name}: predict {set_name} ({len(stars)} stars)", flush=True)
            clock = time.perf_counter()
            preds = predictor.predict(stars)
            seconds = time.perf_counter() - clock
            timing = dict(getattr(getattr(predictor, "model", None), "last_timing", {}) or {})
            if set_name == "test":  # the throughput reported in both tables: 2,300 stars amortise start-up
                rate = len(stars) / seconds
                model_rate = len(stars) / timing["model_s"] if timing.get("model_s") else None
            quantities = QUANTITY_ORDER if set_name == "test" else tuple(SEISMIC_TRUTH)
            for quantity in quantities:
                truth, error = _truths(stars, quantity, seismic=set_name == "seismic")
                metrics = evaluate(preds[quantity], truth, error, quantity)
                rows[set_name].append({
                    "model": name, "quantity": quantity, "unit": unit_name(quantity), "metrics": metrics,
                    "fit_seconds": fit_seconds, "predict_seconds": seconds, "n_predicted": len(stars),
                    "stars_per_second": rate, "model_only_stars_per_second": model_rate,
                })
    selection = select_default(fitted, val) if len(fitted) >= 2 else None
    runtime = time.perf_counter() - started
    result = {
        "command": " ".join(["python", "benchmarks/head_to_head.py", *sys.argv[1:]]),
        "runtime_seconds": runtime,
        "versions": {"bayesxp": __version__, "xgboost": xgboost.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "config": to_dict(config),
        "models": names,
        "fit_notes": notes,
        "n_stars": {"train": len(train), "val": len(val), "test": len(test), "seismic": len(seismic)},
        "test": rows["test"],
        "seismic": rows["seismic"],
        "default_selection": selection,
        "notes": NOTES,
    }
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    _write(output / "head_to_head.json", json.dumps(to_json_ready(result), indent=1, allow_nan=False))
    markdown = "\n\n".join([
        "# Head-to-head benchmark",
        f"Command: `{result['command']}` (runtime {runtime:.0f} s; bayesxp {__version__}, xgboost {xgboost.__version__}).",
        f"Stars: train {len(train)}, val {len(val)}, test {len(test)}, seismic dev {len(seismic)}.",
        "## Test split (truth: TrainingSet labels; noise-aware: convolved with the label errors)",
        markdown_table(rows["test"], seismic=False),
        "## Real seismic stars (truth: seismic mass and age; noise-aware: convolved with their errors)",
        markdown_table(rows["seismic"], seismic=True),
        "## Notes",
        "\n".join(f"- {line}" for line in NOTES),
        "Fit: " + "; ".join(f"{k}: {v}" for k, v in notes.items()) + ".",
    ])
    _write(output / "head_to_head.md", markdown + "\n")
    if selection is not None:
        _write(output / "baseline_selection.json", json.dumps(to_json_ready(selection), indent=1, allow_nan=False))
    print(markdown)
    return result


NOTES = [
    "bias = median of (point - truth), point = predictive median; std and mad_std (1.4826 x MAD) of the same.",
    "mad_std frac/dex: mass as a fraction of the truth, age in dex (log10).",
    "cov68/cov95: fraction of truths inside the central 68%/95% interval; † marks a level outside the 95% "
    "Jeffreys band for that n.",
    "noise-aware: the prediction convolved with the truth's own 1-sigma error before judging (test: "
    "TrainingSet label errors, i.e. the transfer's error for mass and age; seismic: the catalogue errors).",
    "CRPS and NLL: test table against the labels as they are; seismic table against the noise-aware prediction. "
    "A quantile prediction's tails are Gaussian with the scale of its two outermost quantiles, so a few stars "
    "with nearly tied outer quantiles can dominate its mean NLL.",
    "xgb-*: mass/age convolved with the predicted label-transfer error (a prediction of the true value); "
    "xgb-*-label: the literature baseline, intervals for the derived label itself.",
    "predict stars/s: measured on the test split in this run, end to end from flux (MAP "
    "pseudo-coefficient projection included, no cache; label-error convolution included), on 2 CPU cores "
    "shared with other jobs; the JSON also holds the model-only rate.",
]


def run_tuning(args: argparse.Namespace) -> dict:
    """The cross-validated search on the train split; writes ``baseline_tuning.json``."""
    config = load_config(BaselineConfig, args.config)
    ts = build_training_set()
    train = ts.subset("train")
    features = xp_features(train)
    labels = {t: train.label(t)[0] for t in TARGETS}
    result = tune(features, labels, TuningGrid(), config.params, progress=True)
    result["command"] = " ".join(["python", "benchmarks/head_to_head.py", *sys.argv[1:]])
    result["n_train"] = len(train)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    _write(output / "baseline_tuning.json", json.dumps(to_json_ready(result), indent=1, allow_nan=False))
    print(json.dumps({t: {k: v for k, v in c.items() if k in ("max_depth", "min_child_weight", "learning_rate", "cv_rmse")}
                      for t, c in result["chosen"].items()}, indent=1))
    print(f"tuning took {result['seconds']:.0f} s")
    return result


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated; known: {', '.join(REGISTRY)}")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--config", default=str(REPO / "configs" / "baseline.yaml"))
    parser.add_argument("--model-dir", default=str(cache_dir() / "baseline-models"))
    parser.add_argument("--bayesxp-model", default=None, help="bayesxp model folder (default: the shipped model)")
    parser.add_argument("--retrain", action="store_true", help="train even if an identical saved model exists")
    parser.add_argument("--tune", action="store_true", help="run the cross-validated search only")
    args = parser.parse_args(argv)
    if args.tune:
        run_tuning(args)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
