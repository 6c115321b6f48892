"""Faults: a killed prediction resumes exactly, full disks and read-only folders give one clear message and
leave the old file intact, a killed training resumes to the same loss, damaged model folders are refused
saying what differs, and loading a model never unpickles.

Bugs these tests found were fixed at their source; the tests keep them fixed (the catalogue of bad inputs
and outcomes is in ``benchmarks/results/reliability.md``).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.table import Table
from reliability_helpers import N_STARS

import bayesxp.predict as predict_module
from bayesxp.cli import main
from bayesxp.errors import BayesXPError, ModelFileError
from bayesxp.io import tables
from bayesxp.io.tables import atomic_path, read_table, write_table
from bayesxp.model.backbone import BackboneConfig
from bayesxp.model.bayesian import BayesXPModel
from bayesxp.model.folder import FORMAT_VERSION, read_model_folder, sha256_file
from bayesxp.model.foundation import ModelSpec
from bayesxp.model.tokenizer import TokenizerConfig
from bayesxp.model.train import TrainConfig, Trainer, build_model
from bayesxp.predict import predict_file
from bayesxp.testing.faults import full_disk, share, unprivileged
from bayesxp.testing.tiny import tiny_training_set


class Killed(BaseException):
    """Stands for the process being killed (not an Exception: nothing may swallow it)."""


def _cli(argv: list[str]) -> tuple[int | None, str, BaseException | None]:
    """``bayesxp ...`` in this process: exit status, stderr, and any exception that escaped (a traceback)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            return main(argv), err.getvalue(), None
        except Exception as exc:  # noqa: BLE001 - what would reach the user as a traceback
            return None, err.getvalue(), exc


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name)


# ------------------------------------------------------------------------------ killed predict_file


def _predict(packed_csv: Path, output: Path, model: Path) -> dict:
    return predict_file(packed_csv, output, model_path=model, num_samples=10, batch_size=2, progress=False)


@pytest.mark.parametrize("where", ["writing the second part", "computing the second batch"])
def test_a_killed_prediction_leaves_nothing_half_written_and_resumes_to_the_same_rows(
        packed_csv, tmp_path, tiny_model_folder, monkeypatch, where):
    reference_path = tmp_path / "reference.csv"
    _predict(packed_csv, reference_path, tiny_model_folder)
    reference = read_table(reference_path)

    output = tmp_path / "out" / "stars.csv"
    output.parent.mkdir()
    if where == "writing the second part":
        real_write = predict_module.write_table

        def write(table: Table, path: Path) -> Path:
            if Path(path).name == "part-000001.parquet":
                with atomic_path(path) as tmp:
                    tmp.write_bytes(b"PAR1 half a part")
                    raise Killed
            return real_write(table, path)

        monkeypatch.setattr(predict_module, "write_table", write)
    else:
        real_batch = BayesXPModel._posterior_batch  # the per-batch computation, whichever API drives it
        calls = []

        def posterior_batch(self, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise Killed
            return real_batch(self, *args, **kwargs)

        monkeypatch.setattr(BayesXPModel, "_posterior_batch", posterior_batch)
    with pytest.raises(Killed):
        _predict(packed_csv, output, tiny_model_folder)
    partial = output.with_name(output.name + ".partial")
    assert not output.exists()  # no output file
    assert sorted(p.name for p in partial.iterdir()) == ["part-000000.parquet", "run.json"]  # no half part
    assert _leftovers(output.parent) == []
    monkeypatch.undo()

    summary = _predict(packed_csv, output, tiny_model_folder)
    assert summary["resumed_batches"] == 1 and summary["stars"] == N_STARS
    resumed = read_table(output)
    assert not partial.exists() and _leftovers(output.parent) == []
    assert resumed["source_id"].tolist() == reference["source_id"].tolist()  # every star once, in file order
    assert len(set(resumed["source_id"].tolist())) == N_STARS
    for column in reference.colnames:
        if reference[column].dtype.kind == "f":
            np.testing.assert_array_equal(resumed[column], reference[column])
        else:
            assert resumed[column].tolist() == reference[column].tolist()


# ------------------------------------------------------------------------- ENOSPC and EACCES writes


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _eacces(*args, **kwargs):
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


def _half_then_enospc(self, target, *args, **kwargs):
    Path(str(target)).write_bytes(b"half a table")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


FAULTS = {
    "disk full while writing": (lambda mp: mp.setattr(Table, "write", _half_then_enospc), "no space left on device"),
    "disk full at fsync": (lambda mp: mp.setattr(tables.os, "fsync", _enospc), "no space left on device"),
    "disk full before the temporary file": (lambda mp: mp.setattr(tables.tempfile, "mkstemp", _enospc),
                                            "no space left on device"),
    "permission denied on the folder": (lambda mp: mp.setattr(tables.tempfile, "mkstemp", _eacces),
                                        "permission denied on"),
    "permission denied at the rename": (lambda mp: mp.setattr(tables.os, "replace", _eacces), "permission denied"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_table_under_enospc_and_eacces_is_one_clear_message_and_keeps_the_old_file(
        tmp_path, monkeypatch, fault, suffix):
    target = tmp_path / f"stars{suffix}"
    write_table(Table({"source_id": [1, 2], "mass": [1.0, 1.2]}), target)
    before = target.read_bytes()
    install, message = FAULTS[fault]
    install(monkeypatch)
    with pytest.raises(BayesXPError) as info:
        write_table(Table({"source_id": [3], "mass": [0.9]}), target)
    monkeypatch.undo()
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"cannot write {target}: ") and message in text
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file left


def test_atomic_path_in_a_really_read_only_folder(open_folder):
    folder = open_folder / "locked"
    folder.mkdir()
    target = folder / "out.csv"
    target.write_text("old")
    share(open_folder)
    folder.chmod(0o555)
    with unprivileged(), pytest.raises(BayesXPError) as info, atomic_path(target) as tmp:
        tmp.write_text("new")
    folder.chmod(0o755)
    assert str(info.value) == f"cannot write {target}: permission denied on {folder}"
    assert target.read_text() == "old" and sorted(p.name for p in folder.iterdir()) == ["out.csv"]


def test_predict_with_a_full_disk_at_the_final_write_says_so_and_resumes(packed_csv, tmp_path, tiny_model_folder,
                                                                         monkeypatch):
    output = tmp_path / "out.csv"
    output.write_text("old")
    real = Table.__dict__["write"]

    def write(self, target, *args, **kwargs):
        if Path(str(target)).name.startswith(".out.csv."):
            _half_then_enospc(self, target)
        return real.__get__(self, Table)(target, *args, **kwargs)

    monkeypatch.setattr(Table, "write", write)
    argv = ["predict", "--input", str(packed_csv), "--output", str(output), "--model", str(tiny_model_folder),
            "--num-samples", "10", "--quiet"]
    rc, err, exc = _cli(argv)
    monkeypatch.undo()
    assert exc is None and rc == 2
    assert err.strip() == f"bayesxp: error: cannot write {output}: no space left on device"
    assert output.read_text() == "old" and _leftovers(tmp_path) == []
    rc, _, exc = _cli(argv)
    assert rc == 0 and exc is None and len(read_table(output)) == N_STARS


def test_predict_into_a_read_only_folder_is_one_clear_message(packed_csv, open_folder, tiny_model_folder):
    model = share(Path(shutil.copytree(tiny_model_folder, open_folder / "model")))
    stars = share(Path(shutil.copy(packed_csv, open_folder / "stars.csv")))
    folder = open_folder / "locked"
    folder.mkdir()
    share(open_folder)
    folder.chmod(0o555)
    with unprivileged():
        rc, err, exc = _cli(["predict", "--input", str(stars), "--output", str(folder / "out.csv"),
                             "--model", str(model), "--num-samples", "10", "--quiet"])
    folder.chmod(0o755)
    assert exc is None, f"traceback: {type(exc).__name__}: {exc}"
    assert rc == 2 and len(err.strip().splitlines()) == 1 and str(folder / "out.csv") in err


def test_predict_on_a_full_disk_is_one_clear_message(packed_csv, tmp_path, tiny_model_folder):
    folder = tmp_path / "full"
    folder.mkdir()
    with full_disk(folder):
        rc, err, exc = _cli(["predict", "--input", str(packed_csv), "--output", str(folder / "out.csv"),
                             "--model", str(tiny_model_folder), "--num-samples", "10", "--quiet"])
    assert exc is None, f"traceback: {type(exc).__name__}: {exc}"
    assert rc == 2 and "no space left on device" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------- killed training

SPEC = ModelSpec(tokenizer=TokenizerConfig(spectral="patch"),
                 backbone=BackboneConfig(d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, dropout=0.1))
CONFIG = TrainConfig(batch_size=16, max_steps=6, eval_every=3, warmup_steps=2, eval_stars=None, patience=100)


class RecordingTrainer(Trainer):
    """Keeps every step's loss tensor; can be 'killed' before a given step."""

    kill_at: int | None = None

    def loss_at(self, step: int) -> torch.Tensor:
        loss = super().loss_at(step)
        self.losses[step] = loss.detach().clone()
        return loss

    def train_step(self) -> float:
        if self.kill_at is not None and self.step == self.kill_at:
            raise Killed
        return super().train_step()

    @property
    def losses(self) -> dict[int, torch.Tensor]:
        if not hasattr(self, "_losses"):
            self._losses: dict[int, torch.Tensor] = {}
        return self._losses


@pytest.fixture(scope="module")
def training_data():
    stars = tiny_training_set()
    torch.manual_seed(0)
    model, train_tokens, val_tokens = build_model(stars, SPEC)
    return stars, model.state_dict(), model.tokenizer, train_tokens, val_tokens


def _trainer(training_data, run_dir: Path, cls: type = RecordingTrainer) -> Trainer:
    """A fresh trainer as a new process would build it: same data, same initial weights."""
    from bayesxp.model.foundation import FoundationModel

    stars, state, tokenizer, train_tokens, val_tokens = training_data
    model = FoundationModel(tokenizer, SPEC.backbone)
    model.load_state_dict(state)
    return cls(model, train_tokens, val_tokens, stars.subset("val"), CONFIG, run_dir)


def test_a_killed_training_resumes_to_the_same_next_loss(training_data, tmp_path):
    reference = _trainer(training_data, tmp_path / "reference")
    with contextlib.redirect_stderr(io.StringIO()):
        reference.fit(progress=False)
    assert sorted(reference.losses) == list(range(6))

    killed = _trainer(training_data, tmp_path / "run")
    killed.kill_at = 4  # after the checkpoint written at step 3
    with pytest.raises(Killed), contextlib.redirect_stderr(io.StringIO()):
        killed.fit(progress=False)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 3

    fresh = _trainer(training_data, tmp_path / "run")
    assert fresh.load_checkpoint() and fresh.step == 3
    fresh.network.train()
    assert torch.equal(fresh.loss_at(3), reference.losses[3])  # the same next loss, bit for bit

    resumed = _trainer(training_data, tmp_path / "run")
    with contextlib.redirect_stderr(io.StringIO()):
        resumed.fit(progress=False)
    assert sorted(resumed.losses) == [3, 4, 5]
    for step in (3, 4, 5):
        assert torch.equal(resumed.losses[step], reference.losses[step]), step


def _checkpoint_other_version(run_dir: Path, training_data) -> None:
    other = ModelSpec(tokenizer=SPEC.tokenizer, backbone=BackboneConfig(d_model=8, n_heads=2, encoder_layers=1,
                                                                         decoder_layers=1))
    _, _, tokenizer, _, _ = training_data
    from bayesxp.model.foundation import FoundationModel

    model = FoundationModel(tokenizer, other.backbone)
    torch.save({"model": model.state_dict(), "optimiser": {}, "step": 3, "best_nll": 1.0, "best_step": 3,
                "bad_evals": 0, "history": "[]"}, run_dir / "checkpoint.pt")


@pytest.mark.parametrize("damage", ["another model version", "truncated", "a pickled object"])
def test_a_bad_training_checkpoint_is_refused_naming_it(training_data, tmp_path, damage):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    if damage == "another model version":
        _checkpoint_other_version(run_dir, training_data)
    elif damage == "truncated":
        _checkpoint_other_version(run_dir, training_data)
        data = (run_dir / "checkpoint.pt").read_bytes()
        (run_dir / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    else:
        torch.save({"model": Path("x"), "step": 1}, run_dir / "checkpoint.pt")
    with pytest.raises(ModelFileError, match="checkpoint.pt"):
        _trainer(training_data, run_dir).fit(progress=False)


# ------------------------------------------------------------------------------------ model folders


def _rehash(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["sha256"] = {name: sha256_file(folder / name) for name in manifest["sha256"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_tampered_weight_file_is_refused_naming_file_and_checksums(model_copy):
    weights = model_copy / "weights.safetensors"
    expected = sha256_file(weights)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as info:
        BayesXPModel.load(model_copy)
    text = str(info.value)
    assert "weights.safetensors" in text and "checksum" in text and expected in text and sha256_file(weights) in text


def test_a_model_folder_of_another_format_version_is_refused_naming_both_versions(model_copy):
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest.update(format_version=FORMAT_VERSION + 1, bayesxp_version="9.9.9")
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError) as info:
        BayesXPModel.load(model_copy)
    text = str(info.value)
    assert f"format version {FORMAT_VERSION + 1}" in text and "9.9.9" in text
    assert f"reads format version {FORMAT_VERSION}" in text


@pytest.mark.parametrize("name", ["weights.safetensors", "config.yaml", "tokenizer.json", "manifest.json"])
def test_a_model_folder_missing_a_file_is_refused_naming_it(model_copy, name):
    (model_copy / name).unlink()
    with pytest.raises(ModelFileError, match=name.replace(".", r"\.")):
        BayesXPModel.load(model_copy)


def test_predict_with_a_damaged_model_is_one_clear_message(packed_csv, tmp_path, model_copy):
    (model_copy / "tokenizer.json").write_text("{}")
    rc, err, exc = _cli(["predict", "--input", str(packed_csv), "--output", str(tmp_path / "o.csv"),
                         "--model", str(model_copy), "--quiet"])
    assert exc is None and rc == 2 and len(err.strip().splitlines()) == 1
    assert str(model_copy) in err and "tokenizer.json" in err


class _Trap:
    """Unpickling this creates a file: proof that something unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_loading_a_model_never_unpickles(model_copy, tiny_model_folder, monkeypatch, tmp_path):
    for path in tiny_model_folder.iterdir():  # no file of a model folder is a pickle
        data = path.read_bytes()
        assert not data.startswith(b"\x80"), path.name  # the PROTO opcode every pickle since protocol 2 starts with
        if path.suffix == ".safetensors":
            size = int.from_bytes(data[:8], "little")
            assert isinstance(json.loads(data[8 : 8 + size]), dict)
        else:
            data.decode("utf-8")

    def refuse(*args, **kwargs):
        raise AssertionError("a model folder was unpickled")

    for target, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(target, name, refuse)
    read_model_folder(model_copy)
    BayesXPModel.load(model_copy)
    monkeypatch.undo()

    marker = tmp_path / "unpickled"
    (model_copy / "weights.safetensors").write_bytes(pickle.dumps(_Trap(marker)))
    _rehash(model_copy)  # a consistent manifest: only the content can stop it
    with pytest.raises(ModelFileError, match="unreadable model file"):
        BayesXPModel.load(model_copy)
    assert not marker.exists()


def test_a_manifest_that_is_not_an_object_is_refused(model_copy):
    (model_copy / "manifest.json").write_text("[]")
    with pytest.raises(ModelFileError, match="manifest.json"):
        BayesXPModel.load(model_copy)


def test_tokenizer_statistics_of_the_wrong_shape_are_refused_at_load(model_copy):
    state = json.loads((model_copy / "tokenizer.json").read_text())
    state["mean"] = state["mean"][:-3]
    (model_copy / "tokenizer.json").write_text(json.dumps(state))
    _rehash(model_copy)
    with pytest.raises(ModelFileError, match="tokenizer"):
        BayesXPModel.load(model_copy)


def test_a_config_of_another_version_is_refused_naming_the_folder(model_copy):
    text = (model_copy / "config.yaml").read_text().replace("d_model:", "width_of_model:")
    (model_copy / "config.yaml").write_text(text)
    _rehash(model_copy)
    with pytest.raises(ModelFileError) as info:
        BayesXPModel.load(model_copy)
    assert str(model_copy) in str(info.value) and "width_of_model" in str(info.value)
