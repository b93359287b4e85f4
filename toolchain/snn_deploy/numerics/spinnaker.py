"""SpiNNaker 1 arithmetic as sPyNNaker 7.4.1 runs ``IF_curr_exp`` and ``IF_curr_delta``.

``arithmetic = "spinnaker"``. Every function below is our own implementation of one operation of
sPyNNaker's C code (or of the spinn_common library it links), named after it, with the file and
function it follows; none of their code is copied. ``REAL`` is GCC's ``accum``: s16.15 in a
32-bit word (``neural_modelling/src/common/maths-util.h``: ``typedef accum REAL``); a value is
held here as its integer word (``bitsk``), so ``1.0 mV`` is ``32768``.

One neuron, one time step (``neuron.c: neuron_transfer``, then
``implementations/neuron_impl_standard.h: neuron_impl_do_timestep_update``; ``mul`` is the
accum product, ``wrap`` the 32-bit word)::

    J_x   = wrap(J_x + decay_s1615(rb_x << shift_x, init_x))     x = exc, inh (IF_curr_exp)
    J_x   = wrap(J_x + (rb_x << shift_x))                        (IF_curr_delta)
    in    = wrap(J_exc' - J_inh' + I_offset)       J' = mul(J, 1/ts) for IF_curr_delta, else J
    a     = wrap(mul(in, R) + V_rest)
    V     = wrap(a - mul(exp_TC, wrap(a - V)))     (skipped while refract_timer > 0)
    spike = V >= V_thresh;  V = V_reset, refract_timer = T_refract where spike
    J_x   = decay_s1615(J_x, decay_x)  (IF_curr_exp)   or   J_x = 0  (IF_curr_delta)

``rb_x`` is the neuron's 16-bit ring-buffer entry of this tick (saturating sum of the weights
that arrive, ``synapses.c: process_fixed_synapses``). ``R``, ``exp_TC``, ``T_refract``, ``decay``
and ``init`` are computed on the chip from the parameters the host writes
(:func:`lif_constants`, :func:`exp_synapse_constants`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from snn_deploy.numerics.ops import as_int64, wrap

S1615_ONE = 1 << 15


@dataclass(frozen=True)
class SpinnakerNumerics:
    """One SpiNNaker-1 profile's ``[numerics]`` (sPyNNaker's formats and limits)."""

    accum_bits: int  # REAL = accum, a 32-bit word
    accum_frac_bits: int  # s16.15
    decay_frac_bits: int  # decay_t = unsigned long fract, u0.32
    weight_bits: int  # synaptic weight field (unsigned; the receptor type carries the sign)
    ring_buffer_entry_bits: int  # ring-buffer entries saturate at 2**bits - 1
    max_ring_buffer_index_bits: int  # atom bits + synapse-type bits + delay bits <= this
    synapse_type_bits: int  # 2 receptor types (excitatory, inhibitory)
    max_delay_extension_stages: int  # delay-extension slots per source
    max_row_length: int  # synapses per synaptic row (one source, one target core)
    synapse_delay_steps: int  # the smallest delay: one time step
    default_spikes_per_second: float  # spynnaker.cfg [Simulation] spikes_per_second
    default_ring_buffer_sigma: float  # spynnaker.cfg [Simulation] ring_buffer_sigma
    populations_per_core: int  # 1: every core runs one slice of one population

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @property
    def one(self) -> int:
        return 1 << self.accum_frac_bits

    @property
    def accum_max(self) -> int:
        return (1 << (self.accum_bits - 1)) - 1

    @property
    def accum_min(self) -> int:
        return -(1 << (self.accum_bits - 1))

    @property
    def weight_max(self) -> int:
        return (1 << self.weight_bits) - 1

    @property
    def delay_bits(self) -> int:
        """Extra bits per delayed synapse in the mapping's memory model: none, the delay is a
        field of the 32-bit synaptic word (``[core].synapse_overhead_bits``)."""
        return 0

    @property
    def ring_max(self) -> int:
        return (1 << self.ring_buffer_entry_bits) - 1


# ------------------------------------------------------------------ words and products


def wrap32(x) -> np.ndarray:
    """An accum word after a non-saturating GCC add or multiply: modular 32 bits."""
    return wrap(x, 32)


def s1615_from_float(x) -> np.ndarray:
    """Host side: ``DataType.S1615.encode_as_int`` (spinn_front_end_common
    ``interface/ds/data_type.py``): ``round(value * 32768)``, ties to even."""
    return np.rint(np.asarray(x, dtype=np.float64) * S1615_ONE).astype(np.int64)


def mul_accum(a, b) -> np.ndarray:
    """``accum * accum`` as GCC compiles it for the ARM968 (ARMv5TE, ARM mode: spinnaker_tools
    ``make/spinnaker_tools.mk`` sets ``THUMB := 0``): ``arm-fixed.md`` ``mulsa3`` emits ``smull``
    and keeps bits 15..46 of the 64-bit product, i.e. ``floor(a * b / 2**15)`` wrapped to 32 bits
    (no rounding, no saturation). Seen in sPyNNaker 7.4.1's ``IF_curr_exp.aplx``: ``smull``,
    ``lsl #17``, ``orr ..., lsr #15`` in the membrane update."""
    return wrap32((as_int64(a) * as_int64(b)) >> 15)


def decay_s1615(x, decay) -> np.ndarray:
    """``neuron/decay.h: decay_s1615``: ``(int64 x * uint32 decay) >> 32`` (floor)."""
    return (as_int64(x) * as_int64(decay)) >> 32


def decay_s1615_to_u032(x: int, decay: int) -> int:
    """``neuron/decay.h: decay_s1615_to_u032``: ``(uint64 x * decay) >> 15``, kept to 32 bits
    (``x`` is sign-extended to 64 bits first)."""
    return (((int(x) & ((1 << 64) - 1)) * int(decay)) >> 15) & 0xFFFFFFFF


def kdivk(a: int, b: int) -> int:
    """``common/maths-util.h: kdivk``: ``kbits((uint32) udiv64((uint64) bitsk(a) << 15,
    bitsk(b)))`` for positive ``a``, ``b``; the 32-bit quotient is read back as a signed word."""
    q = ((int(a) << 15) // int(b)) & 0xFFFFFFFF
    return q - (1 << 32) if q >= (1 << 31) else q


def kdivui(a: int, b: int) -> int:
    """``common/maths-util.h: kdivui``: accum divided by an unsigned integer, truncated."""
    return int(a) // int(b)


def ceil_accum(x: int) -> int:
    """``neuron_model_lif_impl.h: lif_ceil_accum``: integer part, plus one if any fraction."""
    x = int(x)
    return (x >> 15) + (1 if x & 0x7FFF else 0)


# spinn_common src/stdfix-exp.c: e**k * 2**32 for k = -13..12, (1 - e**(-i/16)) * 2**32 for
# i = 0..15, and the coefficients of its polynomial for the remaining 11 bits of the fraction.
_EXP_HI = (
    9708,
    26389,
    71733,
    194991,
    530041,
    1440801,
    3916503,
    10646160,
    28939262,
    78665070,
    213833830,
    581260615,
    1580030169,
    4294967296,
    11674931555,
    31735754293,
    86266724208,
    234497268814,
    637429664642,
    1732713474316,
    4710003551159,
    12803117065094,
    34802480465680,
    94602950235157,
    257157480542844,
    699026506411923,
)
_EXPM1_MID = (
    0,
    260218914,
    504671961,
    734314346,
    950043403,
    1152702096,
    1343082321,
    1521927990,
    1689937949,
    1847768698,
    1996036966,
    2135322113,
    2266168400,
    2389087112,
    2504558555,
    2613033936,
)
_EXP_SERIES = (5294, 4293434720, 2081624032)
_EXP_MAX_ARG = 363408  # stdfix-exp.c: above this expk saturates
_EXP_MIN_ARG = -340695  # stdfix-exp.c: below this expk returns 0
_M32 = 0xFFFFFFFF


def _round64(x: int) -> int:
    """spinn_common ``utils.h: round64``: the high word, plus one if the low word >= INT32_MAX."""
    return (x >> 32) + (1 if (x & _M32) >= 0x7FFFFFFF else 0)


def _scale64(x: int, y: int) -> int:
    """spinn_common ``utils.h: scale64``: ``x * y / 2**32`` with ``y`` a u0.32 fraction."""
    return _round64((x & _M32) * y) + (x >> 32) * y


def _exp_series(x: int) -> int:
    """spinn_common ``stdfix-exp.c: exp_series`` (uint32 arithmetic, coefficients u0.32)."""
    tmp = (_EXP_SERIES[1] - ((_EXP_SERIES[2] * x) >> 32)) & _M32
    tmp = (tmp * x) >> 32
    return (tmp + _EXP_SERIES[0]) & _M32


def _expi64(n: int) -> int:
    """spinn_common ``stdfix-exp.c: __expi64``: ``e**(n / 2**15)`` as a u32.32 integer."""
    z = n >> 15
    f = n - (z << 15)
    if f > 0:
        z += 1
        f = 32768 - f
        t = _EXP_HI[13 + z]
        t -= _scale64(t, _EXPM1_MID[f >> 11])
        t -= _scale64(t, _exp_series((f & 0x7FF) << 17))
        return t
    return _EXP_HI[13 + z]


def expk(x: int) -> int:
    """spinn_common ``stdfix-exp.c: expk``: s16.15 in, s16.15 out (``__expi64 >> 17``)."""
    x = int(x)
    if x > _EXP_MAX_ARG:
        return 0x7FFFFFFF
    if x < _EXP_MIN_ARG:
        return 0
    return (_expi64(x) >> 17) & _M32


def expulr(x: int) -> int:
    """spinn_common ``stdfix-exp.c: expulr``: s16.15 in, u0.32 out (the low word of
    ``__expi64``; ``expulr(0)`` is 0, as on the chip)."""
    x = int(x)
    if x > _EXP_MAX_ARG:
        return 0x7FFFFFFF
    if x < _EXP_MIN_ARG:
        return 0
    return _expi64(x) & _M32


# ----------------------------------------------------------------- what the chip derives


@dataclass(frozen=True)
class LifConstants:
    """``neuron_model_lif_impl.h: neuron_model_initialise`` (``n_steps_per_timestep = 1``):
    what the core computes from the host's words. All s16.15 words except ``t_refract``."""

    r_membrane: int  # kdivk(tau_m, c_m)
    exp_tc: int  # expk(-kdivk(ts, tau_m))
    t_refract: int  # lif_ceil_accum(kdivk(tau_refrac, ts)), in ticks


def lif_constants(tau_m: int, cm: int, tau_refrac: int, time_step: int) -> LifConstants:
    ts = kdivui(time_step, 1)
    return LifConstants(
        r_membrane=kdivk(tau_m, cm),
        exp_tc=expk(-kdivk(ts, tau_m)),
        t_refract=ceil_accum(kdivk(tau_refrac, ts)),
    )


@dataclass(frozen=True)
class ExpSynapseConstants:
    """``synapse_types/exp_synapse_utils.h: decay_and_init``: u0.32 words."""

    decay: int  # expulr(-kdivk(ts, tau))
    init: int  # decay_s1615_to_u032(kdivk(tau, ts), 1.0ulr - decay)


def exp_synapse_constants(tau_syn: int, time_step: int) -> ExpSynapseConstants:
    ts = kdivui(time_step, 1)
    decay = expulr(-kdivk(ts, tau_syn))
    # 1.0ulr does not fit u0.32: GCC saturates the constant to 0xFFFFFFFF (IF_curr_exp.aplx:
    # ``mvn r1, #0; sub r1, r1, decay``).
    inv = _M32 - decay
    return ExpSynapseConstants(decay=decay, init=decay_s1615_to_u032(kdivk(tau_syn, ts), inv))


def delta_input_scale(time_step: int) -> int:
    """``input_types/input_type_delta.h: input_type_initialise``: ``kdivk(1.0, ts)``."""
    return kdivk(S1615_ONE, kdivui(time_step, 1))


# ---------------------------------------------------------------------- the ring buffer


def weight_to_input(w, shift) -> np.ndarray:
    """``synapse_row.h: synapse_row_convert_weight_to_input``: ``(int32) w << shift`` read as
    an s16.15 word."""
    return wrap32(as_int64(w) << as_int64(shift))


def ring_add(entry, weights, num: SpinnakerNumerics) -> tuple[np.ndarray, np.ndarray]:
    """``synapses.c: process_fixed_synapses``: each arriving weight is added to the 16-bit entry
    and a sum with bit 16 set becomes ``0xFFFF``. For non-negative weights the result is
    ``min(entry + sum, 0xFFFF)`` whatever their order; also returns where it saturated."""
    total = as_int64(entry) + as_int64(weights)
    return np.minimum(total, num.ring_max), total > num.ring_max


def weight_scale(shift: int) -> float:
    """``population_vertex.py: __get_weight_scale``: nA -> ring-buffer units,
    ``2**(16 - (shift + 1))``; the host writes ``rint(|w| * scale) & 0xFFFF``
    (``synapse_dynamics_static.py: get_static_synaptic_data``). Elementwise over arrays."""
    return np.exp2(15.0 - np.asarray(shift, dtype=np.float64))


def shift_for_max_weight(max_weight: float) -> int:
    """``population_vertex.py: get_ring_buffer_shifts``: the smallest power of two above the
    expected largest summed weight (one more if the weight is exactly a power of two), >= 0."""
    if max_weight <= 0:
        return 0
    power = int(math.ceil(max(0.0, math.log2(max_weight))))
    return power + 1 if 2.0**power <= max_weight else power


def default_max_summed_weight(
    projections: list[tuple[float, int]], num: SpinnakerNumerics, dt_ms: float
) -> float:
    """sPyNNaker's default for one receptor type of one population when every projection has
    a single delay (``population_vertex.py: _Stats.get_max_weight`` with zero delay variance):
    ``max(sum_p spikes_per_tick * w_max_p * n_conns_p, max_p w_max_p)``, with
    ``spikes_per_tick = max(1, spikes_per_second / steps_per_second)`` for sources that are not
    Poisson (``__pre_spike_stats``). ``projections`` holds (largest |w| in nA, largest number
    of connections into one target neuron)."""
    if not projections:
        return 0.0
    per_tick = max(1.0, num.default_spikes_per_second / (1000.0 / dt_ms))
    total = sum(per_tick * w * n for w, n in projections)
    return max(total, max(w for w, _ in projections))


def n_bits(n_values: int) -> int:
    """``utility_calls.py: get_n_bits``: bits to index ``n_values`` values (1 for 1)."""
    if n_values <= 0:
        return 0
    if n_values == 1:
        return 1
    return int(math.ceil(math.log2(n_values)))
