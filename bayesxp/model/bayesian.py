"""The full bayesxp model: the foundation backbone with Pyro Bayesian heads, from spectra to posteriors.

``bayesxp.load()`` returns a :class:`BayesXPModel`; ``model.posterior(x)`` turns spectra (arrays, an astropy
Table, a pandas DataFrame, a :class:`~bayesxp.spectra.SampledSpectra` or a file: see
:func:`bayesxp.xp.inputs.as_spectra`) into a :class:`~bayesxp.posterior.Posterior` over mass, age, Teff,
logg and [M/H].

Heads: the shipped model has one head ``joint`` over all five quantities (``HeadFittingConfig.joint``;
:mod:`bayesxp.model.joint_head`, features from the five request embeddings: :func:`joint_embedding`), whose
draws are fresh for any number of samples, jointly distributed, and never on a physical bound; each of its
fitting stars is seen once, half with spectrum+colours and half with the spectrum alone as context. Without
``joint`` (see :mod:`bayesxp.model.heads`): ``mass_age`` (joint over ln mass and ln age, from the ``ln_mass``
and ``ln_age`` request embeddings) and one per atmospheric label (``teff``, ``logg``, ``m_h``), each star seen
in both contexts; their draws resample stored weight draws, and the separate heads share standard normals.
Fitting lives in :mod:`bayesxp.model.fit_heads`, the model folder in :mod:`bayesxp.model.bayesian_folder`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from bayesxp.model.bayesian_folder import load_model, save_model
from bayesxp.model.features import FeatureMap
from bayesxp.model.foundation import FoundationModel
from bayesxp.model.heads import HEADS, JOINT_HEAD, HeadFit, HeadFittingConfig, predictive_samples
from bayesxp.model.joint_head import JointHeadFit, joint_predictive
from bayesxp.model.joint_likelihood import JOINT_LABELS
from bayesxp.model.tokenizer import Tokenizer, Tokens
from bayesxp.posterior import Posterior
from bayesxp.quantities import LABELS, LN_SCALE, MODEL_LABELS, PHOTOMETRIC_LABELS, PHYSICAL_RANGE, QUANTITIES
from bayesxp.spectra import STATUS_OK, SampledSpectra
from bayesxp.xp.inputs import as_spectra, photometry_labels

__all__ = ["CONTEXTS", "DOMAIN_LABELS", "JOINT_FEATURE_HEADS", "JOINT_NUM_SAMPLES",
           "joint_embedding", "BayesXPModel", "load"]

#: What a star's embeddings may be computed from: ``"full"`` (spectrum and any photometry) or ``"spectrum"``.
CONTEXTS = ("full", "spectrum")

#: Labels whose range over the mass-labelled stars is the mass/age heads' domain (outside it: a flag).
DOMAIN_LABELS = ("teff", "logg", "m_h")

#: Model label -> the quantity of the posterior it gives (``ln_mass`` -> ``mass``, ...).
_QUANTITY_OF_LABEL = {label: quantity for quantity, label in MODEL_LABELS.items()}

#: The heads whose request embeddings, concatenated in this order, are the joint head's input: the keys
#: follow :data:`~bayesxp.model.joint_likelihood.JOINT_LABELS` (teff, logg, m_h, ln_mass, ln_age).
JOINT_FEATURE_HEADS = ("teff", "logg", "m_h", "mass_age")
if tuple(k for name in JOINT_FEATURE_HEADS for k in HEADS[name]) != JOINT_LABELS:  # pragma: no cover
    raise ImportError("JOINT_FEATURE_HEADS does not follow JOINT_LABELS")

#: Default draws per star of a model with a joint head (as many as the separate heads store).
JOINT_NUM_SAMPLES = 200


def joint_embedding(embeddings: dict[str, np.ndarray]) -> np.ndarray:
    """The joint head's input: the request embeddings of the five labels, concatenated per star.

    Args:
        embeddings: ``{head name: (N, len(keys) * D)}``, as :meth:`BayesXPModel.embeddings` returns.

    Returns:
        ``(N, 5 D)``, the keys in :data:`~bayesxp.model.joint_likelihood.JOINT_LABELS` order.

    Example:
        >>> parts = {"teff": np.zeros((2, 3)), "logg": np.ones((2, 3)), "m_h": np.zeros((2, 3)),
        ...          "mass_age": np.ones((2, 6))}
        >>> joint_embedding(parts).shape
        (2, 15)
    """
    return np.concatenate([embeddings[name] for name in JOINT_FEATURE_HEADS], axis=1)  # (N, 5 D)


class BayesXPModel:
    """Foundation model plus fitted Bayesian heads.

    Args:
        foundation: The trained backbone and tokenizer.
        heads: ``{name: HeadFit}`` for the separate heads of :data:`~bayesxp.model.heads.HEADS`, or
            ``{"joint": JointHeadFit}`` for a model with the joint head.
        feature_maps: ``{name: FeatureMap}``, the same names.
        config: The settings the heads were fitted with.
        domain: Optional ``{"teff": [lo, hi], "logg": ..., "m_h": ...}`` of the mass/age training labels;
            stars predicted outside it are flagged.
        manifest: The folder's manifest (versions, training summary) when loaded.

    Example:
        >>> model = load()
        >>> model.tokenizer is model.foundation.tokenizer
        True
    """

    def __init__(self, foundation: FoundationModel, heads: dict[str, HeadFit | JointHeadFit],
                 feature_maps: dict[str, FeatureMap],
                 config: HeadFittingConfig, domain: dict | None = None, manifest: dict | None = None) -> None:
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

    @property
    def joint_head(self) -> JointHeadFit | None:
        """The joint head, or None for a model with the separate heads."""
        return self.heads.get(JOINT_HEAD)

    @property
    def default_num_samples(self) -> int:
        """Draws per star when ``num_samples`` is not given: the separate heads' stored weight draws, or
        :data:`JOINT_NUM_SAMPLES` with the joint head (which draws afresh for any number)."""
        if self.joint_head is not None:
            return JOINT_NUM_SAMPLES
        return next(iter(next(iter(self.heads.values())).samples.values())).shape[0]

    def embeddings(self, tokens: Tokens, context: str = "full") -> dict[str, np.ndarray]:
        """Frozen request embeddings per head: ``{name: (N, len(keys) * D)}``.

        Args:
            tokens: Encoded stars.
            context: ``"full"`` (spectrum and any photometry) or ``"spectrum"`` (spectrum only).

        Returns:
            The embeddings of each head's request keys, concatenated per star.

        Example:
            >>> from bayesxp.data.demo import demo_path
            >>> from bayesxp.io.library import read_sampled_table
            >>> model, stars = load(), read_sampled_table(demo_path()).take(slice(0, 3))
            >>> labels = photometry_labels(stars.meta)
            >>> tokens = model.tokenizer.encode(stars.flux, stars.flux_error, labels, np.zeros_like(labels))
            >>> model.embeddings(tokens)["mass_age"].shape
            (3, 192)
        """
        keys = tuple(dict.fromkeys(k for keys in HEADS.values() for k in keys))
        context_keys = self.tokenizer.spectral_keys + (PHOTOMETRIC_LABELS if context == "full" else ())
        _, _, embedding = self.foundation.predict_tokens(tokens, context_keys, keys)  # (N, R, D)
        return {name: embedding[:, [keys.index(k) for k in head_keys]].reshape(len(tokens), -1)
                for name, head_keys in HEADS.items()}

    def _physical(self, key: str, values: np.ndarray) -> np.ndarray:
        k = self.tokenizer.keys.index(key)
        return values * self.tokenizer.std[k, 0] + self.tokenizer.mean[k, 0]

    # ------------------------------------------------------------------ prediction
    def posterior(self, x: object, flux_error: np.ndarray | None = None, num_samples: int | None = None,
                  context: str = "full", batch_size: int = 2048, seed: int = 0,
                  on_batch: Callable[[int], object] | None = None) -> Posterior:
        """Posterior samples over mass, age, Teff, logg and [M/H].

        Args:
            x: Spectra in any form :func:`as_spectra` takes. A file is read in batches; for files whose
                samples would not fit in memory use :meth:`iter_posterior` or :func:`bayesxp.predict.predict_file`.
            flux_error: Errors when ``x`` is a flux array.
            num_samples: Samples per star S (default :attr:`default_num_samples`, 200). The separate heads
                resample their stored weight draws; the joint head draws every sample afresh.
            context: ``"full"``: spectrum and whatever photometry the input has; ``"spectrum"``: spectrum only.
            batch_size: Stars per batch (bounds memory).
            seed: Seed of the predictive draws (batch k uses ``seed + k``).
            on_batch: Called with each batch's number of stars once it is drawn (e.g. a progress bar's
                ``update``).

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
            batches = self.iter_posterior(x, num_samples, context, batch_size, seed)
        else:
            spectra = as_spectra(x, flux_error)
            batches = (self._posterior_batch(spectra.take(slice(s, s + batch_size)), num_samples, context, seed + k)
                       for k, s in enumerate(range(0, max(len(spectra), 1), batch_size)))
        parts = []
        for part in batches:
            parts.append(part)
            if on_batch is not None:
                on_batch(len(part.source_id))
        return Posterior.concatenate(parts)

    def iter_posterior(self, path: str | os.PathLike, num_samples: int | None = None, context: str = "full",
                       batch_size: int = 2048, seed: int = 0, skip: set[int] | None = None
                       ) -> Iterator[Posterior | None]:
        """Posteriors of a file, one batch at a time (memory bounded by ``batch_size``, whatever the file size).

        Args:
            path: Any file :func:`bayesxp.xp.read.read_spectra` reads.
            num_samples: Samples per star.
            context: ``"full"`` or ``"spectrum"``.
            batch_size: Stars per batch.
            seed: Batch k uses ``seed + k``.
            skip: Batch indices to read past without predicting (they yield None): resuming.

        Yields:
            One :class:`Posterior` per batch, in file order.
        """
        from bayesxp.xp.read import iter_spectra

        for k, part in enumerate(iter_spectra(path, batch_size)):
            yield None if skip and k in skip else self._posterior_batch(part, num_samples, context, seed + k)

    def _posterior_batch(self, spectra: SampledSpectra, num_samples: int | None, context: str, seed: int) -> Posterior:
        """The posterior of one batch; unusable stars keep NaN samples and a status saying why."""
        n = len(spectra)
        usable = spectra.usable
        labels = photometry_labels(spectra.meta) if len(spectra.meta) else np.full((n, len(LABELS)), np.nan, np.float32)
        n_samples = num_samples or self.default_num_samples
        samples = {q: np.full((n_samples, n), np.nan) for q in QUANTITIES}  # (S, N) per quantity
        aleatoric = {q: np.full(n, np.nan) for q in samples}
        epistemic = {q: np.full(n, np.nan) for q in samples}
        status = np.array([STATUS_OK if ok else (s if s != STATUS_OK else "no usable flux") for s, ok in
                           zip(spectra.status, usable)], dtype=object)
        flags = np.array(["" if s == STATUS_OK else str(s) for s in spectra.status], dtype=object)
        rows = np.flatnonzero(usable)
        if len(rows):
            part = spectra.take(rows)
            tokens = self.tokenizer.encode(part.flux, part.flux_error, labels[rows], np.zeros_like(labels[rows]))
            embeddings = self.embeddings(tokens, context)
            draw = self._joint_draws if self.joint_head is not None else self._separate_draws
            for quantity, (values, aleatoric_std, epistemic_std) in draw(embeddings, n_samples, seed).items():
                samples[quantity][:, rows] = values  # (S, N_usable)
                aleatoric[quantity][rows] = aleatoric_std
                epistemic[quantity][rows] = epistemic_std
            if self.domain:
                outside = np.zeros(len(rows), bool)
                for key in DOMAIN_LABELS:
                    lo, hi = self.domain.get(key, (-np.inf, np.inf))
                    centre = np.median(samples[key][:, rows], axis=0)
                    outside |= (centre < lo) | (centre > hi)
                note = "mass/age extrapolated: outside the seismic training domain"
                flags[rows[outside]] = [f"{f}; {note}" if f else note for f in flags[rows[outside]]]
        return Posterior(samples=samples, source_id=spectra.source_id, status=status, aleatoric_std=aleatoric,
                         epistemic_std=epistemic, flags=flags)

    def _separate_draws(self, embeddings: dict[str, np.ndarray], n_samples: int, seed: int
                        ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The separate heads: ``{quantity: (draws (S, N), aleatoric std (N,), epistemic std (N,))}``.

        The stored weight draws resampled to S, mass and age clipped to their bounds, the stds first order.
        """
        n_draws = self.default_num_samples
        pick = np.random.default_rng(seed).choice(n_draws, n_samples, replace=n_samples > n_draws) \
            if n_samples != n_draws else np.arange(n_draws)
        out = {}
        for name, keys in HEADS.items():
            features = self.feature_maps[name].transform(embeddings[name])
            draws, aleatoric_std, epistemic_std = predictive_samples(self.heads[name], features, seed=seed)
            draws = draws[pick]  # (S, N, d)
            for i, key in enumerate(keys):
                physical = self._physical(key, draws[..., i])
                scale = self.tokenizer.std[self.tokenizer.keys.index(key), 0]
                quantity = _QUANTITY_OF_LABEL[key]
                if quantity in LN_SCALE:
                    physical = np.clip(physical, *np.log(PHYSICAL_RANGE[key]))
                    centre = np.exp(np.median(physical, axis=0))
                    # first order, linear units
                    out[quantity] = (np.exp(physical), centre * aleatoric_std[:, i] * scale,
                                     centre * epistemic_std[:, i] * scale)
                else:
                    out[quantity] = (physical, aleatoric_std[:, i] * scale, epistemic_std[:, i] * scale)
        return out

    def _joint_draws(self, embeddings: dict[str, np.ndarray], n_samples: int, seed: int
                     ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The joint head: ``{quantity: (draws (S, N), aleatoric std (N,), epistemic std (N,))}``.

        S fresh joint draws (``pyro.infer.Predictive``; none on a bound, no clipping); the stds from the law
        of total variance over the same S weight draws (:func:`~bayesxp.model.joint_head.joint_predictive`), in
        physical units.
        """
        fit = self.joint_head
        features = self.feature_maps[JOINT_HEAD].transform(joint_embedding(embeddings))  # (N, F)
        draws, parts = joint_predictive(fit, features, num_samples=n_samples, seed=seed)  # {q: (S, N)}
        return {q: (draws[q], np.sqrt(parts.aleatoric[q]), np.sqrt(parts.epistemic[q])) for q in QUANTITIES}

    # ------------------------------------------------------------------ folder
    def save(self, folder: str | Path, summary: dict | None = None) -> Path:
        """Write the model folder (safetensors + YAML + JSON, checksummed): :func:`~bayesxp.model.bayesian_folder.save_model`.

        Args:
            folder: Target folder (created).
            summary: Training figures to keep in the manifest.

        Returns:
            The folder.
        """
        return save_model(self, folder, summary)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> BayesXPModel:
        """Read a model folder (default: the shipped model): :func:`~bayesxp.model.bayesian_folder.load_model`.

        Args:
            folder: A model folder.

        Returns:
            The model.
        """
        return load_model(folder)


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
        ['joint']
    """
    return load_model(path)
