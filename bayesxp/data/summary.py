"""Numbers and a figure that describe a training set: counts, cross-matches, label distributions.

:func:`summary_markdown` computes (text only); :func:`plot_label_distributions` draws from a
:class:`~bayesxp.data.dataset.TrainingSet` without computing anything new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayesxp.data.dataset import TrainingSet
from bayesxp.quantities import SPLITS

__all__ = ["label_distribution_table", "summary_markdown", "plot_label_distributions"]

_SHOWN = {"teff": "Teff [K]", "logg": "logg [dex]", "m_h": "[M/H] [dex]", "alpha_m": "[alpha/M] [dex]",
          "ln_mass": "mass [Msun]", "ln_age": "age [Gyr]"}


def _values(ts: TrainingSet, name: str) -> np.ndarray:
    values, _ = ts.label(name)
    return np.exp(values) if name.startswith("ln_") else values


def label_distribution_table(ts: TrainingSet) -> pd.DataFrame:
    """Count, 5/50/95th percentiles and median error of each shown label.

    Args:
        ts: The training set.

    Returns:
        One row per label.
    """
    rows = []
    for name, title in _SHOWN.items():
        values = _values(ts, name)
        _, errors = ts.label(name)
        ok = np.isfinite(values)
        p5, p50, p95 = np.percentile(values[ok], [5, 50, 95]) if ok.any() else (np.nan,) * 3
        rows.append({"label": title, "n": int(ok.sum()), "p05": p5, "median": p50, "p95": p95,
                     "median_error": float(np.nanmedian(errors[ok])) if ok.any() else np.nan})
    return pd.DataFrame(rows)


def summary_markdown(ts: TrainingSet) -> str:
    """The build summary as Markdown: cuts, splits, cross-matches, transfer figures, label distributions.

    Args:
        ts: The training set (its ``summary`` holds the build's counts).

    Returns:
        Markdown text.
    """
    s = ts.summary
    lines = ["## Counts after each cut", "", "| cut | stars left |", "|---|---|"]
    lines += [f"| {cut} | {n:,} |" for cut, n in s.get("counts", [])]
    lines += ["", "## Splits (sha256(source_id) % 10: 0 test, 1 val)", "", "| split | stars | with mass label |",
              "|---|---|---|"]
    mass, _ = ts.label("ln_mass")
    for split in SPLITS:
        rows = ts.split == split
        lines.append(f"| {split} | {int(rows.sum()):,} | {int(np.isfinite(mass[rows]).sum()):,} |")
    if s.get("crossmatch_markdown"):
        lines += ["", "## Seismic catalogues matched to the library", "", s["crossmatch_markdown"]]
    transfer = s.get("transfer")
    if transfer:
        lines += ["", "## Label transfer (APOGEE labels -> mass, age)", "",
                  f"Training stars: {transfer['info'].get('n_training')} "
                  f"({transfer['info'].get('by_label_source')}); held out: {transfer['info'].get('n_heldout')}; "
                  f"logg noise {transfer['logg_noise']['used']:.3f} dex "
                  f"(measured on {transfer['logg_noise']['n_stars']} Montalban+2021 stars).", "",
                  transfer.get("markdown", "")]
    lines += ["", "## Label distributions (selected stars)", "",
              label_distribution_table(ts).to_markdown(index=False, floatfmt=".3g")]
    return "\n".join(lines)


def plot_label_distributions(ts: TrainingSet):  # noqa: ANN201 - returns a matplotlib Figure
    """Histograms of the labels by split, and the Kiel diagram coloured by transferred mass.

    Args:
        ts: The training set.

    Returns:
        A matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, (name, title) in zip(axes.flat, _SHOWN.items()):
        values = _values(ts, name)
        ok = np.isfinite(values)
        bins = np.linspace(*np.percentile(values[ok], [0.5, 99.5]), 40) if ok.any() else 10
        for split in SPLITS:
            rows = ok & (ts.split == split)
            ax.hist(values[rows], bins=bins, histtype="step", density=True, label=f"{split} ({rows.sum():,})")
        ax.set_xlabel(title)
    axes.flat[0].legend(fontsize=8)
    teff, _ = ts.label("teff")
    logg, _ = ts.label("logg")
    mass = _values(ts, "ln_mass")
    ax = axes.flat[6]
    points = ax.scatter(teff, logg, c=mass, s=2, cmap="viridis", vmin=0.8, vmax=2.5, rasterized=True)
    ax.invert_xaxis()
    ax.invert_yaxis()
    ax.set_xlabel("Teff [K]")
    ax.set_ylabel("logg [dex]")
    fig.colorbar(points, ax=ax, label="transferred mass [Msun]")
    ax = axes.flat[7]
    age = _values(ts, "ln_age")
    ax.scatter(mass, age, s=2, alpha=0.3, rasterized=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mass [Msun]")
    ax.set_ylabel("age [Gyr]")
    fig.suptitle(f"bayesxp training set: {len(ts):,} giants")
    fig.tight_layout()
    return fig
