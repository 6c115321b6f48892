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

    With ``blocks > 1`` the input columns are that many equal blocks (e.g. the request embeddings of several
    labels, concatenated) and each block gets its own ``n_components`` PCA components: the projection is
    block-diagonal, the output ``blocks * n_components`` wide, block ``b``'s features in columns
    ``b * n_components ...``. A saved map holds only the projection, so loading needs no block count.

    Args:
        n_components: Output dimension (per block).
        blocks: Equal column blocks of the input, projected separately.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 8))
        >>> FeatureMap(3).fit(x).transform(x).shape, FeatureMap(3, blocks=2).fit(x).transform(x).shape
        ((100, 3), (100, 6))
    """

    def __init__(self, n_components: int, blocks: int = 1) -> None:
        if blocks < 1:
            raise ValueError(f"blocks must be at least 1, not {blocks}")
        self.n_components, self.blocks = n_components, blocks
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.components: np.ndarray | None = None  # (F, C)

    def fit(self, x: np.ndarray) -> FeatureMap:
        """Fit on ``(N, F)`` features."""
        x = np.asarray(x, np.float64)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0) + 1e-8
        z = (x - self.mean) / self.scale
        if z.shape[1] % self.blocks:
            raise ValueError(f"{z.shape[1]} input columns do not split into {self.blocks} equal blocks")
        width = z.shape[1] // self.blocks
        parts = []
        for b in range(self.blocks):
            _, singular, vt = np.linalg.svd(z[:, b * width : (b + 1) * width], full_matrices=False)
            k = min(self.n_components, vt.shape[0])
            part = np.zeros((z.shape[1], k))
            part[b * width : (b + 1) * width] = vt[:k].T / (singular[:k] / np.sqrt(len(z)))  # unit variance
            parts.append(part)
        self.components = np.concatenate(parts, axis=1)
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
        feature_map = cls(state["components"].shape[1])  # the block structure is in the projection itself
        feature_map.mean = state["mean"].numpy()
        feature_map.scale = state["scale"].numpy()
        feature_map.components = state["components"].numpy()
        return feature_map
