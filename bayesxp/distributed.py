"""Catalogue inference on a Dask cluster: the posterior contract table of a partitioned or HATS catalogue.

- :func:`predict_dask`: a partitioned Parquet dataset (a folder of part files, as ``dask.dataframe.to_parquet``
  or pyarrow write them; sampled spectra or Gaia archive XP continuous columns, the layouts
  :func:`bayesxp.predict.predict_file` reads) in, one contract Parquet part per batch out, written by the
  workers; optionally joined into one file.
- :func:`predict_lsdb`: an LSDB catalogue (HATS, the form Gaia DR3 XP is published in for cloud use; after any
  LSDB column selection, search or cross-match) in, one contract Parquet part per HEALPix pixel out.
- :func:`plan_batches`: which rows of which part file make up each batch.
- :func:`predict_frame`: the posterior table of one pandas DataFrame of spectra.

The joint head shares its weight draws across the stars of one call, so a posterior depends on how stars are
grouped, and each path fixes the grouping:

- ``predict_dask`` gives the single-process path's table, star for star. Batch ``p`` holds exactly the rows
  ``p * batch_size .. (p + 1) * batch_size - 1`` of the catalogue (its part files in natural path order, the order
  ``dask.dataframe.read_parquet`` reads them in), whatever the part files' sizes, and is drawn with ``seed + p``, as
  batch ``p`` of ``predict_file`` over the same rows in one file. Batches are planned from the Parquet footers
  alone and each task reads only the row groups that hold its rows, so no part file is read twice for planning.
- ``predict_lsdb`` batches within each HEALPix pixel and seeds each batch from the pixel itself
  (:func:`pixel_batch_seed`): a catalogue filtered by a search has no row numbers known before it is read, and a
  star's posterior should not depend on which other pixels a search kept.

Needs the ``scale`` extra (``pip install "bayesxp[scale]"``: ``dask[distributed]`` and ``lsdb``).
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.table import Table

from bayesxp.errors import BayesXPError, InputFileError
from bayesxp.io.tables import (
    ID_COLUMNS,
    join_parts,
    os_error_reason,
    table_format,
    write_table,
)
from bayesxp.posterior import output_meta, status_counts
from bayesxp.quantities import contract_unit

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa

    from bayesxp.posterior import Posterior
    from bayesxp.spectra import SampledSpectra

__all__ = ["predict_dask", "predict_lsdb", "pixel_batch_seed", "plan_batches", "predict_frame", "BatchPlan"]

_STAMP = "_bayesxp_run.json"
_PYRO_LOCK = threading.Lock()


@dataclass(frozen=True)
class BatchPlan:
    """The rows of one batch: ``pieces`` are ``(part, first row, stop row)`` within the catalogue's parts.

    Attributes:
        index: Batch number p (drawn with ``seed + p``).
        pieces: Consecutive row ranges, in catalogue order, that together hold ``batch_size`` rows (fewer in
            the last batch).
    """

    index: int
    pieces: tuple[tuple[int, int, int], ...]

    def __len__(self) -> int:
        return sum(stop - start for _, start, stop in self.pieces)


def plan_batches(partition_rows: list[int] | np.ndarray, batch_size: int) -> list[BatchPlan]:
    """Cut partitions of any sizes into consecutive batches of ``batch_size`` rows.

    Args:
        partition_rows: Rows per part (file or partition), in catalogue order.
        batch_size: Rows per batch (the last batch may hold fewer).

    Returns:
        One :class:`BatchPlan` per batch; together they hold every row once, in order.

    Example:
        >>> [plan.pieces for plan in plan_batches([3, 0, 4], batch_size=2)]
        [((0, 0, 2),), ((0, 2, 3), (2, 0, 1)), ((2, 1, 3),), ((2, 3, 4),)]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    bounds = np.concatenate([[0], np.cumsum(np.asarray(partition_rows, dtype=np.int64))])  # (P + 1,)
    plans = []
    for index, first in enumerate(range(0, int(bounds[-1]), batch_size)):
        last = min(first + batch_size, int(bounds[-1]))
        pieces = []
        for partition in range(len(bounds) - 1):
            start, stop = max(first, bounds[partition]), min(last, bounds[partition + 1])
            if start < stop:
                pieces.append((partition, int(start - bounds[partition]), int(stop - bounds[partition])))
        plans.append(BatchPlan(index, tuple(pieces)))
    return plans


@functools.lru_cache(maxsize=2)
def _model(model_path: str | None):  # noqa: ANN202 - a BayesXPModel
    """The model, loaded once per process (each Dask worker keeps its own)."""
    from bayesxp.model.bayesian import BayesXPModel

    _undo_fixed_malloc_thresholds()
    return BayesXPModel.load(model_path)


# glibc's mallopt parameters (malloc.h) and the limits of its own dynamic thresholds on 64-bit systems
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX; the dynamic trim threshold is twice the mmap one


def _undo_fixed_malloc_thresholds() -> bool:
    """In a process started with ``MALLOC_TRIM_THRESHOLD_`` (Dask's nanny sets 65536 in every worker), raise
    glibc's thresholds to where its dynamic ones would settle; returns whether it did.

    Any fixed threshold turns glibc's dynamic mmap threshold off, so every array over 128 KiB is mapped and unmapped
    afresh: a batch's posterior then takes 1.5x as long (2,000 demo stars, 200 draws, 1 thread: 20.0 s against
    13.0 s in one process, 13.6 s with these thresholds; ``benchmarks/dask_scaling.py``). A freed heap keeps at
    most 64 MiB instead of 64 KiB.
    """
    import ctypes
    import ctypes.util
    import os

    if not os.environ.get("MALLOC_TRIM_THRESHOLD_") or not ctypes.util.find_library("c"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallopt"):  # not glibc
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
                and libc.mallopt(_M_TRIM_THRESHOLD, 2 * _MMAP_THRESHOLD_MAX))


def predict_frame(frame: pd.DataFrame, model_path: str | Path | None = None, num_samples: int = 200,
                  context: str = "full", seed: int = 0) -> pd.DataFrame:
    """The contract table (:meth:`~bayesxp.posterior.Posterior.to_table`) of the stars of one DataFrame.

    All rows are drawn in one call with ``seed`` (one batch of :func:`bayesxp.predict.predict_file`); stars that
    cannot be predicted keep their row with a ``status`` saying why. The model is loaded once per process.

    Args:
        frame: Rows of spectra with the columns ``predict_file`` reads (``flux``, ``flux_error`` as list
            columns and a source id; or the archive's XP continuous columns), optional photometry.
        model_path: Model folder (default: the shipped model).
        num_samples: Posterior samples per star.
        context: ``"full"`` or ``"spectrum"``.
        seed: Seed of the draws.

    Returns:
        One row per input row, in order (the index is reset).

    Example:
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.tables import read_table
        >>> stars = read_table(demo_path())[:3]
        >>> stars["apogee_id"] = stars["apogee_id"].astype(str)
        >>> frame = stars.to_pandas()
        >>> table = predict_frame(frame, num_samples=10)
        >>> len(table), table["status"].tolist()
        (3, ['ok', 'ok', 'ok'])
    """
    import pandas as pd
    import pyarrow as pa

    if not len(frame):
        raise InputFileError("<partition>", "holds no star")
    rows = pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
    return _contract_table(rows, "<partition>", model_path, num_samples, context, seed).to_pandas()


def _contract_table(rows: pa.Table, source: str | Path, model_path: str | Path | None, num_samples: int,
                    context: str, seed: int) -> Table:
    """The contract table of Arrow rows of spectra, all drawn in one call with ``seed``."""
    from bayesxp.xp.read import spectra_from_table

    # to Python lists, as bayesxp.io.archive.iter_xp_tables reads a Parquet batch for predict_file
    spectra = spectra_from_table(Table(rows.to_pydict()), source)
    return _posterior(spectra, model_path, num_samples, context, seed).to_table()


def _posterior(spectra: SampledSpectra, model_path: str | Path | None, num_samples: int, context: str,
               seed: int) -> Posterior:
    """All stars in one call drawn with ``seed`` (batch ``p`` of ``predict_file``, seed ``seed + p``).

    Pyro's handler stack is global to the process, so a worker running several threads predicts one batch at
    a time (torch spreads each batch over the threads it is given).
    """
    with _PYRO_LOCK:
        model = _model(None if model_path is None else str(model_path))
        return model.posterior(spectra, num_samples=num_samples, context=context, batch_size=max(len(spectra), 1),
                               seed=seed)


def _natural_key(path: Path) -> list:
    """``part.2`` before ``part.10``: the order ``dask.dataframe.to_parquet`` numbers its parts in."""
    return [int(text) if text.isdigit() else text for text in re.split(r"(\d+)", path.as_posix())]


def _part_files(path: Path) -> list[Path]:
    """The Parquet files of a dataset in catalogue order (natural sort of their paths; ``_metadata`` skipped).

    A HATS catalogue folder (the form Gaia DR3 is published in for LSDB) is read from its ``dataset/`` folder,
    in (Norder, Npix) order.
    """
    if path.is_file():
        return [path]
    if (path / "collection.properties").is_file():
        raise InputFileError(path, "is a HATS collection: give its main catalogue's folder (the collection's margin "
                             "catalogues repeat stars near partition edges)")
    if (path / "dataset").is_dir():  # a HATS catalogue: its rows are dataset/Norder=*/Dir=*/Npix=*.parquet
        path = path / "dataset"
    files = [p for p in path.rglob("*") if p.is_file() and p.suffix in (".parquet", ".pq")
             and not any(part.startswith(("_", ".")) for part in p.relative_to(path).parts)]
    return sorted(files, key=_natural_key)


def _read_rows(path: Path, start: int, stop: int) -> pa.Table:
    """Rows ``start .. stop - 1`` of a Parquet file, reading only the row groups that hold them."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path, pre_buffer=False)  # buffers only what it reads (io.archive's reader)
    bounds = np.cumsum([0] + [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)])
    groups = [g for g in range(parquet.num_row_groups) if bounds[g] < stop and bounds[g + 1] > start]
    return parquet.read_row_groups(groups).slice(start - bounds[groups[0]], stop - start)


def _predict_batch(files: list[Path], plan: BatchPlan, part: Path, model_path: str | None, num_samples: int,
                   context: str, seed: int) -> dict:
    """One task: the batch's rows from their files, its posterior table written atomically to ``part``."""
    import pyarrow as pa

    rows = pa.concat_tables([_read_rows(files[f], start, stop) for f, start, stop in plan.pieces],
                            promote_options="default")
    table = _contract_table(rows, files[plan.pieces[0][0]], model_path, num_samples, context, seed + plan.index)
    write_table(table, part)
    status = np.asarray(table["status"]).astype(str)
    return {"batch": plan.index, "stars": len(table), "ok": int((status == "ok").sum())}


def predict_dask(input_path: str | Path, output_dir: str | Path, model_path: str | Path | None = None,
                 num_samples: int = 200, batch_size: int = 1024, context: str = "full", seed: int = 0,
                 client: object | None = None, joined_path: str | Path | None = None) -> dict:
    """Predict every star of a partitioned Parquet catalogue on a Dask cluster.

    The part files' row counts are read from their footers and the rows cut into batches of ``batch_size``
    across part-file boundaries (:func:`plan_batches`); each batch is one Dask task that reads its row groups, draws
    its posterior with ``seed + p`` (the model loaded once per worker) and writes
    ``<output_dir>/part-<p>.parquet`` atomically. The result is identical, star for star, to
    :func:`bayesxp.predict.predict_file` over the same rows in one file with the same ``batch_size`` and
    ``seed``. A run started again with the same arguments skips the parts already written.

    Args:
        input_path: A Parquet dataset folder, a HATS catalogue folder (its ``dataset/`` Parquet files, read
            without LSDB; :func:`predict_lsdb` reads it through LSDB) or one Parquet file, of spectra in a layout
            ``predict_file`` reads.
        output_dir: Folder for the contract parts (created); the parts in order are the catalogue in order.
        model_path: Model folder (default: the shipped model); must be readable by every worker.
        num_samples: Posterior samples per star.
        batch_size: Stars per task (and per seed).
        context: ``"full"`` or ``"spectrum"``.
        seed: Seed of the draws (batch p uses ``seed + p``).
        client: A ``distributed.Client`` (default: the current client if there is one, else Dask's default
            scheduler in this process).
        joined_path: Also join the parts into this one file (format from its suffix), as ``predict_file`` writes.

    Returns:
        ``{"stars", "ok", "failed": {reason: count}, "batches", "resumed_batches", "seconds"}``.

    Raises:
        InputFileError: The input is missing, not Parquet, or holds no star.

    Example:
        >>> import tempfile
        >>> from bayesxp.data.demo import demo_path
        >>> folder = Path(tempfile.mkdtemp())
        >>> from bayesxp.io.tables import read_table
        >>> stars = read_table(demo_path())[:40]
        >>> stars["apogee_id"] = stars["apogee_id"].astype(str)
        >>> (folder / "catalogue").mkdir()
        >>> write_table(stars[:25], folder / "catalogue" / "part.0.parquet").name
        'part.0.parquet'
        >>> write_table(stars[25:], folder / "catalogue" / "part.1.parquet").name
        'part.1.parquet'
        >>> result = predict_dask(folder / "catalogue", folder / "posteriors", num_samples=10, batch_size=16)
        >>> result["stars"], result["ok"], result["batches"]
        (40, 40, 3)
        >>> sorted(p.name for p in (folder / "posteriors").glob("*.parquet"))
        ['part-000000.parquet', 'part-000001.parquet', 'part-000002.parquet']
    """
    import dask
    import pyarrow.parquet as pq

    start = time.perf_counter()
    input_path, output_dir = Path(input_path), Path(output_dir)
    if not input_path.exists():
        raise InputFileError(input_path, "does not exist")
    if joined_path is not None:
        table_format(joined_path)  # refuse an unknown suffix before any work
    files = _part_files(input_path)
    try:
        rows = [pq.ParquetFile(f).metadata.num_rows for f in files]  # (P,) rows per part file: footers only
    except Exception as exc:  # pyarrow raises many private types for corrupt files
        raise InputFileError(input_path, f"cannot be read as Parquet ({' '.join(str(exc).split())[:200]})") from exc
    plans = plan_batches(rows, batch_size)
    if not plans:
        raise InputFileError(input_path, "holds no star")
    names = [f.name if f == input_path else f.relative_to(input_path).as_posix() for f in files]
    stamp = {"input": str(input_path.resolve()), "files": names, "rows": rows, "batch_size": batch_size,
             "num_samples": num_samples, "context": context, "seed": seed,
             "model": None if model_path is None else str(Path(model_path).resolve())}
    _stamp_output(output_dir, stamp, "part-*.parquet")
    parts = [output_dir / f"part-{plan.index:06d}.parquet" for plan in plans]
    todo = [plan for plan, part in zip(plans, parts) if not part.is_file()]
    tasks = [dask.delayed(_predict_batch)(files, plan, parts[plan.index],
                                          None if model_path is None else str(model_path), num_samples,
                                          context, seed, dask_key_name=f"bayesxp-batch-{plan.index}")
             for plan in todo]
    if client is not None:
        client.gather(client.compute(tasks))
    else:  # the current distributed client if there is one, else this process
        dask.compute(*tasks)
    if joined_path is not None:  # as predict_file joins: a Parquet output one part at a time, with units
        join_parts(parts, joined_path, output_meta(model_path, num_samples, input_path.name), units=contract_unit)
    return {**status_counts(parts), "batches": len(plans), "resumed_batches": len(plans) - len(todo),
            "seconds": time.perf_counter() - start}


def _stamp_output(output_dir: Path, stamp: dict, parts_glob: str) -> None:
    """Create ``output_dir``; parts left by a run with other settings (another stamp) are deleted."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        stamp_file = output_dir / _STAMP
        if stamp_file.is_file() and json.loads(stamp_file.read_text()) != json.loads(json.dumps(stamp)):
            for old in output_dir.glob(parts_glob):  # parts from a different run: start over
                old.unlink()
        stamp_file.write_text(json.dumps(stamp))
    except OSError as exc:
        raise BayesXPError(f"cannot write {output_dir}: {os_error_reason(exc)}") from exc


def pixel_batch_seed(seed: int, order: int, pixel: int, batch: int) -> int:
    """The seed of batch ``batch`` of the HEALPix pixel ``(order, pixel)`` in :func:`predict_lsdb`.

    It depends on the pixel itself, not on its place in the catalogue, so a star's posterior does not change when
    a search keeps other pixels, or when pixels run in another order on other workers.

    Example:
        >>> pixel_batch_seed(0, 5, 1234, 0) == pixel_batch_seed(0, 5, 1234, 0) != pixel_batch_seed(0, 5, 1234, 1)
        True
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, not {seed}")
    return int(np.random.SeedSequence([seed, order, pixel, batch]).generate_state(1)[0])


def _same_rows(part: Path, frame: pd.DataFrame) -> bool:
    """Whether a written pixel part holds ``frame``'s stars: as many rows, and the same ids in the same order."""
    import pyarrow.parquet as pq

    try:
        written = pq.read_table(part, columns=["source_id"]).column("source_id").to_numpy()
    except Exception:  # noqa: BLE001 - an unreadable part is predicted again
        return False
    ids = next((c for c in ID_COLUMNS if c in frame.columns), None)
    if len(written) != len(frame):
        return False
    return ids is None or np.array_equal(written.astype(np.int64), frame[ids].to_numpy().astype(np.int64))


def _predict_pixel(frame: pd.DataFrame, order: int, pixel: int, part: Path, model_path: str | None,
                   num_samples: int, batch_size: int, context: str, seed: int) -> dict:
    """One task: a HEALPix partition's posterior table, in batches of ``batch_size``, written atomically to ``part``.

    A part already written for the same stars (a resumed run) is kept and nothing is predicted.
    """
    import pandas as pd
    import pyarrow as pa
    from astropy.table import vstack

    if not len(frame):
        return {"stars": 0, "resumed": False}
    if part.is_file() and _same_rows(part, frame):
        return {"stars": len(frame), "resumed": True}
    source = f"HEALPix order {order} pixel {pixel}"
    tables = [_contract_table(pa.Table.from_pandas(pd.DataFrame(frame.iloc[start:start + batch_size]),
                                                   preserve_index=False),
                              source, model_path, num_samples, context, pixel_batch_seed(seed, order, pixel, j))
              for j, start in enumerate(range(0, len(frame), batch_size))]
    part.parent.mkdir(parents=True, exist_ok=True)
    write_table(vstack(tables, metadata_conflicts="silent"), part)
    return {"stars": len(frame), "resumed": False}


def predict_lsdb(catalog: object, output_dir: str | Path, model_path: str | Path | None = None,
                 num_samples: int = 200, batch_size: int = 1024, context: str = "full", seed: int = 0,
                 client: object | None = None, joined_path: str | Path | None = None) -> dict:
    """Predict every star of an LSDB catalogue (a HATS catalogue, e.g. Gaia DR3 XP), one task per HEALPix pixel.

    LSDB reads the partitions (its column selection, search filters and cross-matches apply first); each
    partition is cut into batches of ``batch_size`` in its row order, batch ``j`` of pixel ``(order, n)`` drawn
    with :func:`pixel_batch_seed` ``(seed, order, n, j)``, and its contract table written atomically to
    ``<output_dir>/Norder=<order>/Npix=<n>.parquet``. The result depends only on the seed and on each pixel's rows:
    the same on any cluster, in any order, and equal to :func:`predict_frame` of each pixel's rows in batches with
    those seeds. A run started again with the same arguments keeps every part whose stars (ids, in order) are
    still the pixel's, and predicts the rest; a run with other settings (seed, batch size, samples, context,
    model, catalogue) starts over.

    Args:
        catalog: An ``lsdb.Catalog``, or the path of a HATS catalogue or collection (opened with
            ``lsdb.read_hats``; a collection's main catalogue, without its margin).
        output_dir: Folder for the contract parts (created); the parts in the catalogue's pixel order are the
            catalogue in order.
        model_path: Model folder (default: the shipped model); must be readable by every worker.
        num_samples: Posterior samples per star.
        batch_size: Stars per posterior call (and per seed) within a pixel.
        context: ``"full"`` or ``"spectrum"``.
        seed: Non-negative seed of the draws.
        client: A ``distributed.Client`` (default: the current client if there is one, else Dask's default
            scheduler in this process).
        joined_path: Also join the parts, in pixel order, into this one file (format from its suffix).

    Returns:
        ``{"stars", "ok", "failed": {reason: count}, "pixels", "resumed_pixels", "parts", "seconds"}``; ``parts``
        are the written part files in pixel order (an empty pixel writes none).

    Raises:
        InputFileError: The catalogue path is missing or not a HATS catalogue, or it holds no star.
        ValueError: ``batch_size`` below 1 or a negative ``seed``.

    Example:
        >>> import tempfile, lsdb
        >>> from bayesxp.testing.catalogues import demo_hats_catalogue
        >>> folder = Path(tempfile.mkdtemp())
        >>> hats = demo_hats_catalogue(folder / "demo_hats", rows=40, partition_rows=15)
        >>> result = predict_lsdb(lsdb.read_hats(hats), folder / "posteriors", num_samples=10, batch_size=8)
        >>> result["stars"], result["ok"], result["pixels"] == len(result["parts"])
        (40, 40, True)
    """
    import dask

    start = time.perf_counter()
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    pixel_batch_seed(seed, 0, 0, 0)  # refuses a negative seed before any work
    if joined_path is not None:
        table_format(joined_path)  # refuse an unknown suffix before any work
    catalog = _open_hats(catalog)
    output_dir = Path(output_dir)
    pixels = [(int(p.order), int(p.pixel)) for p in catalog.get_healpix_pixels()]
    info = catalog.hc_structure.catalog_info
    stamp = {"catalogue": str(getattr(catalog.hc_structure, "catalog_path", None) or info.catalog_name),
             "columns": [str(c) for c in catalog.columns], "pixels": pixels, "batch_size": batch_size,
             "num_samples": num_samples, "context": context, "seed": seed,
             "model": None if model_path is None else str(Path(model_path).resolve())}
    _stamp_output(output_dir, stamp, "Norder=*/Npix=*.parquet")
    parts = [output_dir / f"Norder={order}" / f"Npix={pixel}.parquet" for order, pixel in pixels]
    tasks = [dask.delayed(_predict_pixel)(partition, order, pixel, part,
                                          None if model_path is None else str(model_path), num_samples, batch_size,
                                          context, seed, dask_key_name=f"bayesxp-pixel-{order}-{pixel}")
             for partition, (order, pixel), part in zip(catalog.to_delayed(), pixels, parts)]
    done = client.gather(client.compute(tasks)) if client is not None else dask.compute(*tasks)
    written = [part for part, task in zip(parts, done) if task["stars"]]
    if not written:
        raise InputFileError(stamp["catalogue"], "holds no star")
    if joined_path is not None:
        join_parts(written, joined_path, output_meta(model_path, num_samples, info.catalog_name), units=contract_unit)
    return {**status_counts(written), "pixels": len(pixels), "resumed_pixels": sum(t["resumed"] for t in done),
            "parts": written, "seconds": time.perf_counter() - start}


def _open_hats(catalog: object):  # noqa: ANN202 - an lsdb.Catalog
    """An ``lsdb.Catalog`` as given, or opened from a HATS catalogue or collection path."""
    if not isinstance(catalog, (str, Path)):
        if not hasattr(catalog, "get_healpix_pixels"):
            raise TypeError(f"catalog must be an lsdb.Catalog or a HATS path, not {type(catalog).__name__}")
        return catalog
    import lsdb

    path = Path(catalog)
    if not path.exists():
        raise InputFileError(path, "does not exist")
    try:
        return lsdb.read_hats(path)
    except Exception as exc:  # hats raises FileNotFoundError, ValueError and its own types for a non-HATS folder
        raise InputFileError(path, f"is not a HATS catalogue ({' '.join(str(exc).split())[:200]})") from exc
