"""The foundation model object: tokenizer + backbone, with spectrum -> label prediction.

:class:`FoundationModel` is what training produces and what a model folder stores. Its
:meth:`FoundationModel.predict_labels` gives, for each requested label, a Gaussian (mean, std) in physical
units from whatever context a star has (spectrum alone, or spectrum and colours).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from bayesxp.model.backbone import Backbone, BackboneConfig, BackboneOutput
from bayesxp.model.sampling import SamplingPlan
from bayesxp.model.tokenizer import Tokenizer, TokenizerConfig, Tokens
from bayesxp.quantities import LABELS, PHOTOMETRIC_LABELS, TARGET_LABELS

__all__ = ["ModelSpec", "FoundationModel", "gaussian_nll"]


def gaussian_nll(mean: torch.Tensor, log_var: torch.Tensor, target: torch.Tensor, target_error: torch.Tensor,
                 valid: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian NLL over valid entries, the target's own error added to the predicted variance.

    Args:
        mean: ``(B, R, P)``.
        log_var: ``(B, R, P)``.
        target: ``(B, R, P)``.
        target_error: ``(B, R, P)`` 1-sigma (standardised units).
        valid: ``(B, R, P)`` bool.

    Returns:
        Scalar loss (0 when nothing is valid).

    Example:
        >>> zero = torch.zeros(1, 1, 1)
        >>> float(gaussian_nll(zero, zero, zero, zero, torch.ones(1, 1, 1, dtype=torch.bool)))
        0.0
    """
    variance = log_var.exp() + target_error**2
    nll = 0.5 * (torch.log(variance) + (target - mean) ** 2 / variance)
    weight = valid.float()
    return (nll * weight).sum() / weight.sum().clamp_min(1.0)


@dataclass(frozen=True)
class ModelSpec:
    """What a foundation model is made of (saved with it).

    Attributes:
        tokenizer: Token design.
        backbone: Backbone sizes.
    """

    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)


def _context_groups(context: np.ndarray, min_group: int = 32) -> list[np.ndarray]:
    """Rows of a batch to run together: each context pattern that at least ``min_group`` stars share (run
    without padding), then every other star in one masked group.

    Example:
        >>> context = np.array([[True, True]] * 40 + [[True, False]] * 3)
        >>> [len(rows) for rows in _context_groups(context)]
        [40, 3]
    """
    patterns, group, counts = np.unique(context, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    groups = [np.flatnonzero(group == g) for g in np.flatnonzero(counts >= min_group)]
    rest = np.flatnonzero(counts[group] < min_group)
    return groups + ([rest] if len(rest) else [])


class FoundationModel(torch.nn.Module):
    """Tokenizer and backbone together.

    Args:
        tokenizer: A fitted tokenizer.
        backbone_config: Backbone sizes.
    """

    def __init__(self, tokenizer: Tokenizer, backbone_config: BackboneConfig | None = None) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.backbone = Backbone(tokenizer.n_keys, tokenizer.width, backbone_config)
        self.register_buffer("key_width", torch.tensor(tokenizer.key_width, dtype=torch.long), persistent=False)

    @property
    def spec(self) -> ModelSpec:
        """The model's construction spec."""
        return ModelSpec(tokenizer=self.tokenizer.config, backbone=self.backbone.config)

    def sampling_plan(self, main_fraction: float = 0.7, max_requests: int = 12) -> SamplingPlan:
        """Key roles for :func:`bayesxp.model.sampling.sample_batch`."""
        keys = self.tokenizer.keys
        return SamplingPlan(
            spectral=tuple(range(len(self.tokenizer.spectral_keys))),
            labels=tuple(keys.index(k) for k in TARGET_LABELS if k in keys),
            photometric=tuple(keys.index(k) for k in PHOTOMETRIC_LABELS if k in keys),
            main_fraction=main_fraction,
            max_requests=max_requests,
        )

    def request_targets(self, values: torch.Tensor, errors: torch.Tensor, request_ids: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gather the true values of requested keys.

        Args:
            values: ``(B, K, P)`` all tokens of the stars.
            errors: ``(B, K, P)``.
            request_ids: ``(B, R)`` 1-based ids, 0 = empty.

        Returns:
            ``(target (B, R, P), target_error (B, R, P), valid (B, R, P) bool)``.
        """
        index = (request_ids - 1).clamp_min(0)  # (B, R)
        gather = index[..., None].expand(-1, -1, values.shape[-1])
        target = values.gather(1, gather)
        target_error = errors.gather(1, gather)
        width = self.key_width[index]  # (B, R)
        component = torch.arange(values.shape[-1], device=values.device)
        valid = (request_ids > 0)[..., None] & (component[None, None] < width[..., None])
        return target, target_error, valid

    def forward(self, values: torch.Tensor, context: torch.Tensor, request_ids: torch.Tensor) -> BackboneOutput:
        """Backbone pass on the full key layout with a context mask.

        Args:
            values: ``(B, K, P)``.
            context: ``(B, K)`` bool.
            request_ids: ``(B, R)``.
        """
        return self.backbone(values * context[..., None], context, request_ids)

    @torch.no_grad()
    def predict_tokens(self, tokens: Tokens, context_keys: tuple[str, ...] | None = None,
                       request: tuple[str, ...] = TARGET_LABELS, batch_size: int = 512
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardised Gaussian predictions and embeddings of requested keys.

        Args:
            tokens: Encoded stars.
            context_keys: Keys allowed in the context (default: spectral keys and photometry); each star
                uses those it has.
            request: Keys to predict.
            batch_size: Stars per forward pass.

        Returns:
            ``(mean (N, R), std (N, R), embedding (N, R, D))`` in standardised units (first component).
        """
        self.eval()
        keys = self.tokenizer.keys
        allowed = np.zeros(len(keys), dtype=bool)
        for key in context_keys if context_keys is not None else self.tokenizer.spectral_keys + PHOTOMETRIC_LABELS:
            if key in keys:
                allowed[keys.index(key)] = True
        request_ids = torch.tensor([keys.index(k) + 1 for k in request], dtype=torch.long)
        n, n_request = len(tokens), len(request)
        means, stds = np.empty((n, n_request), np.float32), np.empty((n, n_request), np.float32)
        embeddings = np.empty((n, n_request, self.backbone.config.d_model), np.float32)
        for start in range(0, n, batch_size):
            part = tokens.take(slice(start, start + batch_size))
            context = part.present & allowed[None]
            for rows in _context_groups(context):
                out = self._forward_compact(part.values[rows], context[rows], request_ids)
                means[start + rows] = out.mean[..., 0].numpy()
                stds[start + rows] = torch.exp(0.5 * out.log_var[..., 0]).numpy()
                embeddings[start + rows] = out.embedding.numpy()
        return means, stds, embeddings

    def _forward_compact(self, values: np.ndarray, context: np.ndarray, request_ids: torch.Tensor) -> BackboneOutput:
        """Backbone pass on only the keys some of these stars give (``(B, K, P)`` values, ``(B, K)`` context);
        the encoder skips its padding mask when every star gives them all."""
        ids = request_ids.expand(len(values), -1)
        columns = np.flatnonzero(context.any(axis=0))
        if not len(columns):  # no context at all: the full layout, whose encoder handles it
            return self(torch.from_numpy(values), torch.from_numpy(context), ids)
        present = torch.from_numpy(np.ascontiguousarray(context[:, columns]))
        compact = torch.from_numpy(np.ascontiguousarray(values[:, columns])) * present[..., None]
        return self.backbone(compact, present, ids, key_ids=torch.from_numpy(columns + 1))

    def predict_labels(self, flux: np.ndarray, flux_error: np.ndarray, labels: np.ndarray | None = None,
                       context_keys: tuple[str, ...] | None = None, request: tuple[str, ...] = TARGET_LABELS
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Gaussian predictions in physical units.

        Args:
            flux: ``(N, 343)``.
            flux_error: ``(N, 343)``.
            labels: ``(N, len(LABELS))`` known labels usable as context (photometry), NaN = unknown.
            context_keys: Keys allowed as context (default: spectrum and photometry).
            request: Keys to predict.

        Returns:
            ``{key: (mean (N,), std (N,))}`` in the key's physical units (ln Msun / ln Gyr for mass, age).
        """
        n = len(flux)
        if labels is None:
            labels = np.full((n, len(LABELS)), np.nan, np.float32)
        tokens = self.tokenizer.encode(flux, flux_error, labels, np.zeros_like(labels))
        mean, std, _ = self.predict_tokens(tokens, context_keys, request)
        return {key: (self.tokenizer.decode(mean[:, r], key), self.tokenizer.decode_std(std[:, r], key))
                for r, key in enumerate(request)}
