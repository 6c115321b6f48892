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

Everything is computed by :mod:`bayesxp.evaluation` (this script only wires it up): models plug in by name
through :data:`bayesxp.evaluation.predictors.REGISTRY` (a factory ``f(options) -> Predictor`` or a string
``"module:attribute"`` naming one, imported only when asked for), or ``--models module:attribute``
directly. A :class:`~bayesxp.evaluation.predictors.Predictor` is anything with ``name``, ``fit(train, val)``
and ``predict(stars)`` returning a :class:`~bayesxp.posterior.Posterior` (or a plain
``{"mass", "age", "teff", "logg", "m_h": PredictiveDistribution}``) in Msun, Gyr, K, dex, dex. The
transformer is ``bayesxp`` (:class:`~bayesxp.evaluation.predictors.BayesXPPredictor`, the shipped model).
Scores: :func:`bayesxp.evaluation.judge.benchmark_metrics`; truths:
:func:`bayesxp.evaluation.truth.label_truth`; tables: :func:`bayesxp.evaluation.report.benchmark_table`.

Truths. Test split: the TrainingSet labels (teff, logg, m_h from ASPCAP; mass and age from the label
transfer, themselves predictions whose error is not in the label values), with their label errors for
the noise-aware columns: measured labels (Teff, logg, [M/H]) widen the prediction, derived ones (mass, age)
are judged as label + a draw of their error. Seismic stars (``meta["seismic_dev"]``; their mass/age labels
are withheld from training): mass and age as :func:`~bayesxp.evaluation.truth.seismic_dev_truth` gives
them (measured: noise-aware columns convolved with their errors; ages without a published error left out).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import xgboost

from bayesxp._version import __version__
from bayesxp.baseline import TARGETS, BaselineConfig, TuningGrid, XGBBaseline, tune
from bayesxp.baseline.features import xp_features
from bayesxp.calibration.report import to_json_ready
from bayesxp.config import load_config, to_dict
from bayesxp.data.dataset import TrainingSet, build_training_set
from bayesxp.errors import BayesXPError
from bayesxp.evaluation.judge import benchmark_metrics
from bayesxp.evaluation.predictors import DEFAULT_MODELS, REGISTRY, XGBPredictor, as_posterior, make_predictor
from bayesxp.evaluation.report import benchmark_table
from bayesxp.evaluation.truth import DERIVED_MASS_AGE, SEISMIC_COLUMNS, label_truth, seismic_dev_truth
from bayesxp.io.tables import atomic_path
from bayesxp.paths import cache_dir
from bayesxp.quantities import QUANTITIES, unit_name

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


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
        for quantity in QUANTITIES:
            truth, _ = label_truth(val, quantity)
            metrics = benchmark_metrics(preds[quantity], truth, None, quantity)
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


def _seismic_truth(seismic: TrainingSet) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Seismic mass and age of the dev stars as the campaign judges them
    (:func:`~bayesxp.evaluation.truth.seismic_dev_truth`: an error the catalogue does not publish, the
    APOKASC-3 v7.0.5 ages', is NaN, so those stars drop out of the seismic rows), aligned on ``seismic``."""
    truth = seismic_dev_truth(require_selection=True)
    position = {int(s): i for i, s in enumerate(truth.stars.source_id)}
    rows = np.array([position.get(int(s), -1) for s in seismic.source_id])
    out = {}
    for quantity in SEISMIC_COLUMNS:
        value = np.where(rows >= 0, truth.values[quantity][rows], np.nan)
        error = np.where(rows >= 0, truth.errors[quantity][rows], np.nan)
        out[quantity] = (value, error)
    return out


def run_benchmark(args: argparse.Namespace) -> dict:
    """Fit or load each model, predict the test split and the seismic stars, and tabulate."""
    started = time.perf_counter()
    config = load_config(BaselineConfig, args.config)
    stars_all = build_training_set()
    train, val, test = stars_all.subset("train"), stars_all.subset("val"), stars_all.subset("test")
    seismic = stars_all.subset(stars_all.meta["seismic_dev"].to_numpy(bool))
    seismic_truth = _seismic_truth(seismic)
    for part in (train, val):  # warm the pseudo-coefficient cache used for fitting
        xp_features(part)
    options = {"config": config, "model_dir": Path(args.model_dir), "retrain": args.retrain, "shared": {},
               "model": args.bayesxp_model, "num_samples": args.num_samples}
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
            posterior = as_posterior(predictor.predict(stars), stars.source_id)
            seconds = time.perf_counter() - clock
            timing = dict(getattr(getattr(predictor, "model", None), "last_timing", {}) or {})
            if set_name == "test":  # the throughput reported in both tables: 2,300 stars amortise start-up
                rate = len(stars) / seconds
                model_rate = len(stars) / timing["model_s"] if timing.get("model_s") else None
            quantities = QUANTITIES if set_name == "test" else tuple(SEISMIC_COLUMNS)
            every_star = np.arange(len(stars))
            for quantity in quantities:
                if set_name == "test":  # label-transfer mass and age are derived truths, APOGEE labels measured
                    truth, error = label_truth(stars, quantity)
                    kind = DERIVED_MASS_AGE[quantity]
                else:
                    (truth, error), kind = seismic_truth[quantity], "measured"
                metrics = benchmark_metrics(posterior.predictive(quantity, every_star), truth, error, quantity,
                                            truth_kind=kind)
                rows[set_name].append({
                    "model": name, "quantity": quantity, "unit": unit_name(quantity), "metrics": metrics,
                    "fit_seconds": fit_seconds, "predict_seconds": seconds, "n_predicted": len(stars),
                    "stars_per_second": rate, "model_only_stars_per_second": model_rate,
                })

    selection = select_default(fitted, val) if len(fitted) >= 2 else None
    runtime = time.perf_counter() - started
    result = {
        "command": " ".join(["python", "benchmarks/head_to_head.py", *sys.argv[1:]]),
        "bayesxp_num_samples": args.num_samples,
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
        "## Test split (truth: TrainingSet labels; noise-aware: Teff/logg/[M/H] convolved with the label errors, "
        "mass/age against label + an error draw)",
        benchmark_table(rows["test"], seismic=False),
        "## Real seismic stars (truth: seismic mass and age; noise-aware: convolved with their published errors)",
        benchmark_table(rows["seismic"], seismic=True),
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
    "noise-aware, measured truths (APOGEE Teff/logg/[M/H], seismic mass and age): the prediction convolved with "
    "the truth's own 1-sigma error before judging; derived truths (the test split's label-transfer mass and age): "
    "the prediction against one seeded draw of label + its error (mass and age drawn jointly with their "
    "correlation). Seismic ages without a published error (APOKASC-3 v7.0.5) are left out of the seismic rows.",
    "CRPS and NLL: test table against the labels as they are; seismic table against the noise-aware prediction. "
    "A quantile prediction's tails are Gaussian with the scale of its two outermost quantiles, so a few stars "
    "with nearly tied outer quantiles can dominate its mean NLL.",
    "xgb-*: mass/age convolved with the predicted label-transfer error (a prediction of the true value); "
    "xgb-*-label: the literature baseline, intervals for the derived label itself.",
    "predict stars/s: measured on the test split in this run, end to end from flux (MAP "
    "pseudo-coefficient projection included, no cache; label-error convolution included), on 2 CPU cores "
    "shared with other jobs; the JSON also holds the model-only rate.",
    "bayesxp: `--num-samples` draws per star (default 1000, as the calibration campaigns; bayesxp_num_samples in "
    "the JSON), its throughput included.",
]


def run_tuning(args: argparse.Namespace) -> dict:
    """The cross-validated search on the train split; writes ``baseline_tuning.json``."""
    config = load_config(BaselineConfig, args.config)
    train = build_training_set().subset("train")
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
    parser.add_argument("--num-samples", type=int, default=1000,
                        help="bayesxp draws per star (its throughput is measured with them); the campaigns' 1000: "
                             "with 200 the medians carry Monte Carlo noise (seismic mass mad_std 0.13-0.18: "
                             "benchmarks/results/draw_noise.md)")
    parser.add_argument("--retrain", action="store_true", help="train even if an identical saved model exists")
    parser.add_argument("--tune", action="store_true", help="run the cross-validated search only")
    args = parser.parse_args(argv)
    try:
        if args.tune:
            run_tuning(args)
        else:
            run_benchmark(args)
    except BayesXPError as exc:
        raise SystemExit(f"error: {exc}") from exc


if __name__ == "__main__":
    main()
