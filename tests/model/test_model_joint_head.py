"""The joint head (Teff, logg, [M/H], ln mass, ln age) on synthetic problems whose truth is known.

Truth: features ``z ~ N(0, I_3)``; a latent 5-vector ``v ~ N(z A, Sigma(z))`` whose per-star correlations depend
on ``z`` (Teff-logg ``0.4 + 0.3 tanh z_0`` in 0.1..0.7; ln mass-ln age ``-0.75 - 0.15 tanh z_1`` in -0.9..-0.6;
[M/H]-age 0.2) and whose stds are log-linear in ``z``; Teff, logg, [M/H] are affine in ``v``, ln mass and ln age
``ln lo + (ln hi - ln lo) sigmoid(c + s v)`` between the bounds of ``PHYSICAL_RANGE``. Labels:

- measured (Teff, logg, [M/H]): label = truth + noise of known per-star std (about the intrinsic scatter);
- derived (ln mass, ln age): truth = label + error, the error of known per-star 2x2 covariance (correlation
  -0.6, std about 0.7x the labels' own scatter), drawn independently of the label.

So the right treatments (deconvolve the measured errors, propagate the derived ones) give a predictive of the
truth; ignoring the measured errors makes the measured intervals too wide, ignoring the derived ones makes
the derived intervals too narrow. Tolerances:

- correlations: per pair, mean |predicted - true| per-star correlation over 100 held-out stars <= 0.15 (the
  issue's bound) and the 90th percentile <= 0.30 (the draws' own sampling error is <= 0.03 at S = 1000; the
  rest is the fitted weights' error at 1,000 training stars with noisy labels: measured 0.03-0.11 per pair,
  stable from 300 to 600 SVI steps);
- coverage: 3 binomial standard deviations at 1,000 held-out stars plus 0.02 for the fitted weights' error;
- law of total variance: the variance of 20,000 draws is ``aleatoric + epistemic`` within 4% on average over
  stars (Monte Carlo: about 1-2% per star for these families).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyro
import pytest
import torch
from scipy.special import expit

from bayesxp.model.joint_head import (
    JointHeadConfig,
    JointHeadFit,
    _traces,
    fit_joint_head,
    joint_log_score,
    joint_predictive_samples,
    joint_variance_parts,
)
from bayesxp.model.joint_likelihood import (
    FAMILIES,
    JOINT_LABELS,
    JointLabelDistribution,
    base_distribution,
    label_transform,
    prepare_targets,
)
from bayesxp.quantities import PHYSICAL_RANGE, QUANTITIES, hash_bucket

F = 3
A = np.array([[0.5, 0.4, 0.0, 0.3, -0.3], [0.0, 0.3, 0.5, 0.0, 0.4], [0.3, 0.0, -0.3, 0.4, 0.2]])  # (F, 5)
CENTRE = np.array([4800.0, 2.6, -0.1, -0.21, 1.31])  # label centres; logit positions for mass and age
SPREAD = np.array([250.0, 0.3, 0.2, 0.3, 0.5])
MEASURED_NOISE = np.array([125.0, 0.15, 0.1])  # times U(0.5, 1)
DERIVED_ERROR = ((0.06, 0.12), (0.15, 0.30))  # std ranges of ln mass and ln age errors
DERIVED_CORR = -0.6
LOG_BOUNDS = [np.log(PHYSICAL_RANGE[label]) for label in ("ln_mass", "ln_age")]
PAIRS = [(i, j) for i in range(5) for j in range(i + 1, 5)]
FAST = JointHeadConfig(likelihood="gaussian", svi_steps=300, svi_learning_rate=0.05)
N_TRAIN, N_TEST, N_CORR = 1000, 1000, 100
LEVELS = (0.68, 0.95)


def _latent(z: np.ndarray, n: int, rng: np.random.Generator, df: float | None = None) -> np.ndarray:
    """``(n, N, 5)`` latent draws (Gaussian, or Student-t with ``df``)."""
    sd = 0.5 * np.exp(0.25 * z[:, [0, 1, 2, 1, 0]] * np.array([1, -1, 1, 1, -1]))
    corr = np.tile(np.eye(5), (len(z), 1, 1))
    corr[:, 0, 1] = corr[:, 1, 0] = 0.4 + 0.3 * np.tanh(z[:, 0])
    corr[:, 3, 4] = corr[:, 4, 3] = -0.75 - 0.15 * np.tanh(z[:, 1])
    corr[:, 2, 4] = corr[:, 4, 2] = 0.2
    tril = np.linalg.cholesky(sd[:, :, None] * corr * sd[:, None, :])
    e = (tril @ rng.standard_normal((n, len(z), 5, 1)))[..., 0]
    if df is not None:
        e = e / np.sqrt(rng.chisquare(df, (n, len(z), 1)) / df)
    return z @ A + e


def _labels(v: np.ndarray, centre: np.ndarray = CENTRE) -> np.ndarray:
    """Latent -> model labels (Teff, logg, [M/H], ln mass, ln age)."""
    y = centre + SPREAD * v
    for j, (low, high) in zip((3, 4), LOG_BOUNDS):
        y[..., j] = low + (high - low) * expit(y[..., j])
    return y


def _derived_errors(shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(errors (*shape, 2), covariance (*shape, 2, 2))`` of the derived labels."""
    sd = np.stack([rng.uniform(*DERIVED_ERROR[0], shape), rng.uniform(*DERIVED_ERROR[1], shape)], axis=-1)
    cov = sd[..., :, None] * sd[..., None, :] * np.array([[1.0, DERIVED_CORR], [DERIVED_CORR, 1.0]])
    return (np.linalg.cholesky(cov) @ rng.standard_normal(shape + (2, 1)))[..., 0], cov


def _truth_and_labels(z: np.ndarray, rng: np.random.Generator, centre: np.ndarray = CENTRE, df: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(truth, labels, label_cov)``: measured labels = truth + noise; derived truth = label + error."""
    n = len(z)
    estimate = _labels(_latent(z, 1, rng, df)[0], centre)
    errors, derived_cov = _derived_errors((n,), rng)
    truth = estimate.copy()
    truth[:, 3:] += errors
    noise = MEASURED_NOISE * rng.uniform(0.5, 1.0, (n, 3))
    labels = estimate.copy()
    labels[:, :3] = truth[:, :3] + noise * rng.standard_normal((n, 3))
    label_cov = np.zeros((n, 5, 5))
    label_cov[:, [0, 1, 2], [0, 1, 2]] = noise**2
    label_cov[:, 3:, 3:] = derived_cov
    return truth, labels, label_cov


def _truth_draws(z: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, N, 5)`` draws of the truth given ``z`` (the derived labels' error drawn with them)."""
    draws = _labels(_latent(z, n, rng))
    draws[..., 3:] += _derived_errors((n, len(z)), rng)[0]
    return draws


def _model_labels(samples: dict[str, np.ndarray]) -> np.ndarray:
    """``{quantity: (S, N)}`` -> ``(S, N, 5)`` in the model's order (ln mass, ln age)."""
    return np.stack([samples["teff"], samples["logg"], samples["m_h"], np.log(samples["mass"]),
                     np.log(samples["age"])], axis=-1)


def _correlations(draws: np.ndarray) -> np.ndarray:
    """``(S, N, 5)`` -> per-star correlation matrices ``(N, 5, 5)``."""
    x = draws - draws.mean(0)
    cov = np.einsum("sni,snj->nij", x, x)
    sd = np.sqrt(np.einsum("nii->ni", cov))
    return cov / sd[:, :, None] / sd[:, None, :]


def _correlation_errors(draws: np.ndarray, truth_corr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: mean and 90th percentile over stars of |predicted - true| correlation."""
    diff = np.abs(_correlations(draws) - truth_corr)
    per_pair = np.stack([diff[:, i, j] for i, j in PAIRS], axis=1)  # (N, 10)
    return per_pair.mean(0), np.quantile(per_pair, 0.9, axis=0)


def _correlations_match(draws: np.ndarray, truth_corr: np.ndarray) -> bool:
    mean, p90 = _correlation_errors(draws, truth_corr)
    return bool((mean <= 0.15).all() and (p90 <= 0.30).all())


def _coverage(samples: np.ndarray, truth: np.ndarray, level: float) -> float:
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((truth >= lo) & (truth <= hi)))


def _covers(samples: np.ndarray, truth: np.ndarray) -> bool:
    """Central 68% and 95% intervals cover the truth within 3 binomial sigma + 0.02."""
    n = len(truth)
    return all(abs(_coverage(samples, truth, level) - level) <= 3 * np.sqrt(level * (1 - level) / n) + 0.02
               for level in LEVELS)


def _pile_up(draws: np.ndarray, bounds: tuple[float, float], tolerance: float = 1e-6) -> float:
    """Fraction of draws on, beyond or within ``tolerance`` of a bound (physical units)."""
    low, high = bounds
    return float(np.mean((draws <= low + tolerance) | (draws >= high - tolerance)))


@dataclass(frozen=True)
class Problem:
    z: np.ndarray
    labels: np.ndarray
    label_cov: np.ndarray
    z_test: np.ndarray
    truth_test: np.ndarray
    truth_corr: np.ndarray  # (N_CORR, 5, 5) for z_test[:N_CORR]


@pytest.fixture(scope="module")
def problem() -> Problem:
    rng = np.random.default_rng(7)
    z = rng.standard_normal((N_TRAIN, F))
    _, labels, label_cov = _truth_and_labels(z, rng)
    labels[rng.random(N_TRAIN) < 0.10, 4] = np.nan  # no age
    labels[rng.random(N_TRAIN) < 0.05, 3:] = np.nan  # neither mass nor age
    z_test = rng.standard_normal((N_TEST, F))
    truth_test, _, _ = _truth_and_labels(z_test, rng)
    truth_corr = _correlations(_truth_draws(z_test[:N_CORR], 4000, rng))
    return Problem(z, labels, label_cov, z_test, truth_test, truth_corr)


@pytest.fixture(scope="module")
def fits(problem: Problem) -> dict[str, JointHeadFit]:
    """The right treatment and the two wrong ones (each kind of label error ignored)."""
    configs = {"right": FAST, "measured_ignored": JointHeadConfig(**{**FAST.__dict__, "measured_label_error": "ignore"}),
               "derived_ignored": JointHeadConfig(**{**FAST.__dict__, "derived_label_error": "ignore"})}
    return {name: fit_joint_head(problem.z, problem.labels, problem.label_cov, config=config)
            for name, config in configs.items()}


@pytest.fixture(scope="module")
def test_draws(problem: Problem, fits: dict[str, JointHeadFit]) -> dict[str, np.ndarray]:
    """``(500, N_TEST, 5)`` model-label draws of each fit (for coverage)."""
    return {name: _model_labels(joint_predictive_samples(fit, problem.z_test, num_samples=500, seed=3))
            for name, fit in fits.items()}


@pytest.fixture(scope="module")
def correlation_draws(problem: Problem, fits: dict[str, JointHeadFit]) -> np.ndarray:
    """``(1000, N_CORR, 5)`` model-label draws of the right fit."""
    return _model_labels(joint_predictive_samples(fits["right"], problem.z_test[:N_CORR], num_samples=1000, seed=4))


# ---------------------------------------------------------------------------------------------- correlations
def test_per_star_correlations_match_the_truth(problem, correlation_draws):
    draws = correlation_draws
    mean, p90 = _correlation_errors(draws, problem.truth_corr)
    assert (mean <= 0.15).all() and (p90 <= 0.30).all(), (mean.round(3), p90.round(3))
    # the strong pairs are learned with their sign: mass-age negative, Teff-logg positive
    predicted = _correlations(draws)
    assert (predicted[:, 3, 4] < -0.3).all() and (predicted[:, 0, 1] > 0).mean() > 0.95


def test_the_correlation_check_rejects_independent_and_shared_draws(problem, correlation_draws):
    draws = correlation_draws
    rng = np.random.default_rng(0)
    independent = np.stack([rng.permuted(draws[..., j], axis=0) for j in range(5)], axis=-1)
    shared = draws.mean(0) + draws.std(0) * rng.standard_normal((len(draws), N_CORR, 1))
    assert _correlations_match(draws, problem.truth_corr)
    assert not _correlations_match(independent, problem.truth_corr)
    assert not _correlations_match(shared, problem.truth_corr)


# ---------------------------------------------------------------------------------------------- coverage
@pytest.mark.parametrize("dim", range(5), ids=JOINT_LABELS)
def test_coverage_of_the_truth_with_the_right_label_error_treatment(problem, test_draws, dim):
    samples, truth = test_draws["right"][..., dim], problem.truth_test[:, dim]
    assert _covers(samples, truth), [_coverage(samples, truth, level) for level in LEVELS]


@pytest.mark.parametrize(("wrong", "dims"), [("measured_ignored", (0, 1, 2)), ("derived_ignored", (3, 4))])
def test_the_coverage_check_rejects_a_wrong_label_error_treatment(problem, test_draws, wrong, dims):
    for dim in dims:
        samples, truth = test_draws[wrong][..., dim], problem.truth_test[:, dim]
        covered = _coverage(samples, truth, 0.68)
        assert not _covers(samples, truth), (wrong, dim, covered)
        # ignoring a measurement error widens the truth's intervals; ignoring a derived error narrows them
        assert covered > 0.68 if wrong == "measured_ignored" else covered < 0.68


def test_deconvolving_a_derived_label_is_refused():
    with pytest.raises(ValueError, match="derived_label_error"):
        JointHeadConfig(derived_label_error="deconvolve")


# ---------------------------------------------------------------------------------------------- bounds
def test_out_of_bound_labels_are_dropped_and_counted_not_clipped():
    low, high = LOG_BOUNDS[1]
    y = np.tile([4800.0, 2.5, 0.0, 0.2, 1.0], (5, 1))
    y[:, 4] = [1.0, high, high + 0.5, low - 0.1, np.nan]
    prepared = prepare_targets(y, seed=0)
    assert prepared.observed[:, 4].tolist() == [True, False, False, False, False]
    assert prepared.n_outside_bounds == {"mass": 0, "age": 3}
    assert prepared.values[0, 4] == 1.0 and np.isnan(prepared.values[1:, 4]).all()  # dropped, not moved
    assert prepared.observed[:, :4].all()  # the star's other labels still count


@pytest.fixture(scope="module")
def old_stars() -> tuple[JointHeadFit, np.ndarray, np.ndarray]:
    """Old stars: many true ages within 10% of the 20 Gyr bound; propagated errors push some labels over it."""
    rng = np.random.default_rng(11)
    centre = CENTRE + np.array([0, 0, 0, 0, 2.0])
    z = rng.standard_normal((600, F))
    _, labels, label_cov = _truth_and_labels(z, rng, centre)
    fit = fit_joint_head(z, labels, label_cov, config=JointHeadConfig(**{**FAST.__dict__, "svi_steps": 250}))
    z_test = rng.standard_normal((2000, F))
    median_age = np.exp(np.median(_truth_draws_centre(z_test, rng, centre)[..., 4], axis=0))
    return fit, z_test[median_age > 16.0], median_age[median_age > 16.0]


def _truth_draws_centre(z: np.ndarray, rng: np.random.Generator, centre: np.ndarray) -> np.ndarray:
    return _labels(_latent(z, 200, rng), centre)


def test_no_draw_on_or_near_a_physical_bound_even_next_to_one(old_stars):
    fit, z_old, median_age = old_stars
    assert len(z_old) >= 50 and fit.diagnostics["n_outside_bounds"]["age"] > 0
    draws = joint_predictive_samples(fit, z_old, num_samples=1000, seed=0)
    assert np.median(draws["age"]) > 15.0  # the predictive does reach up to the bound
    for quantity, label in (("mass", "ln_mass"), ("age", "ln_age")):
        assert _pile_up(draws[quantity], PHYSICAL_RANGE[label]) == 0.0
    assert np.mean(draws["age"] > 19.0) > 0.01  # close to the bound, never on it
    # a clipped model (a Gaussian in ln age with the same centre and spread, clipped at 20 Gyr) is rejected
    ln_age = np.log(draws["age"])
    clipped = np.exp(np.minimum(ln_age.mean(0) + ln_age.std(0) * np.random.default_rng(0).standard_normal(
        ln_age.shape), np.log(20.0)))
    assert _pile_up(clipped, PHYSICAL_RANGE["ln_age"]) > 0.01


# ---------------------------------------------------------------------------------------------- draws
def test_any_number_of_fresh_draws_and_seeds(problem, fits):
    fit, z = fits["right"], problem.z_test[:5]
    draws = joint_predictive_samples(fit, z, num_samples=1000, seed=1)
    assert list(draws) == list(QUANTITIES) and all(v.shape == (1000, 5) for v in draws.values())
    assert all(len(np.unique(v[:, i])) == 1000 for v in draws.values() for i in range(5))
    again = joint_predictive_samples(fit, z, num_samples=1000, seed=1)
    other = joint_predictive_samples(fit, z, num_samples=1000, seed=2)
    assert all(np.array_equal(draws[q], again[q]) for q in QUANTITIES)
    assert all(not np.isin(draws[q], other[q]).any() for q in QUANTITIES)
    big = joint_predictive_samples(fit, z[:2], num_samples=3000, seed=1)
    assert all(len(np.unique(big[q][:, 0])) == 3000 for q in QUANTITIES)


def test_the_state_round_trip_gives_the_same_draws(problem, fits):
    fit = fits["right"]
    again = JointHeadFit.from_state(fit.state(), fit.config, F)
    a, b = (joint_predictive_samples(f, problem.z_test[:4], num_samples=50, seed=5) for f in (fit, again))
    assert all(np.array_equal(a[q], b[q]) for q in QUANTITIES)


# ---------------------------------------------------------------------------------------------- likelihood
def _random_family(family: str, n: int, generator: torch.Generator) -> pyro.distributions.TorchDistribution:
    loc_shape = (n, 2, 5) if family == "mixture" else (n, 5)
    loc = torch.randn(loc_shape, generator=generator, dtype=torch.float64)
    a = torch.randn(loc_shape + (5,), generator=generator, dtype=torch.float64)
    tril = torch.linalg.cholesky(a @ a.mT + torch.eye(5, dtype=torch.float64))
    return base_distribution(family, loc, tril, df=torch.tensor(4.5, dtype=torch.float64),
                             logits=torch.randn(n, 2, generator=generator, dtype=torch.float64))


def _explicit_marginal(base: object, latent: torch.Tensor, keep: list[int]) -> torch.Tensor:
    """Log density of ``latent[..., keep]`` from a marginal distribution built by hand."""
    import pyro.distributions as dist

    if isinstance(base, dist.MixtureSameFamily):
        comp = base.component_distribution
        cov = comp.covariance_matrix[..., keep, :][..., keep]
        marginal = dist.MixtureSameFamily(dist.Categorical(logits=base.mixture_distribution.logits),
                                          dist.MultivariateNormal(comp.loc[..., keep], cov))
    else:
        cov = (base.scale_tril @ base.scale_tril.mT)[..., keep, :][..., keep]
        if isinstance(base, dist.MultivariateStudentT):
            marginal = dist.MultivariateStudentT(base.df, base.loc[..., keep], torch.linalg.cholesky(cov))
        else:
            marginal = dist.MultivariateNormal(base.loc[..., keep], cov)
    return marginal.log_prob(latent[..., keep])


@pytest.mark.parametrize("family", FAMILIES)
def test_the_likelihood_is_the_transformed_density_and_its_marginals(family):
    generator = torch.Generator().manual_seed(0)
    transform = label_transform(torch.tensor(CENTRE, dtype=torch.float64), torch.tensor(SPREAD, dtype=torch.float64))
    base = _random_family(family, 6, generator)
    full = JointLabelDistribution(base, transform)
    y = full.sample()
    # every dim observed: TransformedDistribution's density, Jacobian included
    reference = pyro.distributions.TransformedDistribution(base, transform).log_prob(y)
    assert torch.allclose(full.log_prob(y), reference, atol=1e-10)
    # missing dims: the closed-form marginal of the observed ones; what sits in a missing dim does not matter
    keep = [0, 1, 3]
    observed = torch.zeros(6, 5, dtype=torch.bool)
    observed[:, keep] = True
    masked = JointLabelDistribution(base, transform, observed)
    latent = transform.inv(y)
    jacobian = transform.log_abs_det_jacobian(latent, y)[:, keep].sum(-1)
    assert torch.allclose(masked.log_prob(y), _explicit_marginal(base, latent, keep) - jacobian, atol=1e-10)
    moved = y.clone()
    moved[:, 2], moved[:, 4] = 1e4, 1e4  # outside the age bound too: ignored
    assert torch.allclose(masked.log_prob(moved), masked.log_prob(y))
    nothing = JointLabelDistribution(base, transform, torch.zeros(6, 5, dtype=torch.bool))
    assert torch.equal(nothing.log_prob(y), torch.zeros(6, dtype=torch.float64))


def test_each_star_is_one_plate_element(problem, fits):
    fit = fits["right"]
    n = 37
    prepared = prepare_targets(problem.labels[:n], problem.label_cov[:n], seed=0)
    from bayesxp.model.joint_head import _observed_args

    args = _observed_args(fit.head, prepared.values, prepared.observed, prepared.error_cov, fit.standardisation)
    with pyro.settings.context(module_local_params=True):
        trace = pyro.poutine.trace(pyro.poutine.condition(fit.head, data={
            "weight": torch.zeros(F, fit.head.n_out, dtype=torch.float64),
            "bias": torch.zeros(fit.head.n_out, dtype=torch.float64)})).get_trace(
            torch.as_tensor(problem.z[:n]), *args)
    site = trace.nodes["y"]
    assert site["is_observed"] and site["fn"].batch_shape == (n,)
    assert [(frame.name, frame.size) for frame in site["cond_indep_stack"]] == [("stars", n)]
    trace.compute_log_prob()
    assert site["log_prob"].shape == (n,)
    assert (~prepared.observed[:, 4]).sum() > 0  # stars without an age are in the plate, once


# ---------------------------------------------------------------------------------------------- variance parts
@pytest.fixture(scope="module")
def family_fits(fits: dict[str, JointHeadFit]) -> dict[str, tuple[JointHeadFit, np.ndarray]]:
    """One fit per family on data of its kind (Student-t: latent df 6; mixture: two populations)."""
    rng = np.random.default_rng(5)
    z = rng.standard_normal((400, F))
    heavy = _truth_and_labels(z, rng, df=6.0)[0]
    two = _truth_and_labels(z, rng)[0]
    clump = rng.random(400) < 0.4
    two[clump] += np.array([300.0, -0.6, 0.0, 0.2, -0.8])  # a second population (clump-like)
    config = JointHeadConfig(**{**FAST.__dict__, "svi_steps": 200})
    z_test = rng.standard_normal((8, F))
    return {"gaussian": (fits["right"], z_test),
            "student_t": (fit_joint_head(z, heavy, config=JointHeadConfig(**{**config.__dict__, "likelihood": "student_t"})), z_test),
            "mixture": (fit_joint_head(z, two, config=JointHeadConfig(**{**config.__dict__, "likelihood": "mixture"})), z_test)}


def _scale_only_and_first_component(fit: JointHeadFit, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wrong aleatoric variances of Teff, logg, [M/H]: the Student-t's scale^2 alone, the mixture's first
    component alone."""
    with pyro.settings.context(module_local_params=True):
        ((_, likelihood),) = _traces(fit, z, 500, 1024)
    base = likelihood.base_dist
    scale = fit.standardisation[1, :3] ** 2
    if fit.likelihood == "mixture":
        first = base.component_distribution.variance[..., 0, :3]
    else:
        first = base.variance[..., :3]
    scale_only = (base.scale_tril.pow(2).sum(-1)[..., :3] if fit.likelihood == "student_t" else first)
    return (scale_only.mean(0).numpy() * scale), (first.mean(0).numpy() * scale)


def _total_variance_holds(draw_variance: np.ndarray, predicted: np.ndarray) -> bool:
    """The variance of the draws equals the predicted total: within 4% on average, 12% for every star."""
    ratio = draw_variance / predicted
    return bool(abs(ratio.mean() - 1) < 0.04 and (np.abs(ratio - 1) < 0.12).all())


@pytest.mark.parametrize("family", FAMILIES)
def test_law_of_total_variance(family_fits, family):
    fit, z = family_fits[family]
    assert fit.likelihood == family
    draws = joint_predictive_samples(fit, z, num_samples=20000, seed=0)
    parts = joint_variance_parts(fit, z, num_samples=2000, nodes=64, seed=1)
    for quantity in QUANTITIES:
        draw_variance = draws[quantity].var(0)
        assert _total_variance_holds(draw_variance, parts.total()[quantity]), (
            quantity, (draw_variance / parts.total()[quantity]).round(3))
        assert (parts.epistemic[quantity] > 0).all() and (parts.aleatoric[quantity] > 0).all()
    if family == "gaussian":
        return
    # the wrong aleatoric variances (Student-t: scale^2 alone; mixture: its first component alone) are rejected
    scale_only, first = _scale_only_and_first_component(fit, z)
    wrong = scale_only if family == "student_t" else first
    rejected = [not _total_variance_holds(draws[q].var(0), wrong[:, j] + parts.epistemic[q])
                for j, q in enumerate(("teff", "logg", "m_h"))]
    assert all(rejected) if family == "student_t" else sum(rejected) >= 2, rejected


# ---------------------------------------------------------------------------------------------- selection
def test_auto_chooses_on_a_hash_share_and_prefers_heavy_tails_on_heavy_tailed_data():
    rng = np.random.default_rng(9)
    z = rng.standard_normal((500, F))
    heavy = _truth_and_labels(z, rng, df=3.0)[0]
    keys = rng.integers(10**15, 10**18, 500)
    config = JointHeadConfig(likelihood="auto", svi_steps=150, svi_learning_rate=0.05, selection_samples=100)
    fit = fit_joint_head(z, heavy, config=config, keys=keys)
    scores = fit.diagnostics["selection"]
    assert sorted(scores) == sorted(FAMILIES) and all(np.isfinite(list(scores.values())))
    assert fit.diagnostics["n_held_out"] == int((hash_bucket([f"joint:{k}" for k in keys], 1000) < 300).sum())
    assert fit.likelihood != "gaussian" and scores["student_t"] > scores["gaussian"], scores
    assert fit.likelihood == max(scores, key=scores.get)


def test_log_score_per_star_and_mean(fits):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((300, F))
    _, labels, label_cov = _truth_and_labels(z, rng)
    labels[:10] = np.nan  # stars without any label have no score
    mean = joint_log_score(fits["right"], z, labels, label_cov, num_samples=100)
    per_star = joint_log_score(fits["right"], z, labels, label_cov, num_samples=100, per_star=True)
    assert per_star.shape == (300,) and np.isnan(per_star[:10]).all() and np.isfinite(per_star[10:]).all()
    assert np.isclose(np.nanmean(per_star), mean)


# ---------------------------------------------------------------------------------------------- feature blocks
def _blocked_problem(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Five features, one per label's block; each label's location reads its own, and the ln mass-ln age
    correlation ``-0.75 - 0.2 tanh(2 z_3)`` (about -0.95..-0.55) reads the mass block alone.

    Returns ``(z (n, 5), labels (n, 5), latent correlation (n,))``."""
    z = rng.standard_normal((n, 5))
    rho = -0.75 - 0.2 * np.tanh(2.0 * z[:, 3])
    e = 0.5 * rng.standard_normal((n, 5))
    e[:, 4] = rho * e[:, 3] + np.sqrt(1 - rho**2) * e[:, 4]
    return z, _labels(0.5 * z + e), rho


@pytest.mark.parametrize(("features", "learns"), [("pairs", True), ("none", False)])
def test_pair_correlations_read_their_labels_blocks(features, learns):
    """Per-star ln mass-ln age correlation on 100 held-out stars against the truth's (4,000 draws each).
    ``pairs`` (the correlation reads the mass and age blocks) learns how it varies from star to star: mean
    |error| <= 0.09 (measured 0.069 at 300 and 600 SVI steps: the truth's tanh(2 z) form is not the model's);
    ``none`` (one latent correlation for every star), the wrong model for these data, cannot: mean |error|
    >= 0.12 (measured 0.148: the truth's own mean absolute spread about its mean is 0.146)."""
    rng = np.random.default_rng(11)
    z, labels, _ = _blocked_problem(1500, rng)
    config = JointHeadConfig(likelihood="gaussian", svi_steps=300, svi_learning_rate=0.05, feature_blocks=True,
                             correlation_features=features)
    fit = fit_joint_head(z, labels, config=config)
    z_test, _, rho = _blocked_problem(100, rng)
    truth = np.stack([_labels(0.5 * z_test + e) for e in _blocked_errors(z_test, rho, 4000, rng)])
    draws = _model_labels(joint_predictive_samples(fit, z_test, num_samples=1000, seed=5))
    error = np.abs(_correlations(draws)[:, 3, 4] - _correlations(truth)[:, 3, 4]).mean()
    assert (error <= 0.09) if learns else (error >= 0.12), error


def _blocked_errors(z: np.ndarray, rho: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, N, 5)`` latent errors of :func:`_blocked_problem`."""
    e = 0.5 * rng.standard_normal((n, len(z), 5))
    e[..., 4] = rho * e[..., 3] + np.sqrt(1 - rho**2) * e[..., 4]
    return e


def test_correlation_features_settings_are_checked():
    with pytest.raises(ValueError, match="feature_blocks"):
        JointHeadConfig(correlation_features="pairs")
    with pytest.raises(ValueError, match="correlation_components"):
        JointHeadConfig(feature_blocks=True, correlation_features="none", correlation_components=2)
    with pytest.raises(ValueError, match="one of"):
        JointHeadConfig(correlation_features="some")
    too_many = JointHeadConfig(likelihood="gaussian", feature_blocks=True, correlation_components=3)
    with pytest.raises(ValueError, match="block width"):
        fit_joint_head(np.zeros((20, 10)), np.zeros((20, 5)), config=too_many)
