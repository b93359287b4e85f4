"""Side environments: interpreters of their own (``.venv-lava``, ``.venv-netx``, ``.venv-xylo``,
``.venv-pynn``) in which a backend runs one script as a subprocess, exchanging plain files
(npz, NIR, HDF5) with the main process. One :class:`SideEnv` per environment finds its
interpreter, says why it cannot run, and runs a script with the main process's Python paths
removed, a timeout and one-line errors."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from snn_deploy.errors import BackendError

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class SideEnv:
    """``folder`` under the repository (``make <name>-env`` creates it and stamps it
    ``.installed``), or the interpreter named by ``env_var``; ``needs`` and ``provides`` complete
    the message where it is missing."""

    title: str
    folder: str
    env_var: str
    needs: str = ""
    provides: str = ""

    def python(self) -> Path | None:
        """The environment's interpreter, or None when there is none."""
        env = os.environ.get(self.env_var)
        c = Path(env) if env else REPO_ROOT / self.folder / "bin" / "python"
        return c if c.is_file() and os.access(c, os.X_OK) else None

    def unavailable_reason(self) -> str | None:
        """None if the environment can run, else why not (for skips and error messages)."""
        make = f"`make {self.folder.removeprefix('.venv-')}-env`"
        py = self.python()
        if py is None:
            needs = f" ({self.needs})" if self.needs else ""
            instead = f", or set {self.env_var} to a Python with {self.provides}"
            return (
                f"the {self.title} environment {self.folder} does not exist{needs}; run {make}"
                + (instead if self.provides else "")
            )
        if not os.environ.get(self.env_var) and not (py.parent.parent / ".installed").is_file():
            return f"the {self.title} environment {py.parent.parent} is incomplete; run {make}"
        return None

    def run(
        self,
        args: list[str],
        cwd: Path,
        timeout_s: float,
        slow: str,
        env: dict | None = None,
    ) -> subprocess.CompletedProcess:
        """``python ARGS`` in this environment (working directory ``cwd``, without the main
        process's PYTHONPATH/PYTHONHOME, plus ``env``); past ``timeout_s`` one BackendError
        saying that ``slow`` did not finish."""
        full = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        full.update(env or {})
        try:
            return subprocess.run(
                [str(self.python()), *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                env=full,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            raise BackendError(f"{slow} did not finish within {timeout_s:.0f} s") from None


def failure(proc: subprocess.CompletedProcess, what: str) -> BackendError:
    """The error for a script that failed: its exit code and the end of its output."""
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
    return BackendError(f"{what} failed (exit code {proc.returncode}):\n    " + "\n    ".join(tail))
