"""Fitting the Bayesian heads on a trained foundation model: the step between ``train`` and ``predict``.

- :func:`fit_heads`: every head of :data:`~bayesxp.model.heads.HEADS` fitted on frozen embeddings of the
  training set's ``fit_split`` stars (each seen twice: with spectrum and colours, and with the spectrum alone),
  the likelihood family chosen by held-out log predictive density where ``likelihood: auto``;
- or, when ``config.joint`` is set, one joint head over the five labels instead (:func:`joint_targets`: its
  physical labels and their error covariance; each star counted once, in one context);
- :func:`head_targets`: a head's standardised labels and their error covariance;
- :func:`mass_age_domain`: the Teff / logg / [M/H] range of the stars with a mass label;
- :func:`fit_heads_folder`: the whole ``bayesxp fit-heads`` job, foundation folder in, full model folder out.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from bayesxp.config import load_config
from bayesxp.data.dataset import DataConfig, TrainingSet, build_training_set
from bayesxp.data.summary import training_stars_record
from bayesxp.model.bayesian import CONTEXTS, DOMAIN_LABELS, BayesXPModel, joint_embedding
from bayesxp.model.features import FeatureMap
from bayesxp.model.folder import load_foundation, read_manifest
from bayesxp.model.foundation import FoundationModel
from bayesxp.model.heads import (
    HEADS,
    JOINT_HEAD,
    LIKELIHOODS,
    HeadFittingConfig,
    fit_nuts,
    fit_svi,
    predictive_log_score,
)
from bayesxp.model.joint_head import fit_joint_head
from bayesxp.model.joint_likelihood import JOINT_LABELS
from bayesxp.model.tokenizer import Tokenizer, Tokens
from bayesxp.quantities import hash_bucket, source_id_keys

__all__ = ["fit_heads", "head_targets", "joint_targets", "joint_contexts", "joint_features", "mass_age_domain",
           "fit_heads_folder"]


def head_targets(tokenizer: Tokenizer, training_set: TrainingSet, keys: tuple[str, ...]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """A head's labels in the tokenizer's standardised units, with their error covariance.

    Args:
        tokenizer: The model's tokenizer (normalisation statistics).
        training_set: The stars.
        keys: The head's label keys (a value of :data:`~bayesxp.model.heads.HEADS`).

    Returns:
        ``(values (N, d), covariance (N, d, d))``; for the joint head the mass-age error correlation of the
        label transfer, where the set has it.

    Example:
        >>> from bayesxp.model.folder import load_foundation, default_model_path
        >>> tokenizer = load_foundation(default_model_path()).tokenizer
        >>> values, covariance = head_targets(tokenizer, TrainingSet.synthetic(5, seed=0), ("ln_mass", "ln_age"))
        >>> values.shape, covariance.shape
        ((5, 2), (5, 2, 2))
    """
    scales = [tokenizer.std[tokenizer.keys.index(k), 0] for k in keys]
    values = np.stack([(training_set.label(k)[0] - tokenizer.mean[tokenizer.keys.index(k), 0]) / scale
                       for k, scale in zip(keys, scales)], axis=1)
    errors = np.stack([training_set.label(k)[1] / scale for k, scale in zip(keys, scales)], axis=1)
    return values, _error_covariance(training_set, keys, np.nan_to_num(errors))


def _error_covariance(training_set: TrainingSet, keys: tuple[str, ...], errors: np.ndarray) -> np.ndarray:
    """``(N, d, d)`` label error covariance: ``errors ** 2`` on the diagonal and, where ``keys`` hold both
    ``ln_mass`` and ``ln_age`` and the set has it, the label transfer's mass-age error correlation."""
    d = len(keys)
    covariance = np.zeros((len(training_set), d, d))
    covariance[:, range(d), range(d)] = errors**2
    if "ln_mass" in keys and "ln_age" in keys and "transfer_mass_age_corr" in training_set.meta:
        i, j = keys.index("ln_mass"), keys.index("ln_age")
        corr = np.nan_to_num(training_set.meta["transfer_mass_age_corr"].to_numpy(float))
        covariance[:, i, j] = covariance[:, j, i] = corr * errors[:, i] * errors[:, j]
    return covariance


def joint_targets(training_set: TrainingSet) -> tuple[np.ndarray, np.ndarray]:
    """The joint head's labels in physical model units, with their error covariance.

    Args:
        training_set: The stars.

    Returns:
        ``(targets (N, 5), label_cov (N, 5, 5))`` in the order of
        :data:`~bayesxp.model.joint_likelihood.JOINT_LABELS` (K, dex, dex, ln Msun, ln Gyr; NaN = missing):
        the squared label errors on the diagonal and, where the set has it, the label transfer's mass-age
        error correlation (as :func:`head_targets` builds it).

    Example:
        >>> targets, label_cov = joint_targets(TrainingSet.synthetic(5, seed=0))
        >>> targets.shape, label_cov.shape
        ((5, 5), (5, 5, 5))
    """
    values = np.stack([training_set.label(k)[0] for k in JOINT_LABELS], axis=1).astype(np.float64)  # (N, 5)
    errors = np.nan_to_num(np.stack([training_set.label(k)[1] for k in JOINT_LABELS], axis=1).astype(np.float64))
    return values, _error_covariance(training_set, JOINT_LABELS, errors)


def joint_contexts(source_id: np.ndarray) -> np.ndarray:
    """The one context each star of the joint head is fitted in: half of them (by a hash of the source id)
    with spectrum and colours, the other half with the spectrum alone, so the head serves both kinds of input
    while every star enters its likelihood once.

    Args:
        source_id: ``(N,)`` Gaia source ids.

    Returns:
        ``(N,)`` context names (values of :data:`~bayesxp.model.bayesian.CONTEXTS`).

    Example:
        >>> joint_contexts(np.array([1, 2, 3, 4])).tolist()
        ['spectrum', 'full', 'full', 'spectrum']
    """
    bucket = hash_bucket([f"context:{key}" for key in source_id_keys(source_id)], len(CONTEXTS))
    return np.array(CONTEXTS, dtype=object)[bucket]


def joint_features(model: BayesXPModel, tokens: Tokens, contexts: np.ndarray) -> np.ndarray:
    """The joint head's input before its feature map: each star's five request embeddings, in its own context.

    Args:
        model: A model (its backbone; the heads are not used).
        tokens: ``N`` stars' tokens.
        contexts: ``(N,)`` context names (:func:`joint_contexts`).

    Returns:
        ``(N, 5 D)`` (:func:`~bayesxp.model.bayesian.joint_embedding` of the context's embeddings per star).

    Example:
        >>> model = BayesXPModel.load()
        >>> stars = TrainingSet.synthetic(4, seed=0)
        >>> tokens = model.tokenizer.encode(stars.flux, stars.flux_error, stars.labels, stars.label_error)
        >>> joint_features(model, tokens, joint_contexts(stars.source_id)).shape
        (4, 480)
    """
    out = None
    for context in CONTEXTS:
        rows = np.flatnonzero(contexts == context)
        if len(rows):
            part = joint_embedding(model.embeddings(tokens.take(rows), context))  # (n, 5 D)
            out = np.empty((len(tokens), part.shape[1])) if out is None else out
            out[rows] = part
    return out


def _fit_joint(model: BayesXPModel, part: TrainingSet, tokens: Tokens, config: HeadFittingConfig, method: str,
               progress: bool) -> BayesXPModel:
    """Fit the one joint head of ``model`` (``config.joint`` set) on the fitting stars ``part``."""
    if method != "svi":
        raise ValueError(f"the joint head is fitted by SVI only, not {method!r}")
    start = time.perf_counter()
    contexts = joint_contexts(part.source_id)
    targets, label_cov = joint_targets(part)
    rows = np.isfinite(targets).any(axis=1)  # stars with at least one label
    if rows.sum() < 2 * config.joint_features:
        raise ValueError(f"joint head: only {int(rows.sum())} stars of the {config.fit_split} split have a label; "
                         f"too few to fit {config.joint_features} features")
    embedding = joint_features(model, tokens.take(np.flatnonzero(rows)), contexts[rows])  # (N, 5 D)
    blocks = len(JOINT_LABELS) if config.joint.feature_blocks else 1
    feature_map = FeatureMap(config.joint_features, blocks=blocks).fit(embedding)
    fit = fit_joint_head(feature_map.transform(embedding), targets[rows], label_cov[rows],
                         observed_mask=np.isfinite(targets[rows]), config=config.joint,
                         keys=source_id_keys(part.source_id[rows]))
    model.heads, model.feature_maps = {JOINT_HEAD: fit}, {JOINT_HEAD: feature_map}
    model.config = dataclasses.replace(config, joint=fit.config)  # the likelihood resolved
    scores = {k: float(v) for k, v in fit.diagnostics.get("selection", {}).items()}
    model.selection = {JOINT_HEAD: {
        "likelihood": fit.likelihood, "validation_log_score": scores, "fit_split": config.fit_split,
        "n_rows": int(rows.sum()), "contexts": {c: int((contexts[rows] == c).sum()) for c in CONTEXTS},
        "final_loss_per_star": float(fit.diagnostics["final_loss_per_star"]),
        "n_observed": {k: int(v) for k, v in fit.diagnostics["n_observed"].items()},
        "n_outside_bounds": {k: int(v) for k, v in fit.diagnostics["n_outside_bounds"].items()}}}
    if progress:
        print(f"head {JOINT_HEAD}: {int(rows.sum())} stars of the {config.fit_split} split, svi, likelihood "
              f"{fit.likelihood} {scores or ''} ({time.perf_counter() - start:.0f} s)", flush=True)
    return model


def fit_heads(foundation: FoundationModel, training_set: TrainingSet, config: HeadFittingConfig | None = None,
              method: str = "svi", progress: bool = False) -> BayesXPModel:
    """Fit every head on frozen embeddings of ``config.fit_split`` (default: the validation split).

    With ``config.joint`` set, one joint head (:mod:`bayesxp.model.joint_head`) instead of the separate heads:
    each star once, in the context :func:`joint_contexts` gives it; features the five request embeddings
    (:func:`~bayesxp.model.bayesian.joint_embedding`) through one ``FeatureMap`` of ``config.joint_features``;
    targets and errors from :func:`joint_targets`. The model's config then holds the resolved likelihood.

    Args:
        foundation: Trained foundation model.
        training_set: The training set (its ``config.fit_split`` split is used).
        config: Heads settings.
        method: ``"svi"`` (production) or ``"nuts"`` (reference; slow; separate heads only).
        progress: Print a line per head.

    Returns:
        The full model (no ``domain`` yet: see :func:`mass_age_domain`).

    Example:
        >>> from bayesxp.model.heads import BayesianHeadConfig
        >>> from bayesxp.model.folder import load_foundation, default_model_path
        >>> stars = TrainingSet.synthetic(60, seed=0)
        >>> tiny = BayesianHeadConfig(n_features=2, svi_steps=5, num_samples=4)
        >>> config = HeadFittingConfig(mass_age=tiny, labels=tiny, fit_split="train")
        >>> model = fit_heads(load_foundation(default_model_path()), stars, config)
        >>> sorted(model.heads)
        ['logg', 'm_h', 'mass_age', 'teff']
    """
    config = config or HeadFittingConfig()
    model = BayesXPModel(foundation, {}, {}, config)
    part = training_set.subset(config.fit_split)
    if len(part) > config.max_train_stars:
        keep = np.sort(np.random.default_rng(0).choice(len(part), config.max_train_stars, replace=False))
        part = part.subset(keep)
    tokens = foundation.tokenizer.encode(part.flux, part.flux_error, part.labels, part.label_error)
    if config.joint is not None:
        return _fit_joint(model, part, tokens, config, method, progress)
    features = {c: model.embeddings(tokens, c) for c in CONTEXTS}
    # likelihood selection: a deterministic share of the fitting stars, by a hash of the source id
    bucket = hash_bucket([f"heads:{key}" for key in source_id_keys(part.source_id)], 1000)
    held = np.concatenate([bucket < 1000 * config.selection_fraction] * len(CONTEXTS))
    fit_one = fit_svi if method == "svi" else fit_nuts
    for name, keys in HEADS.items():
        start = time.perf_counter()
        head_config = config.for_head(name)
        embedding = np.concatenate([features[c][name] for c in CONTEXTS])  # (len(CONTEXTS) * N, F)
        labels, covariance = head_targets(foundation.tokenizer, part, keys)
        labels = np.concatenate([labels] * len(CONTEXTS))
        covariance = np.concatenate([covariance] * len(CONTEXTS))
        feature_map = FeatureMap(head_config.n_features).fit(embedding)
        z, rows = feature_map.transform(embedding), np.isfinite(labels[:, 0])
        if rows.sum() < 2 * head_config.n_features:
            raise ValueError(f"head {name}: only {int(rows.sum())} star-contexts of the {config.fit_split} split "
                             f"have {keys[0]}; too few to fit {head_config.n_features} features")
        candidates = LIKELIHOODS if head_config.likelihood == "auto" else (head_config.likelihood,)
        scores = {}
        if len(candidates) > 1:
            train_rows, held_rows = rows & ~held, rows & held
            for likelihood in candidates:
                family = dataclasses.replace(head_config, likelihood=likelihood)
                fit = fit_one(z[train_rows], labels[train_rows], covariance[train_rows], family)
                scores[likelihood] = predictive_log_score(fit, z[held_rows], labels[held_rows], covariance[held_rows])
        best = max(scores, key=scores.get) if scores else candidates[0]
        fit = fit_one(z[rows], labels[rows], covariance[rows], dataclasses.replace(head_config, likelihood=best))
        model.heads[name], model.feature_maps[name] = fit, feature_map
        model.selection[name] = {"likelihood": best, "validation_log_score": scores,
                                 "fit_split": config.fit_split, "n_rows": int(rows.sum())}
        if progress:
            print(f"head {name}: {int(rows.sum())} star-contexts of the {config.fit_split} split, {method}, "
                  f"likelihood {best} {scores or ''} ({time.perf_counter() - start:.0f} s)", flush=True)
    return model


def mass_age_domain(training_set: TrainingSet) -> dict[str, list[float]]:
    """The range of Teff, logg and [M/H] over the stars with a mass label (the mass/age heads' domain).

    Args:
        training_set: The stars the heads were fitted from.

    Returns:
        ``{"teff": [lo, hi], "logg": [lo, hi], "m_h": [lo, hi]}``; stars predicted outside are flagged.

    Example:
        >>> sorted(mass_age_domain(TrainingSet.synthetic(20, seed=0)))
        ['logg', 'm_h', 'teff']
    """
    mass, _ = training_set.label("ln_mass")
    has = np.isfinite(mass)
    return {key: [float(np.nanmin(training_set.label(key)[0][has])), float(np.nanmax(training_set.label(key)[0][has]))]
            for key in DOMAIN_LABELS}


def fit_heads_folder(foundation_dir: str | Path, output_dir: str | Path,
                     config: HeadFittingConfig | str | Path | None = None,
                     data_config: DataConfig | str | Path | None = None, method: str = "svi",
                     progress: bool = True) -> Path:
    """``bayesxp fit-heads``: read a foundation folder, build the training set, fit the heads, save the model.

    Args:
        foundation_dir: A foundation folder (``bayesxp train``'s ``<run>/model``).
        output_dir: The full model folder to write.
        config: Heads settings, or a YAML file filling them (None: the defaults).
        data_config: Training-set settings, or a YAML file filling them (None: the defaults).
        method: ``"svi"`` or ``"nuts"``.
        progress: Print the training-set build and a line per head.

    Returns:
        The model folder written.

    Example:
        >>> fit_heads_folder("runs/foundation/model", "runs/bayesxp_model", "configs/heads.yaml",
        ...                  "configs/data.yaml")  # doctest: +SKIP
        PosixPath('runs/bayesxp_model')
    """
    if not isinstance(config, HeadFittingConfig):
        config = load_config(HeadFittingConfig, config)
    if not isinstance(data_config, DataConfig):
        data_config = load_config(DataConfig, data_config)
    foundation = load_foundation(foundation_dir)
    manifest = read_manifest(foundation_dir)
    training_set = build_training_set(data_config, progress=progress)
    start = time.perf_counter()
    model = fit_heads(foundation, training_set, config, method=method, progress=progress)
    model.domain = mass_age_domain(training_set)
    return model.save(output_dir, summary={"foundation": manifest.get("summary", {}), "head_method": method,
                                           "heads_seconds": time.perf_counter() - start,
                                           "training_stars": training_stars_record(
                                               training_set, data_config.exclude_reserved)})
