"""SpikingMLP.to_nir: structure, Euler parameters, contract metadata, nir.write/read round trip."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from train_reference import random_mlp, random_spikes

from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract
from snn_deploy.train.models import SpikingMLP

CUBA_FIELDS = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")


def euler_run(graph: nir.NIRGraph, x: np.ndarray, dt: float, chain: list[str]) -> np.ndarray:
    """Forward Euler of the NIR CubaLIF equations, from the graph's parameters alone:
    tau_syn dI/dt = -I + w_in (W s), tau_mem dV/dt = v_leak - V + r I, V reset to v_reset."""
    s_all = x
    for name in chain:
        w = graph.nodes[f"{name}_w"].weight
        p = graph.nodes[name]
        i = np.zeros((x.shape[1], w.shape[0]))
        v = np.zeros_like(i)
        out = np.zeros((x.shape[0], x.shape[1], w.shape[0]))
        for t in range(x.shape[0]):
            i = i + dt / p.tau_syn * (-i + p.w_in * (s_all[t] @ w.T))
            v = v + dt / p.tau_mem * (p.v_leak - v + p.r * i)
            s = v > p.v_threshold
            v = np.where(s, p.v_reset, v)
            out[t] = s
        s_all = out
    return s_all


def test_structure_and_parameters():
    model = SpikingMLP.from_sizes([4, 6, 3], alpha=0.5, beta=0.875, bias=True)
    with torch.no_grad():
        model.layers[0].bias.fill_(0.25)
    graph = model.to_nir()
    assert set(graph.nodes) == {"input", "hidden_w", "hidden", "output_w", "output", "output_port"}
    assert graph.edges == [
        ("input", "hidden_w"),
        ("hidden_w", "hidden"),
        ("hidden", "output_w"),
        ("output_w", "output"),
        ("output", "output_port"),
    ]
    assert isinstance(graph.nodes["input"], nir.Input)
    assert isinstance(graph.nodes["output_port"], nir.Output)
    np.testing.assert_array_equal(graph.nodes["input"].input_type["input"], [4])
    np.testing.assert_array_equal(graph.nodes["output_port"].output_type["output"], [3])
    h = graph.nodes["hidden"]
    assert isinstance(h, nir.CubaLIF) and isinstance(graph.nodes["hidden_w"], nir.Linear)
    for f in CUBA_FIELDS:
        arr = getattr(h, f)
        assert arr.dtype == np.float64 and arr.shape == (6,), f
    np.testing.assert_allclose(h.tau_syn, 2e-3, rtol=1e-15)
    np.testing.assert_allclose(h.w_in, 2.0, rtol=1e-15)
    np.testing.assert_allclose(h.tau_mem, 8e-3, rtol=1e-15)
    np.testing.assert_allclose(h.r, 8.0, rtol=1e-15)
    np.testing.assert_allclose(h.v_leak, 0.25 / 0.125, rtol=1e-15)
    np.testing.assert_array_equal(h.v_threshold, np.ones(6))
    np.testing.assert_array_equal(h.v_reset, np.zeros(6))
    np.testing.assert_array_equal(graph.nodes["output"].v_leak, np.zeros(3))
    assert graph.nodes["hidden_w"].weight.dtype == np.float64
    np.testing.assert_array_equal(
        graph.nodes["hidden_w"].weight, model.layers[0].fc.weight.detach().double().numpy()
    )
    assert DiscretizationContract.from_metadata(graph.metadata[METADATA_KEY]) == (
        model.default_contract()
    )


def test_output_node_is_named_output_when_free():
    model = SpikingMLP.from_sizes([4, 3], alpha=0.5, beta=0.875, names=["readout"])
    graph = model.to_nir()
    assert graph.edges[-1] == ("readout", "output")
    assert isinstance(graph.nodes["output"], nir.Output)


@pytest.mark.parametrize("dt", [1e-3, 1e-4])
def test_euler_simulation_of_the_graph_reproduces_the_model(dt):
    model = random_mlp([8, 7, 5], seed=11, bias=(True, False))
    x = random_spikes(40, 6, 8, seed=12)
    with torch.no_grad():
        spikes = model(x).numpy()
    graph = model.to_nir(DiscretizationContract(dt_seconds=dt, source="test"))
    euler = euler_run(graph, x.numpy(), dt, list(model.names))
    assert spikes.mean() > 0.02
    mismatch = np.argwhere(euler != spikes)
    assert mismatch.size == 0, f"{len(mismatch)} spikes differ, first {mismatch[:5].tolist()}"


def test_write_read_round_trip(tmp_path):
    model = random_mlp([5, 6, 4], seed=5, bias=(True,))
    contract = DiscretizationContract(dt_seconds=1e-3, source="round-trip test")
    graph = model.to_nir(contract)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    back = nir.read(path)
    assert set(back.nodes) == set(graph.nodes)
    assert back.edges == graph.edges
    for name, node in graph.nodes.items():
        other = back.nodes[name]
        assert type(other) is type(node), name
        if isinstance(node, nir.CubaLIF):
            for f in CUBA_FIELDS:
                np.testing.assert_array_equal(getattr(other, f), getattr(node, f), err_msg=f)
                assert getattr(other, f).dtype == np.float64
        elif isinstance(node, nir.Linear):
            np.testing.assert_array_equal(other.weight, node.weight)
    assert DiscretizationContract.from_metadata(back.metadata[METADATA_KEY]) == contract


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "alpha",
            1.0,
            r"layer 'hidden': alpha must be in \[0, 1\) for NIR export, got 1 at "
            r"neuron 0",
        ),
        ("beta", 1.5, r"layer 'hidden': beta must be in \[0, 1\) for NIR export, got 1.5"),
        ("alpha", -0.1, r"alpha must be in \[0, 1\)"),
    ],
)
def test_decays_outside_unit_interval_are_refused(field, value, message):
    model = SpikingMLP.from_sizes([4, 3, 2], alpha=0.5, beta=0.5)
    getattr(model.layers[0], field)[0] = value
    with pytest.raises(ModelError, match=message):
        model.to_nir()


@pytest.mark.parametrize(
    "contract, message",
    [
        (
            DiscretizationContract(integrator="exact"),
            r"integrator='exact' but SpikingMLP "
            r"computes with integrator='euler'",
        ),
        (DiscretizationContract(reset="subtract"), r"reset='subtract'"),
        (DiscretizationContract(reset_delay=True), r"reset_delay=True"),
        (DiscretizationContract(current_drive="previous_step"), r"current_drive='previous_step'"),
    ],
)
def test_contract_must_describe_the_model(contract, message):
    model = SpikingMLP.from_sizes([4, 2], alpha=0.5, beta=0.5)
    with pytest.raises(ModelError, match=message):
        model.to_nir(contract)
