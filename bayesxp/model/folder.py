"""A trained model is a folder; this module writes and reads it without ever unpickling.

Contents:

- ``weights.safetensors``: every tensor of the model (backbone, heads);
- ``config.yaml``: the resolved :class:`~bayesxp.model.foundation.ModelSpec` (and the heads' config);
- ``tokenizer.json``: keys and per-key normalisation statistics;
- ``manifest.json``: format version, bayesxp / torch / pyro versions, creation time, the training
  summary, and the SHA-256 of every other file, checked on load.

A folder written by an incompatible format version is refused with a message naming both versions.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bayesxp._version import __version__
from bayesxp.config import from_dict
from bayesxp.errors import ModelFileError
from bayesxp.io.tables import atomic_path

__all__ = ["FORMAT_VERSION", "save_model_folder", "read_model_folder", "sha256_file", "spec_from_config"]

#: Bumped whenever the folder layout or the meaning of a tensor changes.
FORMAT_VERSION = 1
_FILES = ("weights.safetensors", "config.yaml", "tokenizer.json")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"")
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
    try:
        import pyro

        pyro_version = pyro.__version__
    except ImportError:  # pragma: no cover
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


def read_model_folder(folder: str | Path) -> tuple[dict[str, torch.Tensor], dict, dict, dict]:
    """Read and verify a model folder.

    Args:
        folder: The folder.

    Returns:
        ``(state_dict, config, tokenizer, manifest)``.

    Raises:
        ModelFileError: Missing file, checksum mismatch, unreadable content, or incompatible version.
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
    """Build a config dataclass from the folder's plain config, as a ModelFileError on mismatch."""
    try:
        return from_dict(cls, config)
    except Exception as exc:  # ConfigError or a dataclass validation error
        raise ModelFileError(f"model config does not fit this bayesxp version ({exc})") from exc

