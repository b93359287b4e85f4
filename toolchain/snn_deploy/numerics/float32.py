"""A float32 LIF with integer weights (``arithmetic = "float32"``): SpiNNaker2 as the NIR paper
ran it through py-spinnaker2.

Per population, every value float32 (IEEE single precision, round to nearest, as the
Cortex-M4F FPU computes), weights integers of ``weight_bits`` bits::

    I = alpha * I + sum_p W_p @ s_p            (alpha = 0: no synaptic current)
    V = beta * V + I + bias
    s = V > threshold;  V = 0 (reset "zero") or V - threshold (reset "subtract") where s

Source: the update was reconstructed from the NIR paper's SpiNNaker2 single-LIF trace
(``../shared/nir-paper/01_lif/lif_spinnaker2.csv``): ``V = 0.96 V + 102`` in float32 with a
threshold of ``2.5 * 102.02`` reproduces its spike steps exactly and its voltages to 2e-7
(``tests/spinnaker/test_spinnaker2.py``). The synaptic-current equation, the order of the
additions and the weight width are not published; they are our assumptions
(docs/spinnaker.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class Float32Numerics:
    weight_bits: int  # signed integer weights
    max_delay_bits: int | None  # None: the delay range is not published
    synapse_delay_steps: int
    populations_per_core: int  # 1: every processing element runs one slice of one population

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @property
    def weight_max(self) -> int:
        return (1 << (self.weight_bits - 1)) - 1

    @property
    def max_delay(self) -> int | None:
        return None if self.max_delay_bits is None else (1 << self.max_delay_bits) - 1

    @property
    def delay_bits(self) -> int:
        """Extra bits per delayed synapse in the mapping's memory model: none beyond the
        profile's ``synapse_overhead_bits`` word."""
        return 0


def f32(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def lif_step(i, v, syn_in, alpha, beta, bias):
    """One float32 step: ``I = alpha I + in``, ``V = beta V + I + bias`` (each op rounded)."""
    i = f32(f32(alpha) * f32(i)) + f32(syn_in)
    v = f32(f32(f32(beta) * f32(v)) + i) + f32(bias)
    return f32(i), f32(v)
