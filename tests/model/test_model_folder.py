"""The model folder: safetensors + YAML + JSON, checksummed and versioned, read without unpickling."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from bayesxp.errors import ModelFileError
from bayesxp.model.bayesian import BayesXPModel
from bayesxp.model.folder import (
    FORMAT_VERSION,
    load_foundation,
    read_model_folder,
    save_model_folder,
    sha256_file,
)

FILES = ("weights.safetensors", "config.yaml", "tokenizer.json")


@pytest.fixture
def model_copy(tiny, tmp_path) -> Path:
    """A private copy of the tiny model's folder (tests edit it)."""
    return Path(shutil.copytree(tiny.folder, tmp_path / "model"))


def test_state_config_and_tokenizer_round_trip_bit_identical(tmp_path):
    generator = torch.Generator().manual_seed(0)
    state = {"a.weight": torch.randn(3, 4, generator=generator), "b.double": torch.randn(5, dtype=torch.float64,
             generator=generator), "c.index": torch.arange(7), "d.half": torch.randn(2, generator=generator).half(),
             "e.flag": torch.tensor([True, False]), "f.view": torch.randn(4, 4, generator=generator).t()}
    config = {"model": {"d_model": 16, "labels": ["teff", "logg"], "dropout": 0.1}, "nested": {"x": [1, 2.5, None]}}
    tokenizer = {"keys": ["flux_000", "teff"], "mean": [[0.1, 1e-300], [3.0, -2.0]], "std": [[1.0, 2.0], [0.5, 1.0]]}
    folder = save_model_folder(tmp_path / "m", state, config, tokenizer, summary={"steps": 3})
    state2, config2, tokenizer2, manifest = read_model_folder(folder)
    assert state2.keys() == state.keys()
    for name, tensor in state.items():
        assert state2[name].dtype == tensor.dtype and torch.equal(state2[name], tensor), name
    assert config2 == config and tokenizer2 == tokenizer
    assert manifest["format_version"] == FORMAT_VERSION and manifest["summary"] == {"steps": 3}
    assert set(manifest["sha256"]) == set(FILES)


def test_full_model_save_load_save_writes_identical_files(tiny, tmp_path):
    again = BayesXPModel.load(tiny.folder).save(tmp_path / "again")
    for name in FILES:
        assert sha256_file(again / name) == sha256_file(tiny.folder / name), name
    state, _, _, _ = read_model_folder(tiny.folder)
    fitted = tiny.fitted.foundation.state_dict()
    for name, tensor in fitted.items():
        assert torch.equal(state[f"foundation.{name}"], tensor), name
    for head, fit in tiny.fitted.heads.items():
        for site, draws in fit.samples.items():
            assert torch.equal(state[f"heads.{head}.samples.{site}"], draws.to(torch.float64)), (head, site)


def test_load_foundation_reads_a_foundation_folder_and_a_full_model_folder_alike(tiny):
    bare = load_foundation(tiny.folder.parent / "run" / "model")  # what train_run wrote
    full = load_foundation(tiny.folder)  # the same backbone inside the full model
    assert not bare.training and not full.training
    assert bare.spec == full.spec and bare.tokenizer.keys == full.tokenizer.keys
    assert bare.state_dict().keys() == full.state_dict().keys()
    for name, tensor in bare.state_dict().items():
        assert torch.equal(full.state_dict()[name], tensor), name


def test_load_foundation_refuses_a_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="no such model folder"):
        load_foundation(tmp_path / "nowhere")


@pytest.mark.parametrize("name", FILES)
def test_a_changed_file_is_refused_naming_it(model_copy, name):
    path = model_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=rf"checksum of {name}") as info:
        BayesXPModel.load(model_copy)
    manifest = json.loads((model_copy / "manifest.json").read_text())
    assert manifest["sha256"][name] in str(info.value) and sha256_file(path) in str(info.value)


def test_a_missing_file_is_refused_naming_it(model_copy):
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match="tokenizer.json is missing"):
        BayesXPModel.load(model_copy)
    with pytest.raises(ModelFileError, match="no such model folder"):
        BayesXPModel.load(model_copy / "nowhere")


def test_another_format_version_is_refused_naming_both(model_copy):
    manifest_path = model_copy / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = FORMAT_VERSION + 1
    manifest["bayesxp_version"] = "9.9.9"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError) as info:
        BayesXPModel.load(model_copy)
    message = str(info.value)
    assert f"format version {FORMAT_VERSION + 1}" in message and f"format version {FORMAT_VERSION}" in message
    assert "9.9.9" in message
    # the untouched copy loads: the refusal is about the version, nothing else
    manifest["format_version"] = FORMAT_VERSION
    manifest_path.write_text(json.dumps(manifest))
    BayesXPModel.load(model_copy)


def test_a_config_that_does_not_fit_the_weights_is_refused(model_copy):
    import yaml

    from bayesxp.model.folder import sha256_file as sha

    config_path = model_copy / "config.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["model"]["backbone"]["d_model"] = 32  # consistent checksum, wrong shapes
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    manifest = json.loads((model_copy / "manifest.json").read_text())
    manifest["sha256"]["config.yaml"] = sha(config_path)
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="do not fit"):
        BayesXPModel.load(model_copy)


def test_the_folder_holds_no_pickle_and_loading_never_unpickles(tiny, monkeypatch):
    names = sorted(p.name for p in tiny.folder.iterdir())
    assert names == sorted((*FILES, "manifest.json"))
    for path in tiny.folder.iterdir():
        head = path.read_bytes()[:2]
        assert head != b"PK" and not head.startswith(b"\x80"), f"{path.name} looks like a pickle / torch.save zip"

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model = BayesXPModel.load(tiny.folder)
    assert sorted(model.heads) == ["logg", "m_h", "mass_age", "teff"]


def test_a_saved_model_needs_no_data_folder(tiny, monkeypatch):
    """Everything a prediction needs (weights, statistics, the coefficient prior) is in the folder."""
    from bayesxp.data.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.xp import projection as xp_projection

    def no_data(*args, **kwargs):
        raise AssertionError("the model reached for the data folder")

    monkeypatch.setattr(xp_projection, "coefficient_prior", no_data)
    monkeypatch.setenv("BAYESXP_DATA_DIR", "/nonexistent")
    model = BayesXPModel.load(tiny.folder)
    assert model.tokenizer.config.spectral == "coefficients"
    post = model.posterior(read_sampled_table(demo_path()).take(slice(0, 3)))
    assert post.samples["mass"].shape == (20, 3) and set(post.status) == {"ok"}
