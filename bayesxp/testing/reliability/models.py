"""Damaged model folders against ``bayesxp predict`` and damaged training checkpoints against ``Trainer.fit``."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from bayesxp.testing.reliability.outcomes import CRASH, ERROR, TRANSPARENT, VAGUE, _call, _quiet
from bayesxp.testing.reliability.runner import Runner, _predict_outcome, copy_model, run_predict

__all__ = ["model_cases", "checkpoint_cases"]


def _rehash(folder: Path) -> None:
    from bayesxp.model.folder import sha256_file

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = {name: sha256_file(folder / name) for name in manifest["sha256"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _model_variants() -> list[tuple[str, Callable[[Path], None]]]:
    def version(folder: Path) -> None:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["format_version"], manifest["bayesxp_version"] = 99, "9.0.0"
        (folder / "manifest.json").write_text(json.dumps(manifest))

    def flip_byte(folder: Path) -> None:
        data = bytearray((folder / "weights.safetensors").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "weights.safetensors").write_bytes(bytes(data))

    def truncate_weights(folder: Path) -> None:
        data = (folder / "weights.safetensors").read_bytes()
        (folder / "weights.safetensors").write_bytes(data[: len(data) // 2])
        _rehash(folder)

    def garbage_weights(folder: Path) -> None:
        (folder / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
        _rehash(folder)

    def pickle_weights(folder: Path) -> None:
        import pickle

        (folder / "weights.safetensors").write_bytes(pickle.dumps({"x": 1}))
        _rehash(folder)

    def wrong_shapes(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "weights.safetensors"))
        name = next(k for k in state if k.startswith("foundation."))
        state[name] = state[name].flatten()[:-1].clone()
        save_file(state, str(folder / "weights.safetensors"))
        _rehash(folder)

    def missing(name: str) -> Callable[[Path], None]:
        return lambda folder: (folder / name).unlink()

    def bad_config(folder: Path) -> None:
        text = (folder / "config.yaml").read_text().replace("d_model:", "width_of_model:")
        (folder / "config.yaml").write_text(text)
        _rehash(folder)

    def config_not_yaml(folder: Path) -> None:
        (folder / "config.yaml").write_text("model: [unclosed\n")
        _rehash(folder)

    def tokenizer_shape(folder: Path) -> None:
        state = json.loads((folder / "tokenizer.json").read_text())
        state["mean"] = state["mean"][:-3]
        (folder / "tokenizer.json").write_text(json.dumps(state))
        _rehash(folder)

    def manifest_list(folder: Path) -> None:
        (folder / "manifest.json").write_text("[]")

    def manifest_garbage(folder: Path) -> None:
        (folder / "manifest.json").write_text("{not json")

    def head_missing(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        state = load_file(str(folder / "weights.safetensors"))
        state = {k: v for k, v in state.items() if not k.startswith("heads.teff.")}
        save_file(state, str(folder / "weights.safetensors"))
        _rehash(folder)

    return [
        ("model folder of another format version", version),
        ("tampered weight file (one byte flipped)", flip_byte),
        ("truncated weights, manifest re-hashed", truncate_weights),
        ("weights not safetensors, manifest re-hashed", garbage_weights),
        ("a pickle as weights, manifest re-hashed", pickle_weights),
        ("weights of the wrong shape, manifest re-hashed", wrong_shapes),
        ("a head missing from the weights, re-hashed", head_missing),
        ("model folder missing tokenizer.json", missing("tokenizer.json")),
        ("model folder missing weights.safetensors", missing("weights.safetensors")),
        ("model folder missing manifest.json", missing("manifest.json")),
        ("config of another version (unknown key), re-hashed", bad_config),
        ("config.yaml not YAML, re-hashed", config_not_yaml),
        ("tokenizer statistics of the wrong shape, re-hashed", tokenizer_shape),
        ("manifest.json a JSON list", manifest_list),
        ("manifest.json not JSON", manifest_garbage),
    ]


def model_cases(runner: Runner) -> None:
    """``bayesxp predict`` with damaged model folders (each variant of :func:`_model_variants`, and none).

    Example:
        >>> model_cases(runner)  # doctest: +SKIP
    """
    workspace = runner.workspace
    stars = runner.clean_file("packed", ".csv")
    for name, edit in _model_variants():
        folder = copy_model(runner.model, workspace)
        edit(folder)
        output = workspace.fresh("out.csv")
        run = run_predict(stars, output, folder, runner.cli)
        outcome, escaped, detail = _predict_outcome(run, (folder,))
        if not outcome:
            outcome, detail = TRANSPARENT, f"predicted {len(run.table)} stars with a broken model"
        runner.add(name, "model folder", "predict", outcome, escaped, outcome == ERROR,
                   detail.replace(str(folder), "<model>"))
    runner.add("model folder does not exist", "model folder", "predict",
               *_simple_predict(runner, stars, workspace.fresh("nowhere"), "nowhere"))


def _simple_predict(runner: Runner, stars: Path, model: Path, name: str) -> tuple[str, bool, bool, str]:
    run = run_predict(stars, runner.workspace.fresh("out.csv"), model, runner.cli)
    outcome, escaped, detail = _predict_outcome(run, (model,))
    return outcome or TRANSPARENT, escaped, outcome == ERROR, detail


def checkpoint_cases(runner: Runner) -> None:
    """A training checkpoint from another model version, truncated, or holding a pickled object.

    Example:
        >>> checkpoint_cases(runner)  # doctest: +SKIP
    """
    import torch

    from bayesxp.data.dataset import TrainingSet
    from bayesxp.model.backbone import BackboneConfig
    from bayesxp.model.foundation import ModelSpec
    from bayesxp.model.train import TrainConfig, Trainer, build_model

    def trainer(run_dir: Path, d_model: int = 16) -> Trainer:
        stars = TrainingSet.synthetic(48, seed=3)
        stars.split[32:] = "val"
        torch.manual_seed(0)
        spec = ModelSpec(backbone=BackboneConfig(d_model=d_model, n_heads=2, encoder_layers=1, decoder_layers=1))
        model, train_tokens, val_tokens = build_model(stars, spec)
        config = TrainConfig(batch_size=16, max_steps=2, eval_every=1, warmup_steps=1, eval_stars=None)
        return Trainer(model, train_tokens, val_tokens, stars.subset("val"), config, run_dir)

    other = runner.workspace.fresh("other_run")
    with _quiet():
        trainer(other, d_model=8).fit(progress=False)

    def other_version(run_dir: Path) -> None:
        shutil.copy(other / "checkpoint.pt", run_dir / "checkpoint.pt")

    def truncated(run_dir: Path) -> None:
        data = (other / "checkpoint.pt").read_bytes()
        (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])

    def pickled(run_dir: Path) -> None:
        torch.save({"model": argparse.Namespace(weights=1), "step": 1}, run_dir / "checkpoint.pt")

    for name, edit in (("training checkpoint of another model version", other_version),
                       ("truncated training checkpoint", truncated),
                       ("training checkpoint holding a pickled object", pickled)):
        run_dir = runner.workspace.fresh("run")
        run_dir.mkdir()
        edit(run_dir)
        _, exc, _ = _call(lambda run_dir=run_dir: trainer(run_dir).fit(progress=False))
        from bayesxp.errors import BayesXPError

        if exc is None:
            runner.add(name, "checkpoint", "Trainer.fit", TRANSPARENT, False, False, "resumed from a bad checkpoint")
        elif isinstance(exc, BayesXPError):
            named = "checkpoint" in str(exc)
            runner.add(name, "checkpoint", "Trainer.fit", ERROR if named else VAGUE, False, named,
                       str(exc).replace(str(run_dir), "<run>"))
        else:
            runner.add(name, "checkpoint", "Trainer.fit", CRASH, True, False,
                       f"{type(exc).__name__}: {str(exc)[:160]}")

