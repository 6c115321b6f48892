"""Backbone throughput on an accelerator: fp32 and bf16 autocast at several batch sizes, for when a GPU is lent.

On ``--device`` (default ``cuda``) the shipped foundation model encodes the first ``--stars`` test-split giants
(spectral tokens and library photometry, the posterior path's context, every star with the same keys so that the
encoder runs unpadded as on the CPU path) at each batch size in ``--batch-sizes``, in fp32 and under bf16 autocast:
stars/s of the backbone alone (the tokens already on the device; synchronised timing, best of ``--repeats``), the
achieved TFLOP/s from the FLOP count of ``benchmarks/speed.py``, and bf16's accuracy cost (max and median
|difference| of the requested labels' means against fp32 in standardised units, and of Teff in K). The projection
to coefficient tokens and the joint head's draws stay on the CPU (``benchmarks/speed.py`` times them); the table
gives the wall time of 220 million sources for the backbone alone.

Usage (a GPU machine; ``--device cpu --stars 512 --batch-sizes 128 256`` runs it anywhere as a smoke test)::

    BAYESXP_CACHE_DIR=/tmp/bxcache python benchmarks/gpu_throughput.py [--stars 20000] [--batch-sizes 256 1024 4096 16384]

Writes ``benchmarks/results/gpu_throughput_<device>.md`` / ``.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import CATALOGUE, backbone_flops  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    import torch

    from bayesxp.data.dataset import DataConfig, build_training_set
    from bayesxp.io.tables import atomic_path
    from bayesxp.model.bayesian import load, photometry_labels
    from bayesxp.quantities import PHOTOMETRIC_LABELS, TARGET_LABELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--stars", type=int, default=20000, help="test-split giants, repeated if the split is smaller")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: run this on a GPU machine, or pass --device cpu for a smoke test", file=sys.stderr)
        return 2

    model = load()
    tokenizer = model.tokenizer
    split = build_training_set(DataConfig(), progress=False).subset("test")
    labels = photometry_labels(split.meta)
    tokens = tokenizer.encode(split.flux, split.flux_error, labels, np.zeros_like(labels))
    allowed = np.isin(tokenizer.keys, tokenizer.spectral_keys + PHOTOMETRIC_LABELS)
    context = tokens.present & allowed[None]
    union = context.any(axis=0)
    rows = np.flatnonzero((context == union[None]).all(axis=1))  # stars giving every key that any star gives
    rows = np.resize(rows, args.stars)  # repeat real stars up to the requested count
    columns = np.flatnonzero(union)
    values = torch.from_numpy(np.ascontiguousarray(tokens.values[np.ix_(rows, columns)])).to(device)
    key_ids = torch.from_numpy(columns + 1).to(device)
    request = torch.tensor([tokenizer.keys.index(k) + 1 for k in TARGET_LABELS], device=device)
    backbone = model.foundation.backbone.to(device).eval()
    teff = TARGET_LABELS.index("teff")
    teff_scale = float(tokenizer.std[tokenizer.keys.index("teff"), 0])

    def run(batch: int, bf16: bool) -> np.ndarray:
        """The requested labels' means of every star, ``(N, R)``."""
        means = []
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(values), batch):
                part = values[start : start + batch]
                present = torch.ones(part.shape[:2], dtype=torch.bool, device=device)
                out = backbone(part, present, request.expand(len(part), -1), key_ids=key_ids)
                means.append(out.mean[..., 0].float())
        if device.type == "cuda":
            torch.cuda.synchronize()
        return torch.cat(means).cpu().numpy()

    flops = backbone_flops(backbone.config.d_model, backbone.config.mlp_ratio, backbone.config.encoder_layers,
                           backbone.config.decoder_layers, backbone.width, float(len(columns)), len(TARGET_LABELS))
    results = {"device": str(device), "name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "stars": len(values), "context_tokens": len(columns), "flops_per_star": flops,
               "unpadded_share_of_split": float(len(np.unique(rows)) / len(context)), "rows": []}
    for batch in args.batch_sizes:
        reference = None
        for bf16 in (False, True):
            run(batch, bf16)  # warm-up (kernels, allocator)
            best = np.inf
            for _ in range(args.repeats):
                start = time.perf_counter()
                means = run(batch, bf16)
                best = min(best, time.perf_counter() - start)
            row = {"batch": batch, "dtype": "bf16" if bf16 else "fp32", "seconds": best,
                   "stars_per_s": len(values) / best, "tflops": flops * len(values) / best / 1e12}
            if bf16:
                diff = np.abs(means - reference)
                row |= {"max_abs_diff_std_units": float(diff.max()), "median_abs_diff_std_units": float(np.median(diff)),
                        "max_abs_diff_teff_k": float(diff[:, teff].max() * teff_scale)}
            else:
                reference = means
            row["days_for_220M_backbone_only"] = CATALOGUE / row["stars_per_s"] / 86400
            results["rows"].append(row)
            print(json.dumps(row), flush=True)
    lines = [f"# Backbone throughput on {results['name']} ({results['device']})", "",
             f"Command: `python benchmarks/gpu_throughput.py --device {args.device} --stars {args.stars} "
             f"--batch-sizes {' '.join(map(str, args.batch_sizes))}`; {results['stars']} stars (real test-split giants "
             f"with every context key, repeated), {results['context_tokens']} context tokens, "
             f"{flops / 1e6:.1f} MFLOP per star.", "",
             "| batch | dtype | stars/s | TFLOP/s | 220M sources, backbone only [h] | bf16 - fp32: max / median (std units), "
             "max Teff [K] |", "|---|---|---|---|---|---|"]
    for r in results["rows"]:
        accuracy = (f"{r['max_abs_diff_std_units']:.1e} / {r['median_abs_diff_std_units']:.1e}, "
                    f"{r['max_abs_diff_teff_k']:.1f}") if r["dtype"] == "bf16" else "-"
        lines.append(f"| {r['batch']} | {r['dtype']} | {r['stars_per_s']:.0f} | {r['tflops']:.2f} | "
                     f"{24 * r['days_for_220M_backbone_only']:.1f} | {accuracy} |")
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    name = f"gpu_throughput_{device.type}"
    with atomic_path(output / f"{name}.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    with atomic_path(output / f"{name}.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
