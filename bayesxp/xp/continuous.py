"""Gaia XP continuous spectra: coefficients and their covariances, and the map to sampled spectra.

- :class:`XPContinuous` holds per band 55 Hermite coefficients and their full covariance.
- :func:`assemble_continuous` checks the cells a reader parsed (:class:`~bayesxp.io.archive.ContinuousCells`:
  coefficient counts, the DR3 basis, errors, packed correlations or Avro covariances), unpacks the
  correlations as GaiaXPy does, builds each covariance ``diag(e) C diag(e)`` and refuses, per star, a
  covariance that is not positive definite.
- :func:`continuous_to_sampled` applies the linear map of ``gaiaxpy.calibrate(..., sampling=WAVELENGTH_NM,
  truncation=False)``, vectorised over stars, propagates the full covariance into flux errors and
  divides by the median flux, giving :class:`~bayesxp.spectra.SampledSpectra`.

Problems with one star (NaN or wrong-length coefficients, a covariance that is not positive definite,
no band at all) go to that star's ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayesxp.io.archive import BandCells, ContinuousCells
from bayesxp.io.library import with_note
from bayesxp.spectra import (
    BANDS,
    N_COEFFICIENTS,
    N_SAMPLES,
    STATUS_OK,
    WAVELENGTH_NM,
    SampledSpectra,
    normalise_by_median,
)
from bayesxp.xp.basis import BP_RANGE_NM, DR3_BASIS_FUNCTION_ID, RP_RANGE_NM, design_matrix, merge_weights

__all__ = ["XPContinuous", "assemble_continuous", "continuous_to_sampled"]

_N = N_COEFFICIENTS
_N_PACKED = _N * (_N - 1) // 2  # 1485: strict lower triangle, the archive's correlation vector
_N_PACKED_DIAGONAL = _N * (_N + 1) // 2  # 1540: lower triangle with the diagonal (Avro covariances)
_TRIL = np.tril_indices(_N, k=-1)  # row-major, as gaiaxpy's array_to_symmetric_matrix fills it
_TRIL_DIAGONAL = np.tril_indices(_N, k=0)
_CHUNK = 512  # stars per block in the vectorised maths: (512, 55, 343) float64 is 77 MB


@dataclass(frozen=True)
class XPContinuous:
    """Gaia XP continuous spectra: per band 55 coefficients and their full covariance.

    Attributes:
        source_id: ``(N,)`` int64 Gaia DR3 source_id (0 where the file gives none).
        bp_coefficients: ``(N, 55)`` float64 BP coefficients [e-/s]; NaN rows where BP is missing or bad.
        rp_coefficients: ``(N, 55)`` float64 RP coefficients, likewise.
        bp_covariance: ``(N, 55, 55)`` float64 BP coefficient covariance, ``diag(e) C diag(e)`` with ``e``
            the ``bp_coefficient_errors`` and ``C`` the unpacked ``bp_coefficient_correlations``. (GaiaXPy
            keeps this divided by ``bp_standard_deviation**2`` and multiplies the flux errors back by it;
            the flux errors are the same.) Diagonal where the file has no correlations.
        rp_covariance: ``(N, 55, 55)`` float64 RP covariance, likewise.
        bp_standard_deviation: ``(N,)`` float64 standard deviation of the BP least-squares fit (NaN where
            not given; it is not needed for the flux errors).
        rp_standard_deviation: ``(N,)`` float64, likewise for RP.
        bp_n_parameters: ``(N,)`` int64 number of BP coefficients (0 where BP is missing).
        rp_n_parameters: ``(N,)`` int64, likewise for RP.
        bp_n_relevant_bases: ``(N,)`` int64 the archive's recommended BP truncation (0 where unknown); kept
            for information, the conversion never truncates.
        rp_n_relevant_bases: ``(N,)`` int64, likewise for RP.
        phot_g_mean_flux: ``(N,)`` float64 G-band mean flux [e-/s] (NaN where the file has none).
        phot_g_mean_mag: ``(N,)`` float64 G-band mean magnitude (NaN where the file has none).
        has_correlations: ``(N,)`` bool, True where the file gave the coefficient correlations (or the
            full covariance) of the star's bands; False where the covariance is diagonal for lack of them.
        status: ``(N,)`` object: ``"ok"``, ``"missing BP"``, ``"missing RP"`` (usable) or why the star
            cannot be used.
        meta: Every scalar column of the file, one row per star.
        path: The file read.

    The covariances take about 48 kB per star: read very large downloads in pieces.

    Example:
        >>> xp = XPContinuous.empty(2)
        >>> xp.bp_covariance.shape, xp.status.tolist()
        ((2, 55, 55), ['no BP or RP coefficients', 'no BP or RP coefficients'])
    """

    source_id: np.ndarray
    bp_coefficients: np.ndarray
    rp_coefficients: np.ndarray
    bp_covariance: np.ndarray
    rp_covariance: np.ndarray
    bp_standard_deviation: np.ndarray
    rp_standard_deviation: np.ndarray
    bp_n_parameters: np.ndarray
    rp_n_parameters: np.ndarray
    bp_n_relevant_bases: np.ndarray
    rp_n_relevant_bases: np.ndarray
    phot_g_mean_flux: np.ndarray
    phot_g_mean_mag: np.ndarray
    has_correlations: np.ndarray
    status: np.ndarray
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)
    path: str = "<memory>"

    def __post_init__(self) -> None:
        n = len(self.source_id)
        for band in BANDS:
            shapes = {f"{band}_coefficients": (n, _N), f"{band}_covariance": (n, _N, _N)}
            for name, shape in shapes.items():
                if getattr(self, name).shape != shape:
                    raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {shape}")
        for name in ("bp_standard_deviation", "rp_standard_deviation", "bp_n_parameters", "rp_n_parameters",
                     "bp_n_relevant_bases", "rp_n_relevant_bases", "phot_g_mean_flux", "phot_g_mean_mag",
                     "has_correlations", "status"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {n}")
        if len(self.meta) not in (0, n):
            raise ValueError(f"meta has {len(self.meta)} rows, expected {n}")

    def __len__(self) -> int:
        return len(self.source_id)

    @classmethod
    def empty(cls, n: int) -> XPContinuous:
        """``n`` stars without any band (all NaN), to be filled by hand.

        Args:
            n: Number of stars.

        Returns:
            The batch, every status ``"no BP or RP coefficients"``.
        """
        return cls(
            source_id=np.zeros(n, dtype=np.int64),
            bp_coefficients=np.full((n, _N), np.nan),
            rp_coefficients=np.full((n, _N), np.nan),
            bp_covariance=np.full((n, _N, _N), np.nan),
            rp_covariance=np.full((n, _N, _N), np.nan),
            bp_standard_deviation=np.full(n, np.nan),
            rp_standard_deviation=np.full(n, np.nan),
            bp_n_parameters=np.zeros(n, dtype=np.int64),
            rp_n_parameters=np.zeros(n, dtype=np.int64),
            bp_n_relevant_bases=np.zeros(n, dtype=np.int64),
            rp_n_relevant_bases=np.zeros(n, dtype=np.int64),
            phot_g_mean_flux=np.full(n, np.nan),
            phot_g_mean_mag=np.full(n, np.nan),
            has_correlations=np.zeros(n, dtype=bool),
            status=np.full(n, "no BP or RP coefficients", dtype=object),
            meta=pd.DataFrame(index=range(n)),
        )

    def coefficient_errors(self, band: str) -> np.ndarray:
        """The 1-sigma coefficient errors of a band, ``sqrt(diag(covariance))``.

        Args:
            band: ``"bp"`` or ``"rp"``.

        Returns:
            ``(N, 55)`` float64, NaN where the band is missing.

        Example:
            >>> XPContinuous.empty(1).coefficient_errors("rp").shape
            (1, 55)
        """
        covariance = getattr(self, f"{band.lower()}_covariance")
        return np.sqrt(np.diagonal(covariance, axis1=1, axis2=2))  # (N, 55)


def _unpack_correlations(values: np.ndarray) -> np.ndarray | str:
    """A correlation cell as a ``(55, 55)`` matrix, as GaiaXPy's ``array_to_symmetric_matrix`` builds it."""
    if values.size == _N_PACKED or values.size == _N_PACKED_DIAGONAL:
        matrix = np.eye(_N)
        rows, cols = _TRIL if values.size == _N_PACKED else _TRIL_DIAGONAL
        matrix[rows, cols] = values
        matrix[cols, rows] = values
        return matrix
    if values.size == _N * _N:
        return values.reshape(_N, _N)  # a full matrix is used as it is, as in GaiaXPy
    return (f"has {values.size} values, expected {_N_PACKED} (packed lower triangle) "
            f"or {_N * _N} (full matrix)")


def _assemble_band(band: str, cells: BandCells, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Validate one band's cells and build its coefficients and covariance.

    Returns:
        ``coefficients (N, 55)``, ``covariance (N, 55, 55)`` (NaN rows where the band is missing or bad),
        ``has_correlations (N,)`` and, per star, the list of problems found.
    """
    name = band.upper()
    coefficients = np.full((n, _N), np.nan)
    covariance = np.full((n, _N, _N), np.nan)
    has_correlations = np.zeros(n, dtype=bool)
    problems: list[list[str]] = [[] for _ in range(n)]
    nan = np.full(n, np.nan)
    standard_deviation = nan if cells.standard_deviation is None else cells.standard_deviation
    n_parameters = nan if cells.n_parameters is None else cells.n_parameters
    basis_id = nan if cells.basis_function_id is None else cells.basis_function_id
    for i in range(n):
        values = cells.coefficients[i]
        found = problems[i]
        if isinstance(values, str):
            found.append(f"{band}_coefficients {values}")
            continue
        if values is None or np.isnan(values).all():
            continue  # the band is missing for this star
        if values.size != _N:
            found.append(f"{band}_coefficients has {values.size} values, expected {_N}")
        elif not np.isfinite(values).all():
            found.append(f"{band}_coefficients has non-finite values")
        if np.isfinite(basis_id[i]) and basis_id[i] != DR3_BASIS_FUNCTION_ID[band]:
            found.append(f"{band}_basis_function_id is {basis_id[i]:g}, not the DR3 {name} basis "
                         f"{DR3_BASIS_FUNCTION_ID[band]}")
        if values.size == _N and np.isfinite(n_parameters[i]) and n_parameters[i] != values.size:
            found.append(f"{band}_n_parameters is {n_parameters[i]:g} but {band}_coefficients has "
                         f"{values.size} values")
        packed = None if cells.covariances is None else cells.covariances[i]
        if found:
            pass  # the coefficients are unusable: their covariance does not matter
        elif packed is not None:  # Avro: packed covariance in units of standard_deviation**2
            if packed.size != _N_PACKED_DIAGONAL:
                found.append(f"{band}_coefficient_covariances has {packed.size} values, "
                             f"expected {_N_PACKED_DIAGONAL}")
            elif not (np.isfinite(standard_deviation[i]) and standard_deviation[i] > 0):
                found.append(f"{band}_standard_deviation is not a positive number")
            elif not np.isfinite(packed).all():
                found.append(f"{band}_coefficient_covariances has non-finite values")
            else:
                matrix = np.zeros((_N, _N))
                matrix[_TRIL_DIAGONAL] = packed
                matrix[_TRIL_DIAGONAL[1], _TRIL_DIAGONAL[0]] = packed
                covariance[i] = matrix * standard_deviation[i] ** 2
                has_correlations[i] = True
        else:
            errors = None if cells.errors is None else cells.errors[i]
            if errors is None or isinstance(errors, str):
                found.append(f"{band}_coefficient_errors {errors or 'is missing'}")
            elif errors.size != _N:
                found.append(f"{band}_coefficient_errors has {errors.size} values, expected {_N}")
            elif not (np.isfinite(errors).all() and (errors > 0).all()):
                found.append(f"{band}_coefficient_errors has values that are not finite and positive")
            correlation: np.ndarray | str = np.eye(_N)
            if cells.correlations is not None:
                packed = cells.correlations[i]
                correlation = "is missing" if packed is None else packed if isinstance(packed, str) \
                    else _unpack_correlations(packed)
                if isinstance(correlation, np.ndarray) and not np.isfinite(correlation).all():
                    correlation = "has non-finite values"
                if isinstance(correlation, str):
                    found.append(f"{band}_coefficient_correlations {correlation}")
            if not found:
                covariance[i] = errors[:, None] * correlation * errors[None, :]  # diag(e) C diag(e)
                has_correlations[i] = cells.correlations is not None
        if found:
            covariance[i] = np.nan
        else:
            coefficients[i] = values
    return coefficients, covariance, has_correlations, problems


def _is_diagonal(covariance: np.ndarray) -> np.ndarray:
    """``(B,)`` bool: covariance matrices ``(B, 55, 55)`` with nothing off the diagonal."""
    off_diagonal = covariance.copy()
    off_diagonal[:, np.arange(_N), np.arange(_N)] = 0.0
    return ~np.any(off_diagonal != 0, axis=(1, 2))


def _not_positive_definite(covariance: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: rows whose covariance is not (numerically) positive definite.

    A diagonal covariance needs positive variances only; any other gets a Cholesky factorisation of its
    correlation matrix (covariance scaled to unit diagonal), in blocks, one star at a time only inside a
    block that fails.
    """
    bad = np.zeros(len(covariance), dtype=bool)
    index = np.flatnonzero(rows)
    for start in range(0, len(index), _CHUNK):
        block = index[start:start + _CHUNK]
        sigma = np.sqrt(np.diagonal(covariance[block], axis1=1, axis2=2))  # (B, 55)
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = covariance[block] / (sigma[:, :, None] * sigma[:, None, :])  # (B, 55, 55)
        finite = np.isfinite(correlation).all(axis=(1, 2)) & (sigma > 0).all(axis=1)
        bad[block[~finite]] = True
        full = finite & ~_is_diagonal(covariance[block])
        try:
            np.linalg.cholesky(correlation[full])
        except np.linalg.LinAlgError:
            for j in np.flatnonzero(full):
                try:
                    np.linalg.cholesky(correlation[j])
                except np.linalg.LinAlgError:
                    bad[block[j]] = True
    return bad


def _compose_status(present: dict[str, np.ndarray], problems: list[list[str]]) -> np.ndarray:
    status = np.full(len(problems), STATUS_OK, dtype=object)
    for i, found in enumerate(problems):
        has_bp, has_rp = present["bp"][i], present["rp"][i]
        if found:
            status[i] = "; ".join(found)
        elif not has_bp and not has_rp:
            status[i] = "no BP or RP coefficients"
        elif not has_bp:
            status[i] = "missing BP"
        elif not has_rp:
            status[i] = "missing RP"
    return status


def _counts(values: np.ndarray | None, n: int) -> np.ndarray:
    """``(N,)`` int64 counts (0 where the file gives none or NaN)."""
    if values is None:
        return np.zeros(n, dtype=np.int64)
    return np.where(np.isfinite(values), values, 0).astype(np.int64)


def _or_nan(values: np.ndarray | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if values is None else np.asarray(values, dtype=np.float64)


def assemble_continuous(cells: ContinuousCells) -> XPContinuous:
    """Check a parsed file's cells and build the coefficients and covariances of every star.

    Args:
        cells: What a reader parsed (:func:`bayesxp.io.archive.continuous_cells_from_table`,
            :func:`bayesxp.io.avro.read_avro_cells`).

    Returns:
        The spectra, one row per star; a star with unusable data keeps its row with a status that says why,
        and an unusable id adds its note (such a star is still predicted).

    Example:
        >>> from bayesxp.io.archive import continuous_cells_from_table, read_xp_table
        >>> from bayesxp.paths import data_dir
        >>> path = data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW_with_missing_BP.csv"
        >>> assemble_continuous(continuous_cells_from_table(read_xp_table(path), path)).status.tolist()
        ['ok', 'missing BP', 'ok']
    """
    bands = cells.bands
    n = len(cells.source_id)
    built = {band: _assemble_band(band, bands[band], n) for band in BANDS}
    problems = [built["bp"][3][i] + built["rp"][3][i] for i in range(n)]
    present = {band: np.isfinite(built[band][0]).all(axis=1) for band in BANDS}
    for band in BANDS:
        bad = _not_positive_definite(built[band][1], present[band])
        for i in np.flatnonzero(bad):
            problems[i].append(f"{band.upper()} covariance is not positive definite")
    status = _compose_status(present, problems)
    # True where every band the star has came with its correlations (or covariance)
    has_correlations = (present["bp"] | present["rp"]) & (~present["bp"] | built["bp"][2]) \
        & (~present["rp"] | built["rp"][2])
    # n_parameters from the file where it has the column, else the number of coefficients read
    n_parameters = {band: np.where(present[band], _N if bands[band].n_parameters is None
                                   else _counts(bands[band].n_parameters, n), 0).astype(np.int64)
                    for band in BANDS}
    xp = XPContinuous(
        source_id=cells.source_id.astype(np.int64),
        bp_coefficients=built["bp"][0],
        rp_coefficients=built["rp"][0],
        bp_covariance=built["bp"][1],
        rp_covariance=built["rp"][1],
        bp_standard_deviation=_or_nan(bands["bp"].standard_deviation, n),
        rp_standard_deviation=_or_nan(bands["rp"].standard_deviation, n),
        bp_n_parameters=n_parameters["bp"],
        rp_n_parameters=n_parameters["rp"],
        bp_n_relevant_bases=_counts(bands["bp"].n_relevant_bases, n),
        rp_n_relevant_bases=_counts(bands["rp"].n_relevant_bases, n),
        phot_g_mean_flux=_or_nan(cells.phot_g_mean_flux, n),
        phot_g_mean_mag=_or_nan(cells.phot_g_mean_mag, n),
        has_correlations=has_correlations,
        status=status,
        meta=cells.meta.reset_index(drop=True),
        path=str(cells.path),
    )
    for i, why in cells.id_problems.items():
        xp.status[i] = with_note(xp.status[i], why)
    return xp


# ------------------------------------------------------------------------------------------- sampling


def _band_flux(coefficients: np.ndarray, covariance: np.ndarray, band: str) -> tuple[np.ndarray, np.ndarray]:
    """Absolute flux ``(M, 343)`` of one band on the grid and its variance ``diag(B^T S B)``."""
    basis = design_matrix(band)  # (55, 343)
    flux = coefficients @ basis  # (M, 343)
    variance = np.empty_like(flux)
    for start in range(0, len(flux), _CHUNK):
        block = slice(start, start + _CHUNK)
        diagonal = _is_diagonal(covariance[block])
        full = ~diagonal
        rows = np.arange(len(flux))[block]
        variances = np.diagonal(covariance[rows[diagonal]], axis1=1, axis2=2)  # (D, 55)
        variance[rows[diagonal]] = variances @ basis**2  # no correlations: sum_k e_k^2 B_kw^2
        n_full = int(full.sum())
        stacked = covariance[rows[full]].reshape(n_full * _N, _N)  # (F*55, 55): one GEMM, not F small ones
        projected = (stacked @ basis).reshape(n_full, _N, basis.shape[1])  # (F, 55, 343) = S B
        variance[rows[full]] = np.einsum("kw,bkw->bw", basis, projected)  # diag(B^T S B), (F, 343)
    return flux, variance


def continuous_to_sampled(xp: XPContinuous) -> SampledSpectra:
    """Sample continuous XP spectra on :data:`~bayesxp.spectra.WAVELENGTH_NM` and normalise them.

    The map is GaiaXPy's ``calibrate(..., sampling=WAVELENGTH_NM, truncation=False)``: per band
    ``flux_b = coefficients @ B_b`` with GaiaXPy's design matrix ``B_b`` (55, 343), errors
    ``sqrt(diag(B_b^T S_b B_b))`` from the full coefficient covariance ``S_b``, bands merged as
    ``w_bp flux_bp + w_rp flux_rp`` and ``sqrt(w_bp^2 e_bp^2 + w_rp^2 e_rp^2)``. A star with one band
    gets that band's flux alone, NaN over the wavelengths only the other band covers (RP alone: NaN at
    <= 635 nm; BP alone: NaN at >= 643 nm), as in GaiaXPy. The result is divided by its median flux.

    Args:
        xp: Continuous spectra, e.g. from :func:`bayesxp.xp.read.read_xp_continuous`.

    Returns:
        ``(N, 343)`` flux over ``medflux`` and its errors; ``medflux`` in W m^-2 nm^-1; ``status`` from
        ``xp`` (plus problems found here); ``meta`` with every scalar column of the file and
        ``has_correlations``. Unusable stars keep their row with NaN flux.

    Example:
        >>> from bayesxp.paths import data_dir
        >>> from bayesxp.xp.read import read_xp_continuous
        >>> spectra = continuous_to_sampled(read_xp_continuous(data_dir() / "xp_misc" / "XP_CONTINUOUS_RAW.csv"))
        >>> spectra.flux.shape, float(np.nanmedian(spectra.flux[0]))
        ((2, 343), 1.0)
    """
    n = len(xp)
    status = np.asarray(xp.status, dtype=object).copy()
    blocked = np.array([not (s == STATUS_OK or str(s).startswith("missing ")) for s in status], dtype=bool)
    present = {}
    problems: list[list[str]] = [[] for _ in range(n)]
    for band in BANDS:
        coefficients = getattr(xp, f"{band}_coefficients")
        covariance = getattr(xp, f"{band}_covariance")
        has = np.isfinite(coefficients).all(axis=1) & ~blocked
        partial = np.isfinite(coefficients).any(axis=1) & ~np.isfinite(coefficients).all(axis=1) & ~blocked
        for i in np.flatnonzero(partial):
            problems[i].append(f"{band}_coefficients has non-finite values")
        for i in np.flatnonzero(_not_positive_definite(covariance, has)):
            problems[i].append(f"{band.upper()} covariance is not positive definite")
        present[band] = has & ~partial
    for i, found in enumerate(problems):
        if found:
            status[i] = "; ".join(found)
            blocked[i] = True
    for band in BANDS:
        present[band] &= ~blocked
    no_band = ~blocked & ~present["bp"] & ~present["rp"]
    status[no_band] = "no BP or RP coefficients"

    flux = np.full((n, N_SAMPLES), np.nan)
    variance = np.full((n, N_SAMPLES), np.nan)
    band_flux = {}
    for band in BANDS:
        rows = present[band]
        band_flux[band] = (np.zeros((n, N_SAMPLES)), np.zeros((n, N_SAMPLES)))
        if rows.any():
            flux_of_band, variance_of_band = _band_flux(getattr(xp, f"{band}_coefficients")[rows],
                                                        getattr(xp, f"{band}_covariance")[rows], band)
            band_flux[band][0][rows], band_flux[band][1][rows] = flux_of_band, variance_of_band
    (flux_bp, variance_bp), (flux_rp, variance_rp) = band_flux["bp"], band_flux["rp"]
    weight_bp, weight_rp = merge_weights("bp"), merge_weights("rp")
    both = present["bp"] & present["rp"]
    flux[both] = flux_bp[both] * weight_bp + flux_rp[both] * weight_rp
    variance[both] = variance_bp[both] * weight_bp**2 + variance_rp[both] * weight_rp**2
    only_rp = present["rp"] & ~present["bp"]
    only_bp = present["bp"] & ~present["rp"]
    flux[only_rp], variance[only_rp] = flux_rp[only_rp], variance_rp[only_rp]
    flux[only_bp], variance[only_bp] = flux_bp[only_bp], variance_bp[only_bp]
    rp_only_range = WAVELENGTH_NM <= RP_RANGE_NM[0]  # GaiaXPy: RP alone gives nothing at <= 635 nm
    bp_only_range = WAVELENGTH_NM >= BP_RANGE_NM[1]  # BP alone gives nothing at >= 643 nm
    flux[np.ix_(only_rp, rp_only_range)] = np.nan
    variance[np.ix_(only_rp, rp_only_range)] = np.nan
    flux[np.ix_(only_bp, bp_only_range)] = np.nan
    variance[np.ix_(only_bp, bp_only_range)] = np.nan

    normalised, normalised_error, medflux = normalise_by_median(flux, np.sqrt(variance))
    no_median = np.isfinite(flux).any(axis=1) & ~np.isfinite(medflux)
    status[no_median] = "median flux is not positive; cannot normalise"
    meta = xp.meta.reset_index(drop=True).copy() if len(xp.meta) else pd.DataFrame(index=range(n))
    meta["has_correlations"] = np.asarray(xp.has_correlations, dtype=bool)
    return SampledSpectra(
        source_id=np.asarray(xp.source_id, dtype=np.int64),
        flux=normalised.astype(np.float32),
        flux_error=normalised_error.astype(np.float32),
        medflux=medflux,
        status=status,
        meta=meta,
    )

