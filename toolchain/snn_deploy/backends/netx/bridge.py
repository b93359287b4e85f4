"""Main-process side of the netx backend: run ``run_loihi2.py`` in ``.venv-netx`` on files.

``.venv-netx`` (Python 3.10, lava-nc 0.10.0, lava-dl 0.6.0; ``make netx-env``) is the Lava
environment plus lava-dl, kept apart from ``.venv-lava`` because lava-dl pulls torch. The
interpreter is ``.venv-netx/bin/python``, or ``$SNN_DEPLOY_NETX_PYTHON``.

``run_netx_script`` runs an artifact folder's own ``run_loihi2.py`` as a user would (one network);
``run_netx_batch`` runs several networks in one subprocess (importing netx costs seconds) through
``batch.py``, which imports the same ``run_loihi2.py`` and calls its ``run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_deploy.errors import BackendError

ENV_VAR = "SNN_DEPLOY_NETX_PYTHON"
HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "run_loihi2.py"
BATCH = HERE / "batch.py"


@dataclass(frozen=True)
class NetxJob:
    """``net`` (a network.net) run on ``x`` (samples, steps, inputs) 0/1 for ``steps`` steps."""

    net: Path
    x: np.ndarray
    steps: int


def netx_python() -> Path | None:
    env = os.environ.get(ENV_VAR)
    root = Path(__file__).resolve().parents[4]
    c = Path(env) if env else root / ".venv-netx" / "bin" / "python"
    return c if c.is_file() and os.access(c, os.X_OK) else None


def netx_unavailable_reason() -> str | None:
    """None if the netx backend can run, else why not (for skips and error messages)."""
    py = netx_python()
    if py is None:
        return (
            "the netx environment .venv-netx does not exist (it needs Python 3.10); run "
            "`make netx-env`, or set SNN_DEPLOY_NETX_PYTHON to a Python with lava-dl 0.6.0"
        )
    if not os.environ.get(ENV_VAR) and not (py.parent.parent / ".installed").is_file():
        return f"the netx environment {py.parent.parent} is incomplete; run `make netx-env`"
    return None


def _call(args: list[str], cwd: Path, timeout_s: float, what: str) -> None:
    reason = netx_unavailable_reason()
    if reason:
        raise BackendError("cannot run the netx backend: " + reason)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    try:
        proc = subprocess.run(
            [str(netx_python()), "-W", "ignore", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"{what} did not finish within {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise BackendError(
            f"{what} failed (exit code {proc.returncode}):\n    " + "\n    ".join(tail)
        )


def _load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k[len("spikes_") :]: z[k].astype(bool) for k in z.files if k.startswith("spikes_")}


def run_netx_script(script: Path, job: NetxJob, timeout_s: float = 3600) -> dict[str, np.ndarray]:
    """``python script NET --data X --steps N --run-config sim``: {population: spikes}."""
    with tempfile.TemporaryDirectory(prefix="snn-deploy-netx-") as tmp:
        tmp = Path(tmp)
        np.savez(tmp / "x.npz", x=np.asarray(job.x).astype(np.uint8))
        args = [
            str(Path(script).resolve()),
            str(Path(job.net).resolve()),
            "--data",
            "x.npz",
            "--out",
            "out.npz",
            "--steps",
            str(job.steps),
            "--run-config",
            "sim",
        ]
        _call(args, tmp, timeout_s, f"{Path(script).name}")
        return _load(tmp / "out.npz")


def run_netx_batch(
    jobs: list[NetxJob], script: Path = SCRIPT, timeout_s: float = 3600
) -> list[dict[str, np.ndarray]]:
    """Every job in one subprocess (``batch.py`` imports ``script`` and calls its ``run``)."""
    with tempfile.TemporaryDirectory(prefix="snn-deploy-netx-") as tmp:
        tmp = Path(tmp)
        entries = []
        for i, job in enumerate(jobs):
            np.savez(tmp / f"x{i}.npz", x=np.asarray(job.x).astype(np.uint8))
            entries.append(
                {
                    "net": str(Path(job.net).resolve()),
                    "data": f"x{i}.npz",
                    "steps": job.steps,
                    "out": f"out{i}.npz",
                }
            )
        (tmp / "jobs.json").write_text(
            json.dumps({"script": str(Path(script).resolve()), "jobs": entries})
        )
        _call([str(BATCH), "jobs.json"], tmp, timeout_s, "the netx batch runner")
        return [_load(tmp / e["out"]) for e in entries]
