"""float32 step (SpiNNaker2), compiled: the arithmetic of
:mod:`snn_deploy.backends.emulator.float32` (the reference) and
:func:`snn_deploy.numerics.float32.lif_step`, event-driven, one sample at a time.

The synaptic input is an integer sum (int64 rings, exact) converted once to float32 through
float64, as the reference's float64 sums are (exact below 2**53: proved at prepare time from
the weights and fan-ins, else the reference runs). Per neuron, each operation rounded to
float32 (no fused multiply-add: numba does not contract without fastmath)::

    I = f32(alpha * I) + f32(in);  V = f32(f32(beta * V) + I) + bias
    s = V > threshold;  V = 0 (reset "zero") or V - threshold * s (reset "subtract")
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import prange

from snn_deploy.backends.emulator.compiled.common import (
    P_DELAY,
    P_NTGT,
    P_RING,
    P_TGT_NEURON,
    POP_NEURON,
    POP_SIZE,
    POP_TRACE,
    NotExact,
    ProjectionSpec,
    accumulate,
    assemble,
    compact_sources,
    flatten,
    helper,
    kernel,
    network_units,
    ring_slot,
    start_run,
    sum_bound,
)
from snn_deploy.errors import ModelError
from snn_deploy.numerics.float32 import Float32Numerics
from snn_deploy.numerics.ops import as_int64

_FLOAT64_EXACT = 1 << 53


@helper
def _deliver(ring, syn, projs, k):
    syn[:] = 0
    for r in range(projs.shape[0]):
        n = projs[r, P_NTGT]
        start = np.uint64(projs[r, P_RING] + ring_slot(k, projs[r, P_DELAY]) * n)
        i0 = np.uint64(projs[r, P_TGT_NEURON])
        for j in range(n):
            at = start + np.uint64(j)
            syn[i0 + np.uint64(j)] += np.int64(ring[at])
            ring[at] = 0


@helper
def _update(b, k, pops, cur, volt, syn, alpha, beta, thr, bias, fires, subtract, spikes, traces):
    out = spikes[b, k]
    for p in range(pops.shape[0]):
        i0, n = np.uint64(pops[p, POP_NEURON]), pops[p, POP_SIZE]
        for j in range(n):
            i = i0 + np.uint64(j)
            syn_in = np.float32(np.float64(syn[i]))
            ci = np.float32(alpha[i] * cur[i]) + syn_in
            v = np.float32(np.float32(beta[i] * volt[i]) + ci) + bias[i]
            s = (v > thr[i]) & (fires[i] != 0)
            if subtract:
                v = v - thr[i] * np.float32(s)
            elif s:
                v = np.float32(0.0)
            cur[i] = ci
            volt[i] = v
            out[i] = s
        tr = pops[p, POP_TRACE]
        if tr >= 0:
            i = pops[p, POP_NEURON]
            traces[b, k, tr : tr + n] = volt[i : i + n]


@helper
def _sample(b, x, steps, units, projs, weights, indices, ptr, ring_size, pops, alpha, beta, thr,
            bias, fires, subtract, spikes, traces, i_out, v_out):  # fmt: skip
    n = alpha.shape[0]
    cur = np.zeros(n, np.float32)
    volt = np.zeros(n, np.float32)
    syn = np.zeros(n, np.int64)
    ring = np.zeros(ring_size, np.int32)
    active = np.zeros(units[-1, 0] + units[-1, 1], np.int64)
    count = np.zeros(units.shape[0], np.int64)
    for k in range(steps):
        _deliver(ring, syn, projs, k)
        _update(b, k, pops, cur, volt, syn, alpha, beta, thr, bias, fires, subtract, spikes,
                traces)  # fmt: skip
        compact_sources(b, k, x, spikes, units, active, count)
        accumulate(ring, 0, projs, units, active, count, weights, indices, ptr, k)
    i_out[b] = cur
    v_out[b] = volt


@kernel
def _batch(x, steps, units, projs, weights, indices, ptr, ring_size, pops, alpha, beta, thr, bias,
           fires, subtract, spikes, traces, i_out, v_out):  # fmt: skip
    for b in prange(x.shape[0]):
        _sample(b, x, steps, units, projs, weights, indices, ptr, ring_size, pops, alpha, beta,
                thr, bias, fires, subtract, spikes, traces, i_out, v_out)  # fmt: skip


def _prepare(qnet):
    units = network_units(qnet)
    specs, bound = [], {}
    for p in qnet.projections:
        w = p.weight.astype(np.int64) if sp.issparse(p.weight) else as_int64(p.weight)
        delay = int(p.delay_steps)
        if delay < 1:
            raise ModelError(f"projection '{p.name}': delay {delay} < 1 step")
        data = w.data if sp.issparse(w) else w
        top = int(np.abs(data).max(initial=0))
        bound[p.target] = bound.get(p.target, 0) + sum_bound(top, w.shape[1])
        specs.append(ProjectionSpec(units.index(p.source), units.index(p.target), w, delay, delay))
    worst = max(bound.values(), default=0)
    if worst >= _FLOAT64_EXACT:
        raise NotExact(f"synaptic sums up to {worst} are not exact in float64")
    projs = flatten(specs, units)
    alpha, beta, thr, bias = (np.zeros(units.num_neurons, np.float32) for _ in range(4))
    fires = np.zeros(units.num_neurons, np.uint8)
    for p in qnet.populations:
        q, i = p.params, units.neuron_offset(p.name)
        sl = slice(i, i + p.size)
        alpha[sl], beta[sl], bias[sl] = q.value("alpha"), q.value("beta"), q.value("bias")
        thr[sl] = q.value("threshold")
        fires[sl] = p.spiking
    return units, projs, alpha, beta, thr, bias, fires


def run(
    qnet,
    num: Float32Numerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
    parallel: bool | None = None,
):
    """Compiled twin of :func:`snn_deploy.backends.emulator.float32.run_float32`."""
    r = start_run(
        qnet, "float32", "float32", ("float32",), lambda: _prepare(qnet), inputs, num_steps,
        record_voltage, trace_dtype=np.float32, parallel=parallel,
    )  # fmt: skip
    units, projs, alpha, beta, thr, bias, fires = r.prepared
    n = units.num_neurons
    i_out = np.zeros((r.batch, n), np.float32)
    v_out = np.zeros((r.batch, n), np.float32)
    subtract = qnet.contract.reset != "zero"
    _batch(
        r.x, r.steps, units.table, projs.table, projs.weights, projs.indices, projs.ptr,
        projs.ring_size, r.pops, alpha, beta, thr, bias, fires, subtract, r.spikes, r.traces,
        i_out, v_out, parallel=r.parallel,
    )  # fmt: skip
    state = {"i": i_out, "v": v_out}
    return assemble(
        qnet, units, r.steps, r.spikes, r.traces, r.pops, state, r.events, (), record_voltage
    )
