"""Peak memory of joining ``predict``'s Parquet parts into the output: streamed (now) against whole (before).

    python benchmarks/join_rss.py [--rows 10000 100000 1000000] [--workdir /tmp/bayesxp_join]

``bayesxp predict`` writes one contract part per batch of 1,024 stars and joins them at the end. The parts here
are real: the shipped model's contract table of the 240 demo giants (200 draws), tiled to 1,024 rows per part
with fresh ``source_id`` s, written by :func:`bayesxp.io.tables.write_table` as ``predict`` writes its parts.
Each size is joined twice, each in a fresh subprocess whose peak RSS is its own ``VmHWM``:

- ``streamed``: :func:`bayesxp.io.tables.join_parts` to a ``.parquet`` output (one part in memory at a time),
  what ``predict`` and ``predict_dask`` now do;
- ``whole``: ``vstack`` of every part and one ``write_table``, what they did before (and still do for CSV,
  ECSV, FITS and HDF5 outputs, which astropy writes whole).

Both outputs are read back and compared (same rows, same values). Results: ``benchmarks/results/join_rss.md/.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import streaming_rss  # the sibling benchmark (its folder is on sys.path when run as a script)

from bayesxp.io.tables import write_table

PART_ROWS = 1024
REPO = Path(__file__).resolve().parents[1]

STREAMED = """
import sys
from pathlib import Path
from bayesxp.io.tables import join_parts
from bayesxp.quantities import contract_unit
parts = sorted(Path(sys.argv[1]).glob("part-*.parquet"))
join_parts(parts, sys.argv[2], {"samples_per_star": 200}, units=contract_unit)
"""

WHOLE = """
import sys
from pathlib import Path
from astropy.table import vstack
from bayesxp.io.tables import read_table, write_table
from bayesxp.quantities import contract_unit
parts = sorted(Path(sys.argv[1]).glob("part-*.parquet"))
table = vstack([read_table(p) for p in parts], metadata_conflicts="silent")
for name in table.colnames:
    table[name].unit = contract_unit(name)
table.meta = {"samples_per_star": 200}
write_table(table, sys.argv[2])
"""


def _contract_rows():  # noqa: ANN202 - an astropy Table
    import bayesxp
    from bayesxp.data.demo import demo_path

    return bayesxp.load().posterior(demo_path(), num_samples=200).to_table()


def _build_parts(table, n_rows: int, folder: Path) -> int:  # noqa: ANN001
    folder.mkdir(parents=True, exist_ok=True)
    tiled = table[np.resize(np.arange(len(table)), PART_ROWS)]
    for k, start in enumerate(range(0, n_rows, PART_ROWS)):
        part = tiled[: min(PART_ROWS, n_rows - start)]
        part["source_id"] = np.arange(start + 1, start + len(part) + 1, dtype=np.int64)
        write_table(part, folder / f"part-{k:06d}.parquet")
    return k + 1


def main(rows: list[int], workdir: Path) -> list[dict]:
    import pyarrow.parquet as pq

    table = _contract_rows()
    measure = streaming_rss.script_peak_rss
    results = []
    for n in rows:
        folder = workdir / f"parts_{n}"
        shutil.rmtree(folder, ignore_errors=True)
        n_parts = _build_parts(table, n, folder)
        row = {"rows": n, "parts": n_parts}
        for name, script in (("streamed", STREAMED), ("whole", WHOLE)):
            output = workdir / f"{name}_{n}.parquet"
            row[f"{name}_peak_rss_mib"], row[f"{name}_s"] = measure(script, str(folder), str(output), cwd=REPO)
        streamed, whole = pq.read_table(workdir / f"streamed_{n}.parquet"), pq.read_table(workdir / f"whole_{n}.parquet")
        row["same_rows"] = streamed.num_rows == whole.num_rows == n
        row["same_values"] = all(streamed.column(c).equals(whole.column(c)) for c in whole.column_names)
        print(json.dumps(row), flush=True)
        results.append(row)
        shutil.rmtree(folder)
        for name in ("streamed", "whole"):
            (workdir / f"{name}_{n}.parquet").unlink()
    return results


def write_report(results: list[dict], command: str) -> None:
    lines = ["# Joining predict's Parquet parts: peak RSS, streamed against whole", "",
             f"Command: `{command}`. Parts of {PART_ROWS} real contract rows (the 240 demo giants' posterior "
             "summaries, tiled); each join in a fresh process, peak RSS its own VmHWM (`/proc/self/status`).", "",
             "| rows | parts | streamed peak RSS (MiB) | whole peak RSS (MiB) | streamed (s) | whole (s) | same rows and values |",
             "|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r['rows']} | {r['parts']} | {r['streamed_peak_rss_mib']:.0f} | {r['whole_peak_rss_mib']:.0f} | "
                     f"{r['streamed_s']:.1f} | {r['whole_s']:.1f} | {'yes' if r['same_rows'] and r['same_values'] else 'NO'} |")
    first, last = results[0], results[-1]
    lines += ["", f"Peak RSS ratio {last['rows']} / {first['rows']} rows: streamed "
              f"{last['streamed_peak_rss_mib'] / first['streamed_peak_rss_mib']:.2f}, whole "
              f"{last['whole_peak_rss_mib'] / first['whole_peak_rss_mib']:.2f}."]
    streaming_rss.save_results("join_rss", lines, {"command": command, "results": results})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", default="/tmp/bayesxp_join")
    args = parser.parse_args()
    results = main(args.rows, Path(args.workdir))
    write_report(results, "python benchmarks/join_rss.py --rows " + " ".join(map(str, args.rows)))
