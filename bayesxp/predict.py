"""Batch prediction of a file: the engine behind ``bayesxp predict`` (and ``bayesxp generate``: :func:`generate_file`;
``bayesxp inpaint``: :func:`inpaint_file`; ``bayesxp ppc``: :func:`ppc_file`; ``bayesxp fit-mcmc``:
:func:`fit_mcmc_file`).

The input is read in batches (:func:`bayesxp.xp.read.iter_spectra`), each batch's posterior summary is
written as its own Parquet part into ``<output>.partial/`` (atomically), and when every batch is done the
parts are joined into the output file (format from its suffix, written atomically) and the partial folder is
removed. A killed run started again with the same arguments skips the parts already written, so it never
duplicates or loses a star. Stars that cannot be predicted keep their row with a ``status`` saying why.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack

from bayesxp.errors import BayesXPError, InputFileError
from bayesxp.io.tables import (
    atomic_path,
    join_parts,
    os_error_reason,
    read_table,
    table_format,
    write_table,
)
from bayesxp.posterior import output_meta, status_counts
from bayesxp.quantities import contract_unit

__all__ = ["predict_file", "generate_file", "inpaint_file", "ppc_file", "fit_mcmc_file"]


def predict_file(input_path: str | Path, output_path: str | Path, model_path: str | Path | None = None,
                 num_samples: int = 200, batch_size: int = 1024, context: str = "full", seed: int = 0,
                 progress: bool = True) -> dict:
    """Predict every star of a file and write the contract table.

    Args:
        input_path: Gaia archive XP continuous file or sampled-spectrum table (any supported suffix).
        output_path: ``.csv``, ``.ecsv``, ``.fits`` or ``.parquet`` (format from the suffix).
        model_path: Model folder (default: the shipped model).
        num_samples: Posterior samples per star.
        batch_size: Stars per batch (bounds memory).
        context: ``"full"`` or ``"spectrum"`` (see :meth:`BayesXPModel.posterior`).
        seed: Seed of the draws (batch k uses ``seed + k``).
        progress: Print one line per batch.

    Returns:
        ``{"stars": n, "ok": n_ok, "failed": {reason: count}, "seconds": t, "resumed_batches": k}``.

    Example:
        >>> import tempfile
        >>> from bayesxp.data.demo import demo_path
        >>> output = Path(tempfile.mkdtemp()) / "posteriors.csv"
        >>> result = predict_file(demo_path(), output, num_samples=10, progress=False)
        >>> result["stars"], result["ok"], output.is_file()
        (240, 240, True)
    """
    from bayesxp.io.tables import require_input_file
    from bayesxp.model.bayesian import load

    input_path, output_path = Path(input_path), Path(output_path)
    table_format(output_path)  # refuse an unknown output suffix before any work
    require_input_file(input_path)
    if output_path.resolve() == input_path.resolve():
        raise BayesXPError(f"{output_path}: the output would overwrite the input")
    if output_path.is_dir():  # refuse before hours of work, not at the final rename
        raise BayesXPError(f"cannot write {output_path}: it is a folder")
    model = load(model_path)
    partial = output_path.with_name(output_path.name + ".partial")
    stamp = {"input": str(input_path.resolve()), "size": input_path.stat().st_size,
             "batch_size": batch_size, "num_samples": num_samples, "context": context, "seed": seed}
    stamp_file = partial / "run.json"
    try:
        partial.mkdir(parents=True, exist_ok=True)
        if stamp_file.is_file() and json.loads(stamp_file.read_text()) != stamp:
            shutil.rmtree(partial)  # parts from a different run: start over
            partial.mkdir(parents=True)
        stamp_file.write_text(json.dumps(stamp))
    except OSError as exc:
        raise BayesXPError(f"cannot write {output_path}: {os_error_reason(exc)}") from exc
    start = time.perf_counter()
    done = {int(p.stem.split("-")[1]) for p in partial.glob("part-*.parquet")}
    resumed = len(done)
    try:
        for k, posterior in enumerate(model.iter_posterior(input_path, num_samples, context, batch_size, seed,
                                                           skip=done)):
            if posterior is None:  # batch written by an earlier, interrupted run
                continue
            write_table(posterior.to_table(), partial / f"part-{k:06d}.parquet")
            if progress:
                print(f"batch {k}: {len(posterior)} stars, {int((posterior.status == 'ok').sum())} predicted "
                      f"({time.perf_counter() - start:.1f} s)", flush=True)
    except BayesXPError:
        if not any(partial.glob("part-*.parquet")):  # nothing to resume: leave no litter
            shutil.rmtree(partial, ignore_errors=True)
        raise
    parts = sorted(partial.glob("part-*.parquet"))
    if not parts:
        shutil.rmtree(partial, ignore_errors=True)
        raise BayesXPError(f"{input_path}: no stars were read")
    # a Parquet output is joined one part at a time
    join_parts(parts, output_path, output_meta(model_path, num_samples, input_path.name), units=contract_unit)
    counts = status_counts(parts)
    shutil.rmtree(partial)
    return {**counts, "seconds": time.perf_counter() - start, "resumed_batches": resumed}


def _array_cells(values: np.ndarray) -> np.ndarray:
    """``(N, 343)`` -> one bracketed text cell per row (how a CSV holds the library's array columns)."""
    return np.array(["[" + ", ".join(f"{v:.7g}" for v in row) + "]" for row in values], dtype=object)


def generate_file(labels_path: str | Path, output_path: str | Path, model_path: str | Path | None = None,
                  batch_size: int = 256) -> dict:
    """``bayesxp generate``: the predictive XP spectrum of every row of a table of labels.

    Reads the columns of :data:`~bayesxp.model.generate.GENERATION_LABELS` (``teff`` [K], ``logg``, ``m_h``,
    ``alpha_m`` [dex], ``mass`` [Msun], ``age`` [Gyr]) and the optional photometry (``bp_rp``, ``j_h``,
    ``j_k``, ``ak_targ``), case-insensitively; missing cells are left out of that star's context. Writes the
    input's columns plus ``flux`` and ``flux_error`` (343 values on 336..1020 nm, 2 nm, flux over its median
    as in the library; ``flux_error`` the predictive std) and ``status``: a row without any usable label keeps
    NaN flux and says why. A CSV output holds the arrays as bracketed lists, which ``bayesxp predict`` reads.

    Args:
        labels_path: Table of labels (any supported suffix).
        output_path: Output table (format from the suffix), written atomically.
        model_path: Model folder (default: the shipped model).
        batch_size: Stars generated at a time (bounds memory: each holds a 343 x 343 flux covariance, ~1 MB).

    Returns:
        ``{"stars", "ok", "failed": {reason: count}, "seconds"}``.

    Raises:
        InputFileError: The file is missing, unreadable or has none of the label columns.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = write_table(Table({"teff": [4800.0, np.nan], "logg": [2.5, np.nan], "m_h": [0.0, np.nan]}),
        ...                 folder / "labels.csv")
        >>> generate_file(folder / "labels.csv", folder / "spectra.fits")["ok"]
        1
        >>> read_table(folder / "spectra.fits")["flux"].shape
        (2, 343)
    """
    from bayesxp.io.tables import require_input_file
    from bayesxp.model.folder import default_model_path, load_foundation
    from bayesxp.model.generate import GENERATION_LABELS, generate_spectra, labels_array
    from bayesxp.quantities import LN_SCALE, PHOTOMETRIC_LABELS
    from bayesxp.spectra import N_SAMPLES

    start = time.perf_counter()
    require_input_file(labels_path)
    table = read_table(labels_path)
    by_name = {name.lower(): name for name in table.colnames}
    wanted = [k for k in GENERATION_LABELS + PHOTOMETRIC_LABELS if k in by_name]
    if not any(k in by_name for k in GENERATION_LABELS):
        raise InputFileError(labels_path, f"has none of the label columns {', '.join(GENERATION_LABELS)}")
    n = len(table)
    values, notes = {}, [[] for _ in range(n)]
    for key in wanted:
        column = table[by_name[key]]
        try:
            data = np.ma.filled(np.ma.asarray(column).astype(np.float64), np.nan)
        except (TypeError, ValueError) as exc:
            raise InputFileError(labels_path, f"is not numeric ({str(exc)[:60]})", column=by_name[key]) from exc
        bad = np.isinf(data)  # NaN: not given
        if key in LN_SCALE:
            bad |= np.isfinite(data) & (data <= 0)
        for i in np.flatnonzero(bad):
            notes[i].append(f"{key} {data[i]:g} ignored")
        values[key] = np.where(bad, np.nan, data)
    x = labels_array(values, n)
    usable = np.isfinite(x[:, :len(GENERATION_LABELS)]).any(axis=1)  # photometry alone is not enough
    flux = np.full((n, N_SAMPLES), np.nan)
    flux_error = np.full((n, N_SAMPLES), np.nan)
    rows = np.flatnonzero(usable)
    foundation = load_foundation(model_path or default_model_path()) if rows.size else None
    for start in range(0, rows.size, batch_size):
        part = rows[start : start + batch_size]
        generated = generate_spectra(foundation, x[part], batch_size=batch_size)
        flux[part], flux_error[part] = generated.flux, generated.flux_error
    status = np.array(["ok" if u else f"no usable label ({', '.join(GENERATION_LABELS)} all missing)"
                       for u in usable], dtype=object)
    for i, extra in enumerate(notes):
        if extra:
            status[i] = f"{status[i]}; {'; '.join(extra)}"
    out = table.copy(copy_data=True)
    text = table_format(output_path) == "ascii.csv"
    out["flux"] = _array_cells(flux) if text else flux
    out["flux_error"] = _array_cells(flux_error) if text else flux_error
    out["status"] = status.astype(str)
    write_table(out, output_path)
    failed = {reason: int((status == reason).sum()) for reason in np.unique(status[~usable])}
    return {"stars": n, "ok": int(usable.sum()), "failed": failed, "seconds": time.perf_counter() - start}


def inpaint_file(input_path: str | Path, output_path: str | Path, mask: str | list[str],
                 model_path: str | Path | None = None, method: str = "model", batch_size: int = 1024) -> dict:
    """``bayesxp inpaint``: the masked flux of every star of a file, predicted from the rest
    (:func:`~bayesxp.model.inpaint.inpaint`).

    Writes per star ``source_id``, the input's per-star columns (identifiers, photometry, labels; not the
    spectra or coefficients), ``flux`` and ``flux_error`` (the sampled spectrum as read), ``flux_inpainted`` and
    ``flux_inpainted_error`` (343 each: observed samples unchanged, masked and missing ones predicted, the
    error the predictive std of the true flux), ``inpainted_mask`` (343 booleans, True where predicted),
    ``n_model_tokens`` and ``status`` (a star that cannot be read or has nothing seen keeps its row, NaN
    outputs and the reason). A CSV output holds the arrays as bracketed lists, which ``bayesxp predict`` reads.

    Args:
        input_path: Any file ``bayesxp predict`` reads.
        output_path: Output table (format from the suffix), written atomically.
        mask: ``"bp"``, ``"rp"`` or ``"LO-HI"`` (nm), or several (their union; :func:`~bayesxp.model.inpaint.parse_mask`).
        model_path: Model folder (default: the shipped model).
        method: ``"model"`` or ``"linear"`` (the population-Gaussian baseline).
        batch_size: Stars per batch (bounds memory).

    Returns:
        ``{"stars", "ok", "predicted_samples", "seconds"}``.

    Raises:
        InputFileError: The file is missing, unreadable or holds no star.
        ValueError: A mask spec that cannot be read (checked before anything is read).

    Example:
        >>> import tempfile, pathlib
        >>> from bayesxp.data.demo import demo_path
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "inpainted.fits"
        >>> inpaint_file(demo_path(), out, "500-540", method="linear")["predicted_samples"]
        4800
        >>> read_table(out)["flux_inpainted"].shape
        (240, 343)
    """
    from bayesxp.io.tables import require_input_file
    from bayesxp.model.inpaint import inpaint, parse_mask
    from bayesxp.xp.read import iter_spectra

    start = time.perf_counter()
    mask_row = parse_mask(mask)
    require_input_file(input_path)
    foundation = None
    if method == "model":
        from bayesxp.model.folder import default_model_path, load_foundation

        foundation = load_foundation(model_path or default_model_path())
    parts, predicted = [], 0
    for spectra in iter_spectra(input_path, batch_size=batch_size):
        flux = np.asarray(spectra.flux, np.float64)
        flux_error = np.asarray(spectra.flux_error, np.float64)
        blocked = spectra.blocked
        out = inpaint(np.where(blocked[:, None], np.nan, flux), flux_error, mask_row, foundation=foundation,
                      method=method)
        status = np.where(blocked, np.asarray(spectra.status, dtype=object), out.status).astype(str)
        predicted += int(out.mask[status == "ok"].sum())
        part = Table({"source_id": np.asarray(spectra.source_id)})
        for name in spectra.meta.columns:  # the input's per-star columns (identifiers, photometry, labels)
            values = spectra.meta[name].to_numpy()
            if name not in part.colnames and values.dtype.kind in "biufU":
                part[name] = values
            elif name not in part.colnames:  # pandas strings -> a NumPy unicode column every format writes
                part[name] = np.array([str(v) for v in values], dtype=str)
        for name, values in (("flux", flux), ("flux_error", flux_error), ("flux_inpainted", out.flux),
                             ("flux_inpainted_error", out.flux_error), ("inpainted_mask", out.mask),
                             ("n_model_tokens", out.n_model_tokens), ("status", status)):
            part[name] = values
        parts.append(part)
    if not parts:
        raise InputFileError(input_path, "holds no star")
    table = vstack(parts)
    if table_format(output_path) == "ascii.csv":
        for name in ("flux", "flux_error", "flux_inpainted", "flux_inpainted_error", "inpainted_mask"):
            table[name] = _array_cells(np.asarray(table[name]))
    write_table(table, output_path)
    return {"stars": len(table), "ok": int(sum((np.asarray(part["status"]) == "ok").sum() for part in parts)),
            "predicted_samples": predicted, "seconds": time.perf_counter() - start}


def ppc_file(input_path: str | Path, output_path: str | Path, model_path: str | Path | None = None,
             num_samples: int = 100, context: str = "full", seed: int = 0, batch_size: int = 1024) -> dict:
    """``bayesxp ppc``: the posterior predictive check of every star of a file
    (:func:`~bayesxp.model.ppc.posterior_predictive_check`).

    Args:
        input_path: Any file ``bayesxp predict`` reads.
        output_path: Output table (format from the suffix), written atomically: ``source_id``, ``chi2`` (posterior
            mean of the discrepancy over the spectral tokens), ``n_tokens``, ``ppc_pvalue``, ``status``.
        model_path: Model folder (default: the shipped model).
        num_samples: Posterior draws per star.
        context: ``"full"`` or ``"spectrum"``.
        seed: Seed of the posterior draws (batch k uses ``seed + k``).
        batch_size: Stars per batch.

    Returns:
        ``{"stars", "ok", "below_0.01", "seconds"}``.

    Example:
        >>> import tempfile, pathlib
        >>> from bayesxp.data.demo import demo_path
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "ppc.csv"
        >>> ppc_file(demo_path(), out, num_samples=10, batch_size=2)["stars"]  # doctest: +SKIP
        240
    """
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.ppc import posterior_predictive_check
    from bayesxp.xp.read import iter_spectra

    start = time.perf_counter()
    model = BayesXPModel.load(model_path)
    parts = []
    for k, spectra in enumerate(iter_spectra(input_path, batch_size=batch_size)):
        result = posterior_predictive_check(model, spectra, num_samples=num_samples, context=context, seed=seed + k)
        status = np.where(np.asarray(spectra.status) != "ok", np.asarray(spectra.status, dtype=object),
                          result.status)
        parts.append(Table({"source_id": np.asarray(result.source_id), "chi2": result.chi2,
                            "n_tokens": result.n_tokens, "ppc_pvalue": result.pvalue,
                            "status": np.asarray(status, dtype=str)}))
    if not parts:
        raise InputFileError(input_path, "holds no star")
    table = vstack(parts)
    write_table(table, output_path)
    pvalue = np.asarray(table["ppc_pvalue"], float)
    return {"stars": len(table), "ok": int((np.asarray(table["status"]) == "ok").sum()),
            "below_0.01": int(np.sum(pvalue < 0.01)), "seconds": time.perf_counter() - start}


def fit_mcmc_file(input_path: str | Path, output_dir: str | Path, model_path: str | Path | None = None,
                  source_id: int | None = None, n_walkers: int = 32, n_steps: int = 1500, burn: int = 500,
                  seed: int = 0) -> dict:
    """``bayesxp fit-mcmc``: an emcee fit of each star's labels to its spectrum (:mod:`bayesxp.model.mcmc`).

    Each star starts from its amortised posterior median (the shipped joint head; [alpha/M] from the prior
    box's centre) with its photometry in the context. Per star ``<source_id>.nc`` (the chains as ArviZ netCDF,
    one chain per walker) and ``<source_id>_corner.png``; for all ``summary.csv`` (per star and label: the
    emcee mean, sd, 3-97% HDI, R-hat, ESS, the amortised median and 68% interval, the acceptance fraction and
    the reduced chi-square at the emcee median, and a ``status``: a star that cannot be fitted keeps its rows).

    Args:
        input_path: Any file ``bayesxp predict`` reads.
        output_dir: Folder to write (created).
        model_path: Model folder (default: the shipped model).
        source_id: Fit only this star (an id the file does not hold is an error naming it).
        n_walkers: Walkers.
        n_steps: Steps per walker.
        burn: Steps dropped at the start.
        seed: Seed of the sampler and of the amortised posterior.

    Returns:
        ``{"stars", "ok", "seconds"}``.

    Example:
        >>> fit_mcmc_file("stars.csv", "mcmc_out", source_id=1515663692124470528)  # doctest: +SKIP
        {'stars': 1, 'ok': 1, 'seconds': 410.2}
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import corner
    import matplotlib.pyplot as plt
    import pandas as pd

    from bayesxp.errors import StarInputError
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.model.generate import GENERATION_LABELS
    from bayesxp.model.mcmc import MCMCConfig, fit_star
    from bayesxp.xp.inputs import photometry_labels
    from bayesxp.xp.read import read_spectra

    start = time.perf_counter()
    config = MCMCConfig(n_walkers=n_walkers, n_steps=n_steps, burn=burn, seed=seed)
    spectra = read_spectra(input_path)
    ids = np.asarray(spectra.source_id)
    if source_id is not None:
        rows = np.flatnonzero(ids == int(source_id))
        if not rows.size:
            raise StarInputError(source_id, f"not in {input_path}")
        spectra = spectra.take(rows[:1])
        ids = ids[rows[:1]]
    model = BayesXPModel.load(model_path)
    posterior = model.posterior(spectra, num_samples=400, seed=seed)
    photometry = photometry_labels(spectra.meta)  # (N, len(LABELS)): fit_star reads the photometric columns
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    rows_out, n_ok = [], 0
    for i, star in enumerate(ids):
        amortised = {q: np.asarray(posterior.samples[q][:, i], float) for q in posterior.samples}
        base = {"source_id": int(star)}
        try:
            if str(spectra.status[i]) != "ok" or not all(np.isfinite(v).all() for v in amortised.values()):
                raise ValueError(f"no amortised posterior ({spectra.status[i]})")
            initial = {q: float(np.median(v)) for q, v in amortised.items() if q in GENERATION_LABELS}
            result = fit_star(model.foundation, spectra.flux[i], spectra.flux_error[i],
                              photometry=photometry[i], config=config,
                              initial=initial, star=f"star {star}")
        except ValueError as exc:
            rows_out.append({**base, "label": "", "status": str(exc)})
            continue
        data = result.to_arviz()
        with atomic_path(output / f"{star}.nc") as tmp:
            data.to_netcdf(str(tmp))
        draws = result.samples()
        names = list(GENERATION_LABELS)
        with matplotlib.rc_context({"text.usetex": False}):
            figure = corner.corner(np.column_stack([draws[n] for n in names]), labels=names,
                                   quantiles=[0.16, 0.5, 0.84], show_titles=True)
            with atomic_path(output / f"{star}_corner.png") as tmp:
                figure.savefig(tmp, format="png", dpi=80)
            plt.close(figure)
        summary = result.summary()
        for name in GENERATION_LABELS:  # the summary's rows: mass and age in Msun and Gyr, not their logarithms
            row = summary.loc[name]
            low, mid, high = (np.quantile(amortised[name], [0.16, 0.5, 0.84]) if name in amortised
                              else (np.nan, np.nan, np.nan))
            rows_out.append({**base, "label": name, "mean": row["mean"], "sd": row["sd"],
                             "hdi_3%": row["hdi_3%"], "hdi_97%": row["hdi_97%"], "r_hat": row["r_hat"],
                             "ess_bulk": row["ess_bulk"], "amortised_q16": low, "amortised_q50": mid,
                             "amortised_q84": high, "acceptance": float(np.mean(result.acceptance_fraction)),
                             "reduced_chi_square": result.reduced_chi_square, "status": "ok"})
        n_ok += 1
    with atomic_path(output / "summary.csv") as tmp:
        pd.DataFrame(rows_out).to_csv(tmp, index=False)
    return {"stars": len(ids), "ok": n_ok, "seconds": time.perf_counter() - start}
