"""Joint calibration of several quantities at once, e.g. (log mass, log age) of a red giant.

Mass and age are tightly anti-correlated, so two marginally calibrated intervals can still make a joint
statement that is wrong. Three checks on joint posterior samples ``[S, N, D]`` (sample dimension first,
quantity last) against truths ``[N, D]``:

- **Highest-density-region coverage** (:func:`hdr_credibility`, :func:`joint_coverage`). For each star,
  the draws are split at random into a *reference* half, which defines the density, and an *evaluation*
  half; the truth's HDR credibility is the fraction of evaluation draws with a higher density than the
  truth's (ties randomised). The truth lies in the level-``a`` HDR iff that fraction is at most ``a``.
  Because the truth and the evaluation draws are exchangeable given the reference half when the model is
  calibrated, the credibility is exactly uniform then, whatever the density estimate; the estimate only
  sets the regions' shape, hence the power. Two estimates:

  - ``"gaussian"`` (default): a Gaussian fitted to the reference half, i.e. density ranks by
    Mahalanobis distance (elliptical regions; captures the mass-age correlation; cheap).
  - ``"kde"``: a Gaussian KDE of the reference half with Scott's bandwidth matrix
    ``S_ref**(-2 / (D + 4)) * cov`` (as ``scipy.stats.gaussian_kde``); follows banana shapes and
    multiple modes; costs ``O(S**2)`` per star.

- **TARP** (Lemos et al. 2023, "Sampling-based accuracy testing of posterior estimators"):
  :func:`tarp` draws a random reference point per star, takes the fraction of draws closer to it than
  the truth, and compares the expected-coverage-probability (ECP) curve with the diagonal.

- **Correlations** (:func:`correlation_check`). Users read each star's draws as a joint distribution, so
  its predictive correlation between two quantities must be the correlation its errors really have.
  Per pair, the mean over stars of the per-star predictive correlation is compared with the correlation,
  across stars, of the residuals standardised per star (derivation in :func:`correlation_check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from bayesxp.calibration.coverage import DEFAULT_LEVELS, CoverageResult
from bayesxp.calibration.distribution import _CHUNK_ELEMENTS, _generator
from bayesxp.calibration.pit import miscalibration_area

__all__ = [
    "stack_quantities",
    "hdr_credibility",
    "joint_coverage",
    "TARPResult",
    "tarp",
    "PairCorrelation",
    "CorrelationCheck",
    "correlation_check",
]


def _check_joint(samples: ArrayLike, truth: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(samples, dtype=float)
    y = np.asarray(truth, dtype=float)
    if x.ndim != 3 or x.shape[0] < 4:
        raise ValueError(f"joint samples must have shape [S, N, D] with S >= 4, got {x.shape}")
    if y.shape != x.shape[1:]:
        raise ValueError(f"truth has shape {y.shape}, expected {x.shape[1:]}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("joint samples and truths must be finite")
    return x, y


def stack_quantities(
    samples_by_quantity: Mapping[str, ArrayLike], names: Sequence[str], log10: bool = False
) -> np.ndarray:
    """Stack per-quantity draws ``{name: [S, N]}`` (one posterior, same draw index) into ``[S, N, D]``.

    Args:
        samples_by_quantity: Draws keyed by quantity, each ``[S, N]``.
        names: The quantities to stack, in order (e.g. ``["mass", "age"]``).
        log10: Take log10 first (joint checks on log mass and log age).

    Returns:
        Joint draws, shape ``[S, N, D]``.

    Example:
        >>> stack_quantities({"mass": np.ones((5, 2)), "age": np.full((5, 2), 10.0)}, ["mass", "age"], log10=True)[0, 0].tolist()
        [0.0, 1.0]
    """
    arrays = [np.asarray(samples_by_quantity[name], dtype=float) for name in names]
    out = np.stack(arrays, axis=-1)  # [S, N, D]
    return np.log10(out) if log10 else out


def _split(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    perm = rng.permutation(x.shape[0])
    half = x.shape[0] // 2
    return x[perm[:half]], x[perm[half:]]


def _whitening(reference: np.ndarray, factor: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[N, D]`` and inverse Cholesky factor ``[N, D, D]`` of ``factor**2`` times the covariance."""
    mean = reference.mean(axis=0)
    centred = reference - mean  # [R, N, D]
    cov = np.einsum("rni,rnj->nij", centred, centred) / (reference.shape[0] - 1) * factor**2
    d = cov.shape[-1]
    jitter = 1e-12 * np.maximum(np.trace(cov, axis1=1, axis2=2) / d, 1e-300)
    chol = np.linalg.cholesky(cov + jitter[:, None, None] * np.eye(d))
    return mean, np.linalg.inv(chol)


def _log_density_gaussian(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Log density (up to a per-star constant) of points ``[M, N, D]`` under a fitted Gaussian: ``[M, N]``."""
    mean, inv_chol = _whitening(reference)
    w = np.einsum("nij,mnj->mni", inv_chol, points - mean)
    return -0.5 * np.sum(w**2, axis=-1)


def _log_density_kde(reference: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Log density (up to a per-star constant) of points ``[M, N, D]`` under a Scott-bandwidth KDE."""
    r, n, d = reference.shape
    m = points.shape[0]
    factor = r ** (-1.0 / (d + 4))
    _, inv_chol = _whitening(reference, factor)
    wr = np.einsum("nij,rnj->nri", inv_chol, reference)  # [N, R, D] whitened kernel centres
    wp = np.einsum("nij,mnj->nmi", inv_chol, points)  # [N, M, D]
    out = np.empty((m, n))
    chunk = max(1, _CHUNK_ELEMENTS // (m * r))
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        sq = (
            np.sum(wp[sl] ** 2, axis=-1)[:, :, None]
            + np.sum(wr[sl] ** 2, axis=-1)[:, None, :]
            - 2.0 * np.einsum("cmd,crd->cmr", wp[sl], wr[sl])
        )  # [C, M, R] squared whitened distances
        out[:, sl] = special.logsumexp(-0.5 * np.maximum(sq, 0.0), axis=-1).T
    return out


def hdr_credibility(
    samples: ArrayLike,
    truth: ArrayLike,
    method: str = "gaussian",
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Credibility of the smallest highest-density region that contains the truth, per star.

    Uniform on [0, 1] for a calibrated joint posterior (see the module docstring for why); the truth
    lies in the level-``a`` HDR iff the value is at most ``a``.

    Args:
        samples: Joint draws, shape ``[S, N, D]``, S >= 4.
        truth: True values, shape ``[N, D]``.
        method: Density estimate defining the regions: ``"gaussian"`` or ``"kde"``.
        rng: Generator or seed (the reference/evaluation split and tie randomisation).

    Returns:
        HDR credibility per star, shape ``[N]``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> draws = rng.normal(size=(200, 3, 2))
        >>> hdr_credibility(draws, np.zeros((3, 2)), rng=rng).round(1).tolist()  # truth at the mode
        [0.0, 0.0, 0.0]
    """
    rng = _generator(rng)
    x, y = _check_joint(samples, truth)
    reference, evaluation = _split(x, rng)
    points = np.concatenate([y[None], evaluation], axis=0)  # [1 + E, N, D]
    if method == "gaussian":
        log_density = _log_density_gaussian(reference, points)
    elif method == "kde":
        log_density = _log_density_kde(reference, points)
    else:
        raise ValueError(f"method must be 'gaussian' or 'kde', got {method!r}")
    truth_ld, eval_ld = log_density[0], log_density[1:]
    n_higher = np.sum(eval_ld > truth_ld, axis=0)
    n_tied = np.sum(eval_ld == truth_ld, axis=0)
    v = rng.uniform(size=n_higher.shape) * (n_tied + 1)
    return (n_higher + v) / (evaluation.shape[0] + 1)


def joint_coverage(
    samples: ArrayLike,
    truth: ArrayLike,
    levels: ArrayLike = DEFAULT_LEVELS,
    method: str = "gaussian",
    confidence: float = 0.95,
    band_method: str = "jeffreys",
    rng: np.random.Generator | int | None = None,
) -> CoverageResult:
    """Empirical coverage of joint highest-density regions at several levels, with binomial bands.

    Args:
        samples: Joint draws, shape ``[S, N, D]``.
        truth: True values, shape ``[N, D]``.
        levels: Nominal levels, shape ``[L]``.
        method: ``"gaussian"`` or ``"kde"`` (see :func:`hdr_credibility`).
        confidence: Two-sided confidence of each level's band.
        band_method: ``"jeffreys"`` or ``"clopper-pearson"``.
        rng: Generator or seed.

    Returns:
        Coverage per level (``kind`` is ``"hdr-gaussian"`` or ``"hdr-kde"``).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> draws, truth = rng.normal(size=(100, 2000, 2)), rng.normal(size=(2000, 2))
        >>> joint_coverage(draws, truth, levels=[0.5, 0.9], rng=rng).all_consistent
        True
    """
    credibility = hdr_credibility(samples, truth, method=method, rng=rng)
    levels = np.atleast_1d(np.asarray(levels, dtype=float))
    inside = credibility[None, :] <= levels[:, None]  # [L, N]
    return CoverageResult.from_inside(inside, levels, f"hdr-{method}", confidence, band_method)


@dataclass(frozen=True)
class TARPResult:
    """Result of the TARP coverage test.

    Attributes:
        alpha: Credibility grid, shape ``[K]`` from 0 to 1.
        ecp: Expected coverage probability at each alpha, shape ``[K]``.
        f: Per-star fraction of draws closer to the reference than the truth (ties randomised, so
            uniform under calibration), shape ``[N]``.
        max_deviation: ``max |ECP(alpha) - alpha|`` over the grid.
        area: ``int_0^1 |ECP(alpha) - alpha| d alpha``, exact (the miscalibration area of ``f``).
        ks_statistic: Kolmogorov-Smirnov distance of ``f`` to U(0, 1).
        ks_pvalue: Its p-value: small values reject calibration.
    """

    alpha: np.ndarray
    ecp: np.ndarray
    f: np.ndarray
    max_deviation: float
    area: float
    ks_statistic: float
    ks_pvalue: float

    def as_dict(self) -> dict:
        """Plain numbers (JSON-serialisable); the curve as lists."""
        return {
            "alpha": self.alpha.tolist(),
            "ecp": self.ecp.tolist(),
            "max_deviation": self.max_deviation,
            "area": self.area,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
        }


def tarp(
    samples: ArrayLike,
    truth: ArrayLike,
    references: ArrayLike | None = None,
    n_alpha: int = 101,
    normalise: bool = True,
    rng: np.random.Generator | int | None = None,
) -> TARPResult:
    """TARP expected-coverage test of joint posteriors (Lemos et al. 2023).

    As the reference implementation (``tarp.get_tarp_coverage``): with ``normalise`` every quantity is
    rescaled by the truths' minimum and range, and the default reference point of each star is drawn
    uniformly in the unit box (the truths' bounding box). For star n, ``f_n`` is the fraction of draws
    nearer (Euclidean) to its reference than its truth; ``ECP(alpha)`` is the fraction of stars with
    ``f_n <= alpha``, the diagonal for a calibrated posterior.

    Args:
        samples: Joint draws, shape ``[S, N, D]``.
        truth: True values, shape ``[N, D]``.
        references: Reference points ``[N, D]`` in the original units; default random (see above).
        n_alpha: Points on the alpha grid.
        normalise: Rescale each quantity by the truths' range first.
        rng: Generator or seed (references, tie randomisation).

    Returns:
        The ECP curve and its distance from the diagonal.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> draws, truth = rng.normal(size=(100, 1000, 2)), rng.normal(size=(1000, 2))
        >>> tarp(draws, truth, rng=rng).ks_pvalue > 0.01
        True
    """
    rng = _generator(rng)
    x, y = _check_joint(samples, truth)
    n, d = y.shape
    lo, span = np.zeros(d), np.ones(d)
    if normalise:
        lo = y.min(axis=0)
        span = np.maximum(y.max(axis=0) - lo, 1e-12)
    x, y = (x - lo) / span, (y - lo) / span
    if references is None:
        ref = rng.uniform(size=(n, d))
    else:
        ref = (np.asarray(references, dtype=float) - lo) / span
        if ref.shape != (n, d):
            raise ValueError(f"references have shape {ref.shape}, expected {(n, d)}")
    sample_dist = np.linalg.norm(x - ref, axis=-1)  # [S, N]
    truth_dist = np.linalg.norm(y - ref, axis=-1)  # [N]
    n_closer = np.sum(sample_dist < truth_dist, axis=0)
    n_tied = np.sum(sample_dist == truth_dist, axis=0)
    f = (n_closer + rng.uniform(size=n) * (n_tied + 1)) / (x.shape[0] + 1)
    alpha = np.linspace(0.0, 1.0, n_alpha)
    ecp = np.mean(f[None, :] <= alpha[:, None], axis=1)
    ks = stats.kstest(f, "uniform")
    return TARPResult(
        alpha=alpha,
        ecp=ecp,
        f=f,
        max_deviation=float(np.max(np.abs(ecp - alpha))),
        area=miscalibration_area(f),
        ks_statistic=float(ks.statistic),
        ks_pvalue=float(ks.pvalue),
    )


_CORRELATION_METHODS = ("spearman", "pearson")


def _pearson(u: np.ndarray, v: np.ndarray, axis: int) -> np.ndarray:
    """Pearson correlation of ``u`` and ``v`` along ``axis`` (NaN where either is constant)."""
    u = u - u.mean(axis=axis, keepdims=True)
    v = v - v.mean(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sum(u * v, axis=axis) / np.sqrt(np.sum(u**2, axis=axis) * np.sum(v**2, axis=axis))
    return np.clip(r, -1.0, 1.0)


def _predictive_correlation(x: np.ndarray, method: str) -> np.ndarray:
    """Each star's correlation matrix from its draws ``[S, N, D]``: shape ``[N, D, D]`` (NaN if a draw set is constant)."""
    s, n, d = x.shape
    out = np.empty((n, d, d))
    chunk = max(1, _CHUNK_ELEMENTS // (s * d))
    for start in range(0, n, chunk):
        xs = x[:, start : start + chunk]  # [S, C, D]
        if method == "spearman":
            xs = stats.rankdata(xs, axis=0)
        centred = xs - xs.mean(axis=0)
        cov = np.einsum("sci,scj->cij", centred, centred)  # [C, D, D]
        sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))  # [C, D]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + chunk] = cov / (sd[:, :, None] * sd[:, None, :])
    return np.clip(out, -1.0, 1.0)


def _resampled_ranks(v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Ranks (ties averaged, as ``rankdata``) of ``v[idx]`` within each row of ``idx`` ``[B, n]``, in O(B n)."""
    _, group = np.unique(v, return_inverse=True)  # [n] index of each star's distinct value, in order
    n_groups = int(group.max()) + 1
    member = group[idx]  # [B, n]
    rows = np.arange(idx.shape[0])[:, None]
    counts = np.bincount((rows * n_groups + member).ravel(), minlength=idx.shape[0] * n_groups)
    counts = counts.reshape(idx.shape[0], n_groups)  # [B, G] copies of each value in each resample
    below = np.cumsum(counts, axis=1) - counts
    return np.take_along_axis(below + (counts + 1) / 2, member, axis=1)


def _residual_correlation(
    a: np.ndarray, b: np.ndarray, method: str, n_boot: int, confidence: float, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Correlation of residuals ``a``, ``b`` (each ``[n]``) and its percentile-bootstrap interval over stars."""
    n = a.size
    if n < 3:
        return np.nan, np.nan, np.nan
    if method == "spearman":
        value = float(_pearson(stats.rankdata(a), stats.rankdata(b), axis=-1))
    else:
        value = float(_pearson(a, b, axis=-1))
    if n_boot == 0:
        return value, np.nan, np.nan
    replicates = np.empty(n_boot)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_boot, chunk):
        idx = rng.integers(n, size=(min(chunk, n_boot - start), n))  # [B, n] stars resampled
        if method == "spearman":  # re-ranked within each resample
            u, v = _resampled_ranks(a, idx), _resampled_ranks(b, idx)
        else:
            u, v = a[idx], b[idx]
        replicates[start : start + idx.shape[0]] = _pearson(u, v, axis=-1)
    low, high = np.nanquantile(replicates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return value, float(low), float(high)


@dataclass(frozen=True)
class PairCorrelation:
    """Predictive against realised correlation of one pair of quantities.

    Attributes:
        first: Name of the first quantity.
        second: Name of the second quantity.
        n: Stars used: both truths finite and both predictive spreads non-zero.
        predictive_median: Median over those stars of the per-star predictive correlation.
        predictive_mean: Mean over those stars of the per-star predictive correlation (the compared summary).
        residual: Correlation, across those stars, of the residuals standardised per star.
        residual_low: Lower end of the percentile-bootstrap interval on ``residual`` (stars resampled).
        residual_high: Upper end of that interval.
        difference: ``predictive_mean - residual``.
        consistent: Whether ``|difference| <= tolerance``.
    """

    first: str
    second: str
    n: int
    predictive_median: float
    predictive_mean: float
    residual: float
    residual_low: float
    residual_high: float
    difference: float
    consistent: bool

    def as_dict(self) -> dict:
        """Plain strings and numbers (JSON-serialisable)."""
        return {
            "first": self.first,
            "second": self.second,
            "n": self.n,
            "predictive_median": self.predictive_median,
            "predictive_mean": self.predictive_mean,
            "residual": self.residual,
            "residual_low": self.residual_low,
            "residual_high": self.residual_high,
            "difference": self.difference,
            "consistent": self.consistent,
        }


@dataclass(frozen=True)
class CorrelationCheck:
    """Result of :func:`correlation_check`: one record per pair of quantities.

    Attributes:
        pairs: Records for every pair ``(i, j)``, ``i < j``, in order: ``D (D - 1) / 2`` of them.
        method: ``"spearman"`` or ``"pearson"``, used for both the predictive and the residual correlations.
        tolerance: Largest accepted ``|predictive_mean - residual|``.
        confidence: Two-sided confidence of the bootstrap intervals.
        n_boot: Bootstrap replicates.
    """

    pairs: tuple[PairCorrelation, ...]
    method: str
    tolerance: float
    confidence: float
    n_boot: int

    @property
    def all_consistent(self) -> bool:
        """Whether every pair agrees within the tolerance."""
        return all(p.consistent for p in self.pairs)

    @property
    def max_difference(self) -> float:
        """The largest ``|predictive_mean - residual|`` over pairs (NaN if none is defined)."""
        diffs = np.abs([p.difference for p in self.pairs])
        return float(np.max(diffs)) if np.any(np.isfinite(diffs)) else np.nan

    def pair(self, first: str, second: str) -> PairCorrelation:
        """The record of one pair, in either order."""
        for p in self.pairs:
            if {p.first, p.second} == {first, second} and first != second:
                return p
        raise KeyError(f"no pair ({first!r}, {second!r})")

    def as_dict(self) -> dict:
        """Plain lists and numbers (JSON-serialisable)."""
        return {
            "method": self.method,
            "tolerance": self.tolerance,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "pairs": [p.as_dict() for p in self.pairs],
            "all_consistent": self.all_consistent,
            "max_difference": self.max_difference,
        }


def _check_correlation_inputs(
    samples: ArrayLike, truth: ArrayLike, names: Sequence[str] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    x = np.asarray(samples, dtype=float)
    y = np.asarray(truth, dtype=float)
    if x.ndim != 3 or x.shape[0] < 4 or x.shape[2] < 2:
        raise ValueError(f"joint samples must have shape [S, N, D] with S >= 4 and D >= 2, got {x.shape}")
    if y.shape != x.shape[1:]:
        raise ValueError(f"truth has shape {y.shape}, expected {x.shape[1:]}")
    if not np.all(np.isfinite(x)):
        raise ValueError("joint samples must be finite")
    if np.any(np.isinf(y)):
        raise ValueError("truths must be finite, or NaN where missing")
    d = x.shape[2]
    names = tuple(str(i) for i in range(d)) if names is None else tuple(str(name) for name in names)
    if len(names) != d or len(set(names)) != d:
        raise ValueError(f"names must be {d} distinct names, got {names}")
    return x, y, names


def correlation_check(
    samples: ArrayLike,
    truth: ArrayLike,
    names: Sequence[str] | None = None,
    method: str = "spearman",
    tolerance: float = 0.15,
    confidence: float = 0.95,
    n_boot: int = 1000,
    rng: np.random.Generator | int | None = 0,
) -> CorrelationCheck:
    """Whether each star's predictive correlations between quantities match the correlations its errors have.

    For each pair of quantities ``(i, j)`` and each star ``k``, ``rho_k`` is the correlation of the star's
    draws. The residuals are standardised per star with the draws' mean and std,
    ``r_k = (truth_k - mean_k) / std_k``, and correlated across stars. Compared: the **mean** over stars
    of ``rho_k`` with that residual correlation, agreeing iff ``|mean - residual| <= tolerance``.

    Why the mean: if the truth of star k is a draw from its predictive, ``(r_ki, r_kj)`` has mean 0,
    variance 1 and covariance ``rho_k``; pooled over stars the residuals have mean 0, variance 1 and
    covariance ``mean_k rho_k``, so their correlation is the mean of the per-star correlations (not the
    median, which differs when ``rho_k`` is skewed across stars; it is reported only to describe the
    spread). The per-star standardisation matters: with one scale for all stars, the stars with the widest
    posteriors would weigh most.

    ``method`` sets the correlation used on both sides:

    - ``"spearman"`` (default): rank correlations, of each star's draws and of the residuals across
      stars. Where the standardised predictives share their marginals (Gaussians; Student-t with one df;
      any location-scale family of one shape), Spearman's ``12 E[F(r_i) F(r_j)] - 3`` is linear in the
      mixture over stars, so the same identity holds exactly; for shapes varying between stars, nearly.
      It is the default because residuals are heavy-tailed: the sample Pearson correlation of
      Student-t (df = 4) residuals converges slowly, and a few catastrophic truths decide its sign.
    - ``"pearson"``: the identity above, exact for any family, but not robust.

    The residual correlation's standard error is about ``(1 - rho**2) / sqrt(n)``: 0.02 for 2000
    stars, 0.1 for 100, so the default tolerance discriminates only for a few hundred stars or more;
    the bootstrap interval says how well each pair is measured.

    Args:
        samples: Joint draws, shape ``[S, N, D]``, S >= 4, D >= 2; finite.
        truth: True values, shape ``[N, D]``; NaN where missing (each pair uses the stars with both).
        names: Names of the D quantities (default ``"0"``, ``"1"``, ...).
        method: ``"spearman"`` or ``"pearson"``.
        tolerance: Largest accepted ``|predictive_mean - residual|``.
        confidence: Two-sided confidence of the percentile-bootstrap interval on the residual correlation.
        n_boot: Bootstrap replicates (stars resampled); 0 skips the interval (NaN ends).
        rng: Generator or seed for the bootstrap.

    Returns:
        One record per pair ``(i, j)``, ``i < j``; stars whose draws of either quantity are constant are
        left out of that pair, and a pair with fewer than 3 stars is NaN and inconsistent.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> cov = [[1.0, -0.7], [-0.7, 1.0]]
        >>> draws = rng.multivariate_normal([0.0, 0.0], cov, size=(200, 500))  # [S, N, D]
        >>> truth = rng.multivariate_normal([0.0, 0.0], cov, size=500)  # [N, D]
        >>> check = correlation_check(draws, truth, names=["log_mass", "log_age"], n_boot=200)
        >>> check.all_consistent, round(check.pair("log_mass", "log_age").predictive_mean, 1)
        (True, -0.7)
    """
    if method not in _CORRELATION_METHODS:
        raise ValueError(f"method must be one of {_CORRELATION_METHODS}, got {method!r}")
    if not tolerance > 0 or not 0 < confidence < 1 or n_boot < 0:
        raise ValueError("need tolerance > 0, 0 < confidence < 1 and n_boot >= 0")
    rng = _generator(rng)
    x, y, names = _check_correlation_inputs(samples, truth, names)
    d = x.shape[2]
    mean, std = x.mean(axis=0), x.std(axis=0, ddof=1)  # [N, D] each
    with np.errstate(invalid="ignore", divide="ignore"):
        residual = (y - mean) / std  # [N, D]; NaN where the truth is missing
    usable = np.isfinite(residual) & (std > 0)  # [N, D]
    predictive = _predictive_correlation(x, method)  # [N, D, D]
    records = []
    for i in range(d):
        for j in range(i + 1, d):
            keep = usable[:, i] & usable[:, j]
            rho = predictive[keep, i, j]
            n = int(keep.sum())
            value, low, high = _residual_correlation(
                residual[keep, i], residual[keep, j], method, n_boot, confidence, rng
            )
            rho_mean = float(np.mean(rho)) if n >= 3 else np.nan
            difference = rho_mean - value
            records.append(
                PairCorrelation(
                    first=names[i],
                    second=names[j],
                    n=n,
                    predictive_median=float(np.median(rho)) if n >= 3 else np.nan,
                    predictive_mean=rho_mean,
                    residual=value,
                    residual_low=low,
                    residual_high=high,
                    difference=difference,
                    consistent=bool(abs(difference) <= tolerance),
                )
            )
    return CorrelationCheck(
        pairs=tuple(records),
        method=method,
        tolerance=float(tolerance),
        confidence=float(confidence),
        n_boot=n_boot,
    )
