"""Data-parallel training of the digits example with torchrun (gloo on CPU, 127.0.0.1).

:func:`launch` runs ``python -m torch.distributed.run`` with ``nproc`` processes on this machine;
each runs :func:`main`: it joins the process group, trains with ``data_parallel=True`` (every
rank takes its share of every batch; gradients summed over the ranks: the global batch and the
learning rate are the ones asked for) and rank 0 writes the checkpoint and a summary JSON. For
several machines, run torchrun yourself (docs/scale-out.md).
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


def launch(out, nproc: int, epochs: int | None = None, seed: int | None = None) -> dict:
    """Train the digits example on ``nproc`` local processes; returns rank 0's summary."""
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    with tempfile.TemporaryDirectory(prefix="snn-deploy-ddp-") as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
            "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
            "--master-port", str(_free_port()), "-m", "snn_deploy.scaleout.ddp",
            "--out", str(Path(out).resolve()), "--summary", str(summary),
        ]  # fmt: skip
        cmd += ["--epochs", str(epochs)] if epochs is not None else []
        cmd += ["--seed", str(seed)] if seed is not None else []
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

    from snn_deploy.train.recipes import train_digits

    ap = argparse.ArgumentParser(prog="snn_deploy.scaleout.ddp")
    ap.add_argument("--out", required=True)
    ap.add_argument("--summary")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--seed", type=int)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        kwargs = {
            k: v for k, v in {"epochs": args.epochs, "seed": args.seed}.items() if v is not None
        }
        result = train_digits(args.out, data_parallel=True, log=lambda line: None, **kwargs)
        if dist.get_rank() == 0 and args.summary:
            result["processes"] = dist.get_world_size()
            Path(args.summary).write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
