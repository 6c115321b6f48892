"""A trained model is a folder; this module writes and reads it without ever unpickling.

Two kinds of folder share one layout: a *foundation* folder (``bayesxp train``: tokenizer and backbone) and
a *full model* folder (``bayesxp fit-heads``: the same, its tensors prefixed ``foundation.``, plus the
Bayesian heads under ``heads.<name>.``; written and read by :mod:`bayesxp.model.bayesian_folder`).

- :func:`save_foundation` / :func:`load_foundation`: the foundation model (``load_foundation`` also reads
  the foundation out of a full model folder);
- :func:`save_model_folder` / :func:`read_model_folder` / :func:`read_manifest`: the files, checksummed.

Contents:

- ``weights.safetensors``: every tensor of the model (backbone, heads);
- ``config.yaml``: the resolved :class:`~bayesxp.model.foundation.ModelSpec` (and the heads' config);
- ``tokenizer.json``: keys and per-key normalisation statistics;
- ``manifest.json``: format version, bayesxp / torch / pyro versions, creation time, the training
  summary, and the SHA-256 of every other file, checked on load.

A folder written by an incompatible format version is refused with a message naming both versions.
This module is plain torch (no Pyro): training writes its folder with it.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bayesxp._version import __version__
from bayesxp.config import from_dict, to_dict
from bayesxp.errors import ModelFileError
from bayesxp.io.tables import atomic_path
from bayesxp.model.foundation import FoundationModel, ModelSpec
from bayesxp.model.tokenizer import Tokenizer
from bayesxp.paths import resources_dir

__all__ = ["FORMAT_VERSION", "FOUNDATION_PREFIX", "default_model_path", "save_foundation", "load_foundation",
           "foundation_from_folder", "save_model_folder", "read_model_folder", "read_manifest", "sha256_file", "spec_from_config"]

#: Bumped whenever the folder layout or the meaning of a tensor changes.
FORMAT_VERSION = 1
_FILES = ("weights.safetensors", "config.yaml", "tokenizer.json")
#: Prefix of the foundation's tensors in a full model folder.
FOUNDATION_PREFIX = "foundation."


def default_model_path() -> Path:
    """The pretrained model shipped inside the package.

    Example:
        >>> (default_model_path() / "weights.safetensors").is_file()
        True
    """
    return resources_dir() / "model"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file.

    Example:
        >>> import tempfile, pathlib
        >>> p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"")
        >>> sha256_file(p)[:8]
        'e3b0c442'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model_folder(folder: str | Path, state_dict: dict[str, torch.Tensor], config: dict, tokenizer: dict,
                      summary: dict | None = None) -> Path:
    """Write a model folder (each file atomically, the manifest last).

    Args:
        folder: Target folder (created).
        state_dict: Tensors to store.
        config: Plain-data config (dataclasses already converted with :func:`bayesxp.config.to_dict`).
        tokenizer: :meth:`Tokenizer.to_dict` output.
        summary: Training figures to keep in the manifest.

    Returns:
        The folder.

    Example:
        >>> import tempfile
        >>> folder = save_model_folder(Path(tempfile.mkdtemp()), {"w": torch.zeros(2)}, {"model": {}}, {})
        >>> sorted(p.name for p in folder.iterdir())
        ['config.yaml', 'manifest.json', 'tokenizer.json', 'weights.safetensors']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().cpu().contiguous() for name, t in state_dict.items()}
    with atomic_path(folder / "weights.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"format_version": str(FORMAT_VERSION)})
    with atomic_path(folder / "config.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    with atomic_path(folder / "tokenizer.json") as tmp:
        tmp.write_text(json.dumps(tokenizer))
    try:  # the installed distribution's version: this module stays plain torch (no Pyro import)
        pyro_version = importlib.metadata.version("pyro-ppl")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover
        pyro_version = None
    manifest = {
        "format_version": FORMAT_VERSION,
        "bayesxp_version": __version__,
        "torch_version": torch.__version__,
        "pyro_version": pyro_version,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "sha256": {name: sha256_file(folder / name) for name in _FILES},
        "summary": summary or {},
    }
    with atomic_path(folder / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
    return folder


def read_manifest(folder: str | Path) -> dict:
    """The manifest of a model folder (versions, checksums, training summary), without reading the weights.

    Args:
        folder: The folder.

    Returns:
        The manifest.

    Raises:
        ModelFileError: No such folder, or no readable bayesxp manifest in it.

    Example:
        >>> read_manifest(default_model_path())["format_version"] == FORMAT_VERSION
        True
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{folder}: manifest.json missing or unreadable ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise ModelFileError(f"{folder}: manifest.json is not a bayesxp manifest")
    return manifest


def read_model_folder(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict, dict, dict]:
    """Read and verify a model folder.

    Args:
        folder: The folder.

    Returns:
        ``(state_dict, config, tokenizer, manifest)``.

    Raises:
        ModelFileError: Missing file, checksum mismatch, unreadable content, or incompatible version.

    Example:
        >>> state, config, tokenizer, manifest = read_model_folder(default_model_path())
        >>> sorted(config)[:2], manifest["format_version"] == FORMAT_VERSION
        (['domain', 'head_likelihood'], True)
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{folder}: model format version {version} (written by bayesxp {manifest.get('bayesxp_version')}) "
            f"cannot be read by bayesxp {__version__}, which reads format version {FORMAT_VERSION}"
        )
    for name in _FILES:
        path = folder / name
        if not path.is_file():
            raise ModelFileError(f"{folder}: {name} is missing")
        expected = manifest.get("sha256", {}).get(name)
        actual = sha256_file(path)
        if expected != actual:
            raise ModelFileError(f"{folder}: checksum of {name} does not match the manifest (file changed or "
                                 f"corrupt: expected {expected}, found {actual})")
    try:
        state = load_file(str(folder / "weights.safetensors"))
        config = yaml.safe_load((folder / "config.yaml").read_text())
        tokenizer = json.loads((folder / "tokenizer.json").read_text())
    except (OSError, ValueError, SafetensorError, yaml.YAMLError) as exc:
        raise ModelFileError(f"{folder}: unreadable model file ({exc})") from exc
    return state, config, tokenizer, manifest


def spec_from_config(config: dict, cls: type) -> Any:
    """Build a config dataclass from the folder's plain config, as a ModelFileError on mismatch.

    Args:
        config: Plain data, as read from ``config.yaml``.
        cls: The dataclass to fill.

    Returns:
        The dataclass.

    Raises:
        ModelFileError: An unknown key or a wrong type (a folder of another version).

    Example:
        >>> spec_from_config({"backbone": {"d_model": 16}}, ModelSpec).backbone.d_model
        16
    """
    try:
        return from_dict(cls, config)
    except Exception as exc:  # ConfigError or a dataclass validation error
        raise ModelFileError(f"model config does not fit this bayesxp version ({exc})") from exc



def foundation_from_folder(folder: Path, state: dict[str, torch.Tensor], config: dict, tokenizer_state: dict
                           ) -> FoundationModel:
    """The foundation model of a folder's contents (bare or inside a full model), in eval mode.

    Args:
        folder: The folder (named in errors).
        state: Its tensors, as :func:`read_model_folder` returns them.
        config: Its config.
        tokenizer_state: Its tokenizer.

    Returns:
        The foundation model.

    Raises:
        ModelFileError: Config, tokenizer or weights that do not fit this version.

    Example:
        >>> state, config, tokenizer, _ = read_model_folder(default_model_path())
        >>> foundation_from_folder(default_model_path(), state, config, tokenizer).training
        False
    """
    try:
        spec = spec_from_config(config["model"], ModelSpec)
        tokenizer = Tokenizer.from_dict(tokenizer_state)
    except (KeyError, ValueError, TypeError, ModelFileError) as exc:
        raise ModelFileError(f"{folder}: config or tokenizer does not fit this bayesxp version ({exc})") from exc
    foundation = FoundationModel(tokenizer, spec.backbone)
    if "heads" in config:  # a full model folder: the foundation's tensors carry a prefix
        state = {k[len(FOUNDATION_PREFIX):]: v for k, v in state.items() if k.startswith(FOUNDATION_PREFIX)}
    try:
        foundation.load_state_dict(state)
    except RuntimeError as exc:
        raise ModelFileError(f"{folder}: weights do not fit the model config ({exc})") from exc
    return foundation.eval()


def save_foundation(model: FoundationModel, folder: str | Path, summary: dict | None = None) -> Path:
    """Write a foundation model folder (what ``bayesxp train`` leaves in ``<run>/model``).

    Args:
        model: The trained tokenizer and backbone.
        folder: Target folder (created).
        summary: Training figures to keep in the manifest.

    Returns:
        The folder.

    Example:
        >>> import tempfile
        >>> model = load_foundation(default_model_path())
        >>> folder = save_foundation(model, Path(tempfile.mkdtemp()) / "foundation")
        >>> load_foundation(folder).spec == model.spec
        True
    """
    return save_model_folder(folder, model.state_dict(), {"model": to_dict(model.spec)}, model.tokenizer.to_dict(),
                             summary=summary)


def load_foundation(folder: str | Path) -> FoundationModel:
    """The foundation model (tokenizer and backbone, in eval mode) of a foundation or full model folder.

    Args:
        folder: A folder written by :func:`save_foundation` or :func:`save_model`.

    Returns:
        The foundation model.

    Raises:
        ModelFileError: The folder is missing, corrupt or of another version.

    Example:
        >>> foundation = load_foundation(default_model_path())
        >>> foundation.tokenizer.spectral_keys[:2]
        ('bp_0', 'bp_1')
    """
    folder = Path(folder)
    state, config, tokenizer_state, _ = read_model_folder(folder)
    return foundation_from_folder(folder, state, config, tokenizer_state)
