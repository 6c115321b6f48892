"""The joint checks over all five quantities: is a model's per-star draw a coherent joint distribution?

For a model with draws of every quantity (``Posterior.samples``), the draws of (Teff, logg, [M/H], ln mass,
ln age) ``[S, n, 5]`` are judged against the truths ``[n, 5]`` in the same space, each quantity treated by
its kind of truth (:mod:`bayesxp.evaluation.truth_noise`): a measured truth widens the draws by its error
(mass and age jointly in ln space, with the truth's mass-age error correlation); a derived truth is
replaced by the campaign's one draw of label + error. Then:

- **5-D highest-density-region coverage** (:func:`~bayesxp.calibration.joint.joint_coverage`, Gaussian
  regions) and **TARP** (:func:`~bayesxp.calibration.joint.tarp`) on the stars with all five truths;
- **pairwise correlations** (:func:`~bayesxp.calibration.joint.correlation_check`): the mean per-star
  predictive correlation of each pair against the correlation of the standardised residuals across the
  stars with both truths; agreement within 0.15 is the acceptance bar of the joint posterior.

Each model is judged as it is and with its draws **decoupled** (every quantity's draws permuted
independently per star: the same marginals, no correlation), the wrong model the same checks must reject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bayesxp.calibration.coverage import DEFAULT_LEVELS
from bayesxp.calibration.joint import correlation_check, joint_coverage, tarp
from bayesxp.evaluation.truth import Truth
from bayesxp.evaluation.truth_noise import DERIVED, NOISE_AWARE_TREATMENTS, ln_noise
from bayesxp.posterior import Posterior
from bayesxp.quantities import LN_SCALE

__all__ = ["JOINT_ORDER", "joint_space", "five_quantity_check", "evaluate_joint_all"]

JOINT_ORDER = ("teff", "logg", "m_h", "mass", "age")
"""Quantities of the joint checks, in this order; mass and age enter as their natural logarithm."""

_MIN_STARS = 20


def joint_space(values: Mapping[str, np.ndarray]) -> np.ndarray:
    """``{quantity: (..., n)}`` in physical units -> ``(..., n, 5)`` in :data:`JOINT_ORDER` (ln mass, ln age).

    Example:
        >>> x = joint_space({"teff": [4800.0], "logg": [2.5], "m_h": [0.0], "mass": [np.e], "age": [1.0]})
        >>> x.tolist()
        [[4800.0, 2.5, 0.0, 1.0, 0.0]]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.stack([np.log(np.asarray(values[q], float)) if q in LN_SCALE else np.asarray(values[q], float)
                         for q in JOINT_ORDER], axis=-1)


def five_quantity_check(draws: np.ndarray, truth: np.ndarray, tolerance: float = 0.15, seed: int = 0) -> dict:
    """HDR coverage and TARP (stars with every truth) and the pairwise correlation check (stars with both).

    Args:
        draws: ``[S, n, 5]`` draws, noise already treated (:func:`evaluate_joint_all`).
        truth: ``[n, 5]`` truths in the same space (NaN: none).
        tolerance: Largest accepted difference of predictive and residual correlation.
        seed: Seed of the HDR split, the TARP references and the bootstrap.

    Returns:
        JSON-ready ``{"n_complete", "hdr_coverage", "hdr_ks_pvalue", "tarp", "correlation"}`` (HDR and TARP
        None with fewer than 20 complete stars).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> cov = 0.5 * np.ones((5, 5)) + 0.5 * np.eye(5)
        >>> truth = rng.multivariate_normal(np.zeros(5), cov, size=300)
        >>> draws = rng.multivariate_normal(np.zeros(5), cov, size=(200, 300))
        >>> out = five_quantity_check(draws, truth)
        >>> out["correlation"]["all_consistent"], out["hdr_coverage"]["all_consistent"]
        (True, True)
    """
    complete = np.all(np.isfinite(truth), axis=1)
    out: dict[str, Any] = {"n_complete": int(complete.sum()), "hdr_coverage": None, "hdr_ks_pvalue": None,
                           "tarp": None}
    if complete.sum() >= _MIN_STARS:
        rng = np.random.default_rng(seed)
        hdr = joint_coverage(draws[:, complete], truth[complete], levels=DEFAULT_LEVELS, rng=rng)
        out["hdr_coverage"] = hdr.as_dict()
        out["tarp"] = tarp(draws[:, complete], truth[complete], rng=rng).as_dict()
    check = correlation_check(draws, truth, names=list(JOINT_ORDER), tolerance=tolerance, rng=seed)
    out["correlation"] = check.as_dict()
    return out


def _treated(draws: np.ndarray, truth: Truth, rows: np.ndarray, truth_draws: Mapping[str, np.ndarray],
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draws widened by measured truths' errors, and the truths (derived: the campaign's draw)."""
    draws = draws.copy()
    judged = {}
    for j, quantity in enumerate(JOINT_ORDER):
        if truth.kind_of(quantity) == DERIVED:
            judged[quantity] = truth_draws[quantity][rows]
        else:
            judged[quantity] = truth.values[quantity][rows]
            if quantity not in LN_SCALE:
                draws[..., j] += truth.errors[quantity][rows] * rng.standard_normal(draws.shape[:2])
    measured_ln = [q for q in ("mass", "age") if truth.kind_of(q) != DERIVED]
    if measured_ln:  # mass and age of one kind (the builders' rule): correlated ln-space noise
        with np.errstate(invalid="ignore", divide="ignore"):
            ln_error = np.stack([truth.errors[q][rows] / truth.values[q][rows] for q in ("mass", "age")], axis=1)
        noise = ln_noise(draws.shape[:2], np.nan_to_num(ln_error), truth.ln_mass_age_corr[rows], rng)
        draws[..., 3:] += noise
    return draws, joint_space(judged)


def evaluate_joint_all(truth: Truth, models: Mapping[str, Posterior], rows_by_quantity: Mapping[str, np.ndarray],
                       truth_draws: Mapping[str, np.ndarray], seed: int = 0) -> dict:
    """The joint checks of every model with draws of all five quantities, as it is and decoupled.

    Args:
        truth: The campaign's truths.
        models: ``{model: predictions}``; models without draws of every quantity are skipped.
        rows_by_quantity: The stars judged per quantity (noise-aware: a truth with an error, a usable
            prediction); a star enters with the quantities it is judged on (the others NaN).
        truth_draws: The campaign's one draw of label + error per quantity (derived truths are judged
            against it).
        seed: Seed of the noise, the decoupling, the HDR split and the bootstrap.

    Returns:
        JSON-ready ``{variant: {"model", "decoupled", "n_stars", "treatment": {q: words}, **five_quantity_check}}``.
    """
    stars = np.unique(np.concatenate([np.asarray(r, int) for r in rows_by_quantity.values()] or [np.empty(0, int)]))
    out: dict[str, Any] = {}
    if stars.size < _MIN_STARS:
        return out
    treatment = {q: NOISE_AWARE_TREATMENTS[truth.kind_of(q)] for q in JOINT_ORDER}
    for name, model in models.items():
        if not all(q in model.samples for q in JOINT_ORDER):
            continue
        rng = np.random.default_rng(seed)
        draws = joint_space({q: model.samples[q][:, stars] for q in JOINT_ORDER})  # [S, n, 5]
        treated, judged = _treated(draws, truth, stars, truth_draws, rng)
        for j, quantity in enumerate(JOINT_ORDER):  # a quantity not judged for a star is missing there
            judged[~np.isin(stars, rows_by_quantity.get(quantity, [])), j] = np.nan
        decoupled = np.stack([rng.permuted(treated[..., j], axis=0) for j in range(len(JOINT_ORDER))], axis=-1)
        for variant, values, flag in ((name, treated, False), (f"{name} (draws decoupled)", decoupled, True)):
            out[variant] = {"model": name, "decoupled": flag, "n_stars": int(stars.size), "treatment": treatment,
                            **five_quantity_check(values, judged, seed=seed)}
    return out
