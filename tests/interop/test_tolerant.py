"""Shape inference for NIR graphs that NIR's type check refuses (frontend/tolerant.py): batch
dimensions dropped, 0-d neuron parameters broadcast, every edge checked, the input untouched."""

import nir
import numpy as np
import pytest

from snn_deploy.errors import ModelError
from snn_deploy.frontend.nir_file import read_nir
from snn_deploy.frontend.tolerant import infer_graph
from snn_deploy.ir.normalize import normalize


def _lif0():
    return nir.LIF(
        tau=np.array(10.0), r=np.array(1.0), v_leak=np.array(0.0), v_threshold=np.array(1.0)
    )


def test_conv_input_batch_dimension_and_scalar_lif(tmp_path):
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 2, 6, 6])}),
        "conv": nir.Conv2d((6, 6), rng.normal(size=(3, 2, 3, 3)), 1, 1, 1, 1, np.zeros(3)),
        "lif": _lif0(),
        "flat": nir.Flatten(input_type={"input": np.array([3, 6, 6])}, start_dim=0),
        "fc": nir.Affine(rng.normal(size=(4, 108)), np.zeros(4)),
        "out": _lif0(),
        "output": nir.Output(output_type={"output": np.array([1, 4])}),
    }
    edges = [
        ("input", "conv"),
        ("conv", "lif"),
        ("lif", "flat"),
        ("flat", "fc"),
        ("fc", "out"),
        ("out", "output"),
    ]
    graph = nir.NIRGraph(nodes, edges, type_check=False)
    fixed, notes = infer_graph(graph, "test")
    assert "leading batch dimension dropped ([1, 2, 6, 6] -> [2, 6, 6])" in notes[0]
    assert "'lif' (LIF): 0-d parameters" in notes[0] and "108 neurons" in notes[0]
    assert "'out' (LIF): 0-d parameters" in notes[0] and "its 4 neurons" in notes[0]
    assert fixed.nodes["lif"].tau.shape == (3, 6, 6)
    assert np.ndim(graph.nodes["lif"].tau) == 0  # the input graph is not modified
    net = normalize(fixed, {"dt_seconds": 1.0, "integrator": "exact"})
    assert [p.size for p in net.populations] == [108, 4]
    nir.write(tmp_path / "g.nir", fixed)  # the inferred graph is plain NIR again
    assert not read_nir(tmp_path / "g.nir").notes


def test_parameters_of_different_shapes_are_refused():
    bad = nir.LIF(
        tau=np.ones(5), r=np.ones(5), v_leak=np.ones(5), v_threshold=np.ones(5), v_reset=None
    )
    bad.v_threshold = np.ones(4)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc": nir.Linear(np.ones((5, 3))),
        "lif": bad,
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    graph = nir.NIRGraph(
        nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False
    )
    with pytest.raises(ModelError, match=r"node 'lif' \(LIF\): its parameters have different"):
        infer_graph(graph)


def test_neuron_layer_of_the_wrong_size_is_refused():
    nodes = {
        "input": nir.Input(input_type={"input": np.array([3])}),
        "fc": nir.Linear(np.ones((5, 3))),
        "lif": nir.LIF(tau=np.ones(6), r=np.ones(6), v_leak=np.ones(6), v_threshold=np.ones(6)),
        "output": nir.Output(output_type={"output": np.array([6])}),
    }
    graph = nir.NIRGraph(
        nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False
    )
    with pytest.raises(ModelError, match=r"node 'lif' \(LIF\): parameters of shape \[6\]"):
        infer_graph(graph)
