"""The any-to-any transformer backbone (plain torch), after Leung & Bovy (2024).

A star is a *set* of tokens: ``token = GELU(W[key] @ value + b[key])`` with no positional encoding, so the
output does not depend on token order. An encoder of pre-norm self-attention blocks reads the given
(context) tokens; a decoder answers *requests*: each requested key starts from a learned query embedding
and attends (cross-attention only, so requests do not influence each other) to the encoder output. For
every request the backbone returns its embedding (what the Bayesian heads read) and a Gaussian mean and
log variance per value component, in standardised units.

Shapes: B stars, T context tokens, R requests, P value width, D model width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["BackboneConfig", "Backbone", "BackboneOutput"]


@dataclass(frozen=True)
class BackboneConfig:
    """Size of the backbone.

    Attributes:
        d_model: Width D.
        n_heads: Attention heads.
        encoder_layers: Self-attention blocks over the context.
        decoder_layers: Cross-attention blocks of the requests.
        mlp_ratio: MLP hidden width over D.
        dropout: Dropout in attention and MLPs.
    """

    d_model: int = 96
    n_heads: int = 4
    encoder_layers: int = 3
    decoder_layers: int = 2
    mlp_ratio: int = 4
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")


@dataclass
class BackboneOutput:
    """What the backbone returns for R requests of B stars.

    Attributes:
        embedding: ``(B, R, D)`` request embeddings (input of the Bayesian heads).
        mean: ``(B, R, P)`` standardised predicted values.
        log_var: ``(B, R, P)`` their log variances.
    """

    embedding: torch.Tensor
    mean: torch.Tensor
    log_var: torch.Tensor


class TokenEmbedding(nn.Module):
    """``GELU(W[key] @ value + b[key])``; key 0 (padding) embeds to zero."""

    def __init__(self, n_keys: int, width: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_keys + 1, width, d_model) / width**0.5)
        self.bias = nn.Parameter(torch.randn(n_keys + 1, d_model) * 0.02)

    def forward(self, key_ids: torch.Tensor | None, values: torch.Tensor) -> torch.Tensor:
        """Embed tokens.

        Args:
            key_ids: ``(B, T)`` key ids; ``(T,)`` key ids shared by every star of the batch (a subset of the
                keys, one gather for the batch); or None for the full layout (slot k holds key k + 1, T = K).
                The shared forms need no per-star gather and are much faster.
            values: ``(B, T, P)``.

        Returns:
            ``(B, T, D)``.
        """
        if key_ids is None:
            token = torch.einsum("bkp,kpd->bkd", values, self.weight[1:]) + self.bias[1:]  # (B, K, D)
            return nn.functional.gelu(token)
        if key_ids.dim() == 1:
            token = torch.einsum("btp,tpd->btd", values, self.weight[key_ids]) + self.bias[key_ids]  # (B, T, D)
            return nn.functional.gelu(token) * (key_ids != 0)[:, None]
        weight = self.weight[key_ids]  # (B, T, P, D)
        token = torch.einsum("btp,btpd->btd", values, weight) + self.bias[key_ids]  # (B, T, D)
        token = nn.functional.gelu(token)
        return token * (key_ids != 0).unsqueeze(-1)


class CrossBlock(nn.Module):
    """Pre-norm cross-attention (queries -> context) then MLP; no self-attention between queries."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        d = config.d_model
        self.norm_query = nn.LayerNorm(d)
        self.norm_context = nn.LayerNorm(d)
        self.attention = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout, batch_first=True)
        self.norm_mlp = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, config.mlp_ratio * d), nn.GELU(), nn.Dropout(config.dropout),
                                 nn.Linear(config.mlp_ratio * d, d))

    def forward(self, query: torch.Tensor, context: torch.Tensor, context_padding: torch.Tensor) -> torch.Tensor:
        context = self.norm_context(context)
        attended, _ = self.attention(self.norm_query(query), context, context, key_padding_mask=context_padding,
                                     need_weights=False)
        query = query + attended  # (B, R, D)
        return query + self.mlp(self.norm_mlp(query))


class Backbone(nn.Module):
    """Encoder over context tokens, cross-attention decoder over requested keys.

    Args:
        n_keys: Number of token keys K (ids 1..K; 0 is padding).
        width: Value width P (the widest key; narrower keys use the first components).
        config: Sizes.

    Example:
        >>> net = Backbone(n_keys=5, width=2, config=BackboneConfig(d_model=16, n_heads=2,
        ...                encoder_layers=1, decoder_layers=1))
        >>> vals = torch.zeros(1, 5, 2); given = torch.tensor([[True, True, False, False, False]])
        >>> out = net(vals, given, torch.tensor([[4, 5]]))
        >>> tuple(out.mean.shape), tuple(out.embedding.shape)
        ((1, 2, 2), (1, 2, 16))
    """

    def __init__(self, n_keys: int, width: int, config: BackboneConfig | None = None) -> None:
        super().__init__()
        self.config = config or BackboneConfig()
        self.n_keys = n_keys
        self.width = width
        d = self.config.d_model
        self.embed = TokenEmbedding(n_keys, width, d)
        layer = nn.TransformerEncoderLayer(
            d, self.config.n_heads, dim_feedforward=self.config.mlp_ratio * d, dropout=self.config.dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, self.config.encoder_layers, enable_nested_tensor=False)
        self.query = nn.Embedding(n_keys + 1, d)
        self.decoder = nn.ModuleList(CrossBlock(self.config) for _ in range(self.config.decoder_layers))
        self.norm_out = nn.LayerNorm(d)
        self.out = nn.Linear(d, 2 * width)

    def encode(
        self, values: torch.Tensor, present: torch.Tensor, key_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder pass.

        Args:
            values: ``(B, T, P)`` standardised values.
            present: ``(B, T)`` bool, the tokens given as context (the rest is padding).
            key_ids: ``(B, T)`` long key ids, ``(T,)`` shared by the batch, or None for the full layout
                (T = K, slot k = key k + 1).

        Returns:
            ``(context (B, T, D), padding (B, T) bool)``.
        """
        padding = ~present
        if key_ids is not None:
            padding = padding | (key_ids == 0)
        tokens = self.embed(key_ids, values).masked_fill(padding.unsqueeze(-1), 0.0)  # (B, T, D)
        # a star with no context at all would make attention NaN: let it attend to one zero token
        empty = padding.all(dim=1)
        if empty.any():
            padding = padding.clone()
            padding[empty, 0] = False
        # no padding at all (inference on a compact layout): the unmasked kernel is ~20% faster on CPU
        mask = padding if padding.any() else None
        return self.encoder(tokens, src_key_padding_mask=mask), padding

    def decode(self, context: torch.Tensor, padding: torch.Tensor, request_ids: torch.Tensor) -> BackboneOutput:
        """Decoder pass for requested keys.

        Args:
            context: ``(B, T, D)`` encoder output.
            padding: ``(B, T)`` bool.
            request_ids: ``(B, R)`` long key ids (0 = empty request slot; its output is ignored).

        Returns:
            The request embeddings and Gaussian parameters.
        """
        query = self.query(request_ids)  # (B, R, D)
        for block in self.decoder:
            query = block(query, context, padding)
        embedding = self.norm_out(query)
        out = self.out(embedding)  # (B, R, 2P)
        mean, log_var = out[..., : self.width], out[..., self.width :]
        return BackboneOutput(embedding=embedding, mean=mean, log_var=log_var.clamp(-12.0, 8.0))

    def forward(
        self,
        values: torch.Tensor,
        present: torch.Tensor,
        request_ids: torch.Tensor,
        key_ids: torch.Tensor | None = None,
    ) -> BackboneOutput:
        """Encode the context and answer the requests.

        Args:
            values: ``(B, T, P)`` context values.
            present: ``(B, T)`` bool, which tokens are given.
            request_ids: ``(B, R)`` requested key ids (0 = empty slot).
            key_ids: ``(B, T)`` context key ids, ``(T,)`` shared by the batch, or None = the full layout (T = K).

        Returns:
            :class:`BackboneOutput`.
        """
        context, padding = self.encode(values, present, key_ids)
        return self.decode(context, padding, request_ids)
