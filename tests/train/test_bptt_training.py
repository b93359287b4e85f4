"""BPTT training: determinism, evaluation, input checks, and a short digits run end to end."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split
from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.train.bptt import evaluate, train_bptt
from snn_deploy.train.models import SpikingMLP
from snn_deploy.train.recipes import train_digits

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits" / "train.py"


@pytest.fixture(scope="module")
def digits_small():
    split = load_digits_split()
    spec = EncodingSpec(num_steps=10)
    return encode(split.x_train[:300], spec), split.y_train[:300]


def fresh_model(seed=0):
    torch.manual_seed(seed)
    return SpikingMLP.from_sizes([64, 32, 10], alpha=0.5, beta=0.875)


def test_training_is_deterministic_given_seed(digits_small):
    x, y = digits_small
    runs = []
    for _ in range(2):
        model = fresh_model()
        hist = train_bptt(model, x, y, epochs=2, lr=2e-3, batch_size=64, seed=5)
        runs.append((model.state_dict(), hist))
    (sd_a, hist_a), (sd_b, hist_b) = runs
    for k in sd_a:
        assert torch.equal(sd_a[k], sd_b[k]), k
    assert [h["loss"] for h in hist_a] == [h["loss"] for h in hist_b]
    other = fresh_model()
    train_bptt(other, x, y, epochs=2, lr=2e-3, batch_size=64, seed=6)
    assert not torch.equal(other.state_dict()["layers.0.fc.weight"], sd_a["layers.0.fc.weight"])


def test_history_records_and_validation(digits_small):
    x, y = digits_small
    seen = []
    hist = train_bptt(
        fresh_model(),
        x[:200],
        y[:200],
        epochs=2,
        lr=2e-3,
        batch_size=50,
        seed=0,
        x_val=x[200:],
        y_val=y[200:],
        on_epoch=seen.append,
    )
    assert seen == hist and [h["epoch"] for h in hist] == [1, 2]
    for h in hist:
        assert set(h) == {"epoch", "loss", "train_accuracy", "val_accuracy", "seconds"}
        assert h["loss"] > 0 and 0 <= h["train_accuracy"] <= 1 and 0 <= h["val_accuracy"] <= 1


def test_evaluate_returns_accuracy_and_counts(digits_small):
    x, y = digits_small
    model = fresh_model()
    acc, counts = evaluate(model, x, y, batch_size=70)
    assert counts.shape == (300, 10) and counts.dtype == np.int64
    with torch.no_grad():
        expected = model.counts(torch.as_tensor(x).permute(1, 0, 2))
    np.testing.assert_array_equal(counts, expected.numpy())
    assert acc == pytest.approx(float(np.mean(counts.argmax(1) == y)))


def test_input_errors(digits_small):
    x, y = digits_small
    model = fresh_model()
    with pytest.raises(ModelError, match=r"x_train must have shape \[samples, steps, features\]"):
        train_bptt(model, x[0], y, epochs=1, lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(ModelError, match=r"y_train must have shape \(300,\), got \(299,\)"):
        train_bptt(model, x, y[:-1], epochs=1, lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(ModelError, match=r"y_train must be class indices in 0..9"):
        train_bptt(model, x, y + 10, epochs=1, lr=1e-3, batch_size=8, seed=0)
    with pytest.raises(ModelError, match=r"give both x_val and y_val"):
        train_bptt(model, x, y, epochs=1, lr=1e-3, batch_size=8, seed=0, x_val=x)


def test_short_digits_run_learns_and_writes_a_complete_checkpoint(tmp_path):
    lines = []
    path = tmp_path / "digits.pt"
    summary = train_digits(path, hidden=64, epochs=6, seed=0, log=lines.append)
    assert summary["float_test_accuracy"] > 0.80, summary
    assert summary["path"] == str(path) and summary["epochs"] == 6
    assert len(lines) == 7 and lines[0].startswith("epoch 1/6: loss ")
    assert os.listdir(tmp_path) == ["digits.pt"]

    ckpt = torch.load(path, weights_only=True)
    model = SpikingMLP.from_checkpoint(ckpt, source=path.name)
    assert model.names == ("hidden", "output")
    spec = EncodingSpec.from_dict(ckpt["data"])
    assert (spec.dataset, spec.encoding, spec.num_steps) == ("digits", "rate_regular", 20)
    split = load_digits_split(spec.split_seed, spec.test_fraction)
    acc, _ = evaluate(model, encode(split.x_test, spec), split.y_test)
    assert acc == summary["float_test_accuracy"] == ckpt["training"]["float_test_accuracy"]
    assert (
        model.calibrate(torch.as_tensor(encode(split.x_train, spec)).permute(1, 0, 2))
        == (ckpt["calibration"])
    )
    assert ckpt["training"]["algorithm"] == "bptt" and ckpt["training"]["epochs"] == 6
    assert len(ckpt["training"]["history"]) == 6
    contract = DiscretizationContract.from_metadata(ckpt["contract"])
    assert (contract.dt_seconds, contract.integrator, contract.reset) == (1e-3, "euler", "zero")
    layer = model.layers[0]
    du = 4096 * (1 - layer.alpha) - 1
    dv = 4096 * (1 - layer.beta)
    assert torch.equal(du, du.round()) and torch.equal(dv, dv.round()), "not Loihi-exact"


def test_example_script(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("digits_train_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "model.pt"
    assert example.main(["--out", str(out), "--epochs", "1", "--seed", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["path"] == str(out) and summary["epochs"] == 1 and summary["seed"] == 3
    assert out.is_file()
