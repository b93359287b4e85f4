"""NIR import: every NIR 1.0 node, nested graphs, exporter conventions, conv lowering checked
against torch, and the NIR paper's CNN and Braille graphs compiled and emulated."""

import math

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snn_deploy import api
from snn_deploy.errors import ModelError, ResourceError
from snn_deploy.ir.lowering import lower
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate

DT = {"dt_seconds": 1e-3}


def _chain(*pairs, in_shape=(3,), extra_edges=()):
    """Input -> pairs (name, node) in order -> Output."""
    nodes = {"input": nir.Input(input_type={"input": np.array(in_shape)})}
    edges, prev = [], "input"
    for name, node in pairs:
        nodes[name] = node
        edges.append((prev, name))
        prev = name
    nodes["output"] = nir.Output(output_type={"output": np.array([1])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes, edges + list(extra_edges), type_check=False)


@pytest.mark.parametrize(
    "case",
    [
        dict(c_in=2, c_out=3, k=3, stride=1, padding=1, dilation=1, groups=1, size=(6, 5)),
        dict(c_in=2, c_out=4, k=5, stride=2, padding=1, dilation=1, groups=1, size=(9, 9)),
        dict(c_in=4, c_out=4, k=3, stride=1, padding=2, dilation=2, groups=2, size=(7, 8)),
        dict(c_in=3, c_out=2, k=3, stride=1, padding="same", dilation=1, groups=1, size=(5, 5)),
    ],
)
def test_conv2d_lowering_equals_torch(case):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(case["c_out"], case["c_in"] // case["groups"], case["k"], case["k"]))
    b = rng.normal(size=case["c_out"])
    node = nir.Conv2d(
        case["size"], w, case["stride"], case["padding"], case["dilation"], case["groups"], b
    )
    op = lower("c", node, (case["c_in"], *case["size"]))
    x = rng.normal(size=(2, case["c_in"], *case["size"]))
    expected = F.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(b),
        case["stride"],
        case["padding"],
        case["dilation"],
        case["groups"],
    ).numpy()
    got = np.asarray((op.matrix @ x.reshape(2, -1).T).T) + op.bias
    assert op.out_shape == expected.shape[1:]
    np.testing.assert_allclose(got, expected.reshape(2, -1), atol=1e-10)


def test_conv1d_and_pooling_lowering_equal_torch():
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(3, 2, 4)), rng.normal(size=3)
    op = lower("c", nir.Conv1d(10, w, 2, 1, 1, 1, b), (2, 10))
    x = rng.normal(size=(2, 2, 10))
    ref = F.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), 2, 1).numpy()
    np.testing.assert_allclose(
        np.asarray((op.matrix @ x.reshape(2, -1).T).T) + op.bias, ref.reshape(2, -1), atol=1e-10
    )
    x = rng.normal(size=(2, 3, 6, 7))
    for cls, k, s, p in ((nir.SumPool2d, 2, 2, 0), (nir.AvgPool2d, 3, 2, 1)):
        op = lower(
            "p",
            cls(kernel_size=np.array([k, k]), stride=np.array([s, s]), padding=np.array([p, p])),
            (3, 6, 7),
        )
        ref = F.avg_pool2d(torch.from_numpy(x), k, s, p, count_include_pad=True).numpy()
        if cls is nir.SumPool2d:
            ref = ref * k * k
        np.testing.assert_allclose(
            np.asarray((op.matrix @ x.reshape(2, -1).T).T), ref.reshape(2, -1), atol=1e-10
        )


def _cuba(n, **kw):
    p = dict(
        tau_syn=np.full(n, 2e-3),
        tau_mem=np.full(n, 1e-2),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
        w_in=np.ones(n),
    )
    p.update(kw)
    return nir.CubaLIF(**p)


def test_nested_graph_and_dotted_names_give_the_same_network():
    w_in, w_rec = np.full((2, 3), 4.0), np.full((2, 2), -0.5)
    sub = nir.NIRGraph(
        {
            "input": nir.Input(input_type={"input": np.array([2])}),
            "lif": _cuba(2),
            "w_rec": nir.Linear(weight=w_rec),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    nested = nir.NIRGraph(
        {
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Linear(weight=w_in),
            "rnn": sub,
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        [("input", "fc"), ("fc", "rnn"), ("rnn", "output")],
        type_check=False,
    )
    flat = nir.NIRGraph(
        {
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Linear(weight=w_in),
            "rnn.lif": _cuba(2),
            "rnn.w_rec": nir.Linear(weight=w_rec),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        [
            ("input", "fc"),
            ("fc", "rnn.lif"),
            ("rnn.lif", "rnn.w_rec"),
            ("rnn.w_rec", "rnn.lif"),
            ("rnn.lif", "output"),
        ],
        type_check=False,
    )
    a, b = normalize(nested, DT), normalize(flat, DT)
    assert [p.name for p in a.populations] == [p.name for p in b.populations] == ["rnn.lif"]
    assert (
        {(p.name, p.source, p.target, p.delay_steps) for p in a.projections}
        == {(p.name, p.source, p.target, p.delay_steps) for p in b.projections}
        == {("fc", "input", "rnn.lif", 0), ("rnn.w_rec", "rnn.lif", "rnn.lif", 1)}
    )
    x = np.random.default_rng(2).random((2, 40, 3)) < 0.4
    np.testing.assert_array_equal(
        simulate(a, {"input": x}).spikes["rnn.lif"], simulate(b, {"input": x}).spikes["rnn.lif"]
    )


def test_fan_in_edges_are_summed_and_delay_nodes_delay():
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "a": nir.Linear(weight=np.eye(2) * 2.0),
        "b": nir.Linear(weight=np.eye(2) * 3.0),
        "d": nir.Delay(delay=np.full(2, 3e-3)),
        "lif": nir.LIF(
            tau=np.full(2, 1e-2),
            r=np.full(2, 10.0),
            v_leak=np.zeros(2),
            v_threshold=np.full(2, 100.0),
            v_reset=np.zeros(2),
        ),
        "output": nir.Output(output_type={"output": np.array([2])}),
    }
    edges = [
        ("input", "a"),
        ("input", "b"),
        ("b", "d"),
        ("a", "lif"),
        ("d", "lif"),
        ("lif", "output"),
    ]
    net = normalize(nir.NIRGraph(nodes, edges, type_check=False), DT)
    got = {p.delay_steps: p.weight for p in net.projections}
    np.testing.assert_allclose(got[0], np.eye(2) * 2.0)  # r dt/tau = 1
    np.testing.assert_allclose(got[3], np.eye(2) * 3.0)  # 3 ms = 3 steps
    x = np.zeros((1, 8, 2))
    x[0, 0] = 1
    v = simulate(net, {"input": x}, record_voltage=("lif",)).voltage["lif"][0, :, 0]
    assert v[0] == pytest.approx(2.0) and v[3] == pytest.approx(2.0 * 0.9**3 + 3.0)


@pytest.mark.parametrize("kind", ["IF", "I", "LI", "CubaLI", "Threshold"])
def test_each_neuron_node_follows_its_equation(kind):
    n, dt = 2, 1e-3
    node = {
        "IF": nir.IF(r=np.full(n, 500.0), v_threshold=np.ones(n), v_reset=np.zeros(n)),
        "I": nir.I(r=np.full(n, 500.0)),
        "LI": nir.LI(tau=np.full(n, 1e-2), r=np.full(n, 5.0), v_leak=np.zeros(n)),
        "CubaLI": nir.CubaLI(
            tau_syn=np.full(n, 2e-3),
            tau_mem=np.full(n, 1e-2),
            r=np.ones(n),
            v_leak=np.zeros(n),
            w_in=np.full(n, 2.0),
        ),
        "Threshold": nir.Threshold(threshold=np.full(n, 0.5)),
    }[kind]
    net = normalize(
        _chain(("w", nir.Linear(weight=np.eye(n))), ("n", node), in_shape=(n,)), {"dt_seconds": dt}
    )
    x = np.random.default_rng(3).random((1, 30, n)) < 0.5
    res = simulate(net, {"input": x}, record_voltage=("n",))
    i = v = np.zeros(n)
    for t in range(30):
        s_in = x[0, t].astype(float)
        if kind in ("IF", "I"):
            v = v + 500.0 * dt * s_in
        elif kind == "LI":
            v = 0.9 * v + 5.0 * 0.1 * s_in
        elif kind == "CubaLI":
            i = 0.5 * i + 2.0 * 0.5 * s_in
            v = 0.9 * v + 0.1 * i
        else:
            v = s_in
        spiking = kind in ("IF", "Threshold")
        thr = 1.0 if kind == "IF" else 0.5
        s = v > thr if spiking else np.zeros(n, bool)
        if spiking:
            np.testing.assert_array_equal(res.spikes["n"][0, t], s)
        v = np.where(s, 0.0, v)
        np.testing.assert_allclose(res.voltage["n"][0, t], v, atol=1e-12)


def test_batch_dimension_on_the_input_is_stripped():
    g = _chain(
        ("w", nir.Linear(weight=np.ones((2, 4)))),
        (
            "lif",
            nir.LIF(
                tau=np.full(2, 1e-2),
                r=np.ones(2),
                v_leak=np.zeros(2),
                v_threshold=np.ones(2),
                v_reset=np.zeros(2),
            ),
        ),
        in_shape=(1, 4),
    )
    net = normalize(g, DT)
    assert net.inputs[0].size == 4
    assert any("batch dimension of 1 stripped" in n for n in net.notes)


def test_conventions_are_recognised_or_asked_for(nir_paper):
    cnn = normalize(nir.read(nir_paper / "02_cnn" / "cnn_sinabs.nir"))
    assert "recognised convention 'sinabs'" in cnn.contract.source
    assert (cnn.contract.dt_seconds, cnn.contract.reset) == (1.0, "subtract")
    br = normalize(nir.read(nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir"))
    assert (
        "recognised convention 'snntorch'" in br.contract.source and br.contract.dt_seconds == 1e-4
    )
    rp = normalize(nir.read(nir_paper / "01_lif" / "lif_rockpool.nir", type_check=False))
    assert "recognised convention 'rockpool'" in rp.contract.source
    assert rp.contract.dt_seconds == pytest.approx(1e-4, rel=1e-4)
    with pytest.raises(ModelError, match="does not say its time step"):
        normalize(nir.read(nir_paper / "01_lif" / "lif_norse.nir"))


def test_norse_1_1_tau_bug_is_undone_when_stated():
    dt = 1e-3
    bad = nir.LIF(
        tau=np.full(2, dt * 0.01),
        r=np.ones(2),
        v_leak=np.zeros(2),
        v_threshold=np.ones(2),
        v_reset=np.zeros(2),
    )  # Norse 1.1.0 writes dt * tau
    g = _chain(("w", nir.Linear(weight=np.eye(2))), ("lif", bad), in_shape=(2,))
    net = normalize(g, {"convention": "norse-1.1", "dt_seconds": dt})
    np.testing.assert_allclose(net.populations[0].beta, 1 - dt / 0.01)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("syn")
    rng = np.random.default_rng(0)
    np.savez(tmp / "braille.npz", x=rng.random((16, 256, 12)) < 0.1)
    np.savez(tmp / "cnn.npz", x=rng.random((4, 40, 2 * 34 * 34)) < 0.05)
    return tmp


@pytest.mark.parametrize("name", ["braille_noDelay_bias_zero", "braille_noDelay_noBias_subtract"])
def test_braille_graphs_compile_and_emulate(nir_paper, synthetic, name, tmp_path):
    graph = nir_paper / "03_rnn" / f"{name}.nir"
    data = str(synthetic / "braille.npz")
    reset = "subtract" if "subtract" in name else None
    if reset:  # Loihi 2's LIF resets to zero: refused unless the user accepts the change
        with pytest.raises(Exception, match="reset mode subtract"):
            api.compile(graph, "loihi2", tmp_path / "a", reset=reset, calibrate=data)
    report = api.compile(graph, "loihi2", tmp_path / "b", calibrate=data).to_dict()
    assert [p["name"] for p in report["network"]["populations"]] == ["lif1.lif", "lif2"]
    assert report["quantization"]["populations"][0]["calibration"].startswith("measured on")
    assert report["mapping"]["cores_used"] == 1
    s = api.emulate(tmp_path / "b", data=data)
    assert [x.population for x in s.layers] == ["lif1.lif", "lif2"]
    assert all(0.6 < x.agreement <= 1.0 for x in s.layers) and s.layers[0].agreement > 0.98


def test_sinabs_cnn_compiles_and_emulates(nir_paper, synthetic, tmp_path):
    graph = nir_paper / "02_cnn" / "cnn_sinabs.nir"
    with pytest.raises(ResourceError, match="max_spikes_per_step"):  # Sinabs' MultiSpike default
        api.compile(graph, "loihi2", tmp_path / "multi", reset="zero")
    report = api.compile(
        graph,
        "loihi2",
        tmp_path / "cnn",
        reset="zero",
        spikes="single",
        calibrate=str(synthetic / "cnn.npz"),
    ).to_dict()
    pops = report["network"]["populations"]
    assert [p["name"] for p in pops] == ["1", "3", "6", "10", "12"]
    assert report["network"]["neurons"] == 16 * 16 * 16 * 2 + 8 * 8 * 8 + 256 + 10
    assert report["mapping"]["cores_used"] > 1  # conv layers are split across cores
    assert "stated by the user: reset=zero" in report["contract"]["description"]
    s = api.emulate(tmp_path / "cnn", data=str(synthetic / "cnn.npz"))
    assert len(s.layers) == 5 and all(x.agreement > 0.85 for x in s.layers)


@pytest.mark.lava
def test_braille_and_cnn_agree_with_lava(nir_paper, synthetic, tmp_path, lava_ready):
    graph = nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir"
    data = str(synthetic / "braille.npz")
    api.compile(graph, "loihi2", tmp_path / "b", calibrate=data)
    s = api.emulate(tmp_path / "b", data=data, backend="lava", samples=4)
    assert s.verification.startswith("verified")
    api.compile(
        nir_paper / "02_cnn" / "cnn_sinabs.nir",
        "loihi2",
        tmp_path / "c",
        reset="zero",
        spikes="single",
        calibrate=str(synthetic / "cnn.npz"),
    )
    s = api.emulate(tmp_path / "c", data=str(synthetic / "cnn.npz"), backend="lava", samples=2)
    assert s.verification.startswith("verified")
    assert math.isfinite(s.seconds["lava"])
