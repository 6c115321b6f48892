"""What the joint head's partial correlations read: variants fitted side by side, judged on the test split.

Every variant is the shipped head's configuration (``configs/heads.yaml`` ``joint:``) with the Student-t family
(the one ``likelihood: auto`` chose) and a different ``correlation_features`` / ``correlation_components``,
fitted on the same frozen features of the validation split (the shipped model's backbone and feature map:
each star in its own context, as ``bayesxp fit-heads`` does). On the test split (2,329 giants; the features
in the full context):

- the held-out log predictive density per star (:func:`~bayesxp.model.joint_head.joint_log_score`, label
  errors treated as in the fit);
- per pair, the mean per-star predictive Spearman correlation of 400 draws against the Spearman correlation of
  the standardised residuals (:func:`~bayesxp.calibration.joint.correlation_check`; the derived mass and age
  judged against one draw of label + error);
- mad_std of the predictive median and 68% coverage per quantity (Teff, logg, [M/H] widened by their label
  error; ln mass and ln age against the truth draw).

Usage::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/joint_correlations.py [--threads 1]

Writes ``benchmarks/results/joint_correlations.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

#: (name, correlation_features, correlation_components)
VARIANTS = (
    ("all (every feature)", "all", None),
    ("pairs, whole blocks", "pairs", None),
    ("pairs, 6 components", "pairs", 6),
    ("pairs, 3 components (shipped)", "pairs", 3),
    ("pairs, 1 component", "pairs", 1),
    ("none (one correlation matrix)", "none", None),
)
NAMES = ("teff", "logg", "m_h", "ln_mass", "ln_age")


def _judge(fit, z: np.ndarray, targets: np.ndarray, label_cov: np.ndarray, seed: int) -> dict:
    from astropy.stats import mad_std

    from bayesxp.calibration.joint import correlation_check
    from bayesxp.model.joint_head import joint_log_score, joint_predictive_samples
    from bayesxp.model.joint_likelihood import prepare_targets

    lpd = joint_log_score(fit, z, targets, label_cov, num_samples=200, seed=seed)
    draws = joint_predictive_samples(fit, z, num_samples=400, seed=seed)
    x = np.stack([draws["teff"], draws["logg"], draws["m_h"], np.log(draws["mass"]), np.log(draws["age"])], -1)
    truth = prepare_targets(targets, label_cov, measured="ignore", derived="propagate", seed=seed + 1).values
    check = correlation_check(x, truth, names=list(NAMES), n_boot=0)
    rng = np.random.default_rng(seed)
    marginals = {}
    for j, name in enumerate(NAMES):
        ok = np.isfinite(truth[:, j])
        widened = x[..., j] + (rng.standard_normal(x.shape[:2]) * np.sqrt(label_cov[:, j, j]) if j < 3 else 0.0)
        low, high = np.quantile(widened, [0.16, 0.84], axis=0)
        marginals[name] = {"n": int(ok.sum()),
                           "mad_std": float(mad_std(np.median(x[..., j], 0)[ok] - truth[ok, j])),
                           "coverage_68": float(np.mean(((truth[:, j] >= low) & (truth[:, j] <= high))[ok]))}
    return {"log_predictive_density": float(lpd), "correlation": check.as_dict(), "marginals": marginals}


def main(argv: list[str] | None = None) -> int:
    import torch

    from bayesxp.config import load_config
    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import BayesXPModel, joint_embedding
    from bayesxp.model.fit_heads import joint_contexts, joint_features, joint_targets
    from bayesxp.model.heads import HeadFittingConfig
    from bayesxp.model.joint_head import fit_joint_head
    from bayesxp.quantities import source_id_keys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = BayesXPModel.load()
    feature_map = model.feature_maps["joint"]
    shipped = load_config(HeadFittingConfig, REPO / "configs" / "heads.yaml").joint
    training_set = build_training_set(DataConfig(), progress=False)
    fitting, test = training_set.subset("val"), training_set.subset("test")
    targets, label_cov = joint_targets(fitting)
    rows = np.isfinite(targets).any(axis=1)
    fitting = fitting.subset(np.flatnonzero(rows))
    targets, label_cov = targets[rows], label_cov[rows]
    encode = model.tokenizer.encode
    z_fit = feature_map.transform(joint_features(
        model, encode(fitting.flux, fitting.flux_error, fitting.labels, fitting.label_error),
        joint_contexts(fitting.source_id)))
    z_test = feature_map.transform(joint_embedding(model.embeddings(
        encode(test.flux, test.flux_error, test.labels, test.label_error), "full")))
    test_targets, test_cov = joint_targets(test)

    results = []
    for name, features, components in VARIANTS:
        config = dataclasses.replace(shipped, likelihood="student_t", correlation_features=features,
                                     correlation_components=components)
        start = time.perf_counter()
        fit = fit_joint_head(z_fit, targets, label_cov, observed_mask=np.isfinite(targets), config=config,
                             keys=source_id_keys(fitting.source_id))
        seconds = time.perf_counter() - start
        results.append({"variant": name, "correlation_features": features, "correlation_components": components,
                        "fit_seconds": seconds, **_judge(fit, z_test, test_targets, test_cov, args.seed)})
        print(f"{name}: LPD {results[-1]['log_predictive_density']:.3f} ({seconds:.0f} s)", flush=True)

    pair_names = [f"{p['first']}-{p['second']}" for p in results[0]["correlation"]["pairs"]]
    lines = ["# What the joint head's partial correlations read", "",
             f"Fitted on the {len(z_fit)} validation-split stars (the shipped backbone and feature map), Student-t, "
             f"everything else as `configs/heads.yaml`; judged on the {len(test)} test-split giants. "
             "Command: `python benchmarks/joint_correlations.py --threads 1`.", "",
             "LPD: held-out log predictive density per star (higher is better). Correlations: mean per-star "
             "predictive / residual Spearman correlation; the check passes within 0.15.", "",
             "| variant | LPD | pairs within 0.15 | largest difference | ln mass-ln age | fit [s] |",
             "|---|---|---|---|---|---|"]
    for r in results:
        check = r["correlation"]
        pairs = dict(zip(pair_names, check["pairs"]))
        mass_age = pairs["ln_mass-ln_age"]
        n_ok = sum(p["consistent"] for p in check["pairs"])
        lines.append(f"| {r['variant']} | {r['log_predictive_density']:.3f} | {n_ok} / {len(pair_names)} | "
                     f"{check['max_difference']:.2f} | {mass_age['predictive_mean']:.2f} / "
                     f"{mass_age['residual']:.2f} | {r['fit_seconds']:.0f} |")
    lines += ["", "Marginals (mad_std of the median; 68% coverage):", "",
              "| variant | " + " | ".join(NAMES) + " |", "|---|" + "---|" * len(NAMES)]
    for r in results:
        cells = [f"{m['mad_std']:.4g}; {m['coverage_68']:.3f}" for m in r["marginals"].values()]
        lines.append(f"| {r['variant']} | " + " | ".join(cells) + " |")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "joint_correlations.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / "joint_correlations.json") as tmp:
        tmp.write_text(json.dumps({"n_fit": len(z_fit), "n_test": len(test), "seed": args.seed,
                                   "results": results}, indent=2, default=float))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
