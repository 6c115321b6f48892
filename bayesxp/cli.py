"""The ``bayesxp`` command line: each subcommand is one call into the public API.

Start with ``bayesxp run --input XP_CONTINUOUS_RAW.csv`` (without ``--input``: the bundled demo stars); every
subcommand's ``--help`` ends with an example to copy.

- ``bayesxp run [--input FILE] [--output DIR] [--model DIR] [--baseline DIR]``: the main job: posteriors of
  every star, their report and the comparison with the XGBoost baseline.
- ``bayesxp predict --input FILE --output FILE [--model DIR] [--num-samples S]``: posteriors per star.
- ``bayesxp generate --input FILE --output FILE [--model DIR]``: the predictive XP spectrum of given labels
  (``--labels`` is accepted for ``--input``).
- ``bayesxp inpaint --input FILE --output FILE --mask SPEC [--mask SPEC ...] [--method model|linear]``: masked
  flux predicted from the rest.
- ``bayesxp ppc --input FILE --output FILE [--model DIR]``: posterior predictive check per star.
- ``bayesxp fit-mcmc --input FILE --output DIR [--source-id ID]``: an emcee fit of each star's labels.
- ``bayesxp calibrate --config calibration/configs/NAME.yaml [--model DIR] [--labels FILE] [--output DIR]``:
  a calibration campaign.
- ``bayesxp data build [--config FILE] [--output DIR]``: build the training set, print its summary,
  write ``summary.md``, ``summary.json`` and ``label_distributions.png``.
- ``bayesxp train --config configs/model.yaml``: train the foundation model.
- ``bayesxp fit-heads --foundation DIR --output DIR``: fit the Bayesian heads on it.
- ``bayesxp demo [--output DIR]``: posteriors of the bundled demo stars with the shipped model.

Exit codes:

- 0: success.
- 1: an internal error, a bug in bayesxp: the traceback is printed, with a line asking to report it.
- 2: a mistake in the command or its files: a usage error (unknown flag, missing argument, bad value), an
  input that is missing or cannot be read, an output that cannot be written, a bad config or model folder;
  one ``bayesxp: error: ...`` line on stderr, no traceback.
- 130: interrupted (Ctrl-C); ``predict`` resumes from its last finished batch when the same command is rerun.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import traceback
from collections.abc import Callable
from typing import NoReturn

from bayesxp._version import __version__
from bayesxp.errors import BayesXPError, ConfigError
from bayesxp.quantities import unit_name

__all__ = ["main", "build_parser", "EXIT_CODES"]

EXIT_CODES = {0: "success",
              1: "internal error (a bug in bayesxp): the traceback is printed; please report it",
              2: "a mistake in the command or its files: unknown flag or bad value, missing or unreadable input,\n"
                 "       unwritable output, bad config or model folder (one 'bayesxp: error:' line)",
              130: "interrupted (Ctrl-C); rerun the same predict command to resume it"}
"""What each exit status of ``bayesxp`` means (also in the module docstring and ``bayesxp --help``)."""

RESUMABLE = {"predict"}
"""Subcommands that pick up where they stopped when the same command is rerun."""


def _data_build(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.data.summary import summary_markdown, write_summary

    overrides = {"use_cache": False} if args.no_cache else {}
    training_set = build_training_set(load_config(DataConfig, args.config, **overrides), progress=not args.quiet)
    print(summary_markdown(training_set))
    paths = write_summary(training_set, args.output)
    print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from bayesxp.report import run_job

    result = run_job(input=args.input, output=args.output, model=args.model, num_samples=args.num_samples,
                     baseline=args.baseline, seed=args.seed, progress=not args.quiet)
    failed = ", ".join(f"{n} {reason}" for reason, n in result.failed.items()) or "none"
    stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in result.stage_seconds.items())
    print(f"{result.stars} stars, {result.ok} predicted; no prediction: {failed} ({result.seconds:.1f} s: {stages})")
    print(f"wrote {result.predictions_path}, {result.posterior_path} and {result.report_path}")
    print(f"open {result.report_path}")
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

    result = generate_file(args.input, args.output, model_path=args.model, batch_size=args.batch_size)
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


def _positive_int(text: str) -> int:
    """argparse type of a count (``--num-samples``, ``--batch-size``, ...): a whole number of at least 1.

    Example:
        >>> _positive_int("200")
        200
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
    from bayesxp.model.mcmc import MCMCConfig
    from bayesxp.predict import fit_mcmc_file

    try:  # the sampler's own rules (walkers, burn-in) refuse bad flags before any work, as a user error
        MCMCConfig(n_walkers=args.n_walkers, n_steps=args.n_steps, burn=args.burn)
    except ValueError as exc:
        raise ConfigError(f"fit-mcmc: {exc}") from None
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

    fit_heads_folder(args.foundation, args.output, args.config, args.data_config, method=args.method,
                     progress=not args.quiet)
    print(f"wrote {args.output}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from bayesxp.evaluation import calibrate_command

    return calibrate_command(
        args.config, model=args.model, labels=args.labels, output=args.output, baseline=args.baseline,
        skip_baseline=True if args.skip_baseline else None, max_stars=args.max_stars,
        max_calibration_stars=args.max_calibration_stars, num_samples=args.num_samples, seed=args.seed,
        recalibrate=False if args.no_recalibration else None, threads=args.threads, progress=not args.quiet,
    )


_HELP: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # name: (one line for `bayesxp --help`, description, examples)
    "run": (
        "the main job: posteriors of every star and their report (start here)",
        "The main job: joint posteriors of mass, age, Teff, logg and [M/H] for every star of a Gaia XP file "
        "(without --input: the bundled demo stars). The output folder gets predictions.csv (one row per star, the "
        "predict contract), posterior.nc (ArviZ: posterior, posterior_predictive, observed_data), ppc.csv and "
        "report.html: one self-contained page with per-star summaries, corner plots, the posterior predictive "
        "check, calibration against the labels the input carries, age-metallicity and mass-luminosity views, "
        "the XGBoost comparison and the model card. At most 10,000 stars (bayesxp predict streams any size).",
        ("bayesxp run", "bayesxp run --input XP_CONTINUOUS_RAW.csv --output my_run --num-samples 500")),
    "predict": (
        "posteriors for every star of a file",
        "Posteriors of mass, age, Teff, logg and [M/H] for every star of a Gaia archive XP continuous file "
        "(CSV, ECSV, FITS, Parquet, Avro) or a sampled-spectrum table: one row per star with a status. An "
        "interrupted run resumes from its last finished batch when the same command is rerun.",
        ("bayesxp predict --input XP_CONTINUOUS_RAW.csv --output posteriors.csv",
         "bayesxp predict --input XP_CONTINUOUS_RAW.fits --output posteriors.parquet --model runs/full_model "
         "--num-samples 500")),
    "generate": (
        "the predictive XP spectrum of stars with given labels",
        "Generate XP sampled spectra (mean and predictive std on 336..1020 nm) from a table of labels with "
        f"columns teff, logg, m_h, alpha_m, mass [{unit_name('mass')}], age [{unit_name('age')}] and optionally "
        "bp_rp, j_h, j_k, ak_targ. --labels is accepted for --input.",
        ("bayesxp generate --input labels.csv --output spectra.parquet",)),
    "inpaint": (
        "predict masked parts of XP spectra from the rest, with uncertainties",
        "Withhold part of every spectrum (all of BP, all of RP, or wavelength ranges in nm) and predict it from "
        "the rest: the training-split giant population conditioned on the seen flux, times the model's "
        "predictions of the coefficients the mask leaves undetermined (--method linear: the population alone). "
        "Samples missing in the input are predicted too.",
        ("bayesxp inpaint --input XP_SAMPLED.csv --output inpainted.parquet --mask bp --mask 850-890",)),
    "ppc": (
        "posterior predictive check of every star's spectrum",
        "Draw each star's labels from its posterior, generate its spectrum, and compare with the observed one: "
        "per star the discrepancy over the 80 spectral tokens (chi2) and the posterior predictive p-value.",
        ("bayesxp ppc --input XP_CONTINUOUS_RAW.csv --output ppc.csv",)),
    "fit-mcmc": (
        "emcee fit of each star's labels to its spectrum (slow: minutes per star)",
        "Sample Teff, logg, [M/H], [alpha/M], mass and age of each star with emcee, the model's generative "
        "direction as the likelihood, from the amortised posterior median; writes the chains (ArviZ netCDF), "
        "corner plots and summary.csv.",
        ("bayesxp fit-mcmc --input XP_CONTINUOUS_RAW.csv --output mcmc_out --source-id 1515663692124470528",)),
    "calibrate": (
        "calibration campaign of a model against labels",
        "Judge a model's posteriors against truth labels (the test split, the seismic dev set, a seismic CSV or "
        "a DistMass FITS), side by side with the XGBoost baseline: a Markdown report, a JSON of every number and "
        "figures. Flags override the config.",
        ("bayesxp calibrate --config calibration/configs/seismic_dev.yaml",
         "bayesxp calibrate --config calibration/configs/test_split.yaml --model runs/full_model "
         "--max-stars 500")),
    "data": (
        "training-set commands",
        "Commands on the training set (see bayesxp data build --help).",
        ("bayesxp data build --config configs/data.yaml",)),
    "data build": (
        "build the training set and print its summary",
        "Build the training set from the XP library and the seismic catalogues (cached), print its summary and "
        "write summary.md, summary.json and label_distributions.png.",
        ("bayesxp data build --config configs/data.yaml --output runs/data",)),
    "train": (
        "train the foundation model",
        "Train the foundation model with the settings of a RunConfig YAML; the run folder keeps the checkpoints "
        "and the resolved config (several processes: torchrun --nproc_per_node N -m bayesxp.model.train).",
        ("bayesxp train --config configs/model.yaml",)),
    "fit-heads": (
        "fit the Bayesian heads on a trained foundation model",
        "Fit the Bayesian (Pyro) heads on a trained foundation model and write the full model folder that "
        "run, predict and calibrate read with --model.",
        ("bayesxp fit-heads --foundation runs/foundation/model --output runs/full_model",)),
    "demo": (
        "posteriors of the bundled demo stars (bayesxp run does the whole job)",
        "Posteriors of the 240 bundled demo giants with the shipped model: a table against APOGEE, "
        "demo_posteriors.csv and a corner plot.",
        ("bayesxp demo --output bayesxp_demo_output",)),
}
"""Help of every subcommand, in the order ``bayesxp --help`` lists them; every one carries an example."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors read like every other user error: one ``bayesxp: error:`` line
    (after the usage of the command at fault), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"bayesxp: error: {message}\n")


def _add_command(commands: argparse._SubParsersAction, name: str,
                 handler: Callable[[argparse.Namespace], int] | None = None) -> argparse.ArgumentParser:
    """A subcommand's parser with the help of :data:`_HELP` (examples keep their lines)."""
    summary, description, examples = _HELP[name]
    heading = "Examples:" if len(examples) > 1 else "Example:"
    parser = commands.add_parser(name.split()[-1], help=summary, description=textwrap.fill(description, 79),
                                 epilog="\n".join([heading, *(f"  {e}" for e in examples)]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def _model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, metavar="DIR", help="model folder (default: the shipped model)")


def _num_samples(parser: argparse.ArgumentParser, default: int | None,
                 what: str = "posterior samples per star") -> None:
    shown = default if default is not None else "from the config"
    parser.add_argument("--num-samples", type=_positive_int, default=default, metavar="N",
                        help=f"{what} (default: {shown})")


def _batch_size(parser: argparse.ArgumentParser, default: int) -> None:
    parser.add_argument("--batch-size", type=_positive_int, default=default, metavar="N",
                        help=f"stars per batch, bounds memory (default: {default})")


def _seed(parser: argparse.ArgumentParser, default: int | None = 0) -> None:
    shown = default if default is not None else "from the config"
    parser.add_argument("--seed", type=int, default=default, metavar="N",
                        help=f"seed of the random draws (default: {shown})")


def _quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests).

    Returns:
        The parser of every subcommand; each sets ``handler``, the function that runs it.

    Example:
        >>> build_parser().parse_args(["demo"]).output
        'bayesxp_demo_output'
        >>> build_parser().parse_args(["generate", "--labels", "labels.csv", "--output", "s.csv"]).input
        'labels.csv'
    """
    codes = "\n".join(f"  {code:<5}{meaning}" for code, meaning in EXIT_CODES.items())
    parser = _Parser(
        prog="bayesxp", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Calibrated Bayesian posteriors of red-giant mass and age (and Teff, logg, [M/H]) from Gaia XP "
                    "spectra.",
        epilog="Start here (the bundled demo stars, then your own Gaia XP file):\n  bayesxp run\n"
               "  bayesxp run --input XP_CONTINUOUS_RAW.csv --output my_run\n\n"
               "Every command's --help ends with an example, e.g. bayesxp predict --help.\n\n"
               f"Exit codes:\n{codes}")
    parser.add_argument("--version", action="version", version=f"bayesxp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _add_command(commands, "run", _run)
    run.add_argument("--input", default=None, metavar="FILE",
                     help="any file predict reads (default: the bundled demo stars)")
    run.add_argument("--output", default="bayesxp_run", metavar="DIR", help="output folder (default: bayesxp_run)")
    _model(run)
    _num_samples(run, 200)
    run.add_argument("--baseline", default=None, metavar="DIR",
                     help="XGBoost baseline folder for the comparison (default: a fitted one if found, else the "
                          "report says it is not available)")
    _seed(run)
    _quiet(run)

    predict = _add_command(commands, "predict", _predict)
    predict.add_argument("--input", required=True, metavar="FILE",
                         help="Gaia archive XP continuous file or sampled-spectrum table")
    predict.add_argument("--output", required=True, metavar="FILE",
                         help="output table (.csv, .ecsv, .fits, .parquet)")
    _model(predict)
    _num_samples(predict, 200)
    _batch_size(predict, 1024)
    predict.add_argument("--context", choices=["full", "spectrum"], default="full",
                         help="use photometry columns when present (full) or the spectrum alone")
    _seed(predict)
    _quiet(predict)

    generate = _add_command(commands, "generate", _generate)
    generate.add_argument("--input", "--labels", dest="input", required=True, metavar="FILE",
                          help="table of labels (.csv, .ecsv, .fits, .parquet)")
    generate.add_argument("--output", required=True, metavar="FILE",
                          help="output table: the labels plus flux, flux_error, status")
    _model(generate)
    _batch_size(generate, 256)

    inpaint = _add_command(commands, "inpaint", _inpaint)
    inpaint.add_argument("--input", required=True, metavar="FILE", help="any file predict reads")
    inpaint.add_argument("--output", required=True, metavar="FILE",
                         help="output table: source_id, flux, flux_error, flux_inpainted, flux_inpainted_error, "
                              "inpainted_mask, n_model_tokens, status")
    inpaint.add_argument("--mask", required=True, action="append", type=_mask_spec, metavar="SPEC",
                         help="bp, rp or LO-HI in nm (e.g. 500-540); repeat for a union")
    inpaint.add_argument("--method", choices=["model", "linear"], default="model")
    _model(inpaint)
    _batch_size(inpaint, 1024)

    ppc = _add_command(commands, "ppc", _ppc)
    ppc.add_argument("--input", required=True, metavar="FILE", help="any file predict reads")
    ppc.add_argument("--output", required=True, metavar="FILE",
                     help="output table: source_id, chi2, n_tokens, ppc_pvalue, status")
    _model(ppc)
    _num_samples(ppc, 100, "posterior draws per star")
    ppc.add_argument("--context", choices=["full", "spectrum"], default="full")
    _batch_size(ppc, 1024)
    _seed(ppc)

    mcmc = _add_command(commands, "fit-mcmc", _fit_mcmc)
    mcmc.add_argument("--input", required=True, metavar="FILE", help="any file predict reads")
    mcmc.add_argument("--output", required=True, metavar="DIR", help="output folder")
    mcmc.add_argument("--source-id", type=int, default=None, metavar="ID", help="fit only this star")
    _model(mcmc)
    mcmc.add_argument("--n-walkers", type=int, default=32, metavar="N", help="emcee walkers (default: 32)")
    mcmc.add_argument("--n-steps", type=int, default=1500, metavar="N", help="steps per walker (default: 1500)")
    mcmc.add_argument("--burn", type=int, default=500, metavar="N", help="steps discarded first (default: 500)")
    _seed(mcmc)

    calibrate = _add_command(commands, "calibrate", _calibrate)
    calibrate.add_argument("--config", default=None, metavar="FILE",
                           help="YAML filling CampaignConfig (calibration/configs/*.yaml); flags override it")
    _model(calibrate)
    calibrate.add_argument("--labels", default=None, metavar="SOURCE",
                           help="truth labels: 'test-split', 'seismic-dev', a CSV in the xp_seismic_dev layout, "
                                "or a DistMass FITS")
    calibrate.add_argument("--output", default=None, metavar="DIR", help="report folder (default: from the config)")
    calibrate.add_argument("--baseline", default=None, metavar="DIR",
                           help="XGBoost baseline folder (default: fit or reuse)")
    calibrate.add_argument("--skip-baseline", action="store_true", help="judge bayesxp alone")
    calibrate.add_argument("--max-stars", type=_positive_int, default=None, metavar="N",
                           help="judge at most this many stars")
    calibrate.add_argument("--max-calibration-stars", type=_positive_int, default=None, metavar="N",
                           help="validation stars for the recalibration fits")
    _num_samples(calibrate, None)
    _seed(calibrate, None)
    calibrate.add_argument("--no-recalibration", action="store_true", help="judge the raw posteriors alone")
    calibrate.add_argument("--threads", type=_positive_int, default=None, metavar="N", help="torch threads")
    _quiet(calibrate)

    data = _add_command(commands, "data")
    build = _add_command(data.add_subparsers(dest="data_command", required=True, metavar="COMMAND"), "data build",
                         _data_build)
    build.add_argument("--config", default=None, metavar="FILE",
                       help="YAML filling DataConfig (e.g. configs/data.yaml)")
    build.add_argument("--output", default="runs/data", metavar="DIR",
                       help="folder for summary.md/.json and the figure (default: runs/data)")
    build.add_argument("--no-cache", action="store_true", help="rebuild everything, ignoring the cache")
    _quiet(build)

    train = _add_command(commands, "train", _train)
    train.add_argument("--config", default="configs/model.yaml", metavar="FILE",
                       help="YAML filling RunConfig (default: configs/model.yaml)")
    train.add_argument("--output", default=None, metavar="DIR", help="run folder (overrides the config)")
    _quiet(train)

    heads = _add_command(commands, "fit-heads", _fit_heads)
    heads.add_argument("--foundation", required=True, metavar="DIR",
                       help="foundation model folder (runs/<name>/model)")
    heads.add_argument("--output", required=True, metavar="DIR", help="full model folder to write")
    heads.add_argument("--config", default="configs/heads.yaml", metavar="FILE",
                       help="YAML filling HeadFittingConfig (default: configs/heads.yaml)")
    heads.add_argument("--data-config", default="configs/data.yaml", metavar="FILE",
                       help="YAML filling DataConfig (default: configs/data.yaml)")
    heads.add_argument("--method", choices=["svi", "nuts"], default="svi")
    _quiet(heads)

    demo = _add_command(commands, "demo", _demo)
    demo.add_argument("--output", default="bayesxp_demo_output", metavar="DIR",
                      help="output folder (default: bayesxp_demo_output)")
    _model(demo)
    _num_samples(demo, 200)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status; a user mistake is one clear line on stderr, never a traceback.

    Exit codes: 0 success; 1 an internal error, a bug (a line asking to report it, then the traceback);
    2 a user mistake: usage errors (argparse raises ``SystemExit(2)``), and any
    :class:`~bayesxp.errors.BayesXPError` or ``OSError`` (a missing or unreadable input, config or model
    folder, an unwritable output), printed as one ``bayesxp: error: ...`` line; 130 interrupted by Ctrl-C
    (one ``bayesxp: interrupted`` line; ``predict`` resumes when rerun). ``--help`` and ``--version`` raise
    ``SystemExit(0)``.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0, 1, 2 or 130.

    Example:
        >>> main(["predict", "--input", "no_such_file.csv", "--output", "out.csv"])  # the error goes to stderr
        2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        resumable = args.command in RESUMABLE
        hint = "; rerun the same command to resume from the last finished batch" if resumable else ""
        print(f"bayesxp: interrupted{hint}", file=sys.stderr)
        return 130
    except BayesXPError as exc:
        print(f"bayesxp: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a missing path, disk full, permissions, a vanished file: one line, no traceback
        from bayesxp.io.tables import os_error_reason

        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"bayesxp: error: {where}{os_error_reason(exc)}", file=sys.stderr)
        return 2
    except Exception:  # a bug: say so first, then the traceback, whose last line names the exception
        print(f"bayesxp: internal error (a bug, not a mistake in your command); please report it with the command "
              f"and this traceback (bayesxp {__version__}):", file=sys.stderr)
        traceback.print_exc()
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
