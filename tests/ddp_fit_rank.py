"""One rank of the data-parallel ``fit`` test (started by torchrun from test_scaleout.py, or
called in-process with ``world=1``): a small recurrent network in float64 on a synthetic task,
trained with ``fit(..., data_parallel=...)``; writes its parameters and epoch records."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from snn_deploy.train.algorithms import fit
from snn_deploy.train.recipes import sequential_digits_network

SAMPLES, STEPS, INPUTS = 97, 12, 8  # 97 = 3 batches of 32 and one of 1: an empty share


def task():
    rng = np.random.default_rng(0)
    x = (rng.random((SAMPLES, STEPS, INPUTS)) < 0.3).astype(np.float64)
    y = (x[:, :, :4].sum((1, 2)) > x[:, :, 4:].sum((1, 2))).astype(np.int64)
    return x, y


def train(algorithm: str, data_parallel: bool) -> tuple[dict, list[dict]]:
    torch.set_num_threads(1)
    model = sequential_digits_network(INPUTS, 16, seed=0).double()
    x, y = task()
    history = fit(
        model,
        x,
        y,
        algorithm=algorithm,
        readout="last_membrane",
        epochs=2,
        lr=5e-3,
        batch_size=32,
        seed=0,
        chunk_steps=None if algorithm == "bptt" else 4,
        clip_grad=1.0,
        lr_schedule="cosine",
        on_epoch=lambda rec: None,
        data_parallel=data_parallel,
    )
    return model.state_dict(), history


def main(out: str, algorithm: str) -> int:
    import torch.distributed as dist

    dist.init_process_group("gloo")
    try:
        state, history = train(algorithm, data_parallel=True)
        rank = dist.get_rank()
        torch.save(state, Path(out) / f"rank{rank}.pt")
        records = [{k: v for k, v in r.items() if k != "seconds"} for r in history]
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(records))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
