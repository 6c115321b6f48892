"""Parameter -> spectrum (``bayesxp.model.generate``, ``bayesxp generate``) with the shipped model.

Known answers, stated tolerances:

- the 240 bundled demo giants' spectra generated from their APOGEE labels and photometry reproduce their
  observed spectra: the mean chi-square per spectral token is 0.6-1.5 (measured 0.98; 1 for a calibrated
  model); the same labels permuted between the stars, the wrong model, give >= 1.8 (measured 2.31) and at least
  1.8 times more;
- the draws have the stated mean and covariance: 4,000 draws' pixel variances are within 10% of the predictive
  variance (median ratio; Monte Carlo error about 2% per pixel), their means within 4 standard errors;
- the flux covariance is symmetric and positive semi-definite; the coefficients the tokens leave out follow the
  prior conditioned on the predicted ones (checked against the prior's own regression);
- the file job writes the contract columns, keeps a row without labels with its status, and its CSV is read back
  by ``bayesxp predict``.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from bayesxp.io.tables import read_table, write_table
from bayesxp.model.generate import _unpredicted, generate_spectra, label_tokens, labels_array, observed_tokens
from bayesxp.predict import generate_file, predict_file
from bayesxp.quantities import LABELS, PHOTOMETRIC_LABELS
from bayesxp.xp.inputs import photometry_labels


def _demo_labels(demo) -> np.ndarray:
    meta = demo.meta
    x = labels_array({"teff": meta["teff"], "logg": meta["logg"], "m_h": meta["fe_h"], "alpha_m": meta["alpha_m"]})
    columns = [LABELS.index(k) for k in PHOTOMETRIC_LABELS]
    x[:, columns] = photometry_labels(meta)[:, columns]
    return x


def test_demo_spectra_are_reproduced_from_their_labels_and_permuted_labels_are_rejected(foundation, demo):
    x = _demo_labels(demo)
    observed = observed_tokens(foundation.tokenizer, demo.flux, demo.flux_error)
    assert observed.shape == (len(demo), 80) and np.isfinite(observed).all()
    right = generate_spectra(foundation, x).chi_square(observed).mean() / 80
    wrong_x = x.copy()
    wrong_x[:, :4] = x[np.random.default_rng(0).permutation(len(x)), :4]
    wrong = generate_spectra(foundation, wrong_x).chi_square(observed).mean() / 80
    assert 0.6 <= right <= 1.5, right
    assert wrong >= 1.8 and wrong >= 1.8 * right, (right, wrong)


def test_draws_have_the_stated_mean_and_covariance(foundation, demo):
    generated = generate_spectra(foundation, _demo_labels(demo)[:3])
    draws = generated.draws(4000, seed=2)
    assert draws.shape == (4000, 3, 343)
    ratio = draws.var(0, ddof=1) / generated.flux_error**2
    assert abs(np.median(ratio) - 1) < 0.1, np.median(ratio)
    standard_error = generated.flux_error / np.sqrt(4000)
    assert (np.abs(draws.mean(0) - generated.flux) < 4 * standard_error + 1e-9).mean() > 0.99


def test_covariance_and_the_left_out_coefficients(foundation, demo):
    generated = generate_spectra(foundation, _demo_labels(demo)[:2])
    cov = generated.covariance
    assert np.allclose(cov, np.swapaxes(cov, 1, 2))
    eigen = np.linalg.eigvalsh(cov)
    assert (eigen > -1e-9 * eigen.max()).all()
    known, unknown = _unpredicted(foundation.tokenizer)
    prior = foundation.tokenizer.prior
    # the left-out coefficients are the prior's linear regression on the predicted ones
    sigma = prior.covariance
    gain = np.linalg.solve(sigma[np.ix_(known, known)], sigma[np.ix_(known, unknown)]).T
    expected = prior.mean[unknown] + (generated.coefficients[:, known] - prior.mean[known]) @ gain.T
    assert np.allclose(generated.coefficients[:, unknown], expected)
    assert np.allclose(generated.coefficients[:, known], generated.token_mean)
    # wider than the prior's conditional covariance alone (the predicted tokens' uncertainty is carried)
    conditional = sigma[np.ix_(unknown, unknown)] - gain @ sigma[np.ix_(known, unknown)]
    extra = generated.coefficient_covariance[0][np.ix_(unknown, unknown)] - conditional
    assert np.linalg.eigvalsh(extra).min() > -1e-12


def test_label_inputs_are_checked(foundation):
    with pytest.raises(ValueError, match="unknown label"):
        labels_array({"temperature": [4800.0]})
    with pytest.raises(ValueError, match="2 values for 3 stars"):
        labels_array({"teff": [1.0, 2.0], "logg": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"star\(s\) \[1\]"):
        generate_spectra(foundation, {"teff": [4800.0, np.nan]})
    tokens = label_tokens(foundation.tokenizer, labels_array({"teff": [4800.0], "mass": [1.0]}))
    assert int(tokens.present.sum()) == 2 and not tokens.present[:, :80].any()


def test_generate_file_writes_the_contract_and_predict_reads_it(tmp_path):
    labels = Table({"teff": [4800.0, 4400.0, np.nan], "logg": [2.5, 1.9, np.nan], "m_h": [0.0, -0.4, np.nan],
                    "alpha_m": [0.0, 0.15, np.nan], "Mass": [1.2, -1.0, np.nan], "age": [4.0, 9.0, np.nan],
                    "source_id": [11, 12, 13]})
    write_table(labels, tmp_path / "labels.csv")
    result = generate_file(tmp_path / "labels.csv", tmp_path / "spectra.csv")
    assert result["stars"] == 3 and result["ok"] == 2
    out = read_table(tmp_path / "spectra.csv")
    assert out.colnames == labels.colnames + ["flux", "flux_error", "status"]
    status = list(out["status"])
    assert status[0] == "ok" and status[1] == "ok; mass -1 ignored" and status[2].startswith("no usable label")
    predicted = predict_file(tmp_path / "spectra.csv", tmp_path / "predicted.fits", num_samples=50, progress=False)
    assert predicted["ok"] == 2
    table = read_table(tmp_path / "predicted.fits")
    assert np.isfinite(np.asarray(table["teff_mean"], float)[:2]).all()


def test_generate_file_refuses_a_table_without_labels(tmp_path):
    from bayesxp.errors import InputFileError

    write_table(Table({"colour": [1.0]}), tmp_path / "x.csv")
    with pytest.raises(InputFileError, match="none of the label columns"):
        generate_file(tmp_path / "x.csv", tmp_path / "y.csv")
