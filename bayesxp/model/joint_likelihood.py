"""The joint likelihood of one star's five labels: a base family in a standardised latent space pushed through
the bounded bijection, with the marginal of the observed dims as its log density (Pyro distributions).

- :data:`JOINT_QUANTITIES`, :data:`JOINT_LABELS`: the five outputs in the model's order (the measured labels
  Teff, logg, [M/H] first, then the derived ln mass and ln age), from :mod:`bayesxp.quantities`.
- :func:`prepare_targets`: label errors by kind (measured: deconvolved; derived: propagated by a draw of the
  truth) and the physical bounds (labels on or beyond a bound are dropped from that dim and counted).
- :func:`label_transform`: latent ``v`` (R^5) -> model labels ``y``: an affine map for the measured labels;
  for ln mass and ln age ``y = ln lo + (ln hi - ln lo) sigmoid(m + s v)``, bounds from
  :data:`~bayesxp.quantities.PHYSICAL_RANGE` (a bijection onto the open interval: no draw on a bound).
- :func:`base_distribution`: the family (``"gaussian"``, ``"student_t"``, ``"mixture"``) from per-star
  locations and Cholesky factors, with an extra (label-error) covariance added.
- :class:`JointLabelDistribution`: the ``TransformedDistribution`` of the likelihood; its ``log_prob`` is the
  closed-form marginal of the observed dims (masks; the Jacobian of the observed dims only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyro.distributions as dist
import torch
from torch.distributions import constraints
from torch.distributions.transforms import (
    AffineTransform,
    CatTransform,
    ComposeTransform,
    SigmoidTransform,
    Transform,
)

from bayesxp.quantities import LN_SCALE, MODEL_LABELS, PHYSICAL_RANGE, QUANTITIES

__all__ = ["JOINT_QUANTITIES", "JOINT_LABELS", "MEASURED", "DERIVED", "BOUNDED", "FAMILIES", "PreparedTargets",
           "prepare_targets", "label_transform", "base_distribution", "masked_log_prob", "JointLabelDistribution"]

#: The measured labels (APOGEE: truth + noise), as quantities.
MEASURED = tuple(q for q in QUANTITIES if q not in LN_SCALE)

#: The derived labels (label transfer / DistMass estimates of the truth), as quantities.
DERIVED = tuple(q for q in QUANTITIES if q in LN_SCALE)

#: The five outputs in the model's order: measured first (identity-transformed), then derived (bounded).
JOINT_QUANTITIES = MEASURED + DERIVED

#: Their model labels (``teff``, ``logg``, ``m_h``, ``ln_mass``, ``ln_age``).
JOINT_LABELS = tuple(MODEL_LABELS[q] for q in JOINT_QUANTITIES)

#: Boolean per output: modelled through the bounded bijection.
BOUNDED = tuple(label in PHYSICAL_RANGE for label in JOINT_LABELS)

#: The likelihood families.
FAMILIES = ("gaussian", "student_t", "mixture")

_LOG_2PI = math.log(2 * math.pi)
_DIM = len(JOINT_LABELS)
_MEASURED_DIMS = [j for j, bounded in enumerate(BOUNDED) if not bounded]
_DERIVED_DIMS = [j for j, bounded in enumerate(BOUNDED) if bounded]


@dataclass(frozen=True)
class PreparedTargets:
    """Targets as the likelihood sees them (see :func:`prepare_targets`).

    Attributes:
        values: ``(N, 5)`` model labels (NaN where unobserved).
        observed: ``(N, 5)`` bool.
        error_cov: ``(N, 5, 5)`` covariance to deconvolve, model-label units (zero outside measured dims).
        n_outside_bounds: Per derived quantity, labels dropped for lying on or beyond a physical bound.
    """

    values: np.ndarray
    observed: np.ndarray
    error_cov: np.ndarray
    n_outside_bounds: dict[str, int] = field(default_factory=dict)


def truth_draw(cov: np.ndarray, observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(N, d)`` draws of ``N(0, cov)`` over the observed dims: one draw of a label's error, so that
    ``label + draw`` is a draw of the truth (a Cholesky column loop that tolerates zero variances; NaN
    covariances count as 0). Shared by the joint head and :func:`bayesxp.model.heads.effective_targets`.

    Args:
        cov: ``(N, d, d)`` error covariances.
        observed: ``(N, d)`` bool; unobserved dims get no error and do not condition the others.
        rng: The generator (``standard_normal((N, d, 1))`` is drawn).

    Returns:
        ``(N, d)`` error draws.

    Example:
        >>> cov = np.array([[[4.0, 0.0], [0.0, 0.0]]])
        >>> draw = truth_draw(cov, np.ones((1, 2), bool), np.random.default_rng(0))
        >>> draw.shape, float(draw[0, 1])
        ((1, 2), 0.0)
    """
    m = observed.astype(float)
    cov = np.nan_to_num(cov) * m[:, :, None] * m[:, None, :]
    n, d = observed.shape
    tril = np.zeros_like(cov)
    for j in range(d):
        tril[:, j, j] = np.sqrt(np.clip(cov[:, j, j] - (tril[:, j, :j] ** 2).sum(-1), 0.0, None))
        for i in range(j + 1, d):
            rest = cov[:, i, j] - (tril[:, i, :j] * tril[:, j, :j]).sum(-1)
            tril[:, i, j] = np.divide(rest, tril[:, j, j], out=np.zeros(n), where=tril[:, j, j] > 0)
    return (tril @ rng.standard_normal((n, d, 1)))[..., 0] * m


def prepare_targets(targets: np.ndarray, label_cov: np.ndarray | None = None, observed_mask: np.ndarray | None = None,
                    measured: str = "deconvolve", derived: str = "propagate", seed: int = 0) -> PreparedTargets:
    """Apply the label-error treatments and the physical bounds to raw targets.

    Args:
        targets: ``(N, 5)`` labels in the order of :data:`~bayesxp.model.joint_likelihood.JOINT_LABELS`
            (K, dex, dex, ln Msun, ln Gyr); NaN = missing.
        label_cov: ``(N, 5, 5)`` label error covariance in the same units (NaN = 0), or None.
        observed_mask: ``(N, 5)`` bool, or None (finite targets).
        measured: Treatment of the measured labels' errors: ``"deconvolve"`` (label = truth + noise: the
            error covariance is added to the predicted one), ``"propagate"`` or ``"ignore"``.
        derived: Treatment of the derived labels' errors: ``"propagate"`` (truth = label + error: the labels
            are replaced by one draw of the truth, ``label + N(0, E)``) or ``"ignore"``.
        seed: Seed of the truth draws of propagated labels.

    Returns:
        The prepared targets; derived labels on or outside their bounds are unobserved and counted.

    Example:
        >>> y = np.array([[4800.0, 2.5, 0.0, np.log(1.2), np.log(25.0)]])
        >>> prepared = prepare_targets(y, seed=0)
        >>> prepared.observed.tolist(), prepared.n_outside_bounds
        ([[True, True, True, True, False]], {'mass': 0, 'age': 1})
    """
    values = np.array(targets, dtype=np.float64)
    observed = np.isfinite(values) if observed_mask is None else np.asarray(observed_mask, bool) & np.isfinite(values)
    cov = np.zeros(values.shape + (_DIM,)) if label_cov is None else np.nan_to_num(np.asarray(label_cov, np.float64))
    rng = np.random.default_rng(seed)
    error_cov = np.zeros_like(cov)
    if measured not in ("deconvolve", "propagate", "ignore") or derived not in ("propagate", "ignore"):
        raise ValueError(f"no label-error treatment {measured!r} for measured or {derived!r} for derived labels")
    for dims, treatment in ((_MEASURED_DIMS, measured), (_DERIVED_DIMS, derived)):
        block = np.ix_(np.arange(len(values)), dims, dims)
        if treatment == "deconvolve":
            error_cov[block] = cov[block]
        elif treatment == "propagate":
            values[:, dims] += truth_draw(cov[block], observed[:, dims], rng)
    counts = {}
    for j in _DERIVED_DIMS:
        low, high = np.log(PHYSICAL_RANGE[JOINT_LABELS[j]])
        outside = observed[:, j] & ~((values[:, j] > low) & (values[:, j] < high))
        observed[:, j] &= ~outside
        counts[JOINT_QUANTITIES[j]] = int(outside.sum())
    values[~observed] = np.nan
    return PreparedTargets(values=values, observed=observed, error_cov=error_cov, n_outside_bounds=counts)


def label_transform(loc: torch.Tensor, scale: torch.Tensor) -> Transform:
    """The bijection from the latent space ``R^5`` to the model labels (event dim 0: one map per output).

    Measured labels: ``y = loc + scale v``. Bounded labels (ln mass, ln age):
    ``y = ln lo + (ln hi - ln lo) sigmoid(loc + scale v)``, i.e. ``loc + scale v`` is the logit of the
    label's position between its bounds.

    Args:
        loc: ``(5,)`` latent offsets (label means; for bounded labels the mean logit position).
        scale: ``(5,)`` latent scales (label stds; for bounded labels the std of the logit position).

    Returns:
        A ``CatTransform`` over the last dim; ``log_abs_det_jacobian`` is per output ``(..., 5)``.

    Example:
        >>> t = label_transform(torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64))
        >>> y = t(torch.tensor([0.0, 0.0, 0.0, 10.0, -10.0], dtype=torch.float64))
        >>> bool(y[3] < np.log(8.0)) and bool(y[4] > np.log(0.01))
        True
    """
    parts: list[Transform] = []
    for j, label in enumerate(JOINT_LABELS):
        affine = AffineTransform(loc[j], scale[j])
        if label in PHYSICAL_RANGE:
            low, high = np.log(PHYSICAL_RANGE[label])
            parts.append(ComposeTransform([affine, SigmoidTransform(),
                                           AffineTransform(float(low), float(high - low))]))
        else:
            parts.append(affine)
    return CatTransform(parts, dim=-1, lengths=[1] * len(JOINT_LABELS))


def base_distribution(family: str, loc: torch.Tensor, scale_tril: torch.Tensor, df: torch.Tensor | None = None,
                      logits: torch.Tensor | None = None, extra_cov: torch.Tensor | None = None
                      ) -> dist.TorchDistribution:
    """The latent family of each star.

    Args:
        family: One of :data:`FAMILIES`.
        loc: ``(..., 5)`` (``(..., K, 5)`` for the mixture) latent locations.
        scale_tril: ``(..., 5, 5)`` (``(..., K, 5, 5)``) Cholesky factors of the latent covariance.
        df: Student-t degrees of freedom, broadcastable to the batch shape ``(...)``.
        logits: ``(..., K)`` mixture weights' logits.
        extra_cov: ``(..., 5, 5)`` covariance added to every component (the measured labels' errors in latent
            units); for the Student-t it is added to the scale matrix (a t plus a Gaussian is not a t: the
            approximation the per-label heads make too).

    Returns:
        ``MultivariateNormal``, ``MultivariateStudentT`` or ``MixtureSameFamily`` of Gaussians, batch ``(...)``.

    Example:
        >>> base = base_distribution("gaussian", torch.zeros(3, 5), torch.eye(5).expand(3, 5, 5))
        >>> base.batch_shape, base.event_shape
        (torch.Size([3]), torch.Size([5]))
    """
    if extra_cov is not None:
        if family == "mixture":
            extra_cov = extra_cov.unsqueeze(-3)  # (..., 1, 5, 5): every component
        scale_tril = torch.linalg.cholesky(scale_tril @ scale_tril.mT + extra_cov)
    if family == "gaussian":
        return dist.MultivariateNormal(loc, scale_tril=scale_tril, validate_args=False)
    if family == "student_t":
        if df is None:
            raise ValueError("the Student-t family needs df")
        return dist.MultivariateStudentT(df, loc, scale_tril, validate_args=False)
    if family == "mixture":
        if logits is None:
            raise ValueError("the mixture family needs logits")
        return dist.MixtureSameFamily(dist.Categorical(logits=logits, validate_args=False),
                                      dist.MultivariateNormal(loc, scale_tril=scale_tril, validate_args=False),
                                      validate_args=False)
    raise ValueError(f"family must be one of {FAMILIES}, not {family!r}")


def _masked_density(loc: torch.Tensor, scale_tril: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
                     df: torch.Tensor | None) -> torch.Tensor:
    """Gaussian (or Student-t with ``df``) log density of the dims where ``mask`` is True (closed form).

    The unobserved rows and columns of the covariance are replaced by the identity and their residuals by 0,
    so the Mahalanobis term and the log determinant are those of the observed block.
    """
    m = mask.to(loc.dtype)  # (..., 5)
    cov = scale_tril @ scale_tril.mT  # (..., 5, 5)
    cov = cov * m[..., :, None] * m[..., None, :] + torch.diag_embed(1.0 - m)
    tril = torch.linalg.cholesky(cov)
    residual = ((x - loc) * m).unsqueeze(-1)  # (..., 5, 1)
    solved = torch.linalg.solve_triangular(tril, residual, upper=False)
    quad = solved.pow(2).sum((-2, -1))  # (...)
    half_log_det = tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    d = m.sum(-1)
    if df is None:
        return -0.5 * (quad + d * _LOG_2PI) - half_log_det
    return (torch.lgamma((df + d) / 2) - torch.lgamma(df / 2) - d / 2 * torch.log(df * math.pi) - half_log_det
            - (df + d) / 2 * torch.log1p(quad / df))


def masked_log_prob(base: dist.TorchDistribution, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log density of the observed dims of latent ``x`` under ``base`` (a family of :func:`base_distribution`).

    Gaussian and Student-t marginals keep their family (the Student-t its df); the mixture's marginal is the
    mixture of its components' marginals with the same weights. A star with no observed dim gets 0.

    Args:
        base: The latent family, batch ``(...)``, event ``(5,)``.
        x: ``(..., 5)`` latent values (any finite value where unobserved).
        mask: ``(..., 5)`` bool, True where observed.

    Returns:
        ``(...)`` log densities.

    Example:
        >>> base = base_distribution("gaussian", torch.zeros(2, 5), torch.eye(5).expand(2, 5, 5))
        >>> mask = torch.tensor([[True] * 5, [True, False, False, False, False]])
        >>> np.allclose(masked_log_prob(base, torch.zeros(2, 5), mask), [-2.5 * math.log(2 * math.pi),
        ...                                                               -0.5 * math.log(2 * math.pi)])
        True
    """
    if isinstance(base, dist.MixtureSameFamily):
        component = base.component_distribution
        per_component = _masked_density(component.loc, component.scale_tril, x.unsqueeze(-2), mask.unsqueeze(-2),
                                        None)  # (..., K)
        log_weights = torch.log_softmax(base.mixture_distribution.logits, dim=-1)
        return torch.logsumexp(per_component + log_weights, dim=-1)
    if isinstance(base, dist.MultivariateStudentT):
        return _masked_density(base.loc, base.scale_tril, x, mask, base.df)
    if isinstance(base, dist.MultivariateNormal):
        return _masked_density(base.loc, base.scale_tril, x, mask, None)
    raise TypeError(f"no masked log density for {type(base).__name__}")


class JointLabelDistribution(dist.TransformedDistribution):
    """The likelihood of one star's five labels: ``base`` pushed through :func:`label_transform`.

    ``sample`` is the ``TransformedDistribution``'s (every output drawn jointly; bounded outputs strictly
    inside their bounds). ``log_prob(y)`` is the density of the observed dims only: the base family's closed
    form marginal (:func:`masked_log_prob`) plus the log Jacobian of the observed dims; with every dim
    observed it equals ``TransformedDistribution.log_prob``. One star is one batch element, whatever it lacks.

    Args:
        base: The latent family (:func:`base_distribution`), batch ``(...)``, event ``(5,)``.
        transform: :func:`label_transform`.
        observed: ``(..., 5)`` bool, True where the label is observed (default: all).

    Example:
        >>> t = label_transform(torch.zeros(5, dtype=torch.float64), torch.ones(5, dtype=torch.float64))
        >>> base = base_distribution("gaussian", torch.zeros(4, 5, dtype=torch.float64),
        ...                          torch.eye(5, dtype=torch.float64).expand(4, 5, 5))
        >>> d = JointLabelDistribution(base, t)
        >>> y = d.sample()
        >>> y.shape, bool(torch.allclose(d.log_prob(y), dist.TransformedDistribution(base, t).log_prob(y)))
        (torch.Size([4, 5]), True)
    """

    arg_constraints: dict = {}
    support = constraints.real_vector

    def __init__(self, base: dist.TorchDistribution, transform: Transform, observed: torch.Tensor | None = None,
                 validate_args: bool | None = None) -> None:
        super().__init__(base, [transform], validate_args=validate_args)
        shape = self.batch_shape + self.event_shape
        self.observed = (torch.ones(shape, dtype=torch.bool) if observed is None
                         else torch.as_tensor(observed, dtype=torch.bool).expand(shape))

    def expand(self, batch_shape: torch.Size, _instance: object = None) -> JointLabelDistribution:
        """The same distribution broadcast to ``batch_shape``."""
        batch_shape = torch.Size(batch_shape)
        return JointLabelDistribution(self.base_dist.expand(batch_shape), self.transforms[0],
                                      self.observed.expand(batch_shape + self.event_shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Log density of the observed dims of ``value`` ``(..., 5)`` (model labels) -> ``(...)``."""
        transform = self.transforms[0]
        shape = torch.broadcast_shapes(value.shape, self.observed.shape)
        value, mask = value.expand(shape), self.observed.expand(shape)
        fill = transform(torch.zeros_like(value))  # a value inside every bound
        safe = torch.where(mask, value, fill)
        latent = transform.inv(safe)
        log_jacobian = torch.where(mask, transform.log_abs_det_jacobian(latent, safe), torch.zeros_like(safe))
        return masked_log_prob(self.base_dist, latent, mask) - log_jacobian.sum(-1)
