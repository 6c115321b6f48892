"""The run report's figures: each function only reads numbers from :mod:`bayesxp.report.compute` and draws.

Every function returns a matplotlib ``Figure``; :func:`png_base64` turns one into the base64 PNG that the
self-contained HTML embeds (and closes it).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bayesxp.calibration.plots import plot_reliability  # noqa: E402
from bayesxp.quantities import UNITS  # noqa: E402
from bayesxp.report.compute import DerivedViews, LabelCheck, ModelComparison, PPCBands  # noqa: E402
from bayesxp.spectra import WAVELENGTH_NM  # noqa: E402

__all__ = ["png_base64", "axis_label", "ppc_figure", "pvalue_figure", "label_check_figure", "age_metallicity_figure",
           "mass_luminosity_figure", "comparison_figure"]

NAMES = {"mass": "mass", "age": "age", "teff": "Teff", "logg": "log g", "m_h": "[M/H]",
         "log_luminosity": "log L/Lsun"}


def axis_label(quantity: str) -> str:
    """A quantity's axis label with its unit.

    Example:
        >>> axis_label("teff"), axis_label("log_luminosity")
        ('Teff [K]', 'log L/Lsun')
    """
    unit = UNITS.get(quantity)
    text = unit.to_string("unicode") if unit is not None else ""
    return f"{NAMES.get(quantity, quantity)} [{text}]" if text else NAMES.get(quantity, quantity)


def png_base64(figure: Figure, dpi: int = 80) -> str:
    """The figure as a base64 PNG (closed afterwards).

    Example:
        >>> png_base64(plt.figure(figsize=(1, 1)))[:8]
        'iVBORw0K'
    """
    buffer = io.BytesIO()
    with matplotlib.rc_context({"text.usetex": False}):  # gaiaxpy turns LaTeX on globally when imported
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def ppc_figure(bands: PPCBands, source_id: np.ndarray) -> Figure:
    """Observed spectra (points with errors) inside their posterior predictive 68% and 95% bands."""
    k = len(bands.rows)
    figure, axes = plt.subplots(k, 1, figsize=(8, 2.0 * k), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        q = bands.quantiles[:, j]
        ax.fill_between(WAVELENGTH_NM, q[0], q[4], color="C0", alpha=0.2, lw=0, label="95% predictive")
        ax.fill_between(WAVELENGTH_NM, q[1], q[3], color="C0", alpha=0.4, lw=0, label="68% predictive")
        ax.plot(WAVELENGTH_NM, q[2], color="C0", lw=1)
        ax.errorbar(WAVELENGTH_NM, bands.observed[j], bands.observed_error[j], fmt=".", ms=2, color="k", lw=0.5,
                    label="observed")
        ax.set_ylabel("flux / median")
        ax.set_title(f"Gaia DR3 {source_id[bands.rows[j]]}: PPC p = {bands.pvalue[j]:.2f}", fontsize="small")
    axes[0, 0].legend(fontsize="x-small", loc="upper right")
    axes[-1, 0].set_xlabel("wavelength [nm]")
    figure.tight_layout()
    return figure


def pvalue_figure(pvalue: np.ndarray) -> Figure:
    """Histogram of the posterior predictive p-values (uniform-ish when the model explains the stars)."""
    figure, ax = plt.subplots(figsize=(4.5, 3.2))
    finite = pvalue[np.isfinite(pvalue)]
    ax.hist(finite, bins=np.linspace(0, 1, 21), color="C0")
    ax.axhline(finite.size / 20, color="0.4", ls="--", lw=1, label="uniform")
    ax.set(xlabel="posterior predictive p-value", ylabel="stars", xlim=(0, 1))
    ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


def label_check_figure(checks: Sequence[LabelCheck]) -> Figure:
    """Per quantity: prediction against label (top) and the reliability curves of every model (bottom)."""
    quantities = list(dict.fromkeys(c.quantity for c in checks))
    figure, axes = plt.subplots(2, len(quantities), figsize=(4.2 * len(quantities), 8.2), squeeze=False)
    for j, quantity in enumerate(quantities):
        mine = [c for c in checks if c.quantity == quantity]
        ax = axes[0, j]
        for k, check in enumerate(mine):
            ax.errorbar(check.label, check.median, yerr=[check.median - check.lower, check.upper - check.median],
                        fmt="o", ms=2, lw=0.4, alpha=0.6, color=f"C{k}",
                        label=f"{check.model}: mad_std {check.mad_std:.3g}, bias {check.bias:+.2g}")
        low = min(min(c.label.min(), c.median.min()) for c in mine)
        high = max(max(c.label.max(), c.median.max()) for c in mine)
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--")
        ax.set(xlabel=f"APOGEE {axis_label(quantity)}", ylabel=f"posterior median {NAMES[quantity]}")
        ax.legend(fontsize="x-small", loc="upper left")
        plot_reliability([c.coverage for c in mine], labels=[f"{c.model} (label error added)" for c in mine],
                         ax=axes[1, j])
        axes[1, j].set_title(NAMES[quantity], fontsize="small")
    figure.tight_layout()
    return figure


def _medians_with_ranges(views: DerivedViews, x: str, y: str, colour: str, cmap: str) -> Figure:
    """Per-star posterior medians of ``y`` against ``x`` with their 16-84% ranges, coloured by ``colour``'s."""
    figure, ax = plt.subplots(figsize=(5.5, 4.2))
    xs, ys, cs = views.summaries[x], views.summaries[y], views.summaries[colour]  # (3, n) each
    ax.errorbar(xs[1], ys[1], xerr=[xs[1] - xs[0], xs[2] - xs[1]], yerr=[ys[1] - ys[0], ys[2] - ys[1]],
                fmt="none", ecolor="0.75", lw=0.5, zorder=1)
    points = ax.scatter(xs[1], ys[1], c=cs[1], s=10, cmap=cmap, zorder=2)
    figure.colorbar(points, ax=ax, label=f"median {axis_label(colour)}")
    ax.set(xlabel=axis_label(x), ylabel=axis_label(y))
    return figure


def age_metallicity_figure(views: DerivedViews) -> Figure:
    """Age (log scale) against [M/H] (posterior medians with 16-84% ranges), coloured by mass."""
    figure = _medians_with_ranges(views, "m_h", "age", "mass", "viridis")
    figure.axes[0].set_yscale("log")
    figure.tight_layout()
    return figure


def mass_luminosity_figure(views: DerivedViews) -> Figure:
    """log L (derived per joint draw) against mass, medians with 16-84% ranges, coloured by [M/H]."""
    figure = _medians_with_ranges(views, "mass", "log_luminosity", "m_h", "coolwarm")
    figure.tight_layout()
    return figure


def comparison_figure(comparison: ModelComparison) -> Figure:
    """bayesxp's medians against XGBoost's (top) and their 68% widths (bottom), per quantity."""
    quantities = list(comparison.medians)
    figure, axes = plt.subplots(2, len(quantities), figsize=(3.4 * len(quantities), 6.4), squeeze=False)
    for j, quantity in enumerate(quantities):
        ours, theirs = comparison.medians[quantity]
        ax = axes[0, j]
        ax.scatter(theirs, ours, s=5, alpha=0.6)
        low, high = np.nanmin([ours, theirs]), np.nanmax([ours, theirs])
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--")
        ax.set(xlabel=f"XGBoost median {NAMES[quantity]}", ylabel=f"bayesxp median {NAMES[quantity]}")
        widths = comparison.widths[quantity]
        ax = axes[1, j]
        ax.hist([widths[0], widths[1]], bins=20, label=["bayesxp", "XGBoost"], color=["C0", "C1"])
        ax.set(xlabel=f"68% width, {axis_label(quantity)}", ylabel="stars")
        ax.legend(fontsize="x-small")
    figure.tight_layout()
    return figure
