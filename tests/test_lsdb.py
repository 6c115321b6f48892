"""The LSDB path (:func:`bayesxp.distributed.predict_lsdb`): a HATS catalogue of real stars, one task per pixel.

The catalogue is the 240 demo giants (real Gaia XP spectra; one with its flux blanked) written as a HATS catalogue
by LSDB itself, partitioned on the sky into pixels of at most 40 rows. ``predict_lsdb`` on a local cluster of 2
worker processes must give, star for star, what the single-process path gives: each pixel's Parquet file read
with pyarrow (not LSDB) and predicted by :func:`predict_frame` in batches seeded by :func:`pixel_batch_seed`. A
different seed must not (so the comparison can fail), a search that drops pixels must not change the kept pixels'
stars, and a rerun must keep only the parts whose stars are still the pixel's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")
lsdb = pytest.importorskip("lsdb")

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bayesxp.data.demo import demo_path  # noqa: E402
from bayesxp.distributed import pixel_batch_seed, predict_frame, predict_lsdb  # noqa: E402
from bayesxp.errors import InputFileError  # noqa: E402
from bayesxp.io.tables import read_table  # noqa: E402
from bayesxp.testing.catalogues import demo_hats_catalogue  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                                        "ignore:.*:Warning:lsdb", "ignore:.*:Warning:nested_pandas")

NUM_SAMPLES, BATCH_SIZE, SEED = 30, 16, 5
BAD_ROW = 70  # demo row whose flux is blanked
RTOL, ATOL = 1e-5, 1e-8  # float32 network in separate processes (as tests/test_distributed.py)


@pytest.fixture(scope="module")
def hats(tmp_path_factory) -> Path:
    return demo_hats_catalogue(tmp_path_factory.mktemp("lsdb") / "demo_hats", partition_rows=40,
                               blank_flux=[BAD_ROW])


def _pixel_file(hats: Path, order: int, pixel: int) -> Path:
    (found,) = (hats / "dataset" / f"Norder={order}").glob(f"Dir=*/Npix={pixel}.parquet")
    return found


@pytest.fixture(scope="module")
def reference(hats) -> dict[tuple[int, int], pd.DataFrame]:
    """The single-process path: each pixel file read by pyarrow, predicted in batches with the pixel seeds."""
    tables = {}
    for pixel in lsdb.read_hats(hats).get_healpix_pixels():
        rows = pq.read_table(_pixel_file(hats, pixel.order, pixel.pixel)).to_pandas()
        tables[(pixel.order, pixel.pixel)] = pd.concat(
            [predict_frame(rows.iloc[start:start + BATCH_SIZE], num_samples=NUM_SAMPLES,
                           seed=pixel_batch_seed(SEED, pixel.order, pixel.pixel, j))
             for j, start in enumerate(range(0, len(rows), BATCH_SIZE))], ignore_index=True)
    return tables


@pytest.fixture(scope="module")
def cluster_run(hats, tmp_path_factory, dask_client) -> dict:
    folder = tmp_path_factory.mktemp("lsdb_out")
    result = predict_lsdb(hats, folder / "parts", num_samples=NUM_SAMPLES, batch_size=BATCH_SIZE, seed=SEED,
                          client=dask_client, joined_path=folder / "joined.parquet")
    return {"result": result, "folder": folder, "joined": read_table(folder / "joined.parquet")}


def _assert_same(table: pd.DataFrame, expected: pd.DataFrame, what: str) -> None:
    assert list(table.columns) == list(expected.columns), what
    for name in expected.columns:
        if expected[name].dtype.kind in "fc":
            np.testing.assert_allclose(table[name].to_numpy(), expected[name].to_numpy(), rtol=RTOL, atol=ATOL,
                                       equal_nan=True, err_msg=f"{what}: {name}")
        else:
            assert np.array_equal(table[name].to_numpy(), expected[name].to_numpy()), f"{what}: {name}"


def test_cluster_equals_single_process(cluster_run, reference):
    result = cluster_run["result"]
    assert len(reference) >= 6, "the catalogue should span several pixels"
    assert result["pixels"] == len(reference) and result["stars"] == 240 and result["resumed_pixels"] == 0
    for part, (order, pixel) in zip(result["parts"], reference):
        assert part.relative_to(cluster_run["folder"] / "parts").as_posix() == f"Norder={order}/Npix={pixel}.parquet"
        _assert_same(pq.read_table(part).to_pandas(), reference[(order, pixel)], f"pixel {order}/{pixel}")


def test_joined_output_holds_every_star_once_in_pixel_order(cluster_run, reference):
    joined = cluster_run["joined"]
    expected = pd.concat(reference.values(), ignore_index=True)
    assert np.array_equal(np.asarray(joined["source_id"]), expected["source_id"].to_numpy())
    demo_ids = read_table(demo_path())["gaiaedr3_source_id"]
    assert sorted(np.asarray(joined["source_id"]).tolist()) == sorted(np.asarray(demo_ids).tolist())
    assert joined["mass_mean"].unit is not None  # joined with the contract's units, as predict_file writes


def test_bad_star_keeps_its_row_with_a_status(cluster_run):
    joined = cluster_run["joined"]
    bad_id = np.asarray(read_table(demo_path())["gaiaedr3_source_id"])[BAD_ROW]
    row = np.flatnonzero(np.asarray(joined["source_id"]) == bad_id)
    assert len(row) == 1
    assert str(joined["status"][row[0]]) != "ok" and np.isnan(joined["mass_mean"][row[0]])
    assert cluster_run["result"]["ok"] == 239
    assert cluster_run["result"]["failed"] == {str(joined["status"][row[0]]): 1}


def test_a_different_seed_gives_different_draws(hats, reference):
    """The equality above can fail: a pixel drawn with another seed differs."""
    (order, pixel), expected = next(iter(reference.items()))
    rows = pq.read_table(_pixel_file(hats, order, pixel)).to_pandas().iloc[:BATCH_SIZE]
    other = predict_frame(rows, num_samples=NUM_SAMPLES, seed=pixel_batch_seed(SEED + 1, order, pixel, 0))
    assert np.nanmax(np.abs(other["mass_mean"].to_numpy() - expected["mass_mean"].to_numpy()[:BATCH_SIZE])) > 1e-3


def test_a_search_keeps_the_kept_pixels_stars_unchanged(hats, reference, tmp_path):
    """Seeds follow pixels, not their place in the catalogue: dropping pixels changes none of the kept ones."""
    pixels = lsdb.read_hats(hats).get_healpix_pixels()
    kept = lsdb.read_hats(hats).pixel_search(pixels[-3:])
    result = predict_lsdb(kept, tmp_path / "parts", num_samples=NUM_SAMPLES, batch_size=BATCH_SIZE, seed=SEED)
    assert result["pixels"] == 3
    for part, pixel in zip(result["parts"], pixels[-3:]):
        _assert_same(pq.read_table(part).to_pandas(), reference[(pixel.order, pixel.pixel)], f"kept {pixel}")


def test_rerun_keeps_only_parts_that_still_hold_the_pixels_stars(hats, tmp_path):
    catalogue = lsdb.read_hats(hats, columns=["gaiaedr3_source_id", "flux", "flux_error"])
    pixels = catalogue.get_healpix_pixels()[:4]
    small = catalogue.pixel_search(pixels)
    first = predict_lsdb(small, tmp_path / "parts", num_samples=NUM_SAMPLES, batch_size=BATCH_SIZE, seed=SEED)
    before = [pq.read_table(part) for part in first["parts"]]
    first["parts"][1].unlink()  # a part lost with a killed run
    first["parts"][2].write_bytes(first["parts"][2].read_bytes()[:100])  # truncated: predicted again
    # a part written for other stars (as after a catalogue update): predicted again
    pq.write_table(before[0].slice(1), first["parts"][3])
    again = predict_lsdb(small, tmp_path / "parts", num_samples=NUM_SAMPLES, batch_size=BATCH_SIZE, seed=SEED)
    assert again["resumed_pixels"] == 1 and again["stars"] == first["stars"]
    assert pq.read_table(first["parts"][0]).equals(before[0])
    for k in (1, 2, 3):
        after = pq.read_table(first["parts"][k]).to_pandas()
        _assert_same(after, before[k].to_pandas(), f"redone part {k}")
    other = predict_lsdb(small, tmp_path / "parts", num_samples=NUM_SAMPLES, batch_size=BATCH_SIZE, seed=SEED + 1)
    assert other["resumed_pixels"] == 0  # other settings: every part predicted again


def test_bad_arguments_are_refused_before_any_work(tmp_path, hats):
    with pytest.raises(InputFileError, match="does not exist"):
        predict_lsdb(tmp_path / "missing", tmp_path / "out")
    (tmp_path / "not_hats").mkdir()
    (tmp_path / "not_hats" / "a.parquet").write_bytes(b"PAR1")
    with pytest.raises(InputFileError, match="not a HATS catalogue"):
        predict_lsdb(tmp_path / "not_hats", tmp_path / "out")
    with pytest.raises(ValueError, match="non-negative"):
        predict_lsdb(hats, tmp_path / "out", seed=-1)
    with pytest.raises(ValueError, match="batch_size"):
        predict_lsdb(hats, tmp_path / "out", batch_size=0)
    with pytest.raises(TypeError, match="lsdb.Catalog"):
        predict_lsdb(pd.DataFrame(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
