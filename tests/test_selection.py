"""Training-star selection: hash splits, de-duplication, cut edges, and the counts on the real library."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from bayesxp.data.selection import SelectionConfig, deduplicate, select, xp_snr
from bayesxp.quantities import hash_bucket as _hash_bucket
from bayesxp.quantities import source_id_keys, split_of
from bayesxp.spectra import N_SAMPLES, SampledSpectra

N_SELECTED = 22727  # measured: the default config on the 40,226-row library


@pytest.fixture(scope="module")
def selection(library):
    return select(library)


def _sha_bucket(source_id: int) -> int:
    return int(hashlib.sha256(str(source_id).encode()).hexdigest(), 16) % 10


def hash_bucket(ids) -> np.ndarray:
    return _hash_bucket(source_id_keys(ids), 10)


def _binomial_tolerance(p: float, n: int, sigmas: float = 4.0) -> float:
    return sigmas * np.sqrt(p * (1 - p) / n)


# ------------------------------------------------------------------------------------------ splits
def test_hash_bucket_known_answers(library):
    ids = [1, 2, 3, 5853418002145112704, *library.source_id[:200].tolist()]
    assert hash_bucket(ids).tolist() == [_sha_bucket(i) for i in ids]
    assert hash_bucket(ids[3]).tolist() == [_sha_bucket(ids[3])]  # a scalar works too
    # sha256("1"), ("2"), ("3") mod 10 = 5, 1, 8
    assert hash_bucket([1, 2, 3]).tolist() == [5, 1, 8]
    assert split_of([1, 2, 3]).tolist() == ["train", "val", "train"]
    # a different hash (the id's last digit) is not what is used: the same comparison rejects it
    assert (np.asarray(ids) % 10).tolist() != [_sha_bucket(i) for i in ids]


def test_split_fractions_on_the_real_library(library):
    ids = np.unique(library.source_id)
    n = len(ids)
    split = split_of(ids)
    for name, p in (("test", 0.1), ("val", 0.1), ("train", 0.8)):
        assert abs(np.mean(split == name) - p) < _binomial_tolerance(p, n), name
    # the same check rejects a 20 % test split (buckets 0 and 1 together)
    assert abs(np.mean(hash_bucket(ids) <= 1) - 0.1) > _binomial_tolerance(0.1, n)


def test_split_is_stable_when_rows_are_added_or_removed(library, rng):
    ids = library.source_id[:5000]
    reference = split_of(ids)
    kept = rng.permutation(5000)[:1234]  # drop most rows, shuffle, add unseen ids
    new_ids = np.array([10**15 + i for i in range(300)], dtype=np.int64)
    mixed = np.concatenate([new_ids[:150], ids[kept], new_ids[150:]])
    assert np.array_equal(split_of(mixed)[150:-150], reference[kept])


def test_split_buckets_follow_the_config(library):
    ids = library.source_id[:3000]
    config = SelectionConfig(test_bucket=7, val_bucket=4)
    split = split_of(ids, config.test_bucket, config.val_bucket)
    bucket = hash_bucket(ids)
    assert np.array_equal(split == "test", bucket == 7)
    assert np.array_equal(split == "val", bucket == 4)


def test_split_of_docstring_example():
    import doctest

    from bayesxp import quantities as module

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(verbose=False)
    for test in finder.find(module.split_of, "split_of", globs=vars(module).copy()):
        runner.run(test, out=lambda text: None)
    assert runner.failures == 0


@pytest.mark.parametrize("kwargs", [{"test_bucket": 2, "val_bucket": 2}, {"val_bucket": 10},
                                    {"min_finite_fraction": -0.1}])
def test_selection_config_validation(kwargs):
    with pytest.raises(ValueError):
        SelectionConfig(**kwargs)


# -------------------------------------------------------------------------------------- deduplicate
def test_deduplicate_keeps_highest_snr():
    meta = pd.DataFrame({"apogee_id": ["a", "a", "b", "c", "c", "c", "d", "d"],
                         "snr": [10.0, 50.0, 5.0, 7.0, 7.0, 3.0, np.nan, 1.0]})
    # a: the higher S/N; b: alone; c: a tie keeps the first row; d: NaN S/N loses to any finite value
    assert deduplicate(meta).tolist() == [False, True, True, True, False, False, False, True]


def test_deduplicate_on_the_real_library(library):
    meta = library.meta
    keep = deduplicate(meta)
    assert keep.sum() == meta["apogee_id"].nunique() == 39851
    best = meta.groupby("apogee_id")["snr"].transform("max").to_numpy()
    assert np.array_equal(meta["snr"].to_numpy()[keep], best[keep])
    repeated = meta["apogee_id"].duplicated(keep=False).to_numpy()
    assert repeated.sum() - (keep & repeated).sum() == 375  # rows dropped = repeated observations (README)


# ------------------------------------------------------------------------------------- real counts
def test_counts_on_the_real_library(selection):
    counts = dict(selection.counts)
    values = [n for _, n in selection.counts]
    assert values[0] == 40226
    assert all(a >= b for a, b in zip(values, values[1:])), selection.counts  # never increasing
    assert counts["one row per APOGEE star (highest S/N)"] == 39851
    assert values[-1] == int(selection.mask.sum()) == N_SELECTED
    assert selection.counts_table()["stars_left"].tolist() == values


def test_selected_rows_pass_every_cut(library, selection):
    meta = library.meta[selection.mask]
    config = SelectionConfig()
    assert (meta["logg"] < config.logg_max).all()
    assert meta["teff"].between(config.teff_min, config.teff_max, inclusive="left").all()
    assert np.isfinite(meta[["teff", "logg", "fe_h"]].to_numpy(float)).all()
    assert (xp_snr(library.take(selection.mask)) >= config.min_xp_snr).all()
    assert meta["apogee_id"].is_unique


def test_split_of_selected_rows_is_roughly_80_10_10(selection):
    split = selection.split[selection.mask]
    n = len(split)
    for name, p in (("test", 0.1), ("val", 0.1)):
        assert abs(np.mean(split == name) - p) < _binomial_tolerance(p, n), name


# ------------------------------------------------------------------------------------------ edges
def _spectra(teff, logg, fe_h=None, snr=None) -> SampledSpectra:
    n = len(teff)
    snr = np.full(n, 50.0) if snr is None else np.asarray(snr, dtype=float)
    flux = np.ones((n, N_SAMPLES))
    error = flux / snr[:, None]
    meta = pd.DataFrame({"teff": teff, "logg": logg, "fe_h": np.zeros(n) if fe_h is None else fe_h,
                         "apogee_id": [f"2M{i:08d}" for i in range(n)], "snr": snr})
    return SampledSpectra.from_arrays(np.arange(1, n + 1), flux, error, meta=meta)


def test_teff_and_logg_edges():
    spectra = _spectra(teff=[3500.0, 3499.9, 5499.9, 5500.0, 4500.0, 4500.0, 4500.0],
                       logg=[2.0, 2.0, 2.0, 2.0, 3.4999, 3.5, 4.4])
    assert select(spectra).mask.tolist() == [True, False, True, False, True, False, False]
    dwarfs_too = select(spectra, SelectionConfig(giants_only=False))
    assert dwarfs_too.mask.tolist() == [True, False, True, True, True, True, True]  # teff_min still applies
    cooler = select(spectra, SelectionConfig(teff_min=3000.0, logg_max=4.5, teff_max=6000.0))
    assert cooler.mask.all()


def test_label_snr_and_finite_fraction_edges():
    spectra = _spectra(teff=[4500.0] * 4, logg=[2.5] * 4, fe_h=[0.0, np.nan, 0.0, 0.0], snr=[20.0, 50.0, 19.99, 50.0])
    flux = spectra.flux.copy()
    flux[3, :4] = np.nan  # 339/343 = 0.988 finite < 0.99
    spectra = SampledSpectra.from_arrays(spectra.source_id, flux, spectra.flux_error, meta=spectra.meta)
    assert select(spectra).mask.tolist() == [True, False, False, False]
    relaxed = SelectionConfig(min_xp_snr=10.0, min_finite_fraction=0.98, require_labels=("teff", "logg"))
    assert select(spectra, relaxed).mask.tolist() == [True, True, True, True]


def test_xp_snr_known_answer():
    flux = np.ones((2, N_SAMPLES))
    flux[1] = np.nan
    spectra = SampledSpectra.from_arrays([1, 2], flux, np.full_like(flux, 0.05))
    snr = xp_snr(spectra)
    assert snr[0] == pytest.approx(20.0, rel=1e-6) and np.isnan(snr[1])
