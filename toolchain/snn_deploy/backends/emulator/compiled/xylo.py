"""Compiled kernel of Xylo Audio 2: the step of :mod:`snn_deploy.numerics.xylo` (equations
there), the whole time loop in numba, synapses event-driven.

Each weight matrix is stored source-major as a CSR of its non-zero synapses (target slot
``neuron * synapses + synapse``, weight already shifted), so a spiking source touches only its
own synapses, in index order: the order of xylosim's saturating additions. Exactness: every
value is int16 after each operation and the kernel computes in int64 (``n * w`` is at most
``31 * 32768``), so nothing can wrap but the one int16 conversion the chip makes.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from snn_deploy.backends.emulator.compiled.common import helper, kernel, use_parallel
from snn_deploy.backends.emulator.xylo import XyloRun, check_counts
from snn_deploy.backends.xylo.config import XyloConfig
from snn_deploy.numerics.xylo import STATE_MAX, STATE_MIN, XyloNumerics

# columns of the events array
E_SAT, E_MULTI, E_CAPPED, E_WRAP = range(4)


def _csr(w: np.ndarray, shift: int):
    """Source-major CSR of ``w`` (sources, targets, synapses): pointers, target slots
    (``target * synapses + synapse``) and shifted weights."""
    n_src = w.shape[0]
    flat = w.reshape(n_src, -1)
    src, slot = np.nonzero(flat)
    ptr = np.zeros(n_src + 1, np.int64)
    np.add.at(ptr, src + 1, 1)
    return np.cumsum(ptr), slot.astype(np.int64), (flat[src, slot] << shift).astype(np.int64)


@helper
def _sat(x):
    if x > STATE_MAX:
        return np.int64(STATE_MAX)
    if x < STATE_MIN:
        return np.int64(STATE_MIN)
    return x


@helper
def _d(x, dash):
    """``x >> dash`` (floor), or the sign of ``x`` where that is 0."""
    d = x >> dash
    if d == 0:
        if x > 0:
            return np.int64(1)
        if x < 0:
            return np.int64(-1)
    return d


@helper
def _deliver(cur, n, lo, hi, slots, weights):
    """Add ``n`` times each weight of one CSR row, saturating; returns how many saturated (a
    local count, so the loop carries no store to the event counters)."""
    saturated = np.int64(0)
    for j in range(lo, hi):
        t = slots[j]
        raw = cur[t] + n * weights[j]
        val = _sat(raw)
        saturated += val != raw
        cur[t] = val
    return saturated


@helper
def _neuron(cur, c0, n_syn, dash_syn, v, dash_mem, bias, thr, max_spikes, ev):
    """Update one neuron (currents ``cur[c0 : c0 + n_syn]``); returns (new v, spike count)."""
    total = np.int64(0)
    for c in range(n_syn):
        i = cur[c0 + c]
        i -= _d(i, dash_syn[c0 + c])
        cur[c0 + c] = i
        total += i
    dv = -_d(v, dash_mem)
    if dv > STATE_MAX:  # the chip stores -d(V) in int16: 32768 wraps to -32768
        dv -= 65536
        ev[E_WRAP] += 1
    dv = _sat(_sat(dv + total) + bias)
    v = _sat(v + dv)
    n = np.int64(0)
    if v >= thr:
        n = min(v // thr, max_spikes)
        v -= n * thr
    return v, n


@kernel
def _batch(
    x,
    max_in,
    in_ptr,
    in_slot,
    in_w,
    rec_ptr,
    rec_slot,
    rec_w,
    out_ptr,
    out_slot,
    out_w,
    n_syn,
    dash_syn,
    dash_mem,
    bias,
    thr,
    max_hidden,
    dash_syn_out,
    dash_mem_out,
    bias_out,
    thr_out,
    max_out,
    record,
    spikes,
    out_spikes,
    r_isyn,
    r_v,
    r_iout,
    r_vout,
    events,
):
    batch, steps, n_in = x.shape
    h = dash_mem.shape[0]
    o = dash_mem_out.shape[0]
    for b in prange(batch):
        cur = np.zeros(h * n_syn, np.int64)
        v = np.zeros(h, np.int64)
        cur_o = np.zeros(o, np.int64)
        v_o = np.zeros(o, np.int64)
        prev = np.zeros(h, np.int64)
        ev = np.zeros(4, np.int64)
        for k in range(steps):
            for s in range(n_in):
                n = np.int64(x[b, k, s])
                if n > max_in:
                    n = max_in
                    ev[E_CAPPED] += 1
                if n > 0:
                    ev[E_SAT] += _deliver(cur, n, in_ptr[s], in_ptr[s + 1], in_slot, in_w)
            for s in range(h):
                n = prev[s]
                if n > 0:
                    ev[E_SAT] += _deliver(cur, n, rec_ptr[s], rec_ptr[s + 1], rec_slot, rec_w)
                    ev[E_SAT] += _deliver(cur_o, n, out_ptr[s], out_ptr[s + 1], out_slot, out_w)
            for j in range(h):
                vj, n = _neuron(
                    cur, j * n_syn, n_syn, dash_syn, v[j], dash_mem[j], bias[j], thr[j],
                    max_hidden, ev,
                )  # fmt: skip
                v[j] = vj
                prev[j] = n
                spikes[b, k, j] = n
                ev[E_MULTI] += n > 1
            for j in range(o):
                vj, n = _neuron(
                    cur_o, j, 1, dash_syn_out, v_o[j], dash_mem_out[j], bias_out[j], thr_out[j],
                    max_out, ev,
                )  # fmt: skip
                v_o[j] = vj
                out_spikes[b, k, j] = n
            if record:
                for j in range(h):
                    r_v[b, k, j] = v[j]
                    for c in range(n_syn):
                        r_isyn[b, k, j, c] = cur[j * n_syn + c]
                for j in range(o):
                    r_vout[b, k, j] = v_o[j]
                    r_iout[b, k, j] = cur_o[j]
        for e in range(4):
            events[b, e] = ev[e]


def run_xylo_compiled(
    cfg: XyloConfig, num: XyloNumerics, x, record: bool = True, parallel: bool | None = None
) -> XyloRun:
    """The compiled twin of :func:`snn_deploy.backends.emulator.xylo.run_xylo_reference`."""
    x = check_counts(cfg, x)
    batch, steps, _ = x.shape
    h, o, c = cfg.n_hidden, cfg.n_out, cfg.n_syn
    in_csr = _csr(cfg.w_in, cfg.shift_in)
    rec_csr = _csr(cfg.w_rec, cfg.shift_rec)
    out_csr = _csr(cfg.w_out[:, :, None], cfg.shift_out)
    spikes = np.zeros((batch, steps, h), np.uint8)
    out_spikes = np.zeros((batch, steps, o), np.uint8)
    shape = (batch, steps) if record else (0, 0)
    r_isyn = np.zeros((*shape, h, c), np.int16)
    r_v = np.zeros((*shape, h), np.int16)
    r_iout = np.zeros((*shape, o), np.int16)
    r_vout = np.zeros((*shape, o), np.int16)
    events = np.zeros((batch, 4), np.int64)
    par = use_parallel(batch) if parallel is None else parallel
    _batch(
        x,
        np.int64(num.max_input_spikes),
        *in_csr,
        *rec_csr,
        *out_csr,
        np.int64(c),
        np.ascontiguousarray(cfg.dash_syn.reshape(-1)),
        cfg.dash_mem,
        cfg.bias,
        cfg.threshold,
        np.int64(num.max_hidden_spikes),
        cfg.dash_syn_out,
        cfg.dash_mem_out,
        cfg.bias_out,
        cfg.threshold_out,
        np.int64(num.max_output_spikes),
        record,
        spikes,
        out_spikes,
        r_isyn,
        r_v,
        r_iout,
        r_vout,
        events,
        parallel=par,
    )
    total = events.sum(axis=0)
    ev = {
        "saturated_additions": int(total[E_SAT]),
        "multi_spikes": int(total[E_MULTI]),
        "capped_inputs": int(total[E_CAPPED]),
        "mem_wraps": int(total[E_WRAP]),
    }
    states = {}
    if record:
        states = {
            "i_syn": r_isyn.astype(np.int64),
            "v": r_v.astype(np.int64),
            "i_out": r_iout.astype(np.int64),
            "v_out": r_vout.astype(np.int64),
        }
    return XyloRun(spikes=spikes, out_spikes=out_spikes, events=ev, **states)


def run(qnet, numerics, inputs, num_steps=None, record_voltage=(), parallel=None):
    """The engine's entry point (``compiled.KERNELS``): an integer network of the Xylo layout."""
    from snn_deploy.backends.emulator.xylo import run_network

    return run_network(qnet, numerics, inputs, num_steps, record_voltage, "compiled", parallel)
