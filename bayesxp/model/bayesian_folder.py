"""The full model as a folder: :func:`save_model` and :func:`load_model` of a
:class:`~bayesxp.model.bayesian.BayesXPModel` (foundation, heads' weight draws and feature maps, their settings).

The file layout, the checksums and the foundation part are :mod:`bayesxp.model.folder`'s; this module adds the
heads (tensors ``heads.<name>.samples.<site>`` and ``heads.<name>.features.<key>``; in ``config.yaml`` the
:class:`~bayesxp.model.heads.HeadFittingConfig` under ``heads`` and each head's method, likelihood, selection
and the mass/age domain).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from bayesxp.config import to_dict
from bayesxp.errors import ModelFileError
from bayesxp.model.features import FeatureMap
from bayesxp.model.folder import (
    FOUNDATION_PREFIX,
    default_model_path,
    foundation_from_folder,
    read_model_folder,
    save_model_folder,
    spec_from_config,
)
from bayesxp.model.heads import HEADS, BayesianHead, HeadFit, HeadFittingConfig

if TYPE_CHECKING:  # pragma: no cover
    from bayesxp.model.bayesian import BayesXPModel

__all__ = ["save_model", "load_model"]


def save_model(model: BayesXPModel, folder: str | Path, summary: dict | None = None) -> Path:
    """Write a full model folder: foundation, heads (weight draws and feature maps) and their settings.

    Args:
        model: The model.
        folder: Target folder (created).
        summary: Training figures to keep in the manifest.

    Returns:
        The folder.

    Example:
        >>> import tempfile
        >>> model = load_model()
        >>> folder = save_model(model, Path(tempfile.mkdtemp()) / "model")
        >>> sorted(load_model(folder).heads) == sorted(model.heads)
        True
    """
    state = {f"{FOUNDATION_PREFIX}{k}": v for k, v in model.foundation.state_dict().items()}
    for name, fit in model.heads.items():
        for site, values in fit.samples.items():
            state[f"heads.{name}.samples.{site}"] = values.detach().to(torch.float64)
        for key, values in model.feature_maps[name].state().items():
            state[f"heads.{name}.features.{key}"] = values
    config = {"model": to_dict(model.foundation.spec), "heads": to_dict(model.config),
              "head_method": {n: f.method for n, f in model.heads.items()},
              "head_likelihood": {n: f.head.config.likelihood for n, f in model.heads.items()},
              "head_selection": model.selection, "domain": model.domain}
    return save_model_folder(folder, state, config, model.tokenizer.to_dict(), summary=summary)


def load_model(folder: str | Path | None = None) -> BayesXPModel:
    """Read a full model folder (default: the shipped pretrained model); nothing is unpickled.

    Args:
        folder: A folder written by :func:`save_model`.

    Returns:
        The model, foundation in eval mode.

    Raises:
        ModelFileError: The folder is missing, corrupt, of another version, or lacks a head.

    Example:
        >>> sorted(load_model().heads)
        ['logg', 'm_h', 'mass_age', 'teff']
    """
    from bayesxp.model.bayesian import BayesXPModel

    folder = Path(folder) if folder is not None else default_model_path()
    state, config, tokenizer_state, manifest = read_model_folder(folder)
    try:
        heads_config = spec_from_config(config["heads"], HeadFittingConfig)
    except (KeyError, ValueError, TypeError, ModelFileError) as exc:
        raise ModelFileError(f"{folder}: config or tokenizer does not fit this bayesxp version ({exc})") from exc
    foundation = foundation_from_folder(folder, state, config, tokenizer_state)
    heads, feature_maps = {}, {}
    for name, keys in HEADS.items():
        head_config = heads_config.for_head(name)
        features = {k.rsplit(".", 1)[1]: v for k, v in state.items() if k.startswith(f"heads.{name}.features.")}
        samples = {k.rsplit(".", 1)[1]: v for k, v in state.items() if k.startswith(f"heads.{name}.samples.")}
        if not samples or not features:
            raise ModelFileError(f"{folder}: head {name!r} is missing from the weights")
        feature_map = FeatureMap.from_state(features)
        likelihood = config.get("head_likelihood", {}).get(name, head_config.likelihood)
        head = BayesianHead(feature_map.components.shape[1], len(keys),
                            dataclasses.replace(head_config, likelihood=likelihood))
        heads[name] = HeadFit(head=head, samples=samples, method=config.get("head_method", {}).get(name, "svi"),
                              diagnostics={})
        feature_maps[name] = feature_map
    model = BayesXPModel(foundation, heads, feature_maps, heads_config, domain=config.get("domain"),
                         manifest=manifest)
    model.selection = config.get("head_selection", {})
    return model
