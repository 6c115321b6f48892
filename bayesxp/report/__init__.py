"""The main job and its report: ``bayesxp run`` (spectra to a run folder with a self-contained HTML report).

- :mod:`~bayesxp.report.job`: :func:`run_job`, what the run computes and writes;
- :mod:`~bayesxp.report.compute`: the report's numbers (label checks, derived views, model comparison);
- :mod:`~bayesxp.report.figures`: figures that only read those numbers;
- :mod:`~bayesxp.report.sections` and :mod:`~bayesxp.report.html`: the page;
- :mod:`~bayesxp.report.card`: the shipped model's card (figures copied from the calibration campaigns).
"""

from bayesxp.report.job import MAX_STARS, RunResult, run_job

__all__ = ["run_job", "RunResult", "MAX_STARS"]
