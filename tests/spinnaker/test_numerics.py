"""The s16.15 arithmetic of numerics/spinnaker.py against values computed by hand from
sPyNNaker's and spinn_common's C code (docs/spinnaker.md lists the functions)."""

import numpy as np
import pytest

from snn_deploy.numerics.spinnaker import (
    decay_s1615,
    default_max_summed_weight,
    delta_input_scale,
    exp_synapse_constants,
    expk,
    expulr,
    kdivk,
    lif_constants,
    mul_accum,
    ring_add,
    s1615_from_float,
    shift_for_max_weight,
    weight_to_input,
)
from snn_deploy.profiles import load_profile

ONE = 32768  # 1.0 in s16.15


@pytest.fixture(scope="module")
def num():
    return load_profile("spinnaker1").numerics


def test_accum_product_truncates_toward_minus_infinity_and_wraps():
    assert mul_accum(3 * ONE // 2, 9 * ONE // 4) == 110592  # 1.5 * 2.25 = 3.375
    assert mul_accum(-1, ONE // 2) == -1  # -2**-15 * 0.5 floors to -2**-15, not 0
    assert mul_accum(1, ONE // 2) == 0  # +2**-15 * 0.5 floors to 0
    # 40000 mV * 2.0 = 80000 mV does not fit s16.15: the 32-bit word wraps (no saturation).
    assert mul_accum(40000 * ONE, 2 * ONE) == 80000 * ONE - 2**32


def test_decay_multiplies_by_a_u032_fraction_with_floor():
    half = 1 << 31
    assert decay_s1615(ONE, half) == ONE // 2
    assert decay_s1615(-1, half) == -1
    assert decay_s1615(3, half) == 1


def test_division_and_exponential_of_the_chip():
    assert kdivk(ONE, 47274) == 22713  # 1 ms / 1.4427 ms = 0.69315 (truncated)
    assert expk(0) == ONE
    assert expk(-ONE) == 12054  # e**-1 = 0.367879: 12054.2 truncated by the chip's series
    assert expk(-4369) == 28677  # e**-0.13333
    assert expulr(-22713) == 2147487414  # e**-0.69315 as u0.32
    assert expulr(0) == 0  # the low word of 1.0: the chip's own corner case


def test_derived_constants_of_the_digits_neuron():
    # beta = 0.875: tau_m = 1/ln(8/7) = 7.4888 ms, cm = tau_m (1 - beta) = 0.9361 nF
    tau_m, cm = 245395, 30674
    c = lif_constants(tau_m, cm, 0, ONE)
    assert c.exp_tc == 28672  # expk(-kdivk(1 ms, tau_m)) = 0.875 exactly
    assert c.r_membrane == (245395 << 15) // 30674 == 262147  # kdivk(tau_m, cm): 8.00009 MOhm
    assert c.t_refract == 0
    s = exp_synapse_constants(47274, ONE)  # tau_syn = 1.44269 ms, alpha = 0.5
    assert s.decay == 2147487414
    # init = (tau/ts)(1.0ulr - decay), 1.0ulr saturated to 0xFFFFFFFF: 1.442688 * 0.499999
    assert s.init == (47274 * (0xFFFFFFFF - 2147487414)) >> 15
    assert delta_input_scale(ONE) == ONE


def test_one_membrane_update_by_hand():
    """V = a - exp_TC (a - V), a = I R + V_rest: V = 1 mV, I = 0.5 nA, R = 8, exp_TC = 0.875:
    a = 4 mV, V' = 4 - 0.875 * 3 = 1.375 mV."""
    v, i, r, e = ONE, ONE // 2, 8 * ONE, 28672
    a = mul_accum(i, r)
    assert a == 4 * ONE
    assert a - mul_accum(e, a - v) == 45056  # 1.375 mV


def test_ring_buffer_saturates_at_16_bits(num):
    entry, sat = ring_add(np.array([65000, 10]), np.array([1000, 20]), num)
    np.testing.assert_array_equal(entry, [65535, 30])
    np.testing.assert_array_equal(sat, [True, False])


def test_smallest_representable_weight():
    """A weight word of 1 is 2**(shift-15) nA after the left shift; an IF_curr_exp synapse then
    multiplies it by init (0.72 here) with a floor, so at shift 0 the smallest word is lost."""
    init = exp_synapse_constants(47274, ONE).init
    assert weight_to_input(1, 0) == 1  # 2**-15 nA: the smallest s16.15 input
    assert decay_s1615(weight_to_input(1, 0), init) == 0
    assert decay_s1615(weight_to_input(1, 1), init) == 1
    assert decay_s1615(weight_to_input(1, 12), init) == (4096 * init) >> 32 == 2954
    assert weight_to_input(65535, 15) == 65535 << 15  # the largest word at the largest shift


def test_spynnaker_default_shift_rule(num):
    # population_vertex.py get_ring_buffer_shifts: smallest power of two above the maximum,
    # one more when the maximum is exactly a power of two, never negative.
    assert [shift_for_max_weight(w) for w in (0.0, 0.75, 1.0, 3.0, 4.0, 4.5)] == [0, 0, 1, 2, 3, 3]
    # 64 inputs of at most 2 nA, one spike per tick each (SpikeSourceArray, 1 ms): 128 nA.
    assert default_max_summed_weight([(2.0, 64)], num, 1.0) == 128.0
    assert shift_for_max_weight(128.0) == 8


def test_s1615_encoding_rounds_half_to_even():
    assert s1615_from_float(1.0) == ONE
    assert s1615_from_float(0.5 / ONE) == 0  # tie to even
    assert s1615_from_float(1.5 / ONE) == 2
