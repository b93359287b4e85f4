"""Loihi-family number formats and weight preparation (Lava 0.10.0 bit-accurate models).

``LoihiNumerics`` holds the bit widths of one chip of the family; it is built from the
``[numerics]`` table of a hardware profile whose ``chip.arithmetic`` is ``"loihi"``.
The weight functions reproduce ``lava/utils/weightutils.py`` (``determine_sign_mode``,
``clip_weights``, ``truncate_weights``) as verified in loihi2-lava.md section 1.4.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp

from snn_deploy.numerics.formats import IntFormat, ManExpFormat
from snn_deploy.numerics.ops import as_int64

SIGN_MODES = ("excitatory", "inhibitory", "mixed")


@dataclass(frozen=True)
class LoihiNumerics:
    """Bit widths and shifts of a Loihi-family neuro-core (one profile's ``[numerics]``)."""

    state_bits: int  # u and v
    decay_bits: int  # du, dv; decays act as (2**decay_bits - decay) >> decay_bits
    current_decay_offset: int  # effective current decay = du + offset
    voltage_decay_offset: int
    input_shift: int  # a_in << input_shift is added to u
    threshold_bits: int  # unsigned vth mantissa
    threshold_shift: int  # effective threshold = vth << threshold_shift
    bias_mantissa_bits: int  # signed
    bias_exp_min: int
    bias_exp_max: int
    weight_mantissa_bits: int  # magnitude bits before the sign mode
    weight_exp_min: int
    weight_exp_max: int
    delay_bits: int
    synapse_delay_steps: int  # every Dense adds this many steps
    channel_bits: int  # synaptic input words between processes (int32 in Lava)

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @property
    def state(self) -> IntFormat:
        return IntFormat(self.state_bits)

    @property
    def decay(self) -> IntFormat:
        return IntFormat(self.decay_bits, signed=False)

    @property
    def threshold(self) -> IntFormat:
        return IntFormat(self.threshold_bits, signed=False)

    @property
    def bias(self) -> ManExpFormat:
        return ManExpFormat(
            IntFormat(self.bias_mantissa_bits), self.bias_exp_min, self.bias_exp_max
        )

    @property
    def decay_unity(self) -> int:
        return 1 << self.decay_bits

    @property
    def max_delay(self) -> int:
        return (1 << self.delay_bits) - 1

    def weight_range(self, sign_mode: str) -> tuple[int, int]:
        """Range ``clip_weights`` enforces for a sign mode (8-bit magnitude, MIXED adds a sign)."""
        top = (1 << self.weight_mantissa_bits) - 1
        return {
            "excitatory": (0, top),
            "inhibitory": (-top, 0),
            "mixed": (-(top + 1), top),
        }[sign_mode]

    def weight_step(self, sign_mode: str, num_weight_bits: int) -> int:
        """Granularity after ``truncate_weights``: 2**(8 - num_weight_bits + is_mixed)."""
        return 1 << (self.weight_mantissa_bits - num_weight_bits + (sign_mode == "mixed"))

    def weight_format(self, sign_mode: str, num_weight_bits: int) -> str:
        lo, hi = self.weight_range(sign_mode)
        step = self.weight_step(sign_mode, num_weight_bits)
        return f"w<{num_weight_bits}b {sign_mode}, step {step}, {lo}..{hi}>"


def determine_sign_mode(w) -> str:
    """EXCITATORY if min >= 0, INHIBITORY if max <= 0, else MIXED (Lava's rule)."""
    w = w.data if sp.issparse(w) else np.asarray(w)
    if w.size == 0 or w.min() >= 0:
        return "excitatory"
    if w.max() <= 0:
        return "inhibitory"
    return "mixed"


def clip_weights(w, sign_mode: str, num: LoihiNumerics) -> np.ndarray:
    """Lava ``clip_weights(w, sign_mode, num_bits=8)``: EXC [0, 255], MIXED [-256, 255],
    INH [-255, 0]."""
    lo, hi = num.weight_range(sign_mode)
    return np.clip(as_int64(w), lo, hi)


def truncate_weights(w, sign_mode: str, num_weight_bits: int, num: LoihiNumerics) -> np.ndarray:
    """Lava ``truncate_weights``: ``(w >> n) << n`` with ``n = 8 - num_weight_bits + is_mixed``;
    INHIBITORY weights are negated first and negated back, MIXED negatives floor toward -inf."""
    w = as_int64(w)
    n = num.weight_mantissa_bits - num_weight_bits + (1 if sign_mode == "mixed" else 0)
    if sign_mode == "inhibitory":
        return -(((-w) >> n) << n)
    return (w >> n) << n


def prepare_weights(w, sign_mode: str, num_weight_bits: int, num: LoihiNumerics):
    """What a bit-accurate Dense (or Sparse) does to its weights on its first step: clip, then
    truncate. A CSR matrix keeps its sparsity pattern (0 stays 0) and only its values change."""
    if sp.issparse(w):
        out = sp.csr_matrix(w, dtype=np.int64, copy=True)
        out.data = prepare_weights(out.data, sign_mode, num_weight_bits, num)
        return out
    return truncate_weights(clip_weights(w, sign_mode, num), sign_mode, num_weight_bits, num)
