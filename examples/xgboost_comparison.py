"""bayesxp against the XGBoost baseline on the same test-split giants: scatter and interval coverage.

    python examples/xgboost_comparison.py [--baseline DIR] [--max-stars 500] [--num-samples 1000]
    python examples/xgboost_comparison.py --n-train 2000 --n-rounds 50     # fit a small baseline here

The stars come from the training set's *test* split (:func:`bayesxp.evaluation.truth.load_training_set`: built
from the XP library on first use, about 90 s, then read from the cache), with APOGEE Teff, logg, [M/H] and the
label-transfer mass and age as truth. The baseline is a fitted one read from ``--baseline`` (e.g. the
``~/.cache/bayesxp/baseline-models/xgb-gaussian`` that ``bayesxp calibrate`` fits and caches), or else a small
one fitted here on the first ``--n-train`` stars of the *train* split (early stopping on the val split): the
training set's train and val splits hold no star of ``../shared/data/reserved_stars.csv``
(``exclude_reserved``), so nothing judged here or in the calibration campaign was fitted on. Both models are
judged by :func:`bayesxp.evaluation.judge_predictions`, the campaign's own judge: mass and age truths are
derived (judged as label + a draw of the label's error), Teff, logg, [M/H] measured (prediction widened by
the truth's error); 68% and 95% coverage with Jeffreys bands.
"""

from __future__ import annotations

import argparse

import numpy as np

from bayesxp.baseline import BaselineConfig, XGBParams, load_baseline, make_baseline
from bayesxp.evaluation import (
    CampaignConfig,
    judge_predictions,
    predict_baseline,
    predict_bayesxp,
    summary_lines,
)
from bayesxp.evaluation.truth import load_training_set, subsample, truth_of_test_split
from bayesxp.model.bayesian import load


def main(baseline: str | None = None, max_stars: int = 500, num_samples: int = 1000, n_train: int = 2000,
         n_val: int = 500, n_rounds: int = 50, variant: str = "gaussian", model_path: str | None = None,
         seed: int = 0) -> dict:
    training_set = load_training_set()
    if baseline is not None:
        xgb, source = load_baseline(baseline), f"loaded from {baseline}"
    else:  # a small baseline: few rounds on the first n_train train stars (reserved stars are not in train/val)
        train = training_set.subset("train").subset(np.arange(n_train))
        val = training_set.subset("val").subset(np.arange(n_val))
        params = XGBParams(n_estimators=n_rounds, max_depth=4, learning_rate=0.3, early_stopping_rounds=10)
        xgb = make_baseline(BaselineConfig(variant=variant, params=params)).fit(train, val)
        source = f"{variant} variant fitted here: {n_rounds} rounds, {len(train)} train / {len(val)} val stars"
    truth = subsample(truth_of_test_split(training_set), max_stars, seed)  # a seeded random subset
    models = {
        "bayesxp": predict_bayesxp(load(model_path), truth.stars, num_samples, seed=seed),  # samples [S, N]
        "baseline": predict_baseline(xgb, truth.stars),  # quantile or Gaussian predictive distributions
    }
    config = CampaignConfig(name="xgboost_comparison", labels="test-split", num_samples=num_samples,
                            recalibrate=False, hdi=False, seed=seed)
    results = judge_predictions(config, truth, models, command="examples/xgboost_comparison.py", write=False)
    print(f"{len(truth)} test-split giants; baseline: {source}")
    for line in summary_lines(results):
        print(line)
    out: dict = {}
    for name, entry in results["models"].items():
        for quantity, judged in entry["quantities"].items():
            table = judged["table"]
            out[(name, quantity)] = {
                "n": table["n"], "mad_std": table["mad_std"],
                "cov68": table["coverage"]["0.68"]["coverage"], "cov95": table["coverage"]["0.95"]["coverage"],
                "crps": table["crps"],
            }
    print(f"{'quantity':>8} {'mad_std bayesxp / XGBoost':>26} {'CRPS bayesxp / XGBoost':>24}")
    for quantity in config.quantities:
        a, b = out[("bayesxp", quantity)], out[("baseline", quantity)]
        print(f"{quantity:>8} {a['mad_std']:12.3g} / {b['mad_std']:<11.3g} {a['crps']:11.3g} / {b['crps']:.3g}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=None, help="folder of a fitted baseline (default: fit a small one)")
    parser.add_argument("--max-stars", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-rounds", type=int, default=50)
    parser.add_argument("--variant", choices=("gaussian", "quantile"), default="gaussian")
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    main(args.baseline, args.max_stars, args.num_samples, args.n_train, n_rounds=args.n_rounds,
         variant=args.variant, model_path=args.model)
