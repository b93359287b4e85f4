"""SpiNNaker backends: PyNN scripts for sPyNNaker (SpiNNaker 1) and a software PyNN backend.

The scripts run in their own environment, ``.venv-pynn`` (``scripts/setup-pynn-env``,
``requirements/pynn.txt``): sPyNNaker 1!7.4.1, PyNN 0.13.0 and Brian 2 2.9.0, which needs an
older numpy than snn-deploy's. ``run_in_pynn_env`` runs one of them there.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from snn_deploy.errors import BackendError

ENV_VAR = "SNN_DEPLOY_PYNN_PYTHON"
VENV = Path(__file__).resolve().parents[4] / ".venv-pynn"
SPYNNAKER_CFG = "[Machine]\nvirtual_board = True\nversion = 5\n"


def pynn_python() -> Path | None:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    py = VENV / "bin" / "python"
    return py if py.is_file() else None


def pynn_unavailable_reason() -> str | None:
    """None if the PyNN environment can run the scripts, else why not."""
    py = pynn_python()
    if py is None:
        return "the PyNN environment .venv-pynn does not exist; run `make pynn-env`"
    if not os.environ.get(ENV_VAR) and not (py.parent.parent / ".installed").is_file():
        return f"the PyNN environment {py.parent.parent} is incomplete; run `make pynn-env`"
    return None


def run_in_pynn_env(args: list[str], cwd: Path, home: Path, timeout_s: float = 600):
    """Run ``python ARGS`` in .venv-pynn with ``home`` as $HOME, where sPyNNaker finds a
    ``.spynnaker.cfg`` that selects a virtual board (mapping and data generation, no board)."""
    reason = pynn_unavailable_reason()
    if reason:
        raise BackendError("cannot run PyNN: " + reason)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".spynnaker.cfg").write_text(SPYNNAKER_CFG)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["HOME"] = str(home)
    try:
        return subprocess.run(
            [str(pynn_python()), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=cwd,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise BackendError(f"PyNN did not finish within {timeout_s:.0f} s") from None
