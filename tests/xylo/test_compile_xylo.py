"""compile --target xylo_audio2: a network of Xylo's layout compiles (quantizer, checks,
mapping onto the one core), emulates, and the emulator's integers equal xylosim's on every spike
and state (``emulate --backend xylosim``); networks that break the layout are refused with one
line per problem naming the layer, the limit and the profile key."""

from __future__ import annotations

import nir
import numpy as np
import pytest

from snn_deploy import api
from snn_deploy.errors import ResourceError
from xylo.graphs import xylo_graph


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("xylo")
    nir.write(tmp / "net.nir", xylo_graph())
    report = api.compile(tmp / "net.nir", "xylo_audio2", tmp / "out").to_dict()
    rng = np.random.default_rng(0)
    x = (rng.random((6, 30, 16)) < 0.3).astype(np.uint8)
    np.savez(tmp / "data.npz", x=x, y=rng.integers(0, 8, 6))
    return tmp, report


def test_compiles_onto_one_core_with_a_report(compiled):
    _, r = compiled
    assert not r["violations"] and r["mapping"]["cores_used"] == 1
    pops = {p["population"]: p for p in r["quantization"]["populations"]}
    assert set(pops) == {"hidden", "readout"}
    assert pops["hidden"]["weights"][0]["format"] == "int8 << shift"
    assert any("bit shifts" in n for n in r["quantization"]["notes"])


def test_the_artifact_holds_the_chip_configuration(compiled):
    from snn_deploy.backends.xylo.config import XyloConfig, config_from_network
    from snn_deploy.profiles import load_profile
    from snn_deploy.quantize.network import QuantizedNetwork

    tmp, _ = compiled
    cfg = XyloConfig.load(tmp / "out" / "xylo_config.npz")
    assert (tmp / "out" / "xylo_config.json").is_file()
    assert not cfg.problems(load_profile("xylo_audio2").numerics)
    again = config_from_network(QuantizedNetwork.load(tmp / "out" / "network.npz"))
    np.testing.assert_array_equal(cfg.w_rec, again.w_rec)
    assert (cfg.n_in, cfg.n_hidden, cfg.n_out) == (16, 40, 8)


def test_emulates_and_agrees_with_xylosim(compiled, xylo_ready):
    tmp, _ = compiled
    s = api.emulate(tmp / "out", str(tmp / "data.npz"), backend="xylosim", save=False)
    assert s.verification.startswith("verified: xylosim 0.1.3")
    hidden = next(layer for layer in s.layers if layer.population == "hidden")
    assert hidden.int_spikes_per_sample > 0 and hidden.agreement > 0.8


def test_emulator_engines_agree(compiled):
    tmp, _ = compiled
    a = api.emulate(tmp / "out", str(tmp / "data.npz"), save=False)
    b = api.emulate(tmp / "out", str(tmp / "data.npz"), save=False, engine="reference")
    assert a.layers == b.layers and a.events == b.events


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_in": 17}, r"input channels 17 exceeds 16 \(xylo_audio2.toml \[numerics\]"),
        ({"n_out": 9}, r"layer 'readout': output neurons 9 exceeds 8"),
        ({"n_hidden": 1001}, r"layer 'hidden': hidden neurons 1,001 exceeds 1,000"),
    ],
)
def test_layout_limits_are_refused_with_one_line_each(tmp_path, kwargs, match):
    nir.write(tmp_path / "big.nir", xylo_graph(**kwargs))
    with pytest.raises(ResourceError, match=match):
        api.compile(tmp_path / "big.nir", "xylo_audio2", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_backend_xylosim_refuses_other_chips_in_one_line(compiled, tmp_path):
    from snn_deploy.errors import InputFileError

    tmp, _ = compiled
    graph = xylo_graph()
    graph.metadata["snn_deploy_contract"]["reset"] = "zero"
    graph.metadata["snn_deploy_contract"]["threshold"] = ">"
    graph.metadata["snn_deploy_contract"]["spikes"] = "single"
    nir.write(tmp_path / "z.nir", graph)
    api.compile(tmp_path / "z.nir", "fixedpoint", tmp_path / "fp")
    with pytest.raises(InputFileError, match="--backend xylosim runs Xylo networks"):
        api.emulate(tmp_path / "fp", str(tmp / "data.npz"), backend="xylosim", save=False)
