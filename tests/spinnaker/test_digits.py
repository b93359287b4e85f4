"""The digits network end to end: `compile --target spinnaker1 | spinnaker2`, then emulate."""

import json

import numpy as np

from snn_deploy import api
from snn_deploy.cli import main as cli_main
from snn_deploy.quantize.network import QuantizedNetwork


def test_spinnaker1_digits_within_one_point_of_float(spinnaker1_artifacts):
    out, report = spinnaker1_artifacts
    summary = api.emulate(out, data="digits")
    assert summary.samples == 360
    assert abs(summary.int_accuracy - summary.float_accuracy) <= 0.01, summary.format()
    assert summary.events == {"ring_saturations": 0, "accum_wraps": 0}
    for layer in summary.layers:
        assert layer.agreement > 0.99, summary.format()
    assert json.loads((out / "emulation.json").read_text())["target"] == "spinnaker1"


def test_report_lists_the_pynn_files_and_what_default_scaling_would_zero(spinnaker1_artifacts):
    out, report = spinnaker1_artifacts
    for name in (
        "pynn_spinnaker.py",
        "pynn_brian2.py",
        "pynn_network.json",
        "pynn_connections.npz",
        "pynn_inputs.npz",
    ):
        assert name in report["artifacts"] and (out / name).is_file()
    weights = [w for p in report["quantization"]["populations"] for w in p["weights"]]
    assert all(w["default_scaling_zeroed"] is not None for w in weights)
    assert all(w["format"].startswith("uint16 ring-buffer word, left shift") for w in weights)
    zeroed = [w for w in weights if w["default_scaling_zeroed"]]
    for w in zeroed:  # each one is a sentence in the report's notes, too
        note = next(n for n in report["notes"] if n.startswith(f"'{w['projection']}'"))
        assert "sPyNNaker's default ring-buffer scaling" in note
        assert f"would round {w['default_scaling_zeroed']} of its" in note
    md = (out / "report.md").read_text()
    assert all(f"'{w['projection']}'" in md for w in zeroed)


def test_pinned_shifts_keep_weights_the_default_would_lose(spinnaker1_artifacts):
    out, report = spinnaker1_artifacts
    qnet = QuantizedNetwork.load(out / "network.npz")
    desc = json.loads((out / "pynn_network.json").read_text())
    for pop, d in zip(qnet.populations, desc["populations"], strict=True):
        shifts = [int(s) for s in pop.params.rb_shifts]
        assert d["ring_buffer_left_shifts"] == shifts
        assert d["max_expected_summed_weight"] == [0.75 * 2.0**s for s in shifts]
        assert d["max_atoms_per_core"] <= 256
    with np.load(out / "pynn_connections.npz") as z:
        rows = z["hidden_w/excitatory"]
    shift = int(qnet.population("hidden").params.rb_shifts[0])
    words = rows[:, 2] * 2.0 ** (15 - shift)
    np.testing.assert_array_equal(words, np.rint(words))  # exact binary fractions of a word
    w = np.asarray(qnet.projections[0].weight)
    np.testing.assert_array_equal(words, w[rows[:, 1].astype(int), rows[:, 0].astype(int)])


def test_spinnaker2_digits_compile_and_emulate(digits_model, tmp_path):
    report = api.compile(digits_model, "spinnaker2", tmp_path / "s2").to_dict()
    assert report["target"]["name"] == "spinnaker2" and not report["violations"]
    assert report["mapping"]["cores_used"] >= 1
    summary = api.emulate(tmp_path / "s2", data="digits")
    assert abs(summary.int_accuracy - summary.float_accuracy) <= 0.02, summary.format()


def test_cli_compiles_for_spinnaker1(digits_model, tmp_path, capsys):
    rc = cli_main(
        ["compile", str(digits_model), "--target", "spinnaker1", "-o", str(tmp_path / "cli")]
    )
    assert rc == 0
    assert (tmp_path / "cli" / "pynn_spinnaker.py").is_file()
