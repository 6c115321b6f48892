"""``bayesxp run`` end to end on real demo stars (with a broken and a half-missing star), and its report opened
in a real headless browser (chromium)."""

from __future__ import annotations

import base64
import os
import re

import numpy as np
import pytest
from astropy.table import Table

from bayesxp.data.demo import demo_path
from bayesxp.report import run_job
from bayesxp.report.job import MAX_STARS
from bayesxp.spectra import WAVELENGTH_NM

N_STARS, SAMPLES, SEED, BATCH = 36, 40, 3, 16


@pytest.fixture(scope="module")
def stars_file(tmp_path_factory):
    """36 real demo giants in the library layout: row 0 without any usable flux, row 1 without BP."""
    table = Table.read(demo_path())[:N_STARS]
    table["flux"][0] = np.nan
    table["flux_error"][0] = np.nan
    bp = WAVELENGTH_NM < 640.0
    table["flux"][1, bp] = np.nan
    table["flux_error"][1, bp] = np.nan
    path = tmp_path_factory.mktemp("input") / "stars.fits"
    table.write(path)
    return path


@pytest.fixture(scope="module")
def run(stars_file, tmp_path_factory):
    previous = os.umask(0o022)
    try:
        result = run_job(input=stars_file, output=tmp_path_factory.mktemp("run") / "out", num_samples=SAMPLES,
                         seed=SEED, batch_size=BATCH, ppc_samples=6, n_corner=2, n_ppc_stars=2, progress=False)
    finally:
        os.umask(previous)
    return result


def test_run_folder_holds_the_contract_files_readable_by_the_group(run):
    names = sorted(p.name for p in run.folder.iterdir())
    assert names == ["posterior.nc", "ppc.csv", "predictions.csv", "report.html"]  # no temporary file left
    for path in run.folder.iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path  # umask 022 honoured (mkstemp's 0600 was the defect)
    assert run.stars == N_STARS and run.ok == N_STARS - 1
    assert sum(run.failed.values()) == 1


def test_predictions_equal_bayesxp_predict_on_the_same_input(run, stars_file, tmp_path):
    from bayesxp.predict import predict_file

    reference = tmp_path / "predict.csv"
    predict_file(stars_file, reference, num_samples=SAMPLES, batch_size=BATCH, seed=SEED, progress=False)
    ours, theirs = Table.read(run.predictions_path), Table.read(reference)
    assert ours.colnames == theirs.colnames
    for name in ours.colnames:
        a, b = np.asarray(ours[name]), np.asarray(theirs[name])
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True, err_msg=name)
        else:
            assert a.tolist() == b.tolist(), name
    assert ours["status"][0] == "no finite flux samples" and ours["status"][1] == "ok"  # RP alone still predicts


def test_netcdf_is_the_same_posterior_with_its_predictive_spectra(run):
    import arviz

    data = arviz.from_netcdf(run.posterior_path)
    assert {"posterior", "posterior_predictive", "observed_data"} <= set(data.groups())
    mass = data.posterior["mass"].values[0]  # (S, N)
    assert mass.shape == (SAMPLES, N_STARS)
    table = Table.read(run.predictions_path)
    np.testing.assert_allclose(np.median(mass[:, 2:], axis=0), table["mass_q50"][2:], rtol=1e-5)
    flux = data.posterior_predictive["flux"].values[0]  # (draws, N, 343)
    assert flux.shape == (6, N_STARS, 343) and np.isnan(flux[:, 0]).all() and np.isfinite(flux[:, 2:]).all()
    observed = data.observed_data["flux"].values
    # generated spectra follow the observed ones (median over draws within 0.15 of the normalised flux)
    good = np.isfinite(observed[2:])
    assert np.median(np.abs(np.median(flux[:, 2:], axis=0) - observed[2:])[good]) < 0.15
    # joint draws: a star's ln mass and ln age are anti-correlated, as in the table's mass_age_corr
    corr = np.corrcoef(np.log(mass[:, 5]), np.log(data.posterior["age"].values[0][:, 5]))[0, 1]
    assert corr == pytest.approx(table["mass_age_corr"][5], abs=1e-6) and corr < 0


def test_ppc_table_has_a_row_per_star(run):
    ppc = Table.read(run.folder / "ppc.csv")
    assert len(ppc) == N_STARS and ppc["status"][0] != "ok"
    p = np.asarray(ppc["ppc_pvalue"][1:], float)
    assert np.all((p >= 0) & (p <= 1))


def test_report_has_every_section_and_the_measured_numbers(run):
    page = run.report_path.read_text()
    for anchor in ("stars", "corner", "ppc", "calibration", "views", "xgboost", "model-card"):
        assert f'id="{anchor}"' in page, anchor
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    # 2 corner plots, 2 PPC figures, 1 calibration, 2 views, and 1 comparison where a baseline was found
    assert len(images) in (7, 8)
    assert all(base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" for png in images)
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    # the calibration table quotes this run's Teff coverage against the demo stars' APOGEE labels
    assert re.search(r"Teff \[K\]</td>\s*<td>bayesxp</td>\s*<td>35</td>", page)
    assert "0.158" in page  # the model card's seismic mass mad_std (calibration/results/seismic_dev)


def test_report_opens_in_a_real_browser(run, chromium, tmp_path):
    from bayesxp.testing.browser import check_page

    screenshot = tmp_path / "report.png"
    check = check_page(run.report_path, screenshot=screenshot)
    assert check.ok, check.problems()
    assert check.images_total == check.images_loaded >= 7
    assert check.title.startswith("bayesxp posteriors")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same check rejects the report with one figure corrupted
    broken = tmp_path / "broken.html"
    page = run.report_path.read_text()
    start = page.index("base64,") + len("base64,")
    broken.write_text(page[:start] + "!!corrupt!!" + page[start + 40:])
    assert not check_page(broken).ok


def test_bad_inputs_are_clear_errors(tmp_path, monkeypatch):
    from bayesxp.errors import BayesXPError, InputFileError

    with pytest.raises(InputFileError, match="does not exist"):
        run_job(input=tmp_path / "absent.csv", output=tmp_path / "out", progress=False)
    corrupt = tmp_path / "stars.fits"
    corrupt.write_text("not a fits file")
    with pytest.raises(InputFileError, match="stars.fits"):
        run_job(input=corrupt, output=tmp_path / "out", progress=False)
    monkeypatch.setattr("bayesxp.report.job.MAX_STARS", 10)
    with pytest.raises(BayesXPError, match="at most 10.*bayesxp predict"):
        run_job(output=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing written before the input was accepted
    assert MAX_STARS == 10_000


@pytest.fixture(scope="module")
def tiny_baseline(library, tmp_path_factory):
    """A small real XGBoost baseline (Teff, logg, [M/H]) fitted on 800 train-split giants (never a judged star)."""
    from bayesxp.baseline import BaselineConfig
    from bayesxp.baseline.config import XGBParams
    from bayesxp.baseline.features import xp_features
    from bayesxp.baseline.xgb import XGBGaussianBaseline
    from bayesxp.data.dataset import labels_from_meta
    from bayesxp.data.selection import SelectionConfig, select
    from bayesxp.quantities import LABELS

    selection = select(library, SelectionConfig())
    rows = np.flatnonzero(selection.mask & (selection.split == "train"))[:800]
    stars = library.take(rows)
    features = xp_features(stars, cache=False)
    values, _ = labels_from_meta(stars.meta)
    labels = {q: values[:, LABELS.index(q)].astype(float) for q in ("teff", "logg", "m_h")}
    config = BaselineConfig(variant="gaussian", targets=("teff", "logg", "m_h"), propagate_label_error=(),
                            params=XGBParams(n_estimators=40, learning_rate=0.3))
    model = XGBGaussianBaseline(config).fit_arrays(features[:600], {q: v[:600] for q, v in labels.items()},
                                                   features[600:], {q: v[600:] for q, v in labels.items()})
    return model.save(tmp_path_factory.mktemp("baseline"))


def test_report_compares_with_a_given_baseline(stars_file, tiny_baseline, tmp_path):
    result = run_job(input=stars_file, output=tmp_path / "out", num_samples=SAMPLES, seed=SEED, batch_size=BATCH,
                     ppc_samples=4, n_corner=1, n_ppc_stars=1, baseline=tiny_baseline, progress=False)
    page = result.report_path.read_text()
    section = page[page.index('id="xgboost"'):page.index('id="model-card"')]
    assert str(tiny_baseline) in section and "<img" in section
    scatter = {model: float(m) for model, m in
               re.findall(r"Teff \[K\]</td>\s*<td>(bayesxp|XGBoost)</td>\s*<td>35</td>\s*<td>[^<]*</td>\s*"
                          r"<td>[^<]*</td>\s*<td>([0-9.]+)</td>", section)}
    # both models judged on the same 35 stars; the 800-star baseline is worse than the shipped model
    assert set(scatter) == {"bayesxp", "XGBoost"} and scatter["bayesxp"] < scatter["XGBoost"]


def test_a_named_baseline_or_output_that_cannot_be_used_is_refused_before_any_work(tmp_path):
    from bayesxp.errors import BayesXPError

    with pytest.raises(BayesXPError, match="not a fitted XGBoost baseline"):
        run_job(output=tmp_path / "out", baseline=tmp_path, progress=False)
    target = tmp_path / "a_file"
    target.write_text("x")
    with pytest.raises(BayesXPError, match="it is a file"):
        run_job(output=target, progress=False)
    assert not (tmp_path / "out").exists()
