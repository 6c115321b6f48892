"""Science checks of predicted labels: luminosities, power-law fits, binned relations, rank correlations.

Small functions of NumPy, SciPy and astropy alone, each returning numbers (frozen dataclasses with
``as_dict()`` for JSON) that ``benchmarks/science_checks.py`` tabulates and draws:

- :func:`luminosity_from_radius`: ``L / Lsun = (R / Rsun)^2 (Teff / Teff_sun)^4`` with the IAU 2015 nominal
  solar effective temperature (:data:`SOLAR_TEFF_K`);
- :func:`mass_from_luminosity_gravity`: ``M / Msun = (L / Lsun) (g / g_sun) (Teff / Teff_sun)^-4``, the mass
  that ``L = 4 pi R^2 sigma Teff^4`` and ``g = G M / R^2`` imply (:data:`SOLAR_LOGG_CGS`);
- :func:`fit_linear_model`: ordinary least squares ``y = a + X b`` with several variables and errors from a
  seeded bootstrap over the rows (:class:`LinearModelFit`); :func:`fit_line` and :func:`fit_power_law` are its
  one-variable cases ``y = a + b x`` and ``log10 y = a + b log10 x`` (:class:`LinearFit`);
- :func:`binned_relation`: per-bin count, median and 16th/84th percentiles of ``y`` in bins of ``x``
  (:class:`BinnedRelation`);
- :func:`rank_correlation`: Spearman's rank correlation with its p-value (:class:`RankCorrelation`);
- :func:`bootstrap_median` and :func:`agreement`: a median with its bootstrap error, and how one set of
  values agrees with a reference (bias, mad_std, rank correlation).

Every function drops the pairs (rows) with a non-finite value (and, for :func:`fit_power_law`, a non-positive
one) and says how many it kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import astropy.constants as const
import numpy as np
from astropy.stats import mad_std
from scipy import stats

__all__ = [
    "SOLAR_TEFF_K",
    "SOLAR_LOGG_CGS",
    "LinearFit",
    "LinearModelFit",
    "BinnedRelation",
    "RankCorrelation",
    "luminosity_from_radius",
    "mass_from_luminosity_gravity",
    "fit_linear_model",
    "fit_line",
    "fit_power_law",
    "binned_relation",
    "rank_correlation",
    "bootstrap_median",
    "agreement",
]

SOLAR_TEFF_K = 5772.0
"""Nominal solar effective temperature [K], IAU 2015 Resolution B3 (Prsa et al. 2016, AJ 152, 41). With the
nominal solar radius and luminosity of the same resolution (``astropy.constants.R_sun``, ``L_sun``, IAU 2015
in astropy's default constants) the Stefan-Boltzmann law gives back 5772.0 K to within 0.1 K."""

SOLAR_LOGG_CGS = float(np.log10((const.GM_sun / const.R_sun**2).cgs.value))
"""log10 of the nominal solar surface gravity in cm s^-2, ``G M_sun / R_sun^2`` with the IAU 2015 nominal
``GM_sun`` and ``R_sun`` (Resolution B3, astropy's default constants): 4.438."""

_MIN_POINTS = 3
_MAX_CONDITION = 1e10  # a design whose scaled Gram matrix is worse conditioned than this counts as singular


@dataclass(frozen=True)
class LinearFit:
    """An ordinary least-squares line ``y = intercept + slope * x`` with bootstrap errors.

    Attributes:
        slope: Best-fit slope (all points).
        slope_err: Standard deviation of the slope over bootstrap resamples of the points.
        intercept: Best-fit intercept (``y`` at ``x = 0``).
        intercept_err: Its bootstrap standard deviation.
        scatter: RMS of the residuals about the best fit, ``sqrt(sum r^2 / (n - 2))``, in units of ``y``.
        n: Points used (finite pairs).
        n_bootstrap: Bootstrap resamples.
    """

    slope: float
    slope_err: float
    intercept: float
    intercept_err: float
    scatter: float
    n: int
    n_bootstrap: int

    def z(self, slope: float) -> float:
        """How many bootstrap errors the fitted slope lies from ``slope``: ``(self.slope - slope) / slope_err``."""
        return float((self.slope - slope) / self.slope_err)

    def as_dict(self) -> dict:
        """The fit as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LinearModelFit:
    """An ordinary least-squares linear model ``y = intercept + sum_k coefficients[k] * X[:, k]``.

    Attributes:
        names: ``(P,)`` names of the variables (the columns of ``X``).
        coefficients: ``(P,)`` best-fit coefficients (all rows).
        coefficient_errors: ``(P,)`` standard deviations of the coefficients over bootstrap resamples of the rows.
        intercept: Best-fit intercept (``y`` where every variable is 0).
        intercept_err: Its bootstrap standard deviation.
        scatter: RMS of the residuals, ``sqrt(sum r^2 / (n - P - 1))``, in units of ``y``.
        n: Rows used (every value finite).
        n_bootstrap: Bootstrap resamples.
    """

    names: tuple[str, ...]
    coefficients: tuple[float, ...]
    coefficient_errors: tuple[float, ...]
    intercept: float
    intercept_err: float
    scatter: float
    n: int
    n_bootstrap: int

    def coefficient(self, name: str) -> tuple[float, float]:
        """``(value, bootstrap error)`` of the coefficient of the variable ``name``."""
        k = self.names.index(name)
        return self.coefficients[k], self.coefficient_errors[k]

    def z(self, name: str, value: float) -> float:
        """How many bootstrap errors the coefficient of ``name`` lies from ``value``."""
        fitted, error = self.coefficient(name)
        return float((fitted - value) / error)

    def as_dict(self) -> dict:
        """The fit as a JSON-ready dict (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


@dataclass(frozen=True)
class BinnedRelation:
    """Per-bin summary of ``y`` in bins of ``x`` (:func:`binned_relation`).

    Attributes:
        edges: ``(B + 1,)`` bin edges.
        n: ``(B,)`` points per bin.
        median: ``(B,)`` median of ``y`` (NaN in an empty bin).
        p16: ``(B,)`` 16th percentile of ``y``.
        p84: ``(B,)`` 84th percentile of ``y``.
    """

    edges: np.ndarray
    n: np.ndarray
    median: np.ndarray
    p16: np.ndarray
    p84: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        """``(B,)`` bin centres."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def rows(self) -> list[dict]:
        """One JSON-ready dict per bin: ``lo, hi, n, median, p16, p84`` (None where a bin is empty)."""
        def number(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None

        return [{"lo": float(lo), "hi": float(hi), "n": int(n), "median": number(m), "p16": number(a),
                 "p84": number(b)}
                for lo, hi, n, m, a, b in zip(self.edges[:-1], self.edges[1:], self.n, self.median, self.p16,
                                               self.p84)]


@dataclass(frozen=True)
class RankCorrelation:
    """Spearman's rank correlation of two samples.

    Attributes:
        rho: Spearman's rho.
        pvalue: Two-sided p-value of rho = 0 (:func:`scipy.stats.spearmanr`).
        n: Pairs used.
    """

    rho: float
    pvalue: float
    n: int

    def as_dict(self) -> dict:
        """The correlation as a JSON-ready dict."""
        return asdict(self)


def _finite_pairs(x: np.ndarray | list, y: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y differ in length: {x.size} and {y.size}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def luminosity_from_radius(radius_rsun: np.ndarray | float, teff_k: np.ndarray | float) -> np.ndarray:
    """Luminosity in solar units from the Stefan-Boltzmann law, ``(R / Rsun)^2 (Teff / 5772 K)^4``.

    The solar reference is the IAU 2015 nominal Sun (:data:`SOLAR_TEFF_K`; ``L = 4 pi R^2 sigma Teff^4``
    divided by the same for the nominal solar radius and temperature).

    Args:
        radius_rsun: ``(N,)`` radii in nominal solar radii.
        teff_k: ``(N,)`` effective temperatures [K].

    Returns:
        ``(N,)`` luminosities in nominal solar luminosities (NaN where an input is not finite).

    Example:
        >>> float(luminosity_from_radius(1.0, 5772.0))
        1.0
        >>> luminosity_from_radius([10.0, 10.0], [5772.0, 2886.0]).tolist()
        [100.0, 6.25]
    """
    radius = np.asarray(radius_rsun, float)
    teff = np.asarray(teff_k, float)
    return radius**2 * (teff / SOLAR_TEFF_K) ** 4


def mass_from_luminosity_gravity(luminosity_lsun: np.ndarray | float, logg: np.ndarray | float,
                                 teff_k: np.ndarray | float) -> np.ndarray:
    """The mass that a luminosity, surface gravity and Teff imply: ``(L / Lsun) (g / g_sun) (Teff / 5772 K)^-4``.

    ``L = 4 pi R^2 sigma Teff^4`` and ``g = G M / R^2`` give ``M = g L / (4 pi sigma G Teff^4)``; divided by the
    same for the IAU 2015 nominal Sun (:data:`SOLAR_TEFF_K`, :data:`SOLAR_LOGG_CGS`). Its log is
    ``log10 L + logg - 4 log10 Teff`` up to a constant: ``log10 (L g / Teff^4)`` in solar units.

    Args:
        luminosity_lsun: ``(N,)`` luminosities in nominal solar luminosities.
        logg: ``(N,)`` log10 surface gravities in cm s^-2 [dex].
        teff_k: ``(N,)`` effective temperatures [K].

    Returns:
        ``(N,)`` masses in nominal solar masses (NaN where an input is not finite).

    Example:
        >>> round(float(mass_from_luminosity_gravity(1.0, SOLAR_LOGG_CGS, SOLAR_TEFF_K)), 12)
        1.0
        >>> radius, mass, teff = 10.0, 1.5, 4500.0  # a red giant: L from R and Teff, logg from M and R
        >>> luminosity = luminosity_from_radius(radius, teff)
        >>> round(float(mass_from_luminosity_gravity(luminosity, SOLAR_LOGG_CGS + np.log10(mass / radius**2), teff)), 9)
        1.5
    """
    luminosity = np.asarray(luminosity_lsun, float)
    return luminosity * 10 ** (np.asarray(logg, float) - SOLAR_LOGG_CGS) * (np.asarray(teff_k, float)
                                                                           / SOLAR_TEFF_K) ** -4


def _least_squares(design: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(..., P)`` and intercepts ``(...,)`` of ``y (..., n)`` on ``design (..., n, P)``.

    Solves the normal equations of the centred columns scaled to unit norm; NaN where a column is constant
    or the columns are collinear (condition number of the scaled Gram matrix above ``_MAX_CONDITION``).
    """
    x_mean, y_mean = design.mean(axis=-2, keepdims=True), y.mean(axis=-1, keepdims=True)  # (..., 1, P), (..., 1)
    centred, y_centred = design - x_mean, y - y_mean
    norm = np.sqrt(np.sum(centred**2, axis=-2, keepdims=True))  # (..., 1, P)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = centred / norm
    gram = np.einsum("...ni,...nj->...ij", scaled, scaled)  # (..., P, P)
    rhs = np.einsum("...ni,...n->...i", scaled, y_centred)  # (..., P)
    identity = np.eye(design.shape[-1])
    regular = np.all(np.isfinite(gram), axis=(-2, -1))  # (...,)
    regular &= np.linalg.cond(np.where(regular[..., None, None], gram, identity)) < _MAX_CONDITION
    solved = np.linalg.solve(np.where(regular[..., None, None], gram, identity),
                             np.where(regular[..., None], rhs, 0.0)[..., None])[..., 0]  # (..., P)
    with np.errstate(invalid="ignore", divide="ignore"):
        coefficients = np.where(regular[..., None], solved / norm[..., 0, :], np.nan)
    intercepts = y_mean[..., 0] - np.sum(coefficients * x_mean[..., 0, :], axis=-1)
    return coefficients, intercepts


def fit_linear_model(X: np.ndarray | list, y: np.ndarray | list, n_bootstrap: int = 1000, seed: int = 0,
                     names: tuple[str, ...] | list[str] | None = None) -> LinearModelFit:
    """Ordinary least squares of ``y`` on the columns of ``X`` with errors from a bootstrap over the rows.

    The best fit uses every row whose values are all finite; the errors are the standard deviations of the
    coefficients and intercept over ``n_bootstrap`` resamples of the rows with replacement (seeded; a resample
    whose design is singular is left out). No error on ``X`` is modelled: a noisy column biases its
    coefficient towards 0 (regression dilution) and moves the others.

    Args:
        X: ``(N, P)`` variables, one column each (``(N,)``: a single variable).
        y: ``(N,)`` values to fit.
        n_bootstrap: Bootstrap resamples.
        seed: Seed of the resampling.
        names: ``(P,)`` names of the columns (None: ``x0, x1, ...``).

    Returns:
        The fit.

    Raises:
        ValueError: ``X`` and ``y`` differ in length, fewer than ``P + 2`` finite rows, or a constant or
            collinear column.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.uniform(0, 1, (300, 3))
        >>> y = 0.5 + X @ np.array([1.0, -1.0, 4.0]) + rng.normal(0, 0.05, 300)
        >>> fit = fit_linear_model(X, y, names=("m", "g", "t"))
        >>> [round(c, 1) for c in fit.coefficients], round(fit.intercept, 1), fit.n, abs(fit.z("t", 4.0)) < 3
        ([1.0, -1.0, 4.0], 0.5, 300, True)
    """
    design = np.asarray(X, float)
    design = design[:, None] if design.ndim == 1 else design
    y = np.asarray(y, float).ravel()
    if design.ndim != 2 or design.shape[0] != y.size:
        raise ValueError(f"X must be (N, P) with N = len(y) = {y.size}, got shape {design.shape}")
    n_variables = design.shape[1]
    names = tuple(f"x{k}" for k in range(n_variables)) if names is None else tuple(names)
    if len(names) != n_variables:
        raise ValueError(f"{len(names)} names for {n_variables} columns")
    keep = np.all(np.isfinite(design), axis=1) & np.isfinite(y)
    design, y = design[keep], y[keep]
    n, need = y.size, max(_MIN_POINTS, n_variables + 2)
    if n < need:
        raise ValueError(f"a linear model of {n_variables} variable(s) needs at least {need} finite rows, got {n}")
    coefficients, intercept = _least_squares(design, y)  # (P,), ()
    if not np.all(np.isfinite(coefficients)):
        raise ValueError("a column of X is constant or the columns are collinear: the coefficients are undefined")
    residual = y - intercept - design @ coefficients
    pick = np.random.default_rng(seed).integers(0, n, size=(n_bootstrap, n))  # (B, n) resampled row indices
    resampled, intercepts = _least_squares(design[pick], y[pick])  # (B, P), (B,)
    return LinearModelFit(names=names, coefficients=tuple(float(c) for c in coefficients),
                          coefficient_errors=tuple(float(e) for e in np.nanstd(resampled, axis=0, ddof=1)),
                          intercept=float(intercept), intercept_err=float(np.nanstd(intercepts, ddof=1)),
                          scatter=float(np.sqrt(np.sum(residual**2) / max(n - n_variables - 1, 1))), n=int(n),
                          n_bootstrap=int(n_bootstrap))


def fit_line(x: np.ndarray | list, y: np.ndarray | list, n_bootstrap: int = 1000, seed: int = 0) -> LinearFit:
    """Ordinary least squares of ``y`` on ``x`` with errors from a bootstrap over the points.

    The one-variable case of :func:`fit_linear_model`: the best fit uses every finite pair; the errors are
    the standard deviations of slope and intercept over ``n_bootstrap`` resamples of the pairs with
    replacement (seeded). No error on ``x`` is modelled: a noisy ``x`` biases the slope towards 0
    (regression dilution).

    Args:
        x: ``(N,)`` abscissae.
        y: ``(N,)`` ordinates.
        n_bootstrap: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        The fit.

    Raises:
        ValueError: Fewer than 3 finite pairs, or ``x`` constant.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.uniform(0, 1, 200)
        >>> fit = fit_line(x, 1.0 + 2.0 * x + rng.normal(0, 0.1, 200))
        >>> round(fit.slope, 1), round(fit.intercept, 1), fit.n, abs(fit.z(2.0)) < 3
        (2.0, 1.0, 200, True)
    """
    x, y = _finite_pairs(x, y)
    model = fit_linear_model(x, y, n_bootstrap=n_bootstrap, seed=seed)
    return LinearFit(slope=model.coefficients[0], slope_err=model.coefficient_errors[0], intercept=model.intercept,
                     intercept_err=model.intercept_err, scatter=model.scatter, n=model.n, n_bootstrap=model.n_bootstrap)


def fit_power_law(x: np.ndarray | list, y: np.ndarray | list, n_bootstrap: int = 1000, seed: int = 0) -> LinearFit:
    """A power law ``y = 10^a x^b`` fitted as the line ``log10 y = a + b log10 x`` (:func:`fit_line`).

    Pairs with a non-finite or non-positive value are dropped. The scatter is in dex.

    Args:
        x: ``(N,)`` positive abscissae (e.g. mass in solar masses).
        y: ``(N,)`` positive ordinates (e.g. luminosity in solar luminosities).
        n_bootstrap: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        The fit in log10 space: ``slope`` is the exponent ``b``, ``intercept`` is ``log10 y`` at ``x = 1``.

    Example:
        >>> mass = np.array([0.8, 1.0, 1.5, 2.0, 3.0])
        >>> fit = fit_power_law(mass, 10**1.7 * mass**3.5, n_bootstrap=50)
        >>> round(fit.slope, 6), round(fit.intercept, 6), round(fit.scatter, 6)
        (3.5, 1.7, 0.0)
    """
    x, y = _finite_pairs(x, y)
    positive = (x > 0) & (y > 0)
    return fit_line(np.log10(x[positive]), np.log10(y[positive]), n_bootstrap=n_bootstrap, seed=seed)


def binned_relation(x: np.ndarray | list, y: np.ndarray | list, bins: np.ndarray | list) -> BinnedRelation:
    """Count, median and 16th/84th percentiles of ``y`` in bins of ``x``.

    Bins are half-open ``[lo, hi)`` except the last, which includes its upper edge
    (:func:`scipy.stats.binned_statistic`); points outside the edges and non-finite pairs are left out.

    Args:
        x: ``(N,)`` values that choose the bin.
        y: ``(N,)`` values summarised in each bin.
        bins: ``(B + 1,)`` increasing bin edges.

    Returns:
        The per-bin summary (NaN statistics in an empty bin).

    Example:
        >>> x = np.array([0.1, 0.2, 0.3, 1.1, 1.2, 1.9])
        >>> rel = binned_relation(x, (x >= 1).astype(float), [0, 1, 2, 3])
        >>> rel.n.tolist(), rel.median.tolist()[:2], bool(np.isnan(rel.median[2]))
        ([3, 3, 0], [0.0, 1.0], True)
    """
    x, y = _finite_pairs(x, y)
    edges = np.asarray(bins, float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("bins must be at least two increasing edges")

    def percentile(q: float):
        return lambda values: np.percentile(values, q) if values.size else np.nan

    summary = {name: stats.binned_statistic(x, y, statistic=statistic, bins=edges).statistic
               for name, statistic in (("n", "count"), ("median", percentile(50)), ("p16", percentile(16)),
                                       ("p84", percentile(84)))}
    return BinnedRelation(edges=edges, n=summary["n"].astype(int), median=summary["median"], p16=summary["p16"],
                          p84=summary["p84"])


def rank_correlation(x: np.ndarray | list, y: np.ndarray | list) -> RankCorrelation:
    """Spearman's rank correlation of the finite pairs, with the two-sided p-value of no correlation.

    Args:
        x: ``(N,)`` values.
        y: ``(N,)`` values.

    Returns:
        rho, its p-value and the number of pairs (rho and p NaN with fewer than 3 pairs).

    Example:
        >>> x = np.arange(20.0)
        >>> corr = rank_correlation(x, x**3)
        >>> corr.rho, corr.n, corr.pvalue < 1e-10
        (1.0, 20, True)
    """
    x, y = _finite_pairs(x, y)
    if x.size < _MIN_POINTS:
        return RankCorrelation(rho=float("nan"), pvalue=float("nan"), n=int(x.size))
    result = stats.spearmanr(x, y)
    return RankCorrelation(rho=float(result.statistic), pvalue=float(result.pvalue), n=int(x.size))


def bootstrap_median(values: np.ndarray | list, n_bootstrap: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The median of the finite values and its standard error from a seeded bootstrap.

    Args:
        values: ``(N,)`` values.
        n_bootstrap: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        ``(median, error)`` (both NaN without a finite value).

    Example:
        >>> median, error = bootstrap_median(np.arange(1.0, 102.0))
        >>> median, 2.0 < error < 6.0
        (51.0, True)
    """
    values = np.asarray(values, float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    pick = np.random.default_rng(seed).integers(0, values.size, size=(n_bootstrap, values.size))
    return float(np.median(values)), float(np.std(np.median(values[pick], axis=1), ddof=1))


def agreement(predicted: np.ndarray | list, reference: np.ndarray | list) -> dict:
    """How predicted values agree with reference values: bias, robust scatter and rank correlation.

    Args:
        predicted: ``(N,)`` predictions.
        reference: ``(N,)`` reference values (catalogue); non-finite pairs are left out.

    Returns:
        JSON-ready ``{"n", "bias", "mad_std", "spearman_rho", "spearman_pvalue"}``: bias is the median of
        ``predicted - reference``, mad_std its :func:`astropy.stats.mad_std`.

    Example:
        >>> reference = np.linspace(0.0, 1.0, 101)
        >>> out = agreement(reference + 0.1, reference)
        >>> out["n"], round(out["bias"], 6), round(out["mad_std"], 6), round(out["spearman_rho"], 6)
        (101, 0.1, 0.0, 1.0)
    """
    predicted, reference = _finite_pairs(predicted, reference)
    difference = predicted - reference
    corr = rank_correlation(predicted, reference)
    return {"n": int(difference.size), "bias": float(np.median(difference)) if difference.size else float("nan"),
            "mad_std": float(mad_std(difference)) if difference.size else float("nan"),
            "spearman_rho": corr.rho, "spearman_pvalue": corr.pvalue}
