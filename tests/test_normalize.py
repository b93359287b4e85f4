"""normalize: NIR -> DiscreteNetwork. Contract resolution, discretization, errors, and the NIR
paper's single-LIF golden test (float spike steps 460/510/710/760; on Loihi 461/511/711/761)."""

import dataclasses

import nir
import numpy as np
import pytest

from snn_deploy.backends.emulator import run
from snn_deploy.errors import ModelError, UnsupportedError
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate
from snn_deploy.quantize.loihi import quantize_loihi


def _lif_paper(nir_paper):
    g = nir.read(nir_paper / "01_lif" / "lif_norse.nir")
    x = np.loadtxt(nir_paper / "01_lif" / "lif_norse.csv", delimiter=",")[:, 0]
    return g, x[None, :, None].astype(bool)


def test_nir_paper_lif_float_reference_spikes_at_the_exact_steps(nir_paper):
    g, x = _lif_paper(nir_paper)
    net = normalize(g, {"dt_seconds": 1e-4})
    spikes = simulate(net, {"input": x}).spikes["1"][0, :, 0]
    assert np.nonzero(spikes)[0].tolist() == [460, 510, 710, 760]


def test_nir_paper_lif_on_loihi2_spikes_where_lava_and_loihi_do(nir_paper, loihi2):
    g, x = _lif_paper(nir_paper)
    qnet, _, violations = quantize_loihi(normalize(g, {"dt_seconds": 1e-4}), loihi2)
    assert violations == ()
    res = run(qnet, loihi2.numerics, {"input": x}, 1001)
    # Lava CPU fixed and Loihi 2 (nir-paper/01_lif/lif_lava_*_fixed.csv): one step of synapse delay
    assert np.nonzero(res.spikes["1"][0, :, 0])[0].tolist() == [461, 511, 711, 761]
    lava_fixed = np.loadtxt(nir_paper / "01_lif" / "lif_lava_loihi_fixed.csv", delimiter=",")
    assert np.nonzero(lava_fixed[:, 2])[0].tolist() == [461, 511, 711, 761]


def _graph(meta=None, type_check=True, **lif):
    params = dict(
        tau=np.full(2, 0.01),
        r=np.ones(2),
        v_leak=np.zeros(2),
        v_threshold=np.ones(2),
        v_reset=np.zeros(2),
    )
    params.update(lif)
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "fc": nir.Linear(weight=np.full((2, 3), 0.5)),
        "lif": nir.LIF(**params),
        "output": nir.Output(output_type=np.array([2])),
    }
    return nir.NIRGraph(
        nodes,
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        metadata=meta or {},
        type_check=type_check,
    )


def test_contract_comes_from_metadata_and_says_why():
    c = DiscretizationContract(dt_seconds=1e-4, reset="subtract")
    net = normalize(_graph({METADATA_KEY: c.to_metadata()}))
    assert net.contract.dt_seconds == 1e-4 and net.contract.reset == "subtract"
    assert "graph's metadata" in net.contract.source
    with pytest.raises(ModelError, match="does not say its time step"):
        normalize(_graph())
    user = normalize(_graph(), {"dt_seconds": 5e-3})
    assert "no contract in the graph's metadata" in user.contract.source
    assert "stated by the user: dt_seconds=0.005" in user.contract.source


def test_euler_discretization_folds_gains_into_weights():
    net = normalize(_graph(), {"dt_seconds": 1e-3})
    pop = net.populations[0]
    np.testing.assert_allclose(pop.beta, 0.9)  # 1 - dt/tau
    np.testing.assert_allclose(net.projections[0].weight, 0.5 * 0.1)  # r * dt / tau
    exact = normalize(_graph(), {"dt_seconds": 1e-3, "integrator": "exact"})
    np.testing.assert_allclose(exact.populations[0].beta, np.exp(-0.1))


def test_scalar_parameters_are_broadcast():
    scalars = {
        k: np.array(v)
        for k, v in dict(tau=0.02, r=1.0, v_leak=0.0, v_threshold=2.0, v_reset=0.0).items()
    }
    # nir's own type check refuses 0-d parameters (NIR#176); exporters skip it, so do we
    net = normalize(_graph(type_check=False, **scalars), {"dt_seconds": 1e-3})
    assert net.populations[0].size == 2
    np.testing.assert_array_equal(net.populations[0].threshold, [2.0, 2.0])


def test_recurrent_edges_get_the_contract_delay():
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "fc": nir.Linear(weight=np.eye(2)),
        "lif": nir.LIF(
            tau=np.full(2, 0.01), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)
        ),
        "rec": nir.Linear(weight=np.ones((2, 2))),
        "output": nir.Output(output_type=np.array([2])),
    }
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    net = normalize(nir.NIRGraph(nodes, edges), {"dt_seconds": 1e-3})
    delays = {p.name: p.delay_steps for p in net.projections}
    assert delays == {"fc": 0, "rec": 1}


def test_malformed_graphs_get_one_clear_error_each():
    dt = {"dt_seconds": 1e-3}
    with pytest.raises(ModelError, match="node 'lif': parameter 'v_threshold' has 1 NaN"):
        normalize(_graph(v_threshold=np.array([1.0, np.nan])), dt)
    g = _graph()
    g.nodes["fc"] = nir.Linear(weight=np.ones((5, 3)))  # 5 outputs into 2 neurons
    with pytest.raises(ModelError, match="node 'lif' \\(2 neurons\\) receives 5 values from 'fc'"):
        normalize(g, dt)

    @dataclasses.dataclass(eq=False)
    class Mystery(nir.NIRNode):
        weight: np.ndarray

    g = _graph()
    g.nodes["fc"] = Mystery(weight=np.ones((2, 3)))
    with pytest.raises(UnsupportedError, match="node 'fc' has type Mystery, which snn-deploy"):
        normalize(g, dt)
    lif = _graph().nodes["lif"]
    cycle = nir.NIRGraph(
        {"lif": lif, "rec": nir.Linear(weight=np.ones((2, 2)))},
        [("lif", "rec"), ("rec", "lif")],
        type_check=False,
    )
    with pytest.raises(ModelError, match="no Input node"):
        normalize(cycle, dt)
    g = _graph()
    g.edges.append(("fc", "ghost"))
    with pytest.raises(ModelError, match="edge \\('fc', 'ghost'\\) names 'ghost'"):
        normalize(g, dt)


def test_dt_larger_than_tau_is_refused_under_euler():
    with pytest.raises(ModelError, match="decay outside"):
        normalize(_graph(), {"dt_seconds": 0.1})


def test_affine_bias_into_a_plain_lif_becomes_a_voltage_bias(loihi2):
    g = _graph()
    g.nodes["fc"] = nir.Affine(weight=np.full((2, 3), 3.0), bias=np.array([2.0, -1.0]))
    net = normalize(g, {"dt_seconds": 1e-3})
    np.testing.assert_allclose(net.populations[0].bias, [0.2, -0.1])  # r dt/tau * b
    assert [i.kind for i in net.inputs] == ["spikes"]
    qnet, _, violations = quantize_loihi(net, loihi2)
    assert violations == ()
    assert qnet.populations[0].params.bias_mant.tolist() != [0, 0]
    x = np.random.default_rng(0).random((3, 50, 3)) < 0.3
    ref = simulate(net, {"input": x}).spikes["lif"]
    emu = run(qnet, loihi2.numerics, {"input": x}, 51).spikes["lif"][:, 1:]  # 1 step later
    assert ref.sum() > 20 and np.mean(emu == ref) > 0.99


def test_affine_bias_into_a_cuba_neuron_becomes_a_constant_input(loihi2):
    lif = dict(
        tau_syn=np.full(2, 2e-3),
        tau_mem=np.full(2, 1e-2),
        r=np.ones(2),
        v_leak=np.zeros(2),
        v_threshold=np.ones(2),
        v_reset=np.zeros(2),
        w_in=np.ones(2),
    )
    nodes = {
        "input": nir.Input(input_type=np.array([3])),
        "fc": nir.Affine(weight=np.full((2, 3), 2.0), bias=np.array([3.0, -1.0])),
        "lif": nir.CubaLIF(**lif),
        "output": nir.Output(output_type=np.array([2])),
    }
    g = nir.NIRGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    net = normalize(g, {"dt_seconds": 1e-3})
    assert [(i.name, i.kind) for i in net.inputs] == [("input", "spikes"), ("bias:lif", "constant")]
    x = np.random.default_rng(1).random((2, 60, 3)) < 0.2
    # the same dynamics written out by hand: I = a I + g (W s + b), V = b V + I
    a, bm = 1 - 1e-3 / 2e-3, 1 - 1e-3 / 1e-2
    gain = (1e-3 / 2e-3) * (1e-3 / 1e-2)
    i_, v_ = np.zeros((2, 2)), np.zeros((2, 2))
    expected = np.zeros((2, 60, 2), bool)
    for t in range(60):
        i_ = a * i_ + gain * (x[:, t].astype(float) @ np.full((3, 2), 2.0) + [3.0, -1.0])
        v_ = bm * v_ + i_
        expected[:, t] = v_ > 1
        v_ = np.where(expected[:, t], 0, v_)
    np.testing.assert_array_equal(simulate(net, {"input": x}).spikes["lif"], expected)
    qnet, _, violations = quantize_loihi(net, loihi2)
    assert violations == ()
    assert qnet.inputs[1].kind == "constant" and qnet.inputs[1].shift_steps == 0
    emu = run(qnet, loihi2.numerics, {"input": x}, 61).spikes["lif"][:, 1:]
    assert expected.sum() > 20 and np.mean(emu == expected) > 0.99
