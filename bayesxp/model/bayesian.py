"""The full bayesxp model: the foundation backbone with Pyro Bayesian heads, its folder, and ``load``.

``bayesxp.load()`` returns a :class:`BayesXPModel`; ``model.posterior(x)`` turns spectra (arrays, an astropy
Table, a pandas DataFrame, a :class:`~bayesxp.spectra.SampledSpectra` or a file) into a
:class:`~bayesxp.posterior.Posterior` over mass, age, Teff, logg and [M/H].

Heads (see :mod:`bayesxp.model.heads`): ``mass_age`` (joint over ln mass and ln age, from the ``ln_mass`` and
``ln_age`` request embeddings) and one per atmospheric label (``teff``, ``logg``, ``m_h``). Each head reads
frozen backbone embeddings; its training stars are seen twice, with spectrum+colours and with the
spectrum alone as context, so it serves both kinds of input.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from astropy.table import Table

from bayesxp.config import to_dict
from bayesxp.data.dataset import TrainingSet
from bayesxp.errors import BayesXPError, ModelFileError
from bayesxp.model.folder import read_model_folder, save_model_folder, spec_from_config
from bayesxp.model.foundation import FoundationModel, ModelSpec
from bayesxp.model.heads import (
    LIKELIHOODS,
    FeatureMap,
    HeadConfig,
    HeadFit,
    fit_nuts,
    fit_svi,
    predictive_log_score,
    predictive_samples,
)
from bayesxp.model.tokenizer import Tokenizer, Tokens
from bayesxp.paths import resources_dir
from bayesxp.posterior import Posterior
from bayesxp.quantities import LABELS, PHOTOMETRIC_LABELS, PHYSICAL_RANGE, hash_bucket, source_id_keys
from bayesxp.spectra import STATUS_OK, SampledSpectra

__all__ = ["HEADS", "HeadsConfig", "BayesXPModel", "load", "default_model_path", "as_spectra", "photometry_labels"]

#: Physical range of the mass [Msun] and age [Gyr] draws: a heavy-tailed (Student-t) head's far tail in ln age
#: would otherwise give ages of 1e8 Gyr; draws beyond these bounds are set to them (a prior truncation).
#: Head name -> the request keys whose embeddings it reads (and whose values it predicts).
HEADS = {"mass_age": ("ln_mass", "ln_age"), "teff": ("teff",), "logg": ("logg",), "m_h": ("m_h",)}
_CONTEXTS = ("full", "spectrum")


@dataclass(frozen=True)
class HeadsConfig:
    """Settings of every head.

    Attributes:
        mass_age: The joint head (mass and age labels are derived, so their errors are propagated).
        labels: The atmospheric-label heads (measured labels: their errors are convolved).
        max_train_stars: Subsample of the fitting stars for the heads (SVI cost grows with it).
        fit_split: Split whose embeddings the heads are fitted on. ``"val"``: stars the backbone never
            trained on, so the heads learn the scatter new stars will have (the backbone fits its own training
            stars much better than unseen ones: measured val NLL 0.31 vs train loss -1.21, and heads fitted on
            training-star embeddings covered 54% of test Teff at 68%). ``"train"`` reuses the training stars.
        selection_fraction: With ``likelihood: auto``, the fraction of the fitting stars (by a hash of the
            source id) held out to choose the likelihood by log predictive density; the chosen family is
            then refitted on all fitting stars.
    """

    mass_age: HeadConfig = field(default_factory=lambda: HeadConfig(label_error="propagate"))
    labels: HeadConfig = field(default_factory=lambda: HeadConfig(n_features=32, svi_steps=2000))
    max_train_stars: int = 8000
    fit_split: str = "val"
    selection_fraction: float = 0.3

    def __post_init__(self) -> None:
        if self.fit_split not in ("train", "val"):
            raise ValueError(f"fit_split must be 'train' or 'val', not {self.fit_split!r}")
        if not 0.0 < self.selection_fraction < 1.0:
            raise ValueError(f"selection_fraction must be in (0, 1), not {self.selection_fraction}")


def default_model_path() -> Path:
    """The pretrained model shipped inside the package."""
    return resources_dir() / "model"


def photometry_labels(meta: pd.DataFrame) -> np.ndarray:
    """``(N, len(LABELS))`` label matrix holding only the photometry a file may carry (others NaN).

    Understands the library's columns (``j, h, k, gaiaedr3_phot_{bp,rp}_mean_mag, ak_targ``) and the Gaia
    archive's (``phot_bp_mean_mag``, ``phot_rp_mean_mag``, ``bp_rp``).
    """
    n = len(meta)
    out = np.full((n, len(LABELS)), np.nan, np.float32)

    def col(*names: str) -> np.ndarray:
        for name in names:
            if name in meta:
                return pd.to_numeric(meta[name], errors="coerce").to_numpy(np.float64)
        return np.full(n, np.nan)

    bp_rp = col("bp_rp")
    derived = col("gaiaedr3_phot_bp_mean_mag", "phot_bp_mean_mag") - col("gaiaedr3_phot_rp_mean_mag", "phot_rp_mean_mag")
    out[:, LABELS.index("bp_rp")] = np.where(np.isfinite(bp_rp), bp_rp, derived)
    out[:, LABELS.index("j_h")] = col("j", "j_m") - col("h", "h_m")
    out[:, LABELS.index("j_k")] = col("j", "j_m") - col("k", "ks_m", "k_m")
    ak = col("ak_targ")
    out[:, LABELS.index("ak_targ")] = np.where(np.abs(ak) < 5, ak, np.nan)
    return out


def as_spectra(x: object, flux_error: np.ndarray | None = None) -> SampledSpectra:
    """Turn any supported input into :class:`SampledSpectra`.

    Args:
        x: SampledSpectra; a path (any file :func:`bayesxp.io.archive.read_spectra` reads); an astropy Table
            or pandas DataFrame in a supported layout; or a flux array ``(N, 343)`` with ``flux_error``.
        flux_error: Errors when ``x`` is a flux array.

    Returns:
        The spectra.
    """
    from bayesxp.io.archive import read_spectra, spectra_from_table

    if isinstance(x, SampledSpectra):
        return x
    if isinstance(x, str | os.PathLike):
        return read_spectra(x)
    if isinstance(x, pd.DataFrame):
        return spectra_from_table(Table.from_pandas(x), "<DataFrame>")
    if isinstance(x, Table):
        return spectra_from_table(x, "<Table>")
    flux = np.asarray(x, dtype=np.float64)
    if flux.ndim == 1:
        flux = flux[None]
    if flux_error is None:
        raise BayesXPError("flux_error is needed with a flux array")
    flux_error = np.asarray(flux_error, dtype=np.float64).reshape(flux.shape)
    table = Table({"flux": flux, "flux_error": flux_error, "medflux": np.ones(len(flux))})
    return spectra_from_table(table, "<array>")


class BayesXPModel:
    """Foundation model plus fitted Bayesian heads.

    Args:
        foundation: The trained backbone and tokenizer.
        heads: ``{name: HeadFit}``.
        feature_maps: ``{name: FeatureMap}``.
        config: Heads settings.
        domain: Optional ``{"teff": [lo, hi], "logg": ..., "m_h": ...}`` of the mass/age training labels;
            stars predicted outside it are flagged.
        manifest: The folder's manifest (versions, training summary) when loaded.
    """

    def __init__(self, foundation: FoundationModel, heads: dict[str, HeadFit], feature_maps: dict[str, FeatureMap],
                 config: HeadsConfig, domain: dict | None = None, manifest: dict | None = None) -> None:
        self.foundation = foundation
        self.heads = heads
        self.feature_maps = feature_maps
        self.config = config
        self.domain = domain or {}
        self.manifest = manifest or {}
        self.selection: dict = {}  # per head: the likelihood chosen and the validation scores

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer."""
        return self.foundation.tokenizer

    # ------------------------------------------------------------------ features
    def embeddings(self, tokens: Tokens, context: str = "full") -> dict[str, np.ndarray]:
        """Frozen request embeddings per head: ``{name: (N, len(keys) * D)}``.

        Args:
            tokens: Encoded stars.
            context: ``"full"`` (spectrum and any photometry) or ``"spectrum"`` (spectrum only).
        """
        keys = tuple(dict.fromkeys(k for keys in HEADS.values() for k in keys))
        context_keys = self.tokenizer.spectral_keys + (PHOTOMETRIC_LABELS if context == "full" else ())
        _, _, embedding = self.foundation.predict_tokens(tokens, context_keys, keys)  # (N, R, D)
        return {name: embedding[:, [keys.index(k) for k in head_keys]].reshape(len(tokens), -1)
                for name, head_keys in HEADS.items()}

    def _standardise(self, key: str, values: np.ndarray) -> np.ndarray:
        k = self.tokenizer.keys.index(key)
        return (values - self.tokenizer.mean[k, 0]) / self.tokenizer.std[k, 0]

    def _physical(self, key: str, values: np.ndarray) -> np.ndarray:
        k = self.tokenizer.keys.index(key)
        return values * self.tokenizer.std[k, 0] + self.tokenizer.mean[k, 0]

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit_heads(cls, foundation: FoundationModel, ts: TrainingSet, config: HeadsConfig | None = None,
                  method: str = "svi", progress: bool = False) -> BayesXPModel:
        """Fit every head on frozen embeddings of ``config.fit_split`` (default: the validation split).

        Args:
            foundation: Trained foundation model.
            ts: The training set (its ``config.fit_split`` split is used).
            config: Heads settings.
            method: ``"svi"`` (production) or ``"nuts"`` (reference; slow).
            progress: Print a line per head.

        Returns:
            The full model.
        """
        config = config or HeadsConfig()
        model = cls(foundation, {}, {}, config)
        part = ts.subset(config.fit_split)
        if len(part) > config.max_train_stars:
            keep = np.sort(np.random.default_rng(0).choice(len(part), config.max_train_stars, replace=False))
            part = part.subset(keep)
        tokens = foundation.tokenizer.encode(part.flux, part.flux_error, part.labels, part.label_error)
        features = {c: model.embeddings(tokens, c) for c in _CONTEXTS}
        # likelihood selection: a deterministic share of the fitting stars, by a hash of the source id
        bucket = hash_bucket([f"heads:{key}" for key in source_id_keys(part.source_id)], 1000)
        held = np.concatenate([bucket < 1000 * config.selection_fraction] * len(_CONTEXTS))
        for name, keys in HEADS.items():
            start = time.perf_counter()
            head_config = config.mass_age if name == "mass_age" else config.labels
            x = np.concatenate([features[c][name] for c in _CONTEXTS])  # both contexts stacked
            y, cov = model._head_targets(part, keys)
            y, cov = np.concatenate([y] * len(_CONTEXTS)), np.concatenate([cov] * len(_CONTEXTS))
            fmap = FeatureMap(head_config.n_features).fit(x)
            z, rows = fmap.transform(x), np.isfinite(y[:, 0])
            if rows.sum() < 2 * head_config.n_features:
                raise ValueError(f"head {name}: only {int(rows.sum())} star-contexts of the {config.fit_split} split "
                                 f"have {keys[0]}; too few to fit {head_config.n_features} features")
            fit_one = fit_svi if method == "svi" else fit_nuts
            candidates = LIKELIHOODS if head_config.likelihood == "auto" else (head_config.likelihood,)
            scores = {}
            if len(candidates) > 1:
                a, b = rows & ~held, rows & held
                for likelihood in candidates:
                    family = dataclasses.replace(head_config, likelihood=likelihood)
                    scores[likelihood] = predictive_log_score(fit_one(z[a], y[a], cov[a], family), z[b], y[b], cov[b])
            best = max(scores, key=scores.get) if scores else candidates[0]
            fit = fit_one(z[rows], y[rows], cov[rows], dataclasses.replace(head_config, likelihood=best))
            model.heads[name], model.feature_maps[name] = fit, fmap
            model.selection[name] = {"likelihood": best, "validation_log_score": scores,
                                     "fit_split": config.fit_split, "n_rows": int(rows.sum())}
            if progress:
                print(f"head {name}: {int(rows.sum())} star-contexts of the {config.fit_split} split, {method}, "
                      f"likelihood {best} {scores or ''} ({time.perf_counter() - start:.0f} s)", flush=True)
        return model

    def _head_targets(self, ts: TrainingSet, keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Standardised targets ``(N, d)`` and their error covariance ``(N, d, d)``."""
        values = np.stack([self._standardise(k, ts.label(k)[0]) for k in keys], axis=1)
        errors = np.stack([ts.label(k)[1] / self.tokenizer.std[self.tokenizer.keys.index(k), 0] for k in keys], axis=1)
        errors = np.nan_to_num(errors)
        cov = np.zeros((len(ts), len(keys), len(keys)))
        for i in range(len(keys)):
            cov[:, i, i] = errors[:, i] ** 2
        if len(keys) == 2 and "transfer_mass_age_corr" in ts.meta:
            corr = np.nan_to_num(ts.meta["transfer_mass_age_corr"].to_numpy(float))
            cov[:, 0, 1] = cov[:, 1, 0] = corr * errors[:, 0] * errors[:, 1]
        return values, cov

    # ------------------------------------------------------------------ prediction
    def posterior(self, x: object, flux_error: np.ndarray | None = None, num_samples: int | None = None,
                  context: str = "full", batch_size: int = 2048, seed: int = 0) -> Posterior:
        """Posterior samples over mass, age, Teff, logg and [M/H].

        Args:
            x: Spectra in any form :func:`as_spectra` takes. A file is read in batches; for files whose
                samples would not fit in memory use :meth:`iter_posterior` or :func:`bayesxp.predict.predict_file`.
            flux_error: Errors when ``x`` is a flux array.
            num_samples: Samples per star S (default: the number of stored head draws, 200).
            context: ``"full"``: spectrum and whatever photometry the input has; ``"spectrum"``: spectrum only.
            batch_size: Stars per batch (bounds memory).
            seed: Seed of the predictive draws.

        Returns:
            The posterior; stars that cannot be used keep NaN samples and a status saying why.

        Example:
            >>> import bayesxp
            >>> from bayesxp.data.demo import demo_path
            >>> post = bayesxp.load().posterior(demo_path(), num_samples=50)
            >>> post.samples["mass"].shape
            (50, 240)
        """
        if isinstance(x, str | os.PathLike):
            return Posterior.concatenate(list(self.iter_posterior(x, num_samples, context, batch_size, seed)))
        spectra = as_spectra(x, flux_error)
        parts = [self._posterior_batch(spectra.take(slice(s, s + batch_size)), num_samples, context, seed + k)
                 for k, s in enumerate(range(0, max(len(spectra), 1), batch_size))]
        return Posterior.concatenate(parts)

    def iter_posterior(self, path: str | os.PathLike, num_samples: int | None = None, context: str = "full",
                       batch_size: int = 2048, seed: int = 0, skip: set[int] | None = None
                       ) -> Iterator[Posterior | None]:
        """Posteriors of a file, one batch at a time (memory bounded by ``batch_size``, whatever the file size).

        Args:
            path: Any file :func:`bayesxp.io.archive.read_spectra` reads.
            num_samples: Samples per star.
            context: ``"full"`` or ``"spectrum"``.
            batch_size: Stars per batch.
            seed: Batch k uses ``seed + k``.
            skip: Batch indices to read past without predicting (they yield None): resuming.

        Yields:
            One :class:`Posterior` per batch, in file order.
        """
        from bayesxp.io.archive import iter_spectra

        for k, part in enumerate(iter_spectra(path, batch_size)):
            yield None if skip and k in skip else self._posterior_batch(part, num_samples, context, seed + k)

    def _posterior_batch(self, spectra: SampledSpectra, num_samples: int | None, context: str, seed: int) -> Posterior:
        n = len(spectra)
        usable = spectra.usable
        labels = photometry_labels(spectra.meta) if len(spectra.meta) else np.full((n, len(LABELS)), np.nan, np.float32)
        n_draws = next(iter(next(iter(self.heads.values())).samples.values())).shape[0]
        s_out = num_samples or n_draws
        samples = {q: np.full((s_out, n), np.nan) for q in ("mass", "age", "teff", "logg", "m_h")}
        aleatoric = {q: np.full(n, np.nan) for q in samples}
        epistemic = {q: np.full(n, np.nan) for q in samples}
        status = np.array([STATUS_OK if u else (s if s != STATUS_OK else "no usable flux") for s, u in
                           zip(spectra.status, usable)], dtype=object)
        flags = np.array(["" if s == STATUS_OK else str(s) for s in spectra.status], dtype=object)
        rows = np.flatnonzero(usable)
        if len(rows):
            part = spectra.take(rows)
            tokens = self.tokenizer.encode(part.flux, part.flux_error, labels[rows], np.zeros_like(labels[rows]))
            features = self.embeddings(tokens, context)
            pick = np.random.default_rng(seed).choice(n_draws, s_out, replace=s_out > n_draws) if s_out != n_draws \
                else np.arange(n_draws)
            for name, keys in HEADS.items():
                z = self.feature_maps[name].transform(features[name])
                draws, alea, epi = predictive_samples(self.heads[name], z, seed=seed)
                draws = draws[pick]  # (S, N, d)
                for i, key in enumerate(keys):
                    physical = self._physical(key, draws[..., i])
                    scale = self.tokenizer.std[self.tokenizer.keys.index(key), 0]
                    quantity = {"ln_mass": "mass", "ln_age": "age"}.get(key, key)
                    if key.startswith("ln_"):
                        physical = np.clip(physical, *np.log(PHYSICAL_RANGE[key]))
                        samples[quantity][:, rows] = np.exp(physical)
                        centre = np.exp(np.median(physical, axis=0))
                        aleatoric[quantity][rows] = centre * alea[:, i] * scale  # first order, linear units
                        epistemic[quantity][rows] = centre * epi[:, i] * scale
                    else:
                        samples[quantity][:, rows] = physical
                        aleatoric[quantity][rows] = alea[:, i] * scale
                        epistemic[quantity][rows] = epi[:, i] * scale
            if self.domain:
                outside = np.zeros(len(rows), bool)
                for key in ("teff", "logg", "m_h"):
                    lo, hi = self.domain.get(key, (-np.inf, np.inf))
                    centre = np.median(samples[key][:, rows], axis=0)
                    outside |= (centre < lo) | (centre > hi)
                note = "mass/age extrapolated: outside the seismic training domain"
                flags[rows[outside]] = [f"{f}; {note}" if f else note for f in flags[rows[outside]]]
        return Posterior(samples=samples, source_id=spectra.source_id, status=status, aleatoric_std=aleatoric,
                         epistemic_std=epistemic, flags=flags)

    # ------------------------------------------------------------------ folder
    def save(self, folder: str | Path, summary: dict | None = None) -> Path:
        """Write the model folder (safetensors + YAML + JSON, checksummed)."""
        state = {f"foundation.{k}": v for k, v in self.foundation.state_dict().items()}
        for name, fit in self.heads.items():
            for site, values in fit.samples.items():
                state[f"heads.{name}.samples.{site}"] = values.detach().to(torch.float64)
            for key, values in self.feature_maps[name].state().items():
                state[f"heads.{name}.features.{key}"] = values
        config = {"model": to_dict(self.foundation.spec), "heads": to_dict(self.config),
                  "head_method": {n: f.method for n, f in self.heads.items()},
                  "head_likelihood": {n: f.head.config.likelihood for n, f in self.heads.items()},
                  "head_selection": self.selection, "domain": self.domain}
        return save_model_folder(folder, state, config, self.tokenizer.to_dict(), summary=summary)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> BayesXPModel:
        """Read a model folder (default: the shipped pretrained model); nothing is unpickled."""
        folder = Path(folder) if folder is not None else default_model_path()
        state, config, tokenizer_state, manifest = read_model_folder(folder)
        try:
            spec = spec_from_config(config["model"], ModelSpec)
            heads_config = spec_from_config(config["heads"], HeadsConfig)
            tokenizer = Tokenizer.from_dict(tokenizer_state)
        except (KeyError, ValueError, TypeError, ModelFileError) as exc:
            raise ModelFileError(f"{folder}: config or tokenizer does not fit this bayesxp version ({exc})") from exc
        foundation = FoundationModel(tokenizer, spec.backbone)
        prefix = "foundation."
        try:
            foundation.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        except RuntimeError as exc:
            raise ModelFileError(f"{folder}: weights do not fit the model config ({exc})") from exc
        foundation.eval()
        heads, feature_maps = {}, {}
        from bayesxp.model.heads import BayesianHead

        for name, keys in HEADS.items():
            head_config = heads_config.mass_age if name == "mass_age" else heads_config.labels
            features = {k.rsplit(".", 1)[1]: v for k, v in state.items() if k.startswith(f"heads.{name}.features.")}
            samples = {k.rsplit(".", 1)[1]: v for k, v in state.items() if k.startswith(f"heads.{name}.samples.")}
            if not samples or not features:
                raise ModelFileError(f"{folder}: head {name!r} is missing from the weights")
            fmap = FeatureMap.from_state(features)
            likelihood = config.get("head_likelihood", {}).get(name, head_config.likelihood)
            head = BayesianHead(fmap.components.shape[1], len(keys), dataclasses.replace(head_config,
                                                                                         likelihood=likelihood))
            heads[name] = HeadFit(head=head, samples=samples, method=config.get("head_method", {}).get(name, "svi"),
                                  diagnostics={})
            feature_maps[name] = fmap
        model = cls(foundation, heads, feature_maps, heads_config, domain=config.get("domain"), manifest=manifest)
        model.selection = config.get("head_selection", {})
        return model


def load(path: str | Path | None = None) -> BayesXPModel:
    """Load a bayesxp model folder (default: the pretrained model shipped with the package).

    Args:
        path: A model folder.

    Returns:
        The model.

    Example:
        >>> import bayesxp
        >>> model = bayesxp.load()
        >>> sorted(model.heads)
        ['logg', 'm_h', 'mass_age', 'teff']
    """
    return BayesXPModel.load(path)


