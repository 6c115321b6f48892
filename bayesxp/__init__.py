"""bayesxp: calibrated Bayesian posteriors over red-giant mass and age from Gaia XP spectra.

The public entry points are re-exported here as they land; see the README for the five-line API.
"""

from bayesxp._version import __version__

__all__ = ["__version__"]
