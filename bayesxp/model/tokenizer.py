"""The tokenizer: every quantity of a star becomes a token ``(key id, value vector)``; missing -> padding.

Keys, in a fixed order (id 0 is padding):

- spectral keys, one of two designs (measured side by side, see the README):
  ``"patch"``: the 343 flux samples in consecutive patches of ``patch_size`` samples (``flux_000`` ...),
  each token's value the patch's flux vector; a patch with any masked sample is missing.
  ``"coefficients"``: MAP pseudo-coefficients on the DR3 Hermite bases (:mod:`bayesxp.xp.projection`),
  ``bp_0 .. bp_{n_bp-1}``, ``rp_0 .. rp_{n_rp-1}``, one scalar each;
- label keys: ``teff, logg, m_h, alpha_m, ln_mass, ln_age, bp_rp, j_h, j_k, ak_targ``.

Every key has per-component standardisation statistics (mean, std over the training stars) that travel with
the model (:meth:`Tokenizer.to_dict`). ``decode(encode(x)) == x`` for every present value.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from bayesxp.quantities import LABELS
from bayesxp.spectra import N_SAMPLES

__all__ = ["TokenizerConfig", "Tokenizer", "Tokens", "PAD_ID"]

PAD_ID = 0


@dataclass(frozen=True)
class TokenizerConfig:
    """How spectra become tokens.

    Attributes:
        spectral: ``"patch"`` or ``"coefficients"``.
        patch_size: Samples per patch (343 = 49 x 7).
        n_bp: BP pseudo-coefficients kept (coefficients design).
        n_rp: RP pseudo-coefficients kept.
        labels: Label keys, a subset of :data:`bayesxp.quantities.LABELS`.
    """

    spectral: str = "coefficients"
    patch_size: int = 7
    n_bp: int = 40
    n_rp: int = 40
    labels: tuple[str, ...] = LABELS

    def __post_init__(self) -> None:
        if self.spectral not in ("patch", "coefficients"):
            raise ValueError(f"spectral must be 'patch' or 'coefficients', not {self.spectral!r}")
        if self.spectral == "patch" and N_SAMPLES % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} does not divide {N_SAMPLES}")
        unknown = set(self.labels) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown label keys {sorted(unknown)}")


@dataclass
class Tokens:
    """Dense token arrays for N stars over all K keys (the trainer samples context and targets from them).

    Attributes:
        values: ``(N, K, P)`` float32 standardised values (0 where missing).
        errors: ``(N, K, P)`` float32 standardised 1-sigma errors (0 where unknown).
        present: ``(N, K)`` bool.
    """

    values: np.ndarray
    errors: np.ndarray
    present: np.ndarray

    def __len__(self) -> int:
        return self.values.shape[0]

    def take(self, index: np.ndarray | slice) -> Tokens:
        """Rows ``index``."""
        return Tokens(self.values[index], self.errors[index], self.present[index])


class Tokenizer:
    """Maps spectra and labels to standardised token arrays and back.

    Args:
        config: The token design.

    Example:
        >>> tok = Tokenizer(TokenizerConfig(spectral="patch"))
        >>> flux = np.ones((2, 343), np.float32); labels = np.full((2, len(LABELS)), np.nan, np.float32)
        >>> tok.fit(flux, flux * 0.01, labels, labels)
        >>> tokens = tok.encode(flux, flux * 0.01, labels, labels)
        >>> tokens.values.shape, int(tokens.present.sum())
        ((2, 59, 7), 98)
    """

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        config = self.config
        if config.spectral == "patch":
            n_patches = N_SAMPLES // config.patch_size
            self.spectral_keys = tuple(f"flux_{i:03d}" for i in range(n_patches))
            self.width = config.patch_size
        else:
            self.spectral_keys = tuple(f"bp_{i}" for i in range(config.n_bp)) + tuple(f"rp_{i}" for i in range(config.n_rp))
            self.width = 1
        self.label_keys = tuple(config.labels)
        self.keys = self.spectral_keys + self.label_keys
        self.key_width = np.array([self.width] * len(self.spectral_keys) + [1] * len(self.label_keys))
        self.mean = np.zeros((len(self.keys), self.width), np.float64)
        self.std = np.ones((len(self.keys), self.width), np.float64)
        self.fitted = False
        self._prior = None  # coefficients design: the MAP prior, saved with the model

    @property
    def prior(self):  # noqa: ANN201 - CoefficientPrior
        """The pseudo-coefficient prior (coefficients design); built from the real DR3 vectors on first use
        and then carried in :meth:`to_dict`, so a saved model needs no data folder."""
        if self._prior is None:
            from bayesxp.xp.projection import coefficient_prior

            self._prior = coefficient_prior()
        return self._prior

    # ids are 1-based: 0 is padding
    def key_id(self, key: str) -> int:
        """Token id of a key (1-based; 0 is padding)."""
        return self.keys.index(key) + 1

    @property
    def n_keys(self) -> int:
        """Number of keys K (excluding padding)."""
        return len(self.keys)

    def _spectral_raw(self, flux: np.ndarray | None, flux_error: np.ndarray | None, n: int
                      ) -> tuple[np.ndarray, np.ndarray]:
        """``(N, S, width)`` raw spectral values and errors (NaN where missing; all NaN without a flux)."""
        if flux is None:
            missing = np.full((n, len(self.spectral_keys), self.width), np.nan)
            return missing, np.zeros_like(missing)
        flux, flux_error = np.asarray(flux), np.asarray(flux_error)
        if self.config.spectral == "patch":
            shape = (n, len(self.spectral_keys), self.width)
            return flux.reshape(shape).astype(np.float64), flux_error.reshape(shape).astype(np.float64)
        from bayesxp.xp.projection import N_COEFFICIENTS, project_cached

        coefficients = project_cached(flux, flux_error, self.prior)  # (N, 110)
        keep = np.r_[np.arange(self.config.n_bp), N_COEFFICIENTS + np.arange(self.config.n_rp)]
        values = coefficients[:, keep][..., None]  # (N, S, 1)
        return values, np.zeros_like(values)

    def _raw(self, flux: np.ndarray | None, flux_error: np.ndarray | None, labels: np.ndarray,
             label_error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, K, width)`` raw values and errors, NaN-padded beyond each key's width."""
        spec_v, spec_e = self._spectral_raw(flux, flux_error, len(labels))
        columns = [LABELS.index(k) for k in self.label_keys]
        lab_v = np.full((len(labels), len(self.label_keys), self.width), np.nan)
        lab_e = np.full_like(lab_v, np.nan)
        lab_v[:, :, 0] = np.asarray(labels, np.float64)[:, columns]
        lab_e[:, :, 0] = np.asarray(label_error, np.float64)[:, columns]
        return np.concatenate([spec_v, lab_v], axis=1), np.concatenate([spec_e, lab_e], axis=1)

    def fit(self, flux: np.ndarray, flux_error: np.ndarray, labels: np.ndarray, label_error: np.ndarray) -> None:
        """Per-key, per-component mean and std over the given (training) stars.

        Args:
            flux: ``(N, 343)``.
            flux_error: ``(N, 343)``.
            labels: ``(N, len(LABELS))`` in :data:`bayesxp.quantities.LABELS` order.
            label_error: Same shape.
        """
        values, _ = self._raw(flux, flux_error, labels, label_error)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # unused components of narrow keys are all NaN
            self.mean = np.nan_to_num(np.nanmean(values, axis=0), nan=0.0)
            std = np.nanstd(values, axis=0)
        self.std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        self.fitted = True

    def encode(self, flux: np.ndarray | None, flux_error: np.ndarray | None, labels: np.ndarray,
               label_error: np.ndarray) -> Tokens:
        """Standardised dense tokens.

        Args:
            flux: ``(N, 343)`` (NaN = masked sample), or None: stars known by their labels alone (every
                spectral token absent, nothing projected).
            flux_error: ``(N, 343)``, or None with ``flux``.
            labels: ``(N, len(LABELS))`` (NaN = missing).
            label_error: Same shape.

        Returns:
            The tokens; a key is present when all its components are finite.
        """
        if not self.fitted:
            raise RuntimeError("the tokenizer has no statistics: call fit() or load one")
        values, errors = self._raw(flux, flux_error, labels, label_error)
        width_mask = np.arange(self.width)[None, :] < self.key_width[:, None]  # (K, width)
        finite = np.isfinite(values) | ~width_mask[None]
        present = finite.all(axis=2)
        # bounded: an absurd but finite input (flux 1e30) must not overflow float32 into inf/NaN features
        standard = np.clip((values - self.mean) / self.std, -1e4, 1e4)
        standard_err = np.nan_to_num(errors / self.std, nan=0.0, posinf=0.0)
        standard = np.where(width_mask[None] & present[..., None], standard, 0.0)
        standard_err = np.where(width_mask[None] & present[..., None], standard_err, 0.0)
        return Tokens(standard.astype(np.float32), standard_err.astype(np.float32), present)

    def decode(self, values: np.ndarray, key: str | None = None) -> np.ndarray:
        """Standardised values back to physical units.

        Args:
            values: ``(N, K, width)`` for all keys, or ``(N, width)`` / ``(N,)`` for one ``key``.
            key: Decode only this key.

        Returns:
            Physical values (NaN-free where the input is).
        """
        values = np.asarray(values, np.float64)
        if key is None:
            return values * self.std + self.mean
        k = self.keys.index(key)
        if values.ndim == 1:
            return values * self.std[k, 0] + self.mean[k, 0]
        return values * self.std[k] + self.mean[k]

    def decode_std(self, std: np.ndarray, key: str) -> np.ndarray:
        """Standardised standard deviations of one scalar key back to physical units."""
        return np.asarray(std, np.float64) * self.std[self.keys.index(key), 0]

    def to_dict(self) -> dict:
        """JSON-ready statistics and config (saved with every model)."""
        from bayesxp.config import to_dict

        state = {"config": to_dict(self.config), "keys": list(self.keys), "mean": self.mean.tolist(),
                 "std": self.std.tolist()}
        if self.config.spectral == "coefficients":
            state["prior"] = {"mean": self.prior.mean.tolist(), "covariance": self.prior.covariance.tolist(),
                              "n_sources": self.prior.n_sources}
        return state

    @classmethod
    def from_dict(cls, state: dict) -> Tokenizer:
        """Rebuild from :meth:`to_dict` output, checking the key list."""
        from bayesxp.config import from_dict

        tokenizer = cls(from_dict(TokenizerConfig, state["config"]))
        if list(tokenizer.keys) != list(state["keys"]):
            raise ValueError("tokenizer keys in the file do not match its config")
        tokenizer.mean = np.array(state["mean"], np.float64)
        tokenizer.std = np.array(state["std"], np.float64)
        expected = (tokenizer.n_keys, tokenizer.width)
        if tokenizer.mean.shape != expected or tokenizer.std.shape != expected:
            raise ValueError(f"tokenizer statistics have shapes {tokenizer.mean.shape} / {tokenizer.std.shape}, "
                             f"expected {expected}")
        if "prior" in state:
            from bayesxp.xp.projection import CoefficientPrior

            tokenizer._prior = CoefficientPrior(mean=np.array(state["prior"]["mean"], np.float64),
                                                covariance=np.array(state["prior"]["covariance"], np.float64),
                                                n_sources=int(state["prior"]["n_sources"]))
        tokenizer.fitted = True
        return tokenizer
