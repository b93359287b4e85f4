"""Main-process side of the xylosim check: one job file out, one result file in, one subprocess.

``run_xylosim(cfg, x)`` runs a Xylo configuration on spike counts in xylosim 0.1.3 (in
``.venv-xylo``) and returns a :class:`XyloRun` of its spike counts and recorded states;
``verify(ours, theirs)`` compares two runs integer for integer and raises VerificationError with
the number of mismatches and the first ones.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from snn_deploy.backends.emulator.xylo import XyloRun, check_counts
from snn_deploy.backends.sidecar import REPO_ROOT, SideEnv, failure
from snn_deploy.backends.xylo.config import ARRAYS, XyloConfig
from snn_deploy.errors import BackendError, VerificationError

RUNNER = Path(__file__).with_name("runner.py")
ENV_VAR = "SNN_DEPLOY_XYLO_PYTHON"
FIELDS = ("spikes", "out_spikes", "i_syn", "v", "i_out", "v_out")


XYLO_ENV = SideEnv(
    "xylosim",
    ".venv-xylo",
    ENV_VAR,
    needs="xylosim 0.1.3 needs Python 3.7-3.10",
    provides="xylosim 0.1.3",
)
xylo_python = XYLO_ENV.python
xylosim_unavailable_reason = XYLO_ENV.unavailable_reason


def repo_root() -> Path:
    return REPO_ROOT


def run_xylosim(
    cfg: XyloConfig, x, record: bool = True, timeout_s: float = 1800
) -> tuple[XyloRun, np.ndarray]:
    """xylosim's run of ``cfg`` on counts ``x`` (samples, steps, inputs), each sample from a
    reset state, and the seconds each sample's ``evolve`` took."""
    reason = xylosim_unavailable_reason()
    if reason:
        raise BackendError("cannot run xylosim: " + reason)
    x = check_counts(cfg, x)
    arrays = {name: getattr(cfg, name) for name in ARRAYS}
    header = {"shift_in": cfg.shift_in, "shift_rec": cfg.shift_rec, "shift_out": cfg.shift_out}
    header["record"] = record
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    arrays["x"] = x
    with tempfile.TemporaryDirectory(prefix="snn-deploy-xylo-") as tmp:
        job, result = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
        np.savez(job, **arrays)
        proc = XYLO_ENV.run([str(RUNNER), str(job), str(result)], Path(tmp), timeout_s, "xylosim")
        if proc.returncode != 0 or not result.is_file():
            raise failure(proc, "the xylosim runner")
        with np.load(result, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    seconds = out.pop("seconds")
    states = {k: out[k].astype(np.int64) for k in ("i_syn", "v", "i_out", "v_out")}
    if not record:
        states = {}
    return XyloRun(spikes=out["spikes"], out_spikes=out["out_spikes"], **states), seconds


def mismatches(ours: XyloRun, theirs: XyloRun) -> dict[str, tuple[int, list]]:
    """Per field, the number of differing entries and the first five (index, ours, theirs)."""
    out = {}
    for name in FIELDS:
        a, b = getattr(ours, name), getattr(theirs, name)
        if a is None or b is None:
            continue
        if a.shape != b.shape:
            out[name] = (max(a.size, b.size), [f"shape {a.shape} vs {b.shape}"])
            continue
        bad = np.argwhere(a.astype(np.int64) != b.astype(np.int64))
        if len(bad):
            first = [
                (tuple(int(i) for i in ix), int(a[tuple(ix)]), int(b[tuple(ix)])) for ix in bad[:5]
            ]
            out[name] = (len(bad), first)
    return out


def verify(ours: XyloRun, theirs: XyloRun) -> dict[str, int]:
    """Raise VerificationError unless every spike count and recorded state agrees; else return
    the number of values compared per field."""
    bad = mismatches(ours, theirs)
    if bad:
        name, (count, first) = next(iter(bad.items()))
        raise VerificationError(
            f"xylosim and the snn-deploy emulator differ in {count:,} value(s) of '{name}' "
            f"(and {len(bad) - 1} other field(s)); first (index, ours, xylosim): {first}",
            hint="please report this with the artifact folder: it is a bug of snn-deploy",
        )
    return {n: int(getattr(ours, n).size) for n in FIELDS if getattr(theirs, n) is not None}


def verify_network(qnet, num, inputs: dict, chip_steps: int) -> tuple[str, float]:
    """Run a compiled Xylo network in xylosim and in the compiled kernel on ``inputs`` for
    ``chip_steps`` steps; raise VerificationError on any difference, else return the sentence
    the summary prints and xylosim's seconds."""
    from snn_deploy.backends.emulator.compiled.xylo import run_xylo_compiled
    from snn_deploy.backends.xylo.config import config_from_network

    cfg = config_from_network(qnet)
    x = np.asarray(inputs[qnet.inputs[0].name])
    counts = np.zeros((x.shape[0], chip_steps, cfg.n_in), np.uint8)
    n = min(chip_steps, x.shape[1])
    counts[:, :n] = np.clip(x[:, :n], 0, 255).astype(np.uint8)
    theirs, seconds = run_xylosim(cfg, counts)
    compared = verify(run_xylo_compiled(cfg, num, counts), theirs)
    states = sum(v for k, v in compared.items() if k not in ("spikes", "out_spikes"))
    spikes = int(theirs.spikes.sum()) + int(theirs.out_spikes.sum())
    return (
        f"verified: xylosim 0.1.3 and the snn-deploy emulator agree on all {spikes:,} spikes and "
        f"on {states:,} synaptic currents and membrane potentials (every neuron, every step)",
        float(seconds.sum()),
    )
