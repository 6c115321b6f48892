"""The reliability catalogue: bad inputs, damaged models and output faults tried against every reader and
``bayesxp predict``.

Every case derives a bad file (or model folder, or output place) in a temporary folder from the real Gaia
archive files of ``shared/data/xp_misc`` and feeds it to each relevant reader (``read_table``,
``read_sampled_table``, ``read_xp_continuous``, ``read_spectra``, ``iter_spectra``, the DistMass and seismic
readers) and to ``bayesxp predict`` through the CLI entry point with stderr captured. Each try gets an outcome
class (:mod:`~bayesxp.testing.reliability.outcomes`) and the number of *good* stars lost.

Modules, one concept each:

- :mod:`~bayesxp.testing.reliability.outcomes`: outcome classes, :class:`Outcome`, calls run as a user meets them.
- :mod:`~bayesxp.testing.reliability.columns`: tables as lists of cells, written to every input format.
- :mod:`~bayesxp.testing.reliability.workspace`: the clean base tables and fresh paths for the variants.
- :mod:`~bayesxp.testing.reliability.inputs`: the catalogue of bad input files (:func:`input_cases`).
- :mod:`~bayesxp.testing.reliability.runner`: :class:`Runner`, each case against each reader and ``predict``.
- :mod:`~bayesxp.testing.reliability.models`: damaged model folders and training checkpoints.
- :mod:`~bayesxp.testing.reliability.outputs`: read-only folders, full disks and bad output paths.
- :mod:`~bayesxp.testing.reliability.catalogues`: the catalogue readers on damaged files.
- :mod:`~bayesxp.testing.reliability.report`: counts and the Markdown / JSON report.
- :mod:`~bayesxp.testing.reliability.run`: :func:`run_catalogue`, the whole run.

Example:
    >>> from bayesxp.testing.reliability import input_cases
    >>> sorted({case.group for case in input_cases()})[:3]
    ['absurd values', 'array lengths', 'dtypes']
"""

from __future__ import annotations

from bayesxp.testing.reliability.catalogues import catalogue_cases
from bayesxp.testing.reliability.inputs import InputCase, input_cases
from bayesxp.testing.reliability.models import checkpoint_cases, model_cases
from bayesxp.testing.reliability.outcomes import Outcome
from bayesxp.testing.reliability.outputs import output_cases
from bayesxp.testing.reliability.report import summarise, write_report
from bayesxp.testing.reliability.run import run_catalogue
from bayesxp.testing.reliability.runner import Runner, copy_model, run_predict
from bayesxp.testing.reliability.workspace import Workspace

__all__ = [
    "Outcome",
    "Workspace",
    "InputCase",
    "input_cases",
    "Runner",
    "copy_model",
    "run_predict",
    "model_cases",
    "checkpoint_cases",
    "output_cases",
    "catalogue_cases",
    "summarise",
    "write_report",
    "run_catalogue",
]
