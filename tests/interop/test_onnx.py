"""ONNX ANN -> rate-coded IF SNN (Rueckauer et al. 2017) -> Loihi 2: an MLP and a CNN trained on
digits, exported by torch.onnx.export, stay within 2 points of the ANN's accuracy at T = 100."""

import warnings

import onnx
import pytest
import torch

from snn_deploy import api
from snn_deploy.data.digits import load_digits_split
from snn_deploy.errors import InputFileError, UnsupportedError


def _train_and_export(model, path, shape, epochs=150):
    torch.manual_seed(0)
    s = load_digits_split()
    x = torch.tensor(s.x_train, dtype=torch.float32).view(-1, *shape)
    y = torch.tensor(s.y_train)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    with torch.no_grad():
        xt = torch.tensor(s.x_test, dtype=torch.float32).view(-1, *shape)
        acc = float((model(xt).argmax(1).numpy() == s.y_test).mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, *shape),), str(path), dynamo=False)
    return acc


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_converted_ann_within_two_points_on_loihi2(tmp_path, arch):
    torch.manual_seed(0)
    if arch == "mlp":
        model, shape = (
            torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
            (64,),
        )
    else:
        model, shape = (
            torch.nn.Sequential(
                torch.nn.Conv2d(1, 8, 3, padding=1),
                torch.nn.ReLU(),
                torch.nn.AvgPool2d(2),
                torch.nn.Flatten(),
                torch.nn.Linear(128, 10),
            ),
            (1, 8, 8),
        )
    ann_acc = _train_and_export(model, tmp_path / "ann.onnx", shape)
    assert ann_acc > 0.9
    report = api.compile(
        tmp_path / "ann.onnx", "loihi2", tmp_path / "snn", calibrate="digits"
    ).to_dict()
    assert report["model"]["kind"] == "ONNX ANN converted to a rate-coded IF SNN"
    assert any("Rueckauer" in n for n in report["notes"])
    s = api.emulate(tmp_path / "snn", data="digits")
    assert s.steps == 100
    assert abs(s.int_accuracy - ann_acc) <= 0.02, (ann_acc, s.format())


def test_unsupported_operator_is_named(tmp_path):
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(18, 10),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(tmp_path / "m.onnx"), dynamo=False)
    with pytest.raises(UnsupportedError, match="ONNX operator MaxPool .* cannot be converted"):
        api.compile(tmp_path / "m.onnx", "loihi2", tmp_path / "o", calibrate="digits")


def test_branching_models_and_missing_data_are_refused(tmp_path):
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(64, 64), torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.b(torch.relu(self.a(x)) + x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Residual(), (torch.zeros(1, 64),), str(tmp_path / "r.onnx"), dynamo=False)
    with pytest.raises(UnsupportedError, match="single chain"):
        api.compile(tmp_path / "r.onnx", "loihi2", tmp_path / "o", calibrate="digits")
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 10), torch.nn.ReLU(), torch.nn.Linear(10, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(mlp, (torch.zeros(1, 64),), str(tmp_path / "m.onnx"), dynamo=False)
    with pytest.raises(InputFileError, match="needs data to normalize its weights"):
        api.compile(tmp_path / "m.onnx", "loihi2", tmp_path / "o")


def test_damaged_onnx_file(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(InputFileError, match="bad.onnx: not a readable ONNX model"):
        api.compile(tmp_path / "bad.onnx", "loihi2", tmp_path / "o", calibrate="digits")
    assert onnx.__version__  # the onnx package is a dependency, not an optional extra
