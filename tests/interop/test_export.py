"""Export to NIR: models (float) and compiled artifacts (integers in metadata) that nir.read
loads and snn-deploy imports back to the same network."""

import nir
import numpy as np
import pytest
import torch
from interop_roundtrip import SINABS_CONTRACT, SNNTORCH_CONTRACT, random_network, spikes_in

from snn_deploy import api
from snn_deploy.frontend import import_model
from snn_deploy.ir.export import INTEGER_KEY, network_for
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate
from snn_deploy.quantize.network import QuantizedNetwork
from snn_deploy.train.models import SpikingMLP


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("exp")
    torch.manual_seed(0)
    model = SpikingMLP.from_sizes([6, 5, 3], alpha=0.5, beta=0.875)
    with torch.no_grad():
        for layer in model.layers:
            layer.fc.weight.mul_(4.0)
    torch.save(model.to_checkpoint(), tmp / "m.pt")
    return tmp / "m.pt"


def test_float_export_round_trips(model_pt, tmp_path):
    out = api.export_nir(model_pt, tmp_path / "m.nir")
    a = normalize(import_model(model_pt).graph)
    b = normalize(nir.read(out))
    assert b.contract == a.contract
    for p, q in zip(a.populations, b.populations, strict=True):
        assert p.name == q.name and p.model == q.model
        for f in ("alpha", "beta", "threshold", "bias", "v_reset"):
            np.testing.assert_allclose(getattr(q, f), getattr(p, f), rtol=1e-12, err_msg=f)
    for p, q in zip(a.projections, b.projections, strict=True):
        np.testing.assert_allclose(q.weight, p.weight, rtol=1e-12)


def test_integer_export_carries_the_exact_integers(model_pt, tmp_path):
    api.compile(model_pt, "loihi2", tmp_path / "art")
    out = api.export_nir(tmp_path / "art", tmp_path / "int.nir")
    g = nir.read(out)
    qnet = QuantizedNetwork.load(tmp_path / "art" / "network.npz")
    assert g.metadata["snn_deploy_export"]["values"] == "dequantized integer network"
    for pop in qnet.populations:
        meta = g.nodes[pop.name].metadata[INTEGER_KEY]
        for f in ("du", "dv", "vth", "bias_mant", "bias_exp"):
            np.testing.assert_array_equal(meta[f], getattr(pop.params, f), err_msg=f)
    for proj in qnet.projections:
        meta = g.nodes[proj.name].metadata[INTEGER_KEY]
        np.testing.assert_array_equal(meta["weight_mantissa"], proj.weight)
        assert int(meta["weight_exp"]) == proj.params.weight_exp
    # the dequantized graph imports back with the chip's own decays
    back = normalize(g)
    np.testing.assert_allclose(back.populations[0].alpha, 1 - (2047 + 1) / 4096)
    np.testing.assert_allclose(back.populations[0].beta, 1 - 512 / 4096)


@pytest.mark.parametrize(
    ("contract", "kinds"),
    [(SNNTORCH_CONTRACT, ("if", "lif", "cuba")), (SINABS_CONTRACT, ("lif", "if", "lif"))],
    ids=["euler-if-bias", "exact-sinabs"],
)
def test_plain_export_reads_back_to_the_same_network(tmp_path, contract, kinds):
    """IF populations keep their bias (carried by the incoming Affine), and an exact-integrator
    contract (Sinabs') is written with exact time constants (tau = -dt / ln(decay))."""
    rng = np.random.default_rng(3)
    net = random_network(rng, [8, 12, 10, 4], kinds, contract, recurrent=(1,))
    assert any(np.any(p.bias != 0) for p in net.populations if np.all(p.beta == 1))
    nir.write(tmp_path / "g.nir", network_for(net, "nir"))
    back = normalize(nir.read(tmp_path / "g.nir"))
    assert back.contract.integrator == contract.integrator
    for p, q in zip(net.populations, back.populations, strict=True):
        for f in ("alpha", "beta", "threshold", "bias", "v_reset"):
            np.testing.assert_allclose(getattr(q, f), getattr(p, f), rtol=1e-12, atol=1e-15)
    x = spikes_in(rng, 4, 60, 8)
    ours = simulate(net, {"input": x}).spikes[net.outputs[0]]
    got = simulate(back, {"input": x}).spikes[back.outputs[0]]
    assert ours.sum() > 20
    np.testing.assert_array_equal(got, ours)
