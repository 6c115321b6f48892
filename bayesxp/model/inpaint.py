"""Inpainting: the masked part of an XP spectrum predicted from the part that is seen, with uncertainties.

Both methods are Gaussian conditioning of the 110 normalised coefficients (BP 55 then RP 55) on the seen flux
samples, ``C = (D^T W D + P)^-1``, ``c = C (D^T W f + P mu)`` (:func:`~bayesxp.xp.projection.condition`), and
the masked flux is ``D c`` with variance ``diag(D C D^T)``: the predictive distribution of the *true* flux
(a withheld observed sample is judged with its own error added). They differ in the prior ``N(mu, P^-1)``:

- ``"linear"`` (the baseline): the red-giant population of the training split
  (:func:`~bayesxp.xp.projection.giant_prior`), one Gaussian for every star: linear (PCA-like) inpainting;
- ``"model"``: the same population multiplied by the foundation model's predictions of the spectral tokens the
  mask leaves undetermined. A token (one of the first 40 BP / 40 RP pseudo-coefficients) is *unseen* when the
  mask widens its posterior std under the population prior more than ``unseen_ratio`` times (chosen on the
  validation split by ``benchmarks/inpainting.py --split val``); the transformer, given the seen tokens (the
  linear posterior means) as context, predicts every unseen token as a Gaussian, and where that Gaussian is
  sharper than the linear posterior of the token it enters as an independent measurement of the coefficient:
  ``P -> P + diag(1/s^2)``, ``P mu -> P mu + m/s^2``. Tokens the mask barely touches stay with the data, so a
  narrow band differs little from the linear answer while a missing band (all of BP or RP) is filled from what
  the model learned about giants.

Masks (:func:`parse_mask`): ``"bp"`` (every sample BP contributes to, below 643 nm), ``"rp"`` (above 635 nm),
``"LO-HI"`` in nm (``LO <= wavelength < HI``), or a boolean array (scattered samples). Samples that are NaN in
the input are predicted too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bayesxp.model.foundation import FoundationModel
from bayesxp.quantities import LABELS
from bayesxp.spectra import N_COEFFICIENTS, N_SAMPLES, WAVELENGTH_NM, usable_samples
from bayesxp.xp.basis import BP_RANGE_NM, RP_RANGE_NM
from bayesxp.xp.projection import CoefficientPrior, condition, giant_prior, merged_design_matrix

__all__ = ["METHODS", "UNSEEN_RATIO", "SCORES", "parse_mask", "Inpainted", "inpaint", "inpainting_scores"]

#: Inpainting methods: the foundation model's, and the linear (population-Gaussian) baseline.
METHODS = ("model", "linear")
#: What :func:`inpainting_scores` reports.
SCORES = ("n", "rmse", "median_abs", "coverage_68", "coverage_95", "coverage_68_shared", "coverage_95_shared")
#: A token is unseen when the mask widens its posterior std more than this (chosen on the validation split).
UNSEEN_RATIO = 2.0


def parse_mask(specs: str | Sequence[str]) -> np.ndarray:
    """``(343,)`` boolean, True where masked, from ``"bp"``, ``"rp"`` or ``"LO-HI"`` (nm) specs (their union).

    Args:
        specs: One spec or several.

    Returns:
        The mask on :data:`~bayesxp.spectra.WAVELENGTH_NM`.

    Raises:
        ValueError: A spec that is none of these, or a range holding no sample.

    Example:
        >>> int(parse_mask("500-540").sum()), int(parse_mask(["bp", "rp"]).sum())
        (20, 343)
    """
    specs = [specs] if isinstance(specs, str) else list(specs)
    mask = np.zeros(N_SAMPLES, dtype=bool)
    for spec in specs:
        text = str(spec).strip().lower()
        if text == "bp":
            mask |= WAVELENGTH_NM < BP_RANGE_NM[1]
            continue
        if text == "rp":
            mask |= WAVELENGTH_NM > RP_RANGE_NM[0]
            continue
        try:
            low, high = (float(v) for v in text.split("-"))
        except ValueError:
            raise ValueError(f"mask {spec!r} is not 'bp', 'rp' or 'LO-HI' in nm (e.g. '500-540')") from None
        band = (WAVELENGTH_NM >= low) & (WAVELENGTH_NM < high)
        if not band.any():
            raise ValueError(f"mask {spec!r} holds no sample of the {WAVELENGTH_NM[0]:g}-{WAVELENGTH_NM[-1]:g} nm grid")
        mask |= band
    return mask


@dataclass(frozen=True)
class Inpainted:
    """N inpainted spectra.

    Attributes:
        flux: ``(N, 343)`` the observed flux where seen, the prediction where masked.
        flux_error: ``(N, 343)`` the observed error where seen, the predictive std of the true flux where masked.
        mask: ``(N, 343)`` True where predicted (the mask, and samples that were NaN).
        model_flux: ``(N, 343)`` the conditional mean everywhere (seen samples too: a smoothed fit).
        model_flux_error: ``(N, 343)`` its std.
        n_model_tokens: ``(N,)`` spectral tokens the transformer's predictions entered (0 for ``"linear"``).
        status: ``(N,)`` ``"ok"`` or why a star could not be inpainted (its outputs NaN).
        method: ``"model"`` or ``"linear"``.
    """

    flux: np.ndarray
    flux_error: np.ndarray
    mask: np.ndarray
    model_flux: np.ndarray
    model_flux_error: np.ndarray
    n_model_tokens: np.ndarray
    status: np.ndarray
    method: str

    def __len__(self) -> int:
        return len(self.flux)

    @property
    def wavelength(self) -> np.ndarray:
        """``(343,)`` nm."""
        return WAVELENGTH_NM


def _reference_error(flux_error: np.ndarray) -> np.ndarray:
    """Errors of the complete spectrum (what the mask's information loss is measured against): the star's own
    where finite and positive, the median of those elsewhere."""
    usable = np.isfinite(flux_error) & (flux_error > 0)
    usable_errors = np.where(usable, flux_error, np.nan)
    return np.where(usable, flux_error, np.nanmedian(usable_errors, axis=1, keepdims=True))


def _token_indices(foundation: FoundationModel) -> np.ndarray:
    """Indices into the 110 coefficients of the foundation's spectral tokens (BP then RP)."""
    config = foundation.tokenizer.config
    return np.r_[np.arange(config.n_bp), N_COEFFICIENTS + np.arange(config.n_rp)]


def _model_prior(foundation: FoundationModel, prior: CoefficientPrior, seen_mean: np.ndarray, unseen: np.ndarray,
                 linear_std: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per star, the population prior times the transformer's Gaussians for the unseen tokens where the
    transformer is sharper than the linear posterior: ``(mean (N, 110), precision (N, 110, 110), used (N, T))``."""
    tokenizer = foundation.tokenizer
    spectral = [tokenizer.keys.index(k) for k in tokenizer.spectral_keys]
    keep = _token_indices(foundation)
    n = len(seen_mean)
    labels = np.full((n, len(LABELS)), np.nan)
    tokens = tokenizer.encode(None, None, labels, labels)
    tokens.values[:, spectral, 0] = (seen_mean[:, keep] - tokenizer.mean[spectral, 0]) / tokenizer.std[spectral, 0]
    tokens.present[:, spectral] = ~unseen
    mean, std, _ = foundation.predict_tokens(tokens, context_keys=tokenizer.spectral_keys,
                                             request=tokenizer.spectral_keys, batch_size=batch_size)
    mean = mean * tokenizer.std[spectral, 0] + tokenizer.mean[spectral, 0]
    std = std * tokenizer.std[spectral, 0]
    used = unseen & (std < linear_std)
    weight = np.where(used, 1.0 / std**2, 0.0)  # (N, T)
    precision = np.repeat(prior.precision[None], n, axis=0)
    precision[:, keep, keep] += weight
    information = np.repeat((prior.precision @ prior.mean)[None], n, axis=0)
    information[:, keep] += weight * mean
    return np.linalg.solve(precision, information[..., None])[..., 0], precision, used


def inpaint(flux: np.ndarray, flux_error: np.ndarray, mask: np.ndarray | str | Sequence[str],
            foundation: FoundationModel | None = None, method: str = "model", prior: CoefficientPrior | None = None,
            unseen_ratio: float = UNSEEN_RATIO, batch_size: int = 256) -> Inpainted:
    """Predict the masked flux of normalised XP spectra from the rest.

    Args:
        flux: ``(N, 343)`` flux over its median (NaN = missing, predicted too).
        flux_error: ``(N, 343)``.
        mask: ``(343,)`` or ``(N, 343)`` booleans (True = predict), or specs for :func:`parse_mask`.
        foundation: The foundation model (``"model"`` method; default: the shipped model's).
        method: ``"model"`` or ``"linear"`` (the population-Gaussian baseline).
        prior: The population prior (default :func:`~bayesxp.xp.projection.giant_prior`).
        unseen_ratio: Posterior-std widening above which a token is asked of the transformer.
        batch_size: Stars at a time (each holds a few 110 x 110 matrices).

    Returns:
        The inpainted spectra; a star with no seen sample keeps NaN outputs and says so in ``status``.

    Raises:
        ValueError: Wrong shapes or an unknown method.

    Example:
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> s = read_sampled_table(demo_path()).take(np.arange(3))
        >>> out = inpaint(s.flux, s.flux_error, "bp")
        >>> out.mask.sum(axis=1).tolist(), bool(np.isfinite(out.flux).all()), bool((out.n_model_tokens > 0).all())
        ([154, 154, 154], True, True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    flux = np.atleast_2d(np.asarray(flux, np.float64))
    flux_error = np.atleast_2d(np.asarray(flux_error, np.float64))
    if flux.shape != flux_error.shape or flux.shape[1:] != (N_SAMPLES,):
        raise ValueError(f"flux and flux_error must both be (N, {N_SAMPLES}), not {flux.shape} and {flux_error.shape}")
    if isinstance(mask, str) or (isinstance(mask, Sequence) and mask and isinstance(mask[0], str)):
        mask = parse_mask(mask)
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), flux.shape)
    prior = prior or giant_prior()
    if method == "model" and foundation is None:
        from bayesxp.model.folder import default_model_path, load_foundation

        foundation = load_foundation(default_model_path())
    n = len(flux)
    seen = usable_samples(flux, flux_error) & ~mask
    predicted = ~seen
    out = {name: np.full(flux.shape, np.nan) for name in ("model_flux", "model_flux_error")}
    n_tokens = np.zeros(n, dtype=int)
    status = np.where(seen.any(axis=1), "ok", "no seen flux sample outside the mask").astype(object)
    design = merged_design_matrix()
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(start + batch_size, n))
        rows = rows[status[rows] == "ok"]
        if not rows.size:
            continue
        f = np.where(seen[rows], flux[rows], np.nan)
        mean, covariance = condition(f, flux_error[rows], prior.mean, prior.precision)
        if method == "model":
            _, complete = condition(np.zeros_like(f), _reference_error(flux_error[rows]), prior.mean, prior.precision)
            keep = _token_indices(foundation)
            linear_std = np.sqrt(np.einsum("nii->ni", covariance)[:, keep])
            unseen = linear_std / np.sqrt(np.einsum("nii->ni", complete)[:, keep]) > unseen_ratio
            star_mean, star_precision, used = _model_prior(foundation, prior, mean, unseen, linear_std, batch_size)
            n_tokens[rows] = used.sum(axis=1)
            mean, covariance = condition(f, flux_error[rows], star_mean, star_precision)
        out["model_flux"][rows] = mean @ design.T
        variance = ((design @ covariance) * design).sum(axis=-1)  # diag(D C D^T), (B, 343)
        out["model_flux_error"][rows] = np.sqrt(np.clip(variance, 0.0, None))
    return Inpainted(flux=np.where(predicted, out["model_flux"], flux),
                     flux_error=np.where(predicted, out["model_flux_error"], flux_error), mask=predicted.copy(),
                     model_flux=out["model_flux"], model_flux_error=out["model_flux_error"], n_model_tokens=n_tokens,
                     status=status, method=method)


def inpainting_scores(inpainted: Inpainted, flux: np.ndarray, flux_error: np.ndarray,
                      withheld: np.ndarray | None = None) -> dict[str, float]:
    """How well withheld observed flux is predicted: ``r = (f - m) / e`` (residual in units of the observed
    error) and ``z = (f - m) / sqrt(s^2 + e^2)`` (the predictive std of the true flux with the observation's own
    error added).

    Args:
        inpainted: The prediction (:func:`inpaint`).
        flux: ``(N, 343)`` the observed flux, withheld samples included.
        flux_error: ``(N, 343)``.
        withheld: ``(N, 343)`` or ``(343,)`` samples to judge (default: every predicted sample that was observed).

    Returns:
        ``{"n", "rmse", "median_abs", "coverage_68", "coverage_95", "coverage_68_shared", "coverage_95_shared"}``:
        RMSE and median ``|r|`` in units of the flux error, the shares with ``|z| < 1`` and ``|z| < 1.96``, and
        the same with the interval of ``D c`` alone (``_shared``): the right judge of *real* sampled spectra,
        whose 343 samples are a fixed linear map of 110 noisy coefficients, so a withheld sample's noise is
        shared with the seen ones (the seen flux pins it down) instead of adding to the prediction's error.

    Example:
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> s = read_sampled_table(demo_path()).take(np.arange(20))
        >>> scores = inpainting_scores(inpaint(s.flux, s.flux_error, "700-740", method="linear"), s.flux, s.flux_error)
        >>> scores["n"], scores["rmse"] < 3.0
        (400, True)
    """
    flux, flux_error = np.asarray(flux, np.float64), np.asarray(flux_error, np.float64)
    judged = inpainted.mask if withheld is None else np.broadcast_to(np.asarray(withheld, bool), flux.shape)
    judged = judged & usable_samples(flux, flux_error) & np.isfinite(inpainted.model_flux)
    residual = (flux - inpainted.model_flux)[judged]
    r = residual / flux_error[judged]
    z = residual / np.sqrt(inpainted.model_flux_error[judged] ** 2 + flux_error[judged] ** 2)
    z_shared = residual / inpainted.model_flux_error[judged]
    if not r.size:
        return dict.fromkeys(SCORES, float("nan")) | {"n": 0}
    return {"n": int(r.size), "rmse": float(np.sqrt(np.mean(r**2))), "median_abs": float(np.median(np.abs(r))),
            "coverage_68": float(np.mean(np.abs(z) < 1.0)), "coverage_95": float(np.mean(np.abs(z) < 1.96)),
            "coverage_68_shared": float(np.mean(np.abs(z_shared) < 1.0)),
            "coverage_95_shared": float(np.mean(np.abs(z_shared) < 1.96))}
