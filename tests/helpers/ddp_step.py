"""One data-parallel training step on CPU (gloo), compared by ``tests/model/test_model_training.py``.

Usage::

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/helpers/ddp_step.py OUT

For each case of :data:`CASES` every rank builds the same tiny model and training set (:func:`build`),
wraps it in DDP through :class:`bayesxp.model.train.Trainer`, computes the loss of step 0 on its shard of the
global batch and back-propagates (DDP averages the gradients over the ranks). Rank ``r`` writes
``OUT/<case>-rank<r>.safetensors``: ``loss`` (its shard's loss), ``rows`` (its shard's rows) and
``grad.<name>`` for every parameter. The test computes the same step in one process with :func:`build`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from bayesxp.data.dataset import TrainingSet
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.foundation import ModelSpec
from bayesxp.model.tokenizer import TokenizerConfig
from bayesxp.model.train import TrainConfig, Trainer, build_model
from bayesxp.quantities import TARGET_LABELS

#: case -> (token labels, fraction of spectrum -> labels stars)
CASES = {
    # every draw of sample_batch is then independent of the batch size: contexts are the spectra, requests
    # all six labels, so each shard has the same number of targets
    "deterministic": (TARGET_LABELS, 1.0),
    # the training defaults: photometric keys in the context at random, 30 % random-mode stars
    "default": (TokenizerConfig().labels, 0.7),
}
BATCH_SIZE = 16


def build(case: str, run_dir: str | Path) -> Trainer:
    """The trainer of a case (distributed when a process group is initialised).

    Args:
        case: A key of :data:`CASES`.
        run_dir: Folder for the trainer's files.

    Returns:
        The trainer, its model initialised from ``torch.manual_seed(0)``.
    """
    labels, main_fraction = CASES[case]
    training_set = TrainingSet.synthetic(48, seed=5)
    training_set.split[40:] = "val"
    spec = ModelSpec(tokenizer=TokenizerConfig(spectral="patch", labels=labels),
                     backbone=BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1))
    torch.manual_seed(0)
    model, train_tokens, val_tokens = build_model(training_set, spec)
    config = TrainConfig(batch_size=BATCH_SIZE, max_steps=4, warmup_steps=1, eval_every=2, eval_stars=None,
                         main_fraction=main_fraction)
    return Trainer(model, train_tokens, val_tokens, training_set.subset("val"), config, run_dir)


def main(out: Path) -> None:
    """Run every case on this rank and write its file."""
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    try:
        for case in CASES:
            trainer = build(case, out / f"run-{case}-rank{rank}")
            assert trainer.distributed and trainer.world == 2
            trainer.network.train()
            loss = trainer.loss_at(0)
            loss.backward()
            tensors = {"loss": loss.detach().reshape(1), "rows": trainer.batch_rows(0).contiguous()}
            tensors.update({f"grad.{name}": p.grad.detach().clone() for name, p in trainer.model.named_parameters()})
            save_file(tensors, str(out / f"{case}-rank{rank}.safetensors"))
    finally:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
