"""Loihi-family kernel: Lava 0.10.0 ``PyLifModelBitAcc`` and ``PyDenseModelBitAcc``, exactly.

Reproduces ../shared/reference/loihi2-lava.md sections 1.2-1.6 (verified against Lava spike for
spike), vectorised over a batch of independent samples. Lava keeps ``u``, ``v`` and the synaptic
words in int32; we compute in int64 and apply the same int32 wrap where Lava's storage would.

One time step (step index k is Lava's ``time_step`` k + 1):

- Input ports emit ``x[:, k]`` (a ``RingBuffer`` emits ``data[:, time_step - 1]``).
- Each projection delivers what it accumulated ``delay`` steps ago, then accumulates
  ``acc = W[:, s] .sum(1)`` over this step's source spikes and shifts it:
  ``acc << weight_exp`` or ``acc >> -weight_exp`` (floor); the word is stored as int32.
- Each population, with ``a_in`` the int32 sum of what its projections deliver::

      u = wrap_once(round0(u * (4096 - (du + 1)) / 4096) + (a_in << 6), 24)
      v = clip(round0(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), ±(2**23 - 1))
      s = v > (vth << 6);   v[s] = 0            (u is not reset)

  where ``round0`` rounds toward zero (``sign(p) * (|p| >> 12)``).
- Weights are clipped and truncated once, before the first step, by sign mode and
  ``num_weight_bits`` (``prepare_weights``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.errors import ModelError
from snn_deploy.ir.simulate import check_inputs, input_arrays
from snn_deploy.numerics.loihi import LoihiNumerics, prepare_weights
from snn_deploy.numerics.ops import (
    decay_toward_zero,
    saturate_symmetric,
    shift,
    wrap,
    wrap_int32,
    wrap_once,
)
from snn_deploy.quantize.network import QuantizedNetwork

# Above this many bits an int64 dot product could leave float64's exact range.
_FLOAT_EXACT_BITS = 52


class _Synapse:
    def __init__(self, proj, num: LoihiNumerics, n_source: int):
        # Lava stores Dense weights as int32 before clipping (weightutils: astype(np.int32)).
        w = proj.weight
        if sp.issparse(w):
            w = sp.csr_matrix((wrap_int32(w.data), w.indices, w.indptr), shape=w.shape)
        else:
            w = wrap_int32(w)
        w = prepare_weights(w, proj.params.sign_mode, proj.params.num_weight_bits, num)
        self.source, self.target = proj.source, proj.target
        self.exp = int(proj.params.weight_exp)
        self.delay = int(proj.delay_steps)
        if self.delay < 1:
            raise ModelError(f"projection '{proj.name}': delay {self.delay} < 1 step")
        values = w.data if sp.issparse(w) else w
        max_abs = int(np.abs(values).max(initial=0))
        # Binary spikes times weights summed in float64 are exact below 2**52: use BLAS.
        exact = max_abs * max(n_source, 1) < (1 << _FLOAT_EXACT_BITS)
        dtype = np.float64 if exact else np.int64
        self.sparse = sp.issparse(w)
        self.weight = w.astype(dtype) if self.sparse else None
        self.weight_t = None if self.sparse else w.T.astype(dtype)
        self.exact_float = exact

    def accumulate(self, spikes: np.ndarray) -> np.ndarray:
        """int64 (batch, target) words for this step's binary source spikes."""
        dtype = np.float64 if self.exact_float else np.int64
        s = spikes.astype(dtype)
        acc = np.asarray((self.weight @ s.T).T) if self.sparse else s @ self.weight_t
        if self.exact_float:
            acc = np.rint(acc).astype(np.int64)
        return wrap_int32(shift(acc, self.exp))


class LoihiEmulator:
    def __init__(self, qnet: QuantizedNetwork, numerics: LoihiNumerics):
        if qnet.arithmetic != "loihi":
            raise ModelError(f"LoihiEmulator cannot run arithmetic {qnet.arithmetic!r}")
        self.qnet, self.num = qnet, numerics
        sizes = {p.name: p.size for p in (*qnet.inputs, *qnet.populations)}
        self.synapses = [_Synapse(p, numerics, sizes[p.source]) for p in qnet.projections]

    def run(
        self, inputs: dict, num_steps: int | None = None, record_voltage: tuple[str, ...] = ()
    ) -> EmulationResult:
        num, qnet = self.num, self.qnet
        batch, in_steps = check_inputs(qnet, inputs)
        steps = in_steps if num_steps is None else int(num_steps)
        x = input_arrays(qnet, inputs, steps, {i.name: i.shift_steps for i in qnet.inputs})
        unity = num.decay_unity
        pops = qnet.populations
        # Population constants, as Lava's LIF model holds them.
        consts = {}
        for p in pops:
            q = p.params
            keep_u = unity - (q.du + num.current_decay_offset)
            keep_v = unity - (q.dv + num.voltage_decay_offset)
            # bias_mant and bias_exp are int16 Vars in Lava; the effective bias is int32.
            bias = wrap_int32(shift(wrap(q.bias_mant, 16), wrap(q.bias_exp, 16)))
            vth = q.vth << num.threshold_shift
            consts[p.name] = (keep_u, keep_v, bias, vth)
        u = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
        v = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
        spikes = {p.name: np.zeros((batch, steps, p.size), bool) for p in pops}
        traces = {n: np.zeros((batch, steps, qnet.size_of(n)), np.int64) for n in record_voltage}
        src_now: dict[str, np.ndarray] = {}
        events = {p.name: {"u_wraps": 0, "v_saturations": 0, "int32_wraps": 0} for p in pops}
        rings = [
            np.zeros((s.delay, batch, qnet.size_of(s.target)), np.int64) for s in self.synapses
        ]
        for k in range(steps):
            # 1. Every projection delivers the word it accumulated `delay` steps ago.
            a_in = {p.name: np.zeros((batch, p.size), np.int64) for p in pops}
            for syn, ring in zip(self.synapses, rings, strict=True):
                a_in[syn.target] = a_in[syn.target] + ring[k % syn.delay]
            # 2. Sources emit this step's spikes: inputs their column k, populations update.
            for i in qnet.inputs:
                src_now[i.name] = x[i.name][:, k]
            for p in pops:
                keep_u, keep_v, bias, vth = consts[p.name]
                ev = events[p.name]
                total_in = a_in[p.name]
                act = wrap_int32(total_in) << num.input_shift
                raw = decay_toward_zero(u[p.name], keep_u, num.decay_bits) + wrap_int32(act)
                cur = wrap_int32(raw)
                ev["int32_wraps"] += int(
                    np.count_nonzero(
                        (wrap_int32(total_in) != total_in) | (wrap_int32(act) != act) | (cur != raw)
                    )
                )
                u[p.name] = wrap_once(cur, num.state_bits)
                ev["u_wraps"] += int(np.count_nonzero(u[p.name] != cur))
                volt = decay_toward_zero(v[p.name], keep_v, num.decay_bits) + u[p.name] + bias
                ev["int32_wraps"] += int(np.count_nonzero(wrap_int32(volt) != volt))
                volt = wrap_int32(volt)
                sat = saturate_symmetric(volt, num.state_bits)
                ev["v_saturations"] += int(np.count_nonzero(sat != volt))
                volt = sat
                s = volt > vth if p.spiking else np.zeros(volt.shape, bool)
                volt = np.where(s, 0, volt)
                v[p.name] = volt
                spikes[p.name][:, k] = s
                src_now[p.name] = s
                if p.name in traces:
                    traces[p.name][:, k] = volt
            # 3. Every projection accumulates this step's source spikes for later delivery.
            for syn, ring in zip(self.synapses, rings, strict=True):
                ring[k % syn.delay] = syn.accumulate(src_now[syn.source])
        final = {p.name: {"u": u[p.name], "v": v[p.name]} for p in pops}
        return EmulationResult(
            spikes=spikes, final_state=final, num_steps=steps, voltage=traces, events=events
        )
