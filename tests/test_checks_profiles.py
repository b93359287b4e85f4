"""Every profile: a network that fits compiles with a complete report; a network that breaks
every limit class at once is refused with all its violations listed, each pinned here."""

import nir
import numpy as np
import pytest

from snn_deploy import api
from snn_deploy.errors import ResourceError
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract

DT = 1e-3


def _lif(n, meta=None):
    return nir.LIF(
        tau=np.full(n, 1e-2),
        r=np.full(n, 10.0),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
        metadata=meta or {},
    )


def _graph(nodes, edges, reset="zero", reset_delay=False):
    c = DiscretizationContract(dt_seconds=DT, reset=reset, reset_delay=reset_delay)
    return nir.NIRGraph(nodes, edges, metadata={METADATA_KEY: c.to_metadata()}, type_check=False)


def _fitting():
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([20])}),
        "fc1": nir.Linear(weight=rng.normal(0, 0.5, (30, 20))),
        "l1": _lif(30),
        "fc2": nir.Linear(weight=rng.normal(0, 0.5, (5, 30))),
        "l2": _lif(5),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    edges = [("input", "fc1"), ("fc1", "l1"), ("l1", "fc2"), ("fc2", "l2"), ("l2", "output")]
    return _graph(nodes, edges)


def _breaking(n_in, n_huge, delay_steps, **contract):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc_wide": nir.Linear(weight=np.full((2, n_in), 0.01)),
        "wide": _lif(2),
        "fc_huge": nir.Linear(weight=np.full((n_huge, 2), 0.5)),
        "huge": _lif(n_huge),
        "fc_alif": nir.Linear(weight=np.full((3, 2), 0.5)),
        "alif": _lif(3, {"snn_deploy_neuron": {"model": "alif", "beta_adapt": 1.8}}),
        "fc_late": nir.Linear(weight=np.full((2, 2), 0.5)),
        "delay": nir.Delay(delay=np.full(2, delay_steps * DT)),
        "late": _lif(2),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [
        ("input", "fc_wide"),
        ("fc_wide", "wide"),
        ("wide", "fc_huge"),
        ("fc_huge", "huge"),
        ("wide", "fc_alif"),
        ("fc_alif", "alif"),
        ("wide", "fc_late"),
        ("fc_late", "delay"),
        ("delay", "late"),
        ("late", "output"),
    ]
    return _graph(nodes, edges, **contract)


@pytest.mark.parametrize("target", ["loihi2", "fixedpoint"])
def test_a_network_that_fits_compiles_with_a_complete_report(tmp_path, target):
    nir.write(tmp_path / "ok.nir", _fitting())
    r = api.compile(tmp_path / "ok.nir", target, tmp_path / "out").to_dict()
    assert not r["violations"] and r["mapping"]["cores_used"] == 1
    for key in ("quantization", "mapping", "limits", "contract", "network", "stage_seconds"):
        assert r[key]
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert {
        "report.html",
        "report.md",
        "report.json",
        "network.npz",
        "mapping.json",
        "graph.nir",
        "manifest.json",
    } <= files


def _violations(tmp_path, graph, target):
    nir.write(tmp_path / "bad.nir", graph)
    with pytest.raises(ResourceError) as err:
        api.compile(tmp_path / "bad.nir", target, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    return str(err.value)


@pytest.mark.slow
def test_loihi2_refuses_every_broken_limit_at_once(tmp_path):
    text = _violations(tmp_path, _breaking(200_000, 1_100_000, 100, reset="subtract"), "loihi2")
    for expected in (
        "bad.nir cannot be deployed on Intel Loihi 2: 5 problem(s)",
        "error: network: reset mode subtract is not one of zero "
        "(loihi2.toml [neurons].reset_modes)",
        "error: layer 'alif': neuron model alif is not one of cuba_lif, cuba_li "
        "(loihi2.toml [neurons].models)",
        "error: layer 'delay': synaptic delay in steps (1 value(s)) 99 outside 1..64 "
        "(loihi2.toml [numerics].delay_bits)",
        "error: layer 'wide': memory of one neuron (fan-in 200,000 synapses) in bits 1,600,064 "
        "exceeds 1,572,864 (loihi2.toml [core].memory_bytes)",
        "error: layer 'huge': cores needed for 1,100,000 neurons (at most 8,192 per core) 135 "
        "exceeds 128 (loihi2.toml [chip].cores_per_chip x [chip].max_chips)",
        "hint: make 'huge' smaller, or give the system more chips (--chips 2)",
    ):
        assert expected in text, f"missing: {expected}\n{text}"


def test_fixedpoint_refuses_every_broken_limit_at_once(tmp_path):
    text = _violations(
        tmp_path, _breaking(5_000, 70_000, 40, reset="subtract", reset_delay=True), "fixedpoint"
    )
    for expected in (
        "5 problem(s)",
        "error: network: reset mode subtract (delayed) is not one of zero, subtract "
        "(fixedpoint.toml [neurons].reset_modes)",
        "error: layer 'alif': neuron model alif is not one of cuba_lif, cuba_li",
        "error: layer 'delay': synaptic delay in steps (1 value(s)) 39 outside 1..16 "
        "(fixedpoint.toml [numerics].delay_bits)",
        "error: layer 'wide': fan-in 5,000 exceeds 4,096 (fixedpoint.toml [core].max_fan_in)",
        "error: layer 'huge': cores needed for 70,000 neurons (at most 1,024 per core) 69 "
        "exceeds 64",
    ):
        assert expected in text, f"missing: {expected}\n{text}"


def test_more_chips_make_the_huge_layer_fit_and_spill(tmp_path):
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Linear(weight=np.full((70_000, 2), 0.5)),
        "huge": _lif(70_000),
        "output": nir.Output(output_type={"output": np.array([70_000])}),
    }
    nir.write(
        tmp_path / "h.nir", _graph(nodes, [("input", "fc"), ("fc", "huge"), ("huge", "output")])
    )
    r = api.compile(tmp_path / "h.nir", "fixedpoint", tmp_path / "out", chips=2).to_dict()
    chips = {c["chip"] for c in r["mapping"]["cores"]}
    assert r["mapping"]["cores_used"] == 69 and chips == {0, 1}
