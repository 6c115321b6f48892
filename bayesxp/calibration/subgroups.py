"""Calibration within subgroups of stars: bins of a covariate (SNR, [M/H], Teff, mass) or categories.

A model can be calibrated on average and wrong everywhere that matters (over-confident at low SNR,
under-confident at high); :func:`coverage_by_group` gives coverage per group and level with binomial
bands, the PIT KS p-value, the residual bias and scatter per group, and names the worst group by
``|coverage - nominal|``. Results are plain arrays (no pandas); ``as_dict`` gives JSON-ready lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from bayesxp.calibration.coverage import binomial_band, inside_interval
from bayesxp.calibration.distribution import PredictiveDistribution, as_predictive, as_truth
from bayesxp.calibration.scores import mad_std

__all__ = ["assign_groups", "GroupCoverage", "coverage_by_group"]


def _format_edge(x: float) -> str:
    return f"{x:.4g}"


def assign_groups(
    covariate: ArrayLike, bins: int | ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Assign each star to a group.

    Args:
        covariate: One value per star, shape ``[N]``: numbers, or categories (strings, integers, bools).
        bins: ``None``: every distinct value is a group (categorical, e.g. evolutionary state); an int B:
            B bins of equal star counts (edges at covariate quantiles); an array of edges ``[B + 1]``:
            those bins (left-closed; the last bin also takes its right edge).

    Returns:
        ``(codes, names, edges)``: group index per star ``[N]`` (-1 for stars outside every bin or with a
        NaN covariate), group names ``[G]`` (``"[a, b)"`` for bins), and the bin edges (``None`` for
        categories).

    Example:
        >>> codes, names, _ = assign_groups(["RGB", "RC", "RGB"])
        >>> codes.tolist(), names.tolist()
        ([1, 0, 1], ['RC', 'RGB'])
    """
    values = np.asarray(covariate)
    if values.ndim != 1:
        raise ValueError(f"covariate must be 1-D, got shape {values.shape}")
    if bins is None:
        keep = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(values.size, dtype=bool)
        names, inverse = np.unique(values[keep], return_inverse=True)
        codes = np.full(values.size, -1, dtype=np.int64)
        codes[keep] = inverse
        return codes, names.astype(str), None
    x = values.astype(float)
    finite = np.isfinite(x)
    if np.ndim(bins) == 0:
        n_bins = int(bins)
        if n_bins < 1 or not np.any(finite):
            raise ValueError("need at least one bin and one finite covariate value")
        edges = np.unique(np.quantile(x[finite], np.linspace(0.0, 1.0, n_bins + 1)))
    else:
        edges = np.asarray(bins, dtype=float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bin edges must be a strictly increasing 1-D array of at least two values")
    codes = np.searchsorted(edges, x, side="right") - 1
    codes[x == edges[-1]] = edges.size - 2  # the last bin is closed on the right
    codes[(codes < 0) | (codes > edges.size - 2) | ~finite] = -1
    names = np.array([f"[{_format_edge(a)}, {_format_edge(b)})" for a, b in zip(edges[:-1], edges[1:])])
    return codes.astype(np.int64), names, edges


@dataclass(frozen=True)
class GroupCoverage:
    """Coverage per group and level.

    Attributes:
        group: Group names, shape ``[G]``.
        n: Stars per group, shape ``[G]``.
        level: Nominal levels, shape ``[L]``.
        coverage: Fraction inside, shape ``[G, L]`` (NaN for empty groups).
        lower: Binomial band, lower end, ``[G, L]``.
        upper: Upper end, ``[G, L]``.
        consistent: Nominal inside the band, ``[G, L]`` (True for empty groups).
        pit_ks_pvalue: KS p-value of the group's PIT values, ``[G]``.
        bias: Median residual (median prediction minus truth) per group, ``[G]``.
        mad_std: Robust residual scatter per group, ``[G]``.
        edges: Bin edges ``[G + 1]`` for a binned covariate, else ``None``.
        kind: Interval kind.
        confidence: Band confidence.
        worst: The worst (group, level) by ``|coverage - nominal|`` among groups with at least
            ``min_stars`` stars: ``{"group", "level", "coverage", "lower", "upper", "n", "deviation",
            "consistent"}``.
    """

    group: np.ndarray
    n: np.ndarray
    level: np.ndarray
    coverage: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    consistent: np.ndarray
    pit_ks_pvalue: np.ndarray
    bias: np.ndarray
    mad_std: np.ndarray
    edges: np.ndarray | None
    kind: str
    confidence: float
    worst: dict

    def as_dict(self) -> dict:
        """Plain lists and numbers (JSON-serialisable; NaN becomes ``None``)."""
        return {
            "group": self.group.tolist(),
            "n": self.n.tolist(),
            "level": self.level.tolist(),
            "coverage": _plain(self.coverage),
            "lower": _plain(self.lower),
            "upper": _plain(self.upper),
            "consistent": self.consistent.tolist(),
            "pit_ks_pvalue": _plain(self.pit_ks_pvalue),
            "bias": _plain(self.bias),
            "mad_std": _plain(self.mad_std),
            "edges": None if self.edges is None else self.edges.tolist(),
            "kind": self.kind,
            "confidence": self.confidence,
            "worst": dict(self.worst),
        }


def _plain(a: np.ndarray) -> list:
    """A float array as nested lists with NaN as ``None``."""
    if a.ndim > 1:
        return [_plain(row) for row in a]
    return [float(v) if np.isfinite(v) else None for v in a]


def coverage_by_group(
    pred: PredictiveDistribution | ArrayLike,
    truth: ArrayLike,
    covariate: ArrayLike,
    bins: int | ArrayLike | None = None,
    levels: ArrayLike = (0.68, 0.95),
    kind: str = "central",
    label_error: ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "jeffreys",
    min_stars: int = 20,
    rng: np.random.Generator | int | None = None,
) -> GroupCoverage:
    """Coverage, PIT uniformity and residuals within groups of stars.

    Args:
        pred: A prediction, or samples ``[S, N]``.
        truth: True (or labelled) values, shape ``[N]``.
        covariate: Grouping variable per star, shape ``[N]`` (see :func:`assign_groups`).
        bins: ``None`` for categories, an int for equal-count bins, or bin edges.
        levels: Nominal levels, shape ``[L]``.
        kind: ``"central"`` or ``"hdi"``.
        label_error: The truth's own 1-sigma error (scalar or ``[N]``): coverage and PIT then use the
            prediction convolved with it; residuals always use the prediction itself.
        confidence: Two-sided confidence of each binomial band.
        method: ``"jeffreys"`` or ``"clopper-pearson"``.
        min_stars: Groups smaller than this are reported but not eligible as the worst group.
        rng: Generator or seed (randomised PIT, label-noise draws).

    Returns:
        The per-group table.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> rng = np.random.default_rng(1)
        >>> snr = rng.uniform(10, 100, 3000)
        >>> truth = rng.normal(size=3000) * np.where(snr < 40, 2.0, 1.0)  # too confident at low SNR
        >>> table = coverage_by_group(GaussianPrediction(np.zeros(3000), 1.0), truth, snr, bins=[10, 40, 100])
        >>> table.worst["group"], table.worst["consistent"]
        ('[10, 40)', False)
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    pred = as_predictive(pred)
    truth = as_truth(truth, pred.n_stars)
    codes, names, edges = assign_groups(covariate, bins)
    if codes.size != pred.n_stars:
        raise ValueError(f"covariate has {codes.size} values, expected {pred.n_stars}")
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    point = pred.median()
    scored = pred if label_error is None else pred.convolve(label_error, rng=rng)
    inside = inside_interval(scored, truth, levels, kind=kind)  # [L, N]
    pit_values = scored.pit(truth, rng=rng)
    g, n_levels = names.size, levels.size
    n = np.array([np.sum(codes == j) for j in range(g)])
    k = np.stack([inside[:, codes == j].sum(axis=1) for j in range(g)]) if g else np.zeros((0, n_levels))
    cov = np.full((g, n_levels), np.nan)
    lo, hi = np.full((g, n_levels), np.nan), np.full((g, n_levels), np.nan)
    consistent = np.ones((g, n_levels), dtype=bool)
    ks_p, bias, scatter = np.full(g, np.nan), np.full(g, np.nan), np.full(g, np.nan)
    for j in range(g):
        if n[j] == 0:
            continue
        members = codes == j
        cov[j] = k[j] / n[j]
        lo[j], hi[j] = binomial_band(k[j], int(n[j]), confidence, method)
        consistent[j] = (lo[j] <= levels) & (levels <= hi[j])
        ks_p[j] = stats.kstest(pit_values[members], "uniform").pvalue
        residual = point[members] - truth[members]
        bias[j], scatter[j] = np.median(residual), mad_std(residual)
    eligible = n >= min_stars
    worst: dict = {}
    if np.any(eligible):
        deviation = np.where(eligible[:, None], np.abs(cov - levels), -np.inf)
        j, i = np.unravel_index(np.argmax(deviation), deviation.shape)
        worst = {
            "group": str(names[j]),
            "level": float(levels[i]),
            "coverage": float(cov[j, i]),
            "lower": float(lo[j, i]),
            "upper": float(hi[j, i]),
            "n": int(n[j]),
            "deviation": float(deviation[j, i]),
            "consistent": bool(consistent[j, i]),
        }
    return GroupCoverage(
        group=names,
        n=n,
        level=levels,
        coverage=cov,
        lower=lo,
        upper=hi,
        consistent=consistent,
        pit_ks_pvalue=ks_p,
        bias=bias,
        mad_std=scatter,
        edges=edges,
        kind=kind,
        confidence=float(confidence),
        worst=worst,
    )
