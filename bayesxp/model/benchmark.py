"""The bayesxp model as a benchmark :class:`Predictor` (see ``benchmarks/head_to_head.py``).

``make_predictor(options)`` returns an object with ``name``, ``fit(train, val)`` and
``predict(ts) -> {quantity: SamplePrediction}`` in Msun, Gyr, K, dex. The model is pre-trained: ``fit``
loads it (``options["model"]``, default the shipped model) and records the training time written in its
manifest (backbone and heads), so the benchmark's fit-time column reports what training actually cost.
"""

from __future__ import annotations

import time

from bayesxp.data.dataset import TrainingSet
from bayesxp.spectra import SampledSpectra

__all__ = ["BayesXPPredictor", "make_predictor"]


class BayesXPPredictor:
    """Benchmark adapter around :class:`bayesxp.model.bayesian.BayesXPModel`.

    Args:
        model_path: Model folder (None: the shipped model).
        num_samples: Posterior samples per star.
        context: ``"full"`` (spectrum and colours, the baseline's inputs) or ``"spectrum"``.
    """

    def __init__(self, model_path: str | None = None, num_samples: int = 200, context: str = "full") -> None:
        self.name = "bayesxp" if context == "full" else "bayesxp (spectrum only)"
        self.model_path = model_path
        self.num_samples = num_samples
        self.context = context
        self.model = None
        self.fit_seconds: float | None = None
        self.fit_note = "pre-trained model loaded; fit time = recorded training time (backbone + heads)"

    def fit(self, train: TrainingSet, val: TrainingSet) -> None:
        """Load the pre-trained model; ``fit_seconds`` is the recorded training time."""
        from bayesxp.model.bayesian import load

        start = time.perf_counter()
        self.model = load(self.model_path)
        summary = self.model.manifest.get("summary", {})
        recorded = summary.get("foundation", {}).get("seconds", 0.0) + summary.get("heads_seconds", 0.0)
        self.fit_seconds = recorded or (time.perf_counter() - start)

    def predict(self, ts: TrainingSet) -> dict:
        """Posterior samples per quantity for the rows of ``ts``."""
        if self.model is None:
            self.fit(ts, ts)
        spectra = SampledSpectra.from_arrays(ts.source_id, ts.flux, ts.flux_error, meta=ts.meta)
        posterior = self.model.posterior(spectra, num_samples=self.num_samples, context=self.context)
        return {q: posterior.predictive(q, rows=range(len(ts))) for q in ("mass", "age", "teff", "logg", "m_h")}


def make_predictor(options: dict | None = None) -> BayesXPPredictor:
    """Factory used by the benchmark's registry.

    Args:
        options: ``{"model": folder, "num_samples": S, "context": "full" | "spectrum"}``.
    """
    options = options or {}
    return BayesXPPredictor(options.get("model"), int(options.get("num_samples", 200)), options.get("context", "full"))
