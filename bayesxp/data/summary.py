"""Numbers and a figure that describe a training set: counts, cross-matches, label distributions.

:func:`summary_markdown` computes (text only); :func:`plot_label_distributions` draws from a
:class:`~bayesxp.data.dataset.TrainingSet` without computing anything new.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from bayesxp.data.dataset import TrainingSet
from bayesxp.io.tables import atomic_path
from bayesxp.quantities import SPLITS, unit_name

__all__ = ["label_distribution_table", "summary_markdown", "plot_label_distributions", "write_summary",
           "source_id_digest", "training_stars_record"]

_SHOWN = {"teff": f"Teff [{unit_name('teff')}]", "logg": f"logg [{unit_name('logg')}]",
          "m_h": f"[M/H] [{unit_name('m_h')}]", "alpha_m": f"[alpha/M] [{unit_name('alpha_m')}]",
          "ln_mass": f"mass [{unit_name('mass')}]", "ln_age": f"age [{unit_name('age')}]"}


def _values(training_set: TrainingSet, name: str) -> np.ndarray:
    values, _ = training_set.label(name)
    return np.exp(values) if name.startswith("ln_") else values


def source_id_digest(source_id: np.ndarray) -> str:
    """SHA-256 of the sorted source ids (decimal, one per line): names a set of stars, order-free.

    Example:
        >>> source_id_digest(np.array([3, 1, 2])) == source_id_digest(np.array([1, 2, 3]))
        True
    """
    text = "\n".join(str(int(s)) for s in np.sort(np.asarray(source_id, dtype=np.int64)))
    return hashlib.sha256(text.encode()).hexdigest()


def training_stars_record(training_set: TrainingSet, exclude_reserved: bool) -> dict:
    """What a model folder records of the stars it was trained on: count and digest per training split.

    A test rebuilds the training set and checks the digests, then that none of those stars is reserved
    for judging (``tests/test_dataset.py::test_real_build_and_cache``).

    Args:
        training_set: The set the backbone and heads were fitted on.
        exclude_reserved: Whether it was built with :attr:`~bayesxp.data.dataset.DataConfig.exclude_reserved`.

    Returns:
        JSON-ready ``{"exclude_reserved", "splits": {split: {"n", "sha256"}}}`` for train and val.

    Example:
        >>> record = training_stars_record(TrainingSet.synthetic(20, seed=0), True)
        >>> sorted(record["splits"]), record["exclude_reserved"]
        (['train', 'val'], True)
    """
    splits = {}
    for split in ("train", "val"):
        ids = training_set.source_id[training_set.split == split]
        splits[split] = {"n": int(len(ids)), "sha256": source_id_digest(ids)}
    return {"exclude_reserved": bool(exclude_reserved), "splits": splits}


def label_distribution_table(training_set: TrainingSet) -> pd.DataFrame:
    """Count, 5/50/95th percentiles and median error of each shown label.

    Args:
        training_set: The training set.

    Returns:
        One row per label.
    """
    rows = []
    for name, title in _SHOWN.items():
        values = _values(training_set, name)
        _, errors = training_set.label(name)
        ok = np.isfinite(values)
        p5, p50, p95 = np.percentile(values[ok], [5, 50, 95]) if ok.any() else (np.nan,) * 3
        rows.append({"label": title, "n": int(ok.sum()), "p05": p5, "median": p50, "p95": p95,
                     "median_error": float(np.nanmedian(errors[ok])) if ok.any() else np.nan})
    return pd.DataFrame(rows)


def summary_markdown(training_set: TrainingSet) -> str:
    """The build summary as Markdown: cuts, splits, cross-matches, transfer figures, label distributions.

    Args:
        training_set: The training set (its ``summary`` holds the build's counts).

    Returns:
        Markdown text.
    """
    s = training_set.summary
    lines = ["## Counts after each cut", "", "| cut | stars left |", "|---|---|"]
    lines += [f"| {cut} | {n:,} |" for cut, n in s.get("counts", [])]
    lines += ["", "## Splits (sha256(source_id) % 10: 0 test, 1 val)", "", "| split | stars | with mass label |",
              "|---|---|---|"]
    mass, _ = training_set.label("ln_mass")
    for split in SPLITS:
        rows = training_set.split == split
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
              label_distribution_table(training_set).to_markdown(index=False, floatfmt=".3g")]
    return "\n".join(lines)


def plot_label_distributions(training_set: TrainingSet):  # noqa: ANN201 - returns a matplotlib Figure
    """Histograms of the labels by split, and the Kiel diagram coloured by transferred mass.

    Args:
        training_set: The training set.

    Returns:
        A matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    for ax, (name, title) in zip(axes.flat, _SHOWN.items()):
        values = _values(training_set, name)
        ok = np.isfinite(values)
        bins = np.linspace(*np.percentile(values[ok], [0.5, 99.5]), 40) if ok.any() else 10
        for split in SPLITS:
            rows = ok & (training_set.split == split)
            ax.hist(values[rows], bins=bins, histtype="step", density=True, label=f"{split} ({rows.sum():,})")
        ax.set_xlabel(title)
    axes.flat[0].legend(fontsize=8)
    teff, _ = training_set.label("teff")
    logg, _ = training_set.label("logg")
    mass = _values(training_set, "ln_mass")
    ax = axes.flat[6]
    points = ax.scatter(teff, logg, c=mass, s=2, cmap="viridis", vmin=0.8, vmax=2.5, rasterized=True)
    ax.invert_xaxis()
    ax.invert_yaxis()
    ax.set_xlabel("Teff [K]")
    ax.set_ylabel("logg [dex]")
    fig.colorbar(points, ax=ax, label=f"transferred mass [{unit_name('mass')}]")
    ax = axes.flat[7]
    age = _values(training_set, "ln_age")
    ax.scatter(mass, age, s=2, alpha=0.3, rasterized=True)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"mass [{unit_name('mass')}]")
    ax.set_ylabel("age [Gyr]")
    fig.suptitle(f"bayesxp training set: {len(training_set):,} giants")
    fig.tight_layout()
    return fig


def write_summary(training_set: TrainingSet, output: str | Path) -> list[Path]:
    """Write ``summary.md`` (:func:`summary_markdown`), ``summary.json`` (the build's counts) and
    ``label_distributions.png`` (:func:`plot_label_distributions`) into a folder, each atomically.

    Args:
        training_set: The training set.
        output: Folder (created if missing).

    Returns:
        The three paths written.

    Example:
        >>> import tempfile
        >>> folder = tempfile.mkdtemp()
        >>> [p.name for p in write_summary(TrainingSet.synthetic(30), folder)]
        ['summary.md', 'summary.json', 'label_distributions.png']
    """
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / "summary.md", output / "summary.json", output / "label_distributions.png"]
    with atomic_path(paths[0]) as tmp:
        tmp.write_text(summary_markdown(training_set) + "\n")
    with atomic_path(paths[1]) as tmp:
        tmp.write_text(json.dumps(training_set.summary, indent=2, default=str))
    figure = plot_label_distributions(training_set)
    with atomic_path(paths[2]) as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    return paths
