"""Data-parallel training of the recipes with torchrun (gloo on CPU, 127.0.0.1).

:func:`launch` runs ``python -m torch.distributed.run`` with ``nproc`` processes on this machine;
each runs :func:`main`: it joins the process group, trains a recipe (:data:`RECIPES`: the digits
MLP, or sequential digits with BPTT, TBPTT or FPTT through ``fit``) with ``data_parallel=True``
(every rank takes its share of every batch; gradients summed over the ranks: the global batch
and the learning rate are the ones asked for) and rank 0 writes the checkpoint and a summary
JSON. Any model trained with :func:`snn_deploy.train.algorithms.fit` runs the same way: call it
with ``data_parallel=True`` after ``torch.distributed.init_process_group``. For several
machines, run torchrun yourself (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from snn_deploy.errors import BackendError, UsageError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


RECIPES = ("digits", "sequential-digits")


def launch(
    out,
    nproc: int,
    epochs: int | None = None,
    seed: int | None = None,
    *,
    recipe: str = "digits",
    algorithm: str | None = None,
    chunk_steps: int | None = None,
) -> dict:
    """Train ``recipe`` on ``nproc`` local processes; returns rank 0's summary.
    ``algorithm`` and ``chunk_steps`` are those of sequential digits (``fit``)."""
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    if recipe not in RECIPES:
        raise UsageError(f"unknown recipe {recipe!r}", hint=f"use one of {', '.join(RECIPES)}")
    with tempfile.TemporaryDirectory(prefix="snn-deploy-ddp-") as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
            "--master-port", str(_free_port()), "-m", "snn_deploy.scaleout.ddp",
            "--out", str(Path(out).resolve()), "--summary", str(summary),
        ]  # fmt: skip
        cmd += ["--recipe", recipe]
        cmd += ["--epochs", str(epochs)] if epochs is not None else []
        cmd += ["--seed", str(seed)] if seed is not None else []
        cmd += ["--algorithm", algorithm] if algorithm is not None else []
        cmd += ["--chunk-steps", str(chunk_steps)] if chunk_steps is not None else []
        env = {
            **os.environ,
            "GLOO_SOCKET_IFNAME": "lo",
            "OMP_NUM_THREADS": "1",
            "TMPDIR": tmp,
        }
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not summary.is_file():
            lines = [x for x in (proc.stderr or proc.stdout).splitlines() if x.strip()]
            last = lines[-1].strip()[:300] if lines else f"exit code {proc.returncode}"
            raise BackendError(
                f"data-parallel training with {nproc} processes failed: {last}",
                hint="run it again with --nproc 1 to see the error of one process",
            )
        return json.loads(summary.read_text())


def main(argv: list[str] | None = None) -> int:
    """One rank of a torchrun job (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` set by torchrun)."""
    import torch
    import torch.distributed as dist

    from snn_deploy.train.recipes import train_digits, train_sequential_digits

    ap = argparse.ArgumentParser(prog="snn_deploy.scaleout.ddp")
    ap.add_argument("--out", required=True)
    ap.add_argument("--summary")
    ap.add_argument("--recipe", choices=RECIPES, default="digits")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--algorithm", choices=("bptt", "tbptt", "fptt"))
    ap.add_argument("--chunk-steps", type=int)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        given = {
            "epochs": args.epochs,
            "seed": args.seed,
            "algorithm": args.algorithm,
            "chunk_steps": args.chunk_steps,
        }
        kwargs = {k: v for k, v in given.items() if v is not None}
        train = train_digits if args.recipe == "digits" else train_sequential_digits
        if args.recipe == "digits" and {"algorithm", "chunk_steps"} & set(kwargs):
            raise UsageError("--algorithm and --chunk-steps are options of sequential-digits")
        result = train(args.out, data_parallel=True, log=lambda line: None, **kwargs)
        if dist.get_rank() == 0 and args.summary:
            result["processes"] = dist.get_world_size()
            Path(args.summary).write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
