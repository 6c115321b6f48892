"""The interface of every prediction: :class:`PredictiveDistribution`, with :func:`as_predictive` and :func:`as_truth`.

Every metric of :mod:`bayesxp.calibration` is ``f(pred, truth)`` with ``pred`` a :class:`PredictiveDistribution`: an
object that answers CDF, quantile, interval, density, moment and sampling queries for one scalar quantity for
each of N stars, whatever produced it. The implementations live next door, one concept per module:

- :mod:`~bayesxp.calibration.samples`: :class:`~bayesxp.calibration.samples.SamplePrediction`, posterior samples
  ``[S, N]``, sample dimension first (the bayesxp contract).
- :mod:`~bayesxp.calibration.parametric`: :class:`~bayesxp.calibration.parametric.GaussianPrediction` (a mean and
  a standard deviation per star) and :class:`~bayesxp.calibration.parametric.QuantilePrediction` (quantile levels
  ``[Q]`` and values ``[N, Q]``: the XGBoost baseline, or the ``<q>_q025 ... <q>_q975`` columns of
  ``bayesxp predict``).
- :mod:`~bayesxp.calibration.transforms`: a prediction of ``log_b(y)`` read as one of ``y``
  (:class:`~bayesxp.calibration.transforms.FromLogPrediction`, :func:`~bayesxp.calibration.transforms.to_linear`)
  and any prediction stretched about a per-star centre (:class:`~bayesxp.calibration.transforms.ScaledPrediction`).
- :mod:`~bayesxp.calibration.convolution`: the noisy-label convolution behind :meth:`PredictiveDistribution.convolve`.

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

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

__all__ = ["PredictiveDistribution", "as_predictive", "as_truth"]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_HDI_GRID = 201  # lower-tail probabilities tried by the generic HDI search, then refined
_HDI_REFINE = 41
# Gauss-Hermite nodes (probabilists') for expectations over a standard normal score
_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / _GH_W.sum()
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
        >>> from bayesxp.calibration.parametric import GaussianPrediction
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
        """Predictive mean per star, shape ``[N]``.

        The generic form is 48-point Gauss-Hermite quadrature of ``ppf(Phi(z))`` over a standard normal
        ``z``: exact for Gaussians and their monotone affine images, an approximation otherwise.
        """
        return _GH_W @ self._gauss_hermite_values()

    def std(self) -> np.ndarray:
        """Predictive standard deviation per star, shape ``[N]`` (generic: Gauss-Hermite, see mean)."""
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
        deterministic quadrature (:mod:`~bayesxp.calibration.convolution`), to ~1e-4 in probability of the exact convolution whatever the
        prediction's shape (spikes from tied quantiles included) and the ratio of label error to its
        width, at about 1 ms of CPU per star, and returns a :class:`~bayesxp.calibration.parametric.QuantilePrediction` (Gaussian tails
        beyond 0.5% and 99.5%).

        Args:
            label_error: Per-star 1-sigma label error, a scalar or shape ``[N]`` (absolute, in the units
                of the quantity; a 12% mass error is ``0.12 * mass``).
            rng: Generator or seed (used by sample-based predictions only).

        Returns:
            The noisy-label prediction.
        """
        from bayesxp.calibration.convolution import (  # (imports this module)
            CONVOLVED_LEVELS,
            convolved_quantiles,
        )
        from bayesxp.calibration.parametric import QuantilePrediction

        return QuantilePrediction(CONVOLVED_LEVELS, convolved_quantiles(self, label_error, CONVOLVED_LEVELS))

    def rescale(self, factor: ArrayLike, center: ArrayLike | None = None) -> PredictiveDistribution:
        """Stretch the distribution about a per-star centre: ``y -> center + factor * (y - center)``.

        Args:
            factor: Positive stretch, a scalar or shape ``[N]``.
            center: Per-star centre, default the median.

        Returns:
            The stretched prediction.
        """
        from bayesxp.calibration.transforms import ScaledPrediction  # (imports this module)

        return ScaledPrediction(self, factor, self.median() if center is None else center)


def as_predictive(pred: PredictiveDistribution | ArrayLike) -> PredictiveDistribution:
    """Accept a :class:`PredictiveDistribution` or raw posterior samples ``[S, N]``.

    Args:
        pred: A prediction, or an array of draws with the sample dimension first.

    Returns:
        The prediction (samples wrapped in :class:`~bayesxp.calibration.samples.SamplePrediction`).

    Example:
        >>> type(as_predictive(np.zeros((10, 3)) + np.arange(10.0)[:, None])).__name__
        'SamplePrediction'
    """
    from bayesxp.calibration.samples import SamplePrediction  # (imports this module)

    if isinstance(pred, PredictiveDistribution):
        return pred
    arr = np.asarray(pred, dtype=float)
    if arr.ndim != 2:
        raise TypeError(
            f"expected a PredictiveDistribution or samples of shape [S, N], got an array of shape {arr.shape}"
        )
    return SamplePrediction(arr)
