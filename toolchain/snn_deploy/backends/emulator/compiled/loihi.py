"""Loihi step, compiled: the arithmetic of :mod:`snn_deploy.backends.emulator.loihi` (the
reference, and its docstring the specification), event-driven, one sample at a time.

Per projection the ring holds, for each of its ``delay`` slots, the raw int64 sum of the weights
of the sources that spiked (exact: |w| <= 256); on delivery the word becomes
``wrap32(shift(sum, weight_exp))``, as the reference's ``accumulate`` computes it in one go.
Then, per neuron, with ``a_in`` the int64 sum of the delivered words::

    u = wrap_once(wrap32(round0(u * keep_u) + wrap32(wrap32(a_in) << 6)), 24)
    v = clip(wrap32(round0(v * keep_v) + u + bias), ±(2**23 - 1));  s = v > vth;  v[s] = 0

with the event counters of the reference (``int32_wraps`` once per neuron for the current's
three wraps and once for the voltage's).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numba import prange

from snn_deploy.backends.emulator.compiled.common import (
    P_COMMON,
    P_DELAY,
    P_MAXSUM,
    P_NTGT,
    P_RING,
    P_TGT,
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
    wrap32,
)
from snn_deploy.errors import ModelError
from snn_deploy.numerics.loihi import LoihiNumerics, prepare_weights
from snn_deploy.numerics.ops import shift, wrap, wrap_int32

P_EXP = P_COMMON  # the projection's weight exponent
EVENTS = ("u_wraps", "v_saturations", "int32_wraps")
_I32 = np.iinfo(np.int32)
_NEVER = _I32.max  # threshold of a population that does not spike (|v| < 2**30)
POP_NO_INT32_WRAP = 3  # per-population columns after the common ones
POP_UNIFORM = 4  # 1: every neuron of the population has the same du, dv, bias and threshold


@helper
def _deliver(ring, a_in, projs, k):
    a_in[:] = 0
    for r in range(projs.shape[0]):
        n = projs[r, P_NTGT]
        start = np.uint64(projs[r, P_RING] + ring_slot(k, projs[r, P_DELAY]) * n)
        i0 = np.uint64(projs[r, P_TGT_NEURON])
        e = projs[r, P_EXP]
        if e >= 0:
            for j in range(n):
                at = start + np.uint64(j)
                a_in[i0 + np.uint64(j)] += wrap32(np.int64(ring[at]) << e)
                ring[at] = 0
        else:
            m = -e
            for j in range(n):
                at = start + np.uint64(j)
                a_in[i0 + np.uint64(j)] += wrap32(np.int64(ring[at]) >> m)
                ring[at] = 0


@helper
def _no_wrap_step(u, v, a_in, keep_u, keep_v, bias, c, round_up):
    """One neuron's current and saturated voltage where no int32 word can wrap, and whether
    its current wrapped once and its voltage saturated."""
    input_shift, decay_bits, half, full, lim = c[0], c[1], c[2], c[3], c[4]
    pu = np.int64(u) * np.int64(keep_u)
    du = (pu + ((pu >> 63) & round_up)) >> decay_bits
    cur = du + (a_in << input_shift)
    un = cur - full if cur > half else (cur + full if cur <= -half else cur)
    pv = np.int64(v) * np.int64(keep_v)
    dv = (pv + ((pv >> 63) & round_up)) >> decay_bits
    volt = dv + un + np.int64(bias)
    sat = min(max(volt, -lim), lim)
    return un, sat, np.int64(un != cur), np.int64(sat != volt)


@helper
def _update(b, k, pops, u, v, a_in, keep_u, keep_v, bias, vth, c, spikes, traces, ev):
    input_shift, decay_bits, half, full, lim = c[0], c[1], c[2], c[3], c[4]
    round_up = (np.int64(1) << decay_bits) - 1  # p >> n rounds toward zero after adding it if p < 0
    out = spikes[b, k]
    for p in range(pops.shape[0]):
        i0, n = np.uint64(pops[p, POP_NEURON]), pops[p, POP_SIZE]
        wraps = u_wraps = v_sats = 0
        if pops[p, POP_NO_INT32_WRAP] and pops[p, POP_UNIFORM]:
            # the same parameters for every neuron: held in registers, not loaded per neuron
            ku, kv = np.int64(keep_u[i0]), np.int64(keep_v[i0])
            bi, th = np.int64(bias[i0]), np.int64(vth[i0])
            for j in range(n):
                i = i0 + np.uint64(j)
                un, sat, uw, vs = _no_wrap_step(u[i], v[i], a_in[i], ku, kv, bi, c, round_up)
                u_wraps += uw
                v_sats += vs
                s = sat > th
                u[i] = un
                v[i] = 0 if s else sat
                out[i] = s
        elif pops[p, POP_NO_INT32_WRAP]:
            # proved at prepare time: no int32 word can wrap in this population
            for j in range(n):
                i = i0 + np.uint64(j)
                un, sat, uw, vs = _no_wrap_step(
                    u[i], v[i], a_in[i], keep_u[i], keep_v[i], bias[i], c, round_up
                )
                u_wraps += uw
                v_sats += vs
                s = sat > np.int64(vth[i])
                u[i] = un
                v[i] = 0 if s else sat
                out[i] = s
        else:
            for j in range(n):
                i = i0 + np.uint64(j)
                total = a_in[i]
                t32 = wrap32(total)
                act = t32 << input_shift
                a32 = wrap32(act)
                pu = np.int64(u[i]) * np.int64(keep_u[i])
                du = (pu + ((pu >> 63) & round_up)) >> decay_bits
                raw = du + a32
                cur = wrap32(raw)
                wraps += (t32 != total) | (a32 != act) | (cur != raw)
                un = cur - full if cur > half else (cur + full if cur <= -half else cur)
                u_wraps += un != cur
                u[i] = un
                pv = np.int64(v[i]) * np.int64(keep_v[i])
                dv = (pv + ((pv >> 63) & round_up)) >> decay_bits
                volt = dv + un + np.int64(bias[i])
                v32 = wrap32(volt)
                wraps += v32 != volt
                sat = min(max(v32, -lim), lim)
                v_sats += sat != v32
                s = sat > np.int64(vth[i])
                v[i] = 0 if s else sat
                out[i] = s
        tr = pops[p, POP_TRACE]
        if tr >= 0:
            i = pops[p, POP_NEURON]
            traces[b, k, tr : tr + n] = v[i : i + n]
        ev[p, 0] += u_wraps
        ev[p, 1] += v_sats
        ev[p, 2] += wraps


@helper
def _sample(b, x, steps, units, projs, weights, indices, ptr, ring_size, pops, keep_u, keep_v,
            bias, vth, c, spikes, traces, u_out, v_out, events):  # fmt: skip
    n = keep_u.shape[0]
    u = np.zeros(n, np.int32)  # an int32 word after wrap_once: |u| < 2**31
    v = np.zeros(n, np.int32)  # saturated to state_bits <= 31
    a_in = np.zeros(n, np.int64)
    ring = np.zeros(ring_size, np.int32)
    active = np.zeros(units[-1, 0] + units[-1, 1], np.int64)
    count = np.zeros(units.shape[0], np.int64)
    ev = np.zeros((pops.shape[0], 3), np.int64)
    for k in range(steps):
        _deliver(ring, a_in, projs, k)
        _update(b, k, pops, u, v, a_in, keep_u, keep_v, bias, vth, c, spikes, traces, ev)
        compact_sources(b, k, x, spikes, units, active, count)
        accumulate(ring, 0, projs, units, active, count, weights, indices, ptr, k)
    u_out[b] = u
    v_out[b] = v
    events[b] = ev


@kernel
def _batch(x, steps, units, projs, weights, indices, ptr, ring_size, pops, keep_u, keep_v, bias,
           vth, c, spikes, traces, u_out, v_out, events):  # fmt: skip
    for b in prange(x.shape[0]):
        _sample(b, x, steps, units, projs, weights, indices, ptr, ring_size, pops, keep_u,
                keep_v, bias, vth, c, spikes, traces, u_out, v_out, events)  # fmt: skip


def _prepare(qnet, num: LoihiNumerics):
    units = network_units(qnet)
    specs = []
    for p in qnet.projections:
        delay, exp = int(p.delay_steps), int(p.params.weight_exp)
        if delay < 1:
            raise ModelError(f"projection '{p.name}': delay {delay} < 1 step")
        if abs(exp) > 62:
            raise NotExact(f"projection '{p.name}': weight exponent {exp}")
        # Lava stores Dense weights as int32 before clipping (weightutils: astype(np.int32)).
        w = p.weight
        if sp.issparse(w):
            w = sp.csr_matrix((wrap_int32(w.data), w.indices, w.indptr), shape=w.shape)
        else:
            w = wrap_int32(w)
        w = prepare_weights(w, p.params.sign_mode, p.params.num_weight_bits, num)
        specs.append(
            ProjectionSpec(units.index(p.source), units.index(p.target), w, delay, delay, (exp,))
        )
    bounds = num.weight_range("mixed")
    projs = flatten(specs, units, (min(bounds[0], 0), max(bounds[1], 0)))
    if not 1 <= num.state_bits <= 31:
        raise NotExact(f"state_bits {num.state_bits}: u and v are held in int32 words")
    keep_u, keep_v, bias, vth = (np.zeros(units.num_neurons, np.int64) for _ in range(4))
    unity = num.decay_unity
    for p in qnet.populations:
        q, i = p.params, units.neuron_offset(p.name)
        sl = slice(i, i + p.size)
        keep_u[sl] = unity - (q.du + num.current_decay_offset)
        keep_v[sl] = unity - (q.dv + num.voltage_decay_offset)
        # bias_mant and bias_exp are int16 Vars in Lava; the effective bias is int32.
        bias[sl] = wrap_int32(shift(wrap(q.bias_mant, 16), wrap(q.bias_exp, 16)))
        vth[sl] = (q.vth << num.threshold_shift) if p.spiking else _NEVER
    if any(int(np.abs(k).max(initial=0)) > _I32.max for k in (keep_u, keep_v)):
        raise NotExact("decay multipliers beyond int32")
    # |v| <= 2**30 - 1: thresholds beyond int32 compare alike once clipped to it
    keep_u, keep_v, bias = (a.astype(np.int32) for a in (keep_u, keep_v, bias))
    vth = np.clip(vth, _I32.min, _I32.max).astype(np.int32)
    half = 1 << (num.state_bits - 1)
    consts = np.array([num.input_shift, num.decay_bits, half, 2 * half, half - 1], np.int64)
    safe = np.array([_no_int32_wrap(qnet, p, projs, bias, units, num) for p in qnet.populations])
    uniform = np.array([_uniform(units.neuron_offset(p.name), p.size, keep_u, keep_v, bias, vth)
                        for p in qnet.populations])  # fmt: skip
    return units, projs, keep_u, keep_v, bias, vth, consts, safe, uniform


def _uniform(i, n, *arrays) -> bool:
    return all(bool((a[i : i + n] == a[i]).all()) for a in arrays) if n else False


def _no_int32_wrap(qnet, pop, projs, bias, units, num: LoihiNumerics) -> bool:
    """Whether no int32 word of ``pop`` can ever wrap, whatever the spikes: with ``A`` the
    largest delivered input (row sums of |W| shifted by their exponents), ``|u| <= 2**23`` holds
    for ever once ``A << 6 <= 2**24`` (``wrap_once`` then maps every current back into range),
    so the current stays within ``3 * 2**23`` and the voltage within ``2**24 + |bias|``."""
    target = units.index(pop.name)
    total = 0
    for row in projs.table[projs.table[:, P_TGT] == target]:
        total += int(row[P_MAXSUM]) << max(int(row[P_EXP]), 0)
    half = 1 << (num.state_bits - 1)
    i = units.neuron_offset(pop.name)
    top_bias = int(np.abs(bias[i : i + pop.size].astype(np.int64)).max(initial=0))
    act = total << num.input_shift
    limit = (1 << 31) - 1
    return act <= 2 * half and 3 * half <= limit and 2 * half + top_bias <= limit


def run(
    qnet,
    num: LoihiNumerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
    parallel: bool | None = None,
):
    """Compiled twin of :meth:`snn_deploy.backends.emulator.loihi.LoihiEmulator.run`."""
    r = start_run(
        qnet, "loihi", "Loihi", ("loihi", num), lambda: _prepare(qnet, num), inputs, num_steps,
        record_voltage, num_events=len(EVENTS), parallel=parallel,
    )  # fmt: skip
    units, projs, keep_u, keep_v, bias, vth, consts, safe, uniform = r.prepared
    pops = np.ascontiguousarray(np.column_stack([r.pops, safe, uniform]).astype(np.int64))
    n = units.num_neurons
    u_out = np.zeros((r.batch, n), np.int64)
    v_out = np.zeros((r.batch, n), np.int64)
    _batch(
        r.x, r.steps, units.table, projs.table, projs.weights, projs.indices, projs.ptr,
        projs.ring_size, pops, keep_u, keep_v, bias, vth, consts, r.spikes, r.traces, u_out,
        v_out, r.events, parallel=r.parallel,
    )  # fmt: skip
    state = {"u": u_out, "v": v_out}
    return assemble(
        qnet, units, r.steps, r.spikes, r.traces, pops, state, r.events, EVENTS, record_voltage
    )
