"""Training the foundation model: sampling, schedule, validation, early stopping, exact resume, DDP.

- AdamW with linear warm-up and cosine decay, gradient clipping, optional bf16 autocast (a GPU or a CPU
  with bf16 units; on AVX2-only CPUs it is slower than fp32);
- heteroscedastic Gaussian NLL with each target's own error added to the predicted variance;
- every step's randomness (batch rows, contexts, requests, dropout) is a function of ``(seed, step)``,
  and checkpoints hold model, optimiser, scheduler and counters, so a killed run resumes to exactly the
  losses an uninterrupted one would have had;
- validation every ``eval_every`` steps on the spectrum(+colours) -> labels task, early stopping on its
  NLL; the best weights kept (or the last, `keep: last`);
- data-parallel: launched with ``torchrun --nproc_per_node N -m bayesxp.model.train --config FILE``,
  torch.distributed DDP with gloo on CPU and nccl on GPU; every rank draws the same global batch and takes
  its shard, so the averaged gradient equals the single-process one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from astropy.stats import mad_std

from bayesxp.config import load_config, save_config
from bayesxp.data.dataset import DataConfig, TrainingSet, build_training_set
from bayesxp.errors import ModelFileError
from bayesxp.io.tables import atomic_path
from bayesxp.model.folder import save_foundation
from bayesxp.model.foundation import FoundationModel, ModelSpec, gaussian_nll
from bayesxp.model.sampling import sample_batch, step_generator
from bayesxp.model.tokenizer import Tokenizer, Tokens
from bayesxp.quantities import LABELS, TARGET_LABELS

__all__ = ["TrainConfig", "RunConfig", "Trainer", "evaluate_labels", "build_model", "build_once", "train_run", "main"]

T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Attributes:
        batch_size: Global batch (split over DDP ranks).
        max_steps: Upper bound on optimiser steps.
        max_minutes: Wall-clock budget (None: no limit); the run stops cleanly at the next evaluation.
        learning_rate: Peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up steps.
        grad_clip: Max gradient norm.
        bf16: bf16 autocast.
        seed: Seed of every random draw.
        main_fraction: Fraction of stars per batch in spectrum -> labels mode.
        max_requests: Request slots per star.
        eval_every: Steps between validations (and checkpoints).
        patience: Validations without improvement before stopping.
        eval_stars: Validation stars used per evaluation (None: all).
        threads: torch intra-op threads (None: torch's default).
        keep: Weights the run ends with: ``"best"`` (lowest validation NLL of the backbone's own Gaussians)
            or ``"last"`` (the final step; for heads that recalibrate the variances, the point accuracy of
            the final step can matter more than the backbone's own calibration).
    """

    batch_size: int = 128
    max_steps: int = 20000
    max_minutes: float | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 300
    grad_clip: float = 1.0
    bf16: bool = False
    seed: int = 0
    main_fraction: float = 0.7
    max_requests: int = 12
    eval_every: int = 250
    patience: int = 8
    eval_stars: int | None = 2000
    threads: int | None = None
    keep: str = "best"

    def __post_init__(self) -> None:
        if self.keep not in ("best", "last"):
            raise ValueError(f"train.keep must be 'best' or 'last', not {self.keep!r}")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs (saved resolved with the model).

    Attributes:
        data: Training-set build.
        model: Tokenizer and backbone.
        train: Optimisation.
        output: Run folder (checkpoints, metrics, the final model folder ``model/``).
        label_only_seismic: Add the seismic training stars as label-only training examples (no spectrum:
            APOGEE-scale labels with their seismic mass and age,
            :func:`~bayesxp.labels.seismic_training.label_only_examples`); the tokenizer's normalisation and
            the validation stay the library's.
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: str = "runs/foundation"
    label_only_seismic: bool = False


def _learning_rate(step: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def evaluate_labels(model: FoundationModel, tokens: Tokens, training_set: TrainingSet,
                    context_keys: tuple[str, ...] | None = None) -> dict:
    """Spectrum(+colours) -> labels metrics in physical units.

    Args:
        model: The model.
        tokens: Encoded stars (same rows as ``training_set``).
        training_set: Their training-set rows (truth and label errors).
        context_keys: Context keys (default: spectrum and photometry).

    Returns:
        ``{label: {n, mad_std, std, bias, coverage_1sigma, nll}}`` with mass in Msun and age in Gyr, plus
        ``"nll"``: the mean standardised NLL over all label predictions (the early-stopping metric).

    Example:
        >>> from bayesxp.model.folder import default_model_path, load_foundation
        >>> model, stars = load_foundation(default_model_path()), TrainingSet.synthetic(20, seed=0)
        >>> tokens = model.tokenizer.encode(stars.flux, stars.flux_error, stars.labels, stars.label_error)
        >>> metrics = evaluate_labels(model, tokens, stars)
        >>> metrics["teff"]["n"], np.isfinite(metrics["nll"])
        (20, True)
    """
    mean, std, _ = model.predict_tokens(tokens, context_keys, TARGET_LABELS)
    out: dict = {}
    nlls = []
    for r, key in enumerate(TARGET_LABELS):
        truth, truth_error = training_set.label(key)
        ok = np.isfinite(truth)
        if not ok.any():
            continue
        k = model.tokenizer.keys.index(key)
        scale = model.tokenizer.std[k, 0]
        predicted = model.tokenizer.decode(mean[ok, r], key)
        sigma = std[ok, r] * scale
        total = np.sqrt(sigma**2 + np.nan_to_num(truth_error[ok]) ** 2)
        z = (predicted - truth[ok]) / total
        nll = 0.5 * (np.log(2 * np.pi * (total / scale) ** 2) + z**2)
        nlls.append(nll)
        if key in ("ln_mass", "ln_age"):
            name = "mass" if key == "ln_mass" else "age"
            residual = np.exp(predicted) - np.exp(truth[ok])
        else:
            name = key
            residual = predicted - truth[ok]
        out[name] = {"n": int(ok.sum()), "mad_std": float(mad_std(residual)), "std": float(np.std(residual)),
                     "bias": float(np.median(residual)), "coverage_1sigma": float(np.mean(np.abs(z) < 1)),
                     "nll": float(np.mean(nll))}
    out["nll"] = float(np.mean(np.concatenate(nlls))) if nlls else float("nan")
    return out


class Trainer:
    """Owns the model, optimiser, data tensors and the step loop.

    Args:
        model: The foundation model (tokenizer fitted).
        train_tokens: Training tokens.
        val_tokens: Validation tokens.
        val_set: Validation rows (for physical-unit metrics).
        config: Optimisation settings.
        run_dir: Folder for ``checkpoint.pt`` and ``metrics.jsonl``.
    """

    def __init__(self, model: FoundationModel, train_tokens: Tokens, val_tokens: Tokens, val_set: TrainingSet,
                 config: TrainConfig, run_dir: str | Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = torch.distributed.get_rank() if self.distributed else 0
        self.world = torch.distributed.get_world_size() if self.distributed else 1
        self.model = model
        self.network: torch.nn.Module = model
        if self.distributed:
            self.network = torch.nn.parallel.DistributedDataParallel(model)
        self.values = torch.from_numpy(train_tokens.values)
        self.errors = torch.from_numpy(train_tokens.errors)
        self.present = torch.from_numpy(train_tokens.present)
        self.val_tokens = val_tokens
        self.val_set = val_set
        if config.eval_stars is not None and len(val_set) > config.eval_stars:
            index = np.random.default_rng(config.seed).choice(len(val_set), config.eval_stars, replace=False)
            self.val_tokens = val_tokens.take(np.sort(index))
            self.val_set = val_set.subset(np.sort(index))
        self.plan = model.sampling_plan(config.main_fraction, config.max_requests)
        self.optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate,
                                           weight_decay=config.weight_decay)
        self.step = 0
        self.best_nll = float("inf")
        self.best_step = -1
        self.bad_evals = 0
        self.running_loss: float | None = None
        self.history: list[dict] = []

    # ------------------------------------------------------------------ batches
    def global_batch_rows(self, step: int) -> torch.Tensor:
        """Global batch rows of a step: an epoch permutation from ``(seed, epoch)`` (same on every rank)."""
        n = len(self.values)
        per_epoch = max(1, n // self.config.batch_size)
        epoch, position = divmod(step, per_epoch)
        permutation = torch.randperm(n, generator=step_generator(self.config.seed + 7919, epoch))
        return permutation[position * self.config.batch_size : (position + 1) * self.config.batch_size]

    def batch_rows(self, step: int) -> torch.Tensor:
        """This rank's shard of the global batch rows."""
        return self.global_batch_rows(step)[self.rank :: self.world]

    def loss_at(self, step: int) -> torch.Tensor:
        """The training loss of a step (deterministic in ``(seed, step)``).

        Contexts and requests are drawn for the whole global batch, then each rank takes its shard and
        returns ``world x (its NLL sum) / (valid targets in the global batch)``, so DDP's averaged gradient
        is exactly the single-process gradient of the global mean NLL.
        """
        rows = self.global_batch_rows(step)
        generator = step_generator(self.config.seed, step)
        context, request_ids = sample_batch(self.present[rows], self.plan, generator)  # (B, K), (B, R)
        _, _, valid_all = self.model.request_targets(self.values[rows], self.errors[rows], request_ids)
        total = valid_all.sum().clamp_min(1)
        shard = slice(self.rank, None, self.world)
        rows, context, request_ids = rows[shard], context[shard], request_ids[shard]
        values, errors = self.values[rows], self.errors[rows]
        torch.manual_seed(self.config.seed * 1_000_003 + step)  # dropout
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.bf16):
            out = self.network(values, context, request_ids)
        target, target_error, valid = self.model.request_targets(values, errors, request_ids)
        nll_sum = gaussian_nll(out.mean.float(), out.log_var.float(), target, target_error, valid) * \
            valid.sum().clamp_min(1)
        return nll_sum * self.world / total

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically (rank 0)."""
        if self.rank != 0:
            return
        state = {
            "model": self.model.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "step": self.step,
            "best_nll": self.best_nll,
            "best_step": self.best_step,
            "bad_evals": self.bad_evals,
            "running_loss": float("nan") if self.running_loss is None else self.running_loss,
            "history": json.dumps(self.history),
        }
        best = self.run_dir / "best.pt"
        with atomic_path(self.run_dir / "checkpoint.pt") as tmp:
            torch.save(state, tmp)
        if not best.exists():
            with atomic_path(best) as tmp:
                torch.save({"model": self.model.state_dict(), "step": self.step}, tmp)

    def load_checkpoint(self) -> bool:
        """Resume from ``checkpoint.pt`` if present (tensors and plain data only: ``weights_only``)."""
        path = self.run_dir / "checkpoint.pt"
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state["model"])
            self.optimiser.load_state_dict(state["optimiser"])
        except Exception as exc:  # torch raises RuntimeError, OSError, UnpicklingError, KeyError ...
            raise ModelFileError(f"{path}: checkpoint cannot be resumed with this model and bayesxp version "
                                 f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
        self.step = int(state["step"])
        self.best_nll = float(state["best_nll"])
        self.best_step = int(state["best_step"])
        self.bad_evals = int(state["bad_evals"])
        running = float(state.get("running_loss", float("nan")))
        self.running_loss = None if math.isnan(running) else running
        self.history = json.loads(state["history"])
        return True

    # ------------------------------------------------------------------ loop
    def train_step(self) -> float:
        """One optimiser step; returns its loss (under DDP the global batch's, averaged over the ranks: each
        rank's own value is only its shard's share)."""
        self.network.train()
        for group in self.optimiser.param_groups:
            group["lr"] = _learning_rate(self.step, self.config)
        loss = self.loss_at(self.step)
        self.optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimiser.step()
        self.step += 1
        value = loss.detach().clone()
        if self.world > 1:
            torch.distributed.all_reduce(value)
            value /= self.world
        return float(value)

    def evaluate(self) -> dict:
        """Validation metrics (rank 0 computes; the decision is shared with all ranks)."""
        metrics = evaluate_labels(self.model, self.val_tokens, self.val_set)
        improved = metrics["nll"] < self.best_nll - 1e-4
        if improved:
            self.best_nll, self.best_step, self.bad_evals = metrics["nll"], self.step, 0
            if self.rank == 0:
                with atomic_path(self.run_dir / "best.pt") as tmp:
                    torch.save({"model": self.model.state_dict(), "step": self.step}, tmp)
        else:
            self.bad_evals += 1
        return metrics

    def fit(self, progress: bool = True) -> dict:
        """Run until ``max_steps``, the time budget or early stopping; load the best weights.

        Returns:
            Summary: steps, best step, the validation metrics of the kept weights, seconds, samples per second.
        """
        from tqdm.auto import tqdm

        config = self.config
        resumed = self.load_checkpoint()
        start_time = time.perf_counter()
        start_step = self.step
        bar = tqdm(total=config.max_steps, initial=self.step, disable=not progress or self.rank != 0,
                   desc="train", unit="step", dynamic_ncols=True)
        stop = False
        best_metrics = next((h for h in reversed(self.history) if h.get("step") == self.best_step), None)
        while self.step < config.max_steps and not stop:
            loss = self.train_step()
            running = loss if self.running_loss is None else 0.98 * self.running_loss + 0.02 * loss
            self.running_loss = running
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", best=f"{self.best_nll:.3f}")
            if self.step % config.eval_every == 0 or self.step == config.max_steps:
                metrics = self.evaluate() if self.rank == 0 else {"nll": float("nan")}
                record = {"step": self.step, "train_loss": running, "lr": _learning_rate(self.step, config),
                          "seconds": time.perf_counter() - start_time, **metrics}
                self.history.append(record)
                if self.step == self.best_step:
                    best_metrics = record
                if self.rank == 0:
                    with open(self.run_dir / "metrics.jsonl", "a") as handle:
                        handle.write(json.dumps(record) + "\n")
                    if progress:
                        bar.write(_format_metrics(record))
                elapsed = (time.perf_counter() - start_time) / 60
                stop_flag = torch.tensor(float(self.bad_evals >= config.patience
                                               or (config.max_minutes is not None and elapsed >= config.max_minutes)))
                if self.distributed:
                    torch.distributed.broadcast(stop_flag, src=0)
                stop = bool(stop_flag.item())
                self.save_checkpoint()
        bar.close()
        seconds = time.perf_counter() - start_time
        best_path = self.run_dir / "best.pt"
        if config.keep == "last":
            best_metrics = next((h for h in reversed(self.history) if h.get("step") == self.step), best_metrics)
        elif best_path.is_file():
            try:
                self.model.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True)["model"])
            except Exception as exc:  # same as load_checkpoint
                raise ModelFileError(f"{best_path}: best weights cannot be read ({type(exc).__name__})") from exc
        return {"steps": self.step, "resumed": resumed, "best_step": self.best_step, "kept": config.keep,
                "validation": best_metrics, "seconds": seconds,
                "train_samples_per_second": (self.step - start_step) * config.batch_size / max(seconds, 1e-9)}


def _format_metrics(record: dict) -> str:
    parts = [f"step {record['step']}: train {record['train_loss']:.3f} val nll {record['nll']:.3f}"]
    for name in ("teff", "logg", "m_h", "mass", "age"):
        if name in record:
            m = record[name]
            parts.append(f"{name} {m['mad_std']:.3g} (cov {m['coverage_1sigma']:.2f})")
    return " | ".join(parts)


def build_model(training_set: TrainingSet, spec: ModelSpec) -> tuple[FoundationModel, Tokens, Tokens]:
    """Fit the tokenizer on the training split and encode train and validation stars.

    Args:
        training_set: The stars (``train`` and ``val`` splits used).
        spec: Token design and backbone sizes.

    Returns:
        ``(model, train_tokens, val_tokens)``: an untrained model with a fitted tokenizer.

    Example:
        >>> from bayesxp.model.backbone import BackboneConfig
        >>> from bayesxp.model.tokenizer import TokenizerConfig
        >>> stars = TrainingSet.synthetic(40, seed=0)
        >>> stars.split[30:] = "val"
        >>> spec = ModelSpec(TokenizerConfig(spectral="patch"), BackboneConfig(d_model=16, n_heads=2))
        >>> model, train_tokens, val_tokens = build_model(stars, spec)
        >>> len(train_tokens) + len(val_tokens)
        40
    """
    train, val = training_set.subset("train"), training_set.subset("val")
    tokenizer = Tokenizer(spec.tokenizer)
    tokenizer.fit(train.flux, train.flux_error, train.labels, train.label_error)
    model = FoundationModel(tokenizer, spec.backbone)
    train_tokens = tokenizer.encode(train.flux, train.flux_error, train.labels, train.label_error)
    val_tokens = tokenizer.encode(val.flux, val.flux_error, val.labels, val.label_error)
    return model, train_tokens, val_tokens


def label_only_tokens(tokenizer: Tokenizer, training_set: TrainingSet, data: DataConfig) -> tuple[Tokens, dict]:
    """Tokens of the seismic label-only examples (:attr:`RunConfig.label_only_seismic`): no spectral or
    photometric token; Teff, [M/H], [alpha/M] errors the training split's median label errors."""
    from bayesxp.io.library import read_library
    from bayesxp.labels.seismic_training import label_only_examples

    train = training_set.subset("train")
    typical = {name: float(np.nanmedian(train.label_error[:, LABELS.index(name)])) for name in ("teff", "m_h", "alpha_m")}
    library = read_library(Path(data.library) if data.library else None)
    table, counts = label_only_examples(library.meta, typical, data_dir=data.data_dir)
    labels = np.full((len(table), len(LABELS)), np.nan, np.float32)
    errors = np.full_like(labels, np.nan)
    for name in TARGET_LABELS:
        labels[:, LABELS.index(name)] = table[name].to_numpy(float)
        errors[:, LABELS.index(name)] = table[f"{name}_err"].to_numpy(float)
    return tokenizer.encode(None, None, labels, errors), counts  # no spectrum: spectral tokens absent


def build_once(build: Callable[[bool], T]) -> T:
    """Run ``build(quiet)`` on rank 0 first, then on the other DDP ranks (one process: just run it).

    Under DDP every rank needs the training set, but a cold cache must be built once: two ranks building it
    at the same time would both write it. Rank 0 builds (writing the cache), the ranks meet at a barrier, then
    the others build quietly from the warm cache. Without a process group this is ``build(False)``.

    Args:
        build: Called with ``quiet`` (True on ranks other than 0).

    Returns:
        What ``build`` returned on this rank.

    Example:
        >>> build_once(lambda quiet: "built")
        'built'
    """
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if not distributed or torch.distributed.get_world_size() == 1:
        return build(False)
    rank = torch.distributed.get_rank()
    result = build(False) if rank == 0 else None
    torch.distributed.barrier()
    return result if rank == 0 else build(True)


def train_run(config: RunConfig, progress: bool = True, training_set: TrainingSet | None = None) -> dict:
    """Train a foundation model end to end and write the model folder ``<output>/model``.

    Args:
        config: The run.
        progress: Show the progress bar and per-evaluation lines.
        training_set: Use this set instead of building one from ``config.data`` (tests).

    Returns:
        The training summary (also in the model manifest).

    Example:
        >>> summary = train_run(load_config(RunConfig, "configs/model.yaml"))  # doctest: +SKIP
    """
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    if training_set is None:
        training_set = build_once(lambda quiet: build_training_set(config.data, progress=progress and not quiet))
    # seeded after the training set: building it (label transfer) draws from torch's global RNG, so a cold cache
    # would otherwise change the initial weights
    torch.manual_seed(config.train.seed)
    model, train_tokens, val_tokens = build_model(training_set, config.model)
    label_only = None
    if config.label_only_seismic:
        extra, label_only = label_only_tokens(model.tokenizer, training_set, config.data)
        train_tokens = Tokens(*(np.concatenate([getattr(train_tokens, k), getattr(extra, k)])
                                for k in ("values", "errors", "present")))
    output = Path(config.output)
    trainer = Trainer(model, train_tokens, val_tokens, training_set.subset("val"), config.train, output)
    if trainer.rank == 0:
        save_config(config, output / "run_config.yaml")
    summary = trainer.fit(progress=progress)
    summary["parameters"] = sum(p.numel() for p in model.parameters())
    summary["n_train"] = len(train_tokens) - (label_only["n_stars"] if label_only else 0)
    if label_only:
        summary["label_only_seismic"] = label_only
    if trainer.rank == 0:
        save_foundation(model, output / "model", summary=summary)
        with atomic_path(output / "summary.json") as tmp:
            tmp.write_text(json.dumps(summary, indent=2, default=str))
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m bayesxp.model.train --config FILE`` (also under ``torchrun``).

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success.

    Example:
        >>> main(["--config", "configs/model.yaml", "--quiet"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(description="train the bayesxp foundation model")
    parser.add_argument("--config", required=True, help="YAML filling RunConfig")
    parser.add_argument("--output", default=None, help="override the run folder")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    overrides = {"output": args.output} if args.output else {}
    config = load_config(RunConfig, args.config, **overrides)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    try:
        summary = train_run(config, progress=not args.quiet)
        if not distributed or torch.distributed.get_rank() == 0:
            print(json.dumps({k: v for k, v in summary.items() if k != "validation"}, default=str))
    finally:
        if distributed:
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
