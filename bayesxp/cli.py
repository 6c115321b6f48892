"""The ``bayesxp`` command line: each subcommand is one call into the public API.

- ``bayesxp data build [--config FILE] [--output DIR]``: build the training set, print its summary,
  write ``summary.md``, ``summary.json`` and ``label_distributions.png``.
- ``bayesxp demo [--output DIR]``: the main job on the bundled demo stars with the shipped model.
- ``bayesxp predict --input FILE --output FILE [--model DIR] [--num-samples S]``: posteriors per star.
- ``bayesxp generate --labels FILE --output FILE [--model DIR]``: the predictive XP spectrum of given labels.
- ``bayesxp inpaint --input FILE --output FILE --mask SPEC [--mask SPEC ...] [--method model|linear]``: masked
  flux predicted from the rest.
- ``bayesxp ppc --input FILE --output FILE [--model DIR]``: posterior predictive check per star.
- ``bayesxp fit-mcmc --input FILE --output DIR [--source-id ID]``: an emcee fit of each star's labels.
- ``bayesxp calibrate --config calibration/configs/NAME.yaml [--model DIR] [--labels FILE] [--output DIR]``:
  a calibration campaign.
- ``bayesxp train --config configs/model.yaml``: train the foundation model.
- ``bayesxp fit-heads --foundation DIR --output DIR``: fit the Bayesian heads on it.
"""

from __future__ import annotations

import argparse
import json
import sys

from bayesxp._version import __version__
from bayesxp.errors import BayesXPError
from bayesxp.quantities import unit_name

__all__ = ["main", "build_parser"]


def _data_build(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.data.summary import summary_markdown, write_summary

    overrides = {"use_cache": False} if args.no_cache else {}
    training_set = build_training_set(load_config(DataConfig, args.config, **overrides), progress=True)
    print(summary_markdown(training_set))
    paths = write_summary(training_set, args.output)
    print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bayesxp.data.demo import format_demo_summary, run_demo
    from bayesxp.model.bayesian import load

    result = run_demo(load(args.model), args.output, num_samples=args.num_samples)
    print(format_demo_summary(result))
    print(f"wrote {result.table_path} and {result.figure_path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from bayesxp.predict import predict_file

    result = predict_file(args.input, args.output, model_path=args.model, num_samples=args.num_samples,
                          batch_size=args.batch_size, context=args.context, seed=args.seed, progress=not args.quiet)
    failed = ", ".join(f"{n} {reason}" for reason, n in result["failed"].items()) or "none"
    print(f"wrote {args.output}: {result['stars']} stars, {result['ok']} predicted; no prediction: {failed} "
          f"({result['seconds']:.1f} s)")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from bayesxp.predict import generate_file

    result = generate_file(args.labels, args.output, model_path=args.model)
    failed = ", ".join(f"{n} {reason}" for reason, n in result["failed"].items()) or "none"
    print(f"wrote {args.output}: {result['stars']} rows, {result['ok']} spectra generated; none for: {failed} "
          f"({result['seconds']:.1f} s)")
    return 0


def _mask_spec(text: str) -> str:
    """argparse type of ``--mask``: a spec :func:`~bayesxp.model.inpaint.parse_mask` reads (else a usage error)."""
    from bayesxp.model.inpaint import parse_mask

    try:
        parse_mask(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _inpaint(args: argparse.Namespace) -> int:
    from bayesxp.predict import inpaint_file

    result = inpaint_file(args.input, args.output, args.mask, model_path=args.model, method=args.method,
                          batch_size=args.batch_size)
    print(f"wrote {args.output}: {result['stars']} stars, {result['ok']} inpainted, {result['predicted_samples']} "
          f"flux samples predicted ({result['seconds']:.1f} s)")
    return 0


def _ppc(args: argparse.Namespace) -> int:
    from bayesxp.predict import ppc_file

    result = ppc_file(args.input, args.output, model_path=args.model, num_samples=args.num_samples,
                      context=args.context, seed=args.seed, batch_size=args.batch_size)
    print(f"wrote {args.output}: {result['stars']} stars, {result['ok']} checked, {result['below_0.01']} with "
          f"p < 0.01 ({result['seconds']:.1f} s)")
    return 0


def _fit_mcmc(args: argparse.Namespace) -> int:
    from bayesxp.predict import fit_mcmc_file

    result = fit_mcmc_file(args.input, args.output, model_path=args.model, source_id=args.source_id,
                           n_walkers=args.n_walkers, n_steps=args.n_steps, burn=args.burn, seed=args.seed)
    print(f"wrote {args.output}: {result['stars']} stars, {result['ok']} fitted ({result['seconds']:.0f} s)")
    return 0


def _train(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.model.train import RunConfig, train_run

    overrides = {"output": args.output} if args.output else {}
    summary = train_run(load_config(RunConfig, args.config, **overrides), progress=not args.quiet)
    print(json.dumps({k: v for k, v in summary.items() if k != "validation"}, default=str))
    return 0


def _fit_heads(args: argparse.Namespace) -> int:
    from bayesxp.model.fit_heads import fit_heads_folder

    fit_heads_folder(args.foundation, args.output, args.config, args.data_config, method=args.method)
    print(f"wrote {args.output}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from bayesxp.evaluation import calibrate_command

    return calibrate_command(
        args.config, model=args.model, labels=args.labels, output=args.output, baseline=args.baseline,
        skip_baseline=True if args.skip_baseline else None, max_stars=args.max_stars,
        max_calibration_stars=args.max_calibration_stars, num_samples=args.num_samples,
        recalibrate=False if args.no_recalibration else None, threads=args.threads, progress=not args.quiet,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests).

    Returns:
        The parser of every subcommand; each sets ``handler``, the function that runs it.

    Example:
        >>> build_parser().parse_args(["demo"]).output
        'bayesxp_demo_output'
    """
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

    generate = commands.add_parser(
        "generate", help="the predictive XP spectrum of stars with given labels",
        description="Generate XP sampled spectra (mean and predictive std on 336..1020 nm) from labels; e.g. "
                    "bayesxp generate --labels labels.csv --output spectra.parquet, with columns teff, logg, m_h, "
                    f"alpha_m, mass [{unit_name('mass')}], age [{unit_name('age')}] and optionally bp_rp, j_h, j_k, "
                    "ak_targ")
    generate.add_argument("--labels", required=True, help="table of labels (.csv, .ecsv, .fits, .parquet)")
    generate.add_argument("--output", required=True, help="output table: the labels plus flux, flux_error, status")
    generate.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    generate.set_defaults(handler=_generate)

    inpaint = commands.add_parser(
        "inpaint", help="predict masked parts of XP spectra from the rest, with uncertainties",
        description="Withhold part of every spectrum (all of BP, all of RP, or wavelength ranges in nm) and predict it "
                    "from the rest: the training-split giant population conditioned on the seen flux, times the "
                    "model's predictions of the coefficients the mask leaves undetermined (--method linear: the "
                    "population alone). Samples missing in the input are predicted too; e.g. bayesxp inpaint "
                    "--input XP_SAMPLED.csv --output inpainted.parquet --mask bp --mask 850-890")
    inpaint.add_argument("--input", required=True, help="any file predict reads")
    inpaint.add_argument("--output", required=True, help="output table: source_id, flux, flux_error, flux_inpainted, "
                         "flux_inpainted_error, inpainted_mask, n_model_tokens, status")
    inpaint.add_argument("--mask", required=True, action="append", type=_mask_spec,
                         help="bp, rp or LO-HI in nm (e.g. 500-540); repeat for a union")
    inpaint.add_argument("--method", choices=["model", "linear"], default="model")
    inpaint.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    inpaint.add_argument("--batch-size", type=int, default=1024, help="stars per batch (bounds memory)")
    inpaint.set_defaults(handler=_inpaint)

    ppc = commands.add_parser(
        "ppc", help="posterior predictive check of every star's spectrum",
        description="Draw each star's labels from its posterior, generate its spectrum, and compare with the observed "
                    "one: per star the discrepancy over the 80 spectral tokens (chi2) and the posterior predictive "
                    "p-value; e.g. bayesxp ppc --input XP_SAMPLED.csv --output ppc.csv")
    ppc.add_argument("--input", required=True, help="any file predict reads")
    ppc.add_argument("--output", required=True, help="output table: source_id, chi2, n_tokens, ppc_pvalue, status")
    ppc.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ppc.add_argument("--num-samples", type=int, default=100, help="posterior draws per star")
    ppc.add_argument("--context", choices=["full", "spectrum"], default="full")
    ppc.add_argument("--batch-size", type=int, default=1024, help="stars per batch (bounds memory)")
    ppc.add_argument("--seed", type=int, default=0)
    ppc.set_defaults(handler=_ppc)

    mcmc = commands.add_parser(
        "fit-mcmc", help="emcee fit of each star's labels to its spectrum (slow: minutes per star)",
        description="Sample Teff, logg, [M/H], [alpha/M], mass and age of each star with emcee, the model's "
                    "generative direction as the likelihood, from the amortised posterior median; writes the chains "
                    "(ArviZ netCDF), corner plots and summary.csv; e.g. bayesxp fit-mcmc --input stars.csv "
                    "--output mcmc_out --source-id 1515663692124470528")
    mcmc.add_argument("--input", required=True, help="any file predict reads")
    mcmc.add_argument("--output", required=True, help="output folder")
    mcmc.add_argument("--source-id", type=int, default=None, help="fit only this star")
    mcmc.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    mcmc.add_argument("--n-walkers", type=int, default=32)
    mcmc.add_argument("--n-steps", type=int, default=1500)
    mcmc.add_argument("--burn", type=int, default=500)
    mcmc.add_argument("--seed", type=int, default=0)
    mcmc.set_defaults(handler=_fit_mcmc)

    calibrate = commands.add_parser(
        "calibrate", help="calibration campaign of a model against labels",
        description="Judge a model's posteriors against truth; e.g. "
                    "bayesxp calibrate --config calibration/configs/seismic_dev.yaml")
    calibrate.add_argument("--config", default=None,
                           help="YAML filling CampaignConfig (calibration/configs/*.yaml); flags override it")
    calibrate.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    calibrate.add_argument("--labels", default=None,
                           help="'test-split', 'seismic-dev', a CSV in the xp_seismic_dev layout, or a DistMass FITS")
    calibrate.add_argument("--output", default=None, help="report folder (default: from the config)")
    calibrate.add_argument("--baseline", default=None, help="XGBoost baseline folder (default: fit or reuse)")
    calibrate.add_argument("--skip-baseline", action="store_true")
    calibrate.add_argument("--max-stars", type=int, default=None, help="judge at most this many stars")
    calibrate.add_argument("--max-calibration-stars", type=int, default=None,
                           help="validation stars for the recalibration fits")
    calibrate.add_argument("--num-samples", type=int, default=None, help="posterior samples per star")
    calibrate.add_argument("--no-recalibration", action="store_true")
    calibrate.add_argument("--threads", type=int, default=None, help="torch threads")
    calibrate.add_argument("--quiet", action="store_true")
    calibrate.set_defaults(handler=_calibrate)

    train = commands.add_parser("train", help="train the foundation model")
    train.add_argument("--config", default="configs/model.yaml", help="YAML filling RunConfig")
    train.add_argument("--output", default=None, help="run folder (overrides the config)")
    train.add_argument("--quiet", action="store_true")
    train.set_defaults(handler=_train)

    heads = commands.add_parser("fit-heads", help="fit the Bayesian heads on a trained foundation model")
    heads.add_argument("--foundation", required=True, help="foundation model folder (runs/<name>/model)")
    heads.add_argument("--output", required=True, help="full model folder to write")
    heads.add_argument("--config", default="configs/heads.yaml", help="YAML filling HeadFittingConfig")
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

    Example:
        >>> main(["predict", "--input", "no_such_file.csv", "--output", "out.csv"])  # the error goes to stderr
        2
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
