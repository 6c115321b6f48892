"""Features of the Bayesian heads: frozen backbone embeddings, standardised and reduced by PCA (plain NumPy).

:class:`FeatureMap` is fitted on the heads' fitting stars and saved with the model, so that the Bayesian
part of a head (:mod:`bayesxp.model.heads`) is small enough for NUTS.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["FeatureMap"]


class FeatureMap:
    """Standardise then PCA-project frozen embeddings (fitted on training stars; plain NumPy).

    Args:
        n_components: Output dimension.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 8))
        >>> FeatureMap(3).fit(x).transform(x).shape
        (100, 3)
    """

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.components: np.ndarray | None = None  # (F, C)

    def fit(self, x: np.ndarray) -> FeatureMap:
        """Fit on ``(N, F)`` features."""
        x = np.asarray(x, np.float64)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0) + 1e-8
        z = (x - self.mean) / self.scale
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        k = min(self.n_components, vt.shape[0])
        # unit-variance components
        self.components = vt[:k].T / (singular[:k] / np.sqrt(len(z)))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(N, F)`` -> ``(N, C)``."""
        if self.components is None:
            raise RuntimeError("FeatureMap is not fitted")
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.components

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors for the model folder."""
        return {"mean": torch.tensor(self.mean), "scale": torch.tensor(self.scale),
                "components": torch.tensor(self.components)}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> FeatureMap:
        """Inverse of :meth:`state`."""
        feature_map = cls(state["components"].shape[1])
        feature_map.mean = state["mean"].numpy()
        feature_map.scale = state["scale"].numpy()
        feature_map.components = state["components"].numpy()
        return feature_map
