"""bayesxp: calibrated Bayesian posteriors over red-giant mass and age from Gaia XP spectra.

The five-line API::

    import bayesxp
    model = bayesxp.load()                        # the shipped pretrained model (or a folder)
    post = model.posterior("my_xp_file.csv")      # Gaia archive XP file, arrays, Table or DataFrame
    post.samples["mass"], post.interval(0.68)     # [S, N] samples; credible intervals
    post.to_table(), post.to_arviz()              # astropy Table with units; ArviZ InferenceData

Heavy modules (torch, pyro) are imported on first use of :func:`load` or :class:`Posterior`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bayesxp._version import __version__

if TYPE_CHECKING:  # pragma: no cover
    from bayesxp.model.bayesian import BayesXPModel, load
    from bayesxp.posterior import Posterior
    from bayesxp.spectra import SampledSpectra

__all__ = ["__version__", "load", "BayesXPModel", "Posterior", "SampledSpectra"]

_LAZY = {
    "load": "bayesxp.model.bayesian",
    "BayesXPModel": "bayesxp.model.bayesian",
    "Posterior": "bayesxp.posterior",
    "SampledSpectra": "bayesxp.spectra",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bayesxp' has no attribute {name!r}")
