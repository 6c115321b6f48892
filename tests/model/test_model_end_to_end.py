"""End to end with the session's tiny model: every input form, bad stars, the folder, ``predict_file`` and the CLI.

The tiny model's numbers mean nothing; what is checked is exact equality where the API promises it (same
stars, same seed -> same draws) and the shape of what comes out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table

from bayesxp.cli import main
from bayesxp.data.demo import demo_path
from bayesxp.io.library import read_sampled_table
from bayesxp.io.tables import read_table
from bayesxp.model.bayesian import BayesXPModel
from bayesxp.posterior import Posterior
from bayesxp.predict import predict_file
from bayesxp.quantities import CONTRACT_QUANTILES, QUANTITIES

CONTRACT = ["source_id"] + [f"{q}_{s}" for q in QUANTITIES for s in ("mean", "std", *CONTRACT_QUANTILES)] + [
    "mass_age_corr", "status", "flags"]
EXPECTED_UNITS = {"mass": "solMass", "age": "Gyr", "teff": "K", "logg": "dex", "m_h": "dex"}
N_STARS = 24


@pytest.fixture(scope="module")
def demo_spectra():
    return read_sampled_table(demo_path()).take(np.arange(N_STARS))


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> str:
    """The first stars of the demo extract as their own FITS file (library layout)."""
    path = tmp_path_factory.mktemp("demo") / "demo24.fits"
    Table.read(demo_path())[:N_STARS].write(path)
    return str(path)


def _assert_same(a: Posterior, b: Posterior) -> None:
    assert np.array_equal(a.source_id, b.source_id)
    assert list(a.status) == list(b.status) and list(a.flags) == list(b.flags)
    assert a.samples.keys() == b.samples.keys()
    for q in a.samples:
        assert np.array_equal(a.samples[q], b.samples[q], equal_nan=True), q


def test_saved_and_loaded_model_give_identical_posteriors(tiny, tiny_model, demo_spectra):
    fitted = tiny.fitted.posterior(demo_spectra, seed=3)
    loaded = tiny_model.posterior(demo_spectra, seed=3)
    _assert_same(fitted, loaded)
    assert fitted.samples["mass"].shape == (20, N_STARS)  # the heads keep 20 draws
    assert all(np.isfinite(v).all() for v in fitted.samples.values()) and set(fitted.status) == {"ok"}
    # the seed matters (the equality above is not vacuous)
    assert not np.array_equal(tiny_model.posterior(demo_spectra, seed=4).samples["mass"], loaded.samples["mass"])
    assert tiny_model.manifest["format_version"] == 1


def test_every_input_form_gives_the_same_posterior(tiny_model, demo_spectra, demo_file):
    reference = tiny_model.posterior(demo_spectra, seed=0)
    _assert_same(tiny_model.posterior(demo_file, seed=0), reference)
    table = Table.read(demo_file)
    _assert_same(tiny_model.posterior(table, seed=0), reference)
    frame = pd.DataFrame({"source_id": np.asarray(table["gaiaedr3_source_id"]),
                          "flux": list(np.asarray(table["flux"])), "flux_error": list(np.asarray(table["flux_error"])),
                          "medflux": np.asarray(table["medflux"]), "j": np.asarray(table["j"]),
                          "h": np.asarray(table["h"]), "k": np.asarray(table["k"]),
                          "ak_targ": np.asarray(table["ak_targ"]),
                          "gaiaedr3_phot_bp_mean_mag": np.asarray(table["gaiaedr3_phot_bp_mean_mag"]),
                          "gaiaedr3_phot_rp_mean_mag": np.asarray(table["gaiaedr3_phot_rp_mean_mag"])})
    _assert_same(tiny_model.posterior(frame, seed=0), reference)
    # plain arrays carry no photometry: they match the spectrum-only context, and differ from the full one
    arrays = tiny_model.posterior(demo_spectra.flux, flux_error=demo_spectra.flux_error, seed=0)
    spectrum_only = tiny_model.posterior(demo_spectra, context="spectrum", seed=0)
    for q in QUANTITIES:
        assert np.array_equal(arrays.samples[q], spectrum_only.samples[q]), q
    assert not np.array_equal(arrays.samples["teff"], reference.samples["teff"])
    single = tiny_model.posterior(demo_spectra.flux[0], flux_error=demo_spectra.flux_error[0], num_samples=7)
    assert single.samples["age"].shape == (7, 1)


def test_flux_array_without_errors_is_refused(tiny_model, demo_spectra):
    from bayesxp.errors import BayesXPError

    with pytest.raises(BayesXPError, match="flux_error"):
        tiny_model.posterior(demo_spectra.flux)


def test_real_archive_file_with_a_missing_bp_star(tiny_model, xp_misc):
    path = xp_misc / "XP_CONTINUOUS_RAW_with_missing_BP.csv"
    post = tiny_model.posterior(path)
    assert list(post.source_id) == [5853498713190525696, 5405570973190252288, 5762406957886626816]
    assert list(post.status) == ["ok", "ok", "ok"]  # the missing-BP star is predicted ...
    assert "missing BP" in post.flags[1] and post.flags[0] == "" and post.flags[2] == ""  # ... and flagged
    assert all(np.isfinite(v).all() for v in post.samples.values())
    table = post.to_table()
    assert table.colnames == CONTRACT and table["flags"][1] == "missing BP"
    # the same file as a pandas DataFrame (the archive's text arrays) gives the same answer
    _assert_same(tiny_model.posterior(pd.read_csv(path)), post)
    other = tiny_model.posterior(xp_misc / "XP_CONTINUOUS_RAW.csv")
    assert len(other) == 2 and set(other.status) == {"ok"} and np.isfinite(other.samples["mass"]).all()


def test_a_bad_star_keeps_its_row_and_leaves_the_others_unchanged(tiny_model, demo_spectra):
    good = np.arange(6)
    flux, flux_error = demo_spectra.flux[good].copy(), demo_spectra.flux_error[good].copy()
    reference = tiny_model.posterior(flux, flux_error=flux_error, seed=5)
    bad_flux = np.insert(flux, 2, np.nan, axis=0)  # an all-NaN star as row 2
    bad_error = np.insert(flux_error, 2, 0.01, axis=0)
    post = tiny_model.posterior(bad_flux, flux_error=bad_error, seed=5)
    assert len(post) == 7
    assert post.status[2] != "ok" and all(s == "ok" for s in np.delete(post.status, 2))
    assert all(np.isnan(v[:, 2]).all() for v in post.samples.values())
    kept = np.delete(np.arange(7), 2)
    for q in QUANTITIES:
        assert np.array_equal(post.samples[q][:, kept], reference.samples[q]), q
    table = post.to_table()
    assert len(table) == 7 and table["status"][2] == post.status[2] and np.isnan(table["mass_mean"][2])


def _read_back(path) -> Table:  # noqa: ANN001
    table = read_table(path)
    assert table.colnames == CONTRACT, path
    return table


@pytest.mark.parametrize("suffix", [".csv", ".fits", ".parquet", ".ecsv"])
def test_predict_file_writes_the_contract_in_every_format(tiny, tiny_model, demo_file, demo_spectra, tmp_path,
                                                          suffix):
    output = tmp_path / f"out{suffix}"
    result = predict_file(demo_file, output, model_path=tiny.folder, num_samples=10, batch_size=10, progress=False)
    assert result == {**result, "stars": N_STARS, "ok": N_STARS, "failed": {}, "resumed_batches": 0}
    assert not (tmp_path / f"out{suffix}.partial").exists()
    table = _read_back(output)
    assert len(table) == N_STARS and np.array_equal(np.asarray(table["source_id"]), demo_spectra.source_id)
    assert set(np.asarray(table["status"]).astype(str)) == {"ok"}
    if suffix != ".csv":  # CSV keeps no units; FITS has no "dex" (astropy warns and drops it)
        for q, unit in EXPECTED_UNITS.items():
            if suffix == ".fits" and unit == "dex":
                continue
            for column in (f"{q}_mean", f"{q}_std", f"{q}_q025", f"{q}_q975"):
                assert str(table[column].unit) == unit, column
    # batch k (stars 10k .. 10k + 9) is the posterior of those stars with seed k
    expected = tiny_model.posterior(demo_spectra.take(slice(10, 20)), num_samples=10, seed=1).to_table()
    for column in ("mass_mean", "age_q16", "teff_std", "mass_age_corr"):
        np.testing.assert_allclose(np.asarray(table[column][10:20], float), np.asarray(expected[column]),
                                   rtol=1e-12, err_msg=column)


class Interrupted(Exception):
    """Stands for the process being killed."""


def _interrupt_after_first_batch(monkeypatch) -> None:  # noqa: ANN001
    original = BayesXPModel._posterior_batch  # the work of one batch
    calls = {"n": 0}

    def posterior_batch(self, *args, **kwargs):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] > 1:
            raise Interrupted
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BayesXPModel, "_posterior_batch", posterior_batch)


def test_an_interrupted_prediction_resumes_without_duplicates(tiny, demo_file, tmp_path, monkeypatch):
    arguments = {"model_path": tiny.folder, "num_samples": 10, "batch_size": 10, "progress": False}
    predict_file(demo_file, tmp_path / "whole.parquet", **arguments)
    reference = _read_back(tmp_path / "whole.parquet")
    output = tmp_path / "out.parquet"
    with monkeypatch.context() as patch:
        _interrupt_after_first_batch(patch)
        with pytest.raises(Interrupted):
            predict_file(demo_file, output, **arguments)
    partial = tmp_path / "out.parquet.partial"
    assert sorted(p.name for p in partial.iterdir()) == ["part-000000.parquet", "run.json"]
    assert not output.exists()
    result = predict_file(demo_file, output, **arguments)
    assert result["resumed_batches"] == 1 and result["stars"] == N_STARS and not partial.exists()
    table = _read_back(output)
    assert len(table) == N_STARS and len(set(np.asarray(table["source_id"]))) == N_STARS
    for column in CONTRACT:
        assert np.array_equal(np.asarray(table[column]), np.asarray(reference[column])), column


def test_parts_of_a_run_with_other_arguments_are_not_reused(tiny, demo_file, tmp_path, monkeypatch):
    arguments = {"model_path": tiny.folder, "num_samples": 10, "batch_size": 10, "progress": False}
    output = tmp_path / "out.ecsv"
    with monkeypatch.context() as patch:
        _interrupt_after_first_batch(patch)
        with pytest.raises(Interrupted):
            predict_file(demo_file, output, seed=7, **arguments)
    result = predict_file(demo_file, output, seed=0, **arguments)
    assert result["resumed_batches"] == 0
    fresh = predict_file(demo_file, tmp_path / "fresh.ecsv", seed=0, **arguments)
    assert fresh["resumed_batches"] == 0
    a, b = _read_back(output), _read_back(tmp_path / "fresh.ecsv")
    assert np.array_equal(np.asarray(a["mass_mean"]), np.asarray(b["mass_mean"]))


def test_cli_predict_runs_and_reports(tiny, demo_file, tmp_path, capsys):
    output = tmp_path / "posteriors.csv"
    code = main(["predict", "--input", demo_file, "--output", str(output), "--model", str(tiny.folder),
                 "--num-samples", "10", "--batch-size", "10", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(f"wrote {output}: {N_STARS} stars, {N_STARS} predicted")
    assert len(_read_back(output)) == N_STARS


@pytest.mark.parametrize("case", ["missing input", "unknown suffix"])
def test_cli_predict_user_errors_exit_2_with_one_line(tiny, tmp_path, capsys, case):
    if case == "missing input":
        argv = ["--input", str(tmp_path / "nowhere.csv"), "--output", str(tmp_path / "out.csv")]
        expected = "nowhere.csv"
    else:
        argv = ["--input", str(demo_path()), "--output", str(tmp_path / "out.txt")]
        expected = "unknown table suffix"
    code = main(["predict", *argv, "--model", str(tiny.folder), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bayesxp: error:") and expected in lines[0]
    assert "Traceback" not in captured.err and not (tmp_path / "out.txt").exists()


def test_a_missing_input_leaves_no_partial_folder(tiny, tmp_path):
    code = main(["predict", "--input", str(tmp_path / "nowhere.csv"), "--output", str(tmp_path / "out.csv"),
                 "--model", str(tiny.folder), "--quiet"])
    assert code == 2
    assert not (tmp_path / "out.csv.partial").exists()


def test_cli_demo_with_a_model_folder(tiny, tmp_path, capsys):
    import matplotlib

    # the demo must work whatever LaTeX setting the user has; this test checks the demo itself
    with matplotlib.rc_context({"text.usetex": False}):
        code = main(["demo", "--model", str(tiny.folder), "--output", str(tmp_path), "--num-samples", "10"])
    assert code == 0
    assert (tmp_path / "demo_corner_star0.png").stat().st_size > 0
    table = _read_back(tmp_path / "demo_posteriors.csv")
    assert len(table) == 240
    assert "posteriors for the 240 bundled demo giants" in capsys.readouterr().out
