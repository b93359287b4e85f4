"""Fixed-point formats as value objects with readable names.

``IntFormat(24)`` is ``fixed<24,0>`` (signed 24-bit integer), ``IntFormat(12, signed=False)`` is
``ufixed<12,0>``; ``ManExpFormat(IntFormat(13), 0, 7)`` is ``manexp<13,0..7>``: a signed 13-bit
mantissa shifted left by an exponent in 0..7. Formats only describe ranges; the arithmetic that
moves values between them lives in :mod:`snn_deploy.numerics.ops`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class IntFormat:
    """An integer of ``bits`` bits (two's complement when ``signed``) with ``frac_bits``
    fractional bits: the stored integer ``q`` means ``q / 2**frac_bits``."""

    bits: int
    signed: bool = True
    frac_bits: int = 0

    @property
    def name(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.bits},{self.frac_bits}>"

    @property
    def min_int(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def fits(self, q) -> np.ndarray:
        q = np.asarray(q)
        return (q >= self.min_int) & (q <= self.max_int)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class ManExpFormat:
    """``mantissa * 2**exponent`` with a shared or per-element exponent in ``exp_min..exp_max``."""

    mantissa: IntFormat
    exp_min: int
    exp_max: int

    @property
    def name(self) -> str:
        m = self.mantissa
        return f"manexp<{'' if m.signed else 'u'}{m.bits},{self.exp_min}..{self.exp_max}>"

    def __str__(self) -> str:
        return self.name
