"""Running a campaign: config -> truths -> predictions -> judge -> report files; the ``bayesxp calibrate`` body.

- :func:`build_truth`: the truth table of a config's label source;
- :func:`judge_predictions`: judge predictions already made and assemble (and write) the results;
- :func:`run_campaign`: the whole campaign from a :class:`~bayesxp.evaluation.config.CampaignConfig`;
- :func:`write_outputs`: ``results.json``, ``report.md``, ``config.yaml`` and the figures, each atomically;
- :func:`calibrate_command`: ``bayesxp calibrate --config FILE [overrides]``;
- :func:`versions`, :func:`summary_lines`: what is recorded and printed.

This is the one module that unpacks a :class:`~bayesxp.evaluation.config.CampaignConfig`: truth builders,
predictors and judges take explicit arguments.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesxp._version import __version__
from bayesxp.calibration.report import to_json_ready
from bayesxp.config import save_config, to_dict
from bayesxp.errors import ConfigError
from bayesxp.evaluation.config import CampaignConfig, load_campaign_config
from bayesxp.evaluation.figures import draw_figures
from bayesxp.evaluation.judge import evaluate_campaign
from bayesxp.evaluation.predictors import load_or_fit_baseline, predict_baseline, predict_bayesxp
from bayesxp.evaluation.report import NOTES, coverage_cell, format_number, report_markdown
from bayesxp.evaluation.truth import (
    Truth,
    distmass_truth,
    load_training_set,
    seismic_dev_truth,
    subsample,
    truth_of_test_split,
    validation_truth,
)
from bayesxp.io.tables import atomic_path
from bayesxp.posterior import Posterior

__all__ = [
    "build_truth",
    "judge_predictions",
    "run_campaign",
    "write_outputs",
    "calibrate_command",
    "versions",
    "summary_lines",
]


def build_truth(config: CampaignConfig, training_set: Any | None = None) -> Truth:
    """The stars and truths of a campaign's label source.

    Args:
        config: The campaign (``labels``, ``data_dir``, ``require_selection``, the DistMass fractional
            errors, ``max_stars``, ``seed``).
        training_set: A built TrainingSet to reuse (test-split source only; default: built or loaded
            from the cache).

    Returns:
        The truth table (subsampled to ``max_stars`` when set).

    Raises:
        InputFileError: A label file that cannot be read or matches no library row.
        ConfigError: A label source that is neither a known word nor a .csv/.fits path.

    Example:
        >>> truth = build_truth(CampaignConfig(labels="seismic-dev"))  # doctest: +SKIP
    """
    try:
        kind = config.source_kind
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if kind == "test-split":
        stars = training_set if training_set is not None else load_training_set(config.data_dir)
        truth = truth_of_test_split(stars)
    elif kind == "seismic":
        path = None if config.labels == "seismic-dev" else config.labels
        truth = seismic_dev_truth(path, config.data_dir, config.require_selection)
    else:
        truth = distmass_truth(
            config.labels,
            config.distmass_mass_fractional_error,
            config.distmass_age_fractional_error,
            config.require_selection,
        )
    return subsample(truth, config.max_stars, config.seed)


def judge_predictions(
    config: CampaignConfig,
    truth: Truth,
    models: Mapping[str, Posterior],
    validation: tuple[Truth, Mapping[str, Posterior]] | None = None,
    model_sources: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    command: str | None = None,
    timing: dict[str, float] | None = None,
    write: bool = True,
) -> dict:
    """Evaluate predictions already made, assemble the results and (optionally) write the report.

    The second half of :func:`run_campaign`, usable on its own with any predictions (tests, notebooks).

    Args:
        config: The campaign (evaluation settings, output folder, name, note).
        truth: The stars and their truths.
        models: ``{model: predictions}`` for those stars (e.g. ``"bayesxp"``, ``"baseline"``).
        validation: ``(validation truth, {model: predictions})`` for the recalibration study, or None.
        model_sources: ``{model: where it came from}`` for the report.
        progress: Called with a line per step.
        command: The command line to record.
        timing: Seconds of the earlier steps, recorded with the evaluation's.
        write: Write the outputs to :meth:`CampaignConfig.output_folder`.

    Returns:
        The JSON-ready results (see :func:`run_campaign`).

    Example:
        >>> results = judge_predictions(config, truth, {"bayesxp": posterior}, write=False)  # doctest: +SKIP
    """
    started = time.perf_counter()
    timing = dict(timing or {})
    evaluation = evaluate_campaign(
        truth,
        models,
        config.quantities,
        group_bins=config.group_bins,
        min_group_stars=config.min_group_stars,
        hdi=config.hdi,
        seed=config.seed,
        num_samples=config.num_samples,
        validation=validation,
        recalibration_levels=config.recalibration_levels,
        progress=progress,
    )
    timing["evaluate_s"] = time.perf_counter() - started
    results: dict[str, Any] = {
        "campaign": config.name,
        "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "config": to_dict(config),
        "versions": versions("baseline" in models),
        "truth": {"kind": truth.kind, "description": truth.description, "counts": truth.counts},
        "model_sources": dict(model_sources or {name: name for name in models}),
        "covariates": list(truth.covariates),
        **evaluation,
        "notes": NOTES + ([f"Note from the config: {config.note}"] if config.note else []),
        "timing": timing,
        "runtime_seconds": float(sum(timing.values())),  # up to the writing of the outputs
    }
    if write:
        folder = config.output_folder()
        write_outputs(results, folder, config)
        if progress:
            progress(
                f"wrote {folder}: report.md, results.json, config.yaml and {len(results['files']) - 3} figures"
            )
    return to_json_ready(results)


def run_campaign(
    config: CampaignConfig, progress: bool = False, command: str | None = None, write: bool = True
) -> dict:
    """Run one campaign end to end: truths, predictions, evaluation, report.

    Args:
        config: The campaign.
        progress: Print a line per step.
        command: The command line to record (default: ``sys.argv``).
        write: Write the outputs to :meth:`CampaignConfig.output_folder`.

    Returns:
        The JSON-ready results (also ``results.json``): ``campaign``, ``command``, ``config``,
        ``versions``, ``truth`` (kind, description, counts), ``model_sources``, ``covariates``,
        ``models`` (``{model: {"info", "quantities": {q: evaluate_quantity(...)}, "naive_only": {q: ...}}}``),
        ``n_judged``, ``n_naive_only``, ``truth_kind`` and ``noise_aware_treatment`` per quantity, ``joint``,
        ``recalibration``, ``notes``, ``timing``, ``runtime_seconds``, ``files``.

    Raises:
        BayesXPError: Unreadable label files or model folders, a missing data folder.

    Example:
        >>> results = run_campaign(load_campaign_config("calibration/configs/seismic_dev.yaml"))  # doctest: +SKIP
    """
    from bayesxp.model.bayesian import load

    started = time.perf_counter()
    timing: dict[str, float] = {}

    def say(message: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - started:6.1f} s] {message}", flush=True)

    def lap(name: str, clock: float) -> None:
        timing[name] = time.perf_counter() - clock

    kind = config.source_kind
    needs_training_set = (
        kind == "test-split" or config.recalibrate or (config.baseline is None and not config.skip_baseline)
    )
    clock = time.perf_counter()
    training_set = load_training_set(config.data_dir) if needs_training_set else None
    lap("training_set_s", clock)
    clock = time.perf_counter()
    say(f"building the truth table ({config.labels})")
    truth = build_truth(config, training_set)
    lap("truth_s", clock)
    say(f"{len(truth)} stars: {truth.counts}")

    clock = time.perf_counter()
    model = load(config.model)
    lap("load_model_s", clock)
    clock = time.perf_counter()
    baseline, baseline_source = load_or_fit_baseline(
        training_set, config.baseline, config.skip_baseline, config.baseline_config, say
    )
    lap("baseline_s", clock)
    sources = {"bayesxp": str(config.model) if config.model else "shipped model (bayesxp/resources/model)"}
    if baseline is not None:
        sources["baseline"] = baseline_source

    def predict_all(stars: Any) -> dict[str, Posterior]:
        out = {"bayesxp": predict_bayesxp(model, stars, config.num_samples, config.context, config.seed)}
        if baseline is not None:
            out["baseline"] = predict_baseline(baseline, stars, config.baseline_propagate_label_error)
        return out

    clock = time.perf_counter()
    say(f"predicting {len(truth)} stars")
    models = predict_all(truth.stars)
    lap("predict_s", clock)
    validation = None
    if config.recalibrate:
        clock = time.perf_counter()
        truth_val = validation_truth(training_set, config.max_calibration_stars, config.seed + 1)
        say(f"predicting {len(truth_val)} validation stars (recalibration)")
        validation = (truth_val, predict_all(truth_val.stars))
        lap("predict_validation_s", clock)
    return judge_predictions(config, truth, models, validation, sources, say, command, timing, write)


def versions(with_baseline: bool) -> dict:
    """Versions recorded with a campaign's results: bayesxp, numpy, torch, python (and xgboost).

    Example:
        >>> sorted(versions(False))
        ['bayesxp', 'numpy', 'python', 'torch']
    """
    import torch

    versions = {
        "bayesxp": __version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if with_baseline:
        import xgboost

        versions["xgboost"] = xgboost.__version__
    return versions


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """A few lines for the terminal: 68% and 95% noise-aware coverage per model and quantity.

    Args:
        results: What :func:`run_campaign` returns.

    Returns:
        Lines of text.

    Example:
        >>> summary_lines({"models": {}})
        []
    """
    lines = []
    for name, entry in results["models"].items():
        for quantity, r in entry["quantities"].items():
            t = r["table"]
            lines.append(
                f"{name:>8} {quantity:>5}: n={t['n']:<5} mad_std={format_number(t['mad_std'])} "
                f"cov68={coverage_cell(t['coverage']['0.68'])} cov95={coverage_cell(t['coverage']['0.95'])} "
                f"(naive cov68 {coverage_cell(t['coverage_naive']['0.68'])})"
            )
    return lines


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_outputs(
    results: dict, folder: str | Path, config: CampaignConfig | None = None, figures: bool = True
) -> list[Path]:
    """Write ``results.json``, ``report.md``, ``config.yaml`` and the PNG figures, each atomically.

    Every file is written to a temporary name next to it and renamed over the target only when complete
    (:func:`bayesxp.io.tables.atomic_path`): a failure leaves the previous file, never a partial one.

    Args:
        results: What :func:`run_campaign` computed (JSON-ready); its ``files`` entry is set here.
        folder: Output folder (created).
        config: The resolved config to save as ``config.yaml`` (None: skip).
        figures: Draw the figures.

    Returns:
        The paths written.

    Example:
        >>> write_outputs(results, "/tmp/campaign", config)  # doctest: +SKIP
    """
    import matplotlib

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    # gaiaxpy's plotter (imported with the XP projection) sets text.usetex globally; no LaTeX is needed here
    with matplotlib.rc_context({"text.usetex": False}):
        drawn = draw_figures(results) if figures else {}
        results["files"] = sorted(["results.json", "report.md", *(["config.yaml"] if config else []), *drawn])
        for name, fig in drawn.items():
            with atomic_path(folder / name) as tmp:
                fig.savefig(tmp, dpi=100, format="png")
            written.append(folder / name)
    if config is not None:
        save_config(config, folder / "config.yaml")
        written.append(folder / "config.yaml")
    written.append(
        _write_text(folder / "results.json", json.dumps(to_json_ready(results), indent=1, allow_nan=False))
    )
    written.append(_write_text(folder / "report.md", report_markdown(results)))
    return written


_PATH_OVERRIDES = ("model", "baseline", "labels", "output", "data_dir", "baseline_config")


def _absolute(name: str, value: Any) -> Any:
    """A path given on the command line, made absolute against the working directory (words stay)."""
    if name not in _PATH_OVERRIDES or (name == "labels" and value in ("test-split", "seismic-dev")):
        return value
    return str(Path(value).expanduser().resolve())


def _command_line(config: str | Path | None, overrides: Mapping[str, Any]) -> str:
    """The ``bayesxp calibrate`` command line that gives these arguments (recorded in the results)."""
    words = ["bayesxp", "calibrate"] + ([f"--config {config}"] if config is not None else [])
    for name, value in overrides.items():
        if value is None:
            continue
        if name == "recalibrate" and value is False:
            words.append("--no-recalibration")
        elif value is True:
            words.append("--" + name.replace("_", "-"))
        elif value is not False:
            words.append(f"--{name.replace('_', '-')} {value}")
    return " ".join(words)


def calibrate_command(
    config: str | Path | None = None,
    *,
    base: str | Path | None = None,
    threads: int | None = None,
    progress: bool = True,
    command: str | None = None,
    **overrides: Any,
) -> int:
    """The body of ``bayesxp calibrate --config FILE [--model DIR] [--labels FILE] [--output DIR] ...``.

    Reads the campaign YAML, applies the command-line overrides, runs the campaign, writes its report and
    prints a summary.

    Args:
        config: Campaign YAML (``calibration/configs/*.yaml``; None: the defaults, labels ``test-split``).
        base: Folder that relative paths inside the YAML are relative to (None: the working directory, so
            run from the repository root). When given, override paths are made absolute against the
            working directory and the default output is ``<base>/calibration/results/<name>``.
        threads: Torch threads (None: torch's choice).
        progress: Print a line per step.
        command: The command line to record (default: rebuilt from the arguments).
        **overrides: :class:`~bayesxp.evaluation.config.CampaignConfig` fields given on the command line
            (``model``, ``labels``, ``output``, ``baseline``, ``skip_baseline``, ``max_stars``,
            ``max_calibration_stars``, ``num_samples``, ``recalibrate``...); None values are ignored.
            While the campaign keeps the default name, the output folder's name becomes its name.

    Returns:
        0 on success. User errors (unreadable files, bad config) raise
        :class:`~bayesxp.errors.BayesXPError`, which ``bayesxp.cli.main`` turns into exit code 2.

    Example:
        >>> calibrate_command("calibration/configs/seismic_dev.yaml", max_stars=40)  # doctest: +SKIP
        0
    """
    if threads:
        import torch

        torch.set_num_threads(threads)
    given = {k: v for k, v in overrides.items() if v is not None}
    if base is not None:
        given = {k: _absolute(k, v) for k, v in given.items()}
    settings = load_campaign_config(config, base=base, **given)
    if settings.name == CampaignConfig.name and settings.output:
        settings = dataclasses.replace(settings, name=Path(settings.output).name or settings.name)
    if settings.output is None and base is not None:
        output = Path(base) / "calibration" / "results" / settings.name
        settings = dataclasses.replace(settings, output=str(output))
    clock = time.perf_counter()
    results = run_campaign(settings, progress=progress, command=command or _command_line(config, overrides))
    for line in summary_lines(results):
        print(line)
    print(f"report: {Path(settings.output_folder()) / 'report.md'} ({time.perf_counter() - clock:.0f} s)")
    return 0
