"""GaiaXPy's Avro input files (``MeanSpectrumSolutionWithCov.avro``) parsed into per-star cells.

A Gaia CU5 record holds per band (``bpSpec``, ``rpSpec``) the coefficients (``solution.parameters``), the
packed covariance (``solution.covariance``: lower triangle with the diagonal, in units of
``standardDeviation**2``), the formal errors and the solution's scalars. :func:`read_avro_cells` returns
them as :class:`~bayesxp.io.archive.ContinuousCells`, with the archive's column names in ``meta``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayesxp.errors import InputFileError
from bayesxp.io.archive import BandCells, ContinuousCells
from bayesxp.io.columns import float_column
from bayesxp.io.tables import parse_source_ids, require_input_file
from bayesxp.spectra import BANDS

__all__ = ["AVRO_SUFFIXES", "is_avro", "read_avro_cells"]

#: Suffixes read as GaiaXPy / Gaia internal Avro files (besides :data:`bayesxp.io.tables.SUPPORTED_SUFFIXES`).
AVRO_SUFFIXES = (".avro",)

# archive column name -> path in a Gaia CU5 Avro record (GaiaXPy's file_parser.utils._csv_to_avro_map)
_AVRO_TOP = {"solution_id": ("solutionId",), "bp_num_of_transits": ("bpNumOfTransits",),
             "rp_num_of_transits": ("rpNumOfTransits",), "bp_num_of_blended_transits": ("bpNumOfBlendedTransits",),
             "rp_num_of_blended_transits": ("rpNumOfBlendedTransits",),
             "bp_num_of_contaminated_transits": ("bpNumOfContaminatedTransits",),
             "rp_num_of_contaminated_transits": ("rpNumOfContaminatedTransits",)}
_AVRO_BAND = {"standard_deviation": ("solution", "standardDeviation"),
              "n_parameters": ("solution", "numberOfParameters"),
              "chi_squared": ("solution", "chiSquared"),
              "degrees_of_freedom": ("solution", "degreesOfFreedom"),
              "n_measurements": ("solution", "numberOfMeasurements"),
              "n_rejected_measurements": ("solution", "numberOfRejectedMeasurements"),
              "n_relevant_bases": ("NRelevantBases",),
              "relative_shrinking": ("relativeShrinking",),
              "basis_function_id": ("basisFunctionSetDefId",)}


def is_avro(path: str | os.PathLike) -> bool:
    """True where the file's suffix is one of :data:`AVRO_SUFFIXES`.

    Example:
        >>> is_avro("MeanSpectrumSolutionWithCov.avro"), is_avro("spectra.csv")
        (True, False)
    """
    return Path(path).name.lower().endswith(AVRO_SUFFIXES)


def _get(record: dict | None, keys: tuple[str, ...]) -> object:
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _array_cells(specs: list, key: str) -> list[np.ndarray | None]:
    """``solution.<key>`` of every band record as a float64 array (None where absent, NaN where null)."""
    return [None if _get(spec, ("solution", key)) is None else
            np.array([np.nan if value is None else value for value in _get(spec, ("solution", key))],
                     dtype=np.float64)
            for spec in specs]


def read_avro_cells(path: str | os.PathLike) -> ContinuousCells:
    """Parse GaiaXPy's Avro input (packed covariances per band) into per-star cells.

    Args:
        path: The ``.avro`` file.

    Returns:
        The cells; each band's ``covariances`` hold the packed covariance (used before the formal errors).

    Raises:
        InputFileError: Missing, empty or unreadable file; no records; a record without ``sourceId``.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> cells = read_avro_cells(data_dir() / "xp_misc" / "MeanSpectrumSolutionWithCov.avro")
        >>> len(cells.source_id), cells.bands["rp"].covariances[0].size
        (2, 1540)
    """
    path = Path(path)
    require_input_file(path)
    import fastavro

    try:
        with open(path, "rb") as handle:
            records = list(fastavro.reader(handle))
    except Exception as exc:  # fastavro raises ValueError, EOFError, StopIteration, its own types ...
        raise InputFileError(path, f"cannot be read as avro ({type(exc).__name__}: {exc})") from exc
    if not records:
        raise InputFileError(path, "file has no records")
    if any("sourceId" not in record for record in records):
        raise InputFileError(path, "required field is missing (the source_id)", column="sourceId")
    n = len(records)
    source_id, id_problems = parse_source_ids(
        [record["sourceId"] if record["sourceId"] is not None else "" for record in records], path, "sourceId")
    columns: dict[str, list] = {"source_id": list(source_id)}
    columns.update({name: [_get(record, keys) for record in records] for name, keys in _AVRO_TOP.items()})
    bands = {}
    for band in BANDS:
        specs = [record.get(f"{band}Spec") for record in records]
        scalars = {name: [_get(spec, keys) for spec in specs] for name, keys in _AVRO_BAND.items()}
        columns.update({f"{band}_{name}": values for name, values in scalars.items()})
        numeric = {name: float_column(values) for name, values in scalars.items()}
        bands[band] = BandCells(
            coefficients=_array_cells(specs, "parameters"),
            covariances=_array_cells(specs, "covariance"),
            errors=_array_cells(specs, "formalErrors"),  # used, as a diagonal covariance, only without a covariance
            standard_deviation=numeric["standard_deviation"],
            n_parameters=numeric["n_parameters"],
            n_relevant_bases=numeric["n_relevant_bases"],
            basis_function_id=numeric["basis_function_id"],
        )
    meta = pd.DataFrame({name: pd.array(values, dtype="Float64").to_numpy(np.float64, na_value=np.nan)
                         if name != "source_id" else source_id for name, values in columns.items()})
    nan = np.full(n, np.nan)
    return ContinuousCells(source_id=source_id, id_problems=id_problems, bands=bands, meta=meta,
                           phot_g_mean_flux=nan, phot_g_mean_mag=nan.copy(), path=str(path))
