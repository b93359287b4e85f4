"""Acceptance of the foundation issue, end to end on the shipped example: train on digits (BPTT),
compile for loihi2, emulate. Float test accuracy >= 95 %; integer accuracy at most 1.0 point below
float; the float reference reproduces the torch model exactly; Lava agrees with the emulator."""

import json

import numpy as np
import pytest
import torch

from snn_deploy import api
from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split
from snn_deploy.frontend import import_model
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate
from snn_deploy.train.models import SpikingMLP


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("digits")
    summary = api.train_digits(tmp / "model.pt")
    report = api.compile(tmp / "model.pt", "loihi2", tmp / "digits-loihi2")
    return tmp, summary, report


def test_float_accuracy_meets_the_bar(compiled):
    _, summary, _ = compiled
    assert summary["float_test_accuracy"] >= 0.95


def test_emulated_integer_accuracy_within_one_point_of_float(compiled):
    tmp, summary, _ = compiled
    s = api.emulate(tmp / "digits-loihi2", data="digits")
    assert s.samples == 360 and s.float_accuracy == pytest.approx(summary["float_test_accuracy"])
    assert s.int_accuracy >= s.float_accuracy - 0.010, s.format()
    assert s.events["u_wraps"] == 0
    assert all(layer.agreement > 0.95 for layer in s.layers)


def test_float_reference_equals_the_torch_model_spike_for_spike(compiled):
    tmp, _, _ = compiled
    ckpt = torch.load(tmp / "model.pt", weights_only=True)
    model = SpikingMLP.from_checkpoint(ckpt).double()
    spec = EncodingSpec.from_dict(ckpt["data"])
    x = encode(load_digits_split(spec.split_seed).x_test[:100], spec)
    with torch.no_grad():  # the model is time-major: [T, B, n]
        expected = {
            k: v.numpy().astype(bool).transpose(1, 0, 2)
            for k, v in model.layer_spikes(torch.from_numpy(x.transpose(1, 0, 2)).double()).items()
        }
    net = normalize(import_model(tmp / "model.pt").graph)
    got = simulate(net, {"input": x}).spikes
    assert sum(int(s.sum()) for s in expected.values()) > 1000
    for name, s in expected.items():
        np.testing.assert_array_equal(got[name], s, err_msg=name)


def test_report_has_per_layer_errors_and_per_core_use(compiled):
    tmp, _, report = compiled
    data = json.loads((tmp / "digits-loihi2" / "report.json").read_text())
    assert data == json.loads(json.dumps(report.to_dict()))
    pops = {p["population"]: p for p in data["quantization"]["populations"]}
    assert set(pops) == {"hidden", "output"}
    w = pops["hidden"]["weights"][0]
    assert w["count"] == 64 * 128 and 0 < w["rms_error_relative"] < 0.01
    assert data["mapping"]["cores_used"] == 1
    assert data["mapping"]["cores"][0]["neurons"] == 138
    md = (tmp / "digits-loihi2" / "report.md").read_text()
    for heading in ("## Quantization per layer", "### Weights", "### Per core", "## Limits"):
        assert heading in md
    assert "**not checked**: loihi2.toml [core].max_fan_in" in md
    assert "'output' spikes 2 step(s) after its float-model step" in md


@pytest.mark.lava
def test_lava_backend_agrees_with_the_emulator_on_the_digits_test_set(compiled, lava_ready):
    tmp, _, _ = compiled
    emu = api.emulate(tmp / "digits-loihi2", data="digits")
    lava = api.emulate(tmp / "digits-loihi2", data="digits", backend="lava")
    assert lava.verification.startswith("verified: Lava and the snn-deploy emulator agree on all")
    assert lava.int_accuracy == emu.int_accuracy
