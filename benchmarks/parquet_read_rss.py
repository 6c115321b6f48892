"""Peak memory of streaming a Parquet input in batches: pyarrow's default reader against bayesxp's.

    python benchmarks/parquet_read_rss.py [--rows 10000 100000 1000000] [--workdir /tmp/bayesxp_rss]

The inputs are ``benchmarks/streaming_rss.py``'s (the real test-split giants repeated to N rows, Parquet row groups
of 4,096, ``flux`` and ``flux_error`` as list columns of 343 float32; an input already in ``--workdir`` with the
right row count is reused). Each size is read in batches of 1,024 rows, each reader in a fresh process whose peak
RSS is its own ``VmHWM``:

- ``pyarrow default``: ``pyarrow.parquet.ParquetFile(path).iter_batches(1024)``, how bayesxp's reader opened the
  file before (``pre_buffer`` on, pyarrow's default: the reader keeps the row groups it has read);
- ``bayesxp``: :func:`bayesxp.xp.read.iter_spectra` (``pre_buffer=False``), each batch turned into sampled spectra
  as ``bayesxp predict`` does.

Results: ``benchmarks/results/parquet_read_rss.md/.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import streaming_rss  # the sibling benchmark (its folder is on sys.path when run as a script)

BATCH = 1024

READERS = {
    "pyarrow default": "import sys, pyarrow.parquet as pq\n"
                       "for batch in pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=1024):\n    pass\n",
    "bayesxp": "import sys\nfrom bayesxp.xp.read import iter_spectra\n"
               "n = sum(len(s) for s in iter_spectra(sys.argv[1], batch_size=1024))\n",
}


def main(rows: list[int], workdir: Path) -> list[dict]:
    from bayesxp.data.dataset import DataConfig, build_training_set

    test = build_training_set(DataConfig(), progress=False).subset("test")
    workdir.mkdir(parents=True, exist_ok=True)
    measure = streaming_rss.script_peak_rss
    results = []
    for n in rows:
        path = workdir / f"input_{n}.parquet"
        if not path.is_file() or pq.ParquetFile(path).metadata.num_rows != n:
            streaming_rss.build_input(path, n, test.flux, test.flux_error)
        row = {"rows": n, "batches": -(-n // BATCH), "input_mb": path.stat().st_size / 1e6}
        for name, script in READERS.items():
            row[f"{name} peak_rss_mib"], row[f"{name} s"] = measure(script, str(path),
                                                                    env={**os.environ, "OMP_NUM_THREADS": "1"})
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def write_report(results: list[dict], command: str) -> None:
    lines = ["# Streaming a Parquet input in batches of 1,024: peak RSS", "",
             f"Command: `{command}`; each reader in a fresh process, peak RSS its own VmHWM (`/proc/self/status`).", "",
             "| rows | batches | input (MB) | pyarrow default reader (MiB) | bayesxp reader (MiB) | pyarrow (s) | bayesxp (s) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['rows']} | {r['batches']} | {r['input_mb']:.0f} | {r['pyarrow default peak_rss_mib']:.0f} | "
                     f"{r['bayesxp peak_rss_mib']:.0f} | {r['pyarrow default s']:.1f} | {r['bayesxp s']:.1f} |")
    first, last = results[0], results[-1]
    lines += ["", f"Peak RSS ratio {last['rows']} / {first['rows']} rows: pyarrow default "
              f"{last['pyarrow default peak_rss_mib'] / first['pyarrow default peak_rss_mib']:.2f}, bayesxp "
              f"{last['bayesxp peak_rss_mib'] / first['bayesxp peak_rss_mib']:.2f}."]
    streaming_rss.save_results("parquet_read_rss", lines, {"command": command, "results": results})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", default="/tmp/bayesxp_rss")
    args = parser.parse_args()
    write_report(main(args.rows, Path(args.workdir)),
                 "python benchmarks/parquet_read_rss.py --rows " + " ".join(map(str, args.rows)))
