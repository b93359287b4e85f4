"""Run Xylo configurations in xylosim 0.1.3 (``xylosim.v2.XyloLayer``) and write what they did.

This file runs inside ``.venv-xylo`` (Python 3.10, xylosim, numpy < 2), started by
:mod:`snn_deploy.backends.xylo.bridge` as ``python runner.py JOB.npz RESULT.npz``. It imports
nothing from snn_deploy: the two processes exchange plain files only.

JOB.npz: the arrays of ``XyloConfig`` (``w_in``, ``w_rec``, ``w_out``, ``dash_*``,
``threshold*``, ``bias*``), ``header`` (JSON as uint8: the three shifts) and ``x`` (samples,
steps, inputs) uint8 spike counts. Each sample runs from a reset state.

RESULT.npz: ``spikes`` (samples, steps, hidden) and ``out_spikes`` uint8; ``i_syn`` (samples,
steps, hidden, synapses), ``v``, ``i_out``, ``v_out`` int16, as xylosim records them after every
step; ``seconds`` (samples,) float64: wall time of each ``evolve`` call.
"""

import json
import sys
import time

import numpy as np


def synapses(w, syn_class):
    """Per source, its ``XyloSynapse``s (target, synapse, weight) for the non-zero weights."""
    out = []
    for pre in range(w.shape[0]):
        row = []
        for post, syn in zip(*np.nonzero(w[pre]), strict=True):
            row.append(syn_class(int(post), int(syn), int(w[pre, post, syn])))
        out.append(row)
    return out


def main(job_path, result_path):
    from xylosim.v2 import XyloLayer, XyloSynapse

    with np.load(job_path, allow_pickle=False) as z:
        a = {k: z[k] for k in z.files}
    header = json.loads(bytes(a["header"]).decode())
    x = a["x"]
    h = a["w_rec"].shape[0]
    # xylosim segfaults when the Python objects behind its synapse tables are collected while
    # the layer lives: `keep` holds them until the end of the run.
    keep = {
        "in": synapses(a["w_in"], XyloSynapse),
        "rec": synapses(a["w_rec"], XyloSynapse),
        "out": synapses(a["w_out"][:, :, None], XyloSynapse),
    }
    bias, bias_out = a["bias"], a["bias_out"]
    layer = XyloLayer(
        synapses_in=keep["in"],
        synapses_rec=keep["rec"],
        synapses_out=keep["out"],
        aliases=[[] for _ in range(h)],
        threshold=[int(t) for t in a["threshold"]],
        threshold_out=[int(t) for t in a["threshold_out"]],
        has_bias=bool(np.any(bias != 0) or np.any(bias_out != 0)),
        bias=[int(b) for b in bias],
        bias_out=[int(b) for b in bias_out],
        weight_shift_inp=int(header["shift_in"]),
        weight_shift_rec=int(header["shift_rec"]),
        weight_shift_out=int(header["shift_out"]),
        dash_mem=[int(d) for d in a["dash_mem"]],
        dash_mem_out=[int(d) for d in a["dash_mem_out"]],
        dash_syns=[[int(d) for d in row] for row in a["dash_syn"]],
        dash_syns_out=[[int(d)] for d in a["dash_syn_out"]],
        name="snn-deploy",
    )
    keep["layer"] = layer
    samples, steps, _ = x.shape
    n_syn = a["dash_syn"].shape[1]
    o = a["w_out"].shape[1]
    out = {
        "spikes": np.zeros((samples, steps, h), np.uint8),
        "out_spikes": np.zeros((samples, steps, o), np.uint8),
        "i_syn": np.zeros((samples, steps, h, n_syn), np.int16),
        "v": np.zeros((samples, steps, h), np.int16),
        "i_out": np.zeros((samples, steps, o), np.int16),
        "v_out": np.zeros((samples, steps, o), np.int16),
        "seconds": np.zeros(samples),
    }
    record = bool(header.get("record", True))
    for b in range(samples):
        layer.reset_all()
        raster = [[int(c) for c in row] for row in x[b]]
        t0 = time.perf_counter()
        out_sp = layer.evolve(raster)
        out["seconds"][b] = time.perf_counter() - t0
        if steps == 0:
            continue
        out["out_spikes"][b] = np.asarray(out_sp, np.uint8).reshape(steps, o)
        out["spikes"][b] = np.asarray(layer.rec_recurrent_spikes, np.uint8).reshape(steps, h)
        if not record:
            continue
        out["v"][b] = np.asarray(layer.rec_v_mem, np.int16).reshape(h, steps).T
        out["i_syn"][b, :, :, 0] = np.asarray(layer.rec_i_syn, np.int16).reshape(h, steps).T
        if n_syn > 1:
            out["i_syn"][b, :, :, 1] = np.asarray(layer.rec_i_syn2, np.int16).reshape(h, steps).T
        if o:
            out["v_out"][b] = np.asarray(layer.rec_v_mem_out, np.int16).reshape(o, steps).T
            out["i_out"][b] = np.asarray(layer.rec_i_syn_out, np.int16).reshape(o, steps).T
    np.savez(result_path, **out)
    del keep


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
