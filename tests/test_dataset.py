"""The training set: labels from the library columns, the HDF5 cache, and (slow) the real build."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from bayesxp.data import dataset
from bayesxp.data.dataset import (
    LABELS,
    DataConfig,
    TrainingSet,
    _fingerprint,
    _read_cache,
    _write_cache,
    labels_from_meta,
)
from bayesxp.data.selection import SelectionConfig
from bayesxp.data.summary import source_id_digest
from bayesxp.io.library import read_reserved_stars
from bayesxp.labels.transfer import TransferConfig
from bayesxp.model.folder import default_model_path, read_manifest
from bayesxp.quantities import split_of

BIG_ID = 5853418002145112704


def _label(values: np.ndarray, name: str) -> np.ndarray:
    return values[:, LABELS.index(name)]


# --------------------------------------------------------------------------------- labels_from_meta
@pytest.fixture
def hand_made() -> pd.DataFrame:
    return pd.DataFrame({
        "teff": [4500.0, 4800.0, 5000.0, 4200.0], "teff_err": [50.0, 60.0, 70.0, 80.0],
        "logg": [2.5, 2.9, 3.1, 1.5], "logg_err": [0.05, 0.06, 0.07, 0.08],
        "fe_h": [-0.2, 0.1, np.nan, -1.0], "fe_h_err": [0.01, 0.02, 0.03, 0.04],
        "alpha_m": [0.1, 0.0, 0.05, 0.3], "alpha_m_err": [0.02, 0.02, 0.02, 0.02],
        "gaiaedr3_phot_bp_mean_mag": [12.5, 13.0, np.nan, 11.0],
        "gaiaedr3_phot_rp_mean_mag": [11.25, 12.0, 10.0, 9.5],
        "j": [10.0, 11.0, 9.0, 8.0], "h": [9.5, 10.25, 8.5, 7.25], "k": [9.25, 10.0, 8.25, 7.0],
        "ak_targ": [0.125, 5.0, -5.2, -4.9],
        "transfer_ln_mass": [0.2, 0.3, np.nan, 0.0], "transfer_ln_mass_err": [0.1, 0.1, np.nan, 0.2],
        "transfer_ln_age": [1.5, 1.0, np.nan, 2.5], "transfer_ln_age_err": [0.3, 0.2, np.nan, 0.4],
    })


def test_labels_from_meta_known_values(hand_made):
    values, errors = labels_from_meta(hand_made)
    assert values.shape == errors.shape == (4, len(LABELS)) and values.dtype == errors.dtype == np.float32
    expected = {
        "teff": ([4500, 4800, 5000, 4200], [50, 60, 70, 80]),
        "m_h": ([-0.2, 0.1, np.nan, -1.0], [0.01, 0.02, np.nan, 0.04]),  # [Fe/H] is the metallicity label
        "bp_rp": ([1.25, 1.0, np.nan, 1.5], [0.01, 0.01, np.nan, 0.01]),  # assumed 0.01 mag
        "j_h": ([0.5, 0.75, 0.5, 0.75], [0.03] * 4),  # assumed 0.03 mag
        "j_k": ([0.75, 1.0, 0.75, 1.0], [0.03] * 4),
        "ak_targ": ([0.125, np.nan, np.nan, -4.9], [0.05, np.nan, np.nan, 0.05]),  # |A_K| >= 5: missing
        "ln_mass": ([0.2, 0.3, np.nan, 0.0], [0.1, 0.1, np.nan, 0.2]),
        "ln_age": ([1.5, 1.0, np.nan, 2.5], [0.3, 0.2, np.nan, 0.4]),
    }
    for name, (value, error) in expected.items():
        np.testing.assert_allclose(_label(values, name), value, rtol=1e-6, equal_nan=True, err_msg=name)
        np.testing.assert_allclose(_label(errors, name), error, rtol=1e-6, equal_nan=True, err_msg=name)
    assert np.array_equal(np.isfinite(values), np.isfinite(errors))  # no error without a value


def test_labels_from_meta_missing_columns_give_nan(hand_made):
    without_transfer = hand_made.drop(columns=[c for c in hand_made if c.startswith("transfer_")])
    values, errors = labels_from_meta(without_transfer)
    assert np.isnan(_label(values, "ln_mass")).all() and np.isnan(_label(errors, "ln_age")).all()
    # a column named m_h is not read: the library's metallicity is fe_h (a wrong input shows it)
    renamed = hand_made.rename(columns={"fe_h": "m_h"})
    assert np.isnan(_label(labels_from_meta(renamed)[0], "m_h")).all()


# ---------------------------------------------------------------------------------------- the cache
@pytest.fixture
def synthetic() -> TrainingSet:
    training_set = TrainingSet.synthetic(12, seed=3)
    training_set.split = np.array(["train", "val", "test"] * 4, dtype=object)
    training_set.meta["apogee_id"] = [f"2M{i:08d}+0000000" for i in range(12)]
    training_set.meta["seismic_dev"] = [True, False] * 6
    training_set.meta["seismic_mass"] = [1.1, np.nan] * 6
    training_set.summary = {"counts": [["all rows", 40226], ["XP S/N >= 20", 12]], "n_by_split": {"train": 4}}
    training_set.labels[0, 4] = np.nan
    return training_set


def test_cache_round_trip(tmp_path, synthetic):
    path = tmp_path / "trainingset-0123.h5"
    _write_cache(path, synthetic)
    assert os.listdir(tmp_path) == [path.name]  # atomic: no temporary file left
    back = _read_cache(path)
    for name in ("source_id", "flux", "flux_error", "labels", "label_error"):
        expected, got = getattr(synthetic, name), getattr(back, name)
        assert got.dtype == expected.dtype, name
        assert np.array_equal(got, expected, equal_nan=True), name  # bit-identical
    assert back.split.tolist() == synthetic.split.tolist()
    assert back.summary == synthetic.summary and back.label_names == LABELS
    assert back.meta["apogee_id"].tolist() == synthetic.meta["apogee_id"].tolist()
    assert back.meta["seismic_dev"].dtype == bool
    assert back.meta["seismic_dev"].tolist() == synthetic.meta["seismic_dev"].tolist()
    np.testing.assert_array_equal(back.meta["seismic_mass"], synthetic.meta["seismic_mass"])
    assert np.array_equal(back.mask, synthetic.mask)
    # the comparison is not vacuous: a changed flux value is seen
    back.flux[3, 7] += np.float32(1e-3)
    assert not np.array_equal(back.flux, synthetic.flux)


def test_cache_keeps_integer_meta_columns(tmp_path, synthetic):
    synthetic.meta["source_id"] = np.array([BIG_ID + i for i in range(12)], dtype=np.int64)
    synthetic.meta["xp_row"] = np.arange(12, dtype=np.int64)
    _write_cache(tmp_path / "c.h5", synthetic)
    back = _read_cache(tmp_path / "c.h5")
    assert back.meta["source_id"].dtype.kind == "i"
    assert back.meta["source_id"].tolist() == synthetic.meta["source_id"].tolist()


def test_fingerprint_follows_config_and_files(tmp_path):
    files = [tmp_path / "a.fits", tmp_path / "b.csv"]
    for path in files:
        path.write_text("x")
    key = _fingerprint(DataConfig(), files)
    assert len(key) == 16 and key == _fingerprint(DataConfig(), files)
    assert _fingerprint(DataConfig(selection=SelectionConfig(min_xp_snr=30.0)), files) != key
    assert _fingerprint(DataConfig(transfer=TransferConfig(seed=1)), files) != key
    files[1].write_text("xy")  # size changes
    assert _fingerprint(DataConfig(), files) != key
    files[1].write_text("x")
    os.utime(files[1], (time.time() + 10, time.time() + 10))  # mtime changes
    assert _fingerprint(DataConfig(), files) != key


def _cache_key(config: DataConfig, library_file, shared_data) -> str:
    inputs = [library_file] + sorted((shared_data / "seismic").iterdir()) + [shared_data / "xp_seismic_dev.csv"]
    if config.exclude_reserved:
        inputs.append(shared_data / "reserved_stars.csv")
    return _fingerprint(config, inputs)


def test_build_returns_a_matching_cache_without_reading_anything(tmp_path, monkeypatch, shared_data, library_file,
                                                                 synthetic):
    monkeypatch.setenv("BAYESXP_CACHE_DIR", str(tmp_path))

    def must_not_run(*args, **kwargs):
        raise AssertionError("the library was read although the cache matched")

    monkeypatch.setattr(dataset, "read_library", must_not_run)
    config = DataConfig(data_dir=str(shared_data))
    _write_cache(tmp_path / f"trainingset-{_cache_key(config, library_file, shared_data)}.h5", synthetic)
    training_set = dataset.build_training_set(config)
    assert np.array_equal(training_set.flux, synthetic.flux) and training_set.summary == synthetic.summary


def test_damaged_cache_is_removed_and_rebuilt(tmp_path, monkeypatch, shared_data, library_file):
    monkeypatch.setenv("BAYESXP_CACHE_DIR", str(tmp_path))

    class Rebuilding(Exception):
        pass

    def rebuild(*args, **kwargs):
        raise Rebuilding

    monkeypatch.setattr(dataset, "read_library", rebuild)
    config = DataConfig(data_dir=str(shared_data))
    damaged = tmp_path / f"trainingset-{_cache_key(config, library_file, shared_data)}.h5"
    damaged.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # an HDF5 signature, then nothing
    with pytest.raises(Rebuilding):
        dataset.build_training_set(config)
    assert not damaged.exists()


def test_use_cache_false_ignores_a_matching_cache(tmp_path, monkeypatch, shared_data, library_file, synthetic):
    monkeypatch.setenv("BAYESXP_CACHE_DIR", str(tmp_path))

    class Rebuilding(Exception):
        pass

    def rebuild(*args, **kwargs):
        raise Rebuilding

    monkeypatch.setattr(dataset, "read_library", rebuild)
    config = DataConfig(data_dir=str(shared_data), use_cache=False)
    _write_cache(tmp_path / f"trainingset-{_cache_key(config, library_file, shared_data)}.h5", synthetic)
    with pytest.raises(Rebuilding):
        dataset.build_training_set(config)


# ------------------------------------------------------------------------------------- TrainingSet
def test_subset_and_label(synthetic):
    test = synthetic.subset("test")
    assert len(test) == 4 and set(test.split) == {"test"}
    assert np.array_equal(test.flux, synthetic.flux[synthetic.split == "test"])
    assert test.meta.index.tolist() == [0, 1, 2, 3]
    values, errors = synthetic.label("ln_mass")
    assert np.array_equal(values, synthetic.labels[:, 4], equal_nan=True) and errors.shape == (12,)
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        synthetic.subset("holdout")


# ---------------------------------------------------------------------------------- the real build
def _reserved_in_training(source_id, apogee_id, split, reserved) -> int:
    """Rows in train or val whose source_id or APOGEE_ID is on the reserved list (checked independently of
    :func:`bayesxp.data.selection.reserved_mask`)."""
    ids = set(int(i) for i in reserved["source_id"] if int(i) != 0)
    names = set(str(n).strip() for n in reserved["apogee_id"] if str(n).strip())
    training = np.isin(np.asarray(split, dtype=object), ["train", "val"])
    listed = [int(s) in ids or str(a).strip() in names for s, a in zip(source_id, apogee_id)]
    return int(np.sum(training & np.asarray(listed)))


def test_real_build_and_cache(tmp_path, monkeypatch, shared_data):
    """The whole build with a small transfer (about 1-2 minutes), then the same call served by the cache.

    In the default run (not ``slow``): it is the real-data check that the dev stars' mass and age labels are
    withheld from training, that no reserved star is in a training split, and that the shipped model was
    fitted on exactly this set's train and val stars."""
    monkeypatch.setenv("BAYESXP_CACHE_DIR", str(tmp_path))
    config = DataConfig(data_dir=str(shared_data), exclude_reserved=True,
                        transfer=TransferConfig(n_members=2, hidden=32, epochs=20, batch_size=512))
    training_set = dataset.build_training_set(config)
    assert len(training_set) == training_set.summary["n_stars"] == 22727
    assert training_set.summary["counts"][-1][1] == 22727
    assert sum(training_set.summary["n_by_split"].values()) == 22727
    assert set(training_set.split) == {"train", "val", "test", "reserved"}
    assert abs(np.mean(training_set.split == "test") - 0.1) < 4 * np.sqrt(0.09 / len(training_set))
    # no star reserved for judging (by source_id or APOGEE_ID) is in a training split; test stays test
    reserved = read_reserved_stars(shared_data / "reserved_stars.csv")
    assert _reserved_in_training(training_set.source_id, training_set.meta["apogee_id"], training_set.split,
                                 reserved) == 0
    hashed = split_of(training_set.source_id)
    moved = training_set.split == "reserved"
    assert np.array_equal(training_set.split[~moved], hashed[~moved]) and set(hashed[moved]) == {"train", "val"}
    # measured: the 354 listed stars are 348 selected rows; 316 of them would have been train or val
    assert training_set.meta["reserved"].sum() == 348 and moved.sum() == 316
    # the same check rejects the pipeline that forgets the list (the hash split alone)
    assert _reserved_in_training(training_set.source_id, training_set.meta["apogee_id"], hashed, reserved) == 316
    # the shipped model was fitted on exactly these train and val stars: its manifest records their digests,
    # which the pipeline that forgets the list (the hash split alone) does not reproduce
    manifest = read_manifest(default_model_path())["summary"]
    record = manifest["training_stars"]
    assert record["exclude_reserved"] is True
    for split in ("train", "val"):
        ids = training_set.source_id[training_set.split == split]
        assert record["splits"][split] == {"n": len(ids), "sha256": source_id_digest(ids)}, split
        assert source_id_digest(training_set.source_id[hashed == split]) != record["splits"][split]["sha256"]
    assert manifest["foundation"]["n_train"] == record["splits"]["train"]["n"]
    assert np.isfinite(training_set.labels[:, [LABELS.index(n) for n in ("teff", "logg", "m_h")]]).all()
    dev = training_set.meta["seismic_dev"].to_numpy(bool)
    assert dev.sum() == training_set.summary["n_seismic_dev_selected"] > 50
    assert np.isnan(training_set.labels[dev, LABELS.index("ln_mass")]).all()  # withheld for judging
    # mass/age labels exactly where the star is in the transfer's domain and not a dev star (measured 66 %)
    has_mass = np.isfinite(training_set.labels[:, LABELS.index("ln_mass")])
    assert np.array_equal(has_mass, training_set.meta["transfer_in_domain"].to_numpy(bool) & ~dev)
    assert 0.6 < has_mass.mean() < 0.72 and has_mass.sum() == training_set.summary["n_with_mass_label"]
    assert np.array_equal(training_set.meta["split"].to_numpy(), training_set.split)
    cached = list(tmp_path.glob("trainingset-*.h5"))
    assert len(cached) == 1 and list(tmp_path.glob("transfer-*/transfer.json"))
    start = time.perf_counter()
    again = dataset.build_training_set(config)
    assert time.perf_counter() - start < 20.0
    for name in ("source_id", "flux", "flux_error", "labels", "label_error"):
        assert np.array_equal(getattr(again, name), getattr(training_set, name), equal_nan=True), name
    assert again.split.tolist() == training_set.split.tolist()
