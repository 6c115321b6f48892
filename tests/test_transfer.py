"""Label transfer (APOGEE labels -> joint ln mass / ln age Gaussian) and its seismic training table.

The ensemble is judged on a synthetic problem whose truth is known: a heteroscedastic bivariate Gaussian
with correlation -0.8, observed with known errors. Calibration checks use binomial tolerances (3 sigma for
n = 4,000 test stars) plus a stated model slack, and each is shown to reject an overconfident model.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from bayesxp.errors import ModelFileError
from bayesxp.labels.seismic_training import (
    holdout_mask,
    seismic_logg,
    transfer_metrics,
    transfer_training_table,
)
from bayesxp.labels.transfer import FEATURES, LabelTransfer, TransferConfig, TransferPrediction, bivariate_nll

RHO = -0.8  # true correlation of ln mass and ln age at fixed labels
ERR = (0.03, 0.08)  # the truth's own errors (ln units)
N_TRAIN, N_TEST = 2000, 4000
MODEL_SLACK = 0.015  # allowed miscalibration of a small, briefly trained ensemble, on top of binomial noise
LOGG_NOISE = 0.25  # dex, errors-in-variables test
CONFIG = TransferConfig(n_members=3, hidden=32, epochs=40, batch_size=512, learning_rate=3e-3, logg_noise=0.0)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny networks on shared CPUs: one thread is several times faster than two competing ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _make(n: int, rng: np.random.Generator, missing_age: float = 0.0):
    """Labels in FEATURES order; truth ~ N(mu(x), Sigma(x)) with std rising with logg; observed with ERR."""
    x = np.c_[rng.uniform(4200, 5200, n), rng.uniform(1.8, 3.3, n), rng.normal(-0.1, 0.25, n),
              rng.normal(0.05, 0.05, n)]
    u = (x[:, 1] - 1.8) / 1.5
    mean = np.c_[0.2 + 0.35 * (x[:, 1] - 2.5) - 0.3 * x[:, 2] + 2e-4 * (x[:, 0] - 4700),
                 1.5 - 1.0 * (x[:, 1] - 2.5) + 0.5 * x[:, 2]]
    std = np.c_[0.05 + 0.10 * u, 0.12 + 0.25 * u]
    z1, z2 = rng.standard_normal((2, n))
    truth = mean + std * np.c_[z1, RHO * z1 + np.sqrt(1 - RHO**2) * z2]
    err = np.tile(ERR, (n, 1))
    observed = truth + err * rng.standard_normal((n, 2))
    if missing_age:
        gone = rng.random(n) < missing_age
        observed[gone, 1] = np.nan
        err[gone, 1] = np.nan
    return x, observed, err, std


def _coverage(prediction: TransferPrediction, observed: np.ndarray, err: np.ndarray) -> dict:
    """Marginal 68/95 % coverage of the observed values by the prediction convolved with their errors."""
    out = {}
    for k in range(2):
        ok = np.isfinite(observed[:, k])
        z = (observed[ok, k] - prediction.mean[ok, k]) / np.hypot(prediction.std[ok, k], err[ok, k])
        out[k] = (np.mean(np.abs(z) < 1.0), np.mean(np.abs(z) < stats.norm.ppf(0.975)), int(ok.sum()))
    return out


def _joint_coverage(prediction: TransferPrediction, observed: np.ndarray, err: np.ndarray) -> tuple[float, float]:
    cov = np.zeros((len(observed), 2, 2))
    cov[:, 0, 0] = prediction.std[:, 0] ** 2 + err[:, 0] ** 2
    cov[:, 1, 1] = prediction.std[:, 1] ** 2 + err[:, 1] ** 2
    cov[:, 0, 1] = cov[:, 1, 0] = prediction.corr * prediction.std[:, 0] * prediction.std[:, 1]
    d = observed - prediction.mean
    d2 = np.einsum("ni,nij,nj->n", d, np.linalg.inv(cov), d)  # chi-square with 2 dof if calibrated
    return float(np.mean(d2 < stats.chi2.ppf(0.68, 2))), float(np.mean(d2 < stats.chi2.ppf(0.95, 2)))


def _calibrated(coverage: float, nominal: float, n: int) -> bool:
    return abs(coverage - nominal) < 3 * np.sqrt(nominal * (1 - nominal) / n) + MODEL_SLACK


def _scaled(prediction: TransferPrediction, factor: float) -> TransferPrediction:
    return TransferPrediction(prediction.mean, prediction.std * factor, prediction.corr, prediction.epistemic_std)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(7)
    train = _make(N_TRAIN, rng, missing_age=0.3)  # 30 % mass-only stars
    test = _make(N_TEST, rng)
    return train, test


@pytest.fixture(scope="module")
def model(problem):
    (x, y, err, _), _ = problem
    return LabelTransfer(CONFIG).fit(x, y, err)


@pytest.fixture(scope="module")
def prediction(model, problem):
    _, (x, _, _, _) = problem
    return model.predict(x)


# ------------------------------------------------------------------------------------ bivariate_nll
def test_bivariate_nll_matches_scipy():
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(6, 2))
    log_std = rng.normal(-1.0, 0.3, (6, 2))
    corr = rng.uniform(-0.9, 0.9, 6)
    y = rng.normal(size=(6, 2))
    y_err = rng.uniform(0.01, 0.2, (6, 2))
    y[3:, 1] = np.nan  # mass-only rows
    nll = bivariate_nll(*(torch.tensor(a, dtype=torch.float64) for a in (mean, log_std, corr, y, y_err))).numpy()
    std = np.exp(log_std)
    for i in range(6):
        if i < 3:
            cov = np.diag(std[i] ** 2 + y_err[i] ** 2)
            cov[0, 1] = cov[1, 0] = corr[i] * std[i, 0] * std[i, 1]  # the truth's errors are independent
            expected = -stats.multivariate_normal(mean[i], cov).logpdf(y[i]) - np.log(2 * np.pi)
        else:
            expected = -stats.norm(mean[i, 0], np.hypot(std[i, 0], y_err[i, 0])).logpdf(y[i, 0]) - 0.5 * np.log(
                2 * np.pi)
        assert nll[i] == pytest.approx(expected, abs=1e-10), i
    # dropping the truth's own error (a wrong likelihood) changes every value
    wrong = bivariate_nll(*(torch.tensor(a, dtype=torch.float64) for a in (mean, log_std, corr, y, 0 * y_err)))
    assert not np.allclose(wrong.numpy(), nll, atol=1e-3)


def test_bivariate_nll_gradients_finite_for_mass_only_rows():
    mean = torch.zeros(4, 2, requires_grad=True)
    log_std = torch.full((4, 2), -1.0, requires_grad=True)
    corr = torch.full((4,), -0.5, requires_grad=True)
    y = torch.tensor([[0.1, 0.2], [0.0, float("nan")], [-0.1, float("nan")], [0.2, -0.3]])
    y_err = torch.tensor([[0.03, 0.08], [0.03, float("nan")], [0.03, float("nan")], [0.03, 0.08]])
    bivariate_nll(mean, log_std, corr, y, y_err).sum().backward()
    for tensor in (mean, log_std, corr):
        assert torch.isfinite(tensor.grad).all()
    assert mean.grad[1, 1] == 0 and mean.grad[2, 1] == 0  # no age, no age gradient


# ------------------------------------------------------------------------------------ calibration
def test_marginal_coverage_is_nominal(prediction, problem):
    _, (_, y, err, _) = problem
    for k, (c68, c95, n) in _coverage(prediction, y, err).items():
        assert _calibrated(c68, 0.6827, n), (k, c68)
        assert _calibrated(c95, 0.95, n), (k, c95)


def test_overconfident_prediction_fails_the_same_check(prediction, problem):
    _, (_, y, err, _) = problem
    for k, (c68, c95, n) in _coverage(_scaled(prediction, 0.5), y, err).items():
        assert not _calibrated(c68, 0.6827, n), (k, c68)
        assert not _calibrated(c95, 0.95, n), (k, c95)
    for k, (c68, _, n) in _coverage(_scaled(prediction, 2.0), y, err).items():  # underconfident too
        assert not _calibrated(c68, 0.6827, n), (k, c68)


def test_joint_coverage_and_correlation(prediction, problem):
    _, (_, y, err, std) = problem
    c68, c95 = _joint_coverage(prediction, y, err)
    assert _calibrated(c68, 0.68, N_TEST) and _calibrated(c95, 0.95, N_TEST), (c68, c95)
    assert np.median(prediction.corr) == pytest.approx(RHO, abs=0.1)
    assert np.median(prediction.std / std) == pytest.approx(1.0, abs=0.1)  # heteroscedastic spread recovered
    assert np.corrcoef(prediction.std[:, 1], std[:, 1])[0, 1] > 0.9
    # the wrong sign of the correlation is rejected by the same joint check
    flipped = TransferPrediction(prediction.mean, prediction.std, -prediction.corr, prediction.epistemic_std)
    f68, f95 = _joint_coverage(flipped, y, err)
    assert not (_calibrated(f68, 0.68, N_TEST) and _calibrated(f95, 0.95, N_TEST)), (f68, f95)


def test_transfer_metrics_reports_the_same_coverage(prediction, problem):
    _, (_, y, err, _) = problem
    mass, age = np.exp(y[:, 0]), np.exp(y[:, 1])
    metrics = transfer_metrics(prediction, mass, mass * err[:, 0], age, age * err[:, 1])
    ours = _coverage(prediction, y, err)
    for k, name in enumerate(("mass", "age")):
        assert metrics[name]["n"] == N_TEST
        assert metrics[name]["coverage_68"] == pytest.approx(ours[k][0], abs=1e-12)
        assert metrics[name]["coverage_95"] == pytest.approx(ours[k][1], abs=1e-12)
        assert metrics[name]["median_predicted_std_fractional"] == pytest.approx(np.median(prediction.std[:, k]))


def test_mass_only_rows_are_used(model, problem, prediction):
    (x, y, _, _), _ = problem
    assert np.isnan(y[:, 1]).mean() == pytest.approx(0.3, abs=0.03)  # the fixture really has mass-only stars
    assert np.isfinite(prediction.mean).all() and np.isfinite(prediction.std).all()
    assert (prediction.epistemic_std < prediction.std).all()
    # rows with NaN labels give NaN, not an error
    nan_row = model.predict(np.array([[4700.0, np.nan, 0.0, 0.05]]))
    assert np.isnan(nan_row.mean).all()


def test_logg_noise_widens_the_prediction_and_keeps_coverage():
    """Train on exact (seismic) logg, apply to logg with 0.25 dex noise: only the noise-aware model covers."""
    rng = np.random.default_rng(11)
    x, y, err, _ = _make(N_TRAIN, rng)
    x_test, y_test, err_test, _ = _make(N_TEST, rng)
    x_test[:, 1] += rng.normal(0.0, LOGG_NOISE, N_TEST)
    naive = LabelTransfer(CONFIG).fit(x, y, err).predict(x_test)
    aware_model = LabelTransfer(CONFIG).fit(x, y, err, logg_noise=LOGG_NOISE)
    assert aware_model.logg_noise == LOGG_NOISE
    aware = aware_model.predict(x_test)
    for k, (c68, c95, n) in _coverage(aware, y_test, err_test).items():
        assert _calibrated(c68, 0.6827, n) and _calibrated(c95, 0.95, n), (k, c68, c95)
    for k, (c68, c95, n) in _coverage(naive, y_test, err_test).items():
        assert not _calibrated(c68, 0.6827, n) and not _calibrated(c95, 0.95, n), (k, c68, c95)
    # extra spread ~ |d mean / d logg| * noise * sqrt(var(logg) / (var(logg) + noise^2)) (attenuation)
    shrink = np.sqrt(0.1875 / (0.1875 + LOGG_NOISE**2))  # var of U(1.8, 3.3) = 0.1875
    for k, slope in ((0, 0.35), (1, 1.0)):
        extra = np.sqrt(np.median(aware.std[:, k] ** 2 - naive.std[:, k] ** 2))
        assert extra == pytest.approx(slope * LOGG_NOISE * shrink, rel=0.25), k


def test_logg_noise_only_where_seismic():
    """Rows flagged as spectroscopic logg get no noise: all-False equals a noise-free fit, bit for bit."""
    rng = np.random.default_rng(2)
    x, y, err, _ = _make(400, rng)
    small = TransferConfig(n_members=2, hidden=8, epochs=5, batch_size=128)
    plain = LabelTransfer(small).fit(x, y, err, logg_noise=0.0).predict(x[:50])
    none_seismic = LabelTransfer(small).fit(x, y, err, logg_noise=0.3, logg_is_seismic=np.zeros(400, bool))
    all_seismic = LabelTransfer(small).fit(x, y, err, logg_noise=0.3)
    assert np.array_equal(none_seismic.predict(x[:50]).mean, plain.mean)
    assert not np.array_equal(all_seismic.predict(x[:50]).mean, plain.mean)


def test_fit_is_deterministic_for_a_seed():
    rng = np.random.default_rng(4)
    x, y, err, _ = _make(300, rng)
    small = TransferConfig(n_members=2, hidden=8, epochs=3, batch_size=128, logg_noise=0.1, seed=5)
    first = LabelTransfer(small).fit(x, y, err).predict(x)
    second = LabelTransfer(small).fit(x, y, err).predict(x)
    other = LabelTransfer(TransferConfig(**{**small.__dict__, "seed": 6})).fit(x, y, err).predict(x)
    assert np.array_equal(first.mean, second.mean) and np.array_equal(first.std, second.std)
    assert not np.array_equal(first.mean, other.mean)


def test_fit_refuses_bad_inputs():
    model = LabelTransfer(TransferConfig(n_members=1, hidden=4, epochs=1))
    with pytest.raises(ValueError, match=r"features must be \(N, 4\)"):
        model.fit(np.zeros((20, 3)), np.zeros((20, 2)), np.ones((20, 2)))
    x = np.ones((20, 4))
    y = np.full((20, 2), np.nan)
    y[:9, 0] = 0.1
    with pytest.raises(ValueError, match="only 9 usable training stars"):
        model.fit(x, y, np.full((20, 2), 0.1))
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(x)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.in_domain(x)


def test_in_domain(model, problem):
    (x, _, _, _), _ = problem
    assert model.in_domain(np.median(x, axis=0)[None]).tolist() == [True]
    far = np.median(x, axis=0)
    far[1] = 6.0  # logg far above the training range
    assert model.in_domain(far[None]).tolist() == [False]
    assert model.in_domain(x).mean() > 0.98  # 0.5-99.5 % range widened by 20 % holds nearly all


# ------------------------------------------------------------------------------------- save / load
def test_save_load_round_trip_is_bit_identical(tmp_path, model, problem):
    _, (x, _, _, _) = problem
    model.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["transfer.json", "transfer.safetensors"]
    loaded = LabelTransfer.load(tmp_path)
    before, after = model.predict(x), loaded.predict(x)
    for name in ("mean", "std", "corr", "epistemic_std"):
        assert np.array_equal(getattr(before, name), getattr(after, name)), name
    assert loaded.config == model.config and loaded.logg_noise == model.logg_noise
    assert np.array_equal(loaded.feature_mean, model.feature_mean)
    assert np.array_equal(loaded.training_range, model.training_range)
    for (name, a), (_, b) in zip(model.ensemble.state_dict().items(), loaded.ensemble.state_dict().items()):
        assert torch.equal(a, b), name


def _tamper(folder, change):
    state = json.loads((folder / "transfer.json").read_text())
    change(state)
    (folder / "transfer.json").write_text(json.dumps(state))


@pytest.fixture
def saved(tmp_path, model):
    model.save(tmp_path / "model")
    return tmp_path / "model"


def test_load_refuses_a_tampered_feature_list(saved):
    _tamper(saved, lambda s: s.__setitem__("features", ["logg", "teff", "fe_h", "alpha_m"]))
    with pytest.raises(ModelFileError, match=r"expects features \['logg', 'teff'"):
        LabelTransfer.load(saved)


def test_load_refuses_weights_that_do_not_fit_the_config(saved):
    _tamper(saved, lambda s: s["config"].__setitem__("hidden", 16))
    with pytest.raises(ModelFileError, match="weights do not fit its config"):
        LabelTransfer.load(saved)


@pytest.mark.parametrize("broken", ["missing json", "missing weights", "not json", "missing folder"])
def test_load_refuses_missing_or_unreadable_files(saved, broken):
    if broken == "missing json":
        (saved / "transfer.json").unlink()
    elif broken == "missing weights":
        (saved / "transfer.safetensors").unlink()
    elif broken == "not json":
        (saved / "transfer.json").write_text("{not json")
    else:
        shutil.rmtree(saved)
    with pytest.raises(ModelFileError, match=f"^{saved}: cannot read the label-transfer model"):
        LabelTransfer.load(saved)


def test_load_refuses_corrupt_weights(saved):
    data = (saved / "transfer.safetensors").read_bytes()
    (saved / "transfer.safetensors").write_bytes(data[:100])
    with pytest.raises(ModelFileError):
        LabelTransfer.load(saved)


@pytest.mark.parametrize("change", ["drop config", "list"])
def test_load_refuses_incomplete_json(saved, change):
    if change == "drop config":
        _tamper(saved, lambda s: s.pop("config"))
    else:
        (saved / "transfer.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError):
        LabelTransfer.load(saved)


def test_load_refuses_wrong_length_normalisation(saved):
    _tamper(saved, lambda s: s.__setitem__("feature_mean", [4700.0]))
    with pytest.raises(ModelFileError):
        LabelTransfer.load(saved)


# ----------------------------------------------------------------------------- seismic training table
def test_seismic_logg_known_answers():
    assert seismic_logg(np.array([3090.0]), np.array([5772.0]))[0] == pytest.approx(4.438, abs=1e-12)  # the Sun
    # a red-clump star: numax 30 uHz, Teff 4800 K
    expected = 4.438 + np.log10(30.0 / 3090.0) + 0.5 * np.log10(4800.0 / 5772.0)
    got = seismic_logg(np.array([30.0]), np.array([4800.0]))[0]
    assert got == pytest.approx(expected, abs=1e-12) and got == pytest.approx(2.385, abs=1e-3)
    wrong = 4.438 + np.log10(30.0 / 3090.0) + 1.0 * np.log10(4800.0 / 5772.0)  # Teff^1: rejected
    assert abs(got - wrong) > 0.03


@pytest.fixture(scope="module")
def library_apogee_ids(library_file) -> set[str]:
    from astropy.io import fits

    with fits.open(library_file) as hdul:
        return set(np.char.strip(np.asarray(hdul[1].data["apogee_id"]).astype(str)).tolist())


@pytest.fixture(scope="module")
def seismic_table(shared_data, library_apogee_ids):
    from bayesxp.labels.seismic_truth import merge_seismic_catalogues, seismic_dev_consensus

    catalogues = merge_seismic_catalogues(shared_data)
    dev = seismic_dev_consensus(data_dir=shared_data, catalogues=catalogues)
    table, info = transfer_training_table(catalogues, library_apogee_ids, dev)
    return table, info, dev


def test_training_table_excludes_library_and_dev_stars(seismic_table, library_apogee_ids):
    table, info, dev = seismic_table
    assert len(library_apogee_ids) == 39851
    assert not set(table["apogee_id"]) & library_apogee_ids
    dev_kics = set(pd.concat([dev["kic"], dev["kic_jt"]]).dropna().astype(int))
    assert len(dev_kics) > 150
    assert not set(table["kic"].dropna().astype(int)) & dev_kics
    assert not set(table["apogee_id"]) & (set(dev["apogee_id"]) - {""})
    assert info["excluded_in_library"] == 75  # measured: seismic stars that are library stars


def test_training_table_counts_and_content(seismic_table):
    table, info, _ = seismic_table
    assert len(table) == info["n_training"] == 9051
    assert info["by_label_source"] == {"apokasc3_dr17": 6549, "apokasc2_astronn_mapped": 2474, "montalban21_dr17": 28}
    assert (table["mass"] > 2.0).sum() > 400  # APOKASC-2 brings the massive stars (measured 487)
    assert table.loc[table["mass"] > 2.0, "label_source"].eq("apokasc2_astronn_mapped").any()
    assert np.isfinite(table[list(FEATURES)].to_numpy(float)).all()
    assert table["mass"].between(0.5, 4.0).all()
    assert table["logg_is_seismic"].to_numpy().tolist() == (table["label_source"] != "montalban21_dr17").tolist()
    ages = table["age_gyr"].dropna()
    assert ages.between(0.1, 20.0).all() and info["n_with_age"] == len(ages)
    seismic_age = table["age_source"].isin(["apokasc2", "miglio21", "montalban21", "apokasc705"])
    assert table.loc[~seismic_age, "age_gyr"].isna().all()
    for label, (lo, hi) in {"teff": (3500, 5600), "logg": (0.5, 4.0), "fe_h": (-2.6, 0.6)}.items():
        assert table[label].between(lo, hi).all(), label


def test_holdout_mask_fraction_and_determinism(seismic_table, rng):
    table, _, _ = seismic_table
    held = holdout_mask(table)
    n = len(table)
    assert abs(held.mean() - 0.2) < 3 * np.sqrt(0.2 * 0.8 / n)
    assert np.array_equal(held, holdout_mask(table))
    order = rng.permutation(n)[: n // 3]  # a star's fate does not depend on the other rows
    assert np.array_equal(holdout_mask(table.iloc[order].reset_index(drop=True)), held[order])
    first = table.iloc[0]
    key = f"kic:{int(first['kic'])}" if pd.notna(first["kic"]) else f"apogee:{first['apogee_id']}"
    assert held[0] == (int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100 < 20)
    assert abs(holdout_mask(table, fraction_percent=50).mean() - 0.5) < 3 * np.sqrt(0.25 / n)
