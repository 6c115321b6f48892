"""A prediction given by draws: :class:`SamplePrediction`, posterior samples ``[S, N]``, sample dimension first.

This is the bayesxp sample contract: every posterior of the model is a set of draws per star.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from bayesxp.calibration.distribution import (
    _CHUNK_ELEMENTS,
    _LOG_SQRT_2PI,
    PredictiveDistribution,
    _generator,
    _per_star,
)

__all__ = ["SamplePrediction"]


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
