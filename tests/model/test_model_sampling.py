"""Context/request sampling: disjoint, drawn from present tokens, and a pure function of (seed, step)."""

from __future__ import annotations

import pytest
import torch

from bayesxp.model.sampling import SamplingPlan, sample_batch, step_generator

# 20 spectral keys, 6 labels, 4 photometric keys (the layout of FoundationModel.sampling_plan, smaller)
SPECTRAL, LABELS, PHOTOMETRIC = tuple(range(20)), tuple(range(20, 26)), tuple(range(26, 30))
N_KEYS = 30


def _present(batch: int = 400, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    present = torch.rand(batch, N_KEYS, generator=generator) < 0.8
    present[:5] = False  # stars without any token
    present[5, :] = False
    present[5, 22] = True  # a star with one label only
    return present


def _requested(request_ids: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` bool mask of requested keys."""
    mask = torch.zeros(len(request_ids), N_KEYS + 1, dtype=torch.bool)
    mask.scatter_(1, request_ids, True)
    return mask[:, 1:]


@pytest.mark.parametrize("main_fraction", [0.0, 0.7, 1.0])
def test_contexts_and_requests_are_disjoint_and_present(main_fraction):
    present = _present()
    plan = SamplingPlan(SPECTRAL, LABELS, PHOTOMETRIC, main_fraction=main_fraction, max_requests=12)
    for step in range(5):
        context, request_ids = sample_batch(present, plan, step_generator(0, step))
        assert context.shape == present.shape and request_ids.shape == (len(present), 12)
        assert request_ids.dtype == torch.long and request_ids.min() >= 0 and request_ids.max() <= N_KEYS
        requested = _requested(request_ids)
        assert not (context & requested).any(), "a requested key is also in the context"
        assert not (context & ~present).any(), "an absent token is in the context"
        assert not (requested & ~present).any(), "an absent key is requested"
        # no key requested twice in a star
        real = request_ids.clamp_min(0)
        counts = torch.zeros(len(real), N_KEYS + 1).scatter_add_(1, real, torch.ones_like(real, dtype=torch.float))
        assert counts[:, 1:].max() <= 1
        # every star with a token gets a non-empty context; stars without tokens get nothing
        has = present.any(dim=1)
        assert context[has].any(dim=1).all() and not context[~has].any() and not requested[~has].any()


def test_main_mode_stars_see_their_whole_spectrum_and_predict_labels():
    present = _present()
    plan = SamplingPlan(SPECTRAL, LABELS, PHOTOMETRIC, main_fraction=1.0, max_requests=12)
    context, request_ids = sample_batch(present, plan, step_generator(3, 0))
    spectral = torch.zeros(N_KEYS, dtype=torch.bool)
    spectral[list(SPECTRAL)] = True
    has_spectrum = (present & spectral).any(dim=1)
    assert torch.equal(context[:, spectral][has_spectrum], present[:, spectral][has_spectrum])
    requested = _requested(request_ids)
    assert not requested[:, spectral].any(), "main mode requests only labels and photometry"
    # every present label is requested (10 label+photometric keys fit in 12 slots)
    labels = list(LABELS)
    assert torch.equal(requested[:, labels], present[:, labels] & ~context[:, labels])
    assert not context[:, labels][has_spectrum].any(), "a label leaked into a main-mode context"
    # photometry enters the context about half the time
    photometric = list(PHOTOMETRIC)
    share = (context[:, photometric].sum() / present[:, photometric].sum()).item()
    assert 0.4 < share < 0.6


def test_random_mode_requests_labels_first_and_respects_the_request_budget():
    present = _present()
    plan = SamplingPlan(SPECTRAL, LABELS, PHOTOMETRIC, main_fraction=0.0, max_requests=4)
    context, request_ids = sample_batch(present, plan, step_generator(0, 1))
    requested = _requested(request_ids)
    assert request_ids.shape[1] == 4 and requested.sum(dim=1).max() <= 4
    # a spectral key is requested only when no label candidate was left out
    label_left = (present & ~context & ~requested)[:, list(LABELS)].any(dim=1)
    assert not requested[:, list(SPECTRAL)][label_left].any()
    # random mode does request spectral tokens
    assert requested[:, list(SPECTRAL)].any()


def test_same_seed_and_step_give_identical_draws_and_others_differ():
    present = _present()
    plan = SamplingPlan(SPECTRAL, LABELS, PHOTOMETRIC)
    a = sample_batch(present, plan, step_generator(7, 11))
    b = sample_batch(present, plan, step_generator(7, 11))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    for seed, step in ((7, 12), (8, 11)):
        c = sample_batch(present, plan, step_generator(seed, step))
        assert not torch.equal(a[0], c[0])
    # the generator is the only source of randomness: the global torch seed does not matter
    torch.manual_seed(123)
    d = sample_batch(present, plan, step_generator(7, 11))
    assert torch.equal(a[0], d[0]) and torch.equal(a[1], d[1])
