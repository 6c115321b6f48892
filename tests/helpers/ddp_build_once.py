"""Which DDP rank builds the training set when: run under torchrun by ``tests/model/test_model_training.py``.

Usage::

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/helpers/ddp_build_once.py OUT

Each rank calls :func:`bayesxp.model.train.build_once` with a stand-in build that records its start and end
times (rank 0's build takes 1.5 s, as a cold cache would take minutes), then, after a barrier, calls the same
build directly: every rank at once, the defect the test must catch. Rank ``r`` writes ``OUT/rank<r>.json``:
``{"ok": record, "racing": record}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from bayesxp.model.train import build_once


def main(out: Path) -> None:
    torch.distributed.init_process_group(backend="gloo")
    rank = torch.distributed.get_rank()
    records = {"ok": {}, "racing": {}}

    def builder(record: dict):  # noqa: ANN202
        def build(quiet: bool) -> str:
            record["start"], record["quiet"] = time.time(), quiet
            time.sleep(1.5 if rank == 0 else 0.0)
            record["end"] = time.time()
            return f"set of rank {rank}"
        return build

    records["ok"]["result"] = build_once(builder(records["ok"]))
    torch.distributed.barrier()
    records["racing"]["result"] = builder(records["racing"])(False)
    (out / f"rank{rank}.json").write_text(json.dumps(records))
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
