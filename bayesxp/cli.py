"""The ``bayesxp`` command line: each subcommand is one call into the public API.

- ``bayesxp data build [--config FILE] [--output DIR]``: build the training set, print its summary,
  write ``summary.md``, ``summary.json`` and ``label_distributions.png``.
- ``bayesxp demo [--output DIR]``: the main job on the bundled demo stars.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bayesxp._version import __version__
from bayesxp.errors import BayesXPError

__all__ = ["main", "build_parser"]


def _data_build(args: argparse.Namespace) -> int:
    from bayesxp.config import load_config
    from bayesxp.data_summary import plot_label_distributions, summary_markdown
    from bayesxp.dataset import DataConfig, build_training_set
    from bayesxp.io.tables import atomic_path

    config = load_config(DataConfig, args.config)
    if args.no_cache:
        config = load_config(DataConfig, args.config, use_cache=False)
    ts = build_training_set(config, progress=True)
    text = summary_markdown(ts)
    print(text)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "summary.md") as tmp:
        tmp.write_text(text + "\n")
    with atomic_path(output / "summary.json") as tmp:
        tmp.write_text(json.dumps(ts.summary, indent=2, default=str))
    figure = plot_label_distributions(ts)
    with atomic_path(output / "label_distributions.png") as tmp:
        figure.savefig(tmp, dpi=110, format="png")
    print(f"\nwrote {output / 'summary.md'}, summary.json and label_distributions.png")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from bayesxp.demo import demo_path
    from bayesxp.io.library import read_sampled_table
    from bayesxp.selection import xp_snr

    spectra = read_sampled_table(demo_path())
    meta = spectra.meta
    print(f"bayesxp {__version__}: {len(spectra)} bundled demo giants from {demo_path().name}")
    print(f"  Teff {meta['teff'].min():.0f}-{meta['teff'].max():.0f} K, logg {meta['logg'].min():.2f}-"
          f"{meta['logg'].max():.2f}, [Fe/H] {meta['fe_h'].min():.2f}-{meta['fe_h'].max():.2f}; "
          f"median XP S/N {np.median(xp_snr(spectra)):.0f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the docs and the tests)."""
    parser = argparse.ArgumentParser(prog="bayesxp", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"bayesxp {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="training-set commands")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    build = data_commands.add_parser("build", help="build the training set and print its summary")
    build.add_argument("--config", default=None, help="YAML filling DataConfig (e.g. configs/data.yaml)")
    build.add_argument("--output", default="runs/data", help="folder for summary.md/.json and the figure")
    build.add_argument("--no-cache", action="store_true", help="rebuild everything, ignoring the cache")
    build.set_defaults(handler=_data_build)

    demo = commands.add_parser("demo", help="the main job on the bundled demo stars")
    demo.add_argument("--output", default="bayesxp_demo_output", help="output folder")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (errors print one clear line, no traceback).

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on a user error.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BayesXPError as exc:
        print(f"bayesxp: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
