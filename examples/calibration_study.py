"""A calibration study: the shipped model's credible intervals against real asteroseismic truth.

    python examples/calibration_study.py [--max-stars N] [--num-samples 1000] [--output DIR] [--model DIR]

The seismic dev stars (``../shared/data/xp_seismic_dev.csv``: never in any training, spectra or labels) with
their consensus seismic mass and age and APOGEE Teff, logg, [M/H], each truth with its own error. This is
``bayesxp calibrate --config calibration/configs/seismic_dev.yaml --skip-baseline --no-recalibration`` from
Python: :func:`bayesxp.evaluation.run_campaign` computes every number (coverage at 50/68/90/95% with Jeffreys
bands, PIT, CRPS, NLL, subgroups, joint mass-age regions); this script only picks a few and prints them.
Coverage is *noise-aware* (each prediction widened by the truth's error, as the truths are measured); the
naive one ignores the truth's error. With ``--output DIR`` the whole report (``report.md``, ``results.json``,
figures) is written there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bayesxp.evaluation import load_campaign_config, run_campaign, summary_lines

SEISMIC_DEV = Path(__file__).resolve().parents[1] / "calibration" / "configs" / "seismic_dev.yaml"


def main(max_stars: int | None = None, num_samples: int = 1000, output: str | None = None,
         model_path: str | None = None, data_dir: str | None = None, seed: int = 0) -> dict:
    config = load_campaign_config(
        SEISMIC_DEV, max_stars=max_stars, num_samples=num_samples, skip_baseline=True, recalibrate=False,
        model=model_path, data_dir=data_dir, output=output, seed=seed,
    )
    results = run_campaign(config, write=output is not None, command="examples/calibration_study.py")
    print(f"{results['truth']['counts']['n_stars']} seismic dev stars, {num_samples} posterior draws each")
    for line in summary_lines(results):  # noise-aware coverage with its 95% Jeffreys band (dagger: outside)
        print(line)
    out = {}
    for quantity, entry in results["models"]["bayesxp"]["quantities"].items():
        table = entry["table"]
        out[quantity] = {"n": table["n"], "mad_std": table["mad_std"], "pit_ks_pvalue": table["pit_ks_pvalue"]}
        for level in ("0.68", "0.95"):
            cell = table["coverage"][level]
            out[quantity][f"cov{level[2:]}"] = (cell["coverage"], cell["lower"], cell["upper"])
    print("PIT uniformity (KS p-value): "
          + ", ".join(f"{q} {v['pit_ks_pvalue']:.2f}" for q, v in out.items() if v["pit_ks_pvalue"] is not None))
    joint = results["joint"].get("bayesxp")
    if joint:  # the joint (ln mass, ln age) Gaussian region, noise-aware, with its Jeffreys band
        hdr = joint["noise_aware"]["hdr_coverage"]
        k = hdr["level"].index(0.68)
        out["joint_hdr68"] = (hdr["coverage"][k], hdr["lower"][k], hdr["upper"][k])
        print(f"joint mass-age 68% region: holds {hdr['coverage'][k]:.2f} [{hdr['lower'][k]:.2f}, "
              f"{hdr['upper'][k]:.2f}] of {hdr['n']} stars")
    if output is not None:
        print(f"report: {Path(output) / 'report.md'}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-stars", type=int, default=None, help="random subset (default: all 177 stars)")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--output", default=None, help="write the full report here")
    parser.add_argument("--model", default=None)
    parser.add_argument("--data-dir", default=None, help="folder with seismic/ and xp_seismic_dev.csv")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    main(args.max_stars, args.num_samples, args.output, args.model, args.data_dir)
