"""float32 kernel (SpiNNaker2 as the NIR paper ran it): the update of
:mod:`snn_deploy.numerics.float32`, batched. Step k: projections deliver what they accumulated
``delay`` steps ago (integer sums, exact in float32 below 2**24), inputs emit column k, each
population updates in float32 and fires on ``V > threshold``, projections accumulate.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.errors import ModelError
from snn_deploy.ir.simulate import check_inputs, input_arrays
from snn_deploy.numerics.float32 import Float32Numerics, f32, lif_step
from snn_deploy.quantize.network import QuantizedNetwork


def run_float32(
    qnet: QuantizedNetwork,
    num: Float32Numerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
) -> EmulationResult:
    if qnet.arithmetic != "float32":
        raise ModelError(f"the float32 kernel cannot run arithmetic {qnet.arithmetic!r}")
    batch, in_steps = check_inputs(qnet, inputs)
    steps = in_steps if num_steps is None else int(num_steps)
    x = input_arrays(qnet, inputs, steps, {i.name: i.shift_steps for i in qnet.inputs})
    pops = qnet.populations
    weights = [
        p.weight.astype(np.float64) if sp.issparse(p.weight) else np.asarray(p.weight, np.float64)
        for p in qnet.projections
    ]
    for p in qnet.projections:
        if p.delay_steps < 1:
            raise ModelError(f"projection '{p.name}': delay {p.delay_steps} < 1 step")
    rings = [np.zeros((p.delay_steps, batch, qnet.size_of(p.target))) for p in qnet.projections]
    cur = {p.name: f32(np.zeros((batch, p.size))) for p in pops}
    volt = {p.name: f32(np.zeros((batch, p.size))) for p in pops}
    consts = {
        p.name: tuple(p.params.value(n) for n in ("alpha", "beta", "threshold", "bias"))
        for p in pops
    }
    spikes = {p.name: np.zeros((batch, steps, p.size), bool) for p in pops}
    traces = {n: np.zeros((batch, steps, qnet.size_of(n)), np.float32) for n in record_voltage}
    reset = qnet.contract.reset
    src = {}
    for k in range(steps):
        syn_in = {p.name: np.zeros((batch, p.size)) for p in pops}
        for proj, ring in zip(qnet.projections, rings, strict=True):
            syn_in[proj.target] += ring[k % proj.delay_steps]
        for i in qnet.inputs:
            src[i.name] = x[i.name][:, k]
        for p in pops:
            alpha, beta, thr, bias = consts[p.name]
            i, v = lif_step(cur[p.name], volt[p.name], syn_in[p.name], alpha, beta, bias)
            s = v > thr if p.spiking else np.zeros(v.shape, bool)
            v = np.where(s, f32(0), v) if reset == "zero" else f32(v - f32(thr) * s)
            cur[p.name], volt[p.name] = i, f32(v)
            spikes[p.name][:, k] = s
            src[p.name] = s
            if p.name in traces:
                traces[p.name][:, k] = v
        for proj, w, ring in zip(qnet.projections, weights, rings, strict=True):
            s = src[proj.source].astype(np.float64)
            ring[k % proj.delay_steps] = np.asarray((w @ s.T).T) if sp.issparse(w) else s @ w.T
    final = {p.name: {"i": cur[p.name], "v": volt[p.name]} for p in pops}
    return EmulationResult(
        spikes=spikes,
        final_state=final,
        num_steps=steps,
        voltage=traces,
        events={p.name: {} for p in pops},
    )
