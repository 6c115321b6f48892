"""Bayesian heads (Pyro) on the backbone's request embeddings: joint (ln mass, ln age) and per-label.

The model's heads are :data:`HEADS`; :class:`BayesianHeadConfig` sets one head, :class:`HeadFittingConfig`
all of them. Features: the backbone's embeddings of the requested keys (``ln_mass`` and ``ln_age`` for the
joint head; the label's own key otherwise), frozen, standardised and reduced by PCA to ``n_features``
components (:class:`bayesxp.model.features.FeatureMap`, fitted on the fitting stars) so that the Bayesian
part is small enough for NUTS.

Model for star i with features ``z_i`` and weights ``theta`` (every weight has a Normal prior,
``PyroSample``):

- location ``mu_i = W_mu z_i + b_mu`` (d = 2 for the joint head, 1 otherwise),
- scales ``sigma_i = exp(W_s z_i + b_s) + floor`` (heteroscedastic, log-linear, bounded),
- correlation ``rho_i = 0.98 tanh(w_r z_i + b_r)`` (joint head),
- likelihood of the label ``y_i`` given its own error covariance ``E_i`` (the label-transfer's, or
  DistMass'): ``y_i ~ N(mu_i, Sigma_i + E_i)`` (``"gaussian"``), a multivariate Student-t with a learned
  global ``df`` (``"student_t"``, heavier tails), or a two-component Gaussian mixture with per-star weights
  (``"mixture"``, red clump vs RGB ambiguity). Stars without an age contribute their mass marginal.

Inference: SVI with an ``AutoLowRankMultivariateNormal`` guide (the production path), or NUTS over the same
weights as the reference (:func:`fit_nuts`). Predictive samples are ``[S, N, d]``: for each weight draw,
one draw of the star's (true) quantity; the aleatoric part is the mean of the per-draw covariances, the
epistemic part the covariance of the per-draw means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal
from pyro.nn import PyroModule, PyroSample

from bayesxp.model.joint_head import JointHeadConfig
from bayesxp.model.joint_likelihood import truth_draw

__all__ = ["HEADS", "JOINT_HEAD", "LIKELIHOODS", "BayesianHeadConfig", "HeadFittingConfig", "BayesianHead", "HeadFit",
           "fit_svi", "fit_nuts", "predictive_samples", "predictive_log_score", "effective_targets"]

#: The likelihood families a head can use.
LIKELIHOODS = ("gaussian", "student_t", "mixture")

_MAX_CORRELATION = 0.98


@dataclass(frozen=True)
class BayesianHeadConfig:
    """Bayesian head settings.

    Attributes:
        n_features: PCA components of the frozen embeddings.
        likelihood: ``"gaussian"``, ``"student_t"``, ``"mixture"``, or ``"auto"``: fit each and keep the one
            with the best log predictive density of the validation split's labels.
        prior_scale: Std of the Normal prior on every weight.
        svi_steps: Adam steps of SVI.
        svi_learning_rate: Adam learning rate.
        guide_rank: Rank of the low-rank MVN guide.
        scale_floor: Minimum predicted std (label units), keeps variances bounded away from zero.
        num_samples: Posterior weight draws kept for prediction.
        seed: Seed of SVI / NUTS and of the predictive draws.
        label_error: How the labels' own errors enter. ``"convolve"``: a measurement (label = truth + noise;
            the likelihood convolves the prediction with the noise, so the predictive describes the truth
            without it). ``"propagate"``: a derived label, itself an estimate of the truth (label transfer or
            DistMass: truth = label + error, the error independent of the label), so the predictive must be
            *wider* than the labels' scatter; the head is fitted on one draw of the truth per row,
            ``label + N(0, label_cov)``, and its predictive adds the error instead of removing it.
    """

    n_features: int = 32
    likelihood: str = "gaussian"
    prior_scale: float = 1.0
    svi_steps: int = 3000
    svi_learning_rate: float = 0.01
    guide_rank: int = 10
    scale_floor: float = 1e-3
    num_samples: int = 200
    seed: int = 0
    label_error: str = "convolve"

    def __post_init__(self) -> None:
        if self.likelihood not in (*LIKELIHOODS, "auto"):
            raise ValueError(f"likelihood must be one of {LIKELIHOODS} or 'auto', not {self.likelihood!r}")
        if self.label_error not in ("convolve", "propagate"):
            raise ValueError(f"label_error must be 'convolve' or 'propagate', not {self.label_error!r}")


#: The model's heads: head name -> the request keys whose embeddings it reads (and whose values it predicts).
HEADS = {"mass_age": ("ln_mass", "ln_age"), "teff": ("teff",), "logg": ("logg",), "m_h": ("m_h",)}

#: The name of the joint head over all five labels (``HeadFittingConfig.joint``; the shipped model's), in a model's heads and
#: its folder; a model has either it or the heads of :data:`HEADS`.
JOINT_HEAD = "joint"


@dataclass(frozen=True)
class HeadFittingConfig:
    """How every head of a model is fitted (``bayesxp fit-heads --config``; saved with the model).

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
        joint: One joint head over (Teff, logg, [M/H], ln mass, ln age) *instead of* the four separate
            heads (:mod:`bayesxp.model.joint_head`; per-star full covariance, bounds as a prior, every draw
            fresh); ``configs/heads.yaml`` sets it (the shipped model). None (the dataclass default) fits the
            separate heads; ``mass_age`` and ``labels`` are then used, and
            with a joint head they are not. A fitted model saves it with ``likelihood`` resolved (never
            ``"auto"``); ``joint.selection_fraction`` is its own held-out share.
        joint_features: PCA components of the joint head's features (the concatenated request embeddings of
            the five labels, one :class:`~bayesxp.model.features.FeatureMap`), per label block when
            ``joint.feature_blocks`` is set. A field here, not in
            :class:`~bayesxp.model.joint_head.JointHeadConfig`: the reduction belongs to the feature map, and the
            joint head takes any feature width.
    """

    mass_age: BayesianHeadConfig = field(default_factory=lambda: BayesianHeadConfig(label_error="propagate"))
    labels: BayesianHeadConfig = field(default_factory=lambda: BayesianHeadConfig(n_features=32, svi_steps=2000))
    max_train_stars: int = 8000
    fit_split: str = "val"
    selection_fraction: float = 0.3
    joint: JointHeadConfig | None = None
    joint_features: int = 32

    def __post_init__(self) -> None:
        if self.fit_split not in ("train", "val"):
            raise ValueError(f"fit_split must be 'train' or 'val', not {self.fit_split!r}")
        if self.joint_features < 1:
            raise ValueError(f"joint_features must be at least 1, not {self.joint_features}")
        if not 0.0 < self.selection_fraction < 1.0:
            raise ValueError(f"selection_fraction must be in (0, 1), not {self.selection_fraction}")

    def for_head(self, name: str) -> BayesianHeadConfig:
        """The settings of one head: :attr:`mass_age` for the joint head, :attr:`labels` for the others.

        Args:
            name: A key of :data:`HEADS`.

        Returns:
            The head's settings.

        Example:
            >>> HeadFittingConfig().for_head("teff").label_error
            'convolve'
        """
        if name not in HEADS:
            raise KeyError(f"no head {name!r}; the heads are {list(HEADS)}")
        return self.mass_age if name == "mass_age" else self.labels


def effective_targets(y: np.ndarray, label_cov: np.ndarray, config: BayesianHeadConfig, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Targets and label covariance as the likelihood sees them (see ``BayesianHeadConfig.label_error``).

    ``"convolve"`` returns them unchanged; ``"propagate"`` returns one draw of the truth per row,
    ``y + N(0, label_cov)`` (only the observed quantities; for d = 2 the second is drawn conditionally on
    the first), with a zero covariance.

    Args:
        y: ``(N, d)`` labels.
        label_cov: ``(N, d, d)`` their error covariance.
        config: The head's settings (its ``label_error``).
        seed: Seed of the draw.

    Returns:
        ``(targets (N, d), covariance (N, d, d))``.

    Example:
        >>> y, cov = np.zeros((3, 1)), np.full((3, 1, 1), 0.01)
        >>> draw, zero = effective_targets(y, cov, BayesianHeadConfig(label_error="propagate"), seed=0)
        >>> draw.shape, float(np.abs(zero).max())
        ((3, 1), 0.0)
    """
    if config.label_error == "convolve":
        return y, label_cov
    error = truth_draw(label_cov, np.ones(y.shape, bool), np.random.default_rng(seed))  # (N, d)
    return y + error, np.zeros_like(label_cov)


class BayesianHead(PyroModule):
    """Bayesian linear heteroscedastic head over ``d`` quantities (d = 1 or 2).

    Args:
        n_features: Input dimension C.
        dim: Output dimension d.
        config: Head settings.
    """

    def __init__(self, n_features: int, dim: int, config: BayesianHeadConfig) -> None:
        super().__init__()
        if dim not in (1, 2):
            raise ValueError("dim must be 1 or 2")
        self.dim = dim
        self.config = config
        zero = torch.tensor(0.0, dtype=torch.float64)
        s = torch.tensor(config.prior_scale, dtype=torch.float64)
        n_out = 2 * dim + (1 if dim == 2 else 0) + (2 + dim if config.likelihood == "mixture" else 0)
        self.n_out = n_out
        self.weight = PyroSample(dist.Normal(zero, s).expand([n_features, n_out]).to_event(2))
        self.bias = PyroSample(dist.Normal(zero, s).expand([n_out]).to_event(1))
        if config.likelihood == "student_t":
            self.log_df = PyroSample(dist.Normal(zero + np.log(10.0), zero + 1.0))

    def parameters_of(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-star distribution parameters from features ``(N, C)`` (samples the weights)."""
        out = z @ self.weight + self.bias  # (N, n_out)
        d = self.dim
        floor = self.config.scale_floor
        # log-linear heteroscedastic scale, bounded: floor <= scale <= floor + e^3
        params = {"loc": out[:, :d], "scale": torch.exp(out[:, d : 2 * d].clamp(-12.0, 3.0)) + floor}
        if d == 2:
            params["corr"] = _MAX_CORRELATION * torch.tanh(out[:, 2 * d])
        if self.config.likelihood == "mixture":
            k = 2 * d + (1 if d == 2 else 0)
            params["shift"] = out[:, k : k + d]  # second component's offset from loc
            params["logit"] = out[:, k + d]  # weight of the second component
            params["scale2"] = torch.exp(out[:, k + d + 1].clamp(-12.0, 3.0)) + floor
        if self.config.likelihood == "student_t":
            params["df"] = 2.0 + torch.exp(self.log_df)
        return params

    def log_prob(self, params: dict[str, torch.Tensor], y: torch.Tensor, label_cov: torch.Tensor,
                 observed: torch.Tensor) -> torch.Tensor:
        """Per-star log likelihood of the labels, prediction convolved with the label error (closed form).

        Args:
            params: From :meth:`parameters_of`.
            y: ``(N, d)`` labels (NaN where unobserved).
            label_cov: ``(N, d, d)`` label error covariance.
            observed: ``(N, d)`` bool. For d = 2, stars with only the first quantity use its marginal;
                stars without the first contribute nothing.

        Returns:
            ``(N,)`` log likelihoods.
        """
        y = torch.nan_to_num(y)
        components = [(params["loc"], params["scale"])]
        if self.config.likelihood == "mixture":
            scale2 = params["scale2"][:, None].expand_as(params["scale"])
            components.append((params["loc"] + params["shift"], scale2))
        df = params.get("df")
        log_probs = [_log_density(y - loc, scale, params.get("corr"), label_cov, observed, df)
                     for loc, scale in components]
        if len(log_probs) == 1:
            out = log_probs[0]
        else:
            weight = torch.stack([-params["logit"], params["logit"]], dim=1) / 2
            out = torch.logsumexp(torch.stack(log_probs, dim=1) + torch.log_softmax(weight, dim=1), dim=1)
        return torch.where(observed[:, 0], out, torch.zeros_like(out))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, label_cov: torch.Tensor | None = None,
                observed: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The model: labels ``y (N, d)`` observed where ``observed (N, d)`` is True.

        Returns the per-star parameters (all that is computed when ``y`` is None).
        """
        n = z.shape[0]
        params = self.parameters_of(z)
        if y is None:
            return params
        if label_cov is None:
            label_cov = torch.zeros(n, self.dim, self.dim, dtype=z.dtype)
        observed = torch.isfinite(y) if observed is None else observed
        with pyro.plate("stars", n):
            pyro.factor("likelihood", self.log_prob(params, y, label_cov, observed))
        return params


def _log_density(residual: torch.Tensor, scale: torch.Tensor, corr: torch.Tensor | None, label_cov: torch.Tensor,
                 observed: torch.Tensor, df: torch.Tensor | None) -> torch.Tensor:
    """Gaussian (or Student-t with ``df``) log density of ``residual (N, d)``; for d = 2 the first quantity's
    marginal where the second is unobserved."""
    var0 = scale[:, 0] ** 2 + label_cov[:, 0, 0]
    r0 = residual[:, 0]
    one = _standardised_log_density(r0**2 / var0, torch.log(var0), 1, df)
    if scale.shape[1] == 1:
        return one
    var1 = scale[:, 1] ** 2 + label_cov[:, 1, 1]
    cov = (corr if corr is not None else torch.zeros_like(var0)) * scale[:, 0] * scale[:, 1] + label_cov[:, 0, 1]
    det = var0 * var1 - cov**2
    r1 = residual[:, 1]
    quad = (var1 * r0**2 - 2 * cov * r0 * r1 + var0 * r1**2) / det
    two = _standardised_log_density(quad, torch.log(det), 2, df)
    return torch.where(observed[:, 1], two, one)


def _standardised_log_density(quad: torch.Tensor, log_det: torch.Tensor, d: int, df: torch.Tensor | None
                              ) -> torch.Tensor:
    """``log N`` or ``log t_df`` from the Mahalanobis square ``quad`` and ``log |Sigma|``."""
    if df is None:
        return -0.5 * (quad + log_det + d * np.log(2 * np.pi))
    return (torch.lgamma((df + d) / 2) - torch.lgamma(df / 2) - d / 2 * torch.log(df * np.pi) - 0.5 * log_det
            - (df + d) / 2 * torch.log1p(quad / df))


def _covariance(scale: torch.Tensor, corr: torch.Tensor | None) -> torch.Tensor:
    """``(N, d)`` scales and ``(N,)`` correlation -> ``(N, d, d)`` covariance."""
    cov = torch.diag_embed(scale**2)
    if corr is not None and scale.shape[1] == 2:
        off = corr * scale[:, 0] * scale[:, 1]
        cov = cov.clone()
        cov[:, 0, 1] = off
        cov[:, 1, 0] = off
    return cov


@dataclass
class HeadFit:
    """A fitted head: the module, and posterior weight draws ``{site: (S, ...)}`` for prediction.

    Attributes:
        head: The PyroModule.
        samples: Posterior draws of every sample site.
        method: ``"svi"`` or ``"nuts"``.
        diagnostics: Loss curve tail (SVI) or r-hat / ESS (NUTS).
    """

    head: BayesianHead
    samples: dict[str, torch.Tensor]
    method: str
    diagnostics: dict


def _as_tensors(z: np.ndarray, y: np.ndarray, label_cov: np.ndarray) -> tuple[torch.Tensor, ...]:
    features = torch.as_tensor(z, dtype=torch.float64)
    labels = torch.as_tensor(y, dtype=torch.float64)
    if labels.ndim == 1:
        labels = labels[:, None]  # (N,) -> (N, 1)
    observed = torch.isfinite(labels)
    covariance = torch.as_tensor(np.nan_to_num(label_cov), dtype=torch.float64)
    if covariance.ndim == 1:
        covariance = covariance[:, None, None]  # (N,) -> (N, 1, 1)
    return features, labels, covariance, observed


def fit_svi(z: np.ndarray, y: np.ndarray, label_cov: np.ndarray, config: BayesianHeadConfig) -> HeadFit:
    """SVI with a low-rank multivariate-normal guide over all head weights.

    Args:
        z: ``(N, C)`` features.
        y: ``(N, d)`` labels (NaN = unobserved; for d = 2 the first must be observed to count).
        label_cov: ``(N, d, d)`` label error covariance.
        config: Head settings.

    Returns:
        The fit with ``config.num_samples`` posterior weight draws.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(50, 2))
        >>> y, cov = z[:, :1] + 0.1, np.full((50, 1, 1), 0.01)
        >>> fit = fit_svi(z, y, cov, BayesianHeadConfig(n_features=2, svi_steps=20, num_samples=8))
        >>> fit.method, fit.samples["weight"].shape
        ('svi', torch.Size([8, 2, 2]))
    """
    pyro.set_rng_seed(config.seed)
    pyro.clear_param_store()
    features, labels, covariance, observed = _as_tensors(z, *effective_targets(y, label_cov, config, config.seed))
    head = BayesianHead(features.shape[1], labels.shape[1], config)
    guide = AutoLowRankMultivariateNormal(head, rank=config.guide_rank, init_scale=0.01)
    optimiser = pyro.optim.ClippedAdam({"lr": config.svi_learning_rate, "lrd": 0.1 ** (1 / config.svi_steps)})
    svi = SVI(head, guide, optimiser, Trace_ELBO())
    losses = [svi.step(features, labels, covariance, observed) / len(features) for _ in range(config.svi_steps)]
    with torch.no_grad():
        draws = [guide() for _ in range(config.num_samples)]
    samples = {k: torch.stack([d[k] for d in draws]) for k in draws[0]}
    return HeadFit(head=head, samples=samples, method="svi",
                   diagnostics={"final_loss_per_star": float(np.mean(losses[-100:])), "steps": config.svi_steps})


def fit_nuts(z: np.ndarray, y: np.ndarray, label_cov: np.ndarray, config: BayesianHeadConfig, warmup: int = 300,
             num_samples: int | None = None) -> HeadFit:
    """NUTS over the same head weights (the reference posterior).

    Args:
        z: ``(N, C)`` features.
        y: ``(N, d)`` labels.
        label_cov: ``(N, d, d)``.
        config: Head settings.
        warmup: Warm-up iterations.
        num_samples: Kept draws (default ``config.num_samples``).

    Returns:
        The fit, with r-hat and ESS per site in ``diagnostics``.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(30, 2))
        >>> y, cov = z[:, :1], np.full((30, 1, 1), 0.01)
        >>> fit = fit_nuts(z, y, cov, BayesianHeadConfig(n_features=2), warmup=5, num_samples=5)
        >>> fit.method, sorted(fit.diagnostics)
        ('nuts', ['max_r_hat', 'min_n_eff'])
    """
    pyro.set_rng_seed(config.seed)
    pyro.clear_param_store()
    features, labels, covariance, observed = _as_tensors(z, *effective_targets(y, label_cov, config, config.seed))
    head = BayesianHead(features.shape[1], labels.shape[1], config)
    kernel = NUTS(head, target_accept_prob=0.85, max_tree_depth=8, jit_compile=False)
    mcmc = MCMC(kernel, num_samples=num_samples or config.num_samples, warmup_steps=warmup, num_chains=1,
                disable_progbar=True)
    mcmc.run(features, labels, covariance, observed)
    samples = mcmc.get_samples()
    summary = pyro.infer.mcmc.util.summary(mcmc.get_samples(group_by_chain=True), prob=0.9)
    diagnostics = {"max_r_hat": float(max(np.nanmax(np.asarray(s["r_hat"])) for s in summary.values())),
                   "min_n_eff": float(min(np.nanmin(np.asarray(s["n_eff"])) for s in summary.values()))}
    return HeadFit(head=head, samples=samples, method="nuts", diagnostics=diagnostics)


@torch.no_grad()
def predictive_log_score(fit: HeadFit, z: np.ndarray, y: np.ndarray, label_cov: np.ndarray) -> float:
    """Mean log predictive density of held-out labels: ``log mean_s p(y | theta_s)`` per star, averaged.

    The label error is part of the density as the head's ``label_error`` says (the prediction convolved
    with it, or the labels replaced by draws of the truth), so families with different tails are compared
    on the same footing. Used to choose a head's likelihood.

    Args:
        fit: A fitted head.
        z: ``(N, C)`` features.
        y: ``(N, d)`` labels (NaN = unobserved).
        label_cov: ``(N, d, d)``.

    Returns:
        The mean over stars with an observed first quantity (higher is better).

    Example:
        >>> z = np.random.default_rng(0).normal(size=(50, 2))
        >>> y, cov = z[:, :1], np.full((50, 1, 1), 0.01)
        >>> fit = fit_svi(z, y, cov, BayesianHeadConfig(n_features=2, svi_steps=20, num_samples=8))
        >>> np.isfinite(predictive_log_score(fit, z, y, cov))
        True
    """
    features, labels, covariance, observed = _as_tensors(z, *effective_targets(y, label_cov, fit.head.config, fit.head.config.seed + 1))
    draws = []
    n_draws = next(iter(fit.samples.values())).shape[0]
    for s in range(n_draws):
        conditioned = pyro.poutine.condition(fit.head, data={k: v[s] for k, v in fit.samples.items()})
        params = conditioned(features)
        draws.append(fit.head.log_prob(params, labels, covariance, observed))
    log_p = torch.logsumexp(torch.stack(draws), dim=0) - np.log(n_draws)  # (N,)
    return float(log_p[observed[:, 0]].mean())


@torch.no_grad()
def predictive_samples(fit: HeadFit, z: np.ndarray, seed: int = 0, batch_size: int = 4096
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predictive draws of the (true) quantities, with the aleatoric / epistemic split.

    Args:
        fit: A fitted head.
        z: ``(N, C)`` features.
        seed: Seed of the draws.
        batch_size: Stars per chunk (bounds memory).

    Returns:
        ``(samples (S, N, d), aleatoric_std (N, d), epistemic_std (N, d))``.

    Example:
        >>> z = np.random.default_rng(0).normal(size=(50, 2))
        >>> y, cov = z[:, :1], np.full((50, 1, 1), 0.01)
        >>> fit = fit_svi(z, y, cov, BayesianHeadConfig(n_features=2, svi_steps=20, num_samples=8))
        >>> [part.shape for part in predictive_samples(fit, z[:3])]
        [(8, 3, 1), (3, 1), (3, 1)]
    """
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    features = torch.as_tensor(z, dtype=torch.float64)
    n_draws = next(iter(fit.samples.values())).shape[0]
    d = fit.head.dim
    out = np.empty((n_draws, len(features), d))
    aleatoric = np.zeros((len(features), d))
    locs = np.empty((n_draws, len(features), d))
    for start in range(0, len(features), batch_size):
        part = features[start : start + batch_size]
        for s in range(n_draws):
            # sample sites only exist inside the module's __call__, so condition the whole module
            conditioned = pyro.poutine.condition(fit.head, data={k: v[s] for k, v in fit.samples.items()})
            params = conditioned(part)
            draw = _draw(fit.head, params, generator, rng)  # (B, d)
            out[s, start : start + len(part)] = draw.numpy()
            locs[s, start : start + len(part)] = params["loc"].numpy()
            aleatoric[start : start + len(part)] += (params["scale"] ** 2).numpy() / n_draws
    return out, np.sqrt(aleatoric), locs.std(axis=0)


def _draw(head: BayesianHead, params: dict[str, torch.Tensor], generator: torch.Generator,
          rng: np.random.Generator) -> torch.Tensor:
    """One draw per star ``(B, d)`` from the head's distribution (explicit generators: reproducible)."""
    loc, scale = params["loc"], params["scale"]
    tril = torch.linalg.cholesky(_covariance(scale, params.get("corr")))
    normal = torch.randn(loc.shape, generator=generator, dtype=loc.dtype)
    draw = loc + (tril @ normal[..., None])[..., 0]
    if head.config.likelihood == "student_t":
        df = float(params["df"])
        mixing = torch.as_tensor(rng.gamma(df / 2, 2 / df, size=len(loc)), dtype=loc.dtype)  # chi2_df / df
        draw = loc + (tril @ normal[..., None])[..., 0] / torch.sqrt(mixing)[:, None]
    elif head.config.likelihood == "mixture":
        second = torch.as_tensor(rng.random(len(loc))) < torch.sigmoid(params["logit"])
        scale2 = params["scale2"][:, None].expand_as(scale)
        tril2 = torch.linalg.cholesky(_covariance(scale2, params.get("corr")))
        draw2 = loc + params["shift"] + (tril2 @ normal[..., None])[..., 0]
        draw = torch.where(second[:, None], draw2, draw)
    return draw
