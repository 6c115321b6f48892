"""The save format of a trained XGBoost baseline: a folder of XGBoost JSON models and a JSON sidecar.

One XGBoost JSON model per booster (``<target>.<role>.json``) and a sidecar (:data:`SIDECAR`) with the
variant, the resolved config, the targets, the feature names, the bayesxp and XGBoost versions, the format
version and a SHA-256 checksum per model file. Nothing is pickled; reading refuses a sidecar whose versions
differ from the running ones and files whose checksums do not match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import xgboost

from bayesxp._version import __version__
from bayesxp.errors import ModelFileError
from bayesxp.io.tables import atomic_path

__all__ = ["FORMAT_VERSION", "SIDECAR", "write_folder", "read_sidecar", "read_boosters"]

FORMAT_VERSION = 1
"""Version of the folder layout and sidecar; bumped when either changes meaning."""

SIDECAR = "baseline.json"
"""The sidecar's file name inside a baseline folder."""

_FORMAT_NAME = "bayesxp-xgboost-baseline"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_folder(
    folder: str | Path,
    boosters: Mapping[str, xgboost.Booster],
    variant: str,
    config: dict,
    targets: Sequence[str],
    feature_names: Sequence[str],
    info: dict,
) -> Path:
    """Write boosters (XGBoost JSON) and the sidecar into a folder, each file atomically.

    Args:
        folder: Created if needed; existing files of the same names are replaced.
        boosters: ``"<target>.<role>"`` -> booster.
        variant: ``"quantile"`` or ``"gaussian"``.
        config: The resolved config as a dict.
        targets: The fitted targets.
        feature_names: The feature names, in column order.
        info: Fit information (seconds, rounds, training rows).

    Returns:
        The folder.

    Example:
        >>> import tempfile, numpy as np
        >>> booster = xgboost.train({"max_depth": 1}, xgboost.DMatrix(np.arange(8.0)[:, None], np.arange(8.0)), 2)
        >>> folder = write_folder(tempfile.mkdtemp(), {"y.mean": booster}, "gaussian", {}, ["y"], ["f0"], {})
        >>> sorted(path.name for path in folder.iterdir())
        ['baseline.json', 'y.mean.json']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, booster in boosters.items():
        path = folder / f"{name}.json"
        with atomic_path(path) as tmp:
            tmp.write_bytes(bytes(booster.save_raw(raw_format="json")))  # = save_model("*.json")
        files[name] = {"file": path.name, "sha256": _sha256(path)}
    sidecar = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "variant": variant,
        "bayesxp_version": __version__,
        "xgboost_version": xgboost.__version__,
        "config": config,
        "targets": list(targets),
        "feature_names": list(feature_names),
        "files": files,
        "info": info,
    }
    with atomic_path(folder / SIDECAR) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2))
    return folder


def read_sidecar(folder: str | Path) -> dict:
    """Read a folder's sidecar, checking its format and the bayesxp and XGBoost versions.

    Args:
        folder: A folder written by :func:`write_folder`.

    Returns:
        The sidecar as a dict.

    Raises:
        ModelFileError: Missing or unreadable sidecar, or another format, format version, bayesxp or XGBoost.

    Example:
        >>> import tempfile
        >>> try:
        ...     read_sidecar(tempfile.mkdtemp())
        ... except ModelFileError as exc:
        ...     print("cannot read baseline.json" in str(exc))
        True
    """
    folder = Path(folder)
    try:
        sidecar = json.loads((folder / SIDECAR).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{folder}: cannot read {SIDECAR} ({exc})") from exc
    expected = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "bayesxp_version": __version__,
        "xgboost_version": xgboost.__version__,
    }
    for key, value in expected.items():
        if sidecar.get(key) != value:
            raise ModelFileError(
                f"{folder / SIDECAR}: {key} is {sidecar.get(key)!r}, this installation needs {value!r}; "
                "retrain the baseline with this version"
            )
    return sidecar


def read_boosters(folder: str | Path, sidecar: dict) -> dict[str, xgboost.Booster]:
    """Load the boosters a sidecar lists, checking each file's checksum.

    Args:
        folder: The baseline folder.
        sidecar: Its sidecar (:func:`read_sidecar`).

    Returns:
        ``"<target>.<role>"`` -> booster, in the sidecar's order.

    Raises:
        ModelFileError: A model file is missing or its checksum differs from the sidecar's.

    Example:
        >>> import tempfile, numpy as np
        >>> booster = xgboost.train({"max_depth": 1}, xgboost.DMatrix(np.arange(8.0)[:, None], np.arange(8.0)), 2)
        >>> folder = write_folder(tempfile.mkdtemp(), {"y.mean": booster}, "gaussian", {}, ["y"], ["f0"], {})
        >>> list(read_boosters(folder, read_sidecar(folder)))
        ['y.mean']
    """
    folder = Path(folder)
    boosters = {}
    for name, entry in sidecar["files"].items():
        path = folder / entry["file"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise ModelFileError(f"{path}: missing or its checksum differs from {SIDECAR}")
        booster = xgboost.Booster()
        booster.load_model(str(path))
        boosters[name] = booster
    return boosters
