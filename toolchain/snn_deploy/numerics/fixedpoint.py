"""A generic fixed-point LIF chip whose bit widths are parameters (``arithmetic = "fixedpoint"``).

For chips without a vendor emulator of their own, and for asking "what if my chip had 4-bit
weights and 12-bit state?". One population, integers in state units, at every step::

    I = ovf( R(I * a / 2**decay_bits) + sum_p shift(W_p @ s_p, shift_p) )
    V = ovf( R(V * b / 2**decay_bits) + I + bias )
    s = V > threshold;  V = 0 where s (reset "zero")  or  V = V - threshold (reset "subtract")

``R`` is the profile's ``rounding`` (``nearest``: half away from zero, ``floor``,
``toward_zero``), applied to the decays and to right shifts; ``ovf`` is ``state_overflow``
(``saturate`` at ``±(2**(state_bits-1) - 1)``, or two's-complement ``wrap``). Weights are signed
``weight_bits`` integers; ``shift_p`` is one power-of-two exponent per projection.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from snn_deploy.numerics.ops import as_int64, saturate_symmetric, wrap

ROUNDINGS = ("nearest", "floor", "toward_zero")
OVERFLOWS = ("saturate", "wrap")


@dataclass(frozen=True)
class FixedPointNumerics:
    state_bits: int
    state_overflow: str
    decay_bits: int
    rounding: str
    weight_bits: int
    weight_shift_min: int
    weight_shift_max: int
    threshold_bits: int
    bias_bits: int
    delay_bits: int
    synapse_delay_steps: int

    def __post_init__(self):
        from snn_deploy.errors import ProfileError

        if self.rounding not in ROUNDINGS:
            raise ProfileError(f"[numerics].rounding {self.rounding!r} not in {ROUNDINGS}")
        if self.state_overflow not in OVERFLOWS:
            raise ProfileError(
                f"[numerics].state_overflow {self.state_overflow!r} not in {OVERFLOWS}"
            )

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
    def threshold_max(self) -> int:
        return (1 << self.threshold_bits) - 1

    @property
    def bias_max(self) -> int:
        return (1 << (self.bias_bits - 1)) - 1

    @property
    def decay_unity(self) -> int:
        return 1 << self.decay_bits

    @property
    def max_delay(self) -> int:
        return (1 << self.delay_bits) - 1


def rounded_shift_right(x, n: int, rounding: str) -> np.ndarray:
    """``x / 2**n`` (n >= 0) rounded by ``rounding``."""
    x = as_int64(x)
    if n <= 0:
        return x << -n
    if rounding == "floor":
        return x >> n
    if rounding == "toward_zero":
        return np.sign(x) * (np.abs(x) >> n)
    half = np.int64(1) << (n - 1)
    return np.sign(x) * ((np.abs(x) + half) >> n)  # nearest, ties away from zero


def scale_by_shift(x, shift: int, rounding: str) -> np.ndarray:
    return as_int64(x) << shift if shift >= 0 else rounded_shift_right(x, -shift, rounding)


def decay(x, multiplier, num: FixedPointNumerics) -> np.ndarray:
    return rounded_shift_right(as_int64(x) * as_int64(multiplier), num.decay_bits, num.rounding)


def overflow(x, num: FixedPointNumerics) -> np.ndarray:
    if num.state_overflow == "wrap":
        return wrap(x, num.state_bits)
    return saturate_symmetric(x, num.state_bits)


def round_float(x, rounding: str) -> np.ndarray:
    """Floats to integers with the chip's rounding (the quantizer's side of ``R``)."""
    x = np.asarray(x, dtype=np.float64)
    if rounding == "floor":
        return np.floor(x).astype(np.int64)
    if rounding == "toward_zero":
        return np.trunc(x).astype(np.int64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)
