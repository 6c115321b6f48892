"""Judging by kind of truth: known answers for measured and derived truths, the joint (ln mass, ln age) check with a
correlated truth error, the recalibration study, and the seismic mass-age error correlation.

Every check is seeded and states its tolerance; each one also applies the wrong treatment to the same data and must
reject it. Tolerances: a coverage of n stars has binomial sd <= 0.5 / sqrt(n) (0.008 for n = 4000, 0.009 for
n = 3000), so a calibrated check stays within 0.035 at every level (about 4 sd, over 4-20 levels at once) and a
rejected one is off by more than 0.05 with its band flagged. "Inside the 95% band at 68% and 95%" holds for a
calibrated prediction at ~90% of seeds (measured: 10 of 12 for the derived case), hence the fixed seeds.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesxp.calibration import GaussianPrediction, SamplePrediction
from bayesxp.evaluation import judge
from bayesxp.evaluation.config import REPORT_LEVELS
from bayesxp.evaluation.judge import (
    benchmark_metrics,
    evaluate_campaign,
    evaluate_quantity,
    joint_mass_age,
    recalibration_study,
)
from bayesxp.evaluation.truth import DERIVED_MASS_AGE, Truth, truth_from_training_set
from bayesxp.evaluation.truth_noise import (
    DERIVED,
    MEASURED,
    NOISE_AWARE_TREATMENTS,
    draw_truths,
    robust_linear_fit,
    seismic_age_mass_slopes,
    seismic_ln_mass_age_corr,
)
from bayesxp.posterior import Posterior

Z68 = stats.norm.ppf(0.84)


def _nominal(table: dict) -> bool:
    """68% and 95% coverage inside their 95% binomial bands, every report level within 0.035 of nominal."""
    cells = table["coverage"]
    inside = cells["0.68"]["consistent"] and cells["0.95"]["consistent"]
    return inside and all(abs(cells[f"{a:g}"]["coverage"] - a) < 0.035 for a in REPORT_LEVELS)


# ------------------------------------------------------------------------------ one quantity, two kinds
def test_measured_truth_is_judged_by_convolution_and_the_derived_treatment_under_covers(rng):
    # label = truth + noise. A Gaussian prediction calibrated for the true mass (sd s) predicts the label once
    # convolved with the label's error e: nominal coverage. Judging it against label + a second error draw
    # counts the noise twice: the residual has variance s^2 + 2 e^2, so the 68% interval covers each star with
    # probability 2 Phi(z68 s / sqrt(s^2 + 2 e^2)) - 1 (~0.45 here; tolerance 0.03: binomial sd 0.008 plus the
    # ln-space draw, which differs from a linear one by O(e^2 / mass^2)).
    n, s = 4000, 0.15
    true = rng.lognormal(np.log(1.3), 0.25, n)
    error = true * rng.uniform(0.05, 0.20, n)
    label = true + error * rng.standard_normal(n)
    pred = GaussianPrediction(true + s * rng.standard_normal(n), s)

    right = evaluate_quantity(pred, label, error, "mass", hdi=False, seed=1, truth_kind=MEASURED)
    assert right["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[MEASURED]
    assert _nominal(right["table"]) and right["table"]["pit_ks_pvalue"] > 0.01

    wrong = evaluate_quantity(pred, label, error, "mass", hdi=False, seed=1, truth_kind=DERIVED)["table"]
    expected = float(np.mean(2 * stats.norm.cdf(Z68 * s / np.sqrt(s**2 + 2 * error**2)) - 1))
    assert wrong["coverage"]["0.68"]["coverage"] == pytest.approx(expected, abs=0.03)
    for level in ("0.68", "0.95"):
        assert not wrong["coverage"][level]["consistent"]
        assert wrong["coverage"][level]["coverage"] < float(level) - 0.05
    assert wrong["pit_ks_pvalue"] < 1e-6


def _derived_mass(rng: np.random.Generator, n: int, samples: int = 1000):
    """Derived masses: the label L comes first, the truth scatters about it, ln T = ln L + sigma z (sigma 8-20%).

    The spectrum x informs the label (ln x = ln L + 0.15 eta; prior ln L ~ N(ln 1.3, 0.3^2)), so
    ln L | x ~ N(m, v) and the prediction calibrated for the truth is ln T | x ~ N(m, v + sigma^2), as draws.
    Returns ``(prediction of T, prediction of L, label, error = L sigma, sigma)``.
    """
    mu, tau, omega = np.log(1.3), 0.3, 0.15
    ln_label = rng.normal(mu, tau, n)
    sigma = rng.uniform(0.08, 0.20, n)
    ln_x = ln_label + omega * rng.standard_normal(n)
    v = 1.0 / (1.0 / tau**2 + 1.0 / omega**2)
    m = v * (mu / tau**2 + ln_x / omega**2)
    xi = rng.standard_normal((samples, n))  # [S, N]
    of_truth = SamplePrediction(np.exp(m + np.sqrt(v + sigma**2) * xi))
    of_label = SamplePrediction(np.exp(m + np.sqrt(v) * xi))
    label = np.exp(ln_label)
    return of_truth, of_label, label, label * sigma, sigma, v


def test_derived_truth_is_judged_against_a_draw_and_the_convolution_over_covers(rng):
    # truth = label + error. The prediction calibrated for the truth is judged, unchanged, against label + one
    # error draw: nominal. Convolving it with the error instead and judging against the label widens it twice:
    # in ln space its variance is v + 2 sigma^2 against the label's v, so the 68% interval covers with
    # probability ~ 2 Phi(z68 sqrt((v + 2 sigma^2) / v)) - 1 (~0.92 here; tolerance 0.03).
    n = 4000
    pred, _, label, error, sigma, v = _derived_mass(rng, n)

    right = evaluate_quantity(pred, label, error, "mass", hdi=False, seed=2, truth_kind=DERIVED)
    assert right["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[DERIVED]
    assert _nominal(right["table"]) and right["table"]["pit_ks_pvalue"] > 0.01
    assert right["noise_aware"]["label_error"] is False  # the prediction itself was judged
    row = benchmark_metrics(pred, label, error, "mass", truth_kind=DERIVED)  # the head-to-head row, seed 0
    assert row["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[DERIVED] and abs(row["cov68_noise"] - 0.68) < 0.035

    wrong = evaluate_quantity(pred, label, error, "mass", hdi=False, seed=2, truth_kind=MEASURED)["table"]
    expected = float(np.mean(2 * stats.norm.cdf(Z68 * np.sqrt((v + 2 * sigma**2) / v)) - 1))
    assert wrong["coverage"]["0.68"]["coverage"] == pytest.approx(expected, abs=0.03)
    for level in ("0.5", "0.68"):
        assert not wrong["coverage"][level]["consistent"]
        assert wrong["coverage"][level]["coverage"] > float(level) + 0.05


def test_truth_draws_are_joint_positive_and_the_same_for_any_subset():
    n = 20000
    values = {"mass": np.full(n, 1.2), "age": np.full(n, 4.0), "teff": np.full(n, 4800.0)}
    errors = {"mass": np.full(n, 0.12), "age": np.full(n, 1.2), "teff": np.full(n, 50.0)}
    draw = draw_truths(values, errors, np.full(n, -0.8), seed=5)
    ln_mass, ln_age = np.log(draw["mass"]), np.log(draw["age"])
    # ln-space sds 0.1 and 0.3, correlation -0.8 (sd of a correlation estimate ~ (1 - rho^2) / sqrt(n) = 0.003)
    assert np.std(ln_mass) == pytest.approx(0.1, rel=0.02) and np.std(ln_age) == pytest.approx(0.3, rel=0.02)
    assert float(np.corrcoef(ln_mass, ln_age)[0, 1]) == pytest.approx(-0.8, abs=0.015)
    assert np.std(draw["teff"]) == pytest.approx(50.0, rel=0.02)
    # a quantity's draw does not depend on which others are drawn; missing errors give no draw
    alone = draw_truths({"mass": values["mass"]}, {"mass": errors["mass"]}, -0.8, seed=5)
    assert np.array_equal(alone["mass"], draw["mass"])
    gap = draw_truths({"mass": np.array([1.0, 1.0])}, {"mass": np.array([0.1, np.nan])}, 0.0, seed=0)["mass"]
    assert np.isfinite(gap[0]) and np.isnan(gap[1])


# ------------------------------------------------------------------------------------- joint mass-age
def _joint_case(rng: np.random.Generator, kind: str, n: int = 3000, samples: int = 300):
    """(ln mass, ln age) with a truth error of sds (0.1, 0.3) and correlation -0.8; predictive covariance V."""
    sd, rho = np.array([0.1, 0.3]), -0.8
    error_cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    v = np.diag([0.03**2, 0.1**2])
    centre_truth = np.column_stack([rng.normal(0.3, 0.25, n), rng.normal(1.3, 0.6, n)])  # [N, 2]
    centre = centre_truth + rng.standard_normal((n, 2)) @ np.linalg.cholesky(v).T
    if kind == MEASURED:  # calibrated for the true value; the label is the truth plus correlated noise
        draws = centre + rng.standard_normal((samples, n, 2)) @ np.linalg.cholesky(v).T  # [S, N, 2]
        label = centre_truth + rng.standard_normal((n, 2)) @ np.linalg.cholesky(error_cov).T
    else:  # the label comes first; the truth is label + correlated error; calibrated for the truth
        draws = centre + rng.standard_normal((samples, n, 2)) @ np.linalg.cholesky(v + error_cov).T
        label = centre_truth
    return draws, label, np.tile(sd, (n, 1)), rho


@pytest.mark.parametrize("kind", [MEASURED, DERIVED])
def test_joint_check_needs_the_truths_error_correlation(rng, kind):
    # The right kind with the truth's correlation (-0.8) is calibrated: HDR KS p > 0.01 and every level within
    # 0.035. Ignoring the correlation (0), or treating the truth as the other kind, is rejected: KS p < 1e-6 and
    # a level off by more than 0.05 (measured on seeds 7-9: corr 0 gives 0.065-0.22, the wrong kind > 0.6).
    draws, label, ln_error, rho = _joint_case(rng, kind)
    n = label.shape[0]
    other = DERIVED if kind == MEASURED else MEASURED

    def calibrated(result):
        return result["hdr_ks_pvalue"] > 0.01 and result["hdr_coverage"]["max_deviation"] < 0.035

    def rejected(result):
        return result["hdr_ks_pvalue"] < 1e-6 and result["hdr_coverage"]["max_deviation"] > 0.05

    right = joint_mass_age(draws, label, ln_error, np.full(n, rho), seed=3, truth_kind=kind)
    assert calibrated(right) and right["tarp"]["ks_pvalue"] > 0.001
    assert right["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[kind]
    assert rejected(joint_mass_age(draws, label, ln_error, np.zeros(n), seed=3, truth_kind=kind))
    assert rejected(joint_mass_age(draws, label, ln_error, np.full(n, rho), seed=3, truth_kind=other))


# ------------------------------------------------------------------------------------------ campaign
def _derived_truth(rng: np.random.Generator, n: int, kind_name: str):
    """A Truth of n synthetic stars with derived masses (see :func:`_derived_mass`) and predictions of them."""
    from bayesxp.data.dataset import TrainingSet

    of_truth, of_label, label, error, _, _ = _derived_mass(rng, n, samples=200)
    age = label ** -3 * 6.0
    truth = Truth(
        kind_name,
        "synthetic derived masses",
        TrainingSet.synthetic(n, seed=1),
        {"mass": label, "age": age},
        {"mass": error, "age": 0.3 * age},
        np.full(n, -0.7),
        {},
        truth_kind={"mass": DERIVED, "age": DERIVED},
    )
    return truth, of_truth, of_label


def test_recalibration_of_derived_labels_fits_against_the_draw(rng):
    # The model ignores the labels' own error: it predicts the label (ln sd sqrt(v)), not the truth (sqrt(v +
    # sigma^2)), and under-covers the truth draw. Isotonic recalibration fitted against the validation labels'
    # draw of label + error restores nominal coverage of the campaign's truth draw at 68% and 95% (band checked,
    # tolerance 0.035 for n = 2000, ~3 binomial sd); fitted against the labels themselves it learns nothing and
    # still under-covers (by > 0.05).
    n = 2000
    truth_val, _, label_pred_val = _derived_truth(rng, n, "validation")
    truth, _, label_pred = _derived_truth(rng, n, "test-split")
    models_val = {"m": Posterior({"mass": label_pred_val.samples}, np.arange(n))}
    models = {"m": Posterior({"mass": label_pred.samples}, np.arange(n))}
    entry = recalibration_study(models_val, truth_val, models, truth, ["mass"], seed=0)["m"]["mass"]
    assert entry["treatment"] == {"validation": NOISE_AWARE_TREATMENTS[DERIVED], "campaign": NOISE_AWARE_TREATMENTS[DERIVED]}
    for level in ("0.68", "0.95"):
        fitted = entry["isotonic/noise-aware"]["noise_aware"]["cells"][level]
        assert fitted["consistent"] and abs(fitted["coverage"] - float(level)) < 0.035
        for wrong in (entry["before"]["noise_aware"], entry["isotonic/label"]["noise_aware"]):
            assert wrong["cells"][level]["coverage"] < float(level) - 0.05 and not wrong["cells"][level]["consistent"]


def test_campaign_judges_derived_truths_against_one_shared_draw(rng, monkeypatch):
    n = 300
    truth, of_truth, _ = _derived_truth(rng, n, "test-split")
    age_draws = truth.values["age"] * np.exp(0.3 * rng.standard_normal((200, n)))
    model = Posterior({"mass": of_truth.samples, "age": age_draws}, np.arange(n))
    seen: dict[str, list] = {"quantity": [], "joint": []}
    real_quantity, real_joint = judge.evaluate_quantity, judge.joint_mass_age

    def quantity_spy(pred, values, error, quantity, *args, **kwargs):
        seen["quantity"].append((quantity, args[-1] if len(args) >= 7 else kwargs.get("truth_draw")))
        return real_quantity(pred, values, error, quantity, *args, **kwargs)

    def joint_spy(samples, ln_truth, ln_error=None, corr=None, seed=0, truth_kind=MEASURED, ln_truth_draw=None):
        if ln_error is not None:
            seen["joint"].append((truth_kind, ln_truth_draw))
        return real_joint(samples, ln_truth, ln_error, corr, seed, truth_kind, ln_truth_draw)

    monkeypatch.setattr(judge, "evaluate_quantity", quantity_spy)
    monkeypatch.setattr(judge, "joint_mass_age", joint_spy)
    results = evaluate_campaign(truth, {"m": model}, ("mass", "age"), hdi=False, seed=4)
    assert results["noise_aware_treatment"] == {q: NOISE_AWARE_TREATMENTS[DERIVED] for q in ("mass", "age")}
    assert results["models"]["m"]["quantities"]["mass"]["table"]["noise_aware_treatment"] == (
        NOISE_AWARE_TREATMENTS[DERIVED]
    )
    draws = dict(seen["quantity"])
    expected = truth.truth_draws(4)
    assert np.array_equal(draws["mass"], expected["mass"]) and np.array_equal(draws["age"], expected["age"])
    (kind, ln_draw), *_ = seen["joint"]
    assert kind == DERIVED and np.allclose(np.exp(ln_draw), np.column_stack([expected["mass"], expected["age"]]))
    assert results["joint"]["m"]["noise_aware"]["noise_aware_treatment"] == NOISE_AWARE_TREATMENTS[DERIVED]


def test_builders_name_the_kind_of_truth():
    from bayesxp.data.dataset import TrainingSet

    stars = TrainingSet.synthetic(8, seed=0)
    for column in ("teff", "logg", "fe_h"):
        stars.meta[column], stars.meta[f"{column}_err"] = 1.0, 0.1
    truth = truth_from_training_set(stars, "test-split", "synthetic")
    assert truth.truth_kind == DERIVED_MASS_AGE
    assert truth.kind_of("mass") == DERIVED and truth.kind_of("teff") == MEASURED
    assert truth.take(np.array([0, 3])).truth_kind == DERIVED_MASS_AGE
    with pytest.raises(ValueError, match="kind of truth"):
        Truth("x", "x", stars, {}, {}, np.zeros(8), {}, truth_kind={"mass": "estimated"})


# ------------------------------------------------------------------------ seismic mass-age correlation
def test_seismic_slope_is_recovered_and_gives_a_negative_correlation(rng):
    # ln age = 2.2 - 3 ln mass + 0.5 [M/H] + 0.08 noise, [M/H] correlated with mass, 10% of the ages replaced by
    # unrelated values (runaway ages). The Huber fit recovers the slope to 0.05; least squares (tuning = inf) is
    # pulled towards 0 by more than 0.1. The correlation it implies is clip(b sigma_lnM / sigma_lnA), in
    # [-0.99, 0], and matches the correlation of simulated errors e_A = b e_M + independent rest to 0.02.
    n, slope = 3000, -3.0
    ln_mass = rng.normal(0.2, 0.3, n)
    m_h = 0.5 * (ln_mass - 0.2) + rng.normal(0, 0.2, n)
    ln_age = 2.2 + slope * ln_mass + 0.5 * m_h + 0.08 * rng.standard_normal(n)
    runaway = rng.random(n) < 0.10
    ln_age[runaway] = rng.uniform(np.log(0.1), np.log(20.0), runaway.sum())
    table = {"apokasc2_mass": np.exp(ln_mass), "apokasc2_age_gyr": np.exp(ln_age), "apokasc2_astronn_fe_h": m_h}
    import pandas as pd

    fit = seismic_age_mass_slopes(pd.DataFrame(table))["apokasc2"]
    assert fit["slope_ln_age_ln_mass"] == pytest.approx(slope, abs=0.05) and fit["n_stars"] == n
    design = np.column_stack([np.ones(n), ln_mass, m_h])
    least_squares, _ = robust_linear_fit(design, ln_age, tuning=np.inf)
    assert abs(least_squares[1] - slope) > 0.1

    sigma_mass, sigma_age = rng.uniform(0.03, 0.08, n), rng.uniform(0.12, 0.3, n)
    corr = seismic_ln_mass_age_corr(sigma_mass, sigma_age, fit["slope_ln_age_ln_mass"])
    assert np.all((corr >= -0.99) & (corr <= 0)) and np.any(corr == -0.99)
    # known answer: errors built the way the formula assumes (one star's error budget, many realisations)
    b, s_m, s_a = fit["slope_ln_age_ln_mass"], 0.06, 0.25
    e_mass = s_m * rng.standard_normal(200_000)
    e_age = b * e_mass + np.sqrt(s_a**2 - (b * s_m) ** 2) * rng.standard_normal(200_000)
    formula = seismic_ln_mass_age_corr(np.array([s_m]), np.array([s_a]), b)[0]
    assert float(np.corrcoef(e_mass, e_age)[0, 1]) == pytest.approx(formula, abs=0.02)
    assert formula == pytest.approx(-0.72, abs=0.02)
