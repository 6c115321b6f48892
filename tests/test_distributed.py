"""The Dask path (:mod:`bayesxp.distributed`) gives the single-process path's table, star for star.

A catalogue of the 240 real demo giants (one with its flux blanked) is written once as one Parquet file, read by
:func:`bayesxp.predict.predict_file`, and once as a partitioned dataset of uneven part files (named so that a
plain text sort would misorder them, one with several row groups), read by :func:`bayesxp.distributed.predict_dask`
on a local cluster of 2 worker processes. Same ``seed`` and ``batch_size``: every contract column must agree; a
different seed must not (so the comparison can fail).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

import pyarrow.parquet as pq  # noqa: E402

from bayesxp.data.demo import demo_path  # noqa: E402
from bayesxp.distributed import plan_batches, predict_dask, predict_frame  # noqa: E402
from bayesxp.io.tables import read_table, write_table  # noqa: E402
from bayesxp.predict import predict_file  # noqa: E402

NUM_SAMPLES, BATCH_SIZE, SEED = 50, 64, 3
BAD_ROW = 70  # its flux is blanked: the star keeps its row with a status in both paths
PARTS = {"part.0": (0, 50), "part.1": (50, 130), "part.2": (130, 140), "part.10": (140, 240)}
# float32 round-off: both paths run the same float32 network on the same inputs, but in processes whose torch
# may use different kernels; the draws are float64 functions of float32 features
RTOL, ATOL = 1e-5, 1e-8


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("catalogue")
    stars = read_table(demo_path())
    stars["apogee_id"] = stars["apogee_id"].astype(str)
    stars["flux"][BAD_ROW] = np.nan
    write_table(stars, folder / "all.parquet")
    arrow = pq.read_table(folder / "all.parquet")
    (folder / "parts").mkdir()
    for name, (start, stop) in PARTS.items():
        pq.write_table(arrow.slice(start, stop - start), folder / "parts" / f"{name}.parquet", row_group_size=30)
    return {"file": folder / "all.parquet", "parts": folder / "parts", "folder": folder}


@pytest.fixture(scope="module")
def single(catalogue):
    output = catalogue["folder"] / "single.parquet"
    predict_file(catalogue["file"], output, num_samples=NUM_SAMPLES, batch_size=BATCH_SIZE, seed=SEED, progress=False)
    return read_table(output)


@pytest.fixture(scope="module")
def dask_run(catalogue, dask_client):
    start = time.perf_counter()
    result = predict_dask(catalogue["parts"], catalogue["folder"] / "dask_parts", num_samples=NUM_SAMPLES,
                          batch_size=BATCH_SIZE, seed=SEED, client=dask_client,
                          joined_path=catalogue["folder"] / "dask.parquet")
    again = predict_dask(catalogue["parts"], catalogue["folder"] / "dask_parts", num_samples=NUM_SAMPLES,
                         batch_size=BATCH_SIZE, seed=SEED, client=dask_client)
    return {"result": result, "again": again, "table": read_table(catalogue["folder"] / "dask.parquet"),
            "seconds": time.perf_counter() - start}


def test_plan_covers_every_row_once_in_order():
    rows = [50, 80, 0, 10, 100]
    plans = plan_batches(rows, BATCH_SIZE)
    bounds = np.concatenate([[0], np.cumsum(rows)])
    flat = [int(bounds[p]) + i for plan in plans for p, a, b in plan.pieces for i in range(a, b)]
    assert flat == list(range(sum(rows)))
    assert [len(plan) for plan in plans] == [64, 64, 64, 48]
    with pytest.raises(ValueError, match="batch_size"):
        plan_batches(rows, 0)


def test_dask_equals_single_process(single, dask_run):
    table = dask_run["table"]
    assert dask_run["result"]["stars"] == 240 and dask_run["result"]["batches"] == 4
    assert table.colnames == single.colnames
    assert np.array_equal(table["source_id"], single["source_id"])  # same rows, same order
    assert len(np.unique(table["source_id"])) == 240  # the demo stars are distinct: none lost or doubled
    for name in single.colnames:
        if single[name].dtype.kind in "fc":
            np.testing.assert_allclose(table[name], single[name], rtol=RTOL, atol=ATOL, equal_nan=True,
                                       err_msg=name)
        else:
            assert np.array_equal(table[name], single[name]), name
        assert table[name].unit == single[name].unit, name


def test_bad_star_keeps_its_row_with_a_status(single, dask_run):
    for table in (single, dask_run["table"]):
        status = np.asarray(table["status"]).astype(str)
        assert status[BAD_ROW] != "ok" and np.isnan(table["mass_mean"][BAD_ROW])
        assert (status == "ok").sum() == 239
    assert dask_run["result"]["failed"] == {str(single["status"][BAD_ROW]): 1}


def test_run_again_resumes_without_work(dask_run, catalogue):
    assert dask_run["again"]["resumed_batches"] == 4
    assert dask_run["again"]["stars"] == 240


def test_a_different_seed_gives_different_draws(catalogue, dask_run):
    """The equality above can fail: batch 0 drawn with another seed differs."""
    frame = pq.read_table(catalogue["file"]).slice(0, BATCH_SIZE).to_pandas()
    same = predict_frame(frame, num_samples=NUM_SAMPLES, seed=SEED)
    other = predict_frame(frame, num_samples=NUM_SAMPLES, seed=SEED + 1)
    first = dask_run["table"][:BATCH_SIZE]
    np.testing.assert_allclose(same["mass_mean"], first["mass_mean"], rtol=RTOL, atol=ATOL)
    assert np.abs(other["mass_mean"].to_numpy() - np.asarray(first["mass_mean"])).max() > 1e-3


def test_part_files_follow_natural_and_hats_order(tmp_path):
    from bayesxp.distributed import _part_files
    from bayesxp.errors import InputFileError

    dataset = tmp_path / "hats_catalogue" / "dataset"
    names = ["Norder=1/Dir=0/Npix=47.parquet", "Norder=0/Dir=0/Npix=11.parquet", "Norder=1/Dir=0/Npix=5.parquet",
             "Norder=2/Dir=0/Npix=100.parquet", "_metadata", "_common_metadata"]
    for name in names:
        (dataset / name).parent.mkdir(parents=True, exist_ok=True)
        (dataset / name).touch()
    (tmp_path / "hats_catalogue" / "properties").touch()
    found = [p.relative_to(dataset).as_posix() for p in _part_files(tmp_path / "hats_catalogue")]
    assert found == ["Norder=0/Dir=0/Npix=11.parquet", "Norder=1/Dir=0/Npix=5.parquet",
                     "Norder=1/Dir=0/Npix=47.parquet", "Norder=2/Dir=0/Npix=100.parquet"]
    (tmp_path / "collection.properties").touch()
    with pytest.raises(InputFileError, match="HATS collection"):
        _part_files(tmp_path)


_FAULTS_SCRIPT = """
import resource, sys
import numpy as np
from bayesxp.distributed import _undo_fixed_malloc_thresholds

def faults():
    start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(200):
        np.ones(1 << 18)  # 2 MiB, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start

faults()  # warm-up
before = faults()
undone = _undo_fixed_malloc_thresholds()
print(before, undone, faults())
"""


@pytest.mark.parametrize("environ", [{"MALLOC_TRIM_THRESHOLD_": "65536"}, {}])
def test_workers_fixed_malloc_threshold_is_undone(environ):
    """Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``: every 2 MiB array is then mapped afresh,
    512 page faults each (the wrong setting, measured first). After the model loads, arrays reuse the heap."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"} | environ
    out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT], env=env, capture_output=True, text=True, check=True)
    before, undone, after = out.stdout.split()
    if environ:
        assert int(before) > 200 * 400, out.stdout  # 200 arrays x 512 pages, mapped and touched afresh
        assert undone == "True" and int(after) < int(before) / 20, out.stdout
    else:  # nothing fixed: glibc's dynamic thresholds already reuse the heap, and nothing is changed
        assert undone == "False" and int(before) < 200 * 400 / 20, out.stdout
