"""Figures of calibration results; they only read what the other modules computed.

Each function takes a result object (:class:`~bayesxp.calibration.coverage.CoverageResult`,
:class:`~bayesxp.calibration.pit.PITTest`, :class:`~bayesxp.calibration.subgroups.GroupCoverage`,
:class:`~bayesxp.calibration.joint.TARPResult`) and returns a :class:`matplotlib.figure.Figure` built
without pyplot, so it works under any backend (Agg included) and leaves no global state; save it with
``fig.savefig(path)``. Pass ``ax`` to draw into an existing axes instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bayesxp.calibration.coverage import CoverageResult
from bayesxp.calibration.joint import TARPResult
from bayesxp.calibration.pit import PITTest
from bayesxp.calibration.subgroups import GroupCoverage

__all__ = ["plot_reliability", "plot_pit_histogram", "plot_group_coverage", "plot_tarp"]


def _axes(ax: Axes | None, figsize: tuple[float, float] = (4.5, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def plot_reliability(
    results: CoverageResult | Sequence[CoverageResult],
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Reliability curve: empirical against nominal coverage, with each level's binomial band.

    Args:
        results: One coverage result or several (e.g. bayesxp and the XGBoost baseline).
        labels: Legend labels, one per result (default: the interval kind).
        ax: Axes to draw into.

    Returns:
        The figure.

    Example:
        >>> from bayesxp.calibration.coverage import coverage
        >>> from bayesxp.calibration import GaussianPrediction
        >>> result = coverage(GaussianPrediction(np.zeros(500), 1.0), np.random.default_rng(0).normal(size=500))
        >>> type(plot_reliability(result)).__name__
        'Figure'
    """
    results = [results] if isinstance(results, CoverageResult) else list(results)
    labels = list(labels) if labels is not None else [r.kind for r in results]
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls="--", label="nominal")
    for result, label in zip(results, labels):
        (line,) = ax.plot(result.level, result.coverage, marker="o", ms=3, label=f"{label} (N={result.n})")
        ax.fill_between(result.level, result.lower, result.upper, color=line.get_color(), alpha=0.25, lw=0)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="nominal coverage", ylabel="empirical coverage", aspect="equal")
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_pit_histogram(test: PITTest, ax: Axes | None = None) -> Figure:
    """PIT histogram with the band a uniform PIT would fall in, annotated with the test p-values.

    Args:
        test: The result of :func:`~bayesxp.calibration.pit.pit_uniformity`.
        ax: Axes to draw into.

    Returns:
        The figure.

    Example:
        >>> from bayesxp.calibration.pit import pit_uniformity
        >>> type(plot_pit_histogram(pit_uniformity(np.random.default_rng(0).uniform(size=500)))).__name__
        'Figure'
    """
    fig, ax = _axes(ax, (5.0, 3.5))
    width = np.diff(test.edges)
    ax.bar(test.edges[:-1], test.counts, width=width, align="edge", color="C0", alpha=0.7, edgecolor="white")
    ax.axhline(test.expected, color="0.3", lw=1)
    ax.fill_between(
        test.edges,
        np.append(test.band_lower, test.band_lower[-1]),
        np.append(test.band_upper, test.band_upper[-1]),
        step="post",
        color="0.5",
        alpha=0.25,
        lw=0,
    )
    ax.set(xlim=(0, 1), xlabel="PIT", ylabel="stars per bin")
    ax.set_title(
        f"KS p={test.ks_pvalue:.3g}, chi2 p={test.chi2_pvalue:.3g}, area={test.miscalibration_area:.3f}",
        fontsize="small",
    )
    return fig


def plot_group_coverage(table: GroupCoverage, level: float | None = None, ax: Axes | None = None) -> Figure:
    """Coverage per group at one level, with binomial bands and the nominal line.

    Args:
        table: The result of :func:`~bayesxp.calibration.subgroups.coverage_by_group`.
        level: Which nominal level to show (default: the first).
        ax: Axes to draw into.

    Returns:
        The figure.

    Example:
        >>> from bayesxp.calibration import GaussianPrediction
        >>> from bayesxp.calibration.subgroups import coverage_by_group
        >>> rng = np.random.default_rng(0)
        >>> table = coverage_by_group(GaussianPrediction(np.zeros(300), 1.0), rng.normal(size=300), rng.uniform(size=300), bins=3)
        >>> type(plot_group_coverage(table)).__name__
        'Figure'
    """
    i = 0 if level is None else int(np.argmin(np.abs(table.level - level)))
    nominal = table.level[i]
    fig, ax = _axes(ax, (max(4.0, 0.6 * table.group.size + 2), 3.5))
    x = np.arange(table.group.size)
    cov = table.coverage[:, i]
    err = np.vstack([cov - table.lower[:, i], table.upper[:, i] - cov])
    colors = ["C0" if ok else "C3" for ok in table.consistent[:, i]]
    ax.errorbar(x, cov, yerr=err, fmt="none", ecolor="0.4", capsize=3)
    ax.scatter(x, cov, c=colors, zorder=3)
    ax.axhline(nominal, color="0.5", ls="--", lw=1)
    ax.set_xticks(x, [f"{g}\n(N={n})" for g, n in zip(table.group, table.n)], fontsize="small")
    ax.set(ylabel=f"coverage of {nominal:g} intervals", ylim=(0, 1))
    return fig


def plot_tarp(result: TARPResult, ax: Axes | None = None) -> Figure:
    """TARP expected-coverage curve against the diagonal.

    Args:
        result: The result of :func:`~bayesxp.calibration.joint.tarp`.
        ax: Axes to draw into.

    Returns:
        The figure.

    Example:
        >>> from bayesxp.calibration.joint import tarp
        >>> rng = np.random.default_rng(0)
        >>> type(plot_tarp(tarp(rng.normal(size=(50, 200, 2)), rng.normal(size=(200, 2)), rng=rng))).__name__
        'Figure'
    """
    fig, ax = _axes(ax)
    ax.plot([0, 1], [0, 1], color="0.5", lw=1, ls="--")
    ax.plot(result.alpha, result.ecp, color="C0")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="credibility level", ylabel="expected coverage", aspect="equal")
    ax.set_title(f"TARP: KS p={result.ks_pvalue:.3g}, area={result.area:.3f}", fontsize="small")
    return fig
