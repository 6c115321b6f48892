"""Peak memory of ``bayesxp predict`` on inputs of growing size, and a kill-and-resume check.

    python benchmarks/streaming_rss.py [--rows 10000 30000 100000] [--threads 2] [--workdir /tmp/bayesxp_rss] [--keep]

For each size a Parquet file of that many rows is built by repeating the real test-split giants
(:func:`bayesxp.data.dataset.build_training_set`, split ``"test"``) in the sampled-spectrum layout predict reads
(``source_id``, ``flux``, ``flux_error`` as list columns of 343 float32), written row group by row group with
``pyarrow.parquet.ParquetWriter`` so the build never holds the file in memory. Row ``i`` (0-based) gets the fake
``source_id`` ``i + 1`` (its spectrum is test giant ``i mod n_test``), so a duplicated or missing row shows.
Each size is then predicted by the real CLI (``python -m bayesxp.cli predict``) in a subprocess with
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` set to ``--threads``; its peak RSS is the child's own ``VmHWM`` (read
from ``/proc`` every 0.2 s; ``ru_maxrss`` from ``os.wait4`` is kept as ``ru_maxrss_mib``, but it also counts this
process's memory copied into the child at fork), and a psutil poll every 0.2 s splits it into the streaming phase (fewer parts in
``<output>.partial/`` than batches) and the final join. The output is checked: N rows, the input's ids in input
order, no duplicates, every status ``"ok"``. At the smallest size the run is also SIGKILLed once at least two
parts exist, restarted with the same arguments, and its output compared with the uninterrupted run's.
Results: ``benchmarks/results/streaming_rss.md/.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from bayesxp.io.tables import atomic_path

RESULTS = Path(__file__).resolve().parent / "results"
ROW_GROUP = 4096
POLL_S = 0.2


def build_input(path: Path, n_rows: int, flux: np.ndarray, flux_error: np.ndarray) -> float:
    """Write ``n_rows`` repeated spectra as Parquet, one row group at a time; returns the file size [MB].

    Args:
        path: The Parquet file to write.
        n_rows: Rows to write.
        flux: ``(n_test, 343)`` float32 spectra to repeat.
        flux_error: ``(n_test, 343)`` float32 errors.
    """
    n_test, n_samples = flux.shape
    schema = pa.schema([("source_id", pa.int64()), ("flux", pa.list_(pa.float32())),
                        ("flux_error", pa.list_(pa.float32()))])
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, n_rows, ROW_GROUP):
            rows = np.arange(start, min(start + ROW_GROUP, n_rows))
            spectra = rows % n_test  # (G,) index of the test giant each row repeats
            offsets = pa.array(np.arange(len(rows) + 1, dtype=np.int32) * n_samples)
            columns = [pa.array(rows + 1, type=pa.int64()),
                       pa.ListArray.from_arrays(offsets, pa.array(flux[spectra].ravel())),  # (G * 343,)
                       pa.ListArray.from_arrays(offsets, pa.array(flux_error[spectra].ravel()))]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return path.stat().st_size / 1e6


def predict_command(input_path: Path, output_path: Path, num_samples: int, batch_size: int) -> list[str]:
    return [sys.executable, "-m", "bayesxp.cli", "predict", "--input", str(input_path), "--output", str(output_path),
            "--num-samples", str(num_samples), "--batch-size", str(batch_size), "--quiet"]


def child_env(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


_PRINT_HWM = "\nprint([line for line in open('/proc/self/status') if line.startswith('VmHWM')][0].split()[1])\n"


def script_peak_rss(script: str, *args: str, env: dict | None = None, cwd: Path | None = None) -> tuple[float, float]:
    """``(peak RSS in MiB, seconds)`` of a Python script run in a fresh process with ``args``.

    The child prints its own ``VmHWM`` as its last line (see :func:`_vm_hwm` for why not ``ru_maxrss``);
    used by ``benchmarks/join_rss.py`` and ``benchmarks/parquet_read_rss.py``.
    """
    clock = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", script + _PRINT_HWM, *args], env=env, cwd=cwd,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"the measured script failed:\n{result.stderr[-2000:]}")
    return int(result.stdout.split()[-1]) / 1024, time.perf_counter() - clock


def _vm_hwm(pid: int) -> int:
    """The process's own peak RSS in kB (``VmHWM``, its address space since exec). ``ru_maxrss`` from ``wait4``
    would also count this benchmark's memory copied into the child at fork: a floor of the parent's size."""
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])


def run_predict(command: list[str], env: dict, partial: Path, n_batches: int, kill_at_parts: int | None = None
                ) -> dict:
    """Run one predict subprocess, polling its RSS; optionally SIGKILL it once ``kill_at_parts`` parts exist.

    Returns:
        ``{"wall_s", "peak_rss_mib" (the child's VmHWM, last read before it exited, every 0.2 s), "ru_maxrss_mib",
        "stream_peak_rss_mib", "join_peak_rss_mib"
        (psutil samples while fewer / all parts existed), "returncode", "parts_at_kill"}``.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    handle = psutil.Process(proc.pid)
    stream_peak = join_peak = hwm = 0
    parts_at_kill = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = handle.memory_info().rss
            hwm = max(hwm, _vm_hwm(proc.pid))
        except (psutil.NoSuchProcess, OSError, IndexError, StopIteration):  # exiting: no VmHWM line left
            rss = 0
        parts = len(list(partial.glob("part-*.parquet"))) if partial.is_dir() else 0
        if parts < n_batches:
            stream_peak = max(stream_peak, rss)
        else:
            join_peak = max(join_peak, rss)
        if kill_at_parts is not None and parts_at_kill is None and parts >= kill_at_parts:
            proc.send_signal(signal.SIGKILL)
            parts_at_kill = parts
        time.sleep(POLL_S)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    log = proc.stdout.read().decode(errors="replace")
    proc.stdout.close()
    seconds = re.findall(r"\(([0-9.]+) s\)\s*$", log)  # predict_file's own time, model loading excluded
    if proc.returncode != 0 and kill_at_parts is None:
        raise RuntimeError(f"predict failed ({proc.returncode}):\n{log[-3000:]}")
    return {"wall_s": wall, "peak_rss_mib": hwm / 1024, "ru_maxrss_mib": usage.ru_maxrss / 1024,
            "stream_peak_rss_mib": stream_peak / 2**20,
            "join_peak_rss_mib": join_peak / 2**20, "returncode": proc.returncode, "parts_at_kill": parts_at_kill,
            "predict_s": float(seconds[-1]) if seconds else None,
            "log_tail": log.strip().splitlines()[-1] if log.strip() else ""}


def verify(output_path: Path, n_rows: int) -> dict:
    """Check the output holds ids ``1..n_rows`` once each, in input order, all with status ``"ok"``."""
    table = pq.read_table(output_path, columns=["source_id", "status"])
    ids = table["source_id"].to_numpy()
    status = np.asarray(table["status"].to_pylist())
    checks = {"row_count": len(ids) == n_rows, "unique": len(np.unique(ids)) == len(ids),
              "same_ids_in_order": bool(len(ids) == n_rows and np.array_equal(ids, np.arange(1, n_rows + 1))),
              "all_ok": bool((status == "ok").all())}
    return {"output_rows": len(ids), "duplicates": len(ids) - len(np.unique(ids)),
            "missing": int(n_rows - np.isin(np.arange(1, n_rows + 1), ids).sum()),
            "not_ok": int((status != "ok").sum()), "verified": all(checks.values()), **checks}


def identical(a: Path, b: Path) -> bool:
    """Every column of two Parquet outputs equal (NaN equal to NaN)."""
    ta, tb = pq.read_table(a), pq.read_table(b)
    if ta.column_names != tb.column_names or ta.num_rows != tb.num_rows:
        return False
    for name in ta.column_names:
        x, y = ta[name].to_numpy(zero_copy_only=False), tb[name].to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f" and not np.array_equal(x, y, equal_nan=True):
            return False
        if x.dtype.kind != "f" and not np.array_equal(x, y):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 30_000, 100_000],
                        help="input sizes (1000000 is possible but takes over an hour at ~250 stars/s)")
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of the predict subprocess")
    parser.add_argument("--workdir", default="/tmp/bayesxp_rss")
    parser.add_argument("--keep", action="store_true", help="keep the input and output files")
    parser.add_argument("--no-resume-check", action="store_true")
    parser.add_argument("--malloc-mmap-threshold", type=int, default=None,
                        help="MALLOC_MMAP_THRESHOLD_ of the predict subprocess (bytes; glibc): a fixed threshold "
                             "returns every larger array to the system when freed instead of keeping it in the heap")
    parser.add_argument("--name", default="streaming_rss", help="results file stem in benchmarks/results")
    args = parser.parse_args()
    from bayesxp.data.dataset import DataConfig, build_training_set

    started = time.perf_counter()
    test = build_training_set(DataConfig(), progress=False).subset("test")
    flux, flux_error = np.asarray(test.flux, np.float32), np.asarray(test.flux_error, np.float32)  # (n_test, 343)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    env = child_env(args.threads)
    if args.malloc_mmap_threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = str(args.malloc_mmap_threshold)
    rows = []
    resume = None
    for n in sorted(args.rows):
        input_path, output_path = workdir / f"input_{n}.parquet", workdir / f"output_{n}.parquet"
        partial = output_path.with_name(output_path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        output_path.unlink(missing_ok=True)
        t0 = time.perf_counter()
        size_mb = build_input(input_path, n, flux, flux_error)
        build_s = time.perf_counter() - t0
        n_batches = -(-n // args.batch_size)
        command = predict_command(input_path, output_path, args.num_samples, args.batch_size)
        run = run_predict(command, env, partial, n_batches)
        row = {"rows": n, "input_mb": size_mb, "build_s": build_s, "batches": n_batches, **run,
               "stars_per_s": n / run["wall_s"],
               "predict_stars_per_s": n / run["predict_s"] if run["predict_s"] else None, **verify(output_path, n), "load_average_1min_after": os.getloadavg()[0]}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if resume is None and not args.no_resume_check and n_batches >= 3:
            resumed_output = workdir / f"resumed_{n}.parquet"
            resumed_partial = resumed_output.with_name(resumed_output.name + ".partial")
            shutil.rmtree(resumed_partial, ignore_errors=True)
            resumed_output.unlink(missing_ok=True)
            command_r = predict_command(input_path, resumed_output, args.num_samples, args.batch_size)
            killed = run_predict(command_r, env, resumed_partial, n_batches, kill_at_parts=2)
            parts_left = len(list(resumed_partial.glob("part-*.parquet")))
            rerun = run_predict(command_r, env, resumed_partial, n_batches)
            resume = {"rows": n, "killed_returncode": killed["returncode"], "parts_at_kill": killed["parts_at_kill"],
                      "parts_resumed": parts_left, "batches": n_batches, "killed_wall_s": killed["wall_s"],
                      "rerun_wall_s": rerun["wall_s"], **verify(resumed_output, n),
                      "identical_to_uninterrupted": identical(resumed_output, output_path)}
            print(json.dumps(resume), flush=True)
        if not args.keep:
            for path in (input_path, output_path, workdir / f"resumed_{n}.parquet"):
                path.unlink(missing_ok=True)
        write_results(args, rows, resume, len(flux), started, done=False)
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    write_results(args, rows, resume, len(flux), started, done=True)


def write_results(args: argparse.Namespace, rows: list[dict], resume: dict | None, n_test: int, started: float,
                  done: bool) -> None:
    """Write the json and md (after every size, so an interrupted run keeps the sizes it finished)."""
    ratio = rows[-1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    stream_ratio = rows[-1]["stream_peak_rss_mib"] / rows[0]["stream_peak_rss_mib"]
    command_line = "python benchmarks/streaming_rss.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    info = {"command": command_line.strip(), "num_samples": args.num_samples, "batch_size": args.batch_size,
            "threads": args.threads, "row_group": ROW_GROUP, "test_giants": n_test, "cpus": os.cpu_count(),
            "python": platform.python_version(), "total_s": time.perf_counter() - started,
            "rss_ratio_largest_smallest": ratio, "stream_rss_ratio_largest_smallest": stream_ratio,
            "rss_flat_within_20pct": ratio <= 1.2, "complete": done, "rows": rows, "resume": resume}
    lines = ["# Streaming predict: peak memory against input size, and resume after a kill", "",
             f"Command: `{info['command']}`", "",
             *([] if done else [f"**Partial: written after {len(rows)} of {len(args.rows)} sizes; the run was still "
                                "going (or was stopped).**", ""]),
             f"Inputs: the {n_test} real test-split giants repeated to N rows, Parquet in row groups of {ROW_GROUP} "
             "(`source_id`, `flux`, `flux_error` as list columns of 343 float32); row i gets the fake source_id i + 1 "
             "so duplicates and gaps show. Each size runs `python -m bayesxp.cli predict --input X --output "
             f"Y.parquet --num-samples {args.num_samples} --batch-size {args.batch_size}` in its own subprocess with "
             f"OMP/MKL threads = {args.threads}, on a {info['cpus']}-core machine. Peak RSS: the child's own "
             "VmHWM (`/proc/<pid>/status`, read every 0.2 s; `ru_maxrss` from `os.wait4` would add this benchmark's "
             "memory copied at fork); 'streaming' and 'join' peaks are psutil samples every 0.2 s while fewer "
             "than all / all parts were in `<output>.partial/` (the join reads every part and writes the output). "
             "'wall' includes starting Python and loading the model; 'stars/s (predict)' uses the time "
             "predict_file reports (reading, predicting, writing parts, joining). 'verified': N rows, source_ids exactly 1..N in input order, no duplicates, every status ok.", "",
             "| rows | input (MB) | batches | peak RSS (MiB) | streaming peak (MiB) | join peak (MiB) | wall (s) | "
             "stars/s (wall) | stars/s (predict) | verified | load avg after |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    lines += [f"| {r['rows']} | {r['input_mb']:.1f} | {r['batches']} | {r['peak_rss_mib']:.0f} | "
              f"{r['stream_peak_rss_mib']:.0f} | {r['join_peak_rss_mib']:.0f} | {r['wall_s']:.1f} | "
              f"{r['stars_per_s']:.1f} | {r['predict_stars_per_s'] or float('nan'):.1f} | {'yes' if r['verified'] else 'no'} | {r['load_average_1min_after']:.2f} |"
              for r in rows]
    lines += ["", f"Peak RSS ratio largest / smallest input ({rows[-1]['rows']} / {rows[0]['rows']} rows): "
              f"**{ratio:.2f}** (goal: flat within 20%, i.e. <= 1.20: {'met' if ratio <= 1.2 else 'not met'}); "
              f"streaming phase alone: {stream_ratio:.2f}.", ""]
    if resume is not None:
        lines += ["## Kill and resume", "",
                  f"{resume['rows']} rows ({resume['batches']} batches): SIGKILLed once {resume['parts_at_kill']} parts "
                  f"existed (exit code {resume['killed_returncode']}, after {resume['killed_wall_s']:.1f} s); "
                  f"{resume['parts_resumed']} parts were left and resumed by the rerun with the same arguments "
                  f"({resume['rerun_wall_s']:.1f} s). Output: {resume['output_rows']} rows, {resume['duplicates']} "
                  f"duplicated, {resume['missing']} missing, ids 1..N in input order: {resume['same_ids_in_order']}, "
                  f"all ok: {resume['all_ok']}; every column identical to the uninterrupted run: "
                  f"{resume['identical_to_uninterrupted']}.", ""]
    best = max(r["stars_per_s"] for r in rows)
    lines += [f"Total benchmark time {info['total_s']:.0f} s. 1,000,000 rows (`--rows 1000000`) works the same way "
              f"but is not a default: at the {best:.0f} stars/s measured here it would take {1e6 / best / 3600:.1f} h.", ""]
    save_results(args.name, lines, info)


def save_results(stem: str, lines: list[str], info: dict) -> None:
    """``results/<stem>.md`` (the lines) and ``results/<stem>.json`` (``info``), each written atomically; the md
    printed. Shared by the sibling memory benchmarks (``join_rss.py``, ``parquet_read_rss.py``)."""
    RESULTS.mkdir(exist_ok=True)
    with atomic_path(RESULTS / f"{stem}.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    with atomic_path(RESULTS / f"{stem}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
