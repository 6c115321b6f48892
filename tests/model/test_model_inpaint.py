"""Inpainting (``bayesxp.model.inpaint``, ``bayesxp inpaint``).

Known answers, stated tolerances:

- synthetic spectra drawn from the giant population Gaussian itself (coefficients ~ N(mu, Sigma), flux = D c
  plus independent noise): linear inpainting under that prior is the exact posterior, so 68% intervals of the
  true masked flux cover 0.64-0.72 of it (all of BP, 300 stars x 154 samples; measured 0.676; the samples of a
  star are correlated, so the band is wider than a binomial one) and 95% intervals 0.93-0.97; the same check
  rejects a wrong prior (covariance shrunk 20 times: measured 0.18; mean shifted by 2 sigma: 0.03);
- the 240 bundled demo giants (test split, never trained on): with all of BP, all of RP or 700-740 nm withheld,
  the model's RMSE of the withheld observed flux is below the linear baseline's (measured BP 3.7 vs 6.1 flux
  errors, RP 11.8 vs 34.6, 700-740 nm 1.14 vs 1.25), and with all of BP withheld its 68% intervals cover
  0.58-0.76 of the withheld flux (measured 0.653);
- seen samples are returned unchanged, NaN input samples are predicted, a star with nothing seen keeps its row
  with a status, masks parse to the stated samples;
- the file job writes the contract columns and a bad mask is a usage error (exit 2).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.cli import main
from bayesxp.data.demo import demo_path
from bayesxp.io.tables import read_table, write_table
from bayesxp.model.inpaint import inpaint, inpainting_scores, parse_mask
from bayesxp.spectra import WAVELENGTH_NM
from bayesxp.xp.projection import CoefficientPrior, giant_prior, merged_design_matrix


@pytest.fixture(scope="module")
def synthetic():
    """300 spectra drawn from the giant prior with 1% + floor noise: (true flux, observed flux, error)."""
    rng = np.random.default_rng(0)
    prior = giant_prior()
    coefficients = prior.mean + rng.standard_normal((300, len(prior.mean))) @ np.linalg.cholesky(prior.covariance).T
    truth = coefficients @ merged_design_matrix().T
    error = 0.01 * np.abs(truth) + 1e-3 * np.median(np.abs(truth))
    return truth, truth + error * rng.standard_normal(truth.shape), error


def _true_flux_coverage(out, truth):
    z = (truth - out.model_flux)[out.mask] / out.model_flux_error[out.mask]
    return float(np.mean(np.abs(z) < 1.0)), float(np.mean(np.abs(z) < 1.96))


def test_parse_mask_specs():
    assert parse_mask("500-540").sum() == 20
    assert WAVELENGTH_NM[parse_mask("bp")].max() < 643 and WAVELENGTH_NM[~parse_mask("bp")].min() > 642
    assert WAVELENGTH_NM[parse_mask("rp")].min() > 635 and parse_mask(["bp", "rp"]).all()
    assert parse_mask(["420-460", "850-890"]).sum() == 40
    for bad in ("uv", "540-500", "1100-1200", "a-b"):
        with pytest.raises(ValueError, match="mask"):
            parse_mask(bad)


def test_linear_inpainting_is_calibrated_under_its_own_prior(synthetic):
    truth, flux, error = synthetic
    out = inpaint(flux, error, "bp", method="linear")
    coverage_68, coverage_95 = _true_flux_coverage(out, truth)
    assert 0.64 <= coverage_68 <= 0.72 and 0.93 <= coverage_95 <= 0.97, (coverage_68, coverage_95)


@pytest.mark.parametrize("wrong", ["shrunk", "shifted"])
def test_the_coverage_check_rejects_a_wrong_prior(synthetic, wrong):
    truth, flux, error = synthetic
    prior = giant_prior()
    if wrong == "shrunk":
        prior = CoefficientPrior(prior.mean, prior.covariance / 20, prior.n_sources)
    else:
        prior = CoefficientPrior(prior.mean + 2 * np.sqrt(np.diag(prior.covariance)), prior.covariance, 1)
    coverage_68, _ = _true_flux_coverage(inpaint(flux, error, "bp", method="linear", prior=prior), truth)
    assert coverage_68 < 0.5, coverage_68


@pytest.mark.parametrize("mask", ["bp", "rp", "700-740"])
def test_model_beats_the_linear_baseline_on_real_withheld_flux(foundation, demo, mask):
    model = inpainting_scores(inpaint(demo.flux, demo.flux_error, mask, foundation=foundation), demo.flux,
                              demo.flux_error)
    linear = inpainting_scores(inpaint(demo.flux, demo.flux_error, mask, method="linear"), demo.flux,
                               demo.flux_error)
    assert model["n"] == linear["n"] == len(demo) * parse_mask(mask).sum()
    assert model["rmse"] < linear["rmse"], (model, linear)
    if mask == "bp":
        assert 0.58 <= model["coverage_68"] <= 0.76, model


def test_seen_samples_unchanged_missing_ones_predicted(foundation, demo):
    flux = demo.flux[:4].astype(np.float64).copy()
    error = demo.flux_error[:4].astype(np.float64)
    flux[1, 300:] = np.nan  # a missing stretch beyond the mask is predicted too
    flux[2] = np.nan  # nothing seen
    out = inpaint(flux, error, "500-540", foundation=foundation)
    band = parse_mask("500-540")
    assert out.mask[0].sum() == band.sum() and out.mask[1, 300:].all() and out.mask[1, band].all()
    seen = ~out.mask[[0, 1, 3]]
    np.testing.assert_array_equal(out.flux[[0, 1, 3]][seen], flux[[0, 1, 3]][seen])
    assert np.isfinite(out.flux[[0, 1, 3]]).all() and (out.flux_error[[0, 1, 3]][~seen] > 0).all()
    assert list(out.status) == ["ok", "ok", "no seen flux sample outside the mask", "ok"]
    assert np.isnan(out.flux[2]).all()
    with pytest.raises(ValueError, match="flux and flux_error"):
        inpaint(flux[:, :300], error[:, :300], "bp")
    with pytest.raises(ValueError, match="method"):
        inpaint(flux, error, "bp", method="pca")


def test_inpaint_command_writes_the_contract_columns(tmp_path, capsys):
    write_table(read_table(demo_path())[:3], tmp_path / "three.fits")
    code = main(["inpaint", "--input", str(tmp_path / "three.fits"), "--output", str(tmp_path / "out.parquet"),
                 "--mask", "bp", "--mask", "850-890"])
    assert code == 0, capsys.readouterr().err
    table = read_table(tmp_path / "out.parquet")
    assert table["flux_inpainted"].shape == (3, 343) and table["inpainted_mask"].shape == (3, 343)
    assert np.asarray(table["inpainted_mask"]).sum(axis=1).tolist() == [parse_mask(["bp", "850-890"]).sum()] * 3
    assert list(table["status"]) == ["ok"] * 3 and np.isfinite(np.asarray(table["flux_inpainted_error"])).all()
    with pytest.raises(SystemExit) as info:  # argparse: a usage error, before anything is read
        main(["inpaint", "--input", str(tmp_path / "three.fits"), "--output", str(tmp_path / "x.csv"),
              "--mask", "900-800"])
    assert info.value.code == 2 and "holds no sample" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
