"""Loihi quantizer and format checks: nothing altered silently, every broken format named."""

import dataclasses

import numpy as np
import pytest

from conftest import assert_ints_equal, random_qnet
from snn_deploy.checks import check_formats
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.ir.network import DiscreteNetwork, InputPort, Population, Projection
from snn_deploy.numerics.loihi import prepare_weights
from snn_deploy.quantize.loihi import quantize_loihi
from snn_deploy.quantize.network import LoihiLifParams, LoihiSynapseParams, QuantizedNetwork


def float_net(weights, alpha=0.5, beta=0.875, theta=1.0):
    n_out, n_in = weights.shape
    return DiscreteNetwork(
        inputs=(InputPort("in", n_in),),
        populations=(
            Population(
                "hidden", n_out, alpha=alpha, beta=beta, threshold=theta, bias=0.0, v_reset=0.0
            ),
        ),
        projections=(Projection("fc", "in", "hidden", weights),),
        outputs=("hidden",),
        contract=DiscretizationContract(),
    )


def test_decays_and_threshold_of_the_digits_neurons_are_exact(loihi2):
    qnet, rep, viol = quantize_loihi(
        float_net(np.full((4, 3), 0.3)),
        loihi2,
        {"hidden": {"max_abs_current": 2.0, "max_abs_voltage": 4.0}},
    )
    q = qnet.populations[0].params
    assert viol == ()
    assert q.du.tolist() == [2047] * 4 and q.dv.tolist() == [512] * 4
    stats = rep.populations[0]
    assert stats.alpha_int == 0.5 and stats.beta_int == 0.875
    assert stats.limited_by == "voltage headroom" and stats.voltage_headroom == pytest.approx(0.5)
    assert 0 < q.vth[0] <= 131071 and stats.threshold_rel_error < 1e-4


def test_weights_that_round_to_zero_are_counted_and_shown(loihi2):
    w = np.full((3, 4), 1.0)
    w[0, 1], w[2, 3] = 1e-5, -2e-5  # far below one mantissa step of the largest weight
    qnet, rep, _ = quantize_loihi(float_net(w), loihi2)
    ws = rep.populations[0].weights[0]
    assert ws.zeroed == 2 and ws.saturated == 0
    assert [(r, c) for r, c, _ in ws.zeroed_examples] == [(0, 1), (2, 3)]
    assert ws.format.startswith("w<8b mixed")


def test_quantized_weights_are_left_unchanged_by_the_chip(loihi2):
    rng = np.random.default_rng(0)
    for scale in (1e-3, 1.0, 40.0):
        w = rng.normal(0, scale, (20, 30))
        for sign in (1, -1, None):
            ww = np.abs(w) * sign if sign else w
            qnet, rep, viol = quantize_loihi(float_net(ww), loihi2)
            proj = qnet.projections[0]
            p = proj.params
            assert_ints_equal(
                prepare_weights(proj.weight, p.sign_mode, p.num_weight_bits, loihi2.numerics),
                proj.weight,
                "chip-side weights",
            )
            assert check_formats(qnet, loihi2) == []
            assert rep.populations[0].weights[0].saturated == 0
            assert rep.populations[0].weights[0].rms_error_relative < 0.004


def test_sparse_weights_keep_their_pattern_and_report_on_their_synapses(loihi2):
    import scipy.sparse as sp

    w = sp.random(30, 40, density=0.1, random_state=3, format="csr") - 0.05 * sp.eye(30, 40)
    qnet, rep, viol = quantize_loihi(float_net(sp.csr_matrix(w)), loihi2)
    q = qnet.projections[0].weight
    assert viol == () and sp.issparse(q) and q.nnz == sp.csr_matrix(w).nnz
    assert rep.populations[0].weights[0].count == q.nnz
    assert check_formats(qnet, loihi2) == []


def test_non_spiking_readout_gets_the_largest_threshold_and_headroom(loihi2):
    net = float_net(np.full((3, 2), 0.5), theta=np.inf)
    net = dataclasses.replace(
        net, populations=(dataclasses.replace(net.populations[0], spiking=False, model="cuba_li"),)
    )
    qnet, rep, viol = quantize_loihi(net, loihi2)
    assert viol == () and qnet.populations[0].model == "cuba_li"
    assert qnet.populations[0].params.vth.tolist() == [131071] * 3
    assert rep.populations[0].voltage_headroom <= 0.5


def test_format_check_collects_every_violation(loihi2):
    qnet = random_qnet(np.random.default_rng(1), sizes=(4, 3))
    pop, proj = qnet.populations[0], qnet.projections[0]
    bad_pop = dataclasses.replace(
        pop,
        params=LoihiLifParams(
            du=[5000, 1, 1],
            dv=[1, 1, 1],
            vth=[200000] * 3,
            bias_mant=[5000, 0, 0],
            bias_exp=[9, 0, 0],
        ),
    )
    bad_proj = dataclasses.replace(
        proj, weight=np.full((3, 4), 255), delay_steps=100, params=LoihiSynapseParams(9, 8, "mixed")
    )
    contract = DiscretizationContract(reset="subtract", current_drive="previous_step")
    qnet = dataclasses.replace(
        qnet, populations=(bad_pop,), projections=(bad_proj,), contract=contract
    )
    text = "\n".join(v.format() for v in check_formats(qnet, loihi2))
    for expected in (
        "reset mode subtract is not one of zero (loihi2.toml [neurons].reset_modes)",
        "voltage drive previous_step is not one of same_step",
        "layer 'l1': distinct du values in one population 2 exceeds 1",
        "layer 'l1': current decay du (1 value(s)) 5,000 outside 0..4095",
        "layer 'l1': threshold vth (3 value(s)) 200,000 outside 0..131071",
        "layer 'l1': bias mantissa (1 value(s)) 5,000 outside -4096..4095",
        "layer 'l1': bias exponent (1 value(s)) 9 outside 0..7",
        "layer 'w1': weight exponent (1 value(s)) 9 outside -7..7",
        "layer 'w1': weights the chip would clip or truncate 12 exceeds 0",
        "layer 'w1': synaptic delay in steps (1 value(s)) 100 outside 1..64",
    ):
        assert expected in text, f"missing: {expected}\n{text}"


def test_integer_network_round_trips_through_npz(tmp_path, loihi2):
    qnet = random_qnet(np.random.default_rng(2))
    qnet.save(tmp_path / "n.npz")
    back = QuantizedNetwork.load(tmp_path / "n.npz")
    assert back.contract == qnet.contract and back.outputs == qnet.outputs
    for a, b in zip(qnet.populations, back.populations, strict=True):
        for f in ("du", "dv", "vth", "bias_mant", "bias_exp"):
            assert_ints_equal(getattr(b.params, f), getattr(a.params, f), f)
    for a, b in zip(qnet.projections, back.projections, strict=True):
        assert_ints_equal(b.weight, a.weight, a.name)
        assert a.params == b.params and a.delay_steps == b.delay_steps
