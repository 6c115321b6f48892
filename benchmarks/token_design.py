"""Measure the two spectral token designs side by side on the same split and budget.

Run both at once (same machine load for both), each on one thread:

    python benchmarks/token_design.py --design patch --minutes 25 &
    python benchmarks/token_design.py --design coefficients --minutes 25 &
    wait; python benchmarks/token_design.py --report

Each run trains the production backbone (configs/model.yaml sizes) for the same wall-clock budget and
evaluates spectrum+colours -> labels on the validation split; ``--report`` writes
``benchmarks/results/token_design.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from bayesxp.config import load_config
from bayesxp.data.dataset import build_training_set
from bayesxp.model.tokenizer import TokenizerConfig
from bayesxp.model.train import RunConfig, TrainConfig, train_run

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path("runs/token_design")
DESIGNS = {"patch": TokenizerConfig(spectral="patch", patch_size=7),
           "coefficients": TokenizerConfig(spectral="coefficients", n_bp=40, n_rp=40)}


def run(design: str, minutes: float, config_path: str) -> None:
    base = load_config(RunConfig, config_path)
    torch.set_num_threads(1)
    train = TrainConfig(**{**base.train.__dict__, "max_minutes": minutes, "threads": 1, "patience": 1000, "eval_every": 200,
                           "max_steps": base.train.max_steps})
    config = RunConfig(data=base.data, model=type(base.model)(tokenizer=DESIGNS[design], backbone=base.model.backbone),
                       train=train, output=str(RUNS / design))
    shutil.rmtree(config.output, ignore_errors=True)
    summary = train_run(config, progress=False, training_set=build_training_set(base.data))
    (RUNS / f"{design}.json").write_text(json.dumps(summary, indent=2, default=str))


def report() -> None:
    """Every validation record of both runs (step, wall-clock seconds, metrics), side by side."""
    rows = ["| design | tokens | step | wall-clock [s] | val NLL | Teff mad_std [K] | logg | [M/H] | mass [Msun] | "
            "age [Gyr] | 1-sigma cov. (Teff/logg/[M/H]) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    out = {}
    for design in DESIGNS:
        path = RUNS / design / "metrics.jsonl"
        if not path.is_file():
            continue
        records = [json.loads(line) for line in path.read_text().splitlines()]
        out[design] = records
        n_tokens = 49 + 10 if design == "patch" else DESIGNS[design].n_bp + DESIGNS[design].n_rp + 10
        for v in records:
            rows.append(f"| {design} | {n_tokens} | {v['step']} | {v['seconds']:.0f} | {v['nll']:.3f} | "
                        f"{v['teff']['mad_std']:.0f} | {v['logg']['mad_std']:.3f} | {v['m_h']['mad_std']:.3f} | "
                        f"{v['mass']['mad_std']:.3f} | {v['age']['mad_std']:.2f} | {v['teff']['coverage_1sigma']:.2f}/"
                        f"{v['logg']['coverage_1sigma']:.2f}/{v['m_h']['coverage_1sigma']:.2f} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "token_design.json").write_text(json.dumps(out, indent=2, default=str))
    (RESULTS / "token_design.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", choices=list(DESIGNS))
    parser.add_argument("--minutes", type=float, default=25.0)
    parser.add_argument("--config", default="configs/model.yaml")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    if args.report:
        report()
    else:
        run(args.design, args.minutes, args.config)
