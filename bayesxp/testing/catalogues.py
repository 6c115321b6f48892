"""Small HATS catalogues of real stars, for LSDB tests, examples and benchmarks (needs ``lsdb``).

Gaia DR3 XP is published for LSDB as a HATS catalogue: Parquet partitions, one per HEALPix pixel, sized by row
count. :func:`demo_hats_catalogue` writes one of the same form from the bundled demo giants (real Gaia XP sampled
spectra with their APOGEE labels). The demo table carries Gaia source ids but no coordinates; a Gaia source id
holds its star's HEALPix level-12 nested pixel (``source_id // 2**35``, Gaia DR3 documentation, section 14.1.1),
so each star is placed at its level-12 pixel's centre, within 0.5 arcmin of its true position: LSDB partitions it
on the sky as it would the real catalogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["demo_hats_catalogue", "source_id_positions"]

_SOURCE_ID_PIXEL = 2**35  # source_id // 2**35 is the HEALPix level-12 nested pixel (Gaia DR3 documentation)


def source_id_positions(source_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ra, dec) in degrees: the centre of each Gaia source id's HEALPix level-12 nested pixel (ICRS).

    Example:
        >>> import astropy.units as u, cdshealpix
        >>> source_id = np.array([2**35 * 5 + 123, 2**35 * 5 + 456, 2**35 * 170_000])  # pixels 5, 5 and 170000
        >>> ra, dec = source_id_positions(source_id)
        >>> cdshealpix.nested.lonlat_to_healpix(ra * u.deg, dec * u.deg, 12).tolist()
        [5, 5, 170000]
    """
    import astropy.units as u
    import cdshealpix

    pixel = (np.asarray(source_id, dtype=np.int64) // _SOURCE_ID_PIXEL).astype(np.uint64)
    lon, lat = cdshealpix.nested.healpix_to_lonlat(pixel, 12)
    return lon.to_value(u.deg), lat.to_value(u.deg)


def demo_hats_catalogue(path: str | Path, rows: int | None = None, partition_rows: int = 60,
                        highest_order: int = 5, blank_flux: Sequence[int] = ()) -> Path:
    """Write the demo giants (the first ``rows``) as a HATS catalogue; returns its folder.

    Args:
        path: The catalogue's folder (created; must not hold a catalogue already).
        rows: How many demo stars (default: all 240); more than 240 repeats them in order (for benchmarks; the
            copies share their star's source id and position, so they share its pixel).
        partition_rows: The most rows in one HEALPix partition (LSDB's ``partition_rows``).
        highest_order: The finest HEALPix order a partition may take.
        blank_flux: Demo rows whose flux is set to NaN (stars a prediction must keep, with a failure status).

    Returns:
        ``path``, readable by ``lsdb.read_hats``.

    Example:
        >>> import tempfile, lsdb
        >>> folder = demo_hats_catalogue(Path(tempfile.mkdtemp()) / "demo", rows=30, partition_rows=10)
        >>> catalogue = lsdb.read_hats(folder)
        >>> len(catalogue.compute()), len(catalogue.get_healpix_pixels()) >= 3
        (30, True)
    """
    import lsdb
    import pandas as pd
    import pyarrow as pa
    from astropy.table import vstack

    from bayesxp.data.demo import demo_path
    from bayesxp.io.tables import read_table

    stars = read_table(demo_path())
    stars = vstack([stars] * -(-(rows or len(stars)) // len(stars)))[:rows]
    for row in blank_flux:
        stars["flux"][row] = np.nan
    columns = {}
    for name in stars.colnames:
        values = np.asarray(stars[name])
        if values.dtype.kind in "fiu":
            values = values.astype(values.dtype.newbyteorder("="))  # FITS is big-endian; pandas takes native
        if values.ndim > 1:  # spectra: Arrow list columns, as Gaia's HATS catalogue stores them
            values = pd.Series(pa.array(list(values)), dtype=pd.ArrowDtype(pa.list_(pa.from_numpy_dtype(values.dtype))))
        elif values.dtype.kind in "SU":
            values = values.astype(str)
        columns[name] = values
    frame = pd.DataFrame(columns)
    frame["ra"], frame["dec"] = source_id_positions(frame["gaiaedr3_source_id"].to_numpy())
    catalogue = lsdb.from_dataframe(frame, ra_column="ra", dec_column="dec", catalog_name=Path(path).name,
                                    lowest_order=0, highest_order=highest_order, partition_rows=partition_rows,
                                    margin_threshold=None)  # no margin catalogue: it is not written here
    catalogue.write_catalog(path, catalog_name=Path(path).name, as_collection=False, progress_bar=False)
    return Path(path)
