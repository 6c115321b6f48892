"""The Posterior API against hand-derived answers, and the output contract of ``to_table``.

Known samples (S = 20,000, shuffled so nothing relies on order):

- star 0: the integers 1..S: mean (S+1)/2, std sqrt(S(S+1)/12), quantile q = 1 + q (S - 1) (linear
  interpolation between order statistics, NumPy's default);
- star 1: the exact quantiles of Gamma(3) at (i + 1/2)/S: the 95 % HDI solves pdf(lo) = pdf(hi) with
  content 0.95 ([0.3035, 6.4012], width 6.098); the central interval is [0.6187, 7.2247] (width 6.606). The
  smoothed sample HDI is documented to get widths within ~1 % (its bounds may slide along the flat
  minimum of the width), so widths are compared at 1 %;
- star 2: the exact quantiles of N(5, 2) at (i + 1/2)/S: mean 5, HDI = central = 5 -/+ 1.96 x 2.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy import optimize, special, stats

from bayesxp.posterior import Posterior
from bayesxp.quantities import CONTRACT_QUANTILES, QUANTITIES, unit_name

S = 20_000
GRID = (np.arange(S) + 0.5) / S


@pytest.fixture
def known(rng) -> Posterior:
    columns = [np.arange(1, S + 1, dtype=float), stats.gamma(3).ppf(GRID), 5 + 2 * special.ndtri(GRID)]
    samples = np.stack([rng.permutation(c) for c in columns], axis=1)  # (S, 3)
    return Posterior({"teff": samples}, np.array([11, 12, 13]))


def test_mean_std_quantile_of_known_samples(known):
    mean, std = known.mean("teff"), known.std("teff")
    assert mean[0] == pytest.approx((S + 1) / 2, rel=1e-12)
    assert std[0] == pytest.approx(np.sqrt(S * (S + 1) / 12), rel=1e-12)
    assert mean[1] == pytest.approx(3.0, abs=1e-3) and std[1] == pytest.approx(np.sqrt(3), abs=2e-3)
    assert mean[2] == pytest.approx(5.0, abs=1e-9) and std[2] == pytest.approx(2.0, abs=2e-3)
    for q in (0.025, 0.16, 0.5, 0.84, 0.975):
        assert known.quantile(q, "teff")[0] == pytest.approx(1 + q * (S - 1), rel=1e-12)
        assert known.quantile(q, "teff")[2] == pytest.approx(5 + 2 * special.ndtri(q), abs=2e-3)
    both = known.quantile(np.array([0.16, 0.84]), "teff")
    assert both.shape == (2, 3)
    assert set(known.mean()) == {"teff"} and known.mean()["teff"].shape == (3,)


def _gamma3_hdi(level: float) -> tuple[float, float]:
    """Exact HDI of Gamma(3): the lower-tail probability where the two end densities are equal."""
    g = stats.gamma(3)
    a = optimize.brentq(lambda a: g.pdf(g.ppf(a)) - g.pdf(g.ppf(a + level)), 1e-9, 1 - level - 1e-9)
    return float(g.ppf(a)), float(g.ppf(a + level))


def test_central_and_hdi_intervals_of_known_samples(known):
    lo, hi = known.interval(0.68, quantity="teff")
    assert (lo[0], hi[0]) == (pytest.approx(1 + 0.16 * (S - 1)), pytest.approx(1 + 0.84 * (S - 1)))
    lo, hi = known.interval(0.95, "central", "teff")
    assert (lo[1], hi[1]) == (pytest.approx(0.6187, abs=2e-3), pytest.approx(7.2247, abs=5e-3))
    assert (lo[2], hi[2]) == (pytest.approx(5 - 1.96 * 2, abs=0.01), pytest.approx(5 + 1.96 * 2, abs=0.01))
    for level in (0.68, 0.95):
        exact_lo, exact_hi = _gamma3_hdi(level)
        lo, hi = known.interval(level, "hdi", "teff")
        central_lo, central_hi = known.interval(level, "central", "teff")
        assert hi[1] - lo[1] == pytest.approx(exact_hi - exact_lo, rel=0.01)
        assert lo[1] == pytest.approx(exact_lo, abs=0.1) and hi[1] == pytest.approx(exact_hi, abs=0.1)
        # the check tells the kinds apart: the central interval of the skewed star is >= 5 % wider
        assert central_hi[1] - central_lo[1] > 1.05 * (exact_hi - exact_lo)
        # symmetric star: HDI = central
        assert lo[2] == pytest.approx(central_lo[2], abs=0.02) and hi[2] == pytest.approx(central_hi[2], abs=0.02)
    assert _gamma3_hdi(0.95) == (pytest.approx(0.3035, abs=1e-3), pytest.approx(6.4012, abs=1e-3))


def test_interval_refuses_bad_arguments(known):
    with pytest.raises(ValueError, match="level"):
        known.interval(1.0, quantity="teff")
    with pytest.raises(ValueError, match="kind"):
        known.interval(0.5, kind="widest", quantity="teff")
    with pytest.raises(KeyError, match="mass"):
        known.mean("mass")
    with pytest.raises(ValueError, match="shape"):
        Posterior({"mass": np.ones((10, 3))}, np.arange(4))


def test_mass_age_correlation_of_known_samples(rng):
    cov = [[0.04, -0.7 * 0.2 * 0.3], [-0.7 * 0.2 * 0.3, 0.09]]
    draws = rng.multivariate_normal([0.2, 1.5], cov, size=(S, 2))  # (S, N=2, 2)
    post = Posterior({"mass": np.exp(draws[..., 0]), "age": np.exp(draws[..., 1])}, np.array([1, 2]))
    # standard error of a correlation: (1 - rho^2) / sqrt(S) = 0.0036
    np.testing.assert_allclose(post.mass_age_corr(), -0.7, atol=0.015)
    assert np.isnan(Posterior({"mass": np.exp(draws[..., 0])}, np.array([1, 2])).mass_age_corr()).all()


def _contract_posterior(rng: np.random.Generator, n: int = 4, s: int = 300) -> Posterior:
    samples = {"mass": rng.lognormal(0.2, 0.1, (s, n)), "age": rng.lognormal(1.5, 0.3, (s, n)),
               "teff": rng.normal(4700, 80, (s, n)), "logg": rng.normal(2.5, 0.05, (s, n)),
               "m_h": rng.normal(-0.1, 0.05, (s, n))}
    for values in samples.values():
        values[:, 2] = np.nan  # star 2 got no prediction
    status = np.array(["ok", "ok", "no usable flux", "ok"], dtype=object)
    flags = np.array(["", "missing BP", "", ""], dtype=object)
    return Posterior(samples, np.array([5853498713190525696, 2, 3, 4]), status=status, flags=flags)


def test_to_table_has_exactly_the_contract_columns_with_units(rng):
    table = _contract_posterior(rng).to_table()
    expected = ["source_id"]
    for q in QUANTITIES:
        expected += [f"{q}_mean", f"{q}_std"] + [f"{q}_{name}" for name in CONTRACT_QUANTILES]
    expected += ["mass_age_corr", "status", "flags"]
    assert table.colnames == expected
    assert [f"{q}_{name}" for q in ("mass",) for name in CONTRACT_QUANTILES] == [
        "mass_q025", "mass_q16", "mass_q50", "mass_q84", "mass_q975"]
    units = {"mass": "solMass", "age": "Gyr", "teff": "K", "logg": "dex", "m_h": "dex"}
    assert {q: unit_name(q) for q in QUANTITIES} == units
    for column in table.colnames:
        quantity = next((q for q in QUANTITIES if column.startswith(q + "_") and column != "mass_age_corr"), None)
        if quantity is None:
            assert table[column].unit is None, column
        else:
            assert str(table[column].unit) == units[quantity], column
    assert table["source_id"].dtype == np.int64 and table["source_id"][0] == 5853498713190525696
    assert table.meta["samples_per_star"] == 300


def test_to_table_values_match_the_methods(rng):
    post = _contract_posterior(rng)
    table = post.to_table()
    ok = [0, 1, 3]
    np.testing.assert_allclose(table["age_mean"][ok], post.mean("age")[ok])
    np.testing.assert_allclose(table["age_std"][ok], post.std("age")[ok])
    for name, q in CONTRACT_QUANTILES.items():
        np.testing.assert_allclose(table[f"teff_{name}"][ok], post.quantile(q, "teff")[ok])
    assert np.all(table["mass_q16"][ok] < table["mass_q50"][ok]) and np.all(table["mass_q50"][ok] < table["mass_q84"][ok])
    np.testing.assert_allclose(table["mass_age_corr"][ok], post.mass_age_corr()[ok])


def test_a_star_without_samples_keeps_its_row_and_status(rng):
    post = _contract_posterior(rng)
    table = post.to_table()
    assert len(table) == 4 and list(table["source_id"][1:]) == [2, 3, 4]
    assert list(table["status"]) == ["ok", "ok", "no usable flux", "ok"]
    assert list(table["flags"]) == ["", "missing BP", "", ""]
    row = table[2]
    assert all(np.isnan(row[c]) for c in table.colnames if c not in ("source_id", "status", "flags"))
    assert all(np.isfinite(table[c][[0, 1, 3]]).all() for c in table.colnames if c.startswith("mass_"))
    lo, hi = post.interval(0.9, "hdi", "mass")
    assert np.isnan(lo[2]) and np.isnan(hi[2]) and np.isfinite(lo[[0, 1, 3]]).all()
    assert len(post.predictive("mass").samples[0]) == 3  # only usable stars by default
    sub = post.take(np.array([2, 3]))
    assert list(sub.status) == ["no usable flux", "ok"] and sub.samples["mass"].shape == (300, 2)


def test_to_arviz_dims_and_coords(rng):
    post = _contract_posterior(rng)
    data = post.to_arviz()
    for q in QUANTITIES:
        assert data.posterior[q].dims == ("chain", "draw", "star")
        assert data.posterior[q].shape == (1, 300, 4)
    assert list(data.posterior["star"].values) == list(post.source_id)
    np.testing.assert_array_equal(data.posterior["mass"].values[0], post.samples["mass"])


def test_corner_returns_a_figure_and_refuses_a_star_without_samples(rng):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.pyplot import close

    post = _contract_posterior(rng)
    with matplotlib.rc_context({"text.usetex": False}):
        figure = post.corner(0)
        try:
            assert isinstance(figure, Figure)
            assert len(figure.axes) == len(QUANTITIES) ** 2
            figure.savefig(io.BytesIO(), format="png")
        finally:
            close(figure)
    with pytest.raises(ValueError, match="no usable flux"):
        post.corner(2)


def test_corner_works_after_reading_an_archive_file_without_latex(rng, xp_misc, monkeypatch):
    import matplotlib
    from matplotlib.pyplot import close

    from bayesxp.xp.read import read_spectra

    post = _contract_posterior(rng)
    monkeypatch.setenv("PATH", "")  # no LaTeX anywhere, whatever this machine has
    with matplotlib.rc_context():  # whatever happens, the other tests get the rcParams back
        read_spectra(xp_misc / "XP_CONTINUOUS_RAW.csv")  # what model.posterior(<archive file>) does first
        figure = post.corner(0)
        try:
            figure.savefig(io.BytesIO(), format="png")
        finally:
            close(figure)
