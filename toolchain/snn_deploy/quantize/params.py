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


@register
@dataclass(frozen=True)
class LoihiLifParams:
    """Arguments of Lava's ``LIF`` (bit-accurate), one entry per neuron.

    Lava takes one ``du``, ``dv`` and ``vth`` per process; the profile's
    ``[neurons].per_neuron_decays``/``per_neuron_threshold`` say whether they may differ."""

    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, frozen_ints(getattr(self, f.name)))


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
class FixedLifParams:
    """Generic fixed-point LIF (``numerics/fixedpoint.py``), one entry per neuron: decay
    multipliers ``a`` (current) and ``b`` (voltage) in units of ``2**-decay_bits``, threshold and
    bias in state units."""

    a: np.ndarray
    b: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, frozen_ints(getattr(self, f.name)))


@register
@dataclass(frozen=True)
class FixedSynapseParams:
    """A projection's weights enter the current as ``w << shift`` (``>>`` with rounding if < 0)."""

    shift: int

    def stored_bits(self, numerics) -> int:
        return numerics.weight_bits
