"""PredictiveDistribution distributions of one scalar quantity for N stars, whatever produced them.

Every metric of :mod:`bayesxp.calibration` is ``f(pred, truth)`` with ``pred`` a :class:`PredictiveDistribution`: an
object that answers CDF, quantile, interval, density, moment and sampling queries for each of N stars.
The implementations cover what bayesxp and its baselines emit:

- :class:`SamplePrediction`: posterior samples ``[S, N]``, sample dimension first (the bayesxp contract).
- :class:`GaussianPrediction`: a mean and a standard deviation per star.
- :class:`QuantilePrediction`: quantile levels ``[Q]`` and values ``[N, Q]`` (the XGBoost baseline, or the
  ``<q>_q025 ... <q>_q975`` columns written by ``bayesxp predict``).
- :class:`FromLogPrediction`: a prediction made for ``log_b(y)`` read as a prediction of ``y``
  (log-normal when the log-space prediction is Gaussian).
- :class:`ScaledPrediction`: any prediction stretched about a per-star centre (conformal rescaling).

Array conventions: a query value ``y`` or probability ``u`` broadcasts against ``(N,)`` and the answer
has the broadcast shape ``[..., N]``; the star axis is always last. ``quantile(q)`` with ``q`` of shape
``[Q]`` returns ``[Q, N]``.

A *noisy label* (DistMass masses are themselves predictions, ~12% in mass) is not drawn from the
prediction of the true value but from that prediction convolved with the label's own error:
:meth:`PredictiveDistribution.convolve` returns that distribution, and every coverage or score against noisy labels
should use it.
"""

from __future__ import annotations

import abc
import re
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

__all__ = [
    "PredictiveDistribution",
    "SamplePrediction",
    "GaussianPrediction",
    "QuantilePrediction",
    "FromLogPrediction",
    "ScaledPrediction",
    "as_predictive",
    "as_truth",
    "to_linear",
    "CONVOLVED_LEVELS",
]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_HDI_GRID = 201  # lower-tail probabilities tried by the generic HDI search, then refined
_HDI_REFINE = 41
# Gauss-Hermite nodes (probabilists') for expectations over a standard normal score
_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / _GH_W.sum()
# quantile levels at which a convolved (noisy-label) prediction is tabulated: every central-interval end
# of the default coverage levels (0.025 steps), the 1-sigma points and the far tails
CONVOLVED_LEVELS = np.unique(
    np.round(np.concatenate([np.arange(1, 40) * 0.025, [0.005, 0.01, 0.16, 0.84, 0.99, 0.995]]), 6)
)
_CONV_GRID = 33  # points per star at which a convolved CDF is evaluated
_CONV_PIECES = 48  # pieces a prediction is cut into for the convolution (plus its knots)
_CONV_Z = 4.75  # the pieces span normal scores [-4.75, 4.75]
_CONV_NOISE_NODES = 12  # Gauss-Hermite noise nodes of the rough convolution that places the points
_CONV_POLISH_STEPS = 12  # at most this many safeguarded Newton steps polish each convolved quantile
_CONV_POLISH_BLOCK = 20_000  # (star, level) pairs polished at a time
_CHUNK_ELEMENTS = 4_000_000  # cap on temporary array sizes (elements) in chunked loops


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _per_star(x: ArrayLike, n: int, name: str) -> np.ndarray:
    """``x`` as a float array of shape ``(n,)`` (scalars broadcast)."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.size not in (1, n)):
        raise ValueError(f"{name} has shape {arr.shape}, expected a scalar or ({n},)")
    return np.broadcast_to(arr.reshape(-1) if arr.ndim else arr, (n,)).astype(float)


def as_truth(truth: ArrayLike, n: int) -> np.ndarray:
    """Validate true values: a finite float array of shape ``(n,)``.

    Args:
        truth: True (or labelled) values.
        n: The number of stars of the prediction they are compared with.

    Returns:
        The values as float64.

    Example:
        >>> as_truth([1, 2], 2).dtype.name
        'float64'
    """
    arr = np.asarray(truth, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"truth has shape {arr.shape}, expected ({n},)")
    bad = ~np.isfinite(arr)
    if np.any(bad):
        raise ValueError(
            f"truth has {int(bad.sum())} non-finite values (first at star {np.flatnonzero(bad)[0]})"
        )
    return arr


def _check_probability(u: np.ndarray, name: str = "probability") -> None:
    if np.any((u < 0) | (u > 1)):
        raise ValueError(f"{name} must lie in [0, 1]")


def _check_level(level: np.ndarray) -> None:
    if np.any((level <= 0) | (level >= 1)) or np.any(~np.isfinite(level)):
        raise ValueError(f"interval levels must lie strictly between 0 and 1, got {level}")


class PredictiveDistribution(abc.ABC):
    """A predictive distribution of one scalar quantity for each of N stars.

    Subclasses implement :meth:`cdf`, :meth:`ppf`, :meth:`logpdf`, :meth:`take` and :attr:`n_stars`; the
    rest has generic numerical defaults (documented per method) that subclasses replace with exact
    forms where they have them.

    Example:
        >>> pred = GaussianPrediction(mean=[1.0, 2.0], std=[0.1, 0.2])
        >>> lo, hi = pred.interval(0.68)
        >>> np.round(hi - lo, 3).tolist()
        [0.199, 0.398]
    """

    @property
    @abc.abstractmethod
    def n_stars(self) -> int:
        """The number of stars N."""

    def __len__(self) -> int:
        return self.n_stars

    @abc.abstractmethod
    def cdf(self, y: ArrayLike) -> np.ndarray:
        """P(Y <= y) per star.

        Args:
            y: Values broadcastable to ``[..., N]``.

        Returns:
            Probabilities, shape ``[..., N]``.
        """

    @abc.abstractmethod
    def ppf(self, u: ArrayLike) -> np.ndarray:
        """Inverse CDF, elementwise per star.

        Args:
            u: Probabilities in [0, 1], broadcastable to ``[..., N]`` (one probability per star allowed).

        Returns:
            Values, shape ``[..., N]``.
        """

    @abc.abstractmethod
    def logpdf(self, y: ArrayLike) -> np.ndarray:
        """Log predictive density per star.

        Args:
            y: Values broadcastable to ``[..., N]``.

        Returns:
            Log densities, shape ``[..., N]``.
        """

    @abc.abstractmethod
    def take(self, index: ArrayLike) -> PredictiveDistribution:
        """The prediction for a subset of stars.

        Args:
            index: Integer indices or a boolean mask over the N stars.

        Returns:
            A prediction of the same kind for the selected stars.
        """

    # ----------------------------------------------------------------------------------- generic parts
    def _flat(self, x: ArrayLike) -> tuple[np.ndarray, tuple[int, ...]]:
        """Broadcast ``x`` against ``(N,)`` and flatten to ``[M, N]``; also return the broadcast shape."""
        arr = np.asarray(x, dtype=float)
        shape = np.broadcast_shapes(arr.shape, (self.n_stars,))
        return np.broadcast_to(arr, shape).reshape(-1, self.n_stars), shape

    def quantile(self, q: ArrayLike) -> np.ndarray:
        """Quantiles at common levels for every star.

        Args:
            q: Levels in [0, 1], a scalar or any array shape ``[...]``.

        Returns:
            Values, shape ``[..., N]`` (``[N]`` for a scalar level).
        """
        q = np.asarray(q, dtype=float)
        _check_probability(q, "quantile level")
        return self.ppf(q[..., None] if q.ndim else q)

    def median(self) -> np.ndarray:
        """The median per star, shape ``[N]``."""
        return self.ppf(0.5)

    def interval(self, level: ArrayLike, kind: str = "central") -> tuple[np.ndarray, np.ndarray]:
        """Credible intervals at one or several levels.

        Args:
            level: Probability content in (0, 1), a scalar or shape ``[L]``.
            kind: ``"central"`` (equal tails) or ``"hdi"`` (shortest interval; the generic search tries
                201 lower-tail probabilities, then refines around the best with 41 more).

        Returns:
            ``(lower, upper)``, each of shape ``[N]`` or ``[L, N]``.
        """
        level = np.asarray(level, dtype=float)
        _check_level(level)
        if kind == "central":
            return self.quantile((1.0 - level) / 2.0), self.quantile((1.0 + level) / 2.0)
        if kind == "hdi":
            bounds = [self._hdi(float(a)) for a in level.ravel()]
            lo = np.stack([b[0] for b in bounds]).reshape(level.shape + (self.n_stars,))
            hi = np.stack([b[1] for b in bounds]).reshape(level.shape + (self.n_stars,))
            return lo, hi
        raise ValueError(f"kind must be 'central' or 'hdi', got {kind!r}")

    def _hdi(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Shortest interval of probability ``level`` by a grid search over the lower tail probability."""
        tail = 1.0 - level
        a = tail * (np.arange(_HDI_GRID) + 0.5) / _HDI_GRID  # [K], the same grid for every star
        z_lo, z_hi = special.ndtri(a)[:, None], special.ndtri(a + level)[:, None]  # [K, 1]
        width = self._ppf_of_score(z_hi) - self._ppf_of_score(z_lo)  # [K, N]
        best = np.argmin(np.where(np.isfinite(width), width, np.inf), axis=0)  # [N]
        step = tail / _HDI_GRID
        a_lo = np.clip(a[best] - step, tail * 1e-6, None)
        a_hi = np.clip(a[best] + step, None, tail * (1 - 1e-6))
        t = np.linspace(0.0, 1.0, _HDI_REFINE)[:, None]
        a2 = a_lo + (a_hi - a_lo) * t  # [K2, N], refined per star
        lo, hi = self.ppf(a2), self.ppf(a2 + level)
        best = np.argmin(np.where(np.isfinite(hi - lo), hi - lo, np.inf), axis=0)
        cols = np.arange(self.n_stars)
        return lo[best, cols], hi[best, cols]

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        """``ppf(Phi(z))`` for normal scores ``z`` broadcastable to ``[..., N]``.

        Subclasses that are built in normal-score space override this to stay exact in the far tails,
        where ``Phi(z)`` rounds to 0 or 1.
        """
        return self.ppf(np.clip(special.ndtr(z), 1e-300, 1 - 1e-16))

    def _score_knots(self) -> np.ndarray:
        """Normal scores ``z`` where ``ppf(Phi(z))`` has kinks (none for smooth predictions), ``[K]``."""
        return np.empty(0)

    def _gauss_hermite_values(self) -> np.ndarray:
        """Quantiles at the Gauss-Hermite normal scores, shape ``[48, N]``."""
        return self._ppf_of_score(_GH_Z[:, None])

    def mean(self) -> np.ndarray:
        """PredictiveDistribution mean per star, shape ``[N]``.

        The generic form is 48-point Gauss-Hermite quadrature of ``ppf(Phi(z))`` over a standard normal
        ``z``: exact for Gaussians and their monotone affine images, an approximation otherwise.
        """
        return _GH_W @ self._gauss_hermite_values()

    def std(self) -> np.ndarray:
        """PredictiveDistribution standard deviation per star, shape ``[N]`` (generic: Gauss-Hermite, see mean)."""
        x = self._gauss_hermite_values()
        m = _GH_W @ x
        return np.sqrt(_GH_W @ (x - m) ** 2)

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Independent draws per star.

        Args:
            n_samples: Number of draws S.
            rng: A generator or seed.

        Returns:
            Draws, shape ``[S, N]``.
        """
        rng = _generator(rng)
        return self.ppf(rng.uniform(size=(n_samples, self.n_stars)))

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Probability integral transform of observed values, ``F(y)`` (randomised where F jumps).

        Args:
            y: Observed values, shape ``[N]``.
            rng: Generator or seed for the randomisation (unused for continuous predictions).

        Returns:
            PIT values in [0, 1], shape ``[N]``.
        """
        return self.cdf(y)

    def convolve(self, label_error: ArrayLike, rng: np.random.Generator | int | None = None) -> PredictiveDistribution:
        """The prediction of a noisy label: this prediction convolved with N(0, label_error**2).

        The generic form tabulates the convolved distribution's quantiles at :data:`CONVOLVED_LEVELS` by
        deterministic quadrature, to ~1e-4 in probability of the exact convolution whatever the
        prediction's shape (spikes from tied quantiles included) and the ratio of label error to its
        width, at about 1 ms of CPU per star, and returns a :class:`QuantilePrediction` (Gaussian tails
        beyond 0.5% and 99.5%).

        Args:
            label_error: Per-star 1-sigma label error, a scalar or shape ``[N]`` (absolute, in the units
                of the quantity; a 12% mass error is ``0.12 * mass``).
            rng: Generator or seed (used by sample-based predictions only).

        Returns:
            The noisy-label prediction.
        """
        return QuantilePrediction(CONVOLVED_LEVELS, _convolved_quantiles(self, label_error, CONVOLVED_LEVELS))

    def rescale(self, factor: ArrayLike, center: ArrayLike | None = None) -> PredictiveDistribution:
        """Stretch the distribution about a per-star centre: ``y -> center + factor * (y - center)``.

        Args:
            factor: Positive stretch, a scalar or shape ``[N]``.
            center: Per-star centre, default the median.

        Returns:
            The stretched prediction.
        """
        return ScaledPrediction(self, factor, self.median() if center is None else center)


def _piece_means(
    s: np.ndarray, density: np.ndarray, with_pdf: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Means of ``Phi(s)`` and ``phi(s)`` over each piece between consecutive nodes, under a linear weight.

    Args:
        s: Standardised distances ``(y - x_j) / sigma`` at the pieces' end nodes, ``[G, J + 1, B]``
            (decreasing along the node axis).
        density: The weight at each node, ``[J + 1]``; linear in between.
        with_pdf: Also return the means of ``phi``.

    Returns:
        ``(mean Phi, mean phi or None)``, each ``[G, J, B]``. On a piece ``t in [0, 1]``,
        ``s = s_0 - t (s_0 - s_1)``, the integrals of ``Phi``, ``t Phi``, ``phi`` and ``t phi`` come in
        closed form from the antiderivatives ``s Phi + phi``, ``((s^2 - 1) Phi + s phi) / 2``, ``Phi`` and
        ``-phi``; pieces narrower than 1e-3 use the values at their middle.
    """
    cdf = special.ndtr(s)
    pdf = np.exp(-0.5 * s**2) * (1.0 / np.sqrt(2.0 * np.pi))
    g = s * cdf + pdf
    h = 0.5 * ((s * s - 1.0) * cdf + s * pdf)
    s0 = s[:, :-1]
    width = s0 - s[:, 1:]
    narrow = width < 1e-3
    inv = 1.0 / np.where(narrow, 1.0, width)
    d0, d1 = density[:-1, None], density[1:, None]
    w0, w1 = d0 / (0.5 * (d0 + d1)), (d1 - d0) / (0.5 * (d0 + d1))  # weight d0 + (d1 - d0) t, normalised
    dg = g[:, :-1] - g[:, 1:]
    int0 = dg * inv  # int_0^1 Phi dt
    int1 = (s0 * dg - (h[:, :-1] - h[:, 1:])) * inv * inv  # int_0^1 t Phi dt
    mean_cdf = w0 * int0 + w1 * int1
    if np.any(narrow):
        mean_cdf[narrow] = special.ndtr(s0[narrow] - 0.5 * width[narrow])
    mean_cdf = np.clip(mean_cdf, 0.0, 1.0)
    if not with_pdf:
        return mean_cdf, None
    dcdf = cdf[:, :-1] - cdf[:, 1:]
    int0 = dcdf * inv  # int_0^1 phi dt
    int1 = (s0 * dcdf + (pdf[:, :-1] - pdf[:, 1:])) * inv * inv  # int_0^1 t phi dt
    mean_pdf = w0 * int0 + w1 * int1
    if np.any(narrow):
        middle = s0[narrow] - 0.5 * width[narrow]
        mean_pdf[narrow] = np.exp(-0.5 * middle**2) / np.sqrt(2.0 * np.pi)
    return mean_cdf, np.maximum(mean_pdf, 0.0)


def _convolved_cdf(
    y: np.ndarray,
    x: np.ndarray,
    err: np.ndarray,
    mass: np.ndarray,
    density: np.ndarray,
    tail: float,
    with_pdf: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """CDF (and density) ``[M, N]`` at ``y`` of the pieces ``x`` ``[J + 1, N]`` convolved with N(0, err^2)."""
    cdf = np.empty_like(y)
    pdf = np.empty_like(y) if with_pdf else None
    chunk = max(1, _CHUNK_ELEMENTS // (4 * y.shape[0] * x.shape[0]))
    for start in range(0, y.shape[1], chunk):
        sl = slice(start, start + chunk)
        s = (y[:, None, sl] - x[None, :, sl]) / err[sl]  # [M, J + 1, B] standardised distances
        mean_cdf, mean_pdf = _piece_means(s, density, with_pdf)  # [M, J, B]
        first, last = s[:, 0], s[:, -1]
        cdf[:, sl] = np.einsum("mjb,j->mb", mean_cdf, mass) + tail * (
            special.ndtr(first) + special.ndtr(last)
        )
        if with_pdf:
            ends = (np.exp(-0.5 * first**2) + np.exp(-0.5 * last**2)) / np.sqrt(2.0 * np.pi)
            pdf[:, sl] = (np.einsum("mjb,j->mb", mean_pdf, mass) + tail * ends) / err[sl]
    return cdf, pdf


def _convolved_quantiles(pred: PredictiveDistribution, label_error: ArrayLike, levels: np.ndarray) -> np.ndarray:
    """Quantiles ``[N, L]`` of ``pred`` plus N(0, label_error**2) noise.

    The prediction is cut into pieces between its quantiles at 49 normal scores evenly spaced over
    [-4.75, 4.75] plus its own knots (the quantile function taken linear in the normal score within a
    piece, as it is for a :class:`QuantilePrediction`, the density varying linearly across it; the mass
    beyond sits at the ends), and each piece is convolved with the noise in closed form. This convolved
    CDF is right whatever the prediction's shape (spikes from tied quantiles, long flat stretches) and
    whatever the noise's width, from far narrower to far wider than the prediction. It is evaluated at
    33 points placed at the normal scores [-4, 4] of a rough convolution (piece centres plus 12
    Gauss-Hermite noise nodes, as a weighted sample), so the points follow the convolved distribution,
    inverted by linear interpolation in normal-score space, and each quantile is then polished on the
    exact convolved CDF (safeguarded Newton steps, bisecting the bracketing points where a step would
    leave them) to 1e-7 in probability.
    """
    n = pred.n_stars
    err = _per_star(label_error, n, "label_error")
    if np.any(err < 0) or not np.all(np.isfinite(err)):
        raise ValueError("label_error must be finite and non-negative")
    knots = pred._score_knots()
    z_nodes = np.union1d(np.linspace(-_CONV_Z, _CONV_Z, _CONV_PIECES + 1), knots[np.abs(knots) < _CONV_Z])
    mass = np.diff(special.ndtr(z_nodes))  # [J] probability of each piece
    density = np.exp(-0.5 * z_nodes**2)  # [J + 1] relative density at the nodes (x linear in z between)
    tail = special.ndtr(-_CONV_Z)  # beyond each end
    x = pred._ppf_of_score(z_nodes[:, None])  # [J + 1, N] piece ends
    # evaluation points: quantiles of a rough convolution, piece centres plus Gauss-Hermite noise nodes
    noise, noise_weight = np.polynomial.hermite_e.hermegauss(_CONV_NOISE_NODES)
    weight = (mass[:, None] * (noise_weight / noise_weight.sum())[None, :]).ravel()  # [J * E]
    grid_u = special.ndtr(np.linspace(-4.0, 4.0, _CONV_GRID))
    centres = 0.5 * (x[:-1] + x[1:])  # [J, N]
    y = np.empty((_CONV_GRID, n))
    for start in range(0, n, 1024):
        sl = slice(start, start + 1024)
        rough = (centres[:, None, sl] + noise[None, :, None] * err[sl]).reshape(-1, centres[:, sl].shape[1])
        order = np.argsort(rough, axis=0)
        values = np.take_along_axis(rough, order, axis=0)
        cumulative = np.cumsum(weight[order], axis=0) - 0.5 * weight[order]
        cumulative /= cumulative[-1] + 0.5 * weight[order[-1]]
        for b in range(values.shape[1]):
            y[:, start + b] = np.interp(grid_u, cumulative[:, b], values[:, b])
    y = np.maximum.accumulate(y, axis=0)
    exact = err <= 0
    noisy = ~exact
    cdf = np.empty_like(y)
    if np.any(exact):
        cdf[:, exact] = pred.take(exact).cdf(y[:, exact])
    if np.any(noisy):
        cdf[:, noisy] = _convolved_cdf(y[:, noisy], x[:, noisy], err[noisy], mass, density, tail, False)[0]
    z = special.ndtri(np.clip(cdf, 1e-300, 1 - 1e-16))  # [G, N], increasing in y
    z_levels = special.ndtri(levels)
    out = np.empty((n, levels.size))
    below = np.empty((n, levels.size))
    above = np.empty((n, levels.size))
    for star in range(n):
        out[star] = np.interp(z_levels, z[:, star], y[:, star])
        k = np.clip(np.searchsorted(z[:, star], z_levels), 1, y.shape[0] - 1)
        below[star], above[star] = y[k - 1, star], y[k, star]
    # polish each (star, level) on the exact convolved CDF: Newton steps in normal-score space, bisection
    # of the bracketing points where a step would leave them, until |F* - level| < 1e-7
    if np.any(noisy):
        stars = np.repeat(np.flatnonzero(noisy), levels.size)  # [P] star of each (star, level) pair
        target = np.tile(levels, int(noisy.sum()))
        q = out[noisy].ravel()
        lo, hi = below[noisy].ravel(), above[noisy].ravel()
        for start in range(0, q.size, _CONV_POLISH_BLOCK):
            sl = slice(start, start + _CONV_POLISH_BLOCK)
            q[sl] = _polish_quantiles(
                q[sl],
                np.minimum(lo[sl], hi[sl]),
                np.maximum(lo[sl], hi[sl]),
                target[sl],
                x[:, stars[sl]],
                err[stars[sl]],
                mass,
                density,
                tail,
            )
        out[noisy] = q.reshape(-1, levels.size)
    return out


def _polish_quantiles(
    q: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    target: np.ndarray,
    x: np.ndarray,
    err: np.ndarray,
    mass: np.ndarray,
    density: np.ndarray,
    tail: float,
) -> np.ndarray:
    """Safeguarded Newton for ``F*(q) = target`` per entry ``[P]``, F* the pieces ``x`` ``[J + 1, P]`` convolved."""
    q, lo, hi = q.copy(), lo.copy(), hi.copy()
    z_target = special.ndtri(target)
    active = np.arange(q.size)
    for _ in range(_CONV_POLISH_STEPS):
        f, f_density = _convolved_cdf(q[None, active], x[:, active], err[active], mass, density, tail)
        f, f_density = f[0], f_density[0]
        done = np.abs(f - target[active]) < 1e-7
        low = f < target[active]
        lo[active] = np.where(low, q[active], lo[active])
        hi[active] = np.where(low, hi[active], q[active])
        zf = special.ndtri(np.clip(f, 1e-300, 1 - 1e-16))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = (
                q[active] - (zf - z_target[active]) * np.exp(-0.5 * zf**2) / np.sqrt(2 * np.pi) / f_density
            )
        inside = np.isfinite(newton) & (newton > lo[active]) & (newton < hi[active])
        q[active] = np.where(done, q[active], np.where(inside, newton, 0.5 * (lo[active] + hi[active])))
        active = active[~done]
        if active.size == 0:
            break
    return q


def _count_below(sorted_samples: np.ndarray, y: np.ndarray, strict: bool) -> np.ndarray:
    """Per star, how many samples are ``< y`` (strict) or ``<= y``.

    Args:
        sorted_samples: ``[S, N]``.
        y: Queries ``[M, N]``.
        strict: Count ``<`` instead of ``<=``.

    Returns:
        Counts ``[M, N]`` (int).
    """
    s, n = sorted_samples.shape
    m = y.shape[0]
    counts = np.empty((m, n), dtype=np.int64)
    compare = np.less if strict else np.less_equal
    chunk = max(1, _CHUNK_ELEMENTS // s)  # O(S M N) comparisons beat an argsort for the few queries used
    for row in range(m):
        for start in range(0, n, chunk):
            sl = slice(start, start + chunk)
            counts[row, sl] = np.count_nonzero(compare(sorted_samples[:, sl], y[row, sl]), axis=0)
    return counts


class SamplePrediction(PredictiveDistribution):
    """A prediction given by draws: posterior samples ``[S, N]``, sample dimension first.

    The CDF is the empirical one, quantiles interpolate linearly between order statistics (as
    ``np.quantile``'s default), the HDI spans ``k = floor(level * S)`` sample gaps from the start that
    minimises the interval width *averaged over a window* of ``hdi_smoothing`` times the number of
    candidate starts (see below), and the density is a Gaussian kernel density estimate per star identical to
    ``scipy.stats.gaussian_kde(samples[:, n], bw_method=bandwidth)``: kernel standard deviation
    ``h = factor * std(samples, ddof=1)`` with ``factor = S**(-1/5)`` (Scott, the default) or
    ``(3 S / 4)**(-1/5)`` (Silverman), or a given float factor.

    Why smooth the HDI: the plain shortest interval (ArviZ, ``hdi_smoothing=0``) is picked on the
    draws' own noise, so it is too short and under-covers, for Gaussian or log-normal posteriors at
    levels 0.2-0.5, by 3-4% in coverage at S = 200, 2-3% at S = 400 and ~1% at S = 2000. Averaging the
    width over a window of 25% of the candidate starts before taking the minimum leaves 1-2% at
    S = 200, ~1% at S = 400 and under 1% from S = 1000, with widths within ~1% of the true HDI's.
    Central intervals of draws lose only ``~2 level / S``.

    Args:
        samples: Draws, shape ``[S, N]`` with S >= 2; all finite.
        bandwidth: ``"scott"``, ``"silverman"`` or a positive factor, for :meth:`logpdf`.
        hdi_smoothing: Window of the HDI width average, as a fraction of the candidate starts, in
            [0, 1); 0 gives the plain shortest interval.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> pred = SamplePrediction(rng.normal(1.0, 0.1, size=(4000, 3)))
        >>> np.round(pred.mean(), 2).tolist(), np.round(pred.cdf(1.0), 1).tolist()
        ([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    """

    def __init__(
        self, samples: ArrayLike, bandwidth: str | float = "scott", hdi_smoothing: float = 0.25
    ) -> None:
        samples = np.asarray(samples, dtype=float)
        if samples.ndim != 2 or samples.shape[0] < 2:
            raise ValueError(f"samples must have shape [S, N] with S >= 2, got {samples.shape}")
        bad = ~np.all(np.isfinite(samples), axis=0)
        if np.any(bad):
            raise ValueError(
                f"{int(bad.sum())} stars have non-finite samples (first: {np.flatnonzero(bad)[0]})"
            )
        if not (bandwidth in ("scott", "silverman") or (np.isscalar(bandwidth) and float(bandwidth) > 0)):
            raise ValueError(f"bandwidth must be 'scott', 'silverman' or a positive float, got {bandwidth!r}")
        if not 0 <= hdi_smoothing < 1:
            raise ValueError(f"hdi_smoothing must lie in [0, 1), got {hdi_smoothing}")
        self.samples = samples  # [S, N]
        self.bandwidth = bandwidth
        self.hdi_smoothing = float(hdi_smoothing)
        self._sorted: np.ndarray | None = None

    @property
    def n_stars(self) -> int:
        return self.samples.shape[1]

    @property
    def n_samples(self) -> int:
        """The number of draws S per star."""
        return self.samples.shape[0]

    @property
    def sorted_samples(self) -> np.ndarray:
        """The draws sorted along the sample axis, ``[S, N]`` (computed once)."""
        if self._sorted is None:
            self._sorted = np.sort(self.samples, axis=0)
        return self._sorted

    def take(self, index: ArrayLike) -> SamplePrediction:
        return SamplePrediction(self.samples[:, index], self.bandwidth, self.hdi_smoothing)

    def cdf(self, y: ArrayLike) -> np.ndarray:
        y2, shape = self._flat(y)
        out = _count_below(self.sorted_samples, y2, strict=False) / self.n_samples
        return np.where(np.isnan(y2), np.nan, out).reshape(shape)

    def ppf(self, u: ArrayLike) -> np.ndarray:
        u2, shape = self._flat(u)
        s = self.n_samples
        pos = np.clip(u2, 0.0, 1.0) * (s - 1)  # [M, N]
        i = np.clip(np.floor(pos).astype(np.int64), 0, s - 2)
        cols = np.arange(self.n_stars)
        xs = self.sorted_samples
        lo, hi = xs[i, cols], xs[i + 1, cols]
        out = lo + (pos - i) * (hi - lo)
        return np.where((u2 < 0) | (u2 > 1) | np.isnan(u2), np.nan, out).reshape(shape)

    def bandwidths(self) -> np.ndarray:
        """Kernel standard deviation per star used by :meth:`logpdf`, shape ``[N]``."""
        s = self.n_samples
        if self.bandwidth == "scott":
            factor = s ** (-1.0 / 5.0)
        elif self.bandwidth == "silverman":
            factor = (s * 3.0 / 4.0) ** (-1.0 / 5.0)
        else:
            factor = float(self.bandwidth)
        sd = np.std(self.samples, axis=0, ddof=1)
        return np.maximum(factor * sd, 1e-12 * np.maximum(1.0, np.abs(np.mean(self.samples, axis=0))))

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        y2, shape = self._flat(y)  # [M, N]
        h = self.bandwidths()  # [N]
        s = self.n_samples
        out = np.empty_like(y2)
        chunk = max(1, _CHUNK_ELEMENTS // (s * y2.shape[0]))
        for start in range(0, self.n_stars, chunk):
            sl = slice(start, start + chunk)
            d = (y2[:, None, sl] - self.samples[None, :, sl]) / h[sl]  # [M, S, B]
            out[:, sl] = special.logsumexp(-0.5 * d**2, axis=1) - np.log(s * h[sl]) - _LOG_SQRT_2PI
        return out.reshape(shape)

    def mean(self) -> np.ndarray:
        return self.samples.mean(axis=0)

    def std(self) -> np.ndarray:
        """Sample standard deviation (ddof=1) per star, shape ``[N]``."""
        return self.samples.std(axis=0, ddof=1)

    def _hdi(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        xs = self.sorted_samples
        s = self.n_samples
        inc = max(1, int(np.floor(level * s)))
        width = xs[inc:] - xs[: s - inc]  # [J, N], J = S - inc candidate starts
        window = max(1, int(round(self.hdi_smoothing * width.shape[0])))
        if window > 1:  # moving average over `window` starts, then the window's middle start
            csum = np.concatenate([np.zeros((1, self.n_stars)), np.cumsum(width, axis=0)])
            j = np.argmin(csum[window:] - csum[:-window], axis=0) + (window - 1) // 2
        else:
            j = np.argmin(width, axis=0)
        cols = np.arange(self.n_stars)
        return xs[j, cols], xs[j + inc, cols]

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Resample the stored draws with replacement, independently per star, shape ``[S, N]``."""
        rng = _generator(rng)
        idx = rng.integers(0, self.n_samples, size=(n_samples, self.n_stars))
        return self.samples[idx, np.arange(self.n_stars)]

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Randomised rank PIT: ``(#{x_s < y} + V) / (S + 1)``, ``V ~ U(0, 1 + #{x_s == y})``.

        Exactly uniform on [0, 1] when the truth is exchangeable with the S draws, whatever S, and ties
        (discrete samples) are spread at random across their ranks.

        Args:
            y: Observed values, shape ``[N]``.
            rng: Generator or seed for the randomisation.

        Returns:
            PIT values, shape ``[N]``.
        """
        rng = _generator(rng)
        y2, shape = self._flat(y)
        n_less = _count_below(self.sorted_samples, y2, strict=True)
        n_equal = _count_below(self.sorted_samples, y2, strict=False) - n_less
        v = rng.uniform(size=n_less.shape) * (n_equal + 1)
        out = (n_less + v) / (self.n_samples + 1)
        return np.where(np.isnan(y2), np.nan, out).reshape(shape)

    def convolve(
        self, label_error: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> SamplePrediction:
        """Add independent N(0, label_error**2) noise to every draw (see :meth:`PredictiveDistribution.convolve`)."""
        err = _per_star(label_error, self.n_stars, "label_error")
        if np.any(err < 0) or not np.all(np.isfinite(err)):
            raise ValueError("label_error must be finite and non-negative")
        noise = _generator(rng).standard_normal(self.samples.shape) * err
        return SamplePrediction(self.samples + noise, self.bandwidth, self.hdi_smoothing)

    def rescale(self, factor: ArrayLike, center: ArrayLike | None = None) -> SamplePrediction:
        c = self.median() if center is None else _per_star(center, self.n_stars, "center")
        f = _per_star(factor, self.n_stars, "factor")
        return SamplePrediction(c + f * (self.samples - c), self.bandwidth, self.hdi_smoothing)


class GaussianPrediction(PredictiveDistribution):
    """A Gaussian prediction per star.

    Args:
        mean: Means, a scalar or shape ``[N]``.
        std: Positive standard deviations, broadcast against ``mean``.

    Example:
        >>> pred = GaussianPrediction([0.0, 1.0], 2.0)
        >>> pred.cdf([0.0, 1.0]).tolist(), pred.std().tolist()
        ([0.5, 0.5], [2.0, 2.0])
    """

    def __init__(self, mean: ArrayLike, std: ArrayLike) -> None:
        mean, std = np.broadcast_arrays(np.atleast_1d(np.asarray(mean, float)), np.asarray(std, float))
        if mean.ndim != 1:
            raise ValueError(f"mean and std must be scalars or 1-D, got shape {mean.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise ValueError("mean must be finite and std finite and positive")
        self.loc = mean.astype(float).copy()
        self.scale = std.astype(float).copy()

    @classmethod
    def from_table(cls, table: Any, quantity: str) -> GaussianPrediction:
        """Read ``<quantity>_mean`` and ``<quantity>_std`` columns (the ``bayesxp predict`` layout).

        Args:
            table: Anything indexable by column name (dict of arrays, pandas or astropy table).
            quantity: The quantity, e.g. ``"mass"``.

        Returns:
            The Gaussian prediction.
        """
        return cls(np.asarray(table[f"{quantity}_mean"]), np.asarray(table[f"{quantity}_std"]))

    @property
    def n_stars(self) -> int:
        return self.loc.size

    def take(self, index: ArrayLike) -> GaussianPrediction:
        return GaussianPrediction(self.loc[index], self.scale[index])

    def cdf(self, y: ArrayLike) -> np.ndarray:
        return special.ndtr((np.asarray(y, float) - self.loc) / self.scale)

    def ppf(self, u: ArrayLike) -> np.ndarray:
        return self.loc + self.scale * special.ndtri(np.asarray(u, float))

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        return self.loc + self.scale * z

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        z = (np.asarray(y, float) - self.loc) / self.scale
        return -0.5 * z**2 - np.log(self.scale) - _LOG_SQRT_2PI

    def mean(self) -> np.ndarray:
        return self.loc.copy()

    def std(self) -> np.ndarray:
        return self.scale.copy()

    def _hdi(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        return self.ppf((1 - level) / 2), self.ppf((1 + level) / 2)

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.loc + self.scale * _generator(rng).standard_normal((n_samples, self.n_stars))

    def convolve(
        self, label_error: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> GaussianPrediction:
        """Exact: variances add (see :meth:`PredictiveDistribution.convolve`)."""
        err = _per_star(label_error, self.n_stars, "label_error")
        if np.any(err < 0) or not np.all(np.isfinite(err)):
            raise ValueError("label_error must be finite and non-negative")
        return GaussianPrediction(self.loc, np.sqrt(self.scale**2 + err**2))

    def rescale(self, factor: ArrayLike, center: ArrayLike | None = None) -> GaussianPrediction:
        c = self.loc if center is None else _per_star(center, self.n_stars, "center")
        f = _per_star(factor, self.n_stars, "factor")
        return GaussianPrediction(c + f * (self.loc - c), f * self.scale)


class QuantilePrediction(PredictiveDistribution):
    """A prediction given by a few quantiles per star (quantile regression, e.g. the XGBoost baseline).

    Repair: quantiles that cross are sorted per star (:attr:`n_crossing` counts the stars that needed
    it), and ties are pulled apart by 1e-9 of the star's quantile spread so the CDF is strictly
    increasing.

    Interpolation: the quantile function is piecewise linear in the *normal score* ``z = Phi^-1(u)``
    between the given levels, and continues with the slope of the outermost segment beyond them. So
    the CDF is ``Phi`` of a piecewise-linear, increasing function of ``y``: monotone, with Gaussian
    tails whose scale comes from the two outermost quantiles on each side, and exact (CDF, density,
    moments) when the quantiles come from a Gaussian. Mean and standard deviation are computed in
    closed form for this piecewise construction.

    Args:
        levels: Quantile levels, shape ``[Q]``, Q >= 2, distinct, strictly inside (0, 1).
        values: Quantiles, shape ``[N, Q]`` (a single star may be given as ``[Q]``).

    Example:
        >>> pred = QuantilePrediction([0.16, 0.5, 0.84], [[0.9, 1.0, 1.1]])
        >>> np.round(pred.cdf(1.1), 2).tolist(), np.round(pred.quantile(0.975), 3).tolist()
        ([0.84], [1.197])
    """

    def __init__(self, levels: ArrayLike, values: ArrayLike) -> None:
        levels = np.asarray(levels, dtype=float).ravel()
        values = np.asarray(values, dtype=float)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2 or values.shape[1] != levels.size:
            raise ValueError(f"values must have shape [N, {levels.size}], got {values.shape}")
        if levels.size < 2 or np.unique(levels).size != levels.size:
            raise ValueError("need at least two distinct quantile levels")
        _check_level(levels)
        if not np.all(np.isfinite(values)):
            raise ValueError("quantile values must be finite")
        order = np.argsort(levels)
        levels, values = levels[order], values[:, order]
        self.n_crossing = int(np.sum(np.any(np.diff(values, axis=1) < 0, axis=1)))
        values = np.sort(values, axis=1)
        spread = values[:, -1] - values[:, 0]
        eps = 1e-9 * np.maximum(spread, 1e-6 * np.maximum(np.abs(values).max(axis=1), 1e-290))[:, None]
        k = np.arange(levels.size)
        values = np.maximum.accumulate(values - eps * k, axis=1) + eps * k  # strictly increasing
        self.levels = levels  # [Q]
        self.values = values  # [N, Q]
        self._z = special.ndtri(levels)  # [Q] normal scores of the levels
        self._slope = np.diff(values, axis=1) / np.diff(self._z)  # [N, Q-1] dy/dz per segment
        self._knot_values = np.ascontiguousarray(values[:, :-1])  # [N, Q-1] segment start values
        self._values_t = np.ascontiguousarray(values[:, :-1].T)  # [Q-1, N] for row gathers
        self._slope_t = np.ascontiguousarray(self._slope.T)

    @classmethod
    def from_table(cls, table: Any, quantity: str) -> QuantilePrediction:
        """Read the ``<quantity>_q<digits>`` columns (``mass_q025`` is level 0.025, ``mass_q16`` 0.16).

        Args:
            table: Anything with ``keys()`` and column indexing (dict of arrays, pandas or astropy table).
            quantity: The quantity, e.g. ``"mass"``.

        Returns:
            The quantile prediction.

        Example:
            >>> t = {"mass_q16": [0.9], "mass_q50": [1.0], "mass_q84": [1.1], "mass_mean": [1.0]}
            >>> QuantilePrediction.from_table(t, "mass").levels.tolist()
            [0.16, 0.5, 0.84]
        """
        pattern = re.compile(rf"^{re.escape(quantity)}_q(\d+)$")
        found = []
        for name in table.keys():
            match = pattern.match(str(name))
            if match:
                digits = match.group(1)
                found.append((int(digits) / 10 ** len(digits), name))
        if len(found) < 2:
            raise ValueError(f"need at least two '{quantity}_q<digits>' columns, found {len(found)}")
        found.sort()
        values = np.column_stack([np.asarray(table[name], dtype=float) for _, name in found])
        return cls([lvl for lvl, _ in found], values)

    @classmethod
    def from_samples(cls, samples: SamplePrediction | ArrayLike, n_levels: int = 41) -> QuantilePrediction:
        """Tabulate draws at ``n_levels`` quantiles, evenly spaced in normal score, with Gaussian tails.

        The levels run from ``2 / (S + 1)`` to ``1 - 2 / (S + 1)`` (the outermost order statistics are
        too noisy to set a tail), so beyond the draws' range the distribution continues with Gaussian
        tails instead of stopping at the extreme draws: what a recalibration that reaches for far tail
        levels needs.

        Args:
            samples: A :class:`SamplePrediction` or draws ``[S, N]``.
            n_levels: Number of tabulated levels (>= 2).

        Returns:
            The quantile prediction.

        Example:
            >>> draws = np.random.default_rng(0).normal(size=(1000, 2))
            >>> pred = QuantilePrediction.from_samples(draws)
            >>> pred.levels.size, bool(np.all(pred.quantile(0.9999) > draws.max(axis=0)))
            (41, True)
        """
        pred = samples if isinstance(samples, SamplePrediction) else SamplePrediction(samples)
        z_max = special.ndtri(1.0 - 2.0 / (pred.n_samples + 1))
        levels = special.ndtr(np.linspace(-z_max, z_max, n_levels))
        return cls(levels, pred.quantile(levels).T)

    @property
    def n_stars(self) -> int:
        return self.values.shape[0]

    def take(self, index: ArrayLike) -> QuantilePrediction:
        return QuantilePrediction(self.levels, self.values[index])

    def ppf(self, u: ArrayLike) -> np.ndarray:
        u2, shape = self._flat(u)
        return self._ppf_of_score(special.ndtri(u2)).reshape(shape)

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=float)  # broadcastable to [..., N]; segments found before broadcasting
        k = np.clip(np.searchsorted(self._z, z, side="right") - 1, 0, self.levels.size - 2)
        if z.ndim == 0 or z.shape[-1] == 1:  # one score per row, shared by all stars: gather rows
            rows = k[..., 0] if z.ndim else k
            out = self._values_t[rows] + self._slope_t[rows] * (z - self._z[k])
        else:
            flat = np.arange(self.n_stars) * (self.levels.size - 1) + k  # index into [N, Q-1] arrays
            out = np.take(self._knot_values, flat) + np.take(self._slope, flat) * (z - self._z[k])
        return np.broadcast_to(out, np.broadcast_shapes(z.shape, (self.n_stars,)))

    def _score_knots(self) -> np.ndarray:
        return self._z

    def _score(self, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """Normal score ``z(y)`` ``[M, N]``, the segment slope there, and the broadcast shape."""
        y2, shape = self._flat(y)
        count = np.zeros(
            y2.shape, dtype=np.int64
        )  # knots <= y, [M, N]; a loop over Q saves an [M, N, Q] temporary
        for knot in self.values.T:
            count += knot <= y2
        k = np.clip(count - 1, 0, self.levels.size - 2)
        flat = np.arange(self.n_stars) * (self.levels.size - 1) + k  # index into [N, Q-1] arrays
        slope = np.take(self._slope, flat)
        with np.errstate(over="ignore", divide="ignore"):  # a (near) point mass: z = +-inf is right
            z = self._z[k] + (y2 - np.take(self._knot_values, flat)) / slope
        # keep rounding from pushing z past the ends of an inner segment (CDF stays monotone)
        q = self.levels.size
        lower = np.where(k > 0, self._z[k], -np.inf)
        upper = np.where(k < q - 2, self._z[np.minimum(k + 1, q - 1)], np.inf)
        return np.clip(z, lower, upper), slope, shape

    def cdf(self, y: ArrayLike) -> np.ndarray:
        z, _, shape = self._score(y)
        return special.ndtr(z).reshape(shape)

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        z, slope, shape = self._score(y)
        return (-0.5 * z**2 - _LOG_SQRT_2PI - np.log(slope)).reshape(shape)

    def _segment_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Closed-form E[y - c] and E[(y - c)^2], c the middle quantile, each ``[N]``."""
        q = self.levels.size
        center = self.values[:, q // 2]
        a = np.concatenate([[-np.inf], self._z[1:-1]])  # segment lower ends in z, [Q-1]
        b = np.concatenate([self._z[1:-1], [np.inf]])
        beta = self._slope  # [N, Q-1]
        alpha = self.values[:, :-1] - center[:, None] - beta * self._z[:-1]  # y - c = alpha + beta z
        d_cdf = special.ndtr(b) - special.ndtr(a)
        phi_a, phi_b = np.exp(-0.5 * a**2) / np.sqrt(2 * np.pi), np.exp(-0.5 * b**2) / np.sqrt(2 * np.pi)
        a_phi_a = np.where(np.isfinite(a), np.nan_to_num(a) * phi_a, 0.0)
        b_phi_b = np.where(np.isfinite(b), np.nan_to_num(b) * phi_b, 0.0)
        m1 = np.sum(alpha * d_cdf + beta * (phi_a - phi_b), axis=1)
        m2 = np.sum(
            alpha**2 * d_cdf + 2 * alpha * beta * (phi_a - phi_b) + beta**2 * (d_cdf + a_phi_a - b_phi_b),
            axis=1,
        )
        return center + m1, m2 - m1**2

    def mean(self) -> np.ndarray:
        return self._segment_moments()[0]

    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self._segment_moments()[1], 0.0))

    def convolve(
        self, label_error: ArrayLike, rng: np.random.Generator | int | None = None
    ) -> QuantilePrediction:
        """Noisy-label prediction at the union of these levels and :data:`CONVOLVED_LEVELS`.

        Computed by the deterministic quadrature described in :meth:`PredictiveDistribution.convolve`.
        """
        levels = np.union1d(self.levels, CONVOLVED_LEVELS)
        return QuantilePrediction(levels, _convolved_quantiles(self, label_error, levels))

    def rescale(self, factor: ArrayLike, center: ArrayLike | None = None) -> QuantilePrediction:
        c = self.median() if center is None else _per_star(center, self.n_stars, "center")
        f = _per_star(factor, self.n_stars, "factor")
        return QuantilePrediction(self.levels, c[:, None] + f[:, None] * (self.values - c[:, None]))


class FromLogPrediction(PredictiveDistribution):
    """A prediction of ``y`` from a prediction of ``log_b(y)`` (e.g. log10 mass to mass in Msun).

    Quantiles and intervals map through ``b**x``; the density picks up the Jacobian ``1 / (y ln b)``. A
    Gaussian in log space gives a log-normal, with closed-form mean and standard deviation; other
    log-space predictions use Gauss-Hermite quadrature (sample-based ones the transformed draws).

    Args:
        log_prediction: The prediction of ``log_b(y)``.
        base: The logarithm's base b (10 for dex, ``np.e`` for natural logs).

    Example:
        >>> pred = FromLogPrediction(GaussianPrediction([0.0], [0.05]), base=10)
        >>> np.round(pred.median(), 3).tolist(), np.round(pred.cdf(1.0), 2).tolist()
        ([1.0], [0.5])
    """

    def __init__(self, log_prediction: PredictiveDistribution, base: float = 10.0) -> None:
        if base <= 0 or base == 1:
            raise ValueError(f"log base must be positive and not 1, got {base}")
        self.log_prediction = log_prediction
        self.base = float(base)
        self._ln_base = np.log(self.base)

    @property
    def n_stars(self) -> int:
        return self.log_prediction.n_stars

    def take(self, index: ArrayLike) -> FromLogPrediction:
        return FromLogPrediction(self.log_prediction.take(index), self.base)

    def _to_log(self, y: ArrayLike) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(y > 0, np.log(np.where(y > 0, y, 1.0)) / self._ln_base, -np.inf)

    def cdf(self, y: ArrayLike) -> np.ndarray:
        return self.log_prediction.cdf(self._to_log(y))

    def ppf(self, u: ArrayLike) -> np.ndarray:
        return self.base ** self.log_prediction.ppf(u)

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        return self.base ** self.log_prediction._ppf_of_score(z)

    def _score_knots(self) -> np.ndarray:
        return self.log_prediction._score_knots()

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        x = self._to_log(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.log_prediction.logpdf(np.where(np.isfinite(x), x, 0.0)) - np.log(
                np.where(y > 0, y, 1.0)
            )
        return np.where(y > 0, out - np.log(self._ln_base), -np.inf)

    def _moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        base = self.log_prediction
        if isinstance(base, GaussianPrediction):
            mu, s = base.loc * self._ln_base, base.scale * self._ln_base  # natural-log parameters
            return np.exp(mu + 0.5 * s**2), np.sqrt(np.expm1(s**2)) * np.exp(mu + 0.5 * s**2)
        if isinstance(base, SamplePrediction):
            lin = self.base**base.samples
            return lin.mean(axis=0), lin.std(axis=0, ddof=1)
        return None

    def mean(self) -> np.ndarray:
        moments = self._moments()
        return super().mean() if moments is None else moments[0]

    def std(self) -> np.ndarray:
        moments = self._moments()
        return super().std() if moments is None else moments[1]

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.base ** self.log_prediction.sample(n_samples, rng)

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.log_prediction.pit(self._to_log(y), rng)

    def convolve(self, label_error: ArrayLike, rng: np.random.Generator | int | None = None) -> PredictiveDistribution:
        """Linear-space label noise: exact for sample-based log predictions, else the generic grid."""
        if isinstance(self.log_prediction, SamplePrediction):
            return to_linear(self.log_prediction, self.base).convolve(label_error, rng)
        return super().convolve(label_error, rng)


class ScaledPrediction(PredictiveDistribution):
    """Any prediction stretched about a per-star centre: ``y = center + factor * (x - center)``.

    Quantiles, HDIs and moments map exactly (a positive affine map preserves them); used by conformal
    rescaling.

    Args:
        base: The prediction of ``x``.
        factor: Positive stretch, a scalar or shape ``[N]``.
        center: Centre per star, a scalar or shape ``[N]``.

    Example:
        >>> pred = ScaledPrediction(GaussianPrediction([1.0], [0.1]), factor=2.0, center=1.0)
        >>> np.round(pred.std(), 6).tolist()
        [0.2]
    """

    def __init__(self, base: PredictiveDistribution, factor: ArrayLike, center: ArrayLike) -> None:
        self.base = base
        self.factor = _per_star(factor, base.n_stars, "factor")
        self.center = _per_star(center, base.n_stars, "center")
        if np.any(self.factor <= 0) or not np.all(np.isfinite(self.factor)):
            raise ValueError("factor must be finite and positive")

    @property
    def n_stars(self) -> int:
        return self.base.n_stars

    def take(self, index: ArrayLike) -> ScaledPrediction:
        return ScaledPrediction(self.base.take(index), self.factor[index], self.center[index])

    def _inverse(self, y: ArrayLike) -> np.ndarray:
        return self.center + (np.asarray(y, float) - self.center) / self.factor

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.center + self.factor * (x - self.center)

    def cdf(self, y: ArrayLike) -> np.ndarray:
        return self.base.cdf(self._inverse(y))

    def ppf(self, u: ArrayLike) -> np.ndarray:
        return self._forward(self.base.ppf(u))

    def _ppf_of_score(self, z: np.ndarray) -> np.ndarray:
        return self._forward(self.base._ppf_of_score(z))

    def _score_knots(self) -> np.ndarray:
        return self.base._score_knots()

    def logpdf(self, y: ArrayLike) -> np.ndarray:
        return self.base.logpdf(self._inverse(y)) - np.log(self.factor)

    def mean(self) -> np.ndarray:
        return self._forward(self.base.mean())

    def std(self) -> np.ndarray:
        return self.factor * self.base.std()

    def _hdi(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.base.interval(level, kind="hdi")
        return self._forward(lo), self._forward(hi)

    def sample(self, n_samples: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self._forward(self.base.sample(n_samples, rng))

    def pit(self, y: ArrayLike, rng: np.random.Generator | int | None = None) -> np.ndarray:
        return self.base.pit(self._inverse(y), rng)


def as_predictive(pred: PredictiveDistribution | ArrayLike) -> PredictiveDistribution:
    """Accept a :class:`PredictiveDistribution` or raw posterior samples ``[S, N]``.

    Args:
        pred: A prediction, or an array of draws with the sample dimension first.

    Returns:
        The prediction (samples wrapped in :class:`SamplePrediction`).

    Example:
        >>> type(as_predictive(np.zeros((10, 3)) + np.arange(10.0)[:, None])).__name__
        'SamplePrediction'
    """
    if isinstance(pred, PredictiveDistribution):
        return pred
    arr = np.asarray(pred, dtype=float)
    if arr.ndim != 2:
        raise TypeError(
            f"expected a PredictiveDistribution or samples of shape [S, N], got an array of shape {arr.shape}"
        )
    return SamplePrediction(arr)


def to_linear(log_prediction: PredictiveDistribution | ArrayLike, base: float = 10.0) -> PredictiveDistribution:
    """Map a prediction of ``log_b(y)`` to a prediction of ``y``.

    Draws are transformed directly (exact, stays a :class:`SamplePrediction`); anything else is wrapped
    in :class:`FromLogPrediction`.

    Args:
        log_prediction: A prediction of the logarithm, or its draws ``[S, N]``.
        base: The logarithm's base.

    Returns:
        The prediction in linear units.

    Example:
        >>> to_linear(np.full((5, 2), 0.0)).mean().tolist()
        [1.0, 1.0]
    """
    pred = as_predictive(log_prediction)
    if isinstance(pred, SamplePrediction):
        return SamplePrediction(float(base) ** pred.samples, pred.bandwidth, pred.hdi_smoothing)
    return FromLogPrediction(pred, base)
