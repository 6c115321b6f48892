"""The head-to-head benchmark's numbers are the campaign's: :func:`bayesxp.evaluation.judge.benchmark_metrics`
gives what ``benchmarks/head_to_head.py``'s own ``evaluate`` gave before the two were merged.

GOLDEN was computed with that former ``evaluate`` (``git show 617db8a:benchmarks/head_to_head.py``) on the
fixed predictions below. Every number must match to 1e-12 (relative), except ``mad_std_rel``: the former
code scaled the MAD by 1.4826, the library's ``mad_std`` by 1.482602218505602, a relative change of 1.5e-6
(invisible in the three-decimal tables).
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesxp.calibration import GaussianPrediction, QuantilePrediction, SamplePrediction
from bayesxp.evaluation.judge import benchmark_metrics

GOLDEN = {('gaussian', 'mass'): {'n': 294,
                        'bias': -0.008100149244812727,
                        'std': 0.14634114986688257,
                        'mad_std': 0.14260464142963883,
                        'mad_std_rel': 0.10292746191724804,
                        'cov68': 0.6904761904761905,
                        'cov68_ok': True,
                        'cov95': 0.9489795918367347,
                        'cov95_ok': True,
                        'crps': 0.08242423862857215,
                        'nll': -0.503627769472424,
                        'ece': 0.019401360544217677,
                        'cov68_noise': 0.7585034013605442,
                        'cov68_noise_ok': False,
                        'cov95_noise': 0.9829931972789115,
                        'cov95_noise_ok': False,
                        'crps_noise': 0.08344883890084781,
                        'nll_noise': -0.4657818970124682,
                        'ece_noise': 0.07841496598639457},
 ('quantile', 'age'): {'n': 294,
                       'bias': 0.007073428903085599,
                       'std': 0.12614151382446842,
                       'mad_std': 0.12289135329467929,
                       'mad_std_rel': 0.0399950158394906,
                       'cov68': 0.4523809523809524,
                       'cov68_ok': False,
                       'cov95': 0.8367346938775511,
                       'cov95_ok': False,
                       'crps': 0.0728622507979195,
                       'nll': 320.1246927358393,
                       'ece': 0.12481632653061221,
                       'cov68_noise': 0.7585034013605442,
                       'cov68_noise_ok': False,
                       'cov95_noise': 0.9727891156462585,
                       'cov95_noise_ok': True,
                       'crps_noise': 0.06843185330624246,
                       'nll_noise': -0.6386015406024957,
                       'ece_noise': 0.05851700680272108},
 ('samples', 'logg'): {'n': 294,
                       'bias': -0.0026867029908922424,
                       'std': 0.10106476924273144,
                       'mad_std': 0.09569719941800832,
                       'cov68': 0.8537414965986394,
                       'cov68_ok': False,
                       'cov95': 0.9829931972789115,
                       'cov95_ok': False,
                       'crps': 0.059737833620817006,
                       'nll': -0.7130314701595551,
                       'ece': 0.12943537414965983,
                       'cov68_noise': 0.9013605442176871,
                       'cov68_noise_ok': False,
                       'cov95_noise': 1.0,
                       'cov95_noise_ok': False,
                       'crps_noise': 0.06359908593060043,
                       'nll_noise': -0.5842728118105048,
                       'ece_noise': 0.18249659863945578}}


def _inputs():
    rng = np.random.default_rng(11)
    n = 300
    true = rng.lognormal(0.3, 0.2, n)
    truth = true + 0.1 * rng.standard_normal(n)
    truth[:4] = np.nan
    error = np.full(n, 0.1)
    error[4:6] = 0.0
    preds = {
        "gaussian": GaussianPrediction(true + 0.1 * rng.standard_normal(n), 0.15),
        "quantile": QuantilePrediction([0.05, 0.16, 0.5, 0.84, 0.95], np.sort(true[:, None] + 0.15 * rng.standard_normal((n, 5)), axis=1)),
        "samples": SamplePrediction(true + 0.15 * rng.standard_normal((100, n))),
    }
    return preds, truth, error


@pytest.mark.parametrize("case", list(GOLDEN))
def test_benchmark_metrics_match_the_former_head_to_head_scorer(case):
    preds, truth, error = _inputs()
    name, quantity = case
    metrics = benchmark_metrics(preds[name], truth, error, quantity)
    for key, expected in GOLDEN[case].items():
        tolerance = 2e-6 if key == "mad_std_rel" else 1e-12
        assert metrics[key] == pytest.approx(expected, rel=tolerance, abs=0), key
    assert set(metrics["summary"]) == {"naive", "noise_aware"}


def test_benchmark_metrics_without_errors_and_without_truths():
    preds, truth, _ = _inputs()
    metrics = benchmark_metrics(preds["gaussian"], truth, None, "teff")
    assert metrics["n"] == 296 and "cov68_noise" not in metrics and "mad_std_rel" not in metrics
    assert benchmark_metrics(preds["gaussian"], np.full(truth.size, np.nan), None, "teff") == {"n": 0}
