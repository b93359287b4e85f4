"""Generic fixed-point step, compiled: the arithmetic of
:mod:`snn_deploy.backends.emulator.fixedpoint` (the reference) and of
:mod:`snn_deploy.numerics.fixedpoint` (the equations), event-driven, one sample at a time.

Per projection the ring holds the raw int64 sum of the weights of the sources that spiked; on
delivery it becomes ``scale_by_shift(sum, shift, rounding)``. Per neuron::

    I = ovf(R(I * a >> decay_bits) + in);  V = ovf(R(V * b >> decay_bits) + I + bias)
    s = V > threshold;  V = 0 (reset "zero") or V - threshold (reset "subtract") where s
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import prange

from snn_deploy.backends.emulator.compiled.common import (
    P_COMMON,
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
)
from snn_deploy.errors import ModelError
from snn_deploy.numerics.fixedpoint import ROUNDINGS, FixedPointNumerics
from snn_deploy.numerics.ops import as_int64

P_SHIFT = P_COMMON
EVENTS = ("i_saturations", "v_saturations")
_NEVER = np.iinfo(np.int64).max
# consts: decay_bits, rounding (index in ROUNDINGS), wrap (1) or saturate (0), state_bits,
# reset subtract (1) or zero (0)
C_DECAY, C_ROUND, C_WRAP, C_BITS, C_SUBTRACT = range(5)


@helper
def _shift_right(x, n, rounding):
    """``x / 2**n`` rounded (``numerics.fixedpoint.rounded_shift_right``)."""
    if n <= 0:
        return x << -n
    if rounding == 1:  # floor
        return x >> n
    if rounding == 2:  # toward zero
        return (x >> n) if x >= 0 else -((-x) >> n)
    half = np.int64(1) << (n - 1)  # nearest, ties away from zero
    return ((x + half) >> n) if x >= 0 else -((-x + half) >> n)


@helper
def _overflow(x, wrap, bits):
    half = np.int64(1) << (bits - 1)
    if wrap:
        return ((x + half) & (2 * half - 1)) - half
    return min(max(x, 1 - half), half - 1)


@helper
def _deliver(ring, syn, projs, k, rounding):
    syn[:] = 0
    for r in range(projs.shape[0]):
        n = projs[r, P_NTGT]
        start = np.uint64(projs[r, P_RING] + ring_slot(k, projs[r, P_DELAY]) * n)
        i0 = np.uint64(projs[r, P_TGT_NEURON])
        e = projs[r, P_SHIFT]
        if e >= 0:
            for j in range(n):
                at = start + np.uint64(j)
                syn[i0 + np.uint64(j)] += np.int64(ring[at]) << e
                ring[at] = 0
        else:
            for j in range(n):
                at = start + np.uint64(j)
                syn[i0 + np.uint64(j)] += _shift_right(np.int64(ring[at]), -e, rounding)
                ring[at] = 0


@helper
def _update(b, k, pops, cur, volt, syn, a, bb, thr, bias, c, spikes, traces, ev):
    decay_bits, rounding, wrap, bits, subtract = c[C_DECAY], c[C_ROUND], c[C_WRAP], c[C_BITS], c[4]
    out = spikes[b, k]
    for p in range(pops.shape[0]):
        i0, n = np.uint64(pops[p, POP_NEURON]), pops[p, POP_SIZE]
        i_sats = v_sats = 0
        for j in range(n):
            i = i0 + np.uint64(j)
            raw_i = _shift_right(cur[i] * a[i], decay_bits, rounding) + syn[i]
            ci = _overflow(raw_i, wrap, bits)
            cur[i] = ci
            raw_v = _shift_right(volt[i] * bb[i], decay_bits, rounding) + ci + bias[i]
            v = _overflow(raw_v, wrap, bits)
            i_sats += ci != raw_i
            v_sats += v != raw_v
            s = v > thr[i]
            if subtract:
                v = v - thr[i] if s else v
            else:
                v = 0 if s else v
            volt[i] = v
            out[i] = s
        tr = pops[p, POP_TRACE]
        if tr >= 0:
            i = pops[p, POP_NEURON]
            traces[b, k, tr : tr + n] = volt[i : i + n]
        ev[p, 0] += i_sats
        ev[p, 1] += v_sats


@helper
def _sample(b, x, steps, units, projs, weights, indices, ptr, ring_size, pops, a, bb, thr, bias,
            c, spikes, traces, i_out, v_out, events):  # fmt: skip
    n = a.shape[0]
    cur = np.zeros(n, np.int64)
    volt = np.zeros(n, np.int64)
    syn = np.zeros(n, np.int64)
    ring = np.zeros(ring_size, np.int32)
    active = np.zeros(units[-1, 0] + units[-1, 1], np.int64)
    count = np.zeros(units.shape[0], np.int64)
    ev = np.zeros((pops.shape[0], 2), np.int64)
    for k in range(steps):
        _deliver(ring, syn, projs, k, c[C_ROUND])
        _update(b, k, pops, cur, volt, syn, a, bb, thr, bias, c, spikes, traces, ev)
        compact_sources(b, k, x, spikes, units, active, count)
        accumulate(ring, 0, projs, units, active, count, weights, indices, ptr, k)
    i_out[b] = cur
    v_out[b] = volt
    events[b] = ev


@kernel
def _batch(x, steps, units, projs, weights, indices, ptr, ring_size, pops, a, bb, thr, bias, c,
           spikes, traces, i_out, v_out, events):  # fmt: skip
    for b in prange(x.shape[0]):
        _sample(b, x, steps, units, projs, weights, indices, ptr, ring_size, pops, a, bb, thr,
                bias, c, spikes, traces, i_out, v_out, events)  # fmt: skip


def _prepare(qnet, num: FixedPointNumerics):
    units = network_units(qnet)
    specs = []
    for p in qnet.projections:
        w = p.weight.astype(np.int64) if sp.issparse(p.weight) else as_int64(p.weight)
        shift, delay = int(p.params.shift), int(p.delay_steps)
        if delay < 1:
            raise ModelError(f"projection '{p.name}': delay {delay} < 1 step")
        if abs(shift) > 62:
            raise NotExact(f"projection '{p.name}': shift {shift}")
        specs.append(
            ProjectionSpec(units.index(p.source), units.index(p.target), w, delay, delay, (shift,))
        )
    projs = flatten(specs, units)
    if num.state_bits > 62 or num.decay_bits > 62:
        raise NotExact(f"state_bits {num.state_bits}, decay_bits {num.decay_bits}")
    a, bb, thr, bias = (np.zeros(units.num_neurons, np.int64) for _ in range(4))
    for p in qnet.populations:
        q, i = p.params, units.neuron_offset(p.name)
        sl = slice(i, i + p.size)
        a[sl], bb[sl], bias[sl] = q.a, q.b, q.bias
        thr[sl] = q.threshold if p.spiking else _NEVER
    consts = np.array(
        [
            num.decay_bits,
            ROUNDINGS.index(num.rounding),
            num.state_overflow == "wrap",
            num.state_bits,
            qnet.contract.reset != "zero",
        ],
        np.int64,
    )
    return units, projs, a, bb, thr, bias, consts


def run(
    qnet,
    num: FixedPointNumerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
    parallel: bool | None = None,
):
    """Compiled twin of :func:`snn_deploy.backends.emulator.fixedpoint.run_fixedpoint`."""
    r = start_run(
        qnet, "fixedpoint", "fixed-point", ("fixedpoint", num), lambda: _prepare(qnet, num),
        inputs, num_steps, record_voltage, num_events=len(EVENTS), parallel=parallel,
    )  # fmt: skip
    units, projs, a, bb, thr, bias, consts = r.prepared
    n = units.num_neurons
    i_out = np.zeros((r.batch, n), np.int64)
    v_out = np.zeros((r.batch, n), np.int64)
    _batch(
        r.x, r.steps, units.table, projs.table, projs.weights, projs.indices, projs.ptr,
        projs.ring_size, r.pops, a, bb, thr, bias, consts, r.spikes, r.traces, i_out, v_out,
        r.events, parallel=r.parallel,
    )  # fmt: skip
    state = {"i": i_out, "v": v_out}
    return assemble(
        qnet, units, r.steps, r.spikes, r.traces, r.pops, state, r.events, EVENTS, record_voltage
    )
