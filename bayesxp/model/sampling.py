"""Random context/target sampling (Leung & Bovy 2024), so that one model serves every direction.

Each training star gets, per step, a context (the tokens the encoder sees) and requests (the keys the
decoder must predict), drawn from the tokens it has:

- *spectrum -> labels* (a fraction ``main_fraction`` of stars): context = every spectral token plus each
  photometric key with probability 1/2; requests = the labels not in the context.
- *random*: each present token is in the context with a star-specific probability drawn from U(0.1, 0.9);
  requests = the other present tokens, labels first, then spectral tokens at random, at most
  ``max_requests``.

All randomness comes from a generator seeded with ``(seed, step)``, so a resumed run draws exactly what an
uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SamplingPlan", "sample_batch", "step_generator"]


@dataclass(frozen=True)
class SamplingPlan:
    """Which keys play which role (0-based key indices into the tokenizer's keys).

    Attributes:
        spectral: Indices of spectral keys.
        labels: Indices of label keys (the prediction targets of interest).
        photometric: Indices of photometric/extinction keys (context in spectrum -> labels mode).
        main_fraction: Fraction of stars in spectrum -> labels mode.
        max_requests: Request slots per star R.
    """

    spectral: tuple[int, ...]
    labels: tuple[int, ...]
    photometric: tuple[int, ...]
    main_fraction: float = 0.7
    max_requests: int = 12


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of one training step (a pure function of seed and step).

    Example:
        >>> float(torch.rand(1, generator=step_generator(0, 5))) == float(torch.rand(1, generator=step_generator(0, 5)))
        True
    """
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))


def sample_batch(present: torch.Tensor, plan: SamplingPlan, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw contexts and requests for a batch.

    Args:
        present: ``(B, K)`` bool, tokens each star has.
        plan: Roles and sizes.
        generator: Source of randomness.

    Returns:
        ``(context (B, K) bool, request_ids (B, R) long)`` with request ids 1-based (0 = empty slot) and no
        request in the context.

    Example:
        >>> plan = SamplingPlan(spectral=(0, 1, 2), labels=(3,), photometric=(4,), max_requests=2)
        >>> context, request_ids = sample_batch(torch.ones(5, 5, dtype=torch.bool), plan, step_generator(0, 0))
        >>> context.shape, request_ids.shape
        (torch.Size([5, 5]), torch.Size([5, 2]))
    """
    batch, n_keys = present.shape
    device = present.device
    is_spectral = torch.zeros(n_keys, dtype=torch.bool, device=device)
    is_spectral[list(plan.spectral)] = True
    is_label = torch.zeros(n_keys, dtype=torch.bool, device=device)
    is_label[list(plan.labels)] = True
    is_photometric = torch.zeros(n_keys, dtype=torch.bool, device=device)
    is_photometric[list(plan.photometric)] = True

    main = torch.rand(batch, generator=generator) < plan.main_fraction  # (B,)
    coin = torch.rand(batch, n_keys, generator=generator)  # (B, K)
    main_context = present & (is_spectral | (is_photometric & (coin < 0.5)))
    keep_probability = 0.1 + 0.8 * torch.rand(batch, 1, generator=generator)
    random_context = present & (torch.rand(batch, n_keys, generator=generator) < keep_probability)
    context = torch.where(main[:, None], main_context, random_context)
    # never an empty context: give such a star its first present token
    empty = ~context.any(dim=1) & present.any(dim=1)
    if empty.any():
        first = present.float().argmax(dim=1)
        context[empty, first[empty]] = True

    candidates = present & ~context
    main_candidates = candidates & (is_label | is_photometric)
    candidates = torch.where(main[:, None], main_candidates, candidates)
    # priority: labels (2) > photometric (1) > spectral (0), random order within a class
    priority = is_label.float() * 2 + is_photometric.float() + torch.rand(batch, n_keys, generator=generator)
    score = torch.where(candidates, priority, torch.full_like(priority, -1.0))
    r = min(plan.max_requests, n_keys)
    top_score, top_index = score.topk(r, dim=1)  # (B, R)
    request_ids = torch.where(top_score >= 0, top_index + 1, torch.zeros_like(top_index))
    return context, request_ids
