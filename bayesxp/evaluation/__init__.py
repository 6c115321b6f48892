"""Judging models against truth: the calibration campaign and the head-to-head benchmark share this package.

Modules, by stage:

- :mod:`~bayesxp.evaluation.config`: :class:`CampaignConfig` and its YAML loader;
- :mod:`~bayesxp.evaluation.truth`: the :class:`Truth` table and its builders (test split, seismic dev,
  DistMass);
- :mod:`~bayesxp.evaluation.truth_noise`: kinds of truth (measured, derived), seeded truth draws, the
  seismic mass-age error correlation;
- :mod:`~bayesxp.evaluation.predictors`: predictions of the bayesxp model and the XGBoost baseline as
  :class:`~bayesxp.posterior.Posterior` objects; the benchmark's predictor registry;
- :mod:`~bayesxp.evaluation.judge`: every number (per quantity, joint mass-age, recalibration);
- :mod:`~bayesxp.evaluation.report`: Markdown tables and the report text;
- :mod:`~bayesxp.evaluation.figures`: figures drawn from the computed numbers;
- :mod:`~bayesxp.evaluation.run`: the campaign end to end, its output files and ``bayesxp calibrate``.

Example:
    >>> from bayesxp.evaluation import CampaignConfig
    >>> CampaignConfig(labels="seismic-dev").source_kind
    'seismic'
"""

from bayesxp.evaluation.config import (
    GROUP_LEVELS,
    REPORT_LEVELS,
    CampaignConfig,
    config_from_dict,
    load_campaign_config,
)
from bayesxp.evaluation.judge import (
    benchmark_metrics,
    evaluate_campaign,
    evaluate_quantity,
    joint_mass_age,
    recalibration_study,
)
from bayesxp.evaluation.predictors import (
    DEFAULT_MODELS,
    REGISTRY,
    BayesXPPredictor,
    Predictor,
    XGBPredictor,
    load_or_fit_baseline,
    make_predictor,
    predict_baseline,
    predict_bayesxp,
)
from bayesxp.evaluation.report import benchmark_table, quantity_table, report_markdown
from bayesxp.evaluation.run import (
    build_truth,
    calibrate_command,
    judge_predictions,
    run_campaign,
    summary_lines,
    write_outputs,
)
from bayesxp.evaluation.truth import (
    Truth,
    distmass_truth,
    label_truth,
    seismic_dev_truth,
    truth_from_training_set,
    validation_truth,
)
from bayesxp.evaluation.truth_noise import (
    DERIVED,
    MEASURED,
    NOISE_AWARE_TREATMENTS,
    TRUTH_KINDS,
    draw_truths,
    seismic_age_mass_slopes,
    seismic_ln_mass_age_corr,
)

__all__ = [
    "REPORT_LEVELS",
    "GROUP_LEVELS",
    "CampaignConfig",
    "load_campaign_config",
    "config_from_dict",
    "Truth",
    "TRUTH_KINDS",
    "MEASURED",
    "DERIVED",
    "NOISE_AWARE_TREATMENTS",
    "draw_truths",
    "seismic_age_mass_slopes",
    "seismic_ln_mass_age_corr",
    "truth_from_training_set",
    "validation_truth",
    "seismic_dev_truth",
    "distmass_truth",
    "label_truth",
    "build_truth",
    "predict_bayesxp",
    "predict_baseline",
    "load_or_fit_baseline",
    "Predictor",
    "BayesXPPredictor",
    "XGBPredictor",
    "REGISTRY",
    "DEFAULT_MODELS",
    "make_predictor",
    "evaluate_quantity",
    "benchmark_metrics",
    "joint_mass_age",
    "recalibration_study",
    "evaluate_campaign",
    "quantity_table",
    "benchmark_table",
    "report_markdown",
    "judge_predictions",
    "write_outputs",
    "run_campaign",
    "calibrate_command",
    "summary_lines",
]
