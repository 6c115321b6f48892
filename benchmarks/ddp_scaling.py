"""Training throughput of the foundation model: torchrun DDP on 2 processes against a single process.

    python benchmarks/ddp_scaling.py [--steps 40] [--warmup 5] [--repeats 1] [--eval-stars 64] [--output DIR]

Three setups train the production model (``configs/model.yaml``: same tokenizer, backbone, global batch, seed),
each as a real ``python -m bayesxp.model.train --config FILE --quiet`` run in its own subprocess with
``OMP_NUM_THREADS``/``MKL_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` and the config's ``train.threads`` (torch
intra-op threads) set to the setup's threads per process:

- 1 process x 1 thread;
- 1 process x 2 threads;
- 2 processes x 1 thread: ``python -m torch.distributed.run --standalone --nproc_per_node 2 -m bayesxp.model.train``
  (the venv's torchrun; DDP over gloo; every rank draws the same global batch and takes its half).

Each run gets a temporary config derived from ``configs/model.yaml`` where only these change: ``output`` (a fresh
run folder under a temporary directory, so nothing resumes), ``train.max_steps``, ``train.eval_every =
max_steps`` (one validation and one checkpoint, at the end), ``train.eval_stars`` (``--eval-stars``, small so that
this end-of-run validation is cheap) and ``train.threads``.

Timing: the figure is the training loop's own clock, ``seconds`` of the run's ``summary.json``
(``Trainer.fit``: from before the first step to after the last validation and checkpoint; rank 0's under DDP), so
Python start-up, process-group set-up, reading the training set and tokenising are excluded. That clock still
holds the first steps' warm-up and the one validation + checkpoint at the end, so every setup is run twice, for
``--warmup`` and for ``--steps`` steps, and

    training stars/s = global batch x (steps - warmup) / (seconds(steps) - seconds(warmup)),

i.e. the steady-state rate of steps warmup+1 .. steps alone (both runs have the same warm-up and the same single
validation + checkpoint, which cancel). The loop's own ``train_samples_per_second`` of the long run and the whole
subprocess wall time are reported alongside.

Scaling efficiency = stars/s(2 processes x 1 thread) / (2 x stars/s(1 process x 1 thread)); the ratio against
1 process x 2 threads (same cores, threads instead of processes) is also given. With ``--repeats R`` the cycle of
setups is run R times (interleaved, to spread out any other load) and the median rate is used.

Equivalence: the train.py docstring says the DDP-averaged gradient equals the single-process one. What is
tested, after both ``--warmup`` and ``--steps`` steps, is (a) the model weights (the ``model`` state of the run's
``checkpoint.pt``): ||w - w_ref|| / ||w_ref|| over all parameters together, (b) the validation NLL that rank 0
computes with those weights on the same validation stars and (c) the running training loss the summaries report
(``Trainer.train_step`` averages each step's loss over the ranks, so under DDP it is the global batch's), both as
relative differences, all against the 1 process x 1 thread run of the same length and within ``--rtol``
(default 1e-4). Also listed, not tested:
max|w - w_ref| / max|w_ref| and the worst single tensor by its own max-relative difference (zero-initialised biases
are only ~lr x steps in size after a few warm-up Adam steps, where an update is ~lr x sign(gradient), so float
noise looks large there). The 1 process x 2 threads run shows the size of plain float32 reduction-order
differences for comparison.

The training-set cache is warmed in this process before any run, so that no run spends its time building it
(nor do two DDP ranks build it at once).

Results: ``<output>/ddp_scaling.md`` and ``.json`` (``--output`` defaults to ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from bayesxp.config import load_config
from bayesxp.data.dataset import build_training_set
from bayesxp.io.tables import atomic_path
from bayesxp.model.train import RunConfig

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
SETUPS = (("1x1", 1, 1), ("1x2", 1, 2), ("2x1", 2, 1))  # (name, processes, threads per process)
REFERENCE = "1x1"


def write_config(base: dict, path: Path, run_dir: Path, steps: int, threads: int, eval_stars: int) -> None:
    """A copy of the production config with only the run folder, length, validation and threads changed."""
    mapping = json.loads(json.dumps(base))  # deep copy
    mapping["output"] = str(run_dir)
    train = mapping.setdefault("train", {})
    train.update(max_steps=steps, eval_every=steps, eval_stars=eval_stars, threads=threads)
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    load_config(RunConfig, path)  # refuses unknown keys: fails here rather than in the child


def command(config_path: Path, processes: int) -> list[str]:
    train = ["-m", "bayesxp.model.train", "--config", str(config_path), "--quiet"]
    if processes == 1:
        return [sys.executable, *train]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), *train]


def run_one(base: dict, workdir: Path, name: str, processes: int, threads: int, steps: int, eval_stars: int,
            tag: str) -> dict:
    """One training run in a subprocess; returns its timings, summary figures and run folder."""
    run_dir = workdir / f"{name}_{steps}steps_{tag}"
    config_path = workdir / f"{name}_{steps}steps_{tag}.yaml"
    write_config(base, config_path, run_dir, steps, threads, eval_stars)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "OPENBLAS_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    cmd = command(config_path, processes)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{name} ({steps} steps) failed with exit code {done.returncode}:\n"
                           f"$ {shlex.join(cmd)}\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    validation = summary.get("validation") or {}
    if summary["steps"] != steps:
        raise RuntimeError(f"{name}: ran {summary['steps']} steps, not {steps} (early stop or resume?)")
    return {"setup": name, "processes": processes, "threads": threads, "steps": steps, "repeat": tag,
            "loop_seconds": summary["seconds"], "loop_samples_per_second": summary["train_samples_per_second"],
            "wall_seconds": wall, "outside_loop_seconds": wall - summary["seconds"],
            "val_nll": validation.get("nll"), "train_loss": validation.get("train_loss"),
            "parameters": summary.get("parameters"), "n_train": summary.get("n_train"),
            "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0],
            "run_dir": str(run_dir)}


def weights(run_dir: str) -> dict[str, torch.Tensor]:
    state = torch.load(Path(run_dir) / "checkpoint.pt", map_location="cpu", weights_only=True)
    return state["model"]


def weight_difference(run_dir: str, reference_dir: str) -> dict:
    """How far one run's weights are from the reference run's (floating tensors only).

    Returns:
        ``rel_l2``: ||w - w_ref|| / ||w_ref|| over all parameters together (the tested figure);
        ``max_abs_over_max_weight``: max|w - w_ref| / max|w_ref| over all parameters; ``worst_tensor`` and
        ``worst_tensor_rel``: the tensor with the largest max|w - w_ref| / max|w_ref| of its own (zero-initialised
        biases are ~lr x steps in size after a few Adam steps, so this one is large for mere float noise).
    """
    ours, ref = weights(run_dir), weights(reference_dir)
    if ours.keys() != ref.keys():
        raise RuntimeError(f"{run_dir}: state keys differ from {reference_dir}")
    keys = [k for k, v in ref.items() if v.is_floating_point()]
    delta = torch.cat([(ours[k] - ref[k]).flatten().double() for k in keys])
    flat = torch.cat([ref[k].flatten().double() for k in keys])
    per_tensor = {k: (ours[k] - ref[k]).abs().max().item() / (ref[k].abs().max().item() or 1.0) for k in keys}
    worst = max(per_tensor, key=per_tensor.get)
    return {"rel_l2": (delta.norm() / flat.norm()).item(),
            "max_abs_over_max_weight": (delta.abs().max() / flat.abs().max()).item(),
            "worst_tensor": worst, "worst_tensor_rel": per_tensor[worst]}


def relative(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return abs(a - b) / max(abs(b), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "model.yaml"), help="production config")
    parser.add_argument("--steps", type=int, default=40, help="training steps of the timed run")
    parser.add_argument("--warmup", type=int, default=5, help="steps of the short run whose time is subtracted")
    parser.add_argument("--repeats", type=int, default=1, help="cycles over the setups (median rate used)")
    parser.add_argument("--eval-stars", type=int, default=64, help="validation stars of the one end-of-run validation")
    parser.add_argument("--rtol", type=float, default=1e-4, help="tolerance of the DDP = single-process check")
    parser.add_argument("--output", default=str(RESULTS), help="folder for ddp_scaling.md/.json")
    parser.add_argument("--workdir", default=None, help="run folders (default: a temporary directory, removed)")
    args = parser.parse_args()
    if not 1 <= args.warmup < args.steps:
        parser.error("need 1 <= --warmup < --steps")
    started = time.perf_counter()
    base = yaml.safe_load(Path(args.config).read_text())
    batch = load_config(RunConfig, base).train.batch_size
    # Warm the training-set cache first: a run that builds the set itself re-seeds and draws from torch's global
    # RNG inside the label transfer, so its initial weights differ from those of a run that reads the cache.
    torch.set_num_threads(1)  # this process only reads the cache (or builds it) and compares weights
    cache_start = time.perf_counter()
    build_training_set(load_config(RunConfig, base).data, progress=False)  # result dropped: only the cache is wanted
    cache_seconds = time.perf_counter() - cache_start
    with tempfile.TemporaryDirectory(prefix="bayesxp_ddp_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        runs: list[dict] = []
        for repeat in range(args.repeats):
            for name, processes, threads in SETUPS:
                for steps in (args.warmup, args.steps):
                    runs.append(run_one(base, workdir, name, processes, threads, steps, args.eval_stars, f"r{repeat}"))
                    print(json.dumps({k: v for k, v in runs[-1].items() if k != "run_dir"}), flush=True)
        # equivalence against the 1x1 run of the same length and repeat
        for run in runs:
            ref = next(r for r in runs if r["setup"] == REFERENCE and r["steps"] == run["steps"]
                       and r["repeat"] == run["repeat"])
            diff = weight_difference(run["run_dir"], ref["run_dir"])
            run["weights_rel_l2_vs_1x1"] = diff.pop("rel_l2")
            run.update({f"weights_{k}_vs_1x1": v for k, v in diff.items()})
            run["val_nll_rel_diff_vs_1x1"] = relative(run["val_nll"], ref["val_nll"])
            run["train_loss_rel_diff_vs_1x1"] = relative(run["train_loss"], ref["train_loss"])
    setups = []
    for name, processes, threads in SETUPS:
        rates, long_runs = [], []
        for repeat in range(args.repeats):
            short, long = (next(r for r in runs if r["setup"] == name and r["repeat"] == f"r{repeat}"
                                and r["steps"] == s) for s in (args.warmup, args.steps))
            rates.append(batch * (args.steps - args.warmup) / (long["loop_seconds"] - short["loop_seconds"]))
            long_runs.append(long)
        setups.append({"setup": name, "processes": processes, "threads_per_process": threads,
                       "train_stars_per_s": statistics.median(rates), "train_stars_per_s_each": rates,
                       "loop_samples_per_second": statistics.median(r["loop_samples_per_second"] for r in long_runs),
                       "wall_seconds": statistics.median(r["wall_seconds"] for r in long_runs),
                       "outside_loop_seconds": statistics.median(r["outside_loop_seconds"] for r in long_runs)})
    rate = {s["setup"]: s["train_stars_per_s"] for s in setups}
    ddp = [r for r in runs if r["setup"] == "2x1"]
    worst_w = max(r["weights_rel_l2_vs_1x1"] for r in ddp)
    worst_nll = max(r["val_nll_rel_diff_vs_1x1"] or 0.0 for r in ddp)
    worst_loss = max(r["train_loss_rel_diff_vs_1x1"] or 0.0 for r in ddp)
    info = {
        "command": "python benchmarks/ddp_scaling.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "config": args.config, "global_batch": batch, "steps": args.steps, "warmup": args.warmup,
        "repeats": args.repeats, "eval_stars": args.eval_stars, "rtol": args.rtol, "training_set_load_s": cache_seconds,
        "parameters": runs[0]["parameters"], "n_train": runs[0]["n_train"], "cpus": os.cpu_count(),
        "python": platform.python_version(), "torch": torch.__version__, "total_s": time.perf_counter() - started,
        "scaling_efficiency_2x1": rate["2x1"] / (2 * rate["1x1"]),
        "threads_efficiency_1x2": rate["1x2"] / (2 * rate["1x1"]),
        "ddp_over_1x2": rate["2x1"] / rate["1x2"],
        "ddp_weights_rel_l2": worst_w, "ddp_val_nll_max_rel_diff": worst_nll, "ddp_train_loss_max_rel_diff": worst_loss,
        "ddp_equals_single_process": max(worst_w, worst_nll, worst_loss) <= args.rtol,
        "setups": setups, "runs": [{k: v for k, v in r.items() if k != "run_dir"} for r in runs],
    }
    write_results(Path(args.output), info)


def write_results(output: Path, info: dict) -> None:
    output.mkdir(parents=True, exist_ok=True)
    with atomic_path(output / "ddp_scaling.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    names = {"1x1": "1 process x 1 thread", "1x2": "1 process x 2 threads", "2x1": "2 processes x 1 thread (DDP, gloo)"}
    lines = ["# Foundation-model training: 2-process DDP against a single process", "",
             f"Command: `{info['command']}`", "",
             f"Production model ({info['parameters']:,} parameters, `{Path(info['config']).name}`), global batch "
             f"{info['global_batch']}, {info['n_train']:,} training stars, torch {info['torch']}, {info['cpus']} CPUs. "
             f"Each setup is a `python -m bayesxp.model.train` subprocess (DDP: `python -m torch.distributed.run "
             f"--standalone --nproc_per_node 2`) with OMP/MKL/OpenBLAS and torch threads = threads per process, run "
             f"for {info['warmup']} and for {info['steps']} steps (validation and checkpoint only at the end, on "
             f"{info['eval_stars']} stars). Training stars/s = batch x ({info['steps']} - {info['warmup']}) / "
             f"(loop seconds({info['steps']}) - loop seconds({info['warmup']})), the loop seconds being "
             "`Trainer.fit`'s own clock (`summary.json`), so start-up, data loading, the warm-up steps and the "
             f"end-of-run validation are excluded; median of {info['repeats']} repeat(s). 'loop samples/s' is the "
             f"loop's own figure for the {info['steps']}-step run (includes warm-up and validation); 'outside loop' "
             "is wall - loop seconds (start-up, process group, data, tokenising, saving the model).", "",
             "| setup | training stars/s | per repeat | loop samples/s | wall (s) | outside loop (s) |",
             "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {names[s['setup']]} | {s['train_stars_per_s']:.1f} | "
              f"{', '.join(f'{x:.1f}' for x in s['train_stars_per_s_each'])} | {s['loop_samples_per_second']:.1f} | "
              f"{s['wall_seconds']:.1f} | {s['outside_loop_seconds']:.1f} |" for s in info["setups"]]
    lines += ["", f"**Scaling efficiency** (2 processes x 1 thread) / (2 x 1 process x 1 thread): "
              f"**{info['scaling_efficiency_2x1']:.2f}**. Same cores as threads: (1 process x 2 threads) / "
              f"(2 x 1 process x 1 thread) = {info['threads_efficiency_1x2']:.2f}; DDP / (1 process x 2 threads) = "
              f"{info['ddp_over_1x2']:.2f}.", "",
              "## DDP = single process?", "",
              "Against the 1 process x 1 thread run of the same length: ||w - w_ref|| / ||w_ref|| over all checkpoint "
              "weights together (tested), max|w - w_ref| / max|w_ref| over all weights, the tensor whose own "
              "max|w - w_ref| / max|w_ref| is largest (zero-initialised biases are only ~lr x steps in size after a "
              "few Adam steps, so float noise shows large there), and the relative difference of the validation "
              "NLL rank 0 computes with the weights (tested), and of the summaries' running training loss (the "
              "global batch's under DDP: tested).",
              "", "| setup | steps | repeat | weights rel L2 diff | max abs diff / max weight | worst tensor (own rel) | "
              "val NLL | val NLL rel diff | train loss | its rel diff | load avg before / after |",
              "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---|"]
    lines += [f"| {r['setup']} | {r['steps']} | {r['repeat']} | {r['weights_rel_l2_vs_1x1']:.2e} | "
              f"{r['weights_max_abs_over_max_weight_vs_1x1']:.2e} | `{r['weights_worst_tensor_vs_1x1']}` "
              f"({r['weights_worst_tensor_rel_vs_1x1']:.1e}) | "
              f"{r['val_nll']:.6f} | {r['val_nll_rel_diff_vs_1x1']:.2e} | {r['train_loss']:.6f} | "
              f"{r['train_loss_rel_diff_vs_1x1']:.2e} | {r['load_average_1min_before']:.2f} / "
              f"{r['load_average_1min_after']:.2f} |" for r in info["runs"]]
    verdict = "equal" if info["ddp_equals_single_process"] else "NOT equal"
    lines += ["", f"DDP vs single process: weights rel L2 diff {info['ddp_weights_rel_l2']:.2e}, validation NLL "
              f"max rel diff {info['ddp_val_nll_max_rel_diff']:.2e}, training loss max rel diff "
              f"{info['ddp_train_loss_max_rel_diff']:.2e}: **{verdict}** within rtol {info['rtol']:g}.", "",
              f"Total benchmark time {info['total_s']:.0f} s.", ""]
    with atomic_path(output / "ddp_scaling.md") as tmp:
        tmp.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
