"""Predictions given by a few numbers per star: :class:`GaussianPrediction` and :class:`QuantilePrediction`.

- :class:`GaussianPrediction`: a mean and a standard deviation per star.
- :class:`QuantilePrediction`: quantile levels ``[Q]`` and values ``[N, Q]`` (quantile regression, e.g. the
  XGBoost baseline, or the ``<q>_q025 ... <q>_q975`` columns written by ``bayesxp predict``), with Gaussian
  tails beyond the outermost levels.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from bayesxp.calibration.convolution import CONVOLVED_LEVELS, convolved_quantiles
from bayesxp.calibration.distribution import (
    _LOG_SQRT_2PI,
    PredictiveDistribution,
    _check_level,
    _generator,
    _per_star,
)
from bayesxp.calibration.samples import SamplePrediction

__all__ = ["GaussianPrediction", "QuantilePrediction"]


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
        return QuantilePrediction(levels, convolved_quantiles(self, label_error, levels))

    def rescale(self, factor: ArrayLike, center: ArrayLike | None = None) -> QuantilePrediction:
        c = self.median() if center is None else _per_star(center, self.n_stars, "center")
        f = _per_star(factor, self.n_stars, "factor")
        return QuantilePrediction(self.levels, c[:, None] + f[:, None] * (self.values - c[:, None]))
