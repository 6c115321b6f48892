"""Run one calibration campaign of bayesxp against real labels, and write its report.

Usage (from anywhere; relative paths in the YAML are relative to the repository root, paths on the
command line to the working directory)::

    BAYESXP_CACHE_DIR=/tmp/bxcache python calibration/run_campaign.py \\
        --config calibration/configs/seismic_dev.yaml [--model DIR] [--baseline DIR | --skip-baseline] \\
        [--output DIR] [--max-stars N] [--num-samples S] [--no-recalibration] [--threads T]

The results go to ``calibration/results/<name>/`` unless ``--output`` (or the YAML's ``output``) says
otherwise: ``report.md``, ``results.json``, ``config.yaml`` and PNG figures. Results of a development
model (e.g. a tiny one) are meaningless: write them elsewhere (``--output /tmp/...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="campaign YAML (calibration/configs/*.yaml)")
    parser.add_argument("--model", help="bayesxp model folder (default: the YAML's, else the shipped model)")
    parser.add_argument(
        "--baseline", help="fitted XGBoost baseline folder (default: fit or reuse from the cache)"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="judge bayesxp alone")
    parser.add_argument("--labels", help="override the label source (test-split, seismic-dev, .csv, .fits)")
    parser.add_argument("--output", help="output folder (default: calibration/results/<name>)")
    parser.add_argument("--max-stars", type=int, help="random subset of this many stars (quick runs)")
    parser.add_argument("--max-calibration-stars", type=int, help="cap on validation stars for recalibration")
    parser.add_argument("--num-samples", type=int, help="posterior draws per star")
    parser.add_argument("--no-recalibration", action="store_true", help="skip the recalibration study")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    from bayesxp.errors import BayesXPError
    from bayesxp.evaluation.campaign import load_campaign_config, run_campaign, summary_lines

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    labels = args.labels if args.labels in (None, "test-split", "seismic-dev") else _absolute(args.labels)
    overrides = {
        "model": _absolute(args.model),
        "baseline": _absolute(args.baseline),
        "labels": labels,
        "output": _absolute(args.output),
        "max_stars": args.max_stars,
        "num_samples": args.num_samples,
        "max_calibration_stars": args.max_calibration_stars,
        "skip_baseline": True if args.skip_baseline else None,
        "recalibrate": False if args.no_recalibration else None,
    }
    clock = time.perf_counter()
    try:
        config = load_campaign_config(_absolute(args.config), base=REPO, **overrides)
        if config.output is None:
            config = dataclasses.replace(config, output=str(REPO / "calibration" / "results" / config.name))
        results = run_campaign(
            config,
            progress=not args.quiet,
            command=" ".join(["python", "calibration/run_campaign.py", *(argv or sys.argv[1:])]),
        )
    except BayesXPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary_lines(results)))
    print(f"wrote {config.output_folder()} in {time.perf_counter() - clock:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
