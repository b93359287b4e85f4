"""Kernel of the generic fixed-point chip: the update of ``numerics/fixedpoint.py``, batched.

Step k: every projection delivers what it accumulated ``delay`` steps ago; inputs emit column k;
each population updates (equations in :mod:`snn_deploy.numerics.fixedpoint`); every projection
accumulates ``shift(W @ s, shift)`` from this step's source spikes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.ir.simulate import check_inputs, input_arrays
from snn_deploy.numerics.fixedpoint import FixedPointNumerics, decay, overflow, scale_by_shift
from snn_deploy.numerics.ops import as_int64
from snn_deploy.quantize.network import QuantizedNetwork


def run_fixedpoint(
    qnet: QuantizedNetwork,
    num: FixedPointNumerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
):
    batch, in_steps = check_inputs(qnet, inputs)
    steps = in_steps if num_steps is None else int(num_steps)
    x = input_arrays(qnet, inputs, steps, {i.name: i.shift_steps for i in qnet.inputs})
    pops = qnet.populations
    weights = []
    for p in qnet.projections:
        w = p.weight.astype(np.int64) if sp.issparse(p.weight) else as_int64(p.weight)
        weights.append(w)
    rings = [
        np.zeros((p.delay_steps, batch, qnet.size_of(p.target)), np.int64) for p in qnet.projections
    ]
    cur = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
    volt = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
    spikes = {p.name: np.zeros((batch, steps, p.size), bool) for p in pops}
    traces = {n: np.zeros((batch, steps, qnet.size_of(n)), np.int64) for n in record_voltage}
    events = {p.name: {"i_saturations": 0, "v_saturations": 0} for p in pops}
    src = {}
    reset = qnet.contract.reset
    for k in range(steps):
        syn_in = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
        for proj, ring in zip(qnet.projections, rings, strict=True):
            syn_in[proj.target] += ring[k % proj.delay_steps]
        for i in qnet.inputs:
            src[i.name] = x[i.name][:, k]
        for p in pops:
            q = p.params
            raw_i = decay(cur[p.name], q.a, num) + syn_in[p.name]
            cur[p.name] = overflow(raw_i, num)
            raw_v = decay(volt[p.name], q.b, num) + cur[p.name] + q.bias
            v = overflow(raw_v, num)
            events[p.name]["i_saturations"] += int(np.count_nonzero(cur[p.name] != raw_i))
            events[p.name]["v_saturations"] += int(np.count_nonzero(v != raw_v))
            s = v > q.threshold if p.spiking else np.zeros(v.shape, bool)
            v = np.where(s, 0, v) if reset == "zero" else v - s * q.threshold
            volt[p.name] = v
            spikes[p.name][:, k] = s
            src[p.name] = s
            if p.name in traces:
                traces[p.name][:, k] = v
        for proj, w, ring in zip(qnet.projections, weights, rings, strict=True):
            s = src[proj.source].astype(np.int64)
            acc = np.asarray((w @ s.T).T) if sp.issparse(w) else s @ w.T
            ring[k % proj.delay_steps] = scale_by_shift(acc, proj.params.shift, num.rounding)
    final = {p.name: {"i": cur[p.name], "v": volt[p.name]} for p in pops}
    return EmulationResult(
        spikes=spikes, final_state=final, num_steps=steps, voltage=traces, events=events
    )
