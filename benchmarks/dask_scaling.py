"""Stars per second of the single-process path against the Dask path on 1 and 2 local workers.

A catalogue of ``--stars`` rows is built by repeating the 240 real demo giants, written as one Parquet file (for
:func:`bayesxp.predict.predict_file`) and as ``--parts`` part files (for :func:`bayesxp.distributed.predict_dask`);
every run uses the same seed and batch size, and each Dask table is checked against the single-process one. The
same stars as a HATS catalogue (LSDB's own writer; partitions of at most ``--batch-size`` rows on the sky) are
predicted by :func:`bayesxp.distributed.predict_lsdb` on the same clusters; its tables (seeded per pixel, so not
comparable with the single-process table) are checked against each other.
Each worker process runs torch on 1 thread (Dask's nanny sets ``OMP_NUM_THREADS=1``), and so does this process.

    python benchmarks/dask_scaling.py --stars 2000 --num-samples 200 --batch-size 250
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from astropy.table import vstack

from bayesxp.data.demo import demo_path
from bayesxp.distributed import predict_dask, predict_lsdb
from bayesxp.io.tables import read_table, write_table
from bayesxp.predict import predict_file
from bayesxp.testing.catalogues import demo_hats_catalogue

RESULTS = Path(__file__).resolve().parent / "results"


def build(folder: Path, n_stars: int, n_parts: int) -> tuple[Path, Path]:
    stars = read_table(demo_path())
    stars["apogee_id"] = stars["apogee_id"].astype(str)
    table = vstack([stars] * (n_stars // len(stars) + 1))[:n_stars]
    single = write_table(table, folder / "catalogue.parquet")
    arrow = pq.read_table(single)
    (folder / "parts").mkdir()
    edges = np.linspace(0, n_stars, n_parts + 1).astype(int)
    for i, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        pq.write_table(arrow.slice(start, stop - start), folder / "parts" / f"part.{i}.parquet")
    return single, folder / "parts"


def agreement(table: object, reference: object) -> str:
    """'bit for bit', or the largest relative difference of any float column (same rows and ids required)."""
    if table.colnames != reference.colnames or not np.array_equal(table["source_id"], reference["source_id"]):
        return "different rows"
    if not all(np.array_equal(table[c], reference[c]) for c in table.colnames if table[c].dtype.kind not in "fc"):
        return "different status or ids"
    floats = [c for c in table.colnames if table[c].dtype.kind in "fc"]
    worst = max(float(np.nanmax(np.abs(np.asarray(table[c]) - np.asarray(reference[c]))
                                / np.maximum(np.abs(np.asarray(reference[c])), 1e-12), initial=0.0))
                for c in floats)
    return "bit for bit" if worst == 0 else f"max rel. diff {worst:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=2000)
    parser.add_argument("--parts", type=int, default=7)
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="dask_scaling_"))
    single_file, parts = build(folder, args.stars, args.parts)
    hats = demo_hats_catalogue(folder / "hats", rows=args.stars, partition_rows=args.batch_size)
    common = {"num_samples": args.num_samples, "batch_size": args.batch_size, "seed": args.seed}
    rows = []
    start = time.perf_counter()
    predict_file(single_file, folder / "single.parquet", progress=False, **common)
    seconds = time.perf_counter() - start
    reference = read_table(folder / "single.parquet")
    rows.append({"path": "predict_file (1 process, 1 thread)", "workers": 1, "cluster_start_s": 0.0,
                 "predict_s": seconds, "stars_per_s": args.stars / seconds, "identical": "reference",
                 "load_average_1min_after": os.getloadavg()[0]})
    for n_workers in args.workers:
        start = time.perf_counter()
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            started = time.perf_counter() - start
            output = folder / f"dask_{n_workers}"
            start = time.perf_counter()
            predict_dask(parts, output, client=client, joined_path=folder / f"dask_{n_workers}.parquet", **common)
            seconds = time.perf_counter() - start
        table = read_table(folder / f"dask_{n_workers}.parquet")
        identical = agreement(table, reference)
        rows.append({"path": f"predict_dask, LocalCluster {n_workers} worker(s) x 1 thread", "workers": n_workers,
                     "cluster_start_s": started, "predict_s": seconds, "stars_per_s": args.stars / seconds,
                     "identical": identical, "load_average_1min_after": os.getloadavg()[0]})
        print(rows[-1], flush=True)
    lsdb_reference = None
    for n_workers in args.workers:
        start = time.perf_counter()
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            started = time.perf_counter() - start
            start = time.perf_counter()
            result = predict_lsdb(hats, folder / f"lsdb_{n_workers}", client=client,
                                  joined_path=folder / f"lsdb_{n_workers}.parquet", **common)
            seconds = time.perf_counter() - start
        table = read_table(folder / f"lsdb_{n_workers}.parquet")
        if lsdb_reference is None:
            lsdb_reference, identical = table, "reference"
        else:
            identical = agreement(table, lsdb_reference)
        rows.append({"path": f"predict_lsdb ({result['pixels']} HEALPix pixels), LocalCluster {n_workers} worker(s) "
                             "x 1 thread", "workers": n_workers, "cluster_start_s": started, "predict_s": seconds,
                     "stars_per_s": args.stars / seconds, "identical": identical,
                     "load_average_1min_after": os.getloadavg()[0]})
        print(rows[-1], flush=True)
    command = "python benchmarks/dask_scaling.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    info = {"command": command.strip(), "stars": args.stars, "parts": args.parts, **common,
            "cpus": os.cpu_count(), "python": platform.python_version(), "rows": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dask_scaling.json").write_text(json.dumps(info, indent=2) + "\n")
    base = rows[0]["stars_per_s"]
    lines = ["# Dask scaling: single process vs a local Dask cluster", "", f"Command: `{info['command']}`", "",
             f"{args.stars} stars (the 240 real demo giants repeated) in {args.parts} Parquet parts; "
             f"{args.num_samples} samples per star, batch size {args.batch_size}, seed {args.seed}; "
             f"{info['cpus']} CPU cores, torch on 1 thread per process. 'identical': the Dask table against the "
             "single-process table, every contract column (bit for bit, or the largest relative difference of a float "
             "column: float32 kernels in other processes); for LSDB, against the first LSDB run's table.",
             "",
             "| path | cluster start (s) | predict (s) | stars/s | speed-up | identical | load avg after |",
             "|---|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {r['path']} | {r['cluster_start_s']:.1f} | {r['predict_s']:.1f} | {r['stars_per_s']:.1f} | "
              f"{r['stars_per_s'] / base:.2f} | {r['identical']} | {r['load_average_1min_after']:.1f} |" for r in rows]
    if max(r["load_average_1min_after"] for r in rows) > info["cpus"] + 0.5:
        lines += ["", f"Measured while other jobs ran (the 1-minute load average after each run is in the last "
                  f"column; above the {info['cpus']} cores the runs competed for CPU): the timings are contended and "
                  "only indicative.", ""]
    else:
        lines += ["", f"Measured with nothing else running (1-minute load average after each run at most the "
                  f"{info['cpus']} cores' worth this benchmark itself uses).", ""]
    (RESULTS / "dask_scaling.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
