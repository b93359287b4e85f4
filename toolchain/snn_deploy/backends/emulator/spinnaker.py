"""SpiNNaker 1 kernel: sPyNNaker 7.4.1's ``IF_curr_exp`` / ``IF_curr_delta`` in s16.15, batched.

Step k (chip tick k; equations and sources in :mod:`snn_deploy.numerics.spinnaker`):

1. ``neuron_transfer``: every neuron's two ring-buffer entries for tick k are shifted left by
   the population's shifts and added to its excitatory and inhibitory inputs (``IF_curr_exp``:
   through ``init``), then cleared.
2. Input ports emit column k of their spikes (a ``SpikeSourceArray`` spike at ``k * dt`` ms).
3. ``neuron_impl_do_timestep_update``: every neuron updates its membrane, fires on
   ``V >= v_thresh`` and resets; then the synaptic inputs decay (or clear, for delta synapses).
4. Spikes of tick k add their 16-bit weights into the entries of tick ``k + delay`` of their
   targets, saturating at 0xFFFF (``process_fixed_synapses``).

This assumes every spike is processed in the tick it is sent (a board that is not overloaded:
sPyNNaker reports late spikes in its provenance otherwise).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.errors import ModelError
from snn_deploy.ir.simulate import check_inputs, input_arrays
from snn_deploy.numerics.spinnaker import (
    SpinnakerNumerics,
    decay_s1615,
    delta_input_scale,
    exp_synapse_constants,
    lif_constants,
    mul_accum,
    ring_add,
    weight_to_input,
    wrap32,
)
from snn_deploy.quantize.network import QuantizedNetwork


class _Pop:
    """Per-neuron constants the core derives from the host's words, once."""

    def __init__(self, pop, num: SpinnakerNumerics):
        q = pop.params
        self.name, self.size, self.spiking = pop.name, pop.size, pop.spiking
        self.exponential = bool(int(q.exponential))
        self.shifts = [int(s) for s in np.asarray(q.rb_shifts).ravel()]
        n = pop.size
        self.r = np.zeros(n, np.int64)
        self.exp_tc = np.zeros(n, np.int64)
        self.t_refract = np.zeros(n, np.int64)
        self.decay = np.zeros((2, n), np.int64)
        self.init = np.zeros((2, n), np.int64)
        memo: dict = {}
        for i in range(n):
            k = (int(q.tau_m[i]), int(q.cm[i]), int(q.tau_refrac[i]), int(q.time_step[i]))
            if k not in memo:
                memo[k] = lif_constants(*k)
            c = memo[k]
            self.r[i], self.exp_tc[i], self.t_refract[i] = c.r_membrane, c.exp_tc, c.t_refract
            if self.exponential:
                for j, tau in enumerate((q.tau_syn_e[i], q.tau_syn_i[i])):
                    ks = ("syn", int(tau), int(q.time_step[i]))
                    if ks not in memo:
                        memo[ks] = exp_synapse_constants(int(tau), int(q.time_step[i]))
                    self.decay[j, i], self.init[j, i] = memo[ks].decay, memo[ks].init
        self.sf = np.array([delta_input_scale(int(t)) for t in q.time_step], np.int64)
        self.v_rest = np.asarray(q.v_rest, np.int64)
        self.v_reset = np.asarray(q.v_reset, np.int64)
        self.v_thresh = np.asarray(q.v_thresh, np.int64)
        self.i_offset = np.asarray(q.i_offset, np.int64)
        self.v_init = np.asarray(q.v_init, np.int64)


class _Synapse:
    """A projection's excitatory and inhibitory 16-bit words as (target, source) matrices."""

    def __init__(self, proj):
        w = proj.weight
        if sp.issparse(w):
            w = sp.csr_matrix(w, dtype=np.int64)
            pos = w.multiply(w > 0).tocsr()
            neg = (-w).multiply(w < 0).tocsr()
        else:
            w = np.asarray(w, np.int64)
            pos, neg = np.where(w > 0, w, 0), np.where(w < 0, -w, 0)
        if (pos.max() if pos.shape[0] * pos.shape[1] else 0) > 0xFFFF or (
            neg.max() if neg.shape[0] * neg.shape[1] else 0
        ) > 0xFFFF:
            raise ModelError(f"projection '{proj.name}': weights beyond 16 bits")
        self.source, self.target, self.delay = proj.source, proj.target, int(proj.delay_steps)
        if self.delay < 1:
            raise ModelError(f"projection '{proj.name}': delay {self.delay} < 1 tick")
        self.sparse = sp.issparse(pos)
        # Sums of at most 2**16-weight words over any fan-in stay exact in float64.
        self.w = [
            m.astype(np.float64) if self.sparse else m.T.astype(np.float64) for m in (pos, neg)
        ]

    def accumulate(self, spikes: np.ndarray, j: int) -> np.ndarray:
        s = spikes.astype(np.float64)
        acc = np.asarray((self.w[j] @ s.T).T) if self.sparse else s @ self.w[j]
        return np.rint(acc).astype(np.int64)


def run_spinnaker(
    qnet: QuantizedNetwork,
    num: SpinnakerNumerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
) -> EmulationResult:
    if qnet.arithmetic != "spinnaker":
        raise ModelError(f"the SpiNNaker kernel cannot run arithmetic {qnet.arithmetic!r}")
    batch, in_steps = check_inputs(qnet, inputs)
    steps = in_steps if num_steps is None else int(num_steps)
    x = input_arrays(qnet, inputs, steps, {i.name: i.shift_steps for i in qnet.inputs})
    pops = [_Pop(p, num) for p in qnet.populations]
    syns = [_Synapse(p) for p in qnet.projections]
    depth = max([s.delay for s in syns], default=1) + 1
    ring = {p.name: np.zeros((depth, 2, batch, p.size), np.int64) for p in pops}
    j_in = {p.name: np.zeros((2, batch, p.size), np.int64) for p in pops}
    v = {p.name: np.broadcast_to(p.v_init, (batch, p.size)).copy() for p in pops}
    refract = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
    spikes = {p.name: np.zeros((batch, steps, p.size), bool) for p in pops}
    traces = {n: np.zeros((batch, steps, qnet.size_of(n)), np.int64) for n in record_voltage}
    events = {p.name: {"ring_saturations": 0, "accum_wraps": 0} for p in pops}
    src: dict[str, np.ndarray] = {}
    for k in range(steps):
        slot = k % depth
        for p in pops:  # 1. neuron_transfer
            for j in (0, 1):
                entry = ring[p.name][slot, j]
                add = weight_to_input(entry, p.shifts[j])
                if p.exponential:
                    add = decay_s1615(add, p.init[j])
                raw = j_in[p.name][j] + add
                j_in[p.name][j] = wrap32(raw)
                events[p.name]["accum_wraps"] += int(np.count_nonzero(j_in[p.name][j] != raw))
                ring[p.name][slot, j] = 0
        for i in qnet.inputs:  # 2. sources
            src[i.name] = x[i.name][:, k]
        for p in pops:  # 3. neuron update
            ev = events[p.name]
            exc, inh = j_in[p.name]
            if not p.exponential:
                exc, inh = mul_accum(exc, p.sf), mul_accum(inh, p.sf)
            raw_in = exc - inh + p.i_offset
            total = wrap32(raw_in)
            raw_a = mul_accum(total, p.r) + p.v_rest
            a = wrap32(raw_a)
            raw_d = a - v[p.name]
            d = wrap32(raw_d)
            raw_v = a - mul_accum(p.exp_tc, d)
            v_new = wrap32(raw_v)
            ev["accum_wraps"] += int(
                np.count_nonzero((total != raw_in) | (a != raw_a) | (d != raw_d) | (v_new != raw_v))
            )
            active = refract[p.name] <= 0
            volt = np.where(active, v_new, v[p.name])
            refract[p.name] = np.where(active, refract[p.name], refract[p.name] - 1)
            s = volt >= p.v_thresh if p.spiking else np.zeros(volt.shape, bool)
            volt = np.where(s, p.v_reset, volt)
            refract[p.name] = np.where(s, p.t_refract, refract[p.name])
            v[p.name] = volt
            spikes[p.name][:, k] = s
            src[p.name] = s
            if p.name in traces:
                traces[p.name][:, k] = volt
            if p.exponential:  # synapse_types_shape_input
                j_in[p.name] = np.stack([decay_s1615(j_in[p.name][j], p.decay[j]) for j in (0, 1)])
            else:
                j_in[p.name] = np.zeros_like(j_in[p.name])
        for syn in syns:  # 4. process_fixed_synapses
            s = src[syn.source]
            if not s.any():
                continue
            target = (k + syn.delay) % depth
            buf = ring[syn.target]
            for j in (0, 1):
                add = syn.accumulate(s, j)
                buf[target, j], sat = ring_add(buf[target, j], add, num)
                events[syn.target]["ring_saturations"] += int(np.count_nonzero(sat))
    final = {
        p.name: {"v": v[p.name], "i_exc": j_in[p.name][0], "i_inh": j_in[p.name][1]} for p in pops
    }
    return EmulationResult(
        spikes=spikes, final_state=final, num_steps=steps, voltage=traces, events=events
    )
