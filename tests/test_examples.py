"""Every example runs (STYLE: examples are run by the tests), with the shipped model and few samples."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name: str):  # noqa: ANN202
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_posterior_analysis_example(capsys):
    result = _load("posterior_analysis").main(num_samples=20)
    assert result["stars"] == 240
    assert 0.0 < result["mass_width"] < 2.0  # a 68% mass interval in Msun: positive and not absurd
    low, high = result["luminosity_interval"]
    assert np.all(low <= result["luminosity"]) and np.all(result["luminosity"] <= high)
    assert 10.0 < np.median(result["luminosity"]) < 1000.0  # red giants, in Lsun
    assert np.all((result["p_old"] >= 0) & (result["p_old"] <= 1)) and 0 < np.sum(result["p_old"] > 0.5) < 240
    assert result["mass_age_corr_star0"] < 0  # heavier giants are younger: the joint draws know it
    assert "ArviZ posterior variables" in capsys.readouterr().out


def test_predict_archive_file_example(xp_misc, tmp_path):
    from astropy.table import Table

    output = tmp_path / "out.fits"
    result = _load("predict_archive_file").main(str(xp_misc / "XP_CONTINUOUS_RAW_with_missing_BP.csv"),
                                                 str(output), num_samples=20)
    assert result["stars"] == 3 and result["ok"] == 3
    table = Table.read(output)
    assert np.all(np.isfinite(table["mass_q50"])) and np.all(table["mass_q16"] < table["mass_q84"])


def test_calibration_study_example(shared_data, library_file, capsys):
    result = _load("calibration_study").main(max_stars=60, num_samples=50, data_dir=str(shared_data))
    assert set(result) >= {"mass", "age", "teff", "logg", "m_h"}
    assert result["teff"]["n"] == 60 and 20 <= result["mass"]["n"] <= 60  # not every dev star has a seismic mass
    for quantity in ("mass", "age", "teff", "logg", "m_h"):
        for level, nominal in (("cov68", 0.68), ("cov95", 0.95)):
            coverage, lower, upper = result[quantity][level]
            assert lower <= coverage <= upper
            assert abs(coverage - nominal) < 0.25  # ~4 binomial sigmas at 60 stars: a broken model fails this
    assert result["teff"]["mad_std"] < 100.0 and result["mass"]["mad_std"] < 0.4  # K, Msun
    assert "cov68=" in capsys.readouterr().out


def test_xgboost_comparison_example(shared_data, library_file, capsys):
    result = _load("xgboost_comparison").main(max_stars=200, num_samples=50, n_train=1000, n_val=300, n_rounds=20)
    for model in ("bayesxp", "baseline"):
        for quantity in ("mass", "age", "teff", "logg", "m_h"):
            row = result[(model, quantity)]
            assert row["n"] > 100 and 0 <= row["cov68"] <= row["cov95"] <= 1 and row["mad_std"] > 0
    bayesxp_teff, baseline_teff = result[("bayesxp", "teff")], result[("baseline", "teff")]
    assert bayesxp_teff["n"] == 200 and bayesxp_teff["mad_std"] < 80.0  # K; the shipped model: ~44 K
    assert bayesxp_teff["mad_std"] < baseline_teff["mad_std"]  # against a 20-round baseline on 1,000 stars
    assert abs(bayesxp_teff["cov68"] - 0.68) < 0.15  # 200 stars: the binomial sd is 0.033
    assert "mad_std bayesxp / XGBoost" in capsys.readouterr().out


def test_inpainting_generation_example(capsys):
    result = _load("inpainting_generation").main(n_stars=40, num_draws=5)
    assert result["draws_shape"] == (5, 40, 343)
    assert 0.2 < result["chi2_median"] < 3.0  # per spectral token: ~1 for a calibrated predictive spread
    assert result["chi2_wrong_median"] > 2 * result["chi2_median"]  # labels shuffled between stars: worse
    bp_model, bp_linear = result[("bp", "model")], result[("bp", "linear")]
    assert bp_model["n"] == 40 * 154 and bp_model["rmse"] < bp_linear["rmse"]  # the model fills a missing BP better
    for method in ("model", "linear"):
        band = result[("500-540", method)]
        assert band["n"] == 40 * 20 and band["rmse"] < 3.0  # flux errors: a 40 nm band is nearly determined
        assert 0.5 < band["coverage_68"] <= band["coverage_95"] <= 1.0
    assert "inpainting 40 real spectra" in capsys.readouterr().out


def test_emcee_fit_example(capsys):
    result = _load("emcee_fit").main(star=0, n_walkers=12, n_steps=30, burn=10, num_samples=50)
    assert result["chain_shape"] == (20, 12, 6) and 0.0 < result["acceptance"] < 1.0
    for name in ("teff", "logg", "m_h", "alpha_m", "mass", "age"):
        row = result[name]
        assert np.isfinite(row["r_hat"]) and row["r_hat"] > 0.9 and row["ess_bulk"] > 0 and row["sd"] > 0
    assert 3500.0 < result["teff"]["mean"] < 5500.0  # inside the prior box
    low, high = result["teff"]["amortised_68"]
    assert low < high and abs(result["teff"]["apogee"] - 0.5 * (low + high)) < 500.0  # K
    assert "R-hat" in capsys.readouterr().out
