"""``bayesxp run``: from spectra to a run folder with a posterior report a person can open.

:func:`run_job` reads the stars (the bundled demo giants by default, or any file ``bayesxp predict`` reads),
draws their joint posteriors with the shipped (or a given) model, checks them, and writes into the run folder:

- ``predictions.csv``: the ``predict`` contract table (DESIGN.md), one row per star with a ``status``;
- ``posterior.nc``: ArviZ netCDF with groups ``posterior`` (S draws of the five quantities per star),
  ``posterior_predictive`` (``flux``: one spectrum generated from each of the first ``ppc_samples`` posterior
  draws) and ``observed_data`` (``flux``, ``flux_error``);
- ``ppc.csv``: the ``bayesxp ppc`` contract (``source_id, chi2, n_tokens, ppc_pvalue, status``);
- ``report.html``: one self-contained page (images embedded) with per-star summaries, corner plots, the
  posterior predictive check, calibration against the labels the input carries, the age-metallicity and
  mass-luminosity views, the XGBoost comparison where a fitted baseline is available, and the model card.

Batch k of ``batch_size`` stars is drawn with seed ``seed + k``, as ``bayesxp predict`` does, so
``predictions.csv`` equals ``bayesxp predict --batch-size B --seed s`` on the same input. Every file is written
atomically with the user's umask; stars that cannot be predicted keep their row with a status.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bayesxp._version import __version__
from bayesxp.errors import BayesXPError
from bayesxp.io.tables import atomic_path, write_table
from bayesxp.posterior import Posterior

__all__ = ["RunResult", "run_job", "MAX_STARS", "PPC_SAMPLES"]

MAX_STARS = 10_000
"""Stars one run holds in memory (for catalogues, ``bayesxp predict`` streams any size)."""

BASELINE_VARIANTS = ("gaussian", "quantile")
"""Cached baselines the report looks for, in order (``configs/baseline.yaml`` names the Gaussian one)."""

PPC_SAMPLES = 25
"""Posterior draws per star that generate a spectrum (the check and the ``posterior_predictive`` group)."""


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_job` wrote.

    Attributes:
        folder: The run folder.
        report_path: ``report.html``.
        predictions_path: ``predictions.csv``.
        posterior_path: ``posterior.nc``.
        stars: Stars read.
        ok: Stars with a posterior.
        failed: ``{status: count}`` of the stars without one.
        seconds: Wall-clock of the run.
        stage_seconds: Wall-clock per stage (``read``, ``posterior``, ``ppc``, ``write``, ``report``).
    """

    folder: Path
    report_path: Path
    predictions_path: Path
    posterior_path: Path
    stars: int
    ok: int
    failed: dict[str, int]
    seconds: float
    stage_seconds: dict[str, float]


def _progress(total: int, desc: str, enabled: bool, unit: str = "star"):  # noqa: ANN202 - a tqdm bar
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)


def _read_stars(input_path: str | Path | None):  # noqa: ANN202 - SampledSpectra
    from bayesxp.data.demo import demo_path
    from bayesxp.errors import InputFileError
    from bayesxp.io.tables import require_input_file
    from bayesxp.xp.read import read_spectra

    path = Path(input_path) if input_path is not None else demo_path()
    require_input_file(path)
    spectra = read_spectra(path)
    if len(spectra) == 0:
        raise InputFileError(path, "holds no stars")
    if len(spectra) > MAX_STARS:
        raise BayesXPError(f"{path}: {len(spectra):,} stars; `bayesxp run` reports on at most {MAX_STARS:,} "
                           "(use `bayesxp predict`, which streams any size, or split the file)")
    return path, spectra


def _posterior(model: object, spectra: object, num_samples: int, seed: int, batch_size: int,
               progress: bool) -> Posterior:
    with _progress(len(spectra), "posterior", progress) as bar:
        return model.posterior(spectra, num_samples=num_samples, batch_size=batch_size, seed=seed,
                               on_batch=bar.update)


def _ppc(model: object, spectra: object, posterior: Posterior, draws: int, seed: int, batch_size: int,
         progress: bool) -> tuple[object, np.ndarray]:
    """The check on the first ``draws`` posterior draws: ``(PPCResult, flux (draws, N, 343) float32)``."""
    from bayesxp.model.ppc import PPCResult, check_posterior

    first = Posterior({q: v[:draws] for q, v in posterior.samples.items()}, posterior.source_id,
                      status=posterior.status)
    results, flux = [], []
    with _progress(len(spectra), "posterior predictive check", progress) as bar:
        for k, start in enumerate(range(0, len(spectra), batch_size)):
            rows = np.arange(start, min(start + batch_size, len(spectra)))
            result, generated = check_posterior(model, spectra.take(rows), first.take(rows), flux_seed=seed + k)
            results.append(result)
            flux.append(generated.astype(np.float32))
            bar.update(len(rows))
    joined = PPCResult(*(np.concatenate([getattr(r, name) for r in results])
                         for name in ("source_id", "chi2", "pvalue", "n_tokens", "status")))
    return joined, np.concatenate(flux, axis=1)


def _labels(spectra: object) -> tuple[dict, dict]:
    """The labels the input carries (library layout: teff, logg, fe_h and their errors), NaN where absent."""
    from bayesxp.data.dataset import labels_from_meta
    from bayesxp.quantities import LABELS

    values, errors = labels_from_meta(spectra.meta)
    quantities = ("teff", "logg", "m_h")
    return ({q: values[:, LABELS.index(q)].astype(np.float64) for q in quantities},
            {q: errors[:, LABELS.index(q)].astype(np.float64) for q in quantities})


def _find_baseline(folder: str | Path | None) -> tuple[object | None, str]:
    """The baseline to compare with, or None and why not. A folder the user names must be a fitted baseline
    (else an error, before any work); without one, the cached default baseline is used where it exists."""
    from bayesxp.baseline import load_baseline
    from bayesxp.baseline.persistence import SIDECAR
    from bayesxp.paths import cache_dir

    if folder is not None:
        if not (Path(folder) / SIDECAR).is_file():
            raise BayesXPError(f"--baseline {folder}: not a fitted XGBoost baseline folder (it has no {SIDECAR})")
        baseline = load_baseline(folder)  # a damaged one raises ModelFileError, naming the file
        return baseline, f"the {baseline.variant} XGBoost baseline of {folder}"
    # configs/baseline.yaml's variant (Gaussian; the model card's baseline) first
    candidates = [cache_dir() / "baseline-models" / f"xgb-{variant}" for variant in BASELINE_VARIANTS]
    found = next((c for c in candidates if (c / SIDECAR).is_file()), None)
    if found is None:
        return None, ("Not available: no fitted XGBoost baseline was given (--baseline DIR) or found in the "
                      f"cache ({candidates[0]}). `bayesxp calibrate --config calibration/configs/test_split.yaml` "
                      "fits and caches one (minutes); the model card below quotes both models' measured figures.")
    try:
        baseline = load_baseline(found)
    except BayesXPError as exc:
        return None, f"Not available: the cached baseline in {found} cannot be read ({exc})."
    return baseline, f"the {baseline.variant} XGBoost baseline of {found}"


@contextlib.contextmanager
def _quiet_corner() -> Iterator[None]:
    """corner logs "Too few points to create valid contours" on the root logger for narrow posteriors: not news."""
    def drop(record: logging.LogRecord) -> bool:
        return "valid contours" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _write_netcdf(posterior: Posterior, flux: np.ndarray, spectra: object, path: Path) -> None:
    data = posterior.to_arviz(posterior_predictive={"flux": flux},
                              observed_data={"flux": np.asarray(spectra.flux, np.float32),
                                             "flux_error": np.asarray(spectra.flux_error, np.float32)})
    data.posterior.attrs.update({"bayesxp_version": __version__, "ppc_draws": flux.shape[0]})
    with atomic_path(path) as tmp:
        data.to_netcdf(str(tmp))


def run_job(input: str | Path | None = None, output: str | Path = "bayesxp_run",  # noqa: A002 - the CLI's name
            model: str | Path | None = None, num_samples: int = 200, baseline: str | Path | None = None,
            seed: int = 0, progress: bool = True, batch_size: int = 256, ppc_samples: int = PPC_SAMPLES,
            n_corner: int = 3, n_ppc_stars: int = 3) -> RunResult:
    """Run the main job and write the run folder (see the module docstring for its files).

    Args:
        input: Any file ``bayesxp predict`` reads (default: the bundled demo giants).
        output: The run folder (created; files of an earlier run there are replaced).
        model: Model folder (default: the shipped model).
        num_samples: Posterior draws per star.
        baseline: A fitted XGBoost baseline folder for the comparison (default: the cached default baseline
            if one was fitted; otherwise the report says it is not available).
        seed: Seed of the draws (batch k uses ``seed + k``).
        progress: Show progress bars.
        batch_size: Stars per batch.
        ppc_samples: Posterior draws per star used by the posterior predictive check.
        n_corner: Stars with a corner plot.
        n_ppc_stars: Stars whose spectra are drawn against their predictive bands.

    Returns:
        The paths written and the counts.

    Raises:
        InputFileError: The input cannot be read (the message names the file and, where it applies, the
            column or star).
        BayesXPError: Too many stars for one report, or an output that cannot be written.

    Example:
        >>> import tempfile
        >>> result = run_job(output=tempfile.mkdtemp(), num_samples=20, progress=False)  # doctest: +SKIP
        >>> result.stars, result.report_path.name  # doctest: +SKIP
        (240, 'report.html')
    """
    from bayesxp.model.bayesian import load
    from bayesxp.report import compute, sections
    from bayesxp.report.card import load_model_card
    from bayesxp.report.figures import png_base64
    from bayesxp.report.html import render_report

    clock = time.perf_counter()
    if num_samples < 2 or ppc_samples < 1 or batch_size < 1:
        raise BayesXPError("num_samples must be at least 2, ppc_samples and batch_size at least 1")
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise BayesXPError(f"cannot write the run folder {folder}: it is a file")
    stages: dict[str, float] = {}

    def lap(stage: str) -> None:
        stages[stage] = time.perf_counter() - clock - sum(stages.values())

    input_path, spectra = _read_stars(input)
    fitted = load(model)
    baseline_model, how = _find_baseline(baseline)
    lap("read")
    posterior = _posterior(fitted, spectra, num_samples, seed, batch_size, progress)
    lap("posterior")
    table = posterior.to_table()
    predictions_path = write_table(table, folder / "predictions.csv")
    ppc, flux = _ppc(fitted, spectra, posterior, min(ppc_samples, num_samples), seed, batch_size, progress)
    lap("ppc")
    from astropy.table import Table

    write_table(Table({"source_id": ppc.source_id, "chi2": ppc.chi2, "n_tokens": ppc.n_tokens,
                       "ppc_pvalue": ppc.pvalue, "status": ppc.status.astype(str)}), folder / "ppc.csv")
    posterior_path = folder / "posterior.nc"
    _write_netcdf(posterior, flux, spectra, posterior_path)
    lap("write")

    usable = posterior.usable()
    labels, errors = _labels(spectra)
    checks = compute.label_checks(posterior.samples, labels, errors, usable, "bayesxp", seed=seed)
    predicted = baseline_model.predict(spectra, cache=False) if baseline_model is not None else None
    comparison, baseline_checks = None, []
    if predicted is not None:
        both = usable & np.all([np.isfinite(p.median()) for p in predicted.values()], axis=0)
        comparison = compute.compare_models(posterior.samples, predicted, both)
        ours = checks if np.array_equal(both, usable) else compute.label_checks(  # the same stars: judged above
            {q: posterior.samples[q] for q in labels}, labels, errors, both, "bayesxp", seed=seed)
        baseline_checks = ours + compute.label_checks(predicted, labels, errors, both, "XGBoost", seed=seed)
    ok_rows = np.flatnonzero(usable & np.isfinite(ppc.pvalue))
    bands = (compute.ppc_bands(spectra.flux, spectra.flux_error, flux, ppc.pvalue, ok_rows[:n_ppc_stars])
             if ok_rows.size else None)
    with _progress(6, "report", progress, unit="step") as bar:
        with _quiet_corner():
            corners = [(f"Gaia DR3 {posterior.source_id[i]}", png_base64(posterior.corner(int(i)), dpi=60))
                       for i in np.flatnonzero(usable)[:n_corner]]
        bar.update(1)
        parts = [sections.stars_section(table.to_pandas(), ppc.pvalue), sections.corner_section(corners)]
        parts.append(sections.ppc_section(bands, posterior.source_id, ppc.pvalue, flux.shape[0]))
        bar.update(1)
        parts.append(sections.calibration_section(checks))
        bar.update(1)
        if usable.any():
            parts.append(sections.views_section(compute.derived_views(posterior.samples, usable)))
        bar.update(1)
        parts.append(sections.comparison_section(comparison, baseline_checks, how))
        parts.append(sections.model_card_section(load_model_card()))
        bar.update(1)
        failed = {str(s): int(n) for s, n in zip(*np.unique(posterior.status[~usable].astype(str), return_counts=True))}
        summary = (
            f"Input: {input_path} ({len(spectra)} stars; {int(usable.sum())} with a posterior"
            + ("" if not failed else "; none for " + ", ".join(f"{n} ({s})" for s, n in failed.items())) + ").",
            f"Model: {model or 'the shipped model'}; {num_samples} joint posterior draws per star; seed {seed}; "
            f"bayesxp {__version__}; {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
            "Files next to this page: predictions.csv (one row per star), posterior.nc (ArviZ: posterior, "
            "posterior_predictive, observed_data), ppc.csv.",
        )
        command = ["bayesxp", "run"] + (["--input", str(input)] if input is not None else []) + [
            "--output", str(output), "--num-samples", str(num_samples), "--seed", str(seed)]
        page = render_report(f"bayesxp posteriors: {input_path.name}", summary, parts,
                             f"Reproduce: {shlex.join(command)}")
        report_path = folder / "report.html"
        with atomic_path(report_path) as tmp:
            tmp.write_text(page, encoding="utf-8")
        bar.update(1)
    lap("report")
    return RunResult(folder=folder, report_path=report_path, predictions_path=predictions_path,
                     posterior_path=posterior_path, stars=len(spectra), ok=int(usable.sum()), failed=failed,
                     seconds=time.perf_counter() - clock, stage_seconds=stages)
