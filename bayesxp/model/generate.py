"""Parameter -> spectrum: the backbone's labels -> XP spectrum direction, with its predictive uncertainty.

The backbone learned both directions (spectral tokens are training targets as often as labels are). Given
labels (Teff, logg, [M/H], [alpha/M], ln mass, ln age and, where known, the colours and A_K) as the only
context, it is asked for every spectral token: the first ``n_bp`` BP and ``n_rp`` RP normalised MAP
pseudo-coefficients (:mod:`bayesxp.xp.projection`), each a Gaussian (mean, std), independent of the others
(requests do not see each other). Then:

- the coefficients the tokens leave out (the higher orders, 15 per band in the shipped design) come from the
  pseudo-coefficient prior conditioned on the predicted ones, with the predicted ones' uncertainty carried
  through: coefficient covariance ``C = [[D, D A^T], [A D, S + A D A^T]]`` with ``D`` the tokens' diagonal
  covariance, ``A = Sigma_uk Sigma_kk^-1`` and ``S`` the prior's conditional covariance;
- the sampled flux on 336..1020 nm (the library's normalisation: flux over its median) is ``M c`` with ``M``
  the merged design matrix (:func:`~bayesxp.xp.projection.merged_design_matrix`), covariance ``M C M^T``.

:func:`generate_spectra` returns a :class:`GeneratedSpectra`: mean flux, predictive std and covariance, draws,
and :meth:`GeneratedSpectra.chi_square` of an observed spectrum in the spectral tokens' own space (the 80
pseudo-coefficients the model predicts, observed ones projected from the observed flux as the tokenizer does):
with a calibrated model its expectation is the number of tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bayesxp.model.foundation import FoundationModel
from bayesxp.model.tokenizer import Tokenizer, Tokens
from bayesxp.quantities import LABELS, LN_SCALE, PHOTOMETRIC_LABELS
from bayesxp.spectra import WAVELENGTH_NM

__all__ = ["GENERATION_LABELS", "GeneratedSpectra", "label_tokens", "spectral_tokens", "generate_spectra", "labels_array",
           "observed_tokens", "flux_draws", "token_chi_square"]

#: Labels a spectrum is generated from, in physical units (mass [Msun] and age [Gyr], not their logarithms);
#: the photometric ones (:data:`~bayesxp.quantities.PHOTOMETRIC_LABELS`) are optional context.
GENERATION_LABELS = ("teff", "logg", "m_h", "alpha_m", "mass", "age")


def labels_array(labels: Mapping[str, object], n: int | None = None) -> np.ndarray:
    """``{label: (N,)}`` in physical units -> ``(N, len(LABELS))`` in the model's label order and units.

    Mass and age become ``ln_mass`` and ``ln_age``; labels not given are NaN (not used as context).

    Args:
        labels: Values per label name (:data:`GENERATION_LABELS` and optionally
            :data:`~bayesxp.quantities.PHOTOMETRIC_LABELS`); scalars broadcast to ``n``.
        n: Number of stars (default: the longest value given).

    Returns:
        ``(N, len(LABELS))`` float64.

    Raises:
        ValueError: An unknown label name, or lengths that differ.

    Example:
        >>> x = labels_array({"teff": [4800.0, 4600.0], "mass": 1.0})
        >>> x.shape, float(x[1, 0]), float(x[0, 4])
        ((2, 10), 4600.0, 0.0)
    """
    known = set(GENERATION_LABELS) | set(PHOTOMETRIC_LABELS)
    unknown = sorted(set(labels) - known)
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; known: {sorted(known)}")
    arrays = {k: np.atleast_1d(np.asarray(v, np.float64)) for k, v in labels.items()}
    n = n if n is not None else max((len(v) for v in arrays.values()), default=0)
    out = np.full((n, len(LABELS)), np.nan)
    for key, values in arrays.items():
        if len(values) not in (1, n):
            raise ValueError(f"label {key!r} has {len(values)} values for {n} stars")
        model_key = LN_SCALE.get(key, key)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, LABELS.index(model_key)] = np.log(values) if key in LN_SCALE else values
    return out


def label_tokens(tokenizer: Tokenizer, labels: np.ndarray, label_error: np.ndarray | None = None) -> Tokens:
    """Tokens of stars known only by their labels: every spectral token absent.

    Args:
        tokenizer: The model's tokenizer (its label statistics).
        labels: ``(N, len(LABELS))`` model labels (:func:`labels_array`); NaN = not given.
        label_error: Same shape, or None (zeros).

    Returns:
        The tokens (a label key is present where its value is finite).

    Example:
        >>> from bayesxp.model.folder import load_foundation, default_model_path
        >>> tok = load_foundation(default_model_path()).tokenizer
        >>> t = label_tokens(tok, labels_array({"teff": [4800.0], "logg": [2.5]}))
        >>> int(t.present.sum()), bool(t.present[0, tok.keys.index("teff")])
        (2, True)
    """
    labels = np.asarray(labels, np.float64)
    errors = np.zeros_like(labels) if label_error is None else np.asarray(label_error, np.float64)
    return tokenizer.encode(None, None, labels, errors)


@dataclass(frozen=True)
class GeneratedSpectra:
    """Predictive distribution of N normalised XP sampled spectra.

    Attributes:
        wavelength: ``(343,)`` nm.
        flux: ``(N, 343)`` predictive mean of the flux over its median.
        covariance: ``(N, 343, 343)`` predictive covariance of that flux.
        token_mean: ``(N, T)`` predicted spectral tokens (normalised pseudo-coefficients).
        token_std: ``(N, T)`` their predictive stds.
        coefficients: ``(N, 110)`` mean of all normalised coefficients (BP then RP).
        coefficient_covariance: ``(N, 110, 110)``.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    covariance: np.ndarray
    token_mean: np.ndarray
    token_std: np.ndarray
    coefficients: np.ndarray
    coefficient_covariance: np.ndarray

    def __len__(self) -> int:
        return len(self.flux)

    @property
    def flux_error(self) -> np.ndarray:
        """``(N, 343)`` predictive std of the flux."""
        return np.sqrt(np.clip(np.einsum("nii->ni", self.covariance), 0.0, None))

    def draws(self, num_samples: int, seed: int = 0) -> np.ndarray:
        """``(S, N, 343)`` draws of the flux (coefficients drawn from their Gaussian, mapped by the basis).

        Example:
            >>> g = generate_spectra(_shipped(), {"teff": [4800.0], "logg": [2.5], "m_h": [0.0]})
            >>> g.draws(5, seed=1).shape
            (5, 1, 343)
        """
        from bayesxp.xp.projection import merged_design_matrix

        rng = np.random.default_rng(seed)
        tril = np.linalg.cholesky(self.coefficient_covariance + 1e-12 * np.eye(self.coefficients.shape[1]))
        c = self.coefficients + np.einsum("nij,snj->sni", tril, rng.standard_normal((num_samples, *self.coefficients.shape)))
        return c @ merged_design_matrix().T

    def chi_square(self, observed_tokens: np.ndarray, observed_error: np.ndarray | None = None) -> np.ndarray:
        """Per star, ``sum_t (o_t - m_t)^2 / (s_t^2 + e_t^2)`` over the spectral tokens (NaN ones skipped).

        Args:
            observed_tokens: ``(N, T)`` observed normalised pseudo-coefficients (:func:`observed_tokens`).
            observed_error: ``(N, T)`` their errors, or None (zero: bright giants' coefficients are far better
                measured than the model predicts them).

        Returns:
            ``(N,)`` chi-square; its expectation under the model is the number of finite tokens, T.
        """
        error = np.zeros_like(observed_tokens) if observed_error is None else observed_error
        return token_chi_square(observed_tokens, self.token_mean, np.sqrt(self.token_std**2 + error**2))


def token_chi_square(observed: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``sum_t (o_t - m_t)^2 / s_t^2`` over the last axis, unobserved (NaN) tokens left out: the discrepancy of
    observed spectral tokens under predicted Gaussians (shapes broadcast, e.g. ``(N, T)`` against ``(S, N, T)``).

    Example:
        >>> float(token_chi_square(np.array([1.0, np.nan, 3.0]), np.zeros(3), np.array([1.0, 1.0, 3.0])))
        2.0
    """
    observed = np.asarray(observed, np.float64)
    return np.where(np.isfinite(observed), (np.nan_to_num(observed) - mean) ** 2 / std**2, 0.0).sum(axis=-1)


def observed_tokens(tokenizer: Tokenizer, flux: np.ndarray, flux_error: np.ndarray) -> np.ndarray:
    """``(N, T)`` the spectral tokens of observed spectra in physical units (normalised pseudo-coefficients),
    as the tokenizer makes them (MAP projection with the model's prior).

    Example:
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> s = read_sampled_table(demo_path()).take(np.arange(2))
        >>> observed_tokens(_shipped().tokenizer, s.flux, s.flux_error).shape
        (2, 80)
    """
    labels = np.full((len(flux), len(LABELS)), np.nan)
    tokens = tokenizer.encode(flux, flux_error, labels, labels)
    spectral = [tokenizer.keys.index(k) for k in tokenizer.spectral_keys]
    values = tokenizer.decode(tokens.values)[:, spectral, 0]
    return np.where(tokens.present[:, spectral], values, np.nan)


def _shipped() -> FoundationModel:
    """The shipped model's foundation (doctest helper)."""
    from bayesxp.model.folder import default_model_path, load_foundation

    return load_foundation(default_model_path())


def _unpredicted(tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the 110 coefficients) of the predicted tokens and of the coefficients left out."""
    from bayesxp.xp.projection import N_COEFFICIENTS, N_PSEUDO

    config = tokenizer.config
    known = np.r_[np.arange(config.n_bp), N_COEFFICIENTS + np.arange(config.n_rp)]
    return known, np.setdiff1d(np.arange(N_PSEUDO), known)


def _left_out_regression(tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(known, unknown, A, S)``: the left-out coefficients given the predicted ones under the prior,
    ``c_u = mu_u + A (c_k - mu_k) + N(0, S)`` with ``A = Sigma_uk Sigma_kk^-1`` and ``S`` the conditional covariance."""
    known, unknown = _unpredicted(tokenizer)
    sigma = tokenizer.prior.covariance
    gain = sigma[np.ix_(unknown, known)] @ np.linalg.inv(sigma[np.ix_(known, known)])  # (U, T)
    conditional = sigma[np.ix_(unknown, unknown)] - gain @ sigma[np.ix_(known, unknown)]  # (U, U)
    return known, unknown, gain, conditional


def spectral_tokens(model: FoundationModel, labels: np.ndarray, label_error: np.ndarray | None = None,
                    batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The predicted spectral tokens alone (what :func:`generate_spectra` maps to flux): cheap for many stars.

    Args:
        model: A foundation model with the coefficient-token design.
        labels: ``(N, len(LABELS))`` model labels (:func:`labels_array`); NaN = not given.
        label_error: Same shape, or None.
        batch_size: Stars per forward pass.

    Returns:
        ``(mean (N, T), std (N, T))`` normalised pseudo-coefficients.

    Raises:
        ValueError: A model with flux-patch tokens, wrongly shaped labels, or a star with no finite label.

    Example:
        >>> mean, std = spectral_tokens(_shipped(), labels_array({"teff": [4800.0], "logg": [2.5]}))
        >>> mean.shape, bool((std > 0).all())
        ((1, 80), True)
    """
    tokenizer = model.tokenizer
    if tokenizer.config.spectral != "coefficients":
        raise ValueError(f"generation needs the coefficient-token design, not {tokenizer.config.spectral!r} tokens")
    x = np.asarray(labels, np.float64)
    if x.ndim != 2 or x.shape[1] != len(LABELS):
        raise ValueError(f"labels must be (N, {len(LABELS)}) model labels in {LABELS} order, not {x.shape}")
    empty = ~np.isfinite(x[:, [LABELS.index(k) for k in tokenizer.label_keys]]).any(axis=1)
    if empty.any():
        raise ValueError(f"star(s) {np.flatnonzero(empty)[:10].tolist()} have no finite label to generate from")
    tokens = label_tokens(tokenizer, x, label_error)
    mean, std, _ = model.predict_tokens(tokens, context_keys=tokenizer.label_keys, request=tokenizer.spectral_keys,
                                        batch_size=batch_size)
    rows = [tokenizer.keys.index(k) for k in tokenizer.spectral_keys]
    return mean * tokenizer.std[rows, 0] + tokenizer.mean[rows, 0], std * tokenizer.std[rows, 0]


def flux_draws(tokenizer: Tokenizer, token_mean: np.ndarray, token_std: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
    """One draw of the flux per row of predicted tokens: the tokens from their Gaussians, the left-out
    coefficients from the prior conditioned on them, mapped through the XP basis (the same distribution as
    :meth:`GeneratedSpectra.draws`, without forming any covariance: cheap for many rows).

    Args:
        tokenizer: The model's tokenizer (its prior and token design).
        token_mean: ``(M, T)`` predicted tokens (:func:`spectral_tokens`).
        token_std: ``(M, T)`` their stds.
        rng: The generator.

    Returns:
        ``(M, 343)`` normalised flux.

    Example:
        >>> tok = _shipped().tokenizer
        >>> mean, std = spectral_tokens(_shipped(), labels_array({"teff": [4800.0, 4500.0]}))
        >>> flux_draws(tok, mean, std, np.random.default_rng(0)).shape
        (2, 343)
    """
    from bayesxp.xp.projection import merged_design_matrix

    known, unknown, gain, conditional = _left_out_regression(tokenizer)
    prior = tokenizer.prior
    tril = np.linalg.cholesky(conditional + 1e-12 * np.eye(len(unknown)))
    tokens = token_mean + token_std * rng.standard_normal(token_mean.shape)
    coefficients = np.empty((len(tokens), len(prior.mean)))
    coefficients[:, known] = tokens
    coefficients[:, unknown] = (prior.mean[unknown] + (tokens - prior.mean[known]) @ gain.T
                                + rng.standard_normal((len(tokens), len(unknown))) @ tril.T)
    return coefficients @ merged_design_matrix().T


def generate_spectra(model: FoundationModel, labels: Mapping[str, object] | np.ndarray,
                     label_error: np.ndarray | None = None, batch_size: int = 512) -> GeneratedSpectra:
    """The predictive distribution of the XP spectrum of stars with given labels.

    Args:
        model: A foundation model with the coefficient-token design (any bayesxp model's ``foundation``).
        labels: ``{label: values}`` in physical units (:func:`labels_array`), or an ``(N, len(LABELS))``
            array of model labels (ln mass, ln age).
        label_error: ``(N, len(LABELS))`` label errors in the model's units (entered as token errors), or None.
        batch_size: Stars per forward pass.

    Returns:
        The generated spectra.

    Raises:
        ValueError: A model with flux-patch tokens (no coefficient basis to map through), or a star with no
            finite label.

    Example:
        >>> g = generate_spectra(_shipped(), {"teff": [4800.0, 4300.0], "logg": [2.5, 1.8], "m_h": [0.0, -0.3],
        ...                                   "alpha_m": [0.0, 0.1], "mass": [1.2, 1.0], "age": [4.0, 8.0]})
        >>> g.flux.shape, g.flux_error.shape, bool((g.flux_error > 0).all())
        ((2, 343), (2, 343), True)
    """
    from bayesxp.xp.projection import merged_design_matrix

    tokenizer = model.tokenizer
    x = labels_array(labels) if isinstance(labels, Mapping) else np.asarray(labels, np.float64)
    token_mean, token_std = spectral_tokens(model, x, label_error, batch_size)
    known, unknown, gain, conditional = _left_out_regression(tokenizer)
    prior = tokenizer.prior
    n, p = len(x), len(prior.mean)
    coefficients = np.empty((n, p))
    coefficients[:, known] = token_mean
    coefficients[:, unknown] = prior.mean[unknown] + (token_mean - prior.mean[known]) @ gain.T
    d = token_std**2  # (N, T)
    cov = np.zeros((n, p, p))
    cov[:, known, known] = d
    cross = gain[None] * d[:, None, :]  # A D: (N, U, T)
    cov[np.ix_(range(n), unknown, known)] = cross
    cov[np.ix_(range(n), known, unknown)] = np.swapaxes(cross, 1, 2)
    cov[np.ix_(range(n), unknown, unknown)] = conditional + cross @ gain.T
    design = merged_design_matrix()
    flux = coefficients @ design.T
    flux_cov = design @ cov @ design.T
    return GeneratedSpectra(wavelength=WAVELENGTH_NM.copy(), flux=flux, covariance=flux_cov, token_mean=token_mean,
                            token_std=token_std, coefficients=coefficients, coefficient_covariance=cov)
