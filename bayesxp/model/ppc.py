"""Posterior predictive checks: can the model reproduce each star's own spectrum from its posterior?

For star i with observed spectral tokens ``y_i`` (its T = 80 normalised pseudo-coefficients, projected from the
observed flux as the tokenizer does) and S joint posterior draws ``theta_s`` of (Teff, logg, [M/H], mass, age):

- each draw generates the predictive distribution of the tokens, ``N(m_s, diag(sigma_s^2))``
  (:func:`~bayesxp.model.generate.spectral_tokens`; the star's photometry joins the context when the posterior
  used it);
- discrepancy ``D(y, theta_s) = sum_t (y_t - m_st)^2 / sigma_st^2``; a replicated ``y_rep ~ N(m_s, sigma_s^2)``
  has ``D(y_rep, theta_s) ~ chi^2_T`` exactly, so the posterior predictive p-value
  ``p_i = P(D(y_rep, theta) >= D(y, theta) | y)`` is the mean over draws of ``chi2.sf(D(y, theta_s), T)``
  (scipy), with no Monte Carlo over ``y_rep``;
- ``chi2``: the posterior mean of ``D(y, theta_s)`` (expectation about T when the model explains the star).

Under the model (labels drawn from the posterior the data came from) the p-values are close to uniform
(posterior predictive p-values are conservative: slightly piled towards 0.5); a star the model cannot
reproduce has p near 0. :func:`ppc_pvalues` is the pure computation, :func:`posterior_predictive_check` the
whole check for spectra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import chi2 as chi2_distribution

from bayesxp.model.generate import (
    flux_draws,
    labels_array,
    observed_tokens,
    spectral_tokens,
    token_chi_square,
)
from bayesxp.quantities import LABELS, PHOTOMETRIC_LABELS

if TYPE_CHECKING:
    from bayesxp.model.bayesian import BayesXPModel
    from bayesxp.spectra import SampledSpectra

__all__ = ["PPCResult", "ppc_pvalues", "posterior_predictive_check", "check_posterior", "posterior_predictive_data"]


@dataclass(frozen=True)
class PPCResult:
    """Posterior predictive check of N stars.

    Attributes:
        source_id: ``(N,)``.
        chi2: ``(N,)`` posterior mean of the discrepancy (NaN where the star was not checked).
        pvalue: ``(N,)`` posterior predictive p-value.
        n_tokens: ``(N,)`` spectral tokens the discrepancy sums over.
        status: ``(N,)`` ``"ok"`` or why the star was not checked.
    """

    source_id: np.ndarray
    chi2: np.ndarray
    pvalue: np.ndarray
    n_tokens: np.ndarray
    status: np.ndarray

    def __len__(self) -> int:
        return len(self.source_id)


def _predictive_tokens(model: BayesXPModel, spectra: SampledSpectra, posterior: object, observed: np.ndarray,
                       context: str, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ok (N,), mean (S * n_ok, T), std)``: the predicted tokens of every posterior draw of the usable stars
    (draw-major: row ``s * n_ok + i``), the star's photometry in the context when ``context == "full"``."""
    from bayesxp.xp.inputs import photometry_labels

    draws = {q: np.asarray(posterior.samples[q], np.float64) for q in ("teff", "logg", "m_h", "mass", "age")}
    s = draws["teff"].shape[0]
    ok = np.all([np.isfinite(v).all(axis=0) for v in draws.values()], axis=0) & np.isfinite(observed).any(axis=1)
    if not ok.any():
        return ok, np.empty((0, observed.shape[1])), np.empty((0, observed.shape[1]))
    x = labels_array({q: v[:, ok].ravel() for q, v in draws.items()})  # (S * n_ok, len(LABELS))
    if context == "full":
        columns = [LABELS.index(k) for k in PHOTOMETRIC_LABELS]
        x[:, columns] = np.tile(photometry_labels(spectra.meta)[ok][:, columns], (s, 1))
    mean, std = spectral_tokens(model.foundation, x, batch_size=batch_size)
    return ok, mean, std


def ppc_pvalues(observed: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Discrepancies and posterior predictive p-values of observed tokens under S predictive draws.

    Args:
        observed: ``(N, T)`` observed tokens (NaN: not observed, left out).
        mean: ``(S, N, T)`` predictive means of the tokens per posterior draw.
        std: ``(S, N, T)`` predictive stds.

    Returns:
        ``(discrepancy (S, N), pvalue (N,))``; ``pvalue = mean_s chi2.sf(D_s, T_obs)``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mean, std = np.zeros((50, 400, 80)), np.ones((50, 400, 80))
        >>> _, p = ppc_pvalues(rng.standard_normal((400, 80)), mean, std)  # data from the model: uniform
        >>> bool(0.4 < p.mean() < 0.6), bool(np.mean(p < 0.05) < 0.1)
        (True, True)
        >>> _, p = ppc_pvalues(1.5 * rng.standard_normal((400, 80)), mean, std)  # too wide for the model
        >>> bool(np.mean(p < 0.05) > 0.9)
        True
    """
    observed = np.asarray(observed, np.float64)
    seen = np.isfinite(observed)
    discrepancy = token_chi_square(observed, mean, std)  # (S, N)
    n_tokens = seen.sum(axis=-1)  # (N,)
    pvalue = chi2_distribution.sf(discrepancy, np.maximum(n_tokens, 1)).mean(axis=0)
    return discrepancy, np.where(n_tokens > 0, pvalue, np.nan)


def posterior_predictive_check(model: BayesXPModel, spectra: SampledSpectra, num_samples: int = 100,
                               context: str = "full", seed: int = 0, batch_size: int = 512) -> PPCResult:
    """The posterior predictive check of every star of ``spectra``.

    Args:
        model: A :class:`~bayesxp.model.bayesian.BayesXPModel` with the joint head.
        spectra: :class:`~bayesxp.spectra.SampledSpectra` (photometry read from its ``meta`` with
            ``context="full"``).
        num_samples: Posterior draws per star S (each generates one predictive distribution of the tokens).
        context: ``"full"`` or ``"spectrum"``, as for the posterior.
        seed: Seed of the posterior draws.
        batch_size: Stars per forward pass of the generation.

    Returns:
        The per-star result; stars without a posterior or without a usable spectrum keep NaN and a status.

    Example:
        >>> from bayesxp.model.bayesian import BayesXPModel
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> result = posterior_predictive_check(BayesXPModel.load(), read_sampled_table(demo_path()).take(np.arange(3)),
        ...                                     num_samples=20)
        >>> result.pvalue.shape, result.status.tolist()
        ((3,), ['ok', 'ok', 'ok'])
    """
    posterior = model.posterior(spectra, num_samples=num_samples, context=context, seed=seed)
    return check_posterior(model, spectra, posterior, context=context, batch_size=batch_size)[0]


def check_posterior(model: BayesXPModel, spectra: SampledSpectra, posterior: object, context: str = "full",
                    batch_size: int = 512, flux_seed: int | None = None) -> tuple[PPCResult, np.ndarray | None]:
    """The posterior predictive check of a posterior already drawn (every draw of ``posterior`` is used).

    Args:
        model: The model that drew ``posterior``.
        spectra: The stars, in the posterior's order.
        posterior: Their :class:`~bayesxp.posterior.Posterior` (S draws).
        context: The context the posterior used.
        batch_size: Stars per forward pass of the generation.
        flux_seed: Also draw one spectrum per posterior draw (the posterior predictive flux), seeded so.

    Returns:
        ``(result, flux)``; ``flux`` is ``(S, N, 343)`` (NaN for stars not checked), or None without ``flux_seed``.

    Example:
        >>> from bayesxp.model.bayesian import BayesXPModel
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> model, stars = BayesXPModel.load(), read_sampled_table(demo_path()).take(np.arange(2))
        >>> result, flux = check_posterior(model, stars, model.posterior(stars, num_samples=8), flux_seed=0)
        >>> result.pvalue.shape, flux.shape
        ((2,), (8, 2, 343))
    """
    n = len(spectra)
    observed = observed_tokens(model.tokenizer, spectra.flux, spectra.flux_error)
    ok, mean, std = _predictive_tokens(model, spectra, posterior, observed, context, batch_size)
    s = posterior.samples["teff"].shape[0]
    chi2, pvalue = np.full(n, np.nan), np.full(n, np.nan)
    n_tokens = np.isfinite(observed).sum(axis=1)
    generated = None if flux_seed is None else np.full((s, n, spectra.flux.shape[1]), np.nan)
    if ok.any():
        shape = (s, int(ok.sum()), mean.shape[1])
        discrepancy, p = ppc_pvalues(observed[ok], mean.reshape(shape), std.reshape(shape))
        chi2[ok], pvalue[ok] = discrepancy.mean(axis=0), p
        if generated is not None:
            flux = flux_draws(model.tokenizer, mean, std, np.random.default_rng(flux_seed))
            generated[:, ok] = flux.reshape(s, int(ok.sum()), -1)
    status = np.where(ok, "ok", "no posterior or no usable spectrum").astype(object)
    result = PPCResult(source_id=np.asarray(spectra.source_id), chi2=chi2, pvalue=pvalue, n_tokens=n_tokens,
                       status=status)
    return result, generated


def posterior_predictive_data(  # noqa: ANN201 - arviz.InferenceData
    model: BayesXPModel, spectra: SampledSpectra, num_samples: int = 100, context: str = "full", seed: int = 0,
    batch_size: int = 512,
):
    """The posterior with its posterior predictive spectra, as ArviZ ``InferenceData``.

    Groups: ``posterior`` (the five quantities), ``posterior_predictive`` (``flux``: one spectrum generated per
    posterior draw, ``(chain 1, draw S, star, wavelength 343)``, tokens drawn from their predictive Gaussian and
    mapped through the XP basis: :func:`~bayesxp.model.generate.flux_draws`) and ``observed_data`` (``flux``,
    the observed normalised spectrum). ``arviz.plot_ppc(data, var_names=["flux"])`` and ``arviz.plot_bpv``
    read them. Stars without a posterior or a usable spectrum keep NaN.

    Args:
        model: A model with the joint head.
        spectra: The stars.
        num_samples: Posterior draws per star.
        context: ``"full"`` or ``"spectrum"``.
        seed: Seed of the posterior draws and of the generated spectra.
        batch_size: Stars per forward pass of the generation.

    Returns:
        ``arviz.InferenceData``.

    Example:
        >>> from bayesxp.model.bayesian import BayesXPModel
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> data = posterior_predictive_data(BayesXPModel.load(), read_sampled_table(demo_path()).take(np.arange(2)),
        ...                                  num_samples=8)
        >>> data.posterior_predictive["flux"].shape, data.observed_data["flux"].shape
        ((1, 8, 2, 343), (2, 343))
    """
    posterior = model.posterior(spectra, num_samples=num_samples, context=context, seed=seed)
    _, generated = check_posterior(model, spectra, posterior, context=context, batch_size=batch_size, flux_seed=seed)
    return posterior.to_arviz(posterior_predictive={"flux": generated},
                              observed_data={"flux": np.asarray(spectra.flux, np.float64)})
