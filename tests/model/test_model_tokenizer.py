"""The tokenizer is explicit, invertible and saved: ``decode(encode(x)) == x`` for every present value.

Round-trip tolerance: tokens are float32 standardised values, so a decoded value may differ from the input by
float32 rounding of ``(x - mean) / std`` times ``std``: we allow ``1e-6 * (|x| + std)`` (float32 epsilon is
1.2e-7, with margin for the subtraction).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesxp.model.tokenizer import PAD_ID, Tokenizer, TokenizerConfig
from bayesxp.quantities import LABELS
from bayesxp.spectra import N_SAMPLES


def _random_stars(rng: np.random.Generator, n: int = 12) -> tuple[np.ndarray, ...]:
    flux = (1.0 + 0.3 * rng.standard_normal((n, N_SAMPLES))).astype(np.float32)
    flux_error = np.abs(0.01 + 0.005 * rng.standard_normal((n, N_SAMPLES))).astype(np.float32)
    labels = rng.normal([4700, 2.5, -0.2, 0.05, 0.2, 1.5, 1.2, 0.6, 0.7, 0.05], [300, 0.5, 0.3, 0.1, 0.2, 0.6, 0.2,
                        0.1, 0.1, 0.03], size=(n, len(LABELS))).astype(np.float32)
    label_error = np.abs(labels) * 0.01 + 0.01
    return flux, flux_error, labels, label_error.astype(np.float32)


def _assert_round_trip(tokenizer: Tokenizer, tokens_values: np.ndarray, raw: np.ndarray, present: np.ndarray) -> None:
    """``raw (N, K, width)`` (NaN beyond a key's width) equals the decoded tokens where present."""
    decoded = tokenizer.decode(tokens_values)  # (N, K, width)
    width_mask = np.arange(tokenizer.width)[None, :] < tokenizer.key_width[:, None]  # (K, width)
    check = present[..., None] & width_mask[None]
    tolerance = 1e-6 * (np.abs(raw) + tokenizer.std[None])
    assert check.any()
    assert np.all(np.abs(decoded - raw)[check] <= tolerance[check])


def test_pad_id_is_zero_and_key_ids_start_at_one():
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=7))
    assert PAD_ID == 0
    assert tokenizer.key_id(tokenizer.keys[0]) == 1
    assert tokenizer.key_id(tokenizer.keys[-1]) == tokenizer.n_keys == 343 // 7 + len(LABELS)
    assert tokenizer.keys[:2] == ("flux_000", "flux_001") and tokenizer.keys[-len(LABELS):] == LABELS


def test_patch_round_trip_on_random_flux(rng):
    flux, flux_error, labels, label_error = _random_stars(rng)
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=7))
    tokenizer.fit(flux, flux_error, labels, label_error)
    tokens = tokenizer.encode(flux, flux_error, labels, label_error)
    assert tokens.values.shape == (12, 49 + len(LABELS), 7) and tokens.values.dtype == np.float32
    assert tokens.present.all()
    raw, raw_error = tokenizer._raw(flux, flux_error, labels, label_error)
    _assert_round_trip(tokenizer, tokens.values, raw, tokens.present)
    # by key: a patch gives back its 7 flux samples, a label its value, errors their physical size
    patch = tokenizer.decode(tokens.values[:, tokenizer.keys.index("flux_003")], "flux_003")
    np.testing.assert_allclose(patch, flux[:, 21:28], rtol=1e-6)
    k = tokenizer.keys.index("teff")
    np.testing.assert_allclose(tokenizer.decode(tokens.values[:, k, 0], "teff"), labels[:, 0], rtol=1e-6)
    np.testing.assert_allclose(tokenizer.decode_std(tokens.errors[:, k, 0], "teff"), label_error[:, 0], rtol=1e-6)
    # the check is not vacuous: decoding with another star's statistics fails it
    other = Tokenizer(tokenizer.config)
    other.fit(flux[:3] * 1.1, flux_error[:3], labels[:3], label_error[:3])
    with pytest.raises(AssertionError):
        _assert_round_trip(other, tokens.values, raw, tokens.present)


def test_missing_values_become_absent_tokens(rng):
    flux, flux_error, labels, label_error = _random_stars(rng)
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=7))
    tokenizer.fit(flux, flux_error, labels, label_error)
    flux[0, 23] = np.nan  # one masked sample -> its whole patch (flux_003) is missing
    flux[1, :] = np.nan  # no spectrum at all
    labels[2, LABELS.index("logg")] = np.nan
    labels[3, :] = np.nan
    tokens = tokenizer.encode(flux, flux_error, labels, label_error)
    patch3, logg = tokenizer.keys.index("flux_003"), tokenizer.keys.index("logg")
    spectral = slice(0, len(tokenizer.spectral_keys))
    labels_slice = slice(len(tokenizer.spectral_keys), None)
    assert not tokens.present[0, patch3] and tokens.present[0].sum() == tokenizer.n_keys - 1
    assert not tokens.present[1, spectral].any() and tokens.present[1, labels_slice].all()
    assert not tokens.present[2, logg] and tokens.present[2].sum() == tokenizer.n_keys - 1
    assert not tokens.present[3, labels_slice].any() and tokens.present[3, spectral].all()
    absent = ~tokens.present
    assert np.all(tokens.values[absent] == 0) and np.all(tokens.errors[absent] == 0)
    assert np.isfinite(tokens.values).all() and np.isfinite(tokens.errors).all()
    # present values are untouched by their neighbours' NaNs
    np.testing.assert_allclose(tokenizer.decode(tokens.values[:1, patch3 + 1], "flux_004"), flux[:1, 28:35], rtol=1e-6)


def test_narrow_keys_use_only_their_first_component(rng):
    flux, flux_error, labels, label_error = _random_stars(rng)
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=7))
    tokenizer.fit(flux, flux_error, labels, label_error)
    tokens = tokenizer.encode(flux, flux_error, labels, label_error)
    label_tokens = tokens.values[:, len(tokenizer.spectral_keys):, 1:]
    assert np.all(label_tokens == 0)


def test_fit_gives_zero_mean_unit_std_on_the_training_stars(rng):
    flux, flux_error, labels, label_error = _random_stars(rng, n=200)
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=7))
    tokenizer.fit(flux, flux_error, labels, label_error)
    tokens = tokenizer.encode(flux, flux_error, labels, label_error)
    width_mask = np.arange(7)[None, :] < tokenizer.key_width[:, None]
    mean = tokens.values.astype(np.float64).mean(axis=0)[width_mask]
    std = tokens.values.astype(np.float64).std(axis=0)[width_mask]
    assert np.max(np.abs(mean)) < 1e-5 and np.max(np.abs(std - 1)) < 1e-5


def test_encode_refuses_an_unfitted_tokenizer(rng):
    flux, flux_error, labels, label_error = _random_stars(rng, n=2)
    with pytest.raises(RuntimeError, match="fit"):
        Tokenizer().encode(flux, flux_error, labels, label_error)


def test_to_dict_from_dict_round_trip_through_json(rng):
    flux, flux_error, labels, label_error = _random_stars(rng)
    labels[4, 1] = np.nan
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=49, labels=("teff", "logg", "ln_mass")))
    tokenizer.fit(flux, flux_error, labels, label_error)
    state = json.loads(json.dumps(tokenizer.to_dict()))
    again = Tokenizer.from_dict(state)
    assert again.config == tokenizer.config and again.keys == tokenizer.keys and again.fitted
    assert np.array_equal(again.mean, tokenizer.mean) and np.array_equal(again.std, tokenizer.std)
    a = tokenizer.encode(flux, flux_error, labels, label_error)
    b = again.encode(flux, flux_error, labels, label_error)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.errors, b.errors)
    assert np.array_equal(a.present, b.present)


@pytest.mark.parametrize("edit", ["drop", "swap", "rename"])
def test_from_dict_refuses_a_key_list_that_does_not_match_the_config(rng, edit):
    flux, flux_error, labels, label_error = _random_stars(rng, n=4)
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=7))
    tokenizer.fit(flux, flux_error, labels, label_error)
    state = tokenizer.to_dict()
    keys = state["keys"]
    if edit == "drop":
        state["keys"] = keys[:-1]
    elif edit == "swap":
        state["keys"] = [keys[1], keys[0], *keys[2:]]
    else:
        state["keys"] = [*keys[:-1], "ak"]
    with pytest.raises(ValueError, match="keys"):
        Tokenizer.from_dict(state)


def test_config_refuses_bad_designs():
    with pytest.raises(ValueError, match="spectral"):
        TokenizerConfig(spectral="pixels")
    with pytest.raises(ValueError, match="patch_size"):
        TokenizerConfig(spectral="patch", patch_size=8)
    TokenizerConfig(spectral="coefficients", patch_size=8)  # the patch size only matters for patches
    with pytest.raises(ValueError, match="unknown label"):
        TokenizerConfig(labels=("teff", "mass"))


def test_coefficients_round_trip_on_real_demo_spectra(shared_data, tmp_path, monkeypatch):
    """The coefficients design decodes to the MAP pseudo-coefficients of :func:`bayesxp.xp.projection.project`."""
    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.xp.projection import N_COEFFICIENTS, project

    monkeypatch.setenv("BAYESXP_CACHE_DIR", str(tmp_path))  # project_cached writes its cache there
    spectra = read_sampled_table(demo_path()).take(np.arange(6))
    flux, flux_error = spectra.flux, spectra.flux_error
    labels = np.full((len(flux), len(LABELS)), np.nan, np.float32)
    tokenizer = Tokenizer(TokenizerConfig(spectral="coefficients", n_bp=12, n_rp=9))
    assert tokenizer.spectral_keys[:2] == ("bp_0", "bp_1") and tokenizer.spectral_keys[-1] == "rp_8"
    assert tokenizer.width == 1
    tokenizer.fit(flux, flux_error, labels, labels)
    tokens = tokenizer.encode(flux, flux_error, labels, labels)
    s = len(tokenizer.spectral_keys)
    assert tokens.present[:, :s].all() and not tokens.present[:, s:].any()
    expected, _ = project(flux.astype(np.float64), flux_error.astype(np.float64))
    expected = expected[:, np.r_[np.arange(12), N_COEFFICIENTS + np.arange(9)]]  # (N, 21)
    decoded = tokenizer.decode(tokens.values)[:, :s, 0]
    tolerance = 1e-6 * (np.abs(expected) + tokenizer.std[None, :s, 0])
    assert np.all(np.abs(decoded - expected) <= tolerance)
    # and RP coefficient 0 is not BP coefficient 0 (the keep-index picks the right band)
    assert not np.allclose(decoded[:, 12], expected[:, 0])
    by_key = tokenizer.decode(tokens.values[:, tokenizer.keys.index("rp_3"), 0], "rp_3")
    np.testing.assert_allclose(by_key, expected[:, 15], rtol=1e-6, atol=1e-6 * tokenizer.std[15, 0])


def test_coefficients_tokenizer_carries_its_prior(shared_data, monkeypatch):
    """The MAP prior travels in ``to_dict``: a restored tokenizer encodes identically with no data folder."""
    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.xp import projection as xp_projection

    spectra = read_sampled_table(demo_path()).take(np.arange(5))
    labels = np.full((5, len(LABELS)), np.nan, np.float32)
    tokenizer = Tokenizer(TokenizerConfig(spectral="coefficients", n_bp=6, n_rp=4))
    tokenizer.fit(spectra.flux, spectra.flux_error, labels, labels)
    state = json.loads(json.dumps(tokenizer.to_dict()))
    assert state["prior"]["n_sources"] == tokenizer.prior.n_sources > 1000

    def no_data(*args, **kwargs):
        raise AssertionError("the prior was rebuilt from the data folder")

    monkeypatch.setattr(xp_projection, "coefficient_prior", no_data)
    again = Tokenizer.from_dict(state)
    assert np.array_equal(again.prior.mean, tokenizer.prior.mean)
    assert np.array_equal(again.prior.covariance, tokenizer.prior.covariance)
    a = tokenizer.encode(spectra.flux, spectra.flux_error, labels, labels)
    b = again.encode(spectra.flux, spectra.flux_error, labels, labels)
    assert np.array_equal(a.values, b.values) and np.array_equal(a.present, b.present)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    patch_size=st.sampled_from([1, 7, 49, 343]),
    flux=arrays(np.float32, (3, N_SAMPLES), elements=st.floats(-1e3, 1e3, width=32)),
    masked=st.lists(st.integers(0, 3 * N_SAMPLES - 1), max_size=20),
)
def test_patch_round_trip_property(patch_size, flux, masked):
    """Any finite flux survives encode -> decode; any patch with a NaN sample is absent and zero."""
    flux = flux.copy()
    flux.ravel()[masked] = np.nan
    flux_error = np.full_like(flux, 0.01)
    labels = np.full((3, len(LABELS)), np.nan, np.float32)
    tokenizer = Tokenizer(TokenizerConfig(spectral="patch", patch_size=patch_size))
    tokenizer.fit(flux, flux_error, labels, labels)
    tokens = tokenizer.encode(flux, flux_error, labels, labels)
    s = len(tokenizer.spectral_keys)
    raw = flux.reshape(3, s, patch_size).astype(np.float64)
    expected_present = np.isfinite(raw).all(axis=2)
    assert np.array_equal(tokens.present[:, :s], expected_present)
    assert np.all(tokens.values[:, :s][~expected_present] == 0)
    decoded = tokenizer.decode(tokens.values)[:, :s]
    tolerance = 1e-6 * (np.abs(raw) + tokenizer.std[None, :s])
    ok = expected_present[..., None] & np.ones(patch_size, bool)
    assert np.all((np.abs(decoded - raw) <= tolerance)[ok])
