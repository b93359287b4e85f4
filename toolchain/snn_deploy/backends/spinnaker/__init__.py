"""SpiNNaker backends: PyNN scripts for sPyNNaker (SpiNNaker 1) and a software PyNN backend.

The scripts run in their own environment, ``.venv-pynn`` (``scripts/setup-pynn-env``,
``requirements/pynn.txt``): sPyNNaker 1!7.4.1, PyNN 0.13.0 and Brian 2 2.9.0, which needs an
older numpy than snn-deploy's. ``run_in_pynn_env`` runs one of them there.
"""

from __future__ import annotations

from pathlib import Path

from snn_deploy.backends.sidecar import SideEnv
from snn_deploy.errors import BackendError

ENV_VAR = "SNN_DEPLOY_PYNN_PYTHON"
SPYNNAKER_CFG = "[Machine]\nvirtual_board = True\nversion = 5\n"


PYNN_ENV = SideEnv("PyNN", ".venv-pynn", ENV_VAR)
pynn_python = PYNN_ENV.python
pynn_unavailable_reason = PYNN_ENV.unavailable_reason


def run_in_pynn_env(args: list[str], cwd: Path, home: Path, timeout_s: float = 600):
    """Run ``python ARGS`` in .venv-pynn with ``home`` as $HOME, where sPyNNaker finds a
    ``.spynnaker.cfg`` that selects a virtual board (mapping and data generation, no board)."""
    reason = pynn_unavailable_reason()
    if reason:
        raise BackendError("cannot run PyNN: " + reason)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".spynnaker.cfg").write_text(SPYNNAKER_CFG)
    return PYNN_ENV.run(args, cwd, timeout_s, "PyNN", env={"HOME": str(home)})
