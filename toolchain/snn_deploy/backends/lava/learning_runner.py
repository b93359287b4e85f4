"""Run networks with plastic synapses in Lava 0.10.0's fixed-point models; record every step.

Runs inside ``.venv-lava`` (Python 3.10, lava-nc 0.10.0, numpy < 2, no torch), started by
:mod:`snn_deploy.backends.lava.learning_bridge` as
``python learning_runner.py JOB.npz RESULT.npz``; it imports nothing from snn_deploy.

JOB.npz holds ``header`` (JSON as uint8) and arrays:

- header ``module``: ``{"path": folder, "name": "package.module"}`` of the module emitted by
  ``snn_deploy.learning.emit`` (``RULES``, ``NEURONS``), imported from ``folder``;
- header ``networks``: for each, ``num_steps``, ``sources`` (name, size), ``populations`` (name,
  size, du, dv, vth, ``neuron``: a key of ``NEURONS`` or null for Lava's ``LIF``;
  ``reset_interval`` > 0: ``LIFReset``, or the same reset in the emitted neuron model),
  ``connections`` (name, source, target, source_port, target_port, weight_exp,
  num_weight_bits, sign_mode or null, graded, ``rule``: a key of ``RULES`` or null, record);
- ``net{i}_src_{name}`` (size, steps) int32 payloads for a ``RingBuffer``;
- ``net{i}_pop{j}_bias_mant`` / ``_bias_exp``; ``net{i}_conn{j}_w`` (target, source) int32,
  ``_tag1`` / ``_tag2`` for plastic connections.

Plastic connections are ``LearningDense`` (model ``PyLearningDenseModelBitApproximate``, run
through ``lava_learning.recording``, which only copies its state every step). Their post
neurons' spikes go to ``s_in_bap``; with a three-factor rule the neuron's ``s_out_y1..3`` go to
``s_in_y1..3``.

RESULT.npz: ``net{i}_spikes_{pop}`` (size, steps) int8, ``net{i}_plastic_{conn}_{quantity}``
(steps, ...) int64 for recorded connections, ``net{i}_final_{conn}_weights`` read with
``Var.get()`` after the run, and ``header`` with timings.
"""

import importlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _build(net, arrays, prefix, module, workdir):
    from lava.proc.dense.process import Dense, LearningDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF, LIFReset
    from lava.utils.weightutils import SignMode
    from lava_procs.file_sink import FileSink

    modes = {
        "mixed": SignMode.MIXED,
        "excitatory": SignMode.EXCITATORY,
        "inhibitory": SignMode.INHIBITORY,
    }
    steps = int(net["num_steps"])
    procs, pops, spec = {}, {}, {}
    for src in net["sources"]:
        data = arrays[prefix + "src_" + src["name"]].astype(np.int32)
        procs[src["name"]] = RingBuffer(data=data)
    for j, pop in enumerate(net["populations"]):
        kwargs = dict(
            shape=(int(pop["size"]),),
            du=int(pop["du"]),
            dv=int(pop["dv"]),
            vth=int(pop["vth"]),
            bias_mant=arrays[f"{prefix}pop{j}_bias_mant"],
            bias_exp=arrays[f"{prefix}pop{j}_bias_exp"],
            u=0,
            v=0,
            name=pop["name"],
        )
        reset = dict(
            reset_interval=int(pop.get("reset_interval", 0)),
            reset_offset=int(pop.get("reset_offset", 0)),
        )
        if pop.get("neuron"):
            proc = module.NEURONS[pop["neuron"]](learning_rule=None, **reset, **kwargs)
        elif reset["reset_interval"]:
            proc = LIFReset(**reset, **kwargs)
        else:
            proc = LIF(**kwargs)
        procs[pop["name"]] = proc
        pops[pop["name"]] = proc
        spec[pop["name"]] = pop
    records = {}
    for j, c in enumerate(net["connections"]):
        w = arrays[f"{prefix}conn{j}_w"]
        kwargs = dict(weight_exp=int(c["weight_exp"]), num_weight_bits=int(c["num_weight_bits"]))
        if c.get("sign_mode"):
            kwargs["sign_mode"] = modes[c["sign_mode"]]
        if c.get("graded"):
            kwargs["num_message_bits"] = 24
        if c.get("rule"):
            if c.get("record"):
                path = os.path.join(workdir, f"{prefix}plastic{j}.npz")
                kwargs.update(record_path=path, record_steps=steps)
                records[c["name"]] = path
            conn = LearningDense(
                weights=w,
                learning_rule=module.RULES[c["rule"]](),
                tag_1=arrays[f"{prefix}conn{j}_tag1"],
                tag_2=arrays[f"{prefix}conn{j}_tag2"],
                **kwargs,
            )
        else:
            conn = Dense(weights=w, **kwargs)
        src = procs[c["source"]]
        (src.s_out_aux if c["source_port"] == "aux" else src.s_out).connect(conn.s_in)
        post = pops[c["target"]]
        conn.a_out.connect(post.a_third_factor_in if c["target_port"] == "a3" else post.a_in)
        if c.get("rule"):
            if spec[c["target"]].get("neuron"):
                post.s_out_bap.connect(conn.s_in_bap)
                if c.get("three_factor"):
                    post.s_out_y1.connect(conn.s_in_y1)
                    post.s_out_y2.connect(conn.s_in_y2)
                    post.s_out_y3.connect(conn.s_in_y3)
            else:
                post.s_out.connect(conn.s_in_bap)
        procs["conn:" + c["name"]] = conn
    sinks = {}
    for name, proc in pops.items():
        path = os.path.join(workdir, f"{prefix}spikes_{name}.npy")
        sink = FileSink(shape=proc.s_out.shape, num_steps=steps, path=path)
        proc.s_out.connect(sink.a_in)
        sinks[name] = path
    return procs, pops, sinks, records


def run_network(net, arrays, prefix, module, workdir):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava_learning.recording import RecordingLearningDenseModel

    t0 = time.perf_counter()
    procs, pops, sinks, records = _build(net, arrays, prefix, module, workdir)
    anchor = next(iter(pops.values()))
    cfg = Loihi2SimCfg(
        select_tag="fixed_pt",
        exception_proc_model_map={LearningDense: RecordingLearningDenseModel},
    )
    steps = int(net["num_steps"])
    out = {}
    try:
        t_run = time.perf_counter()
        anchor.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        t_run = time.perf_counter() - t_run
        for name, path in sinks.items():
            out["spikes_" + name] = np.load(path).astype(np.int8)
        for name, path in records.items():
            with np.load(path) as z:
                for key in z.files:
                    out[f"plastic_{name}_{key}"] = z[key].astype(np.int64)
            conn = procs["conn:" + name]
            out[f"final_{name}_weights"] = np.asarray(conn.weights.get()).astype(np.int64)
    finally:
        anchor.stop()
    return out, {"run_s": t_run, "total_s": time.perf_counter() - t0}


def main(argv):
    from runner import serve  # next to this file (on sys.path above)

    workdir = os.path.dirname(os.path.abspath(argv[2]))

    def run_one(net, arrays, prefix, header):
        if header["module"]["path"] not in sys.path:
            sys.path.insert(0, header["module"]["path"])
        module = importlib.import_module(header["module"]["name"])
        return run_network(net, arrays, prefix, module, workdir)

    return serve(argv, run_one)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
