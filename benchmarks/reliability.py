"""Reliability benchmark: a catalogue of bad inputs tried against every reader and ``bayesxp predict``.

    python benchmarks/reliability.py [--model /tmp/model_tiny] [--only NAME_PART] [--output benchmarks/results]

The catalogue (inputs, faults, expected outcomes, runner and report) is :mod:`bayesxp.testing.reliability`.
Results: ``benchmarks/results/reliability.md`` and ``.json`` (inputs tried, crashes with traceback, good
stars lost, outcomes not as expected). ``--model`` defaults to the shipped model; ``tiny`` (or a folder
without a model) trains a tiny one on synthetic stars in about a minute.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bayesxp.cli import main as bayesxp_main
from bayesxp.testing.reliability import run_catalogue

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None,
                        help="model folder (default: the shipped model; 'tiny' trains a tiny one on synthetic stars)")
    parser.add_argument("--output", default=str(RESULTS), help="folder for reliability.md and .json")
    parser.add_argument("--only", default=None, help="run only the input cases whose name contains this")
    parser.add_argument("--no-write", action="store_true", help="print the summary only")
    args = parser.parse_args(argv)
    from bayesxp.model.folder import default_model_path
    from bayesxp.paths import data_dir

    model = None if args.model == "tiny" else default_model_path() if args.model is None else Path(args.model)
    run_catalogue(model, data_dir() / "xp_misc", bayesxp_main, output=None if args.no_write else Path(args.output),
                  only=args.only, distmass=REPO / "tests" / "data" / "distmass_small.fits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
