"""The chip-specific numbers of an integer network, one dataclass pair per arithmetic family.

Per-neuron parameters are integer arrays (one entry per neuron, read-only); per-projection
parameters are scalars. ``QuantizedNetwork.save`` stores each with its class name, and ``PARAMS``
finds the class again on ``load``: a new arithmetic registers its pair with ``@register``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snn_deploy.ir.network import frozen

PARAMS: dict[str, type] = {}


def register(cls):
    PARAMS[cls.__name__] = cls
    return cls


def frozen_ints(a):
    return frozen(a, dtype=np.int64)


class PerNeuronInts:
    """Base of a neuron-parameter dataclass: every field becomes a read-only int64 array."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, frozen_ints(getattr(self, f.name)))


@register
@dataclass(frozen=True)
class LoihiLifParams(PerNeuronInts):
    """Arguments of Lava's ``LIF`` (bit-accurate), one entry per neuron.

    Lava takes one ``du``, ``dv`` and ``vth`` per process; the profile's
    ``[neurons].per_neuron_decays``/``per_neuron_threshold`` say whether they may differ."""

    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray


@register
@dataclass(frozen=True)
class LoihiSynapseParams:
    """Arguments of Lava's ``Dense``: shared exponent, mantissa bits and sign mode."""

    weight_exp: int
    num_weight_bits: int
    sign_mode: str

    def stored_bits(self, numerics) -> int:
        """Bits one weight occupies in synapse memory: the mantissa, plus a sign if MIXED."""
        return self.num_weight_bits + (1 if self.sign_mode == "mixed" else 0)


@register
@dataclass(frozen=True)
class FixedLifParams(PerNeuronInts):
    """Generic fixed-point LIF (``numerics/fixedpoint.py``), one entry per neuron: decay
    multipliers ``a`` (current) and ``b`` (voltage) in units of ``2**-decay_bits``, threshold and
    bias in state units."""

    a: np.ndarray
    b: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray


@register
@dataclass(frozen=True)
class FixedSynapseParams:
    """A projection's weights enter the current as ``w << shift`` (``>>`` with rounding if < 0)."""

    shift: int

    def stored_bits(self, numerics) -> int:
        return numerics.weight_bits


@register
@dataclass(frozen=True)
class SpinnakerLifParams(PerNeuronInts):
    """What the host writes for one sPyNNaker ``IF_curr_exp`` (``exponential`` = 1) or
    ``IF_curr_delta`` (0) neuron: PyNN parameters as s16.15 words (``v_init``, ``v_rest``,
    ``v_reset``, ``v_thresh`` in mV, ``cm`` in nF, ``tau_*`` and ``time_step`` in ms,
    ``i_offset`` in nA), one entry per neuron; ``rb_shifts`` the population's ring-buffer left
    shifts (excitatory, inhibitory). The core derives R, exp_TC, the synaptic decays and
    ``init`` from them (``numerics/spinnaker.py``)."""

    v_init: np.ndarray
    v_rest: np.ndarray
    cm: np.ndarray
    tau_m: np.ndarray
    i_offset: np.ndarray
    v_reset: np.ndarray
    v_thresh: np.ndarray
    tau_refrac: np.ndarray
    tau_syn_e: np.ndarray
    tau_syn_i: np.ndarray
    time_step: np.ndarray
    rb_shifts: np.ndarray
    exponential: np.ndarray


@register
@dataclass(frozen=True)
class SpinnakerSynapseParams:
    """A projection's weights are 16-bit ring-buffer words: ``|w|`` is stored, the sign picks
    the receptor (excitatory >= 0, inhibitory < 0); the target's ``rb_shifts`` scale them."""

    weight_bits: int = 16

    def stored_bits(self, numerics) -> int:
        return numerics.weight_bits


@register
@dataclass(frozen=True)
class Float32LifParams(PerNeuronInts):
    """float32 LIF (``numerics/float32.py``), one entry per neuron, stored as the float32 bit
    patterns (``view(np.int32)``) so the npz keeps them exactly."""

    alpha_bits: np.ndarray
    beta_bits: np.ndarray
    threshold_bits: np.ndarray
    bias_bits: np.ndarray

    @staticmethod
    def pack(x) -> np.ndarray:
        return np.asarray(x, dtype=np.float32).view(np.int32).astype(np.int64)

    def value(self, name: str) -> np.ndarray:
        return (
            np.asarray(getattr(self, f"{name}_bits"), dtype=np.int64)
            .astype(np.int32)
            .view(np.float32)
        )


@register
@dataclass(frozen=True)
class Float32SynapseParams:
    """Integer weights of ``weight_bits`` bits added to the float32 current."""

    weight_bits: int = 8

    def stored_bits(self, numerics) -> int:
        return numerics.weight_bits


@register
@dataclass(frozen=True)
class XyloLifParams(PerNeuronInts):
    """Xylo Audio 2 neuron (``numerics/xylo.py``), one entry per neuron: bit-shift decays of the
    membrane and of the synaptic current, threshold and bias in int16 state units."""

    dash_mem: np.ndarray
    dash_syn: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray


@register
@dataclass(frozen=True)
class XyloSynapseParams:
    """A weight matrix's int8 weights enter the current as ``w << shift`` (one shift per matrix:
    input, recurrent, output)."""

    shift: int

    def stored_bits(self, numerics) -> int:
        return numerics.weight_bits
