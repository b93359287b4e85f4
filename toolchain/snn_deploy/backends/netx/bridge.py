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
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_deploy.backends.sidecar import SideEnv, failure
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


NETX_ENV = SideEnv(
    "netx", ".venv-netx", ENV_VAR, needs="it needs Python 3.10", provides="lava-dl 0.6.0"
)
netx_python = NETX_ENV.python
netx_unavailable_reason = NETX_ENV.unavailable_reason


def _call(args: list[str], cwd: Path, timeout_s: float, what: str) -> None:
    reason = netx_unavailable_reason()
    if reason:
        raise BackendError("cannot run the netx backend: " + reason)
    proc = NETX_ENV.run(["-W", "ignore", *args], cwd, timeout_s, what)
    if proc.returncode != 0:
        raise failure(proc, what)


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
