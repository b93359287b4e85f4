"""The locality and width checks: each kind of violation is refused with a message that names
the offending term (and says what must be routed where); every library rule passes."""

from __future__ import annotations

import dataclasses

import pytest

from snn_deploy.errors import ResourceError, UnsupportedError
from snn_deploy.learning import (
    DEFAULT_LOIHI2,
    LearningRule,
    NeuronProgram,
    PostTrace,
    Route,
    TraceSpec,
    check_rule,
    ins,
    library,
    require_runnable,
)
from snn_deploy.profiles import load_profile


def _rule(three_factor=False, post=(), routes=(), **kwargs):
    strings = {k: kwargs.pop(k) for k in ("dw", "dd", "dt") if k in kwargs}
    return LearningRule.from_strings(
        "r", three_factor=three_factor, post_traces=post, routes=routes, **strings, **kwargs
    )


def _refused(rule, *patterns, profile=None, neuron=None):
    with pytest.raises(ResourceError) as info:
        require_runnable(rule, profile, neuron=neuron)
    text = str(info.value)
    for p in patterns:
        assert p in text, f"{p!r} not in:\n{text}"
    return text


def test_every_library_rule_passes_both_checks(loihi2):
    assert loihi2.learning == DEFAULT_LOIHI2  # the profile's [learning] is Lava's widths
    for name, lib in library().items():
        assert check_rule(lib.rule, loihi2, neuron=lib.neuron) == [], name


# -- locality ---------------------------------------------------------------------------------


def test_another_neurons_voltage_is_refused():
    _refused(_rule(dw="u0*x1*post.v"), "'post.v'", "another neuron's voltage", "y2")


def test_own_voltage_in_a_rule_is_refused_with_the_neuron_program_fix():
    _refused(
        _rule(dw="y0*x1*v_post"),
        "'v_post'",
        "a neuron's voltage",
        "post neuron's program write f(v) into y2",
    )


def test_weight_matrix_is_refused():
    _refused(_rule(dw="u0*W_out*(y3-64)"), "'W_out'", "a weight matrix", "feedback synapses")


def test_global_loss_is_refused_with_the_routing_it_needs():
    _refused(
        _rule(dw="u0*t*loss"),
        "'loss'",
        "a global signal",
        "e-prop's learning signal needs error neurons and feedback synapses into y3",
    )


def test_unknown_identifier_is_refused():
    _refused(_rule(dw="x0*y1*zeta"), "'zeta'", "not a learning-engine variable")


def test_post_trace_without_a_writer_is_refused():
    _refused(_rule(three_factor=True, dw="u0*x1*y3"), "post trace y3", "written by no neuron")


def test_post_trace_of_an_unrouted_signal_is_refused():
    rule = _rule(three_factor=True, dw="u0*x1*(y3-64)", post=(PostTrace("y3", "dopamine"),))
    _refused(rule, "y3 = 'dopamine'", "'dopamine'", "feedback synapses into y3")
    routed = dataclasses.replace(rule, routes=(Route("dopamine", "reward neurons", "into a3"),))
    assert check_rule(routed) == []


def test_post_traces_in_a_two_factor_rule_are_refused():
    rule = _rule(dw="y0*x1", post=(PostTrace("y2", "psi(v)"),))
    _refused(rule, "post traces y2", "three_factor=True")


def test_neuron_program_reading_foreign_state_is_refused():
    neuron = NeuronProgram("bad", (ins("add", "y2", "v", "W_out"), ins("mov", "vth", "v")))
    rule = _rule(three_factor=True, dw="u0*x1*y2", post=(PostTrace("y2", "psi(v)"),))
    text = _refused(rule, "reads 'W_out'", neuron=neuron)
    assert "can write only its own state registers" in text


# -- widths -----------------------------------------------------------------------------------


def test_scaling_mantissa_out_of_range_is_refused():
    _refused(
        _rule(dw="9*x0*y1"),
        "dw term 1 '9*x0*y1': scaling mantissa 9 is outside -8..7",
        "scale_mantissa_bits",
    )


def test_scaling_exponent_out_of_range_is_refused():
    _refused(_rule(dw="x0*y1 - 2^-8*y0*x1"), "dw term 2", "scaling exponent -8 is outside -7..8")


def test_constant_wider_than_8_bits_is_refused():
    _refused(
        _rule(dw="x0*(y1-300)"), "constant in '(y1-300)' -300 is outside -256..255", "constant_bits"
    )


def test_product_that_overflows_the_mac_is_refused():
    _refused(
        _rule(dw="u0*w*w*w*(t+3)"), "dw term 1 'u0*w*w*w*(t+3)'", "worst-case product", "mac_bits"
    )


def test_epoch_longer_than_the_spike_time_field_is_refused():
    _refused(_rule(dw="x0*y1", t_epoch=64), "t_epoch 64 is outside 1..63", "epoch_bits")


def test_trace_impulse_and_tau_out_of_range_are_refused_together():
    text = _refused(
        _rule(dw="y0*x1", x1=TraceSpec(200.0, -1.0)), "trace x1 impulse 200", "trace x1 tau -1"
    )
    assert "2 problem(s)" in text


def test_mixed_decimation_across_programs_is_refused():
    _refused(_rule(dw="u0*t", dt="u2*x1"), "dw: u0, dt: u2", "u_k decimation")


def test_published_product_and_factor_limits_are_checked(loihi2):
    engine = dataclasses.replace(loihi2.learning, max_products=2, max_factors=2)
    profile = dataclasses.replace(loihi2, learning=engine)
    _refused(
        _rule(dw="x0*y1 + y0*x1 - u0*w*x1*y1"),
        "dw: products 3 exceeds 2",
        "dw term 3 '-u0*w*x1*y1': factors 3 exceeds 2",
        "max_products",
        profile=profile,
    )


def test_target_without_learning_engine_is_refused():
    with pytest.raises(UnsupportedError, match=r"no on-chip learning engine"):
        check_rule(library()["pair_stdp"].rule, load_profile("spinnaker2"))
