"""Properties over random inputs (hypothesis, derandomised): the tokenizer never makes NaN/inf, the readers
never raise on per-star garbage, and the posterior of the tiny model is finite, reproducible and bounded.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesxp.errors import InputFileError
from bayesxp.io.library import sampled_from_table
from bayesxp.io.tables import read_table
from bayesxp.model.tokenizer import Tokenizer, TokenizerConfig
from bayesxp.quantities import LABELS, QUANTITIES
from bayesxp.spectra import N_SAMPLES, STATUS_OK, SampledSpectra
from bayesxp.testing.tiny import tiny_training_set
from bayesxp.xp.read import spectra_from_table

QUICK = settings(max_examples=25, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                        HealthCheck.data_too_large])
# "any finite or NaN input": moderate finite values (extremes have their own test below), and NaN
_values = st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([np.nan, 0.0, 1.0]))


# ---------------------------------------------------------------------------------------- tokenizer


@pytest.fixture(scope="module")
def patch_tokenizer() -> Tokenizer:
    stars = tiny_training_set()
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch"))
    tokenizer.fit(stars.flux, stars.flux_error, stars.labels, stars.label_error)
    return tokenizer


@st.composite
def _token_inputs(draw, n_max: int = 3):
    n = draw(st.integers(1, n_max))
    flux = draw(arrays(np.float32, (n, N_SAMPLES), elements=_values))
    error = draw(arrays(np.float32, (n, N_SAMPLES), elements=_values))
    labels = draw(arrays(np.float32, (n, len(LABELS)), elements=_values))
    label_error = draw(arrays(np.float32, (n, len(LABELS)), elements=_values))
    if draw(st.booleans()):  # also clean spectra, where every patch is present
        flux = np.where(np.isfinite(flux), flux, np.float32(1.0))
    return flux, error, labels, label_error


@QUICK
@given(_token_inputs())
def test_patch_tokens_are_finite_and_present_exactly_where_the_inputs_are(patch_tokenizer, inputs):
    flux, error, labels, label_error = inputs
    tokens = patch_tokenizer.encode(flux, error, labels, label_error)
    assert np.isfinite(tokens.values).all() and np.isfinite(tokens.errors).all()
    n_patches = len(patch_tokenizer.spectral_keys)
    patches = flux.reshape(len(flux), n_patches, -1)
    assert np.array_equal(tokens.present[:, :n_patches], np.isfinite(patches).all(axis=2))
    columns = [LABELS.index(k) for k in patch_tokenizer.label_keys]
    assert np.array_equal(tokens.present[:, n_patches:], np.isfinite(labels[:, columns]))
    assert (tokens.values[~tokens.present] == 0).all()


@settings(QUICK, max_examples=12)
@given(_token_inputs(n_max=2))
def test_coefficient_tokens_are_finite_and_present_exactly_where_the_inputs_are(tiny_model, inputs):
    """The MAP projection is present for a star with any usable sample (the prior fills the rest)."""
    tokenizer = tiny_model.tokenizer
    flux, error, labels, label_error = inputs
    tokens = tokenizer.encode(flux, error, labels, label_error)
    assert np.isfinite(tokens.values).all() and np.isfinite(tokens.errors).all()
    n_spectral = len(tokenizer.spectral_keys)
    usable = (np.isfinite(flux) & np.isfinite(error) & (error > 0)).any(axis=1)
    assert np.array_equal(tokens.present[:, :n_spectral], np.repeat(usable[:, None], n_spectral, axis=1))
    columns = [LABELS.index(k) for k in tokenizer.label_keys]
    assert np.array_equal(tokens.present[:, n_spectral:], np.isfinite(labels[:, columns]))


def test_tokens_stay_finite_for_finite_inputs_at_the_float32_limit(patch_tokenizer):
    flux = np.ones((1, N_SAMPLES), np.float32)
    flux[0, 5] = 3e38
    labels = np.full((1, len(LABELS)), np.nan, np.float32)
    tokens = patch_tokenizer.encode(flux, flux * 0.01, labels, labels)
    assert np.isfinite(tokens.values).all()


# ------------------------------------------------------------------------------------------ readers


def _cell(good: np.ndarray, for_error: bool):
    """One star's flux-like cell: the good array (kind "good"), or per-star garbage ("bad": must be flagged;
    "odd": numbers the reader takes as they are, e.g. a negative flux)."""
    text = "[" + ", ".join(repr(float(v)) for v in good) + "]"
    return st.sampled_from([
        ("good", good),
        ("good", text),
        ("good", list(good)),
        ("bad", None),
        ("bad", ""),
        ("bad", "hello"),
        ("bad", "[1.0, abc, 2.0]"),
        ("bad", "3.5"),
        ("bad", "[]"),
        ("bad", good[:100]),
        ("bad", np.r_[good, good[:5]]),
        ("bad", np.full(len(good), np.nan)),
        ("bad" if for_error else "odd", list(np.full(len(good), -1.0))),
        ("bad", "[" + ", ".join(["null"] * len(good)) + "]"),
        ("bad", b"\xff\xfe binary"),
    ])


@st.composite
def _garbage_library_table(draw):
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rows = []
    for _ in range(n):
        flux = 1.0 + 0.05 * rng.standard_normal(N_SAMPLES)
        flux_kind, flux_cell = draw(_cell(flux, for_error=False))
        error_kind, error_cell = draw(_cell(np.full(N_SAMPLES, 0.02), for_error=True))
        ident = draw(st.one_of(st.integers(1, 2**62), st.sampled_from(["★1", "1,2", "", 'x"y', "7"])))
        kind = "bad" if "bad" in (flux_kind, error_kind) else "odd" if "odd" in (flux_kind, error_kind) else "good"
        rows.append((kind, flux, flux_cell, error_cell, ident))
    table = Table()
    table["gaiaedr3_source_id"] = np.array([r[4] for r in rows], dtype=object)
    table["flux"] = np.array([r[2] for r in rows] + [None], dtype=object)[:-1]
    table["flux_error"] = np.array([r[3] for r in rows] + [None], dtype=object)[:-1]
    return table, rows


@QUICK
@given(_garbage_library_table())
def test_sampled_from_table_never_raises_on_per_star_garbage(case):
    table, rows = case
    try:
        spectra = sampled_from_table(table, "garbage.csv")
    except InputFileError as exc:  # only when no row of a column holds numbers at all
        assert exc.column in ("flux", "flux_error") and "no list of numbers" in str(exc)
        return
    assert len(spectra) == len(rows)
    for i, (kind, flux, *_, ident) in enumerate(rows):
        status = str(spectra.status[i])
        if kind == "good":
            assert status == STATUS_OK or status.startswith("missing source_id"), status
            np.testing.assert_array_equal(spectra.flux[i], flux.astype(np.float32))
        elif kind == "bad":
            assert not spectra.usable[i] and np.isnan(spectra.flux[i]).mean() > 0.5, (i, status)
        assert (spectra.source_id[i] != 0) == (isinstance(ident, int) or ident == "7")
        assert status.endswith("missing source_id") or "missing source_id (" in status or spectra.source_id[i] != 0


@pytest.fixture(scope="module")
def continuous_template(xp_misc) -> tuple[Table, list]:
    table = read_table(xp_misc / "XP_CONTINUOUS_RAW.csv")
    clean = spectra_from_table(table.copy(), "clean.csv")
    return table, clean


_GARBAGE = [None, "", "hello", "[1.0, abc]", "3.5", "[]", "[nan, nan]", "(" + ", ".join(["1e400"] * 55) + ")",
            "[" + ", ".join(["2"] * 50) + "]"]
# zero or negative coefficients are numbers, a (strange) spectrum; as errors they are garbage
_COEFFICIENT_GARBAGE = {"bp_coefficients": st.sampled_from(_GARBAGE),
                        "rp_coefficient_errors": st.sampled_from(
                            [*_GARBAGE, "(" + ", ".join(["0"] * 55) + ")", "(" + ", ".join(["-1"] * 55) + ")"]),
                        "bp_coefficient_correlations": st.sampled_from(_GARBAGE)}


@st.composite
def _garbage_continuous_table(draw, template: Table):
    n = draw(st.integers(1, 5))
    picks = [draw(st.integers(0, len(template) - 1)) for _ in range(n)]
    table = Table()
    for name in template.colnames:
        table[name] = np.array([template[name][k] for k in picks], dtype=object if template[name].dtype.kind == "U"
                               else template[name].dtype)
    broken: dict[int, list[str]] = {}
    for i in range(n):
        for column in ("bp_coefficients", "rp_coefficient_errors", "bp_coefficient_correlations", "source_id"):
            if draw(st.integers(0, 4)) == 0:
                if column == "source_id":
                    table["source_id"] = table["source_id"].astype(object)
                    table["source_id"][i] = draw(st.sampled_from(["★", "", "1,2", "x"]))
                else:
                    table[column][i] = draw(_COEFFICIENT_GARBAGE[column])
                broken.setdefault(i, []).append(column)
    return table, picks, broken


@settings(QUICK, max_examples=20)
@given(st.data())
def test_the_archive_reader_never_raises_on_per_star_garbage(continuous_template, data):
    template, clean = continuous_template
    table, picks, broken = data.draw(_garbage_continuous_table(template))
    try:
        spectra = spectra_from_table(table, "garbage.csv")
    except InputFileError as exc:  # only when a whole column holds no number
        assert "no list of numbers in any row" in str(exc)
        assert all(column in broken.get(i, []) for i in range(len(picks)) for column in [exc.column])
        return
    assert len(spectra) == len(picks)
    for i, k in enumerate(picks):
        status = str(spectra.status[i])
        if i not in broken:
            assert status == STATUS_OK
            np.testing.assert_array_equal(spectra.flux[i], clean.flux[k])
        elif broken[i] == ["source_id"]:
            assert status.startswith("missing source_id") and spectra.usable[i]
            np.testing.assert_array_equal(spectra.flux[i], clean.flux[k])
        else:  # a null BP cell is a missing band (usable, flagged); anything else blocks the star
            assert status != STATUS_OK and not status.startswith("missing source_id"), status


# ---------------------------------------------------------------------------------------- posterior


@pytest.fixture(scope="module")
def base_spectra() -> tuple[np.ndarray, np.ndarray]:
    """Three synthetic spectra divided by their median, as the library's are."""
    stars = tiny_training_set()
    flux, error = stars.flux[:3].astype(np.float64), stars.flux_error[:3].astype(np.float64)
    median = np.median(flux, axis=1, keepdims=True)
    return flux / median, error / median


def _log_std_bound(model, key: str) -> float:
    return 25.0 * model.tokenizer.std[model.tokenizer.keys.index(key), 0]


@settings(QUICK, max_examples=15)
@given(scale_exponent=st.floats(-20, 20), error_exponent=st.floats(-12, 12), mask_fraction=st.floats(0, 0.4),
       seed=st.integers(0, 1000))
def test_the_posterior_is_finite_reproducible_and_bounded_for_extreme_spectra(
        tiny_model, base_spectra, scale_exponent, error_exponent, mask_fraction, seed):
    """Flux in any unit (x 1e-20 .. 1e20), errors from tiny to huge, samples masked: every sample finite,
    the same seed gives the same draws, every spread bounded by what the heads can express."""
    flux, error = base_spectra
    scale, error_scale = 10.0**scale_exponent, 10.0**error_exponent
    masked = np.random.default_rng(seed).random(flux.shape) < mask_fraction
    flux = np.where(masked, np.nan, flux) * scale
    error = error * scale * error_scale
    first = tiny_model.posterior(flux, error, num_samples=20, seed=seed)
    second = tiny_model.posterior(flux.copy(), error.copy(), num_samples=20, seed=seed)
    assert (first.status == STATUS_OK).all(), first.status
    for q in QUANTITIES:
        samples = first.samples[q]
        assert samples.shape == (20, 3) and np.isfinite(samples).all(), q
        np.testing.assert_array_equal(samples, second.samples[q])
    for q, key in (("mass", "ln_mass"), ("age", "ln_age")):
        assert (first.samples[q] > 0).all()
        assert (np.log(first.samples[q]).std(axis=0) <= _log_std_bound(tiny_model, key)).all()
    for q in ("teff", "logg", "m_h"):
        assert (first.samples[q].std(axis=0) <= _log_std_bound(tiny_model, q)).all()
    if error_exponent == 0 and mask_fraction == 0 and abs(scale_exponent) >= 0.5:
        unscaled = tiny_model.posterior(base_spectra[0], base_spectra[1], num_samples=20, seed=seed)
        for q in QUANTITIES:  # the unit is normalised away
            np.testing.assert_allclose(first.samples[q], unscaled.samples[q], rtol=1e-4)


def test_the_posterior_does_not_depend_on_the_flux_unit(tiny_model, base_spectra):
    flux, error = base_spectra
    reference = tiny_model.posterior(flux, error, num_samples=20, seed=3)
    for scale in (1e-20, 1e-10, 1e10, 1e20):
        scaled = tiny_model.posterior(flux * scale, error * scale, num_samples=20, seed=3)
        for q in QUANTITIES:
            np.testing.assert_allclose(scaled.samples[q], reference.samples[q], rtol=1e-4)


def test_the_posterior_survives_one_absurd_finite_sample(tiny_model):
    flux = np.ones((2, N_SAMPLES))
    flux[1, :10] = 1e30
    spectra = SampledSpectra.from_arrays([1, 2], flux, np.full((2, N_SAMPLES), 0.01))
    posterior = tiny_model.posterior(spectra, num_samples=10)
    ok = posterior.status == STATUS_OK
    for q in QUANTITIES:
        assert np.isfinite(posterior.samples[q][:, ok]).all()


def test_the_same_seed_gives_the_same_posterior_across_calls(tiny_model, base_spectra):
    flux, error = base_spectra
    first = tiny_model.posterior(flux, error, num_samples=15, seed=11)
    second = tiny_model.posterior(flux, error, num_samples=15, seed=11)
    other = tiny_model.posterior(flux, error, num_samples=15, seed=12)
    for q in QUANTITIES:
        np.testing.assert_array_equal(first.samples[q], second.samples[q])
    assert not np.array_equal(first.samples["mass"], other.samples["mass"])
