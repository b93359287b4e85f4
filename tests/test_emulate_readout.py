"""A network trained with a non-spiking readout is emulated with the readout rule it was trained
with (`--readout`), and its float reference then scores exactly what torch scores; data that are
not spikes are refused instead of being binarized silently."""

import numpy as np
import pytest
import torch

from snn_deploy import api
from snn_deploy.cli import main
from snn_deploy.data import sequential_digits
from snn_deploy.train import LI, LIF, SpikingNetwork, evaluate, fit


@pytest.fixture(scope="module")
def row_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("row")
    data = sequential_digits("row")
    # an explicit spike encoding: a pixel of a row spikes when it is at least half on
    x_train, x_test = (data.x_train >= 0.5), (data.x_test >= 0.5)
    torch.manual_seed(0)
    net = SpikingNetwork(
        [LIF(8, 64, beta=0.9, recurrent=True), LI(64, 10, beta=0.9, bias=True)]
    ).double()
    fit(net, x_train.astype(np.float64), data.y_train, readout="last_membrane", epochs=6,
        lr=5e-3, batch_size=64, seed=0)  # fmt: skip
    acc, _ = evaluate(net, x_test.astype(np.float64), data.y_test, "last_membrane")
    torch.save(net.to_checkpoint(), tmp / "row.pt")
    np.savez(tmp / "test.npz", x=x_test, y=data.y_test)
    np.savez(tmp / "analog.npz", x=data.x_test, y=data.y_test)
    api.compile(tmp / "row.pt", "loihi2", tmp / "build")
    return tmp, acc, data


def test_last_voltage_readout_scores_what_torch_scores(row_model):
    tmp, torch_acc, data = row_model
    assert torch_acc > 0.5  # the model learned something; the comparison is meaningful
    s = api.emulate(tmp / "build", str(tmp / "test.npz"), save=False, readout="last_voltage")
    # float64 reference against float64 torch: the same argmax on all but near-ties
    assert abs(s.float_accuracy - torch_acc) <= 1 / len(data.y_test), (s.float_accuracy, torch_acc)
    assert any("last voltage" in n for n in s.notes)
    default = api.emulate(tmp / "build", str(tmp / "test.npz"), save=False)
    assert any("mean voltage" in n for n in default.notes)


def test_count_readout_of_a_non_spiking_output_is_refused(row_model, capsys):
    tmp, _, _ = row_model
    rc = main(["emulate", str(tmp / "build"), "--data", str(tmp / "test.npz"),
               "--readout", "count", "--no-save"])  # fmt: skip
    assert rc == 2
    assert "needs a spiking output layer" in capsys.readouterr().err


def test_analog_data_is_refused_not_binarized(row_model, capsys):
    tmp, _, _ = row_model
    rc = main(["emulate", str(tmp / "build"), "--data", str(tmp / "analog.npz"), "--no-save"])
    err = capsys.readouterr().err
    assert rc == 3 and "not spikes (0 or 1)" in err and "= 0.125" in err
    assert "hint: encode analog inputs as spikes" in err


def test_compiled_and_reference_engines_agree_through_the_cli(row_model, tmp_path, capsys):
    """``--engine reference`` runs the numpy kernels; everything but the timings is equal."""
    import json

    tmp, _, _ = row_model
    out = {}
    for engine in ("compiled", "reference"):
        path = tmp_path / f"{engine}.json"
        rc = main(["emulate", str(tmp / "build"), "--data", str(tmp / "test.npz"), "--no-save",
                   "--engine", engine, "--json", str(path)])  # fmt: skip
        assert rc == 0, capsys.readouterr().err
        summary = json.loads(path.read_text())
        summary.pop("seconds")
        out[engine] = summary
    assert out["compiled"] == out["reference"]
