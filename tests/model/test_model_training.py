"""Training: exact resume from a checkpoint, and a data-parallel step equal to the single-process one."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bayesxp.data.dataset import TrainingSet
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.foundation import ModelSpec
from bayesxp.model.tokenizer import TokenizerConfig
from bayesxp.model.train import TrainConfig, Trainer, build_model

REPO = Path(__file__).resolve().parents[2]
DDP_SCRIPT = REPO / "tests" / "helpers" / "ddp_step.py"

# dropout on: the resumed run must also re-draw the same dropout masks; patch tokens: no data folder needed
SPEC = ModelSpec(tokenizer=TokenizerConfig(spectral="patch"),
                 backbone=BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, dropout=0.1))
CONFIG = TrainConfig(batch_size=16, max_steps=10, eval_every=4, warmup_steps=2, eval_stars=None, patience=100)


class Killed(Exception):
    """Stands for the process being killed."""


class RecordingTrainer(Trainer):
    """A Trainer that records every step's loss and can be 'killed' before a given step."""

    kill_at: int | None = None

    def train_step(self) -> float:
        if self.kill_at is not None and self.step == self.kill_at:
            raise Killed
        step = self.step
        loss = super().train_step()
        self.losses[step] = loss
        return loss

    @property
    def losses(self) -> dict[int, float]:
        if not hasattr(self, "_losses"):
            self._losses: dict[int, float] = {}
        return self._losses


def _trainer(run_dir: Path, cls: type[Trainer] = RecordingTrainer) -> Trainer:
    """A fresh trainer: same data, same initial weights (the seed fixes them), on ``run_dir``."""
    training_set = TrainingSet.synthetic(96, seed=3)
    training_set.split[64:] = "val"
    torch.manual_seed(0)
    model, train_tokens, val_tokens = build_model(training_set, SPEC)
    return cls(model, train_tokens, val_tokens, training_set.subset("val"), CONFIG, run_dir)


def _state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_killed_run_resumes_to_exactly_the_uninterrupted_losses(tmp_path):
    reference = _trainer(tmp_path / "reference")
    reference.fit(progress=False)
    assert sorted(reference.losses) == list(range(10))

    interrupted = _trainer(tmp_path / "run")
    interrupted.kill_at = 6  # killed after the checkpoint of step 4
    with pytest.raises(Killed):
        interrupted.fit(progress=False)
    assert sorted(interrupted.losses) == list(range(6))
    checkpoint = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 4

    resumed = _trainer(tmp_path / "run")  # a new process: fresh model and optimiser on the same folder
    summary = resumed.fit(progress=False)
    assert summary["resumed"] and summary["steps"] == 10
    assert sorted(resumed.losses) == list(range(4, 10))
    # bit-exact: losses, weights, optimiser state, validation record
    for step in range(4, 10):
        assert resumed.losses[step] == reference.losses[step], f"step {step}"
    for step in range(4):
        assert interrupted.losses[step] == reference.losses[step]
    assert _state_equal(resumed.model.state_dict(), reference.model.state_dict())
    a, b = resumed.optimiser.state_dict()["state"], reference.optimiser.state_dict()["state"]
    assert a.keys() == b.keys() and all(_state_equal(a[k], b[k]) for k in a)
    assert (resumed.best_step, resumed.best_nll) == (reference.best_step, reference.best_nll)
    assert [h["nll"] for h in resumed.history] == [h["nll"] for h in reference.history]


def test_resume_without_the_optimiser_state_is_detected(tmp_path):
    """The same equality check rejects a resume that restores the weights but not Adam's moments."""
    reference = _trainer(tmp_path / "reference")
    reference.fit(progress=False)
    interrupted = _trainer(tmp_path / "run")
    interrupted.kill_at = 6
    with pytest.raises(Killed):
        interrupted.fit(progress=False)
    broken = _trainer(tmp_path / "elsewhere")
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    broken.model.load_state_dict(state["model"])
    broken.step = state["step"]
    losses = [broken.train_step() for _ in range(4, 10)]
    assert losses[0] == reference.losses[4]  # same weights, same batch: the first loss agrees
    assert any(losses[k] != reference.losses[4 + k] for k in range(1, 6))


def test_resumed_metrics_file_matches_the_uninterrupted_one(tmp_path):
    reference = _trainer(tmp_path / "reference")
    reference.fit(progress=False)
    interrupted = _trainer(tmp_path / "run")
    interrupted.kill_at = 6
    with pytest.raises(Killed):
        interrupted.fit(progress=False)
    _trainer(tmp_path / "run").fit(progress=False)

    def records(folder: Path, drop: tuple[str, ...] = ("seconds",)) -> list[dict]:
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k not in drop} for line in lines]

    # everything but the running train-loss average agrees ...
    drop = ("seconds", "train_loss")
    assert records(tmp_path / "run", drop) == records(tmp_path / "reference", drop)
    # ... and that average restarts from the first resumed step
    assert records(tmp_path / "run") == records(tmp_path / "reference")


def test_keep_best_restores_the_best_weights_and_keep_last_the_final_ones(tmp_path, monkeypatch):
    from dataclasses import replace

    import bayesxp.model.train as train_module

    scripted = iter([0.0, 1.0, 2.0] * 2)  # validation NLL at steps 4, 8, 10: best at step 4, for both runs
    monkeypatch.setattr(train_module, "evaluate_labels", lambda *args, **kwargs: {"nll": next(scripted)})

    best = _trainer(tmp_path / "best")
    best.fit(progress=False)
    saved_best = torch.load(tmp_path / "best" / "best.pt", weights_only=True)
    last_checkpoint = torch.load(tmp_path / "best" / "checkpoint.pt", weights_only=True)
    assert (saved_best["step"], last_checkpoint["step"]) == (4, 10)
    assert _state_equal(best.model.state_dict(), saved_best["model"])

    last = _trainer(tmp_path / "last")
    last.config = replace(CONFIG, keep="last")
    summary = last.fit(progress=False)
    assert _state_equal(last.model.state_dict(), last_checkpoint["model"])
    assert not _state_equal(last.model.state_dict(), saved_best["model"])
    assert summary["kept"] == "last" and summary["validation"]["step"] == 10 and summary["best_step"] == 4
    with pytest.raises(ValueError, match="keep"):
        TrainConfig(keep="newest")


def test_fit_with_progress_off_prints_nothing(tmp_path, capsys):
    """``progress=False`` is documented (train_run) to hide the bar and the per-evaluation lines."""
    trainer = _trainer(tmp_path / "run", Trainer)
    trainer.fit(progress=False)
    assert (tmp_path / "run" / "metrics.jsonl").is_file()  # the evaluations did run
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# ---------------------------------------------------------------------- DDP

def _ddp_module():
    spec = importlib.util.spec_from_file_location("ddp_step", DDP_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ddp_out(tmp_path_factory) -> Path:
    """Run the two-process step once (gloo on CPU)."""
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(DDP_SCRIPT), str(out)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _single_process(case: str, tmp_path: Path) -> tuple[float, torch.Tensor, dict[str, torch.Tensor]]:
    trainer = _ddp_module().build(case, tmp_path / case)
    assert not trainer.distributed
    trainer.network.train()
    loss = trainer.loss_at(0)
    loss.backward()
    return float(loss.detach()), trainer.batch_rows(0), {n: p.grad for n, p in trainer.model.named_parameters()}


def _ranks(ddp_out: Path, case: str) -> list[dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    return [load_file(ddp_out / f"{case}-rank{rank}.safetensors") for rank in (0, 1)]


def _assert_same_step(ranks: list[dict[str, torch.Tensor]], loss: float, grads: dict[str, torch.Tensor]) -> None:
    averaged = float(np.mean([float(r["loss"]) for r in ranks]))
    assert averaged == pytest.approx(loss, rel=1e-5)
    for name, grad in grads.items():
        scale = float(grad.abs().max())
        torch.testing.assert_close(ranks[0][f"grad.{name}"], grad, rtol=1e-5, atol=1e-5 * scale, msg=name)


def test_ddp_ranks_share_the_global_batch_and_agree(ddp_out, tmp_path):
    for case in ("deterministic", "default"):
        ranks = _ranks(ddp_out, case)
        _, rows, grads = _single_process(case, tmp_path)
        both = torch.cat([r["rows"] for r in ranks])
        assert len(both) == len(rows) and sorted(both.tolist()) == sorted(rows.tolist())
        assert not set(ranks[0]["rows"].tolist()) & set(ranks[1]["rows"].tolist())
        for name in grads:  # all-reduced: identical on both ranks
            assert torch.equal(ranks[0][f"grad.{name}"], ranks[1][f"grad.{name}"]), name


def test_ddp_step_equals_the_single_process_step_with_deterministic_sampling(ddp_out, tmp_path):
    """Contexts = spectra, requests = all six labels: the averaged DDP gradient is the one-process gradient."""
    ranks = _ranks(ddp_out, "deterministic")
    loss, _, grads = _single_process("deterministic", tmp_path)
    _assert_same_step(ranks, loss, grads)
    # the comparison is sharp: the other case's single-process gradient is rejected
    _, _, other = _single_process("default", tmp_path)
    with pytest.raises(AssertionError):
        _assert_same_step(_ranks(ddp_out, "default"), loss, other)


def test_ddp_step_equals_the_single_process_step_with_the_default_sampling(ddp_out, tmp_path):
    loss, _, grads = _single_process("default", tmp_path)
    _assert_same_step(_ranks(ddp_out, "default"), loss, grads)


def test_under_ddp_rank_0_builds_the_training_set_before_the_others(tmp_path):
    """A cold cache is built once: rank 1 starts only after rank 0 has finished (and quietly); each rank keeps
    its own result. The same timing check catches ranks building at once (the defect: no ``build_once``)."""
    script = REPO / "tests" / "helpers" / "ddp_build_once.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               str(tmp_path)]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    zero, one = (json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1))
    assert one["ok"]["start"] >= zero["ok"]["end"] and one["ok"]["quiet"] and not zero["ok"]["quiet"]
    assert (zero["ok"]["result"], one["ok"]["result"]) == ("set of rank 0", "set of rank 1")
    assert one["racing"]["start"] < zero["racing"]["end"]
