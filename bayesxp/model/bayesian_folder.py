"""The full model as a folder: :func:`save_model` and :func:`load_model` of a
:class:`~bayesxp.model.bayesian.BayesXPModel` (foundation, heads' weight draws and feature maps, their settings).

The file layout, the checksums and the foundation part are :mod:`bayesxp.model.folder`'s; this module adds the
heads (tensors ``heads.<name>.samples.<site>`` and ``heads.<name>.features.<key>``; in ``config.yaml`` the
:class:`~bayesxp.model.heads.HeadFittingConfig` under ``heads`` and each head's method, likelihood, selection
and the mass/age domain). A model with the joint head instead holds ``heads.joint.state.<key>`` (the guide's
parameters and the standardisation, :meth:`~bayesxp.model.joint_head.JointHeadFit.state`) and
``heads.joint.features.<key>``, its :class:`~bayesxp.model.joint_head.JointHeadConfig` (likelihood resolved)
under ``heads.joint``; nothing is pickled.
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
from bayesxp.model.heads import HEADS, JOINT_HEAD, BayesianHead, HeadFit, HeadFittingConfig
from bayesxp.model.joint_head import JointHeadFit

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
        if isinstance(fit, JointHeadFit):
            if model.config.joint != fit.config:
                raise ValueError("the model's config.joint is not the joint head's resolved config")
            for key, values in fit.state().items():
                state[f"heads.{name}.state.{key}"] = values.detach().to(torch.float64).contiguous()
        else:
            for site, values in fit.samples.items():
                state[f"heads.{name}.samples.{site}"] = values.detach().to(torch.float64)
        for key, values in model.feature_maps[name].state().items():
            state[f"heads.{name}.features.{key}"] = values
    config = {"model": to_dict(model.foundation.spec), "heads": to_dict(model.config),
              "head_method": {n: getattr(f, "method", "svi") for n, f in model.heads.items()},
              "head_likelihood": {n: f.likelihood if isinstance(f, JointHeadFit) else f.head.config.likelihood
                                  for n, f in model.heads.items()},
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
        ['joint']
    """
    from bayesxp.model.bayesian import BayesXPModel

    folder = Path(folder) if folder is not None else default_model_path()
    state, config, tokenizer_state, manifest = read_model_folder(folder)
    try:
        heads_config = spec_from_config(config["heads"], HeadFittingConfig)
    except (KeyError, ValueError, TypeError, ModelFileError) as exc:
        raise ModelFileError(f"{folder}: config or tokenizer does not fit this bayesxp version ({exc})") from exc
    foundation = foundation_from_folder(folder, state, config, tokenizer_state)
    if heads_config.joint is not None:
        heads, feature_maps = _load_joint(folder, state, heads_config)
    else:
        heads, feature_maps = _load_separate(folder, state, config, heads_config)
    model = BayesXPModel(foundation, heads, feature_maps, heads_config, domain=config.get("domain"),
                         manifest=manifest)
    model.selection = config.get("head_selection", {})
    return model


def _head_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix``, keyed by the rest of their name."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _load_joint(folder: Path, state: dict[str, torch.Tensor], heads_config: HeadFittingConfig
                ) -> tuple[dict[str, JointHeadFit], dict[str, FeatureMap]]:
    """The joint head and its feature map."""
    features = _head_state(state, f"heads.{JOINT_HEAD}.features.")
    fit_state = _head_state(state, f"heads.{JOINT_HEAD}.state.")
    if not features or not fit_state:
        raise ModelFileError(f"{folder}: head {JOINT_HEAD!r} is missing from the weights")
    feature_map = FeatureMap.from_state(features)
    try:
        fit = JointHeadFit.from_state(fit_state, heads_config.joint, feature_map.components.shape[1])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{folder}: head {JOINT_HEAD!r} does not fit its config ({exc})") from exc
    return {JOINT_HEAD: fit}, {JOINT_HEAD: feature_map}


def _load_separate(folder: Path, state: dict[str, torch.Tensor], config: dict, heads_config: HeadFittingConfig
                   ) -> tuple[dict[str, HeadFit], dict[str, FeatureMap]]:
    """The separate heads of :data:`~bayesxp.model.heads.HEADS` and their feature maps."""
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
    return heads, feature_maps
