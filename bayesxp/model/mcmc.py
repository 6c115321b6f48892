"""An emcee fit of one star's labels to its XP spectrum through the model's generative direction.

The amortised posterior (:mod:`bayesxp.model.bayesian`) reads labels off a spectrum in one pass; this module
asks the converse question of the same backbone, star by star, and samples it with an ensemble MCMC
(``emcee``), as a slow, independent check of the amortised answer.

Likelihood. The star's observed spectral tokens ``y`` (its T = 80 normalised pseudo-coefficients,
:func:`~bayesxp.model.generate.observed_tokens`) given the labels
``theta = (teff, logg, m_h, alpha_m, ln_mass, ln_age)`` are ``N(m(theta), diag(s(theta)^2))``, with ``m, s``
the backbone's prediction of every spectral token from the labels
(:func:`~bayesxp.model.generate.spectral_tokens`), the star's photometry (``bp_rp, j_h, j_k, ak_targ``) joining
the context where it is known::

    log L(theta) = -1/2 sum_t [(y_t - m_t)^2 / s_t^2 + log(2 pi s_t^2)]   (finite tokens t only)

The observed tokens' own errors are not added: bright giants' coefficients are far better measured than the
model predicts them (as in :mod:`bayesxp.model.ppc`).

Priors (:class:`MCMCConfig`): uniform boxes in Teff [K], logg, [M/H] and [alpha/M]; mass [Msun] and age [Gyr]
log-uniform (uniform in ``ln_mass`` / ``ln_age``) over :data:`~bayesxp.quantities.PHYSICAL_RANGE` by default.
The sampled space is :data:`~bayesxp.quantities.TARGET_LABELS`, the model's own label space.

Sampling. ``emcee.EnsembleSampler`` with ``vectorize=True``: the stretch move proposes half the walkers at a
time and the log-probability of all of them is one call of the backbone (about 150-700 label sets per second
on one CPU thread, so the ensemble, not the step, is the unit of cost).

Returned (:class:`MCMCResult`): the chain after burn-in and thinning ``(n_kept, n_walkers, 6)`` in the sampled
space, its log-probabilities, the acceptance fraction and integrated autocorrelation time per parameter,
the chi-square at the posterior median; :meth:`MCMCResult.samples` (mass and age in physical units),
:meth:`MCMCResult.to_arviz` and :meth:`MCMCResult.summary` (R-hat and ESS with each walker read as a chain;
walkers of one ensemble are not independent, so these are indicative).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bayesxp.errors import ConfigError
from bayesxp.model.foundation import FoundationModel
from bayesxp.model.generate import GENERATION_LABELS, observed_tokens, spectral_tokens, token_chi_square
from bayesxp.quantities import LABELS, LN_SCALE, PHOTOMETRIC_LABELS, PHYSICAL_RANGE, TARGET_LABELS

if TYPE_CHECKING:
    import arviz
    import pandas as pd

__all__ = ["MCMCConfig", "MCMCResult", "fit_tokens", "fit_star", "log_likelihood"]

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class MCMCConfig:
    """Sampler settings and the prior box of one fit.

    Attributes:
        n_walkers: Walkers of the ensemble (at least twice the 6 sampled dimensions).
        n_steps: Steps per walker, burn-in included.
        burn: Steps discarded at the start of every walker.
        thin: Keep every ``thin``-th step after the burn-in.
        seed: Seed of the initial scatter and of the sampler's moves.
        teff: Uniform prior bounds of Teff [K].
        logg: Uniform prior bounds of logg [dex].
        m_h: Uniform prior bounds of [M/H] [dex].
        alpha_m: Uniform prior bounds of [alpha/M] [dex].
        mass: Bounds of mass (physical units); the prior is uniform in ln mass.
        age: Bounds of age [Gyr]; the prior is uniform in ln age.
        initial_scatter: Std of the walkers' initial Gaussian ball, as a fraction of each prior width.

    Raises:
        ValueError: Too few walkers, a burn-in not shorter than the run, a bound pair not increasing, or a
            non-positive mass or age bound.

    Example:
        >>> config = MCMCConfig(n_walkers=16, n_steps=100, burn=50)
        >>> config.n_kept, config.bounds().shape
        (50, (6, 2))
        >>> MCMCConfig(burn=2000)
        Traceback (most recent call last):
        ...
        bayesxp.errors.ConfigError: burn (2000) must be smaller than n_steps (1500)
    """

    n_walkers: int = 32
    n_steps: int = 1500
    burn: int = 500
    thin: int = 1
    seed: int = 0
    teff: tuple[float, float] = (3500.0, 5500.0)
    logg: tuple[float, float] = (0.5, 3.8)
    m_h: tuple[float, float] = (-2.5, 0.6)
    alpha_m: tuple[float, float] = (-0.2, 0.5)
    mass: tuple[float, float] = field(default=PHYSICAL_RANGE["ln_mass"])
    age: tuple[float, float] = field(default=PHYSICAL_RANGE["ln_age"])
    initial_scatter: float = 0.01

    def __post_init__(self) -> None:
        if self.n_walkers < 2 * len(TARGET_LABELS):
            raise ConfigError(f"n_walkers must be at least {2 * len(TARGET_LABELS)} (twice the sampled dimensions), "
                             f"not {self.n_walkers}")
        if self.n_steps < 1 or self.thin < 1 or self.burn < 0:
            raise ConfigError(f"n_steps and thin must be >= 1 and burn >= 0, not n_steps={self.n_steps}, "
                             f"thin={self.thin}, burn={self.burn}")
        if self.burn >= self.n_steps:
            raise ConfigError(f"burn ({self.burn}) must be smaller than n_steps ({self.n_steps})")
        for name in GENERATION_LABELS:
            low, high = (float(v) for v in getattr(self, name))
            if not (np.isfinite(low) and np.isfinite(high) and low < high):
                raise ConfigError(f"prior bounds of {name} must be finite and increasing, not {getattr(self, name)}")
            if name in LN_SCALE and low <= 0:
                raise ConfigError(f"prior bounds of {name} must be positive (its prior is uniform in ln {name}), "
                                 f"not {getattr(self, name)}")
        if not 0 < self.initial_scatter < 0.5:
            raise ConfigError(f"initial_scatter must be in (0, 0.5), not {self.initial_scatter}")

    @property
    def n_kept(self) -> int:
        """Steps per walker kept after burn-in and thinning."""
        return len(range(self.burn, self.n_steps, self.thin))

    def bounds(self) -> np.ndarray:
        """``(6, 2)`` prior bounds in the sampled space (:data:`~bayesxp.quantities.TARGET_LABELS`, ln mass/age)."""
        return np.array([np.log(getattr(self, name)) if name in LN_SCALE else getattr(self, name)
                         for name in GENERATION_LABELS], np.float64)


@dataclass(frozen=True)
class MCMCResult:
    """The emcee fit of one star.

    Attributes:
        chain: ``(n_kept, n_walkers, 6)`` positions after burn-in and thinning, in the sampled space
            (``names``: ln mass, ln age).
        log_prob: ``(n_kept, n_walkers)`` log posterior (up to a constant) of each position.
        acceptance_fraction: ``(n_walkers,)`` over the whole run.
        autocorr_time: ``(6,)`` integrated autocorrelation time of each parameter, in kept steps
            (emcee's estimate with ``tol=0``: unreliable when it exceeds ``n_kept / 50``).
        names: The sampled parameters, :data:`~bayesxp.quantities.TARGET_LABELS`.
        chi_square: Chi-square of the tokens at the posterior median (expectation about ``n_tokens``).
        n_tokens: Finite spectral tokens the likelihood sums over.
        config: The settings of the run.
    """

    chain: np.ndarray
    log_prob: np.ndarray
    acceptance_fraction: np.ndarray
    autocorr_time: np.ndarray
    names: tuple[str, ...]
    chi_square: float
    n_tokens: int
    config: MCMCConfig

    @property
    def reduced_chi_square(self) -> float:
        """Chi-square at the posterior median per token (about 1 when the model explains the spectrum)."""
        return self.chi_square / self.n_tokens

    def samples(self) -> dict[str, np.ndarray]:
        """The kept draws, flattened over walkers, in physical units.

        Returns:
            ``{name: (n_kept * n_walkers,)}`` for :data:`~bayesxp.model.generate.GENERATION_LABELS` (mass and
            age exponentiated from the sampled logarithms).

        Example:
            >>> result = _example_fit()
            >>> draws = result.samples()
            >>> sorted(draws) == sorted(GENERATION_LABELS), draws["teff"].shape
            (True, (240,))
        """
        flat = self.chain.reshape(-1, self.chain.shape[-1])  # (n_kept * n_walkers, 6)
        return {name: np.exp(flat[:, j]) if name in LN_SCALE else flat[:, j].copy()
                for j, name in enumerate(GENERATION_LABELS)}

    def to_arviz(self) -> arviz.InferenceData:
        """The draws as ArviZ ``InferenceData``: each walker one chain, physical units.

        Returns:
            ``InferenceData`` with a ``posterior`` group (:data:`~bayesxp.model.generate.GENERATION_LABELS`,
            dims ``(chain=n_walkers, draw=n_kept)``) and a ``sample_stats`` group (``lp``).

        Example:
            >>> idata = _example_fit().to_arviz()
            >>> sorted(idata.posterior.data_vars) == sorted(GENERATION_LABELS), dict(idata.posterior.sizes)
            (True, {'chain': 12, 'draw': 20})
        """
        import arviz

        chain = np.swapaxes(self.chain, 0, 1)  # (n_walkers, n_kept, 6)
        posterior = {name: np.exp(chain[..., j]) if name in LN_SCALE else chain[..., j]
                     for j, name in enumerate(GENERATION_LABELS)}
        return arviz.from_dict(posterior=posterior, sample_stats={"lp": self.log_prob.T})

    def summary(self) -> pd.DataFrame:
        """ArviZ's summary of the draws: mean, sd, HDI, MCSE, ESS (bulk, tail) and R-hat per label.

        Returns:
            One row per label of :data:`~bayesxp.model.generate.GENERATION_LABELS`.

        Example:
            >>> table = _example_fit().summary()
            >>> {"r_hat", "ess_bulk", "ess_tail"} <= set(table.columns), len(table)
            (True, 6)
        """
        import arviz

        return arviz.summary(self.to_arviz())


def _photometry_row(photometry: Mapping[str, float] | np.ndarray | None, star: str) -> np.ndarray:
    """``(len(LABELS),)`` NaN everywhere but the known photometric labels."""
    row = np.full(len(LABELS), np.nan)
    if photometry is None:
        return row
    columns = [LABELS.index(k) for k in PHOTOMETRIC_LABELS]
    if isinstance(photometry, Mapping):
        unknown = sorted(set(photometry) - set(PHOTOMETRIC_LABELS))
        if unknown:
            raise ValueError(f"{star}: unknown photometric label(s) {unknown}; known: {list(PHOTOMETRIC_LABELS)}")
        for key, value in photometry.items():
            row[LABELS.index(key)] = float(value)
        return row
    values = np.asarray(photometry, np.float64).reshape(-1)
    if values.shape != (len(LABELS),):
        raise ValueError(f"{star}: photometry must be a mapping of {list(PHOTOMETRIC_LABELS)} or one "
                         f"({len(LABELS)},) label row (photometry_labels), not shape {np.shape(photometry)}")
    row[columns] = values[columns]
    return row


def log_likelihood(foundation: FoundationModel, tokens: np.ndarray, theta: np.ndarray,
                   photometry: Mapping[str, float] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Log-likelihood and chi-square of one star's spectral tokens at many label sets (one backbone call).

    Args:
        foundation: A foundation model with the coefficient-token design.
        tokens: ``(T,)`` observed spectral tokens (NaN: not observed, left out).
        theta: ``(K, 6)`` label sets in the sampled space (:data:`~bayesxp.quantities.TARGET_LABELS`).
        photometry: The star's photometry (as for :func:`fit_tokens`), or None.

    Returns:
        ``(log_likelihood (K,), chi_square (K,))``.

    Example:
        >>> from bayesxp.model.generate import _shipped
        >>> foundation = _shipped()
        >>> theta = np.array([[4700.0, 2.4, -0.1, 0.05, np.log(1.2), np.log(4.0)]])
        >>> m, s = spectral_tokens(foundation, np.c_[theta, np.full((1, 4), np.nan)])
        >>> logl, chi2 = log_likelihood(foundation, m[0] + s[0], theta)  # every token one std off
        >>> float(chi2[0])
        80.0
    """
    y = np.asarray(tokens, np.float64)
    theta = np.atleast_2d(np.asarray(theta, np.float64))
    x = np.tile(_photometry_row(photometry, "star"), (len(theta), 1))  # (K, len(LABELS))
    x[:, [LABELS.index(k) for k in TARGET_LABELS]] = theta
    mean, std = spectral_tokens(foundation, x)  # (K, T) each
    seen = np.isfinite(y)
    chi2 = token_chi_square(y, mean, std)
    return -0.5 * (chi2 + np.sum(np.log(std[:, seen] ** 2) + _LOG_2PI, axis=1)), chi2


def _initial_positions(config: MCMCConfig, initial: Mapping[str, float] | None, rng: np.random.Generator,
                       star: str) -> np.ndarray:
    """``(n_walkers, 6)`` a small Gaussian ball about ``initial`` (or the box centre), inside the prior box."""
    bounds = config.bounds()
    width = bounds[:, 1] - bounds[:, 0]
    centre = bounds.mean(axis=1)
    if initial is not None:
        unknown = sorted(set(initial) - set(GENERATION_LABELS))
        if unknown:
            raise ValueError(f"{star}: unknown initial label(s) {unknown}; known: {list(GENERATION_LABELS)}")
        for j, name in enumerate(GENERATION_LABELS):
            value = float(initial.get(name, np.nan))
            if name in LN_SCALE:
                value = np.log(value) if value > 0 else np.nan
            if np.isfinite(value):
                centre[j] = value
    margin = 0.5 * config.initial_scatter * width
    centre = np.clip(centre, bounds[:, 0] + margin, bounds[:, 1] - margin)
    ball = centre + config.initial_scatter * width * rng.standard_normal((config.n_walkers, len(centre)))
    return np.clip(ball, bounds[:, 0] + 1e-9 * width, bounds[:, 1] - 1e-9 * width)


def fit_tokens(foundation: FoundationModel, tokens: np.ndarray,
               photometry: Mapping[str, float] | np.ndarray | None = None, config: MCMCConfig = MCMCConfig(),
               initial: Mapping[str, float] | None = None, star: str = "the star") -> MCMCResult:
    """Sample the labels of one star from its observed spectral tokens.

    Args:
        foundation: A foundation model with the coefficient-token design (any bayesxp model's ``foundation``).
        tokens: ``(T,)`` (or ``(1, T)``) observed spectral tokens
            (:func:`~bayesxp.model.generate.observed_tokens`); NaN tokens are left out.
        photometry: The star's ``{bp_rp, j_h, j_k, ak_targ}`` (any subset), or its ``(len(LABELS),)`` row of
            :func:`~bayesxp.xp.inputs.photometry_labels` (only the photometric columns are read), or None;
            NaN values are not used.
        config: Sampler settings and prior.
        initial: ``{label: value}`` centre of the walkers' initial ball in physical units (mass, age), e.g.
            the amortised posterior median; labels not given (or outside the box) start from the box centre
            (or its edge).
        star: How errors name the star.

    Returns:
        The fit.

    Raises:
        ValueError: No finite token, wrongly shaped tokens or photometry, or unknown label names.

    Example:
        >>> from bayesxp.model.generate import _shipped, labels_array
        >>> foundation = _shipped()
        >>> y, _ = spectral_tokens(foundation, labels_array({"teff": 4700.0, "logg": 2.4, "m_h": -0.1,
        ...                                                  "alpha_m": 0.05, "mass": 1.2, "age": 4.0}))
        >>> result = fit_tokens(foundation, y[0], config=MCMCConfig(n_walkers=12, n_steps=15, burn=5),
        ...                     initial={"teff": 4700.0, "logg": 2.4, "m_h": -0.1})
        >>> result.chain.shape, result.names[-1]
        ((10, 12, 6), 'ln_age')
    """
    import emcee

    y = np.asarray(tokens, np.float64)
    if y.ndim == 2 and y.shape[0] == 1:
        y = y[0]
    if y.ndim != 1:
        raise ValueError(f"{star}: tokens must be one star's (T,) spectral tokens, not shape {np.shape(tokens)}")
    n_tokens = int(np.isfinite(y).sum())
    if n_tokens == 0:
        raise ValueError(f"{star}: no finite spectral token to fit (all {y.size} are NaN or infinite)")
    row = _photometry_row(photometry, star)
    bounds = config.bounds()

    def log_prob(theta: np.ndarray) -> np.ndarray:  # (K, 6) -> (K,)
        inside = np.all((theta > bounds[:, 0]) & (theta < bounds[:, 1]), axis=1)
        out = np.full(len(theta), -np.inf)
        if inside.any():
            logl, _ = log_likelihood(foundation, y, theta[inside], row)
            out[inside] = np.where(np.isfinite(logl), logl, -np.inf)
        return out

    rng = np.random.default_rng(config.seed)
    start = _initial_positions(config, initial, rng, star)
    sampler = emcee.EnsembleSampler(config.n_walkers, len(TARGET_LABELS), log_prob, vectorize=True)
    state = emcee.State(start, random_state=np.random.RandomState(config.seed).get_state())
    sampler.run_mcmc(state, config.n_steps, progress=False)
    chain = sampler.get_chain(discard=config.burn, thin=config.thin)  # (n_kept, n_walkers, 6)
    with np.errstate(divide="ignore", invalid="ignore"):  # a walker that never moved: NaN time, no warning
        autocorr_time = np.asarray(sampler.get_autocorr_time(discard=config.burn, thin=config.thin, tol=0))
    median = np.median(chain.reshape(-1, chain.shape[-1]), axis=0)
    _, chi2 = log_likelihood(foundation, y, median[None], row)
    return MCMCResult(
        chain=chain,
        log_prob=sampler.get_log_prob(discard=config.burn, thin=config.thin),
        acceptance_fraction=np.asarray(sampler.acceptance_fraction),
        autocorr_time=autocorr_time,
        names=TARGET_LABELS,
        chi_square=float(chi2[0]),
        n_tokens=n_tokens,
        config=config,
    )


def fit_star(foundation: FoundationModel, flux: np.ndarray, flux_error: np.ndarray,
             photometry: Mapping[str, float] | np.ndarray | None = None, config: MCMCConfig = MCMCConfig(),
             initial: Mapping[str, float] | None = None, star: str = "the star") -> MCMCResult:
    """Sample the labels of one star from its XP sampled spectrum.

    The spectrum is projected onto the model's spectral tokens as the tokenizer does
    (:func:`~bayesxp.model.generate.observed_tokens`), then :func:`fit_tokens` samples the labels.

    Args:
        foundation: A foundation model with the coefficient-token design.
        flux: ``(343,)`` or ``(1, 343)`` flux over its median.
        flux_error: Same shape.
        photometry: As for :func:`fit_tokens`.
        config: Sampler settings and prior.
        initial: As for :func:`fit_tokens`.
        star: How errors name the star (e.g. its ``source_id``).

    Returns:
        The fit.

    Raises:
        ValueError: Not one star's spectrum, or no finite spectral token.

    Example:
        >>> from bayesxp.data.demo import demo_path
        >>> from bayesxp.io.library import read_sampled_table
        >>> from bayesxp.model.generate import _shipped
        >>> from bayesxp.xp.inputs import photometry_labels
        >>> s = read_sampled_table(demo_path()).take(np.arange(1))
        >>> result = fit_star(_shipped(), s.flux[0], s.flux_error[0], photometry_labels(s.meta)[0],
        ...                   MCMCConfig(n_walkers=12, n_steps=15, burn=5), initial={"teff": 4200.0, "logg": 1.7})
        >>> result.chain.shape, result.n_tokens
        ((10, 12, 6), 80)
    """
    flux = np.atleast_2d(np.asarray(flux, np.float64))
    flux_error = np.atleast_2d(np.asarray(flux_error, np.float64))
    if flux.shape[0] != 1 or flux_error.shape != flux.shape:
        raise ValueError(f"{star}: flux and flux_error must be one star's spectrum, (343,) or (1, 343), "
                         f"not {flux.shape} and {flux_error.shape}")
    tokens = observed_tokens(foundation.tokenizer, flux, flux_error)[0]  # (T,)
    return fit_tokens(foundation, tokens, photometry, config, initial, star)


@functools.lru_cache(maxsize=1)
def _example_fit() -> MCMCResult:
    """A tiny fit of a generated star (doctest helper: 12 walkers, 20 kept steps)."""
    from bayesxp.model.generate import _shipped, labels_array

    foundation = _shipped()
    y, _ = spectral_tokens(foundation, labels_array({"teff": 4700.0, "logg": 2.4, "m_h": -0.1, "alpha_m": 0.05,
                                                     "mass": 1.2, "age": 4.0}))
    return fit_tokens(foundation, y[0], config=MCMCConfig(n_walkers=12, n_steps=30, burn=10),
                      initial={"teff": 4700.0, "logg": 2.4})
