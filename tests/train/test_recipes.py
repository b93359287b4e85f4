"""The sequential-digits recipe and its example script, on tiny settings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from snn_deploy.frontend import import_model
from snn_deploy.train.network import SpikingNetwork, model_from_checkpoint
from snn_deploy.train.recipes import sequential_digits_network, train_sequential_digits

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sequential_digits" / "train.py"


def test_same_seed_same_initial_network_for_every_algorithm():
    a, b = sequential_digits_network(1, 8, seed=3), sequential_digits_network(1, 8, seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    rec = a.layers[0].rec.weight.detach()
    torch.testing.assert_close(rec @ rec.T, 0.25 * torch.eye(8), atol=1e-5, rtol=0)
    b_m, b_a = a.layers[0].tau_m.bias.detach(), a.layers[0].tau_adp.bias.detach()
    assert bool(((b_m > -4) & (b_m < 0)).all()) and bool(((b_a > 0) & (b_a < 4)).all())


def test_recipe_trains_and_writes_a_checkpoint_the_frontend_reads(tmp_path):
    lines = []
    summary = train_sequential_digits(
        tmp_path / "seq.pt",
        mode="row",
        algorithm="fptt",
        chunk_steps=4,
        hidden=16,
        epochs=2,
        log=lines.append,
    )
    assert summary["float_test_accuracy"] > 0.2, summary
    assert len(summary["history"]) == 2 and lines[0].startswith("fptt epoch 1/2: loss ")
    ckpt = torch.load(tmp_path / "seq.pt", weights_only=True)
    model = model_from_checkpoint(ckpt, "seq.pt")
    assert isinstance(model, SpikingNetwork) and [layer.kind for layer in model.layers] == [
        "ltc",
        "li",
    ]
    assert ckpt["training"]["algorithm"] == "fptt" and ckpt["data"]["mode"] == "row"
    assert ckpt["training"]["oracle_weight"] == 0.1 == summary["oracle_weight"]
    graph = import_model(tmp_path / "seq.pt").graph
    assert graph.nodes["hidden"].metadata["snn_deploy_neuron"]["model"] == "ltc"


def test_example_script(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("seq_digits_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    args = ["--mode", "row", "--epochs", "1", "--hidden", "8", "--chunk-steps", "4", "--quiet"]
    args += ["--seeds", "0,1"]
    assert example.main([*args, "--out", str(tmp_path / "m.pt")]) == 0
    out = capsys.readouterr().out
    results = json.loads(out[: out.rindex("}") + 1])
    assert set(results) == {"bptt", "fptt"} and "BPTT - FPTT:" in out
    assert results["fptt"]["chunk_steps"] == 4 and (tmp_path / "m.pt").is_file()
    assert results["fptt"]["oracle_weight"] == 0.1 and results["bptt"]["oracle_weight"] == 0.0
    for algorithm in ("bptt", "fptt"):
        per_seed = results[algorithm]["per_seed"]
        assert set(per_seed) == {"0", "1"}
        assert results[algorithm]["float_test_accuracy"] == pytest.approx(
            sum(per_seed.values()) / 2
        )
    assert "mean over seeds 0,1" in out
