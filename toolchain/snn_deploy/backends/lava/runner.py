"""Run integer networks in Lava 0.10.0's bit-accurate models and write what they did.

This file runs inside ``.venv-lava`` (Python 3.10, lava-nc 0.10.0, numpy < 2, no torch), started
by :mod:`snn_deploy.backends.lava.bridge` as ``python runner.py JOB.npz RESULT.npz``. It imports
nothing from snn_deploy: the two processes exchange plain files only.

JOB.npz holds ``header`` (JSON as uint8) describing one or more networks, and their arrays:

- ``net{i}_in_{name}``: (size, steps) int32 input spikes for a ``RingBuffer`` source;
- ``net{i}_pop{j}_bias_mant`` / ``_bias_exp``: per-neuron LIF bias;
- ``net{i}_proj{j}_w``: (target, source) int weights for a ``Dense`` (``DelayDense`` when
  ``delay`` > 1; with ``batch`` > 1, a block-diagonal ``Sparse`` of ``batch`` copies), or
  ``net{i}_proj{j}_data/indices/indptr`` (CSR, shape in the header) for a ``Sparse``.

RESULT.npz: ``net{i}_spikes_{pop}`` (size, steps) int8, ``net{i}_u_{pop}``, ``net{i}_v_{pop}``
(size,) int64, and ``header`` with timings (seconds) per network.
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _build(net, arrays, prefix):
    from lava.proc.dense.process import DelayDense, Dense
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode
    from lava_procs.file_sink import FileSink

    modes = {
        "mixed": SignMode.MIXED,
        "excitatory": SignMode.EXCITATORY,
        "inhibitory": SignMode.INHIBITORY,
    }
    steps = int(net["num_steps"])
    procs = {}
    for inp in net["inputs"]:
        data = arrays[prefix + "in_" + inp["name"]].astype(np.int32)
        procs[inp["name"]] = Source(data=data)
    lifs = {}
    for j, pop in enumerate(net["populations"]):
        lif = LIF(
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
        procs[pop["name"]] = lif
        lifs[pop["name"]] = lif
    for j, proj in enumerate(net["projections"]):
        if "sparse_shape" in proj:
            from scipy.sparse import csr_matrix

            key = f"{prefix}proj{j}_"
            w = csr_matrix(
                (arrays[key + "data"], arrays[key + "indices"], arrays[key + "indptr"]),
                shape=tuple(proj["sparse_shape"]),
            )
        else:
            w = arrays[f"{prefix}proj{j}_w"]
        kwargs = dict(
            weight_exp=int(proj["weight_exp"]),
            num_weight_bits=int(proj["num_weight_bits"]),
            sign_mode=modes[proj["sign_mode"]],
        )
        delay, batch = int(proj["delay"]), int(proj.get("batch", 1))
        if batch > 1:
            # `batch` independent copies of the network: block-diagonal weights.
            if delay > 1:
                raise ValueError("batched runs support only one-step (Dense) delays")
            from scipy.sparse import block_diag, csr_matrix

            conn = Sparse(weights=block_diag([csr_matrix(w)] * batch, format="csr"), **kwargs)
        elif "sparse_shape" in proj:
            if delay > 1:
                raise ValueError("sparse connections support only one-step delays")
            conn = Sparse(weights=w, **kwargs)
        elif delay > 1:
            conn = DelayDense(
                weights=w, delays=np.full(w.shape, delay - 1, dtype=np.int32), **kwargs
            )
        else:
            conn = Dense(weights=w, **kwargs)
        procs[proj["source"]].s_out.connect(conn.s_in)
        conn.a_out.connect(lifs[proj["target"]].a_in)
    sinks = {}
    if net.get("record", True):
        for j, (name, lif) in enumerate(lifs.items()):
            path = os.path.abspath(f"{prefix}spikes{j}.npy")
            sink = FileSink(shape=lif.s_out.shape, num_steps=steps, path=path)
            lif.s_out.connect(sink.a_in)
            sinks[name] = path
    return lifs, sinks


def run_network(net, arrays, prefix):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    t0 = time.perf_counter()
    lifs, sinks = _build(net, arrays, prefix)
    t_build = time.perf_counter() - t0
    anchor = next(iter(lifs.values()))
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    steps = int(net["num_steps"])
    blocks = [int(b) for b in net.get("blocks", [steps])]
    if sum(blocks) != steps:
        raise ValueError("blocks must add up to num_steps")
    block_seconds = []
    try:
        for b in blocks:
            tb = time.perf_counter()
            anchor.run(condition=RunSteps(num_steps=b), run_cfg=cfg)
            block_seconds.append(time.perf_counter() - tb)
        t_read = time.perf_counter()
        out = {}
        # Var.get() returns float64 element by element (exact for 32-bit integers); read before
        # stop(), as Lava requires.
        for name, lif in lifs.items():
            out["u_" + name] = np.asarray(lif.u.get()).astype(np.int64)
            out["v_" + name] = np.asarray(lif.v.get()).astype(np.int64)
            if name in sinks:
                out["spikes_" + name] = np.load(sinks[name]).astype(np.int8)
        t_read = time.perf_counter() - t_read
    finally:
        t_stop = time.perf_counter()
        anchor.stop()
        t_stop = time.perf_counter() - t_stop
    timing = {
        "build_s": t_build,
        "blocks_s": block_seconds,
        "read_s": t_read,
        "stop_s": t_stop,
        "total_s": time.perf_counter() - t0,
    }
    return out, timing


def serve(argv, run_one):
    """Read JOB.npz (``argv[1]``), run each network of its header with
    ``run_one(net, arrays, prefix, header) -> (arrays, timing)`` and write RESULT.npz
    (``argv[2]``) atomically, with the timings in its ``header``."""
    job_path, out_path = argv[1], argv[2]
    with np.load(job_path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(bytes(arrays.pop("header")).decode())
    results, timings = {}, []
    for i, net in enumerate(header["networks"]):
        prefix = f"net{i}_"
        out, timing = run_one(net, arrays, prefix, header)
        for k, v in out.items():
            results[prefix + k] = v
        timings.append(timing)
    results["header"] = np.frombuffer(json.dumps({"timings": timings}).encode(), dtype=np.uint8)
    tmp = out_path + ".part.npz"
    np.savez(tmp, **results)
    os.replace(tmp, out_path)
    return 0


def main(argv):
    return serve(argv, lambda net, arrays, prefix, header: run_network(net, arrays, prefix))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
