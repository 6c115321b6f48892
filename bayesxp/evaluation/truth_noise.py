"""How a truth's own error enters a noise-aware check: the kinds of truth, their seeded draws, and the
seismic mass-age error correlation.

Two kinds of truth (:data:`TRUTH_KINDS`), set per quantity by each truth builder:

- **measured**: the label is the true value plus independent noise, ``label = truth + noise`` (asteroseismic
  masses and ages; APOGEE Teff, logg, [M/H]). A prediction of the true value predicts the label once
  convolved with the label's error: the noise-aware check judges ``prediction (x) N(0, error^2)`` against
  the label.
- **derived**: the label is itself a prediction from other data (label-transfer and DistMass masses and
  ages), and the true value scatters about it, ``truth = label + error`` with the error independent of
  the label. The noise-aware check judges the prediction itself, not widened, against one seeded draw of
  ``label + error`` (:func:`draw_truths`); mass and age are drawn jointly in ln space, ``exp(ln label +
  e_ln)``, with the label's mass-age error correlation, so the draw stays positive and the per-quantity
  and joint checks see the same draw.

The two are not equivalent: when ``label = truth + noise``, ``label + e`` carries the noise twice and a
calibrated prediction under-covers it; when ``truth = label + error``, ``prediction (x) e`` is wider than
the label's scatter about the prediction and over-covers it (``tests/evaluation/test_evaluation_truth_kinds.py``
checks both directions).

The seismic mass-age error correlation (:func:`seismic_age_mass_slopes`, :func:`seismic_ln_mass_age_corr`):
seismic ages are derived from the seismic masses (age ~ mass^-3 on the giant branch), so a star's age error
carries its mass error. The ln-age error that the ln-mass error alone causes is ``b * sigma_lnM``, with
``b = d ln age / d ln mass`` measured by a robust (Huber) linear fit of ln age on ln mass and [M/H] over all
stars of the catalogue; the correlation is then ``clip(b * sigma_lnM / sigma_lnA, -0.99, 0.99)`` per star.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bayesxp.quantities import MODEL_LABELS, QUANTITIES

__all__ = [
    "MEASURED",
    "DERIVED",
    "TRUTH_KINDS",
    "NOISE_AWARE_TREATMENTS",
    "CORRELATION_LIMIT",
    "SEISMIC_METALLICITY_COLUMNS",
    "check_truth_kind",
    "in_ln_space",
    "ln_noise",
    "draw_truths",
    "robust_linear_fit",
    "seismic_age_mass_slopes",
    "seismic_ln_mass_age_corr",
]

MEASURED = "measured"
"""Kind of truth: ``label = truth + noise`` (a measurement of the true value)."""

DERIVED = "derived"
"""Kind of truth: ``truth = label + error``, the error independent of the label (a label predicted from other data)."""

TRUTH_KINDS = {
    MEASURED: "label = truth + noise: the prediction is convolved with the label's error and judged against "
    "the label",
    DERIVED: "truth = label + error (error independent of the label): the prediction itself is judged against "
    "one seeded draw of label + error",
}
"""The kinds of truth and what a noise-aware check does with each."""

NOISE_AWARE_TREATMENTS = {
    MEASURED: "convolve prediction (measured truth)",
    DERIVED: "truth + error draw (derived truth)",
}
"""The words the results and the report use for each kind's noise-aware treatment."""

CORRELATION_LIMIT = 0.99
"""Largest |correlation| of the seismic mass and age errors (a correlation of 1 is a singular covariance)."""

SEISMIC_METALLICITY_COLUMNS = {
    "apokasc2": "apokasc2_astronn_fe_h",
    "miglio21": "miglio21_fe_h",
    "montalban21": "montalban21_m_h",
    "corot": "corot_m_h",
    "k2galah": "k2galah_fe_h",
}
"""The metallicity column of each seismic catalogue that publishes both mass and age (with errors), in the
:func:`bayesxp.labels.seismic_truth.merge_seismic_catalogues` table; the second regressor of the slope fit."""


def check_truth_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`TRUTH_KINDS`; otherwise a ValueError.

    Example:
        >>> check_truth_kind("derived")
        'derived'
    """
    if kind not in TRUTH_KINDS:
        raise ValueError(f"kind of truth must be one of {sorted(TRUTH_KINDS)}, not {kind!r}")
    return kind


def in_ln_space(quantity: str) -> bool:
    """Whether a quantity is modelled (and its truth drawn) in ln space: mass and age.

    Example:
        >>> in_ln_space("mass"), in_ln_space("teff")
        (True, False)
    """
    return MODEL_LABELS.get(quantity, quantity).startswith("ln_")


def ln_noise(
    shape: tuple[int, ...], ln_error: np.ndarray, corr: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Correlated Gaussian noise in (ln mass, ln age), shape ``[*shape, 2]``.

    Args:
        shape: Leading shape ``(S, N)`` (or ``(N,)``); the last axis is the star.
        ln_error: ``[N, 2]`` 1-sigma errors of ln mass and ln age.
        corr: ``(N,)`` correlation of the two errors (clipped to +-0.999).
        rng: Generator.

    Returns:
        ``[*shape, 2]`` draws.

    Example:
        >>> noise = ln_noise((20000, 1), np.array([[0.1, 0.3]]), np.array([-0.8]), np.random.default_rng(0))
        >>> round(float(np.corrcoef(noise[:, 0, 0], noise[:, 0, 1])[0, 1]), 1)
        -0.8
    """
    z1, z2 = rng.standard_normal(shape), rng.standard_normal(shape)  # [S, N]
    rho = np.clip(corr, -0.999, 0.999)
    return np.stack([ln_error[:, 0] * z1, ln_error[:, 1] * (rho * z1 + np.sqrt(1 - rho**2) * z2)], axis=-1)


def draw_truths(
    values: Mapping[str, np.ndarray],
    errors: Mapping[str, np.ndarray],
    ln_mass_age_corr: np.ndarray | float = 0.0,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """One seeded draw of ``label + error`` per star and quantity: the judged truth of a derived label.

    Mass and age are drawn in ln space, ``exp(ln label + e_ln)`` with ``sigma_ln = error / label`` (the
    ln-space error the builders store as ``value x sigma_ln``), jointly, with correlation
    ``ln_mass_age_corr``; other quantities linearly, ``label + error z``. Each quantity of
    :data:`QUANTITIES` has its own normal stream, drawn in that order for every star, so a quantity's draw
    does not depend on which others are given (age's depends on mass's through the correlation), and
    indexing the draw of a whole truth table by rows gives the draw of those rows.

    Args:
        values: ``{quantity: (N,)}`` labels (NaN: none).
        errors: ``{quantity: (N,)}`` their 1-sigma errors.
        ln_mass_age_corr: ``(N,)`` or scalar correlation of the ln mass and ln age errors.
        seed: Seed of the draw.

    Returns:
        ``{quantity: (N,)}`` draws (NaN where the label or its error is missing, or a mass or age label is
        not positive).

    Example:
        >>> draw = draw_truths({"mass": np.full(4000, 1.0)}, {"mass": np.full(4000, 0.1)}, 0.0, seed=0)
        >>> bool(draw["mass"].min() > 0), round(float(np.std(np.log(draw["mass"]))), 2)
        (True, 0.1)
    """
    n = len(next(iter(values.values()))) if values else 0
    rng = np.random.default_rng(seed)
    z = {quantity: rng.standard_normal(n) for quantity in QUANTITIES}  # one stream per quantity, fixed order
    rho = np.clip(np.nan_to_num(np.broadcast_to(np.asarray(ln_mass_age_corr, float), (n,))), -0.999, 0.999)
    z["age"] = rho * z["mass"] + np.sqrt(1 - rho**2) * z["age"]
    out = {}
    for quantity, value in values.items():
        value = np.asarray(value, float)
        error = np.broadcast_to(np.asarray(errors[quantity], float), value.shape)
        normal = z[quantity] if quantity in z else rng.standard_normal(n)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if in_ln_space(quantity):
                draw = value * np.exp(error / value * normal)
                draw[~(value > 0)] = np.nan
            else:
                draw = value + error * normal
        draw[~np.isfinite(error)] = np.nan
        out[quantity] = draw
    return out


def robust_linear_fit(design: np.ndarray, y: np.ndarray, tuning: float = 1.345) -> tuple[np.ndarray, float]:
    """Huber regression (``scipy.optimize.least_squares`` with ``loss="huber"``), from the least-squares start.

    The Huber threshold is ``tuning`` times the residual scale of the least-squares fit (1.4826 x MAD), so
    that the ~10% runaway ages of a catalogue cannot drag the slope.

    Args:
        design: ``[N, P]`` regressors (include a column of ones for an intercept).
        y: ``(N,)`` responses.
        tuning: Huber constant in units of the residual scale (1.345: 95% efficiency for Gaussian
            residuals; ``np.inf``: ordinary least squares).

    Returns:
        ``((P,) coefficients, residual scale)`` (scale: 1.4826 x MAD of the final residuals).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=500); y = 1.0 - 3.0 * x + 0.1 * rng.normal(size=500); y[:25] += 5.0
        >>> coef, _ = robust_linear_fit(np.column_stack([np.ones(500), x]), y)
        >>> round(float(coef[1]), 1)
        -3.0
    """
    design, y = np.asarray(design, float), np.asarray(y, float)
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    scale = float(stats.median_abs_deviation(y - design @ coef, scale="normal"))
    if np.isfinite(tuning) and scale > 0:
        coef = optimize.least_squares(lambda c: design @ c - y, coef, loss="huber", f_scale=tuning * scale).x
    return coef, float(stats.median_abs_deviation(y - design @ coef, scale="normal"))


def seismic_age_mass_slopes(catalogues: pd.DataFrame, min_stars: int = 30) -> dict[str, dict]:
    """``d ln age / d ln mass`` of each seismic catalogue: a Huber fit of ln age on ln mass and [M/H].

    Over the catalogue's stars with a mass, an age and a metallicity (:data:`SEISMIC_METALLICITY_COLUMNS`),
    ``ln age = a + b ln mass + c [M/H]`` is fitted by :func:`robust_linear_fit`; ``b`` is the slope the
    mass-age error correlation uses. Fitted over whole catalogues (thousands of stars), not the judged stars.

    Args:
        catalogues: Columns ``<catalogue>_mass``, ``<catalogue>_age_gyr`` and the metallicity column, as
            in :func:`bayesxp.labels.seismic_truth.merge_seismic_catalogues`.
        min_stars: Fewest stars for a fit (catalogues with fewer are left out).

    Returns:
        ``{catalogue: {"slope_ln_age_ln_mass", "slope_ln_age_m_h", "intercept", "residual_scale",
        "n_stars", "metallicity_column"}}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mass = rng.lognormal(0.2, 0.3, 400); m_h = rng.normal(0, 0.2, 400)
        >>> age = np.exp(2.2 - 3.0 * np.log(mass) + 0.5 * m_h + 0.1 * rng.normal(size=400))
        >>> table = pd.DataFrame({"miglio21_mass": mass, "miglio21_age_gyr": age, "miglio21_fe_h": m_h})
        >>> round(seismic_age_mass_slopes(table)["miglio21"]["slope_ln_age_ln_mass"], 1)
        -3.0
    """
    out = {}
    for catalogue, metallicity in SEISMIC_METALLICITY_COLUMNS.items():
        columns = (f"{catalogue}_mass", f"{catalogue}_age_gyr", metallicity)
        if not all(c in catalogues for c in columns):
            continue
        mass, age, m_h = (pd.to_numeric(catalogues[c], errors="coerce").to_numpy(float) for c in columns)
        good = np.isfinite(mass) & np.isfinite(age) & np.isfinite(m_h) & (mass > 0) & (age > 0)
        if good.sum() < min_stars:
            continue
        design = np.column_stack([np.ones(good.sum()), np.log(mass[good]), m_h[good]])  # [n, 3]
        coef, scale = robust_linear_fit(design, np.log(age[good]))
        out[catalogue] = {
            "slope_ln_age_ln_mass": float(coef[1]),
            "slope_ln_age_m_h": float(coef[2]),
            "intercept": float(coef[0]),
            "residual_scale": scale,
            "n_stars": int(good.sum()),
            "metallicity_column": metallicity,
        }
    return out


def seismic_ln_mass_age_corr(
    ln_mass_error: np.ndarray, ln_age_error: np.ndarray, slope: np.ndarray | float
) -> np.ndarray:
    """Correlation of a star's ln-mass and ln-age errors when its age is derived from its mass.

    The ln-age error the ln-mass error causes is ``slope * sigma_lnM``, so ``cov = slope * sigma_lnM^2``
    and ``corr = clip(slope * sigma_lnM / sigma_lnA, -0.99, 0.99)``; 0 where an input is missing.

    Args:
        ln_mass_error: ``(N,)`` ``sigma_lnM`` (mass error / mass).
        ln_age_error: ``(N,)`` ``sigma_lnA``.
        slope: ``d ln age / d ln mass`` per star or one for all (NaN: no correlation known).

    Returns:
        ``(N,)`` correlations.

    Example:
        >>> np.round(seismic_ln_mass_age_corr(np.array([0.06, 0.06, np.nan]), np.array([0.2, 0.1, 0.2]), -3.0), 3).tolist()
        [-0.9, -0.99, 0.0]
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.asarray(slope, float) * np.asarray(ln_mass_error, float) / np.asarray(ln_age_error, float)
    corr = np.clip(corr, -CORRELATION_LIMIT, CORRELATION_LIMIT)
    return np.where(np.isfinite(corr), corr, 0.0)
