"""SynSense Xylo Audio 2's integer arithmetic (``arithmetic = "xylo"``), as the vendor's
bit-accurate simulator ``xylosim`` 0.1.3 (``xylosim.v2``) computes it.

Read from xylosim's C++ (``XyloIAFNeuron.cpp``, ``XyloLayer.cpp``); nothing is copied from it.
All states are int16; ``sat`` clamps to ``[-32768, 32767]``. One chip step:

1. Input spikes: each input channel's count, capped at 15, adds ``n`` times ``w << shift_in``
   to its targets' synaptic currents, saturating at every addition (``n`` saturating additions
   of one weight equal one saturating addition of ``n * w``, since the clamp is monotone).
2. Hidden spikes of the previous step (counts up to 31) add ``w << shift_rec`` to the hidden
   neurons' currents and ``w << shift_out`` to the output neurons' current, the same way.
   Sources are taken in index order, so that sequences of saturating additions agree.
3. Every hidden neuron, then every output neuron::

       I_c  = I_c - d(I_c, dash_syn_c)                  for each synaptic current c (1 or 2)
       dv   = int16(-d(V, dash_mem))                    wraps once: V = -32768 with dash 0
       dv   = sat(dv + sum_c I_c)
       dv   = sat(dv + bias)
       V    = sat(V + dv)
       n    = min(max_spikes, V // threshold) if V >= threshold else 0;   V = V - n * threshold

   with ``d(x, dash) = x >> dash`` (arithmetic, floor), replaced by ``sign(x)`` where it is 0
   (the decay moves at least one unit toward zero). ``max_spikes`` is 31 for hidden neurons and
   1 for output neurons; the threshold is positive (1..32767). Reset is by subtraction; there is
   no refractory period. Output neurons see hidden spikes one step after they are emitted.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from snn_deploy.numerics.ops import as_int64

STATE_MIN = -(1 << 15)
STATE_MAX = (1 << 15) - 1


@dataclass(frozen=True)
class XyloNumerics:
    state_bits: int
    weight_bits: int
    weight_shift_min: int
    weight_shift_max: int
    threshold_min: int
    bias_bits: int
    dash_bits: int
    synapses_per_neuron: int
    output_synapses_per_neuron: int
    max_input_spikes: int
    max_hidden_spikes: int
    max_output_spikes: int
    max_input_channels: int
    max_hidden_neurons: int
    max_output_neurons: int
    synapse_delay_steps: int

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @property
    def state_max(self) -> int:
        return (1 << (self.state_bits - 1)) - 1

    @property
    def weight_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def weight_min(self) -> int:
        return -(1 << (self.weight_bits - 1))

    @property
    def dash_max(self) -> int:
        return (1 << self.dash_bits) - 1

    @property
    def bias_max(self) -> int:
        return (1 << (self.bias_bits - 1)) - 1


def sat16(x) -> np.ndarray:
    """Clamp to int16 (xylosim's ``safe_add`` at 16 bits)."""
    return np.clip(as_int64(x), STATE_MIN, STATE_MAX)


def wrap16(x) -> np.ndarray:
    """Two's-complement wrap to int16 (a C++ conversion to ``int16_t``)."""
    x = as_int64(x)
    return ((x + (1 << 15)) % (1 << 16)) - (1 << 15)


def decay_step(x, dash) -> np.ndarray:
    """``d(x, dash)``: ``x >> dash`` (floor), or ``sign(x)`` where that is 0."""
    x = as_int64(x)
    d = x >> as_int64(dash)
    return np.where(d == 0, np.sign(x), d)


def decayed(x, dash) -> np.ndarray:
    """``x - d(x, dash)`` (never leaves int16: at -32768 with dash 0 it is 0)."""
    return as_int64(x) - decay_step(x, dash)


def spikes_and_reset(v, threshold, max_spikes: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike count ``n`` and the membrane after subtracting ``n`` thresholds (threshold > 0)."""
    v = as_int64(v)
    thr = as_int64(threshold)
    n = np.where(v >= thr, np.minimum(np.maximum(v, 0) // thr, max_spikes), 0)
    return n, v - n * thr


def neuron_step(i_syn, v, dash_syn, dash_mem, bias, threshold, max_spikes: int):
    """One step of a population after its synaptic currents received this step's weights.

    ``i_syn``: (..., n, c) currents; ``dash_syn`` (n, c); the rest (n,). Returns the decayed
    currents, the new membrane and the spike counts."""
    i_syn = decayed(i_syn, dash_syn)
    dv = wrap16(-decay_step(v, dash_mem))
    dv = sat16(dv + i_syn.sum(axis=-1))
    dv = sat16(dv + as_int64(bias))
    v = sat16(as_int64(v) + dv)
    n, v = spikes_and_reset(v, threshold, max_spikes)
    return i_syn, v, n
