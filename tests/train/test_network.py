"""SpikingNetwork: BPTT against an unrolled reference, checkpoints, NIR export and compile."""

from __future__ import annotations

import copy
import json

import nir
import numpy as np
import pytest
import torch
from train_reference import random_spikes

from snn_deploy import api
from snn_deploy.errors import ModelError, ResourceError
from snn_deploy.frontend import import_model
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate
from snn_deploy.train.network import SpikingNetwork, model_from_checkpoint
from snn_deploy.train.neurons import ALIF, IF, LI, LIF, LTC, CubaLIF

SCALE = 5.0


def network(kind: str, reset: str = "zero", dtype=torch.float64, seed: int = 0, **kw):
    torch.manual_seed(seed)
    common = dict(reset=reset, surrogate_scale=SCALE, **kw)
    if kind == "lif":
        layers = [
            LIF(7, 6, beta=0.9, threshold=0.8, recurrent=True, bias=True, **common),
            CubaLIF(6, 5, alpha=0.5, beta=0.8, bias=True, **common),
            LI(5, 4, beta=0.9, bias=True),
        ]
    elif kind == "if":
        layers = [IF(7, 6, recurrent=True, bias=True, **common), LIF(6, 4, beta=0.75, **common)]
    elif kind == "adaptive":
        layers = [
            ALIF(7, 6, beta=0.9, rho=0.9, adapt=0.5, recurrent=True, bias=True, **common),
            LTC(6, 5, recurrent=True, **common),
            LI(5, 4, beta=0.9, alpha=0.3),
        ]
    net = SpikingNetwork(layers).to(dtype)
    with torch.no_grad():
        for layer in net.layers:
            layer.fc.weight.mul_(3.0)
    return net


# ------------------------------------------------------------------ BPTT reference
def step_spike(x: torch.Tensor) -> torch.Tensor:
    """Heaviside forward; backward d/dx [x / (k|x| + 1)] = 1 / (k|x| + 1)^2."""
    smooth = x / (SCALE * x.abs() + 1.0)
    return (x > 0).to(x.dtype) + (smooth - smooth.detach())


def unrolled(net: SpikingNetwork, x: torch.Tensor, params: dict) -> torch.Tensor:
    """The network written out by hand: time outer, layers inner, one matmul per step and
    layer; reset detached. Returns the last layer's outputs [T, B, out]."""
    state = [dict.fromkeys(("i", "v", "a", "s"), 0.0) for _ in net.layers]
    outs = []
    for t in range(x.shape[0]):
        h = x[t]
        for k, layer in enumerate(net.layers):
            p, st = params[k], state[k]
            c = h @ p["w"].T
            if "b" in p and layer.kind not in ("cuba_lif", "li"):
                c = c + p["b"]
            if "u" in p:
                c = c + st["s"] @ p["u"].T if torch.is_tensor(st["s"]) else c
            kind = layer.kind
            if kind == "li":
                st["i"] = layer.alpha * st["i"] + c
                st["v"] = layer.beta * st["v"] + st["i"] + p.get("b", 0.0)
                h = st["v"]
                continue
            if kind == "cuba_lif":
                st["i"] = layer.alpha * st["i"] + c
                v = layer.beta * st["v"] + st["i"] + p.get("b", 0.0)
                theta = layer.threshold
            elif kind in ("lif", "if"):
                beta = layer.beta
                v = beta * st["v"] + c
                theta = layer.threshold
            elif kind == "alif":
                v = layer.beta * st["v"] + c
                theta = layer.threshold + layer.adapt * st["a"]
            else:  # ltc
                zeros = torch.zeros_like(c)
                v_prev = st["v"] if torch.is_tensor(st["v"]) else zeros
                a_prev = st["a"] if torch.is_tensor(st["a"]) else zeros
                s_prev = st["s"] if torch.is_tensor(st["s"]) else zeros
                tau_m = torch.sigmoid(torch.cat([c, v_prev], 1) @ p["wm"].T + p["bm"])
                tau_a = torch.sigmoid(torch.cat([c, a_prev], 1) @ p["wa"].T + p["ba"])
                st["a"] = tau_a * a_prev + (1 - tau_a) * s_prev
                v = (1 - tau_m) * v_prev + tau_m * c
                theta = layer.threshold + layer.adapt * st["a"]
            s = step_spike(v - theta)
            if kind == "alif":
                st["a"] = layer.rho * st["a"] + s
            r = s.detach()
            st["v"] = v * (1 - r) if layer.reset == "zero" else v - layer.threshold * r
            st["s"] = s
            h = s
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("kind", ["lif", "if", "adaptive"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_bptt_gradients_equal_an_unrolled_reference(kind, reset):
    net = network(kind, reset)
    x = random_spikes(20, 5, 7, seed=1, p=0.4)
    y = torch.tensor([0, 1, 2, 3, 1])
    out = net(x)
    loss = torch.nn.functional.cross_entropy(out.sum(0), y)
    named = dict(net.named_parameters())
    grads = dict(zip(named, torch.autograd.grad(loss, list(named.values())), strict=True))

    params, leaves = [], {}
    for k, layer in enumerate(net.layers):
        p = {"w": layer.fc.weight}
        if layer.rec is not None:
            p["u"] = layer.rec.weight
        if layer.bias is not None:
            p["b"] = layer.bias
        if layer.kind == "ltc":
            p.update(
                wm=layer.tau_m.weight,
                bm=layer.tau_m.bias,
                wa=layer.tau_adp.weight,
                ba=layer.tau_adp.bias,
            )
        names = {"w": "fc.weight", "u": "rec.weight", "b": "bias", "wm": "tau_m.weight"}
        names.update(bm="tau_m.bias", wa="tau_adp.weight", ba="tau_adp.bias")
        p = {key: t.detach().clone().requires_grad_() for key, t in p.items()}
        leaves.update({f"layers.{k}.{names[key]}": t for key, t in p.items()})
        params.append(p)
    ref_out = unrolled(net, x, params)
    ref_loss = torch.nn.functional.cross_entropy(ref_out.sum(0), y)
    ref = dict(zip(leaves, torch.autograd.grad(ref_loss, list(leaves.values())), strict=True))

    torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    assert set(grads) == set(ref)
    for name, g in ref.items():
        torch.testing.assert_close(grads[name], g, rtol=1e-5, atol=1e-5, msg=name)
    nonzero = [n for n, g in ref.items() if float(g.abs().max()) > 1e-6]
    assert len(nonzero) >= len(ref) - 1, f"too few non-zero reference gradients: {nonzero}"


# ------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("kind", ["lif", "if", "adaptive"])
def test_checkpoint_round_trip(tmp_path, kind):
    net = network(kind, dtype=torch.float32)
    x = random_spikes(12, 3, 7, seed=2, dtype=torch.float32)
    ckpt = net.to_checkpoint(calibration=net.calibrate(x), training={"algorithm": "fptt"})
    torch.save(ckpt, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    assert loaded["model"]["kind"] == "spiking_network"
    model = model_from_checkpoint(loaded, "m.pt")
    assert isinstance(model, SpikingNetwork) and model.names == net.names
    with torch.no_grad():
        assert torch.equal(model(x), net(x))
    contract = DiscretizationContract.from_metadata(loaded["contract"])
    assert contract.recurrent_delay_steps == 1 and contract.integrator == "euler"


def set_path(d, path, value):
    *head, last = path
    for k in head:
        d = d[k]
    if value is DELETE:
        del d[last]
    else:
        d[last] = value


DELETE = object()
REFUSALS = {
    "unknown type": (["model", "layers", 0, "type"], "gru", r"type 'gru' is not a known neuron"),
    "missing field": (["model", "layers", 0, "recurrent"], DELETE, r"has no 'recurrent'"),
    "extra field": (["model", "layers", 2, "reset"], "zero", r"unknown field\(s\) 'reset'"),
    "bad reset": (["model", "layers", 0, "reset"], "soft", r"unknown reset mode 'soft'"),
    "bad size": (["model", "layers", 1, "in_features"], 0, r"must be a positive integer"),
    "sizes chain": (["model", "layers", 1, "in_features"], 9, r"takes 9 inputs but layer"),
    "missing tensor": (["state_dict", "layers.0.rec.weight"], DELETE, r"has no tensor"),
    "extra tensor": (["state_dict", "layers.1.rec.weight"], torch.zeros(5, 5), r"unexpected"),
    "shape": (["state_dict", "layers.0.beta"], torch.zeros(3), r"has shape \(3,\) but"),
    "nan": (["state_dict", "layers.0.beta"], torch.full((6,), float("nan")), r"6 NaN"),
    "kind": (["model", "kind"], "cnn", r"model kind 'cnn' is not supported \(known: spiking_mlp"),
    "contract": (["contract", "recurrent_delay_steps"], 2, r"recurrent_delay_steps=2"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_malformed_checkpoints_are_refused_in_one_line(case):
    path, value, message = REFUSALS[case]
    ckpt = copy.deepcopy(network("lif", dtype=torch.float32).to_checkpoint())
    set_path(ckpt, path, value)
    with pytest.raises(ModelError, match=message) as info:
        model_from_checkpoint(ckpt, "bad.pt")
    assert info.value.message.startswith("bad.pt: ") and "\n" not in info.value.message


def test_mixed_resets_cannot_share_a_contract():
    net = network("lif")
    net.layers[1].reset = "subtract"
    with pytest.raises(ModelError, match=r"different reset modes \(hidden: zero, hidden2: sub"):
        net.to_checkpoint()


# ------------------------------------------------------------------ NIR export
@pytest.mark.parametrize("kind", ["lif", "if"])
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_nir_export_runs_spike_for_spike_in_the_float_reference(kind, reset):
    net = network(kind, reset)
    graph = net.to_nir()
    assert graph.metadata[METADATA_KEY]["recurrent_delay_steps"] == 1
    assert ("hidden", "hidden_rec") in graph.edges and ("hidden_rec", "hidden") in graph.edges
    dn = normalize(graph)
    x = random_spikes(40, 6, 7, seed=3, p=0.4)
    with torch.no_grad():
        expected = net.layer_outputs(x)
    res = simulate(dn, {"input": x.numpy().transpose(1, 0, 2).astype(bool)})
    for name, out in expected.items():
        out = out.numpy().transpose(1, 0, 2)
        if net.layers[net.names.index(name)].spiking:
            assert out.mean() > 0.02, name
            np.testing.assert_array_equal(res.spikes[name], out.astype(bool), err_msg=name)
        else:
            np.testing.assert_allclose(res.voltage[name], out, rtol=1e-9, atol=1e-9)


def test_adaptive_neurons_export_their_extra_parameters():
    net = network("adaptive", dtype=torch.float32)
    graph = net.to_nir()
    alif, ltc = graph.nodes["hidden"], graph.nodes["hidden2"]
    assert isinstance(alif, nir.LIF) and isinstance(ltc, nir.LIF)
    meta = alif.metadata["snn_deploy_neuron"]
    assert meta["model"] == "alif"
    np.testing.assert_array_equal(meta["rho"], net.layers[0].rho.double().numpy())
    meta = ltc.metadata["snn_deploy_neuron"]
    assert meta["model"] == "ltc" and meta["tau_m_weight"].shape == (5, 10)
    assert isinstance(graph.nodes["output"], nir.CubaLI)
    models = {p.name: p.model for p in normalize(graph).populations}
    assert models["hidden"] == "alif" and models["hidden2"] == "ltc"


def test_nir_file_round_trip_keeps_the_metadata(tmp_path):
    nir.write(tmp_path / "g.nir", network("adaptive", dtype=torch.float32).to_nir())
    graph = nir.read(tmp_path / "g.nir")
    assert graph.nodes["hidden"].metadata["snn_deploy_neuron"]["model"] == "alif"


def test_compile_accepts_a_recurrent_network_and_refuses_alif_by_name(tmp_path):
    torch.manual_seed(0)
    net = SpikingNetwork([LIF(8, 6, beta=0.875, recurrent=True), LI(6, 3, beta=0.875, bias=True)])
    torch.save(net.to_checkpoint(), tmp_path / "rec.pt")
    imported = import_model(tmp_path / "rec.pt")
    assert ("hidden_rec", "hidden") in imported.graph.edges
    api.compile(tmp_path / "rec.pt", "loihi2", tmp_path / "rec")
    assert (tmp_path / "rec" / "network.npz").is_file()
    torch.save(network("adaptive", dtype=torch.float32).to_checkpoint(), tmp_path / "alif.pt")
    with pytest.raises(ResourceError, match="neuron model alif is not one of"):
        api.compile(tmp_path / "alif.pt", "loihi2", tmp_path / "alif")


def test_cli_compiles_an_exported_nir_file_by_its_contract(tmp_path, capsys):
    """``snn-deploy compile model.nir`` takes dt, reset and the recurrent delay from the graph's
    metadata alone (no --dt or --reset on the command line)."""
    from snn_deploy.cli import main

    torch.manual_seed(0)
    net = SpikingNetwork(
        [
            LIF(8, 6, beta=0.875, recurrent=True),
            CubaLIF(6, 5, alpha=0.5, beta=0.875),
            LI(5, 3, beta=0.875, bias=True),
        ]
    )
    contract = net.default_contract(dt_seconds=2e-3)
    nir.write(tmp_path / "net.nir", net.to_nir(contract))
    assert main(["compile", str(tmp_path / "net.nir"), "-o", str(tmp_path / "out")]) == 0
    assert "compiled" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    used = report["contract"]
    assert used["source"].startswith("the graph's metadata")
    for field in ("dt_seconds", "integrator", "reset", "reset_delay", "recurrent_delay_steps"):
        assert used[field] == getattr(contract, field), field
