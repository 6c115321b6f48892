"""The :class:`Posterior`: predictive samples per star, and everything users read off them.

One sample contract: ``samples[quantity]`` is ``[S, N]``, sample dimension first, in physical units
(mass [Msun], age [Gyr], teff [K], logg [dex], m_h [dex]). A star that got no prediction has NaN samples
and a ``status`` that says why.

It is also the one type of "predictions for N stars" that the evaluation package judges: a model whose
predictions are not draws (the XGBoost baseline's quantiles or Gaussians) fills ``distributions``
instead of ``samples``; :meth:`Posterior.predictive` gives either as a
:class:`~bayesxp.calibration.PredictiveDistribution`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.table import Table

from bayesxp.quantities import CONTRACT_QUANTILES, QUANTITIES, UNITS, unit_name

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from bayesxp.calibration import PredictiveDistribution

__all__ = ["Posterior"]


@dataclass
class Posterior:
    """Predictive samples (or distributions) for N stars.

    Attributes:
        samples: ``{quantity: [S, N]}`` in physical units.
        source_id: ``(N,)`` star ids.
        status: ``(N,)`` "ok" or why the star has no prediction.
        aleatoric_std: ``{quantity: (N,)}`` the data-noise part of the spread (where the heads give it).
        epistemic_std: ``{quantity: (N,)}`` the model-uncertainty part.
        flags: Per-star notes that do not block a prediction (e.g. outside the seismic training domain).
        distributions: ``{quantity: PredictiveDistribution over N stars}`` for predictions that are not
            draws (the XGBoost baseline's quantiles or Gaussians); empty for a sampled posterior.
        info: JSON-ready facts about how the predictions were made (model, timing, status counts).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> post = Posterior({"mass": rng.lognormal(0.2, 0.1, (500, 2))}, np.array([1, 2]))
        >>> post.mean("mass").shape, post.interval(0.68, quantity="mass")[0].shape
        ((2,), (2,))
        >>> from bayesxp.calibration import GaussianPrediction
        >>> gauss = Posterior({}, np.array([1, 2]), distributions={"mass": GaussianPrediction([1.0, 1.2], 0.1)})
        >>> gauss.quantities, gauss.predictive("mass").median().tolist()
        (('mass',), [1.0, 1.2])
    """

    samples: dict[str, np.ndarray]
    source_id: np.ndarray
    status: np.ndarray | None = None
    aleatoric_std: dict[str, np.ndarray] = field(default_factory=dict)
    epistemic_std: dict[str, np.ndarray] = field(default_factory=dict)
    flags: np.ndarray | None = None
    distributions: dict[str, PredictiveDistribution] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.source_id)
        for name, values in self.samples.items():
            if values.ndim != 2 or values.shape[1] != n:
                raise ValueError(f"samples[{name!r}] has shape {values.shape}, expected [S, {n}]")
        for name, distribution in self.distributions.items():
            if name in self.samples:
                raise ValueError(f"{name!r} has both samples and a distribution")
            if distribution.n_stars != n:
                raise ValueError(f"distributions[{name!r}] covers {distribution.n_stars} stars, expected {n}")
        if self.status is None:
            self.status = np.full(n, "ok", dtype=object)
        if self.flags is None:
            self.flags = np.full(n, "", dtype=object)

    def __len__(self) -> int:
        return len(self.source_id)

    @property
    def quantities(self) -> tuple[str, ...]:
        """The quantities with samples, then those with a distribution."""
        return tuple(self.samples) + tuple(self.distributions)

    @property
    def num_samples(self) -> int:
        """S."""
        return next(iter(self.samples.values())).shape[0]

    def _values(self, quantity: str) -> np.ndarray:
        if quantity not in self.samples:
            hint = " (a distribution: use predictive())" if quantity in self.distributions else ""
            raise KeyError(f"no samples for {quantity!r}{hint}; have {list(self.samples)}")
        return self.samples[quantity]

    def _each(self, quantity: str | None, func: callable) -> np.ndarray | dict[str, np.ndarray]:
        if quantity is not None:
            return func(self._values(quantity))
        return {q: func(v) for q, v in self.samples.items()}

    def mean(self, quantity: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Posterior mean ``(N,)`` of one quantity, or a dict of all."""
        return self._each(quantity, lambda v: v.mean(axis=0))

    def std(self, quantity: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Posterior standard deviation ``(N,)`` of one quantity, or a dict of all."""
        return self._each(quantity, lambda v: v.std(axis=0, ddof=1))

    def quantile(self, q: float | np.ndarray, quantity: str | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Quantiles: ``(N,)`` for a scalar q, ``(Q, N)`` for an array."""
        return self._each(quantity, lambda v: np.quantile(v, q, axis=0))

    def interval(self, level: float, kind: str = "central", quantity: str | None = None
                 ) -> tuple[np.ndarray, np.ndarray] | dict[str, tuple[np.ndarray, np.ndarray]]:
        """Credible intervals.

        Args:
            level: Probability content, e.g. 0.68.
            kind: ``"central"`` (equal tails) or ``"hdi"`` (highest density, from the calibration library's
                smoothed sample HDI).
            quantity: One quantity, or None for all.

        Returns:
            ``(lower (N,), upper (N,))``, or a dict of those.
        """
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        if kind not in ("central", "hdi"):
            raise ValueError(f"kind must be 'central' or 'hdi', not {kind!r}")

        def one(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            if kind == "central":
                lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
                return lo, hi
            ok = np.isfinite(values).all(axis=0)
            lo = np.full(values.shape[1], np.nan)
            hi = np.full(values.shape[1], np.nan)
            if ok.any():
                from bayesxp.calibration import SamplePrediction

                lo[ok], hi[ok] = SamplePrediction(values[:, ok]).interval(level, kind="hdi")
            return lo, hi

        return self._each(quantity, one)

    def mass_age_corr(self) -> np.ndarray:
        """``(N,)`` correlation of ln mass and ln age across the samples."""
        if "mass" not in self.samples or "age" not in self.samples:
            return np.full(len(self), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = np.log(self.samples["mass"])
            b = np.log(self.samples["age"])
            a = a - a.mean(axis=0)
            b = b - b.mean(axis=0)
            return (a * b).sum(axis=0) / np.sqrt((a**2).sum(axis=0) * (b**2).sum(axis=0))

    def predictive(self, quantity: str, rows: np.ndarray | range | None = None) -> PredictiveDistribution:
        """One quantity's prediction for some stars: its distribution, or a ``SamplePrediction`` of its draws.

        Args:
            quantity: A key of :attr:`samples` or :attr:`distributions`.
            rows: Star indices (default: the stars whose status is "ok").

        Returns:
            A :class:`bayesxp.calibration.PredictiveDistribution` over ``len(rows)`` stars.

        Example:
            >>> post = Posterior({"age": np.full((4, 3), 2.0)}, np.arange(3), status=np.array(["ok", "ok", "x"]))
            >>> post.predictive("age").n_stars, post.predictive("age", rows=[2]).n_stars
            (2, 1)
        """
        from bayesxp.calibration import SamplePrediction

        rows = np.flatnonzero(self.status == "ok") if rows is None else rows
        if quantity in self.distributions:
            return self.distributions[quantity].take(np.asarray(rows, dtype=np.int64))
        return SamplePrediction(self._values(quantity)[:, rows])

    def usable(self) -> np.ndarray:
        """``(N,)`` stars with a prediction that can be judged.

        Status "ok", finite draws of every quantity (positive mass and age draws), and a finite median of
        every distribution.

        Example:
            >>> post = Posterior({"mass": np.array([[1.0, np.nan, -1.0], [1.1, 1.0, 1.0]])}, np.arange(3))
            >>> post.usable().tolist()
            [True, False, False]
        """
        usable = np.asarray(self.status == "ok", bool)
        for values in self.samples.values():
            usable &= np.all(np.isfinite(values), axis=0)
        for quantity in ("mass", "age"):
            if quantity in self.samples:
                usable &= np.all(self.samples[quantity] > 0, axis=0)
        for distribution in self.distributions.values():
            usable &= np.isfinite(distribution.median())
        return usable

    def joint_ln_mass_age(self, rows: np.ndarray | None = None) -> np.ndarray | None:
        """Joint draws ``[S, len(rows), 2]`` of (ln mass, ln age), or None without mass and age draws.

        Args:
            rows: Star indices (default: all).

        Example:
            >>> post = Posterior({"mass": np.ones((5, 2)), "age": np.e * np.ones((5, 2))}, np.arange(2))
            >>> post.joint_ln_mass_age([1]).shape, post.joint_ln_mass_age()[0, 0].tolist()
            ((5, 1, 2), [0.0, 1.0])
        """
        if "mass" not in self.samples or "age" not in self.samples:
            return None
        rows = slice(None) if rows is None else rows
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack(
                [np.log(self.samples["mass"][:, rows]), np.log(self.samples["age"][:, rows])], axis=-1
            )  # [S, n, 2]

    @classmethod
    def concatenate(cls, parts: list[Posterior]) -> Posterior:
        """The posterior of the stars of several parts, in order (same quantities and S in every part).

        Only draws concatenate; the result keeps the first part's :attr:`info`.

        Example:
            >>> a = Posterior({"mass": np.ones((4, 2))}, np.array([1, 2]))
            >>> b = Posterior({"mass": np.ones((4, 3))}, np.array([3, 4, 5]))
            >>> Posterior.concatenate([a, b]).samples["mass"].shape
            (4, 5)
        """
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        if any(p.distributions for p in parts):
            raise ValueError("only posteriors of draws concatenate, not ones with distributions")
        return cls(
            samples={q: np.concatenate([p.samples[q] for p in parts], axis=1) for q in first.samples},
            source_id=np.concatenate([p.source_id for p in parts]),
            status=np.concatenate([p.status for p in parts]),
            aleatoric_std={q: np.concatenate([p.aleatoric_std[q] for p in parts]) for q in first.aleatoric_std},
            epistemic_std={q: np.concatenate([p.epistemic_std[q] for p in parts]) for q in first.epistemic_std},
            flags=np.concatenate([p.flags for p in parts]),
            info=dict(first.info),
        )

    def take(self, index: np.ndarray | slice) -> Posterior:
        """The posterior of a subset of stars."""
        rows = np.arange(len(self))[index]
        return Posterior(
            samples={q: v[:, index] for q, v in self.samples.items()},
            source_id=self.source_id[index],
            status=self.status[index],
            aleatoric_std={q: v[index] for q, v in self.aleatoric_std.items()},
            epistemic_std={q: v[index] for q, v in self.epistemic_std.items()},
            flags=self.flags[index],
            distributions={q: d.take(rows) for q, d in self.distributions.items()},
            info=dict(self.info),
        )

    def to_table(self) -> Table:
        """One row per star in the ``bayesxp predict`` output contract, with units.

        Columns: ``source_id``; for each quantity ``<q>_mean, <q>_std, <q>_q025, <q>_q16, <q>_q50,
        <q>_q84, <q>_q975``; ``mass_age_corr``; ``status``; ``flags``.
        """
        table = Table()
        table["source_id"] = np.asarray(self.source_id, dtype=np.int64)
        for q in QUANTITIES:
            if q not in self.samples:
                continue
            values = self.samples[q]
            with np.errstate(invalid="ignore"):
                table[f"{q}_mean"] = values.mean(axis=0)
                table[f"{q}_std"] = values.std(axis=0, ddof=1)
                quantiles = np.quantile(values, list(CONTRACT_QUANTILES.values()), axis=0)
            for k, name in enumerate(CONTRACT_QUANTILES):
                table[f"{q}_{name}"] = quantiles[k]
            for column in table.colnames[-7:]:
                table[column].unit = UNITS[q]
        table["mass_age_corr"] = self.mass_age_corr()
        table["status"] = np.asarray(self.status, dtype=str)
        table["flags"] = np.asarray(self.flags, dtype=str)
        table.meta["samples_per_star"] = self.num_samples
        return table

    def to_arviz(  # noqa: ANN201 - arviz.InferenceData
        self, posterior_predictive: dict[str, np.ndarray] | None = None,
        observed_data: dict[str, np.ndarray] | None = None,
    ):
        """An ArviZ ``InferenceData``: group ``posterior`` with dims ``chain`` (1), ``draw`` (S), ``star`` (N).

        Args:
            posterior_predictive: Optional ``{name: (S, N, ...)}`` replicated data per posterior draw, e.g. the
                generated ``flux`` ``(S, N, 343)`` of :func:`bayesxp.model.ppc.posterior_predictive_data`.
            observed_data: Optional ``{name: (N, ...)}`` the observed data under the same names, e.g. ``flux``.
                A trailing dim of 343 is ``wavelength`` (nm); ArviZ's ``plot_ppc`` and ``plot_bpv`` read these.

        Example:
            >>> post = Posterior({"mass": np.ones((10, 3))}, np.arange(3))
            >>> post.to_arviz().posterior["mass"].shape
            (1, 10, 3)
            >>> data = post.to_arviz({"flux": np.ones((10, 3, 343))}, {"flux": np.ones((3, 343))})
            >>> data.posterior_predictive["flux"].shape, data.observed_data["flux"].dims
            ((1, 10, 3, 343), ('star', 'wavelength'))
        """
        import arviz

        from bayesxp.spectra import N_SAMPLES, WAVELENGTH_NM

        extra = {**(posterior_predictive or {}), **(observed_data or {})}
        dims = {q: ["star"] for q in self.samples}
        dims.update({name: ["star", "wavelength"] if np.shape(v)[-1] == N_SAMPLES else ["star"]
                     for name, v in extra.items()})
        return arviz.from_dict(
            posterior={q: v[None] for q, v in self.samples.items()},
            posterior_predictive={k: np.asarray(v)[None] for k, v in (posterior_predictive or {}).items()} or None,
            observed_data={k: np.asarray(v) for k, v in (observed_data or {}).items()} or None,
            coords={"star": np.asarray(self.source_id), "wavelength": WAVELENGTH_NM},
            dims=dims,
            attrs={"units": json_units(self.samples)},
        )

    def corner(self, i: int, quantities: tuple[str, ...] | None = None):  # noqa: ANN201 - a Figure
        """A corner plot of star ``i``'s samples (reads the samples only)."""
        import corner
        import matplotlib

        matplotlib.use("Agg", force=False)
        names = quantities or tuple(q for q in QUANTITIES if q in self.samples)
        data = np.stack([self.samples[q][:, i] for q in names], axis=1)
        if not np.isfinite(data).all():
            raise ValueError(f"star {self.source_id[i]} has no samples (status: {self.status[i]})")
        labels = [f"{q} [{unit_name(q) if q in UNITS else ''}]" for q in names]
        # gaiaxpy's plotter turns LaTeX on globally when imported; corner plots must not need a TeX install
        with matplotlib.rc_context({"text.usetex": False}):
            return corner.corner(data, labels=labels, quantiles=[0.16, 0.5, 0.84], show_titles=True)


def json_units(samples: dict[str, np.ndarray]) -> str:
    """Units of the quantities present, as a JSON string (ArviZ attrs must be plain)."""
    import json

    return json.dumps({q: unit_name(q) if q in UNITS else "" for q in samples})


def output_meta(model_path: str | os.PathLike | None, num_samples: int, input_name: str) -> dict:
    """The metadata of a joined contract file (``predict``, the Dask and LSDB paths): model, draws, input.

    Example:
        >>> output_meta(None, 200, "stars.fits")
        {'bayesxp_model': 'default', 'samples_per_star': 200, 'input': 'stars.fits'}
    """
    return {"bayesxp_model": str(model_path or "default"), "samples_per_star": num_samples, "input": input_name}


def status_counts(parts: Sequence[str | os.PathLike]) -> dict:
    """``stars``, ``ok`` and ``failed`` (reason -> count) of contract Parquet parts, reading only ``status``.

    Example:
        >>> import tempfile, pathlib
        >>> from bayesxp.io.tables import write_table
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> part = write_table(Table({"status": ["ok", "no usable flux", "ok"]}), folder / "p.parquet")
        >>> status_counts([part])
        {'stars': 3, 'ok': 2, 'failed': {'no usable flux': 1}}
    """
    from bayesxp.io.tables import parquet_column

    status = parquet_column(parts, "status").astype(str) if len(parts) else np.array([], dtype=str)
    failed = {str(reason): int((status == reason).sum()) for reason in np.unique(status[status != "ok"])}
    return {"stars": len(status), "ok": int((status == "ok").sum()), "failed": failed}
