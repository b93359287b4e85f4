"""Main-process side of Lava learning runs: emit the Lava module, write the job, read the result.

``run_lava_learning(jobs)`` runs several :class:`~snn_deploy.learning.network.PlasticNetwork`
jobs in one ``.venv-lava`` subprocess (:mod:`.learning_runner`). The rules and three-factor
neuron models are emitted by :mod:`snn_deploy.learning.emit` into a package of their own in the
job's temporary folder, so what Lava runs is exactly what an artifact ships.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snn_deploy.backends.lava.bridge import exchange, lava_unavailable_reason
from snn_deploy.errors import BackendError, ModelError
from snn_deploy.learning.emit import lava_module_source, write_lava_package
from snn_deploy.learning.network import PlasticNetwork

RUNNER = Path(__file__).with_name("learning_runner.py")
PACKAGE = "snn_deploy_emitted"
MODULE = "learning_job"


@dataclass(frozen=True)
class LavaLearningJob:
    """``inputs``: source name -> (steps, size) integer payloads; ``record``: the plastic
    connections whose state is recorded every step (default: all)."""

    net: PlasticNetwork
    inputs: dict
    num_steps: int
    record: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LavaLearningResult:
    """``spikes[pop]`` (steps, size) bool; ``plastic[conn][quantity]`` (steps, ...) int64 for
    weights, tag_1, tag_2, x1, x2, y1, y2, y3, tx, ty; ``final_weights[conn]`` read from the
    LearningDense's ``weights`` Var after the run."""

    spikes: dict
    plastic: dict
    final_weights: dict
    timing: dict


def run_lava_learning(
    jobs: list[LavaLearningJob], *, decay_bits: int = 12, trace_max: int = 127, timeout_s=1800
) -> list[LavaLearningResult]:
    reason = lava_unavailable_reason()
    if reason:
        raise BackendError("cannot run the Lava backend: " + reason)
    rules, neurons = {}, {}
    header = {"networks": []}
    arrays: dict[str, np.ndarray] = {}
    for i, job in enumerate(jobs):
        header["networks"].append(_encode(i, job, arrays, rules, neurons))
    with tempfile.TemporaryDirectory(prefix="snn-deploy-lava-learning-") as tmp:
        source = lava_module_source(rules, neurons, decay_bits=decay_bits, trace_max=trace_max)
        write_lava_package(Path(tmp) / "emitted", PACKAGE, MODULE, source)
        header["module"] = {"path": str(Path(tmp) / "emitted"), "name": f"{PACKAGE}.{MODULE}"}
        out, timings = exchange(
            RUNNER, header, arrays, Path(tmp), timeout_s, "the Lava learning runner"
        )
    return [_decode(i, job, out, timings[i]) for i, job in enumerate(jobs)]


def _encode(i: int, job: LavaLearningJob, arrays: dict, rules: dict, neurons: dict) -> dict:
    net, prefix, steps = job.net, f"net{i}_", int(job.num_steps)
    record = set(c.name for c in net.plastic()) if job.record is None else set(job.record)
    entry = {"num_steps": steps, "sources": [], "populations": [], "connections": []}
    for src in net.sources:
        x = np.asarray(job.inputs.get(src.name, np.zeros((0, src.size), np.int64)))
        if x.ndim != 2 or x.shape[1] != src.size or x.dtype.kind not in "iub":
            raise ModelError(f"input '{src.name}': integer (steps, {src.size}) expected")
        data = np.zeros((src.size, steps), np.int32)
        n = min(steps, x.shape[0])
        data[:, :n] = x[:n].T
        arrays[prefix + "src_" + src.name] = data
        entry["sources"].append({"name": src.name, "size": src.size})
    for j, pop in enumerate(net.populations):
        key = None
        if pop.program is not None:
            key = f"n{i}_{pop.name}"
            neurons[key] = pop.program
        entry["populations"].append(
            {
                "name": pop.name,
                "size": pop.size,
                "du": int(pop.du),
                "dv": int(pop.dv),
                "vth": int(pop.vth),
                "neuron": key,
                "reset_interval": int(pop.reset_interval),
                "reset_offset": int(pop.reset_offset),
            }
        )
        arrays[f"{prefix}pop{j}_bias_mant"] = pop.bias_mant.astype(np.int16)
        arrays[f"{prefix}pop{j}_bias_exp"] = pop.bias_exp.astype(np.int16)
    for j, c in enumerate(net.connections):
        rule_key = None
        arrays[f"{prefix}conn{j}_w"] = c.weights.astype(np.int32)
        if c.rule is not None:
            rule_key = f"n{i}_{c.name}"
            rules[rule_key] = c.rule
            shape = c.weights.shape
            t1 = np.zeros(shape, np.int64) if c.tag_1 is None else c.tag_1
            t2 = np.zeros(shape, np.int64) if c.tag_2 is None else c.tag_2
            arrays[f"{prefix}conn{j}_tag1"] = t1.astype(np.int64)
            arrays[f"{prefix}conn{j}_tag2"] = t2.astype(np.int64)
        entry["connections"].append(
            {
                "name": c.name,
                "source": c.source,
                "target": c.target,
                "source_port": c.source_port,
                "target_port": c.target_port,
                "weight_exp": int(c.weight_exp),
                "num_weight_bits": int(c.num_weight_bits),
                "sign_mode": c.sign_mode,
                "graded": bool(c.graded),
                "rule": rule_key,
                "three_factor": bool(c.rule is not None and c.rule.three_factor),
                "record": c.name in record,
            }
        )
    return entry


def _decode(i: int, job: LavaLearningJob, out: dict, timing: dict) -> LavaLearningResult:
    prefix = f"net{i}_"
    spikes = {p.name: out[prefix + "spikes_" + p.name].astype(bool).T for p in job.net.populations}
    plastic, final = {}, {}
    for c in job.net.plastic():
        key = f"{prefix}plastic_{c.name}_"
        found = {k[len(key) :]: v for k, v in out.items() if k.startswith(key)}
        if found:
            plastic[c.name] = found
            final[c.name] = out[f"{prefix}final_{c.name}_weights"]
    return LavaLearningResult(spikes=spikes, plastic=plastic, final_weights=final, timing=timing)
