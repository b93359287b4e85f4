"""SpiNNaker 1 step (s16.15), compiled: the arithmetic of
:mod:`snn_deploy.backends.emulator.spinnaker` (the reference; equations and sources in
:mod:`snn_deploy.numerics.spinnaker`), event-driven, one sample at a time.

Every projection is split by sign into an excitatory and an inhibitory part of 16-bit
magnitudes. A part whose sources spiked sums their weights per target (int64, exact) and adds
the sums into the target's ring entry of tick ``k + delay``, saturating at ``0xFFFF`` and
counting per part as ``process_fixed_synapses`` does (for non-negative words the saturated
result does not depend on the order). Neurons then follow the reference step by step:
``neuron_transfer``, the membrane update with refractory periods, the synaptic decays.
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
    P_SRC,
    P_TGT,
    P_TGT_NEURON,
    POP_NEURON,
    POP_SIZE,
    POP_TRACE,
    U_OFF,
    ProjectionSpec,
    add_events,
    assemble,
    compact_sources,
    flatten,
    helper,
    kernel,
    network_units,
    start_run,
    wrap32,
)
from snn_deploy.backends.emulator.spinnaker import _Pop
from snn_deploy.errors import ModelError
from snn_deploy.numerics.spinnaker import SpinnakerNumerics

P_RECEPTOR = P_COMMON  # 0 excitatory, 1 inhibitory
EVENTS = ("ring_saturations", "accum_wraps")
# per-population columns after the common ones: exponential synapses, the two ring shifts
POP_EXP, POP_SHIFT_E, POP_SHIFT_I = 3, 4, 5


@helper
def _mul(a, b):
    """``mul_accum``: ``wrap32((a * b) >> 15)``."""
    return wrap32((a * b) >> 15)


@helper
def _transfer(ring, slot, j_in, pops, init, ev):
    """``neuron_transfer``: this tick's ring entries into the synaptic inputs, then cleared."""
    n_all = j_in.shape[1]
    for p in range(pops.shape[0]):
        i0, n = pops[p, POP_NEURON], pops[p, POP_SIZE]
        expo = pops[p, POP_EXP]
        wraps = 0
        for rc in range(2):
            sh = pops[p, POP_SHIFT_E + rc]
            base = np.uint64((slot * 2 + rc) * n_all + i0)
            for j in range(n):
                i = np.uint64(i0) + np.uint64(j)
                at = base + np.uint64(j)
                add = wrap32(ring[at] << sh)
                if expo:
                    add = (add * init[rc, i]) >> 32
                raw = j_in[rc, i] + add
                word = wrap32(raw)
                wraps += word != raw
                j_in[rc, i] = word
                ring[at] = 0
        ev[p, 1] += wraps


@helper
def _update(b, k, pops, v, refract, j_in, cn, decay, spikes, traces, ev):
    """``neuron_impl_do_timestep_update``; ``cn`` rows: r, exp_tc, t_refract, sf, v_rest,
    v_reset, v_thresh, i_offset, fires."""
    out = spikes[b, k]
    for p in range(pops.shape[0]):
        i0, n, expo = np.uint64(pops[p, POP_NEURON]), pops[p, POP_SIZE], pops[p, POP_EXP]
        wraps = 0
        for j in range(n):
            i = i0 + np.uint64(j)
            exc, inh = j_in[0, i], j_in[1, i]
            if not expo:
                exc, inh = _mul(exc, cn[3, i]), _mul(inh, cn[3, i])
            raw_in = exc - inh + cn[7, i]
            total = wrap32(raw_in)
            raw_a = _mul(total, cn[0, i]) + cn[4, i]
            a = wrap32(raw_a)
            raw_d = a - v[i]
            d = wrap32(raw_d)
            raw_v = a - _mul(cn[1, i], d)
            v_new = wrap32(raw_v)
            wraps += (total != raw_in) | (a != raw_a) | (d != raw_d) | (v_new != raw_v)
            rf = refract[i]
            volt = v_new if rf <= 0 else v[i]
            rf = rf if rf <= 0 else rf - 1
            s = (volt >= cn[6, i]) & (cn[8, i] != 0)
            if s:
                volt = cn[5, i]
                rf = cn[2, i]
            v[i] = volt
            refract[i] = rf
            out[i] = s
            if expo:
                j_in[0, i] = (j_in[0, i] * decay[0, i]) >> 32
                j_in[1, i] = (j_in[1, i] * decay[1, i]) >> 32
            else:
                j_in[0, i] = 0
                j_in[1, i] = 0
        tr = pops[p, POP_TRACE]
        if tr >= 0:
            i = pops[p, POP_NEURON]
            traces[b, k, tr : tr + n] = v[i : i + n]
        ev[p, 1] += wraps


@helper
def _synapses(ring, acc, depth, projs, units, n_inputs, active, count, weights, indices, ptr, k,
              ring_max, ev):  # fmt: skip
    """``process_fixed_synapses``: every part with spiking sources adds into tick k + delay."""
    n_all = ring.shape[0] // (depth * 2)
    for r in range(projs.shape[0]):
        row = projs[r]
        u = row[P_SRC]
        if count[u] == 0:
            continue
        n = row[P_NTGT]
        start = row[P_RING]
        acc[start : start + n] = 0
        add_events(acc, start, row, active, units[u, U_OFF], count[u], weights, indices, ptr)
        slot = (k + row[P_DELAY]) % depth
        base = np.uint64((slot * 2 + row[P_RECEPTOR]) * n_all + row[P_TGT_NEURON])
        sats = 0
        for j in range(n):
            at = base + np.uint64(j)
            total = ring[at] + np.int64(acc[np.uint64(start) + np.uint64(j)])
            over = total > ring_max
            sats += over
            ring[at] = ring_max if over else total
        ev[row[P_TGT] - n_inputs, 0] += sats


@helper
def _sample(b, x, steps, units, n_inputs, projs, weights, indices, ptr, acc_size, depth, ring_max,
            pops, cn, decay, init, v_init, spikes, traces, v_out, j_out, events):  # fmt: skip
    n = v_init.shape[0]
    v = v_init.copy()
    refract = np.zeros(n, np.int64)
    j_in = np.zeros((2, n), np.int64)
    ring = np.zeros(depth * 2 * n, np.int64)
    acc = np.zeros(acc_size, np.int32)
    active = np.zeros(units[-1, 0] + units[-1, 1], np.int64)
    count = np.zeros(units.shape[0], np.int64)
    ev = np.zeros((pops.shape[0], 2), np.int64)
    for k in range(steps):
        _transfer(ring, k % depth, j_in, pops, init, ev)
        _update(b, k, pops, v, refract, j_in, cn, decay, spikes, traces, ev)
        compact_sources(b, k, x, spikes, units, active, count)
        _synapses(ring, acc, depth, projs, units, n_inputs, active, count, weights, indices, ptr,
                  k, ring_max, ev)  # fmt: skip
    v_out[b] = v
    j_out[b] = j_in
    events[b] = ev


@kernel
def _batch(x, steps, units, n_inputs, projs, weights, indices, ptr, acc_size, depth, ring_max,
           pops, cn, decay, init, v_init, spikes, traces, v_out, j_out, events):  # fmt: skip
    for b in prange(x.shape[0]):
        _sample(b, x, steps, units, n_inputs, projs, weights, indices, ptr, acc_size, depth,
                ring_max, pops, cn, decay, init, v_init, spikes, traces, v_out, j_out,
                events)  # fmt: skip


def _parts(w):
    """Excitatory and inhibitory magnitudes of a (target, source) weight matrix."""
    if sp.issparse(w):
        w = sp.csr_matrix(w, dtype=np.int64)
        pos = w.multiply(w > 0).tocsr()
        neg = (-w).multiply(w < 0).tocsr()
        pos.eliminate_zeros()
        neg.eliminate_zeros()
        return pos, neg
    w = np.asarray(w, np.int64)
    return np.where(w > 0, w, 0), np.where(w < 0, -w, 0)


def _nonzero(m) -> bool:
    return m.nnz > 0 if sp.issparse(m) else bool(m.any())


def _prepare(qnet, num: SpinnakerNumerics):
    units = network_units(qnet)
    specs = []
    for p in qnet.projections:
        delay = int(p.delay_steps)
        parts = _parts(p.weight)
        if any((m.max() if m.shape[0] * m.shape[1] else 0) > 0xFFFF for m in parts):
            raise ModelError(f"projection '{p.name}': weights beyond 16 bits")
        if delay < 1:
            raise ModelError(f"projection '{p.name}': delay {delay} < 1 tick")
        for receptor, m in enumerate(parts):
            if _nonzero(m):
                src, tgt = units.index(p.source), units.index(p.target)
                specs.append(ProjectionSpec(src, tgt, m, delay, 1, (receptor,)))
    projs = flatten(specs, units)
    depth = max([int(p.delay_steps) for p in qnet.projections], default=1) + 1
    n = units.num_neurons
    cn = np.zeros((9, n), np.int64)
    decay = np.zeros((2, n), np.int64)
    init = np.zeros((2, n), np.int64)
    v_init = np.zeros(n, np.int64)
    rows = []
    for pop in qnet.populations:
        c, i = _Pop(pop, num), units.neuron_offset(pop.name)
        sl = slice(i, i + pop.size)
        for r, values in enumerate(
            (c.r, c.exp_tc, c.t_refract, c.sf, c.v_rest, c.v_reset, c.v_thresh, c.i_offset)
        ):
            cn[r, sl] = values
        cn[8, sl] = pop.spiking
        decay[:, sl], init[:, sl], v_init[sl] = c.decay, c.init, c.v_init
        rows.append((int(c.exponential), c.shifts[0], c.shifts[1]))
    return units, projs, depth, cn, decay, init, v_init, np.array(rows, np.int64).reshape(-1, 3)


def run(
    qnet,
    num: SpinnakerNumerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
    parallel: bool | None = None,
):
    """Compiled twin of :func:`snn_deploy.backends.emulator.spinnaker.run_spinnaker`."""
    r = start_run(
        qnet, "spinnaker", "SpiNNaker", ("spinnaker", num), lambda: _prepare(qnet, num), inputs,
        num_steps, record_voltage, num_events=len(EVENTS), parallel=parallel,
    )  # fmt: skip
    units, projs, depth, cn, decay, init, v_init, extra = r.prepared
    pops = np.ascontiguousarray(np.hstack([r.pops, extra]))
    n = units.num_neurons
    v_out = np.zeros((r.batch, n), np.int64)
    j_out = np.zeros((r.batch, 2, n), np.int64)
    _batch(
        r.x, r.steps, units.table, units.n_inputs, projs.table, projs.weights, projs.indices,
        projs.ptr, max(projs.ring_size, 1), depth, num.ring_max, pops, cn, decay, init, v_init,
        r.spikes, r.traces, v_out, j_out, r.events, parallel=r.parallel,
    )  # fmt: skip
    state = {"v": v_out, "i_exc": j_out[:, 0], "i_inh": j_out[:, 1]}
    return assemble(
        qnet, units, r.steps, r.spikes, r.traces, pops, state, r.events, EVENTS, record_voltage
    )
