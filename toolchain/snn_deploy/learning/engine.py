"""The learning engine's number formats and THE integer arithmetic of plastic synapses.

``LearningEngine`` holds the widths of one chip's learning engine; it is built from the optional
``[learning]`` table of a hardware profile (Loihi 2: ``hardware_profiles/loihi2.toml``, every
number citing ``lava/magma/core/learning/constants.py`` or the model that uses it). The
functions below are the arithmetic of Lava 0.10.0's ``LearningConnectionModelBitApproximate``
and ``LearningRuleApplierBitApprox`` (../shared/reference/loihi2-lava.md sections 3.3-3.7):
trace decay and impulses with stochastic rounding, the product MAC with its int32 wrap, the
scaling shifts, the saturating accumulator and the stochastic rounding of synaptic variables.
The emulator (``backends/emulator/learning.py``) and the rule checks (``learning/check.py``)
import these, so the check's worst case and the emulator's arithmetic cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from snn_deploy.numerics.ops import wrap_int32

#: synaptic variable of each rule target, and its name in Lava (``SYNAPTIC_VARIABLE_VAR_MAPPING``)
TARGET_VARIABLE = {"dw": "w", "dd": "d", "dt": "t"}
LAVA_VARIABLE = {"w": "weights", "d": "tag_2", "t": "tag_1"}


@dataclass(frozen=True)
class LearningEngine:
    """Widths of a sum-of-products learning engine (one profile's ``[learning]`` table).

    Widths follow Lava's convention: a ``b``-bit factor is saturated to ``-(2**b)..2**b - 1``
    (``b`` magnitude bits and a sign), except traces, which are stored unsigned in ``0..2**b - 1``.
    """

    trace_bits: int  # x1, x2, y1, y2, y3: unsigned 0..127
    impulse_frac_bits: int  # impulses carry this many fractional bits
    weight_bits: int  # w: magnitude bits (the factor is signed: weight_bits + 1)
    tag_bits: int  # t (tag_1)
    delay_tag_bits: int  # d (tag_2, "delay"; learned, no delay effect in Lava)
    constant_bits: int  # additive constants in (var + C)
    scale_mantissa_bits: int  # scaling factor S = mantissa * 2**exp, signed mantissa
    scale_exp_min: int
    scale_exp_max: int
    accumulator_bits: int  # magnitude bits of the synaptic-change accumulator
    mac_bits: int  # the product MAC's word (int32 in Lava; overflow wraps)
    epoch_bits: int  # within-epoch spike time, so t_epoch <= 2**epoch_bits - 1
    max_decimation_exp: int  # k of the u_k dependency (one decimal digit in the grammar)
    three_factor_trace_tau: (
        int  # y taus Loihi3FLearningRule sets (post traces come from the neuron)
    )
    rounding_seed: int  # seed of the synaptic-variable stochastic-rounding stream (fixed)
    max_products: int | None  # per rule target; None: not published (not checked)
    max_factors: int | None  # per product; None: not published (not checked)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    # -- derived widths (lava/magma/core/learning/constants.py FACTOR_TO_WIDTH_DICT) ------------
    def factor_width(self, var: str) -> int:
        """Bits a factor adds to the product's width sum (``sgn(.)`` counts its variable)."""
        if var in ("x0", "y0"):
            return 1
        if var in ("x1", "x2", "y1", "y2", "y3"):
            return self.trace_bits
        if var == "w":
            return self.weight_bits + 1
        if var == "t":
            return self.tag_bits + 1
        if var == "d":
            return self.delay_tag_bits + 1
        if var == "C":
            return self.constant_bits
        raise KeyError(var)

    def variable_bits(self, var: str) -> int:
        """Unsigned width of a synaptic variable (w, d, t)."""
        return {"w": self.weight_bits, "t": self.tag_bits, "d": self.delay_tag_bits}[var]

    @property
    def trace_max(self) -> int:
        return (1 << self.trace_bits) - 1

    @property
    def accumulator_max(self) -> int:
        return (1 << self.accumulator_bits) - 1

    @property
    def accumulator_min(self) -> int:
        # Lava clips to -(2**15) - 1 (learning_rule_applier.py), one below the int16 minimum.
        return -(1 << self.accumulator_bits) - 1

    @property
    def scale_mantissa_range(self) -> tuple[int, int]:
        half = 1 << (self.scale_mantissa_bits - 1)
        return -half, half - 1

    @property
    def max_epoch(self) -> int:
        return (1 << self.epoch_bits) - 1

    def accumulator_shift(self, var: str) -> int:
        """``var << shift`` puts a synaptic variable into the accumulator (16 - 9 = 7 in Lava)."""
        return (self.accumulator_bits + 1) - (self.variable_bits(var) + 1)

    def variable_range(self, var: str, sign_mode: str = "mixed") -> tuple[int, int]:
        """Saturation of a synaptic variable after an update (connection.py
        ``_saturate_synaptic_variable``): weights by sign mode like ``clip_weights``,
        ``tag_2`` 0..255, ``tag_1`` -257..255."""
        top = (1 << self.variable_bits(var)) - 1
        if var == "w":
            return {"excitatory": (0, top), "inhibitory": (-top, 0), "mixed": (-(top + 1), top)}[
                sign_mode
            ]
        if var == "d":
            return 0, top
        return -(top + 1) - 1, top

    def factor_limits(self, var: str) -> tuple[int, int]:
        w = self.factor_width(var)
        return -(1 << w), (1 << w) - 1


DEFAULT_LOIHI2 = LearningEngine(
    trace_bits=7,
    impulse_frac_bits=8,
    weight_bits=8,
    tag_bits=8,
    delay_tag_bits=8,
    constant_bits=8,
    scale_mantissa_bits=4,
    scale_exp_min=-7,
    scale_exp_max=8,
    accumulator_bits=15,
    mac_bits=32,
    epoch_bits=6,
    max_decimation_exp=9,
    three_factor_trace_tau=65535,
    rounding_seed=2,
    max_products=None,
    max_factors=None,
)
"""Lava 0.10.0's widths; the same numbers as ``loihi2.toml [learning]`` (a test pins them)."""


def engine_of(profile) -> LearningEngine:
    """The learning engine of a profile; refuses a profile without ``[learning]``."""
    from snn_deploy.errors import UnsupportedError

    engine = getattr(profile, "learning", None)
    if engine is None:
        raise UnsupportedError(
            f"target '{profile.name}' has no on-chip learning engine "
            f"({profile.key('learning', '*')} is absent)",
            hint="learn off-chip and deploy the weights, or pick a target with [learning]",
        )
    return engine


# -- trace arithmetic (connection.py LearningConnectionModelBitApproximate) ---------------------


def decompose_impulse(impulse: float, engine: LearningEngine) -> tuple[int, int]:
    """Impulse -> (integer part, fraction in 1/256): ``floor`` and ``round`` (half to even)."""
    integer = np.floor(np.float64(impulse))
    frac = np.round((np.float64(impulse) - integer) * 2**engine.impulse_frac_bits)
    return int(integer), int(frac)


def decay_trace(values: np.ndarray, tau, r_decay: float) -> np.ndarray:
    """One step of stochastic exponential decay: ``f = exp(-1/tau) * z``;
    ``floor(f) + (r < frac(f))`` with one random number shared by all neurons."""
    f = np.exp(-1 / np.asarray(tau, dtype=np.float64)) * values
    frac = f % 1
    return (np.floor(f) + (r_decay < frac).astype(np.int64)).astype(np.int64)


def add_impulse(values: np.ndarray, r_imp, imp_int, imp_frac, engine: LearningEngine):
    """``clip(z + int + (r < frac), 0, 127)``; ``r`` is the 7-bit impulse random number (0 for
    a second spike within an epoch, so any nonzero fraction rounds up)."""
    z = values + imp_int
    z = (z + (r_imp < np.asarray(imp_frac)).astype(np.int64)).astype(np.int64)
    return np.clip(z, 0, engine.trace_max)


# -- product evaluation (learning_rule_applier.py LearningRuleApplierBitApprox.apply) -----------


def product_shift(width_sum: int, engine: LearningEngine) -> int:
    """Right shift after the MAC: ``max(0, sum of factor widths + mantissa bits - 15)``."""
    return max(0, width_sum + engine.scale_mantissa_bits - engine.accumulator_bits)


def mac_product(
    dep, factors: list, mantissa: int, stored_exp: int, width_sum: int, shape, engine, wraps=True
):
    """One product's contribution to the accumulator, exactly as Lava computes it in int32:
    ``m = dep * prod(clip(f))`` (wrapping at 32 bits after every multiplication),
    ``m *= mantissa``, ``m >>= shift``, ``m <<= stored_exp`` (= exp + 7), clip to the accumulator.

    ``factors`` are already-clipped integer arrays; ``dep`` is 0/1 (array or int). ``wraps``
    False skips the int32 wrap-around, which is exact when the worst case cannot reach it
    (:func:`product_bound`)."""
    m = np.ones(shape, dtype=np.int64) * np.asarray(dep, dtype=np.int64)
    wrap = wrap_int32 if wraps else _identity
    for f in factors:
        m = wrap(m * np.asarray(f, dtype=np.int64))
    m = wrap(m * int(mantissa))
    m = m >> product_shift(width_sum, engine)
    m = wrap(m << int(stored_exp))
    return np.minimum(np.maximum(m, engine.accumulator_min), engine.accumulator_max)


def _identity(x):
    return x


def factor_value_range(factor, engine: LearningEngine, var_extent: int | None = None):
    """Range of a factor after its constant and the MAC's saturation. ``var_extent`` widens a
    synaptic variable's range to its initial values (Lava does not clip initial weights)."""
    if factor.sgn:
        return -1, 1
    if factor.var in ("x0", "y0"):
        lo, hi = 0, 1
    elif factor.var in ("x1", "x2", "y1", "y2", "y3"):
        lo, hi = 0, engine.trace_max
    else:
        lo, hi = engine.variable_range(factor.var, "mixed")
        if var_extent is not None:
            lo, hi = min(lo, -var_extent), max(hi, var_extent)
    c = factor.const or 0
    flo, fhi = engine.factor_limits(factor.var)
    return max(flo, min(fhi, lo + c)), max(flo, min(fhi, hi + c))


def product_bound(factor_ranges: list, mantissa: int, stored_exp: int, width_sum: int, engine):
    """Largest magnitude any intermediate of :func:`mac_product` can reach, from the factors'
    value ranges; below 2**31 no int32 wrap can happen."""
    worst = abs(int(mantissa))
    for lo, hi in factor_ranges:
        worst *= max(abs(lo), abs(hi))
    return max(worst, (worst >> product_shift(width_sum, engine)) << int(stored_exp))


def stochastic_round_accumulator(acc: np.ndarray, r: float, var: str, engine: LearningEngine):
    """``(floor(acc / 2**s) + (r < frac)) * 2**s`` with ``s`` = accumulator bits - variable bits
    and one random number for every synapse of the connection (``ConnVarRandom``)."""
    unit = 2 ** (engine.accumulator_bits - engine.variable_bits(var))
    q = acc / unit
    frac = q % 1
    return ((np.floor(q) + (r < frac).astype(np.int64)) * unit).astype(np.int64)
