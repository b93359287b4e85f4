"""Export to NIR: models (float) and compiled artifacts (integers in metadata) that nir.read
loads and snn-deploy imports back to the same network."""

import nir
import numpy as np
import pytest
import torch

from snn_deploy import api
from snn_deploy.frontend import import_model
from snn_deploy.ir.export import INTEGER_KEY
from snn_deploy.ir.normalize import normalize
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
