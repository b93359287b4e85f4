"""Main-process side of the Lava backend: job files out, results in, one subprocess per call.

``run_lava(jobs)`` runs several integer networks in one subprocess (Lava's import and process
spawning cost about a second; see loihi2-lava.md section 7). A batch of samples becomes one
network of ``batch`` independent copies (block-diagonal ``Sparse`` weights), which is exact
because copies never exchange spikes. A population split into groups (``quantize/groups.py``)
runs as one ``LIF`` process per group; its spikes and final states come back in the population's
own neuron order.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.backends.sidecar import SideEnv, failure
from snn_deploy.errors import BackendError, UnsupportedError
from snn_deploy.ir.simulate import check_inputs, input_arrays
from snn_deploy.quantize.groups import merge_groups, split_groups
from snn_deploy.quantize.network import QuantizedNetwork

RUNNER = Path(__file__).with_name("runner.py")
ENV_VAR = "SNN_DEPLOY_LAVA_PYTHON"


@dataclass(frozen=True)
class LavaJob:
    """One network run: ``inputs`` name -> (batch, steps, size) spikes, ``num_steps`` steps."""

    qnet: QuantizedNetwork
    inputs: dict
    num_steps: int
    record: bool = True
    blocks: tuple[int, ...] = ()


LAVA_ENV = SideEnv(
    "Lava", ".venv-lava", ENV_VAR, needs="it needs Python 3.10", provides="lava-nc 0.10.0"
)
lava_python = LAVA_ENV.python
lava_unavailable_reason = LAVA_ENV.unavailable_reason


def exchange(
    runner: Path, header: dict, arrays: dict, workdir: Path, timeout_s: float, what: str
) -> tuple[dict, list]:
    """Write ``header`` and ``arrays`` to ``workdir/job.npz``, run ``runner`` on it in
    ``.venv-lava`` (working directory ``workdir``: Lava writes logs and caches there) and return
    the arrays of ``result.npz`` and the runner's timings; a failure is one BackendError with
    the end of the runner's output."""
    arrays = {**arrays, "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    job_path, out_path = workdir / "job.npz", workdir / "result.npz"
    np.savez(job_path, **arrays)
    proc = LAVA_ENV.run([str(runner), str(job_path), str(out_path)], workdir, timeout_s, "Lava")
    if proc.returncode != 0 or not out_path.is_file():
        raise failure(proc, what)
    with np.load(out_path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    return out, json.loads(bytes(out.pop("header")).decode())["timings"]


def run_lava(jobs: list[LavaJob], timeout_s: float = 1800) -> tuple[list[EmulationResult], list]:
    """Run every job in Lava; returns one result per job and the runner's timings."""
    reason = lava_unavailable_reason()
    if reason:
        raise BackendError("cannot run the Lava backend: " + reason)
    header, arrays, layouts = {"networks": []}, {}, []
    split = [_replace_qnet(job, split_groups(job.qnet)) for job in jobs]
    for i, job in enumerate(split):
        net, layout = _encode(job, f"net{i}_", arrays)
        header["networks"].append(net)
        layouts.append(layout)
    with tempfile.TemporaryDirectory(prefix="snn-deploy-lava-") as tmp:
        out, timings = exchange(RUNNER, header, arrays, Path(tmp), timeout_s, "the Lava runner")
    results = [
        merge_groups(job.qnet, _decode(part, layout, f"net{i}_", out))
        for i, (job, part, layout) in enumerate(zip(jobs, split, layouts, strict=True))
    ]
    return results, timings


def _replace_qnet(job: LavaJob, qnet: QuantizedNetwork) -> LavaJob:
    return LavaJob(qnet, job.inputs, job.num_steps, job.record, job.blocks)


def _uniform(pop, name: str) -> int:
    values = np.unique(getattr(pop.params, name))
    if values.size != 1:
        raise UnsupportedError(
            f"population '{pop.name}': Lava's LIF takes one {name} per population, "
            f"this one has {values.size} different values",
            hint="compile it again with `snn-deploy compile`, which splits such populations",
        )
    return int(values[0])


def check_arithmetic(qnet: QuantizedNetwork) -> None:
    """The Lava backend runs the Loihi family's arithmetic only."""
    if qnet.arithmetic != "loihi":
        raise UnsupportedError(f"the Lava backend runs Loihi arithmetic, not {qnet.arithmetic!r}")


def _encode(job: LavaJob, prefix: str, arrays: dict):
    qnet = job.qnet
    check_arithmetic(qnet)
    steps = int(job.num_steps)
    batch, _ = check_inputs(qnet, job.inputs)
    x_all = input_arrays(qnet, job.inputs, steps, {i.name: i.shift_steps for i in qnet.inputs})
    net = {
        "num_steps": steps,
        "record": job.record,
        "inputs": [],
        "populations": [],
        "projections": [],
    }
    if job.blocks:
        net["blocks"] = list(job.blocks)
    for inp in qnet.inputs:
        x = x_all[inp.name]  # (batch, steps, n)
        # sample-major layout: neuron i of sample b sits at b * size + i
        data = x.transpose(0, 2, 1).reshape(batch * inp.size, steps).astype(np.int32)
        arrays[prefix + "in_" + inp.name] = data
        net["inputs"].append({"name": inp.name, "size": batch * inp.size})
    for j, pop in enumerate(qnet.populations):
        net["populations"].append(
            {
                "name": pop.name,
                "size": batch * pop.size,
                "du": _uniform(pop, "du"),
                "dv": _uniform(pop, "dv"),
                "vth": _uniform(pop, "vth"),
            }
        )
        arrays[f"{prefix}pop{j}_bias_mant"] = np.tile(pop.params.bias_mant, batch).astype(np.int16)
        arrays[f"{prefix}pop{j}_bias_exp"] = np.tile(pop.params.bias_exp, batch).astype(np.int16)
    for j, proj in enumerate(qnet.projections):
        if batch > 1 and proj.delay_steps > 1:
            raise UnsupportedError(
                f"projection '{proj.name}' has a {proj.delay_steps}-step delay; the Lava backend "
                "runs such networks one sample at a time",
                hint="run the Lava backend with a batch of one sample",
            )
        entry = {}
        if sp.issparse(proj.weight):
            w = proj.weight
            entry["sparse_shape"] = list(w.shape)
            arrays[f"{prefix}proj{j}_data"] = w.data.astype(np.int32)
            arrays[f"{prefix}proj{j}_indices"] = w.indices.astype(np.int64)
            arrays[f"{prefix}proj{j}_indptr"] = w.indptr.astype(np.int64)
        else:
            arrays[f"{prefix}proj{j}_w"] = np.asarray(proj.weight).astype(np.int32)
        net["projections"].append(
            {
                **entry,
                "name": proj.name,
                "source": proj.source,
                "target": proj.target,
                "weight_exp": proj.params.weight_exp,
                "num_weight_bits": proj.params.num_weight_bits,
                "sign_mode": proj.params.sign_mode,
                "delay": proj.delay_steps,
                "batch": batch,
            }
        )
    return net, {"batch": batch}


def _decode(job: LavaJob, layout: dict, prefix: str, out: dict) -> EmulationResult:
    batch, steps = layout["batch"], int(job.num_steps)
    spikes, final = {}, {}
    for pop in job.qnet.populations:
        n = pop.size
        if job.record:
            s = out[prefix + "spikes_" + pop.name].astype(bool)  # (batch * n, steps)
            spikes[pop.name] = s.reshape(batch, n, steps).transpose(0, 2, 1)
        final[pop.name] = {
            "u": out[prefix + "u_" + pop.name].reshape(batch, n),
            "v": out[prefix + "v_" + pop.name].reshape(batch, n),
        }
    return EmulationResult(spikes=spikes, final_state=final, num_steps=steps)
