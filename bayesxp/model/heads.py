"""Bayesian heads (Pyro) on the backbone's request embeddings: joint (ln mass, ln age) and per-label.

Features: the backbone's embeddings of the requested keys (``ln_mass`` and ``ln_age`` for the joint head;
the label's own key otherwise), frozen, standardised and reduced by PCA to ``n_features`` components
(fitted on the training stars) so that the Bayesian part is small enough for NUTS.

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

from dataclasses import dataclass

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro.infer import MCMC, NUTS, SVI, Trace_ELBO
from pyro.infer.autoguide import AutoLowRankMultivariateNormal
from pyro.nn import PyroModule, PyroSample

__all__ = ["HeadConfig", "FeatureMap", "BayesianHead", "HeadFit", "fit_svi", "fit_nuts", "predictive_samples",
           "predictive_log_score", "effective_targets", "LIKELIHOODS"]

#: The likelihood families a head can use.
LIKELIHOODS = ("gaussian", "student_t", "mixture")

_MAX_CORRELATION = 0.98


@dataclass(frozen=True)
class HeadConfig:
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


def effective_targets(y: np.ndarray, label_cov: np.ndarray, config: HeadConfig, seed: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Targets and label covariance as the likelihood sees them (see ``HeadConfig.label_error``).

    ``"convolve"`` returns them unchanged; ``"propagate"`` returns one draw of the truth per row,
    ``y + N(0, label_cov)`` (only the observed quantities; for d = 2 the second is drawn conditionally on
    the first), with a zero covariance.
    """
    if config.label_error == "convolve":
        return y, label_cov
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(y.shape)
    cov = np.nan_to_num(label_cov)
    s0 = np.sqrt(np.clip(cov[:, 0, 0], 0.0, None))
    draw = y.copy()
    draw[:, 0] = y[:, 0] + s0 * e[:, 0]
    if y.shape[1] == 2:
        c01 = np.divide(cov[:, 0, 1], s0, out=np.zeros_like(s0), where=s0 > 0)
        s1 = np.sqrt(np.clip(cov[:, 1, 1] - c01**2, 0.0, None))
        draw[:, 1] = y[:, 1] + c01 * e[:, 0] + s1 * e[:, 1]
    return draw, np.zeros_like(label_cov)


class FeatureMap:
    """Standardise then PCA-project frozen embeddings (fitted on training stars; plain NumPy).

    Args:
        n_components: Output dimension.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(100, 8))
        >>> FeatureMap(3).fit(x).transform(x).shape
        (100, 3)
    """

    def __init__(self, n_components: int) -> None:
        self.n_components = n_components
        self.mean: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.components: np.ndarray | None = None  # (F, C)

    def fit(self, x: np.ndarray) -> FeatureMap:
        """Fit on ``(N, F)`` features."""
        x = np.asarray(x, np.float64)
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0) + 1e-8
        z = (x - self.mean) / self.scale
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        k = min(self.n_components, vt.shape[0])
        # unit-variance components
        self.components = vt[:k].T / (singular[:k] / np.sqrt(len(z)))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """``(N, F)`` -> ``(N, C)``."""
        if self.components is None:
            raise RuntimeError("FeatureMap is not fitted")
        return ((np.asarray(x, np.float64) - self.mean) / self.scale) @ self.components

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors for the model folder."""
        return {"mean": torch.tensor(self.mean), "scale": torch.tensor(self.scale),
                "components": torch.tensor(self.components)}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> FeatureMap:
        """Inverse of :meth:`state`."""
        fmap = cls(state["components"].shape[1])
        fmap.mean = state["mean"].numpy()
        fmap.scale = state["scale"].numpy()
        fmap.components = state["components"].numpy()
        return fmap


class BayesianHead(PyroModule):
    """Bayesian linear heteroscedastic head over ``d`` quantities (d = 1 or 2).

    Args:
        n_features: Input dimension C.
        dim: Output dimension d.
        config: Head settings.
    """

    def __init__(self, n_features: int, dim: int, config: HeadConfig) -> None:
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
    zt = torch.as_tensor(z, dtype=torch.float64)
    yt = torch.as_tensor(y, dtype=torch.float64)
    if yt.ndim == 1:
        yt = yt[:, None]
    observed = torch.isfinite(yt)
    lc = torch.as_tensor(np.nan_to_num(label_cov), dtype=torch.float64)
    if lc.ndim == 1:
        lc = lc[:, None, None]
    return zt, yt, lc, observed


def fit_svi(z: np.ndarray, y: np.ndarray, label_cov: np.ndarray, config: HeadConfig) -> HeadFit:
    """SVI with a low-rank multivariate-normal guide over all head weights.

    Args:
        z: ``(N, C)`` features.
        y: ``(N, d)`` labels (NaN = unobserved; for d = 2 the first must be observed to count).
        label_cov: ``(N, d, d)`` label error covariance.
        config: Head settings.

    Returns:
        The fit with ``config.num_samples`` posterior weight draws.
    """
    pyro.set_rng_seed(config.seed)
    pyro.clear_param_store()
    zt, yt, lc, observed = _as_tensors(z, *effective_targets(y, label_cov, config, config.seed))
    head = BayesianHead(zt.shape[1], yt.shape[1], config)
    guide = AutoLowRankMultivariateNormal(head, rank=config.guide_rank, init_scale=0.01)
    optimiser = pyro.optim.ClippedAdam({"lr": config.svi_learning_rate, "lrd": 0.1 ** (1 / config.svi_steps)})
    svi = SVI(head, guide, optimiser, Trace_ELBO())
    losses = [svi.step(zt, yt, lc, observed) / len(zt) for _ in range(config.svi_steps)]
    with torch.no_grad():
        draws = [guide() for _ in range(config.num_samples)]
    samples = {k: torch.stack([d[k] for d in draws]) for k in draws[0]}
    return HeadFit(head=head, samples=samples, method="svi",
                   diagnostics={"final_loss_per_star": float(np.mean(losses[-100:])), "steps": config.svi_steps})


def fit_nuts(z: np.ndarray, y: np.ndarray, label_cov: np.ndarray, config: HeadConfig, warmup: int = 300,
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
    """
    pyro.set_rng_seed(config.seed)
    pyro.clear_param_store()
    zt, yt, lc, observed = _as_tensors(z, *effective_targets(y, label_cov, config, config.seed))
    head = BayesianHead(zt.shape[1], yt.shape[1], config)
    kernel = NUTS(head, target_accept_prob=0.85, max_tree_depth=8, jit_compile=False)
    mcmc = MCMC(kernel, num_samples=num_samples or config.num_samples, warmup_steps=warmup, num_chains=1,
                disable_progbar=True)
    mcmc.run(zt, yt, lc, observed)
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
    """
    zt, yt, lc, observed = _as_tensors(z, *effective_targets(y, label_cov, fit.head.config, fit.head.config.seed + 1))
    draws = []
    n_draws = next(iter(fit.samples.values())).shape[0]
    for s in range(n_draws):
        conditioned = pyro.poutine.condition(fit.head, data={k: v[s] for k, v in fit.samples.items()})
        params = conditioned(zt)
        draws.append(fit.head.log_prob(params, yt, lc, observed))
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
    """
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    zt = torch.as_tensor(z, dtype=torch.float64)
    n_draws = next(iter(fit.samples.values())).shape[0]
    d = fit.head.dim
    out = np.empty((n_draws, len(zt), d))
    aleatoric = np.zeros((len(zt), d))
    locs = np.empty((n_draws, len(zt), d))
    for start in range(0, len(zt), batch_size):
        part = zt[start : start + batch_size]
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
