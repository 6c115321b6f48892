"""One joint Bayesian head over (Teff, logg, [M/H], ln mass, ln age): a per-star full covariance learned from the
frozen features, physical bounds as a prior, label errors by kind, the likelihood written once (Pyro).

Model for star i with features ``z_i`` (``(F,)``) and weights ``theta`` (Normal priors, ``PyroSample``), in a
latent space ``v`` standardised on the fitting stars (:mod:`bayesxp.model.joint_likelihood`):

- per component: location ``mu_i = W z_i + b`` (5), scales ``sigma_i = exp(W_s z_i + b_s) + floor`` (5) and
  a correlation Cholesky factor ``C_i = CorrCholesky(tanh-clamped W_r z_i + b_r)`` (10 partial
  correlations, each linear in the features it reads); the latent covariance is ``diag(sigma_i) C_i C_i^T diag(sigma_i)``.
  Why a Cholesky factor and not low-rank plus diagonal: five outputs need only 15 numbers per star, every
  correlation (including the strong mass-age one) is reachable at any rank, zero weights mean independent
  outputs, and the partial correlations are bounded by construction (|tanh| <= 0.995), so no weight
  draw gives a singular covariance.
- features: with ``feature_blocks`` (the shipped setting) ``z_i`` is five blocks, one per label's request
  embedding (:class:`~bayesxp.model.features.FeatureMap` with ``blocks=5``); a label's location and scale
  read only its own block (ln mass and ln age both of theirs). Measured on one backbone: one PCA of the five
  embeddings concatenated (32 features) gave test-split Teff mad_std 52.4 K, the blocks (5 x 32) 44.7 K
  against 44.2 K for a separate Teff head.
- what the partial correlations read (``correlation_features``, ``correlation_components``): in the shipped
  model, the partial correlation of labels i and j reads the first 3 components of the blocks of i and j.
  Reading all 160 features, the fitted correlations were diluted: on the test split the mean per-star
  mass-age correlation was -0.64 against a residual correlation of -0.95, and the held-out log predictive
  density -4.19 against -3.63 (3 components per block) and -3.67 (one correlation matrix for all stars):
  ``benchmarks/joint_correlations.py``.
- families: ``"gaussian"`` (``MultivariateNormal``), ``"student_t"`` (``MultivariateStudentT``, one global
  ``df = 2 + exp(log_df)`` > 2, so its variance ``scale^2 df / (df - 2)`` exists), ``"mixture"`` (two full
  Gaussian components with per-star weights, ``MixtureSameFamily``), or ``"auto"``: each fitted on the
  fitting stars outside a hash share (``hash_bucket("joint:<source_id>")``), the best held-out log
  predictive density refitted on all.
- bounds as a prior: ln mass and ln age are ``ln lo + (ln hi - ln lo) sigmoid(.)`` of their latent
  (:func:`~bayesxp.model.joint_likelihood.label_transform`), so the likelihood carries the Jacobian and no
  draw sits on a bound. Labels at or beyond a bound (after the error draw below) are dropped from that
  dim's likelihood, never clipped; their number is in ``fit.diagnostics["n_outside_bounds"]``.
- label errors by kind: measured labels (Teff, logg, [M/H]: label = truth + noise) are *deconvolved*: their
  error covariance is added to the predicted latent covariance; derived labels (ln mass, ln age: truth =
  label + error) are *propagated*: fitted on one draw of the truth per star, ``label + N(0, E)`` with the
  2x2 error covariance ``E``, as :func:`bayesxp.model.heads.effective_targets` does
  (:func:`~bayesxp.model.joint_likelihood.prepare_targets`; error covariances between a measured and a
  derived label are not used).
- missing labels: each star is one element of the ``stars`` plate; its likelihood is the closed-form
  marginal of its observed dims.

Inference: SVI with an ``AutoLowRankMultivariateNormal`` guide started at zero weights (every star at the
population's standardised mean and scale; the mixture's components at a 2-means split of the targets, else
both start identical and stay so), the guide's parameters local to the module (two fits never share Pyro's
global parameter store); prediction through ``pyro.infer.Predictive`` (vectorised), fresh weight and
observation draws for any number of samples.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyro
import pyro.distributions as dist
import scipy.special
import scipy.stats
import torch
from pyro.infer import Predictive, Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal, init_to_median, init_to_value
from pyro.nn import PyroModule, PyroSample
from torch.distributions.transforms import CorrCholeskyTransform

from bayesxp.model.joint_likelihood import (
    BOUNDED,
    FAMILIES,
    JOINT_LABELS,
    JOINT_QUANTITIES,
    JointLabelDistribution,
    PreparedTargets,
    base_distribution,
    label_transform,
    prepare_targets,
)
from bayesxp.quantities import LN_SCALE, PHYSICAL_RANGE, QUANTITIES, hash_bucket

__all__ = ["JointHeadConfig", "JointHead", "JointHeadFit", "fit_joint_head", "joint_predictive_samples",
           "VarianceParts", "joint_predictive", "joint_variance_parts", "joint_log_score", "QUADRATURE_NODES"]

_DIM = len(JOINT_LABELS)
_PER_COMPONENT = 2 * _DIM + _DIM * (_DIM - 1) // 2  # loc, log scale, partial correlations: 20
_MAX_PARTIAL = 3.0  # tanh(3) = 0.995: the largest partial correlation
_DERIVED_DIMS = [j for j, bounded in enumerate(BOUNDED) if bounded]
_DTYPE = torch.float64

#: Weight draws (the first of a call's S) that the aleatoric / epistemic split averages over: the epistemic
#: variance to sqrt(2 / 255) ~ 9% (relative std), at a cost that does not grow with S.
VARIANCE_DRAWS = 256

#: Nodes per latent marginal for the moments of mass and age (:func:`_marginal_nodes`): Gauss-Hermite nodes of a
#: Gaussian component, Monte Carlo draws of the Student-t.
QUADRATURE_NODES = 16

#: What the partial correlations read (:attr:`JointHeadConfig.correlation_features`).
CORRELATION_FEATURES = ("all", "pairs", "none")


def _feature_mask(n_features: int, n_components: int, blocked: bool, correlations: str = "all",
                  leading: int | None = None) -> torch.Tensor:
    """``(F, n_out)`` 0/1: which features each output reads (:attr:`JointHeadConfig.feature_blocks`,
    :attr:`JointHeadConfig.correlation_features`, :attr:`JointHeadConfig.correlation_components`).

    Example:
        >>> mask = _feature_mask(10, 1, True)  # blocks of 2 features
        >>> mask[:, :5].int().T.tolist()  # locations: own block; ln mass and ln age read both of theirs
        [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]]
        >>> _feature_mask(10, 1, True, "pairs")[:, -1].int().tolist()  # ln age with ln mass: their blocks
        [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
        >>> _feature_mask(10, 1, True, "pairs", leading=1)[:, 10].int().tolist()  # logg with Teff: 1 of each
        [1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        >>> int(_feature_mask(10, 1, True, "none")[:, 10:].sum())  # population correlations: bias only
        0
    """
    if correlations not in CORRELATION_FEATURES:
        raise ValueError(f"correlation_features must be one of {CORRELATION_FEATURES}, not {correlations!r}")
    n_out = _PER_COMPONENT * n_components + (1 if n_components > 1 else 0)
    mask = torch.ones(n_features, n_out, dtype=_DTYPE)
    if not blocked and correlations == "all" and leading is None:
        return mask
    if n_features % _DIM:
        raise ValueError(f"feature blocks need a feature count divisible by {_DIM}, not {n_features}")
    width = n_features // _DIM
    first = width if leading is None else leading
    if not 1 <= first <= width:
        raise ValueError(f"correlation_components must be in 1..{width} (the block width), not {leading}")

    def rows_of(blocks: Sequence[int], count: int) -> torch.Tensor:
        """The first ``count`` features of each of ``blocks``."""
        rows = torch.zeros(n_features, dtype=_DTYPE)
        for block in blocks:
            rows[block * width : block * width + count] = 1.0
        return rows

    reads = [[j] if not BOUNDED[j] else _DERIVED_DIMS for j in range(_DIM)]  # a label's location and scale
    pairs = torch.tril_indices(_DIM, _DIM, offset=-1).T.tolist()  # the partial correlations, in the order
    #                                                               CorrCholeskyTransform reads them
    for k in range(n_components):
        start = k * _PER_COMPONENT
        if blocked:
            for j in range(_DIM):
                for offset in (0, _DIM):  # location, log scale
                    mask[:, start + offset + j] = rows_of(reads[j], width)
        for column, (i, j) in enumerate(pairs, start=start + 2 * _DIM):
            blocks = {"all": range(_DIM), "pairs": sorted(set(reads[i]) | set(reads[j])), "none": []}[correlations]
            mask[:, column] = rows_of(blocks, first)
    return mask


@dataclass(frozen=True)
class JointHeadConfig:
    """Settings of the joint head (saved with the model).

    Attributes:
        likelihood: ``"gaussian"``, ``"student_t"``, ``"mixture"`` or ``"auto"`` (chosen by held-out log
            predictive density on a hash share ``selection_fraction`` of the fitting stars).
        prior_scale: Std of the Normal prior on every weight.
        svi_steps: Adam steps of SVI.
        svi_learning_rate: Adam learning rate (decays tenfold over the steps).
        guide_rank: Rank of the low-rank MVN guide.
        scale_floor: Minimum latent std (standardised units).
        measured_label_error: Teff, logg, [M/H] errors: ``"deconvolve"`` (label = truth + noise; the
            right treatment), ``"propagate"`` or ``"ignore"`` (wrong treatments, for tests and comparisons).
        derived_label_error: ln mass, ln age errors: ``"propagate"`` (truth = label + error; the right
            treatment) or ``"ignore"``. Deconvolution has no closed form through the bounded transform.
        selection_fraction: Held-out share of the fitting stars for ``likelihood="auto"``.
        selection_samples: Weight draws of the held-out log score.
        seed: Seed of SVI and of the error draws.
        feature_blocks: The features are five equal blocks, one per label in
            :data:`~bayesxp.model.joint_likelihood.JOINT_LABELS` order (each label's own request embedding,
            :class:`~bayesxp.model.features.FeatureMap` with ``blocks=5``): the location and scale of a label
            read only its own block (ln mass and ln age read both of theirs); what the partial correlations
            read is ``correlation_features``. False: the locations and scales read every feature.
        correlation_features: What the 10 partial correlations read: ``"all"`` (every feature), ``"pairs"``
            (the partial correlation of labels i and j reads the blocks the locations of i and j read; needs
            ``feature_blocks``) or ``"none"`` (bias only: one latent correlation matrix for every star; the
            per-star correlations of mass and age still vary through the bounded transform).
        correlation_components: With feature blocks, the partial correlations read only the first this many
            features (principal components) of each block they read; None: the whole block. The shipped model:
            ``"pairs"`` with 3 (see ``configs/heads.yaml`` for the held-out comparison).
    """

    likelihood: str = "auto"
    prior_scale: float = 1.0
    svi_steps: int = 3000
    svi_learning_rate: float = 0.01
    guide_rank: int = 10
    scale_floor: float = 1e-3
    measured_label_error: str = "deconvolve"
    derived_label_error: str = "propagate"
    selection_fraction: float = 0.3
    selection_samples: int = 200
    seed: int = 0
    feature_blocks: bool = False
    correlation_features: str = "all"
    correlation_components: int | None = None

    def __post_init__(self) -> None:
        if self.likelihood not in (*FAMILIES, "auto"):
            raise ValueError(f"likelihood must be one of {FAMILIES} or 'auto', not {self.likelihood!r}")
        if self.measured_label_error not in ("deconvolve", "propagate", "ignore"):
            raise ValueError(f"measured_label_error must be 'deconvolve', 'propagate' or 'ignore', "
                             f"not {self.measured_label_error!r}")
        if self.derived_label_error not in ("propagate", "ignore"):
            raise ValueError(f"derived_label_error must be 'propagate' or 'ignore' (no closed-form deconvolution "
                             f"through the bounded transform), not {self.derived_label_error!r}")
        if self.correlation_features not in CORRELATION_FEATURES:
            raise ValueError(f"correlation_features must be one of {CORRELATION_FEATURES}, "
                             f"not {self.correlation_features!r}")
        if (self.correlation_features == "pairs" or self.correlation_components is not None) and not self.feature_blocks:
            raise ValueError("correlation_features 'pairs' and correlation_components read the labels' feature blocks: "
                             "set feature_blocks")
        if self.correlation_components is not None and (self.correlation_features == "none"
                                                        or self.correlation_components < 1):
            raise ValueError(f"correlation_components must be a positive count of features for correlations that "
                             f"read features, not {self.correlation_components} with {self.correlation_features!r}")
        if not 0.0 < self.selection_fraction < 1.0:
            raise ValueError(f"selection_fraction must be in (0, 1), not {self.selection_fraction}")


def _standardisation(prepared: PreparedTargets) -> np.ndarray:
    """``(2, 5)`` latent offsets and scales: label mean / std, or for bounded labels those of the logit
    position between the bounds, over the observed fitting targets."""
    out = np.array([[0.0] * _DIM, [1.0] * _DIM])
    for j, label in enumerate(JOINT_LABELS):
        values = prepared.values[prepared.observed[:, j], j]
        if label in PHYSICAL_RANGE:
            low, high = np.log(PHYSICAL_RANGE[label])
            position = (values - low) / (high - low)
            values = np.log(position) - np.log1p(-position)
        if len(values) > 1:
            out[:, j] = values.mean(), max(values.std(), 1e-8)
    return out


class JointHead(PyroModule):
    """The joint Bayesian head: per-star distribution of the five labels from features ``(N, F)``.

    Args:
        n_features: Feature dimension F.
        likelihood: One of :data:`~bayesxp.model.joint_likelihood.FAMILIES`.
        standardisation: ``(2, 5)`` latent offsets and scales (:func:`label_transform`'s ``loc``, ``scale``).
        config: Prior scale and scale floor.

    Example:
        >>> head = JointHead(3, "gaussian", np.array([[0.0] * 5, [1.0] * 5]), JointHeadConfig())
        >>> head(torch.zeros(4, 3, dtype=torch.float64)).shape
        torch.Size([4, 5])
    """

    def __init__(self, n_features: int, likelihood: str, standardisation: np.ndarray, config: JointHeadConfig) -> None:
        super().__init__()
        if likelihood not in FAMILIES:
            raise ValueError(f"likelihood must be one of {FAMILIES}, not {likelihood!r}")
        self.n_features, self.likelihood, self.config = n_features, likelihood, config
        self.n_components = 2 if likelihood == "mixture" else 1
        self.n_out = _PER_COMPONENT * self.n_components + (1 if likelihood == "mixture" else 0)
        zero = torch.tensor(0.0, dtype=_DTYPE)
        scale = torch.tensor(config.prior_scale, dtype=_DTYPE)
        self.weight = PyroSample(dist.Normal(zero, scale).expand([n_features, self.n_out]).to_event(2))
        self.bias = PyroSample(dist.Normal(zero, scale).expand([self.n_out]).to_event(1))
        if likelihood == "student_t":
            self.log_df = PyroSample(dist.Normal(zero + np.log(10.0), zero + 1.0))
        self.register_buffer("mask", _feature_mask(n_features, self.n_components, config.feature_blocks,
                                                         config.correlation_features,
                                                         config.correlation_components),
                             persistent=False)
        standardisation = torch.as_tensor(standardisation, dtype=_DTYPE)
        self.transform = label_transform(standardisation[0], standardisation[1])

    def distribution(self, z: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                     log_df: torch.Tensor | None = None, observed: torch.Tensor | None = None,
                     error_cov: torch.Tensor | None = None) -> JointLabelDistribution:
        """The per-star distribution for given weights.

        Args:
            z: ``(N, F)`` features.
            weight: ``(..., F, n_out)`` weights; leading dims are weight draws (any shape, flattened to M).
            bias: ``(..., n_out)``.
            log_df: ``(...)`` Student-t log (df - 2).
            observed: ``(N, 5)`` bool.
            error_cov: ``(N, 5, 5)`` latent covariance to deconvolve.

        Returns:
            A :class:`JointLabelDistribution` with batch ``(N,)`` (one weight draw) or ``(M, N)``.
        """
        draws = weight.shape[:-2]
        out = z @ (weight.reshape(-1, self.n_features, self.n_out) * self.mask) + bias.reshape(-1, 1, self.n_out)  # (M, N, n_out)
        if not draws:
            out = out[0]  # (N, n_out)
        k = self.n_components
        per = out[..., : _PER_COMPONENT * k].unflatten(-1, (k, _PER_COMPONENT))  # (..., N, K, 20)
        loc = per[..., :_DIM]
        sigma = torch.exp(per[..., _DIM : 2 * _DIM].clamp(-12.0, 3.0)) + self.config.scale_floor
        corr_tril = CorrCholeskyTransform()(per[..., 2 * _DIM :].clamp(-_MAX_PARTIAL, _MAX_PARTIAL))  # (..., K, 5, 5)
        scale_tril = sigma.unsqueeze(-1) * corr_tril
        df = logits = None
        if self.likelihood == "mixture":
            half = out[..., -1:] / 2
            logits = torch.cat([-half, half], dim=-1)  # (..., N, 2)
        else:
            loc, scale_tril = loc[..., 0, :], scale_tril[..., 0, :, :]
        if self.likelihood == "student_t":
            df = 2.0 + torch.exp(log_df.reshape(-1, 1) if draws else log_df)
        base = base_distribution(self.likelihood, loc, scale_tril, df=df, logits=logits, extra_cov=error_cov)
        return JointLabelDistribution(base, self.transform, observed)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, observed: torch.Tensor | None = None,
                error_cov: torch.Tensor | None = None) -> torch.Tensor:
        """The model: ``y (N, 5)`` observed where ``observed (N, 5)``; one plate element per star.

        Returns the observed labels, or a draw of them when ``y`` is None.
        """
        log_df = self.log_df if self.likelihood == "student_t" else None
        likelihood = self.distribution(z, self.weight, self.bias, log_df, observed, error_cov)
        with pyro.plate("stars", z.shape[0]):
            return pyro.sample("y", likelihood, obs=y)


@dataclass
class JointHeadFit:
    """A fitted joint head.

    Attributes:
        head: The model.
        guide: The fitted ``AutoLowRankMultivariateNormal`` over its weights.
        config: The settings it was fitted with (``likelihood`` resolved).
        standardisation: ``(2, 5)`` latent offsets and scales.
        diagnostics: Final loss, steps, label counts, out-of-bound counts, selection scores.
    """

    head: JointHead
    guide: AutoLowRankMultivariateNormal
    config: JointHeadConfig
    standardisation: np.ndarray
    diagnostics: dict = field(default_factory=dict)

    @property
    def likelihood(self) -> str:
        """The fitted family."""
        return self.head.likelihood

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors for the model folder: the guide's parameters and the standardisation."""
        with pyro.settings.context(module_local_params=True):
            state = {f"guide.{k}": v.detach().clone() for k, v in self.guide.state_dict().items()}
        state["standardisation"] = torch.as_tensor(self.standardisation, dtype=_DTYPE)
        return state

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], config: JointHeadConfig, n_features: int) -> JointHeadFit:
        """Inverse of :meth:`state` (``config.likelihood`` must be the fitted family).

        Example:
            >>> z = np.random.default_rng(0).normal(size=(40, 2))
            >>> y = np.column_stack([4800 + 100 * z[:, 0], 2.5 + 0.1 * z[:, 1], 0.1 * z[:, 0], 0.2 + 0.1 * z[:, 1],
            ...                      1.5 - 0.3 * z[:, 1]])
            >>> fit = fit_joint_head(z, y, config=JointHeadConfig(likelihood="gaussian", svi_steps=3))
            >>> again = JointHeadFit.from_state(fit.state(), fit.config, 2)
            >>> s = [joint_predictive_samples(f, z[:2], 3, seed=1)["mass"] for f in (fit, again)]
            >>> bool(np.array_equal(*s))
            True
        """
        if config.likelihood not in FAMILIES:
            raise ValueError(f"config.likelihood must be the fitted family, not {config.likelihood!r}")
        standardisation = state["standardisation"].numpy()
        z = torch.zeros(1, n_features, dtype=_DTYPE)
        with pyro.settings.context(module_local_params=True):
            head = JointHead(n_features, config.likelihood, standardisation, config)
            guide = AutoLowRankMultivariateNormal(head, rank=config.guide_rank, init_scale=0.01)
            guide(z, *_observed_args(head, np.full((1, _DIM), np.nan), np.zeros((1, _DIM), bool),
                                     np.zeros((1, _DIM, _DIM))))
            guide.load_state_dict({k.removeprefix("guide."): v for k, v in state.items() if k.startswith("guide.")})
        return cls(head=head, guide=guide, config=config, standardisation=standardisation)


def _observed_args(head: JointHead, values: np.ndarray, observed: np.ndarray, error_cov: np.ndarray,
                   standardisation: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, observed, latent error covariance)`` tensors; missing values filled inside the bounds."""
    observed = torch.as_tensor(observed, dtype=torch.bool)
    fill = head.transform(torch.zeros(_DIM, dtype=_DTYPE))
    y = torch.where(observed, torch.as_tensor(np.nan_to_num(values), dtype=_DTYPE), fill)
    scale = torch.as_tensor(standardisation[1] if standardisation is not None else np.ones(_DIM), dtype=_DTYPE)
    latent_cov = torch.as_tensor(error_cov, dtype=_DTYPE) / (scale[:, None] * scale[None, :])
    return y, observed, latent_cov


def _mixture_bias(head: JointHead, y: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Initial bias of the mixture: its components at a 2-means split of the latent targets (the split starts
    from the sign of the first principal component: deterministic), so that SVI does not start from two
    identical components, which stay identical."""
    latent = torch.where(observed, head.transform.inv(y), torch.zeros_like(y)).numpy()  # (N, 5)
    _, _, vt = np.linalg.svd(latent - latent.mean(0), full_matrices=False)
    second = (latent - latent.mean(0)) @ vt[0] > 0
    for _ in range(20):
        if second.all() or not second.any():
            break
        centres = np.stack([latent[~second].mean(0), latent[second].mean(0)])
        second = ((latent - centres[1]) ** 2).sum(1) < ((latent - centres[0]) ** 2).sum(1)
    bias = np.zeros(head.n_out)
    if second.any() and not second.all():
        for k, rows in enumerate((~second, second)):
            part = bias[k * _PER_COMPONENT : (k + 1) * _PER_COMPONENT]
            part[:_DIM] = latent[rows].mean(0)
            part[_DIM : 2 * _DIM] = np.log(np.maximum(latent[rows].std(0), 0.05))
        bias[-1] = np.log(second.mean() / (1 - second.mean()))
    return torch.as_tensor(bias, dtype=_DTYPE)


def _fit_family(z: torch.Tensor, prepared: PreparedTargets, standardisation: np.ndarray, config: JointHeadConfig
                ) -> JointHeadFit:
    """SVI of one family on prepared targets."""
    with pyro.settings.context(module_local_params=True), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        head = JointHead(z.shape[1], config.likelihood, standardisation, config)
        args = (z, *_observed_args(head, prepared.values, prepared.observed, prepared.error_cov, standardisation))
        # start from the standardised population (zero weights: every star at mean 0, scale 1, no correlation);
        # the mixture from a 2-means split of it
        bias = (_mixture_bias(head, args[1], args[2]) if config.likelihood == "mixture"
                else torch.zeros(head.n_out, dtype=_DTYPE))
        init = init_to_value(values={"weight": torch.zeros(z.shape[1], head.n_out, dtype=_DTYPE), "bias": bias},
                             fallback=init_to_median)
        guide = AutoLowRankMultivariateNormal(head, rank=config.guide_rank, init_scale=0.01, init_loc_fn=init)
        guide(*args)  # set up the guide's parameters
        loss_fn = Trace_ELBO()(head, guide)
        optimiser = torch.optim.Adam(loss_fn.parameters(), lr=config.svi_learning_rate)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimiser, gamma=0.1 ** (1 / max(config.svi_steps, 1)))
        losses = []
        for _ in range(config.svi_steps):
            optimiser.zero_grad()
            loss = loss_fn(*args)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(loss_fn.parameters(), 10.0 * len(z))
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()) / len(z))
    diagnostics = {"final_loss_per_star": float(np.mean(losses[-100:])) if losses else float("nan"),
                   "steps": config.svi_steps, "n_stars": len(z),
                   "n_observed": {q: int(n) for q, n in zip(JOINT_QUANTITIES, prepared.observed.sum(0))},
                   "n_outside_bounds": dict(prepared.n_outside_bounds)}
    return JointHeadFit(head=head, guide=guide, config=config, standardisation=standardisation,
                        diagnostics=diagnostics)


def fit_joint_head(z: np.ndarray, targets: np.ndarray, label_cov: np.ndarray | None = None,
                   observed_mask: np.ndarray | None = None, config: JointHeadConfig | None = None,
                   keys: np.ndarray | list | None = None) -> JointHeadFit:
    """Fit the joint head by SVI (the family chosen on held-out stars when ``config.likelihood == "auto"``).

    Args:
        z: ``(N, F)`` frozen features, one row per star.
        targets: ``(N, 5)`` labels in the order of :data:`~bayesxp.model.joint_likelihood.JOINT_LABELS`
            (Teff [K], logg [dex], [M/H] [dex], ln mass [ln Msun], ln age [ln Gyr]); NaN = missing.
        label_cov: ``(N, 5, 5)`` label error covariance, same units (the mass-age block may be correlated).
        observed_mask: ``(N, 5)`` bool (default: finite targets).
        config: Settings (default :class:`JointHeadConfig`).
        keys: ``(N,)`` source ids for the selection share (``hash_bucket("joint:<id>", 1000)``); default the
            row numbers.

    Returns:
        The fit; ``diagnostics["selection"]`` holds the held-out scores when the family was chosen.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(40, 2))
        >>> y = np.column_stack([4800 + 100 * z[:, 0], 2.5 + 0.1 * z[:, 1], 0.1 * z[:, 0], 0.2 + 0.1 * z[:, 1],
        ...                      1.5 - 0.3 * z[:, 1]])
        >>> fit = fit_joint_head(z, y, config=JointHeadConfig(likelihood="auto", svi_steps=3, selection_samples=4))
        >>> fit.likelihood in ("gaussian", "student_t", "mixture"), sorted(fit.diagnostics["selection"])
        (True, ['gaussian', 'mixture', 'student_t'])
    """
    config = config or JointHeadConfig()
    features = torch.as_tensor(np.asarray(z, np.float64), dtype=_DTYPE)
    prepared = prepare_targets(targets, label_cov, observed_mask, config.measured_label_error,
                               config.derived_label_error, config.seed)
    standardisation = _standardisation(prepared)
    if config.likelihood != "auto":
        return _fit_family(features, prepared, standardisation, config)
    keys = [str(k) for k in (range(len(features)) if keys is None else keys)]
    held = hash_bucket([f"joint:{k}" for k in keys], 1000) < 1000 * config.selection_fraction
    train = _rows(prepared, ~held)
    scores = {}
    for family in FAMILIES:
        candidate = _fit_family(features[~held], train, standardisation,
                                dataclasses.replace(config, likelihood=family))
        scores[family] = _prepared_log_score(candidate, features[held], _rows(prepared, held),
                                             config.selection_samples, config.seed + 1)
    best = max(scores, key=lambda family: scores[family] if np.isfinite(scores[family]) else -np.inf)
    fit = _fit_family(features, prepared, standardisation, dataclasses.replace(config, likelihood=best))
    fit.diagnostics["selection"] = scores
    fit.diagnostics["n_held_out"] = int(held.sum())
    return fit


def _rows(prepared: PreparedTargets, rows: np.ndarray) -> PreparedTargets:
    return dataclasses.replace(prepared, values=prepared.values[rows], observed=prepared.observed[rows],
                               error_cov=prepared.error_cov[rows])


def _weight_draws(fit: JointHeadFit, num_samples: int) -> dict[str, torch.Tensor]:
    """``num_samples`` fresh draws of every weight site from the guide (one vectorised call)."""
    sites = ["weight", "bias"] + (["log_df"] if fit.likelihood == "student_t" else [])
    z = torch.zeros(1, fit.head.n_features, dtype=_DTYPE)
    predictive = Predictive(fit.head, guide=fit.guide, num_samples=num_samples, parallel=True, return_sites=sites)
    with pyro.settings.context(module_local_params=True):
        return predictive(z)


def _traces(fit: JointHeadFit, z: np.ndarray, num_samples: int, batch_size: int, *model_args: np.ndarray
            ) -> list[tuple[slice, dist.TorchDistribution]]:
    """Per batch of stars, the likelihood's vectorised distribution (batch ``(S, B)``), one set of weights."""
    features = torch.as_tensor(np.asarray(z, np.float64), dtype=_DTYPE)
    weights = _weight_draws(fit, num_samples)
    predictive = Predictive(fit.head, posterior_samples=weights, parallel=True, return_sites=["y"])
    out = []
    for start in range(0, len(features), batch_size):
        rows = slice(start, start + batch_size)
        args = [torch.as_tensor(a[rows]) if a is not None else None for a in model_args]
        trace = predictive.get_vectorized_trace(features[rows], *args)
        out.append((rows, trace.nodes["y"]["fn"]))
    return out


def _by_quantity(x: np.ndarray) -> dict[str, np.ndarray]:
    """``(..., 5)`` in the model's order -> ``{quantity: (...)}`` keyed in :data:`QUANTITIES` order."""
    return {q: x[..., JOINT_QUANTITIES.index(q)] for q in QUANTITIES}


def _to_quantities(y: np.ndarray) -> dict[str, np.ndarray]:
    """``(..., 5)`` model labels -> ``{quantity: (...)}`` in physical units (mass and age exponentiated)."""
    return {q: np.exp(v) if q in LN_SCALE else v for q, v in _by_quantity(y).items()}


def _marginal_nodes(base: dist.TorchDistribution, nodes: int, rng: np.random.Generator, draws: slice
                    ) -> tuple[np.ndarray, np.ndarray, bool]:
    """Nodes of a latent marginal in units of its scale: ``(q, w, exact)``, ``q`` broadcastable to
    ``(S, B, K, n)`` and ``w`` summing to 1 over the last axis, so that ``E f(v) ~ sum_n w f(loc + sd q)``.

    Gaussian (and each component of the mixture): Gauss-Hermite with ``nodes`` nodes (``exact``). Student-t:
    ``nodes`` Monte Carlo draws per df, shared by the stars (not ``exact``; equal-probability nodes of the t
    converge only like ``1 / n`` in the variance of the bounded map, whose weight sits in the far tails).
    """
    if not isinstance(base, dist.MultivariateStudentT):
        x, w = np.polynomial.hermite_e.hermegauss(nodes)
        return x, w / w.sum(), True
    df = np.broadcast_to(base.df.numpy(), base.batch_shape)[draws]  # one df per weight draw
    values, index = np.unique(df, return_inverse=True)
    t = rng.standard_t(values[:, None], size=(len(values), nodes))
    return t[index.reshape(df.shape)][..., None, :], np.full(nodes, 1.0 / nodes), False


def _physical_moments(likelihood: JointLabelDistribution, standardisation: np.ndarray, rng: np.random.Generator,
                      n_draws: int = VARIANCE_DRAWS, nodes: int = QUADRATURE_NODES
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per weight draw (the first ``n_draws``) and star, the mean and variance of each quantity in physical
    units (K, dex, Msun, Gyr), ``(S, B, 5)`` each, and ``(5,)`` the Monte Carlo share of each mean's error
    variance (``1 / n`` of the variance where the nodes are draws, else 0).

    Teff, logg, [M/H] (affine in the latent): the family's own closed-form ``mean`` and ``variance`` (the
    Student-t's variance is ``scale^2 df / (df - 2)``; the mixture's includes the spread of its components'
    means). Mass and age, ``exp(ln lo + (ln hi - ln lo) sigmoid(loc + scale v))`` of their latent marginal
    ``v`` (a Gaussian, a Student-t with the draw's df, or a mixture of Gaussians): the nodes of
    :func:`_marginal_nodes` for each component.
    """
    base = likelihood.base_dist
    offset, scale = np.asarray(standardisation)
    draws = slice(0, n_draws)
    mean = base.mean.numpy()[draws] * scale + offset
    variance = base.variance.numpy()[draws] * scale**2
    if isinstance(base, dist.MixtureSameFamily):
        component = base.component_distribution
        loc, tril = component.loc.numpy()[draws], component.scale_tril.numpy()[draws]  # (S, B, K, 5 [, 5])
        weights = torch.softmax(base.mixture_distribution.logits, -1).numpy()[draws]  # (S, B, K)
        q, w, exact = _marginal_nodes(component, nodes, rng, draws)
    else:
        # one component
        loc, tril = base.loc.numpy()[draws, ..., None, :], base.scale_tril.numpy()[draws, ..., None, :, :]
        weights = np.ones(loc.shape[:-1])
        q, w, exact = _marginal_nodes(base, nodes, rng, draws)
    sd = np.sqrt((tril**2).sum(-1))  # (S, B, K, 5): the marginal scales
    for j in _DERIVED_DIMS:
        low, high = np.log(PHYSICAL_RANGE[JOINT_LABELS[j]])
        latent = offset[j] + scale[j] * (loc[..., j, None] + sd[..., j, None] * q)  # (S, B, K, n)
        physical = np.exp(low + (high - low) * scipy.special.expit(latent))
        first = (weights * (physical * w).sum(-1)).sum(-1)
        second = (weights * (physical**2 * w).sum(-1)).sum(-1)
        spread = np.clip(second - first**2, 0.0, None)
        mean[..., j], variance[..., j] = first, spread if exact else spread * len(w) / (len(w) - 1)  # unbiased
    noise_share = np.where(np.array(BOUNDED) & (not exact), 1.0 / len(w), 0.0)
    return mean, variance, noise_share


def _predictive(fit: JointHeadFit, z: np.ndarray, num_samples: int, seed: int, batch_size: int,
                with_parts: bool, n_draws: int = VARIANCE_DRAWS, nodes: int = QUADRATURE_NODES
                ) -> tuple[dict[str, np.ndarray], VarianceParts | None]:
    """S fresh weight draws and one observation draw each; with ``with_parts`` also the variance parts of the
    same weight draws (no extra draws: the samples are the same either way)."""
    samples = np.empty((num_samples, len(z), _DIM))
    aleatoric, epistemic = np.empty((len(z), _DIM)), np.empty((len(z), _DIM))
    rng = np.random.default_rng(seed)  # the Student-t's moment draws: the torch stream of the samples is untouched
    with pyro.settings.context(module_local_params=True), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for rows, likelihood in _traces(fit, z, num_samples, batch_size):
            samples[:, rows] = likelihood.sample().numpy()  # (S, B, 5)
            if with_parts:
                mean, variance, noise_share = _physical_moments(likelihood, fit.standardisation, rng, n_draws, nodes)
                aleatoric[rows] = variance.mean(0)
                # the Monte Carlo error of the per-draw means is not epistemic: take it out (floored at 0)
                epistemic[rows] = np.clip(mean.var(0) - noise_share * aleatoric[rows], 0.0, None)
    parts = VarianceParts(aleatoric=_by_quantity(aleatoric), epistemic=_by_quantity(epistemic)) if with_parts else None
    return _to_quantities(samples), parts


@torch.no_grad()
def joint_predictive_samples(fit: JointHeadFit, z: np.ndarray, num_samples: int = 1000, seed: int = 0,
                             batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Draws of the five true quantities: S fresh weight draws, one observation draw each, for every star.

    Args:
        fit: A fitted joint head.
        z: ``(N, F)`` features.
        num_samples: Draws per star S (any number; every draw fresh).
        seed: Seed (the same seed gives the same draws; the global RNG is left untouched).
        batch_size: Stars per vectorised call (the weights are shared across batches).

    Returns:
        ``{quantity: (S, N)}`` keyed by :data:`~bayesxp.quantities.QUANTITIES`: mass [Msun], age [Gyr],
        teff [K], logg [dex], m_h [dex].

    Example:
        >>> z = np.random.default_rng(0).normal(size=(40, 2))
        >>> y = np.column_stack([4800 + 100 * z[:, 0], 2.5 + 0.1 * z[:, 1], 0.1 * z[:, 0], 0.2 + 0.1 * z[:, 1],
        ...                      1.5 - 0.3 * z[:, 1]])
        >>> fit = fit_joint_head(z, y, config=JointHeadConfig(likelihood="gaussian", svi_steps=3))
        >>> draws = joint_predictive_samples(fit, z[:3], num_samples=7)
        >>> list(draws), draws["age"].shape, bool((draws["age"] < 20).all())
        (['mass', 'age', 'teff', 'logg', 'm_h'], (7, 3), True)
    """
    return _predictive(fit, z, num_samples, seed, batch_size, with_parts=False)[0]


@dataclass(frozen=True)
class VarianceParts:
    """Per quantity and star, in physical units squared: ``aleatoric = E_w[Var(y | w)]``,
    ``epistemic = Var_w[E(y | w)]``; their sum is the predictive variance."""

    aleatoric: dict[str, np.ndarray]
    epistemic: dict[str, np.ndarray]

    def total(self) -> dict[str, np.ndarray]:
        """``aleatoric + epistemic`` per quantity."""
        return {q: self.aleatoric[q] + self.epistemic[q] for q in self.aleatoric}


@torch.no_grad()
def joint_predictive(fit: JointHeadFit, z: np.ndarray, num_samples: int = 1000, seed: int = 0,
                     batch_size: int = 1024) -> tuple[dict[str, np.ndarray], VarianceParts]:
    """:func:`joint_predictive_samples` (the same draws for the same seed) and the aleatoric / epistemic split
    of the same S weight draws (law of total variance; per draw moments from :func:`_physical_moments`).

    Args:
        fit: A fitted joint head.
        z: ``(N, F)`` features.
        num_samples: Draws per star S.
        seed: Seed.
        batch_size: Stars per vectorised call.

    Returns:
        ``(draws {quantity: (S, N)}, parts)``.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(40, 2))
        >>> y = np.column_stack([4800 + 100 * z[:, 0], 2.5 + 0.1 * z[:, 1], 0.1 * z[:, 0], 0.2 + 0.1 * z[:, 1],
        ...                      1.5 - 0.3 * z[:, 1]])
        >>> fit = fit_joint_head(z, y, config=JointHeadConfig(likelihood="student_t", svi_steps=3))
        >>> draws, parts = joint_predictive(fit, z[:3], num_samples=20)
        >>> bool(np.array_equal(draws["mass"], joint_predictive_samples(fit, z[:3], num_samples=20)["mass"]))
        True
        >>> parts.aleatoric["age"].shape, bool((parts.epistemic["age"] >= 0).all())
        ((3,), True)
    """
    return _predictive(fit, z, num_samples, seed, batch_size, with_parts=True)


@torch.no_grad()
def joint_variance_parts(fit: JointHeadFit, z: np.ndarray, num_samples: int = VARIANCE_DRAWS,
                         nodes: int = QUADRATURE_NODES, seed: int = 0, batch_size: int = 256) -> VarianceParts:
    """Aleatoric and epistemic variance of each quantity over ``num_samples`` weight draws, with ``nodes``
    quadrature nodes (Gaussian components) or Monte Carlo draws (Student-t) per latent marginal: the parts of
    :func:`joint_predictive` at other settings (more of both resolves a small epistemic part that the Student-t's
    Monte Carlo correction would floor at 0).

    Args:
        fit: A fitted joint head.
        z: ``(N, F)`` features.
        num_samples: Weight draws (all used).
        nodes: Nodes per marginal.
        seed: Seed.
        batch_size: Stars per vectorised call.

    Returns:
        The parts, ``(N,)`` per quantity.
    """
    return _predictive(fit, z, num_samples, seed, batch_size, with_parts=True, n_draws=num_samples, nodes=nodes)[1]


def _prepared_log_score(fit: JointHeadFit, features: torch.Tensor, prepared: PreparedTargets, num_samples: int,
                        seed: int, per_star: bool = False) -> float | np.ndarray:
    """``log mean_s p(y_i | w_s)`` per star (the likelihood's own ``log_prob``), averaged over stars with an
    observed label."""
    y, observed, error_cov = _observed_args(fit.head, prepared.values, prepared.observed, prepared.error_cov,
                                            fit.standardisation)
    with torch.no_grad(), pyro.settings.context(module_local_params=True), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        log_p = torch.cat([likelihood.log_prob(y[rows]) for rows, likelihood in
                           _traces(fit, features.numpy(), num_samples, 1024, y.numpy(), observed.numpy(),
                                   error_cov.numpy())], dim=-1)  # (S, N)
    per = (torch.logsumexp(log_p, dim=0) - np.log(num_samples)).numpy()
    per = np.where(prepared.observed.any(1), per, np.nan)
    return per if per_star else float(np.nanmean(per))


def joint_log_score(fit: JointHeadFit, z: np.ndarray, targets: np.ndarray, label_cov: np.ndarray | None = None,
                    observed_mask: np.ndarray | None = None, num_samples: int = 200, seed: int = 0,
                    per_star: bool = False) -> float | np.ndarray:
    """Mean log predictive density of labels, the label errors treated as in ``fit.config``.

    Args:
        fit: A fitted joint head.
        z: ``(N, F)`` features.
        targets: ``(N, 5)`` labels (order and units of :func:`fit_joint_head`); NaN = missing.
        label_cov: ``(N, 5, 5)`` label error covariance.
        observed_mask: ``(N, 5)`` bool.
        num_samples: Weight draws.
        seed: Seed of the weight draws and of the propagated labels' truth draws.
        per_star: Return ``(N,)`` per-star values (NaN for stars without a label) instead of the mean.

    Returns:
        The mean (or per-star) ``log mean_s p(y_i | w_s)``; higher is better.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(40, 2))
        >>> y = np.column_stack([4800 + 100 * z[:, 0], 2.5 + 0.1 * z[:, 1], 0.1 * z[:, 0], 0.2 + 0.1 * z[:, 1],
        ...                      1.5 - 0.3 * z[:, 1]])
        >>> fit = fit_joint_head(z, y, config=JointHeadConfig(likelihood="gaussian", svi_steps=3))
        >>> bool(np.isfinite(joint_log_score(fit, z, y, num_samples=5)))
        True
    """
    prepared = prepare_targets(targets, label_cov, observed_mask, fit.config.measured_label_error,
                               fit.config.derived_label_error, seed + 1)
    features = torch.as_tensor(np.asarray(z, np.float64), dtype=_DTYPE)
    return _prepared_log_score(fit, features, prepared, num_samples, seed, per_star)
