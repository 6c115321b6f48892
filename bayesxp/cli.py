"""The ``bayesxp`` command line: each subcommand is one call into the public API.

- ``bayesxp data build [--config FILE] [--output DIR]``: build the training set, print its summary,
  write ``summary.md``, ``summary.json`` and ``label_distributions.png``.
- ``bayesxp demo [--output DIR]``: the main job on the bundled demo stars with the shipped model.
- ``bayesxp predict --input FILE --output FILE [--model DIR] [--num-samples S]``: posteriors per star.
- ``bayesxp calibrate --model DIR --labels FILE --output DIR``: a calibration campaign.
- ``bayesxp train --config configs/model.yaml``: train the foundation model.
- ``bayesxp fit-heads --foundation DIR --output DIR``: fit the Bayesian heads on it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bayesxp._version import __version__
from bayesxp.errors import BayesXPError

__all__ = ["main", "build_parser"]


def _data_build(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.data.summary import plot_label_distributions, summary_markdown
    from bayesxp.io.tables import atomic_path

    config = load_config(DataConfig, args.config)
    if args.no_cache:
        config = load_config(DataConfig, args.config, use_cache=False)
    ts = build_training_set(config, progress=True)
    text = summary_markdown(ts)
    print(text)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "summary.md") as tmp:
        tmp.write_text(text + "\n")
    with atomic_path(output / "summary.json") as tmp:
        tmp.write_text(json.dumps(ts.summary, indent=2, default=str))
    figure = plot_label_distributions(ts)
    with atomic_path(output / "label_distributions.png") as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    print(f"\nwrote {output / 'summary.md'}, summary.json and label_distributions.png")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.io.tables import atomic_path, write_table
    from bayesxp.model.bayesian import load

    output = Path(args.output)
    model = load(args.model)
    stars = read_sampled_table(demo_path())
    posterior = model.posterior(stars, num_samples=args.num_samples)
    table = posterior.to_table()
    write_table(table, output / "demo_posteriors.csv")
    figure = posterior.corner(0)
    with atomic_path(output / "demo_corner_star0.png") as tmp:
        figure.savefig(tmp, dpi=90, format="png")
    meta = stars.meta
    print(f"bayesxp {__version__}: posteriors for the {len(stars)} bundled demo giants (test split, never trained on)")
    print(f"{'source_id':>20} {'mass [Msun]':>17} {'age [Gyr]':>17} {'Teff [K] (APOGEE)':>20} "
          f"{'logg (APOGEE)':>16} {'[M/H] (APOGEE)':>18}")
    for i in range(min(8, len(stars))):
        row = table[i]
        print(f"{row['source_id']:>20} {row['mass_q50']:6.2f} +{row['mass_q84'] - row['mass_q50']:.2f}"
              f" -{row['mass_q50'] - row['mass_q16']:.2f} {row['age_q50']:6.1f} +{row['age_q84'] - row['age_q50']:.1f}"
              f" -{row['age_q50'] - row['age_q16']:.1f} {row['teff_mean']:7.0f} ({meta['teff'][i]:5.0f})"
              f" {row['logg_mean']:8.2f} ({meta['logg'][i]:.2f}) {row['m_h_mean']:9.2f} ({meta['fe_h'][i]:.2f})")
    from bayesxp.quantities import LIBRARY_COLUMNS

    residual = {q: np.asarray(table[f"{q}_mean"]) - meta[c].to_numpy(float)
                for q, c in LIBRARY_COLUMNS.items() if q != "alpha_m"}
    from astropy.stats import mad_std

    print("against APOGEE on these stars: " + ", ".join(
        f"{q} mad_std {mad_std(r, ignore_nan=True):.3g}" for q, r in residual.items()))
    print(f"wrote {output / 'demo_posteriors.csv'} and {output / 'demo_corner_star0.png'}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from bayesxp.predict import predict_file

    result = predict_file(args.input, args.output, model_path=args.model, num_samples=args.num_samples,
                          batch_size=args.batch_size, context=args.context, seed=args.seed, progress=not args.quiet)
    failed = ", ".join(f"{n} {reason}" for reason, n in result["failed"].items()) or "none"
    print(f"wrote {args.output}: {result['stars']} stars, {result['ok']} predicted; no prediction: {failed} "
          f"({result['seconds']:.1f} s)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.model.train import RunConfig, train_run

    overrides = {"output": args.output} if args.output else {}
    summary = train_run(load_config(RunConfig, args.config, **overrides), progress=not args.quiet)
    print(json.dumps({k: v for k, v in summary.items() if k != "validation"}, default=str))
    return 0


def _fit_heads(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.model.bayesian import BayesXPModel, HeadsConfig
    from bayesxp.model.folder import read_model_folder, spec_from_config
    from bayesxp.model.foundation import FoundationModel, ModelSpec
    from bayesxp.model.tokenizer import Tokenizer

    state, config, tokenizer_state, manifest = read_model_folder(args.foundation)
    foundation = FoundationModel(Tokenizer.from_dict(tokenizer_state), spec_from_config(config["model"], ModelSpec).backbone)
    foundation.load_state_dict(state)
    ts = build_training_set(load_config(DataConfig, args.data_config), progress=True)
    start = time.perf_counter()
    model = BayesXPModel.fit_heads(foundation, ts, load_config(HeadsConfig, args.config), method=args.method,
                                   progress=True)
    model.domain = _mass_age_domain(ts)
    model.save(args.output, summary={"foundation": manifest.get("summary", {}), "head_method": args.method,
                                     "heads_seconds": time.perf_counter() - start})
    print(f"wrote {args.output}")
    return 0


def _mass_age_domain(ts) -> dict:  # noqa: ANN001
    import numpy as np

    mass, _ = ts.label("ln_mass")
    has = np.isfinite(mass)
    return {key: [float(np.nanmin(ts.label(key)[0][has])), float(np.nanmax(ts.label(key)[0][has]))]
            for key in ("teff", "logg", "m_h")}


def _calibrate(args: argparse.Namespace) -> int:
    from bayesxp.evaluation.campaign import calibrate_command

    overrides = {k: v for k, v in {"baseline": args.baseline, "max_stars": args.max_stars,
                                   "num_samples": args.num_samples}.items() if v is not None}
    if args.skip_baseline:
        overrides["skip_baseline"] = True
    if args.no_recalibration:
        overrides["recalibrate"] = False
    return calibrate_command(args.model, args.labels, args.output, config=args.config, **overrides)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests)."""
    parser = argparse.ArgumentParser(prog="bayesxp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"bayesxp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="training-set commands")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    build = data_commands.add_parser("build", help="build the training set and print its summary")
    build.add_argument("--config", default=None, help="YAML filling DataConfig (e.g. configs/data.yaml)")
    build.add_argument("--output", default="runs/data", help="folder for summary.md/.json and the figure")
    build.add_argument("--no-cache", action="store_true", help="rebuild everything, ignoring the cache")
    build.set_defaults(handler=_data_build)

    predict = commands.add_parser("predict", help="posteriors for every star of a file")
    predict.add_argument("--input", required=True, help="Gaia archive XP continuous file or sampled-spectrum table")
    predict.add_argument("--output", required=True, help="output table (.csv, .ecsv, .fits, .parquet)")
    predict.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    predict.add_argument("--num-samples", type=int, default=200, help="posterior samples per star")
    predict.add_argument("--batch-size", type=int, default=1024, help="stars per batch (bounds memory)")
    predict.add_argument("--context", choices=["full", "spectrum"], default="full",
                         help="use photometry columns when present (full) or the spectrum alone")
    predict.add_argument("--seed", type=int, default=0)
    predict.add_argument("--quiet", action="store_true")
    predict.set_defaults(handler=_predict)

    calibrate = commands.add_parser("calibrate", help="calibration campaign of a model against labels")
    calibrate.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    calibrate.add_argument("--labels", required=True,
                           help="'test-split', 'seismic-dev', a CSV in the xp_seismic_dev layout, or a DistMass FITS")
    calibrate.add_argument("--output", required=True, help="report folder")
    calibrate.add_argument("--config", default=None, help="YAML filling CampaignConfig")
    calibrate.add_argument("--baseline", default=None, help="XGBoost baseline folder (default: fit or reuse)")
    calibrate.add_argument("--skip-baseline", action="store_true")
    calibrate.add_argument("--max-stars", type=int, default=None)
    calibrate.add_argument("--num-samples", type=int, default=None)
    calibrate.add_argument("--no-recalibration", action="store_true")
    calibrate.set_defaults(handler=_calibrate)

    train = commands.add_parser("train", help="train the foundation model")
    train.add_argument("--config", default="configs/model.yaml", help="YAML filling RunConfig")
    train.add_argument("--output", default=None, help="run folder (overrides the config)")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(handler=_train)

    heads = commands.add_parser("fit-heads", help="fit the Bayesian heads on a trained foundation model")
    heads.add_argument("--foundation", required=True, help="foundation model folder (runs/<name>/model)")
    heads.add_argument("--output", required=True, help="full model folder to write")
    heads.add_argument("--config", default="configs/heads.yaml", help="YAML filling HeadsConfig")
    heads.add_argument("--data-config", default="configs/data.yaml", help="YAML filling DataConfig")
    heads.add_argument("--method", choices=["svi", "nuts"], default="svi")
    heads.set_defaults(handler=_fit_heads)

    demo = commands.add_parser("demo", help="the main job on the bundled demo stars")
    demo.add_argument("--output", default="bayesxp_demo_output", help="output folder")
    demo.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    demo.add_argument("--num-samples", type=int, default=200, help="posterior samples per star")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (errors print one clear line, no traceback).

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a user error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BayesXPError as exc:
        print(f"bayesxp: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, a vanished file: one line, no traceback
        from bayesxp.io.tables import os_error_reason

        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"bayesxp: error: {where}{os_error_reason(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
