"""The numbers of a run report: posteriors against the input's labels, the derived views, the comparison.

Everything here returns arrays and small dataclasses; :mod:`bayesxp.report.figures` only draws them
(STYLE principle 4).

- :func:`label_checks`: a model's predictions against the APOGEE labels the input carries (Teff, logg,
  [M/H]): bias, std, mad_std and the coverage of central intervals at many levels, label-noise aware (the
  prediction convolved with the label's own error) and naive, each level with its binomial band.
- :func:`derived_views`: per-star summaries of the age-metallicity and mass-luminosity planes. The luminosity
  is derived *per joint draw* from mass, Teff and logg, ``L / Lsun = (M / Msun) (Teff / 5772 K)^4 /
  10^(logg - 4.438)`` (``L = 4 pi R^2 sigma Teff^4`` with ``g = G M / R^2``), so its spread and its
  correlation with mass come from the joint posterior, not from independent marginals.
- :func:`ppc_bands`: the observed spectra of a few stars and the quantiles of their posterior predictive flux.
- :func:`compare_models`: bayesxp against the XGBoost baseline on the same stars (medians and 68% widths).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.stats import mad_std

from bayesxp.calibration import as_predictive
from bayesxp.calibration.coverage import DEFAULT_LEVELS, CoverageResult, coverage

__all__ = ["SUN_TEFF", "SUN_LOGG", "LabelCheck", "label_checks", "DerivedViews", "derived_views", "log_luminosity",
           "PPCBands", "ppc_bands", "ModelComparison", "compare_models"]

SUN_TEFF = 5772.0
"""Nominal solar effective temperature [K] (IAU 2015 B3)."""

SUN_LOGG = 4.438
"""Solar surface gravity, log10 of cm s^-2 (IAU 2015 B3 nominal GM and R)."""

REPORT_LEVELS = DEFAULT_LEVELS
"""Nominal levels of the reliability curves."""


@dataclass(frozen=True)
class LabelCheck:
    """One model's predictions of one quantity against the input's labels.

    Attributes:
        quantity: ``"teff"``, ``"logg"`` or ``"m_h"``.
        model: ``"bayesxp"`` or ``"XGBoost"``.
        n: Stars judged (finite label with a positive error and a usable prediction).
        bias: Median of (prediction median - label).
        std: Standard deviation of the residuals.
        mad_std: Robust scatter (1.4826 x median absolute deviation) of the residuals.
        coverage: Label-noise-aware coverage of central intervals (prediction convolved with the label error).
        coverage_naive: The same ignoring the label's error.
        median: ``(n,)`` prediction medians; ``lower``/``upper``: their 16th and 84th percentiles.
        label: ``(n,)`` the labels; ``label_error``: their errors.
    """

    quantity: str
    model: str
    n: int
    bias: float
    std: float
    mad_std: float
    coverage: CoverageResult
    coverage_naive: CoverageResult
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    label: np.ndarray
    label_error: np.ndarray

    def at(self, level: float, naive: bool = False) -> tuple[float, float, float]:
        """``(coverage, band lower, band upper)`` at a nominal level (one of :data:`REPORT_LEVELS`)."""
        result = self.coverage_naive if naive else self.coverage
        k = int(np.argmin(np.abs(result.level - level)))
        return float(result.coverage[k]), float(result.lower[k]), float(result.upper[k])


def label_checks(predictions: dict, labels: dict[str, np.ndarray], label_errors: dict[str, np.ndarray],
                 usable: np.ndarray, model: str, seed: int = 0) -> list[LabelCheck]:
    """Judge predictions against labels, one :class:`LabelCheck` per quantity that has labels.

    Args:
        predictions: Quantity -> samples ``(S, N)`` or a :class:`~bayesxp.calibration.PredictiveDistribution`.
        labels: Quantity -> ``(N,)`` labels (NaN where the star has none).
        label_errors: Quantity -> ``(N,)`` their 1-sigma errors.
        usable: ``(N,)`` stars with a prediction.
        model: The model's name, recorded.
        seed: Seed of the label-noise draws of sample-based predictions.

    Returns:
        The checks (quantities with fewer than 5 judged stars are left out).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> truth = rng.normal(size=400)
        >>> centre = truth + rng.normal(size=400)  # a calibrated posterior: truth ~ N(centre, 1)
        >>> check = label_checks({"teff": centre + rng.normal(size=(300, 400))}, {"teff": truth},
        ...                      {"teff": np.full(400, 0.1)}, np.ones(400, bool), "calibrated")[0]
        >>> check.n, round(check.at(0.68)[0], 2)
        (400, 0.67)
        >>> overconfident = label_checks({"teff": centre + 0.5 * rng.normal(size=(300, 400))}, {"teff": truth},
        ...                              {"teff": np.full(400, 0.1)}, np.ones(400, bool), "overconfident")[0]
        >>> round(overconfident.at(0.68)[0], 2), bool(overconfident.at(0.68)[2] < 0.68)
        (0.38, True)
    """
    out = []
    for quantity, label in labels.items():
        if quantity not in predictions:
            continue
        error = np.asarray(label_errors[quantity], np.float64)
        keep = usable & np.isfinite(label) & np.isfinite(error) & (error > 0)
        if keep.sum() < 5:
            continue
        pred = predictions[quantity]
        pred = as_predictive(pred[:, keep] if isinstance(pred, np.ndarray) else pred.take(np.flatnonzero(keep)))
        truth, error = np.asarray(label, np.float64)[keep], error[keep]
        lower, median, upper = pred.quantile(np.array([0.16, 0.5, 0.84]))
        residual = median - truth
        out.append(LabelCheck(
            quantity=quantity, model=model, n=int(keep.sum()), bias=float(np.median(residual)),
            std=float(np.std(residual)), mad_std=float(mad_std(residual)),
            coverage=coverage(pred, truth, REPORT_LEVELS, label_error=error, rng=seed),
            coverage_naive=coverage(pred, truth, REPORT_LEVELS),
            median=median, lower=lower, upper=upper, label=truth, label_error=error,
        ))
    return out


def log_luminosity(mass: np.ndarray, teff: np.ndarray, logg: np.ndarray) -> np.ndarray:
    """``log10(L / Lsun)`` from mass [Msun], Teff [K] and logg, elementwise (per joint draw).

    Example:
        >>> float(log_luminosity(np.array(1.0), np.array(SUN_TEFF), np.array(SUN_LOGG)))
        0.0
        >>> round(float(log_luminosity(np.array(1.2), np.array(4800.0), np.array(2.5))), 3)  # a red-clump star
        1.697
    """
    return np.log10(mass) + 4.0 * np.log10(teff / SUN_TEFF) - (logg - SUN_LOGG)


@dataclass(frozen=True)
class DerivedViews:
    """Per-star summaries for the age-metallicity and mass-luminosity views (usable stars only).

    Attributes:
        index: ``(n,)`` rows of the usable stars in the input.
        summaries: Name (``mass``, ``age``, ``m_h``, ``log_luminosity``) -> ``(3, n)`` 16th, 50th and 84th
            percentiles over the joint draws.
        mass_luminosity_corr: ``(n,)`` correlation of ln mass and log L over each star's draws.
    """

    index: np.ndarray
    summaries: dict[str, np.ndarray]
    mass_luminosity_corr: np.ndarray


def derived_views(samples: dict[str, np.ndarray], usable: np.ndarray) -> DerivedViews:
    """The age-metallicity and mass-luminosity summaries of joint posterior draws.

    Args:
        samples: Quantity -> ``(S, N)`` joint draws (``mass``, ``age``, ``teff``, ``logg``, ``m_h``).
        usable: ``(N,)`` stars with draws.

    Returns:
        The per-star percentiles and the per-star mass-luminosity correlation.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> s = {"mass": np.exp(rng.normal(0.2, 0.1, (400, 3))), "age": np.full((400, 3), 4.0),
        ...      "teff": np.full((400, 3), 4800.0), "logg": np.full((400, 3), 2.5), "m_h": np.zeros((400, 3))}
        >>> views = derived_views(s, np.ones(3, bool))
        >>> np.round(views.mass_luminosity_corr, 3).tolist()  # L depends on M alone here: perfectly correlated
        [1.0, 1.0, 1.0]
    """
    index = np.flatnonzero(usable)
    draws = {q: np.asarray(samples[q], np.float64)[:, index] for q in ("mass", "age", "m_h", "teff", "logg")}
    draws["log_luminosity"] = log_luminosity(draws["mass"], draws["teff"], draws["logg"])
    summaries = {q: np.quantile(draws[q], [0.16, 0.5, 0.84], axis=0)
                 for q in ("mass", "age", "m_h", "log_luminosity")}
    ln_mass = np.log(draws["mass"])
    a = ln_mass - ln_mass.mean(axis=0)
    b = draws["log_luminosity"] - draws["log_luminosity"].mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    return DerivedViews(index=index, summaries=summaries, mass_luminosity_corr=corr)


@dataclass(frozen=True)
class PPCBands:
    """Observed spectra of a few stars against their posterior predictive flux.

    Attributes:
        rows: ``(k,)`` rows of the shown stars in the input.
        observed: ``(k, 343)`` observed flux; ``observed_error`` its error.
        quantiles: ``(5, k, 343)`` the 2.5, 16, 50, 84 and 97.5th percentiles of the predictive flux.
        pvalue: ``(k,)`` the stars' posterior predictive p-values.
    """

    rows: np.ndarray
    observed: np.ndarray
    observed_error: np.ndarray
    quantiles: np.ndarray
    pvalue: np.ndarray


def ppc_bands(flux: np.ndarray, flux_error: np.ndarray, predictive_flux: np.ndarray, pvalue: np.ndarray,
              rows: np.ndarray) -> PPCBands:
    """Quantiles of the posterior predictive flux of the stars ``rows``.

    Args:
        flux: ``(N, 343)`` observed flux; ``flux_error`` the same shape.
        flux_error: Its error.
        predictive_flux: ``(S, N, 343)`` one generated spectrum per posterior draw.
        pvalue: ``(N,)`` posterior predictive p-values.
        rows: Which stars.

    Returns:
        The bands.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> bands = ppc_bands(np.ones((2, 343)), np.ones((2, 343)), rng.normal(size=(1000, 2, 343)),
        ...                   np.array([0.5, 0.4]), np.array([1]))
        >>> bands.quantiles.shape, round(float(np.mean(bands.quantiles[3] - bands.quantiles[1])), 1)
        ((5, 1, 343), 2.0)
    """
    rows = np.asarray(rows, dtype=np.int64)
    quantiles = np.nanquantile(predictive_flux[:, rows], [0.025, 0.16, 0.5, 0.84, 0.975], axis=0)
    return PPCBands(rows=rows, observed=np.asarray(flux)[rows], observed_error=np.asarray(flux_error)[rows],
                    quantiles=quantiles, pvalue=np.asarray(pvalue)[rows])


@dataclass(frozen=True)
class ModelComparison:
    """bayesxp against the XGBoost baseline on the same stars (both usable), per quantity.

    Attributes:
        medians: Quantity -> ``(2, n)`` medians (bayesxp, XGBoost).
        widths: Quantity -> ``(2, n)`` widths of the central 68% intervals (bayesxp, XGBoost).
        n: Stars compared.
    """

    medians: dict[str, np.ndarray]
    widths: dict[str, np.ndarray]
    n: int


def compare_models(samples: dict[str, np.ndarray], baseline: dict, usable: np.ndarray) -> ModelComparison:
    """Medians and 68% widths of bayesxp's draws and the baseline's distributions, star by star.

    Args:
        samples: bayesxp's quantity -> ``(S, N)`` draws.
        baseline: The baseline's quantity -> :class:`~bayesxp.calibration.PredictiveDistribution` over N.
        usable: ``(N,)`` stars usable in both.

    Returns:
        The comparison over the quantities both models predict.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(0)
        >>> result = compare_models({"mass": rng.normal(1.0, 0.1, (4000, 2))},
        ...                         {"mass": GaussianPrediction(np.ones(2), 0.2)}, np.ones(2, bool))
        >>> np.round(result.widths["mass"], 1).tolist()
        [[0.2, 0.2], [0.4, 0.4]]
    """
    index = np.flatnonzero(usable)
    medians, widths = {}, {}
    for quantity, draws in samples.items():
        if quantity not in baseline:
            continue
        ours = np.quantile(np.asarray(draws, np.float64)[:, index], [0.16, 0.5, 0.84], axis=0)
        theirs = as_predictive(baseline[quantity]).take(index).quantile(np.array([0.16, 0.5, 0.84]))
        medians[quantity] = np.stack([ours[1], theirs[1]])
        widths[quantity] = np.stack([ours[2] - ours[0], theirs[2] - theirs[0]])
    return ModelComparison(medians=medians, widths=widths, n=int(index.size))
