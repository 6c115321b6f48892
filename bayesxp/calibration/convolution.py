"""The noisy-label convolution: a prediction of the true value convolved with the label's own Gaussian error.

A label that is itself a prediction (DistMass masses, ~12% in mass) is drawn from the prediction of the true
value convolved with N(0, label_error**2). :func:`convolved_quantiles` tabulates that convolution's quantiles
by deterministic quadrature, whatever the prediction's shape; :meth:`PredictiveDistribution.convolve
<bayesxp.calibration.distribution.PredictiveDistribution.convolve>` returns them as a quantile prediction at
:data:`CONVOLVED_LEVELS`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from bayesxp.calibration.distribution import _CHUNK_ELEMENTS, PredictiveDistribution, _per_star

__all__ = ["CONVOLVED_LEVELS", "convolved_quantiles"]

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


def convolved_quantiles(pred: PredictiveDistribution, label_error: ArrayLike, levels: np.ndarray) -> np.ndarray:
    """Quantiles ``[N, L]`` of ``pred`` plus N(0, label_error**2) noise.

    The prediction is cut into pieces between its quantiles at 49 normal scores evenly spaced over
    [-4.75, 4.75] plus its own knots (the quantile function taken linear in the normal score within a
    piece, as it is for a :class:`~bayesxp.calibration.parametric.QuantilePrediction`, the density varying linearly across it; the mass
    beyond sits at the ends), and each piece is convolved with the noise in closed form. This convolved
    CDF is right whatever the prediction's shape (spikes from tied quantiles, long flat stretches) and
    whatever the noise's width, from far narrower to far wider than the prediction. It is evaluated at
    33 points placed at the normal scores [-4, 4] of a rough convolution (piece centres plus 12
    Gauss-Hermite noise nodes, as a weighted sample), so the points follow the convolved distribution,
    inverted by linear interpolation in normal-score space, and each quantile is then polished on the
    exact convolved CDF (safeguarded Newton steps, bisecting the bracketing points where a step would
    leave them) to 1e-7 in probability.

    Args:
        pred: The prediction of the true value, N stars.
        label_error: Per-star 1-sigma label error, a scalar or shape ``[N]`` (absolute, finite, >= 0).
        levels: Quantile levels ``[L]``, strictly inside (0, 1).

    Returns:
        The quantiles of the noisy label, ``[N, L]``.

    Example:
        >>> from bayesxp.calibration.parametric import GaussianPrediction
        >>> one_sigma = np.array([0.5, 0.8413447460685429])
        >>> np.round(convolved_quantiles(GaussianPrediction([0.0], [0.3]), 0.4, one_sigma), 4).tolist()
        [[0.0, 0.5]]
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
