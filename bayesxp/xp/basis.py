"""The Gaia DR3 XP basis functions sampled on :data:`bayesxp.spectra.WAVELENGTH_NM`.

``flux_band = coefficients @ design_matrix(band)`` is the absolute flux [W m^-2 nm^-1] a band's 55
Hermite-function coefficients give on the 336..1020 nm / 2 nm grid, and the merged spectrum weighs BP and
RP with :func:`merge_weights`. Both come from GaiaXPy's own external-calibration model
(``SampledBasisFunctions.from_external_instrument_model`` and the model files GaiaXPy ships), so the map
is the one ``gaiaxpy.calibrate(..., sampling=WAVELENGTH_NM, truncation=False)`` applies. They are built
once per process (about 0.5 s) and cached read-only.
"""

from __future__ import annotations

import contextlib
import functools
import io
from configparser import ConfigParser
from pathlib import Path

import numpy as np

from bayesxp.spectra import BANDS, N_COEFFICIENTS, WAVELENGTH_NM

__all__ = [
    "DR3_BASIS_FUNCTION_ID",
    "BP_RANGE_NM",
    "RP_RANGE_NM",
    "design_matrix",
    "merge_weights",
]

#: ``bp_basis_function_id`` / ``rp_basis_function_id`` of the DR3 bases.
DR3_BASIS_FUNCTION_ID = {"bp": 56, "rp": 57}
#: Wavelength ranges [nm] GaiaXPy gives the bands (``gaiaxpy.core.satellite``): BP alone below 635 nm,
#: RP alone above 643 nm, a linear blend in between.
BP_RANGE_NM = (330.0, 643.0)
RP_RANGE_NM = (635.0, 1020.0)

# the instrument models gaiaxpy.calibrate uses by default (its `_calibrate(bp_model=, rp_model=)`)
_MODELS = {"bp": "v375wi", "rp": "v142r"}


def _check_band(band: str) -> str:
    band = band.lower()
    if band not in BANDS:
        raise ValueError(f"band must be 'bp' or 'rp', not {band!r}")
    return band


def _merge(band: str, wavelength: np.ndarray) -> np.ndarray:
    """GaiaXPy's ``calibrator.__create_merge``, vectorised (same arithmetic, same floats)."""
    low, high = RP_RANGE_NM[0], BP_RANGE_NM[1]
    ramp = (wavelength - low) / (high - low)
    if band == "bp":
        return np.where(wavelength < low, 1.0, np.where(wavelength > high, 0.0, 1.0 - ramp))
    return np.where(wavelength < low, 0.0, np.where(wavelength > high, 1.0, ramp))


@functools.lru_cache(maxsize=1)
def _sampled_bases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{band: (design matrix (55, 343), merge weights (343,))}``, read-only, built once."""
    import matplotlib

    # importing gaiaxpy runs its plotter module, which sets matplotlib's text.usetex = True for the whole
    # process; keep the user's matplotlib settings as they were
    with matplotlib.rc_context():
        from gaiaxpy.calibrator.external_instrument_model import ExternalInstrumentModel
        from gaiaxpy.config.paths import config_ini_file, config_path
        from gaiaxpy.spectrum.sampled_basis_functions import SampledBasisFunctions

    parser = ConfigParser()
    parser.read(config_ini_file)
    wavelength = WAVELENGTH_NM.astype(np.float64)
    out = {}
    for band in BANDS:
        files = {key: Path(config_path) / parser.get("calibrator", key).replace("xp", band).replace(
            "model", _MODELS[band]) for key in ("dispersion", "response", "bases")}
        weights = _merge(band, wavelength)
        with contextlib.redirect_stdout(io.StringIO()):  # GaiaXPy's parser prints progress messages
            model = ExternalInstrumentModel.from_config_csv(
                str(files["dispersion"]), str(files["response"]), str(files["bases"]))
            basis = SampledBasisFunctions.from_external_instrument_model(wavelength, weights, model)
        matrix = np.ascontiguousarray(basis.get_design_matrix(), dtype=np.float64)  # (55, 343)
        if matrix.shape != (N_COEFFICIENTS, wavelength.size):
            raise RuntimeError(f"GaiaXPy's {band.upper()} design matrix has shape {matrix.shape}, "
                               f"expected ({N_COEFFICIENTS}, {wavelength.size})")
        matrix.setflags(write=False)
        weights.setflags(write=False)
        out[band] = (matrix, weights)
    return out


def design_matrix(band: str) -> np.ndarray:
    """The band's 55 basis functions sampled on the grid, in absolute flux units per unit coefficient.

    Args:
        band: ``"bp"`` or ``"rp"``.

    Returns:
        Read-only ``(55, 343)`` float64 matrix ``B``; a star's band flux is ``coefficients @ B``. It is
        zero where the band contributes nothing (BP above 643 nm, RP below 635 nm), as in GaiaXPy.

    Example:
        >>> design_matrix("bp").shape
        (55, 343)
    """
    return _sampled_bases()[_check_band(band)][0]


def merge_weights(band: str) -> np.ndarray:
    """GaiaXPy's weights of a band in the merged spectrum on the grid (BP + RP weights = 1).

    Args:
        band: ``"bp"`` or ``"rp"``.

    Returns:
        Read-only ``(343,)`` float64 weights: 1 for BP below 635 nm, 1 for RP above 643 nm, linear between.

    Example:
        >>> bool(np.allclose(merge_weights("bp") + merge_weights("rp"), 1.0))
        True
    """
    return _sampled_bases()[_check_band(band)][1]
