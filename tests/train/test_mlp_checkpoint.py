"""Checkpoint format: torch.save / torch.load(weights_only=True) round trip, and refusals."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from train_reference import random_mlp, random_spikes

from snn_deploy.data.digits import EncodingSpec
from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.train.models import CHECKPOINT_KEYS, SpikingMLP
from snn_deploy.train.recipes import save_checkpoint_atomic


def make_ckpt(reset="zero"):
    model = random_mlp([6, 5, 4], seed=7, reset=reset, bias=(True, False), dtype=torch.float32)
    x = random_spikes(12, 3, 6, seed=8, dtype=torch.float32)
    ckpt = model.to_checkpoint(
        contract=DiscretizationContract(dt_seconds=1e-3, reset=reset, source="test"),
        data=EncodingSpec(num_steps=12),
        calibration=model.calibrate(x),
        training={
            "algorithm": "bptt",
            "epochs": 3,
            "seed": 0,
            "lr": 1e-3,
            "note": None,
            "history": [{"epoch": 1, "loss": 0.5}],
        },
    )
    return model, x, ckpt


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_round_trip_through_torch_save_weights_only(tmp_path, reset):
    model, x, ckpt = make_ckpt(reset)
    path = tmp_path / "model.pt"
    torch.save(ckpt, path)
    loaded = torch.load(path, weights_only=True)
    assert tuple(loaded) == CHECKPOINT_KEYS
    assert loaded["format"] == "snn-deploy/checkpoint" and loaded["version"] == 1
    assert loaded["model"] == {
        "kind": "spiking_mlp",
        "input_name": "input",
        "layers": [
            {"name": "l0", "in_features": 6, "out_features": 5, "reset": reset, "bias": True},
            {"name": "l1", "in_features": 5, "out_features": 4, "reset": reset, "bias": False},
        ],
    }
    assert set(loaded["state_dict"]) == {
        "layers.0.fc.weight",
        "layers.0.bias",
        "layers.0.alpha",
        "layers.0.beta",
        "layers.0.threshold",
        "layers.1.fc.weight",
        "layers.1.alpha",
        "layers.1.beta",
        "layers.1.threshold",
    }
    assert loaded["data"] == EncodingSpec(num_steps=12).to_dict()
    assert DiscretizationContract.from_metadata(loaded["contract"]).reset == reset

    restored = SpikingMLP.from_checkpoint(loaded, source="model.pt")
    assert restored.names == model.names
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))
        assert restored.calibrate(x) == loaded["calibration"]


def test_default_checkpoint_is_complete_and_loadable(tmp_path):
    model = SpikingMLP.from_sizes([3, 4, 2], alpha=0.5, beta=0.875)
    ckpt = model.to_checkpoint()
    assert ckpt["data"] == {} and ckpt["calibration"] == {} and ckpt["training"] == {}
    contract = DiscretizationContract.from_metadata(ckpt["contract"])
    assert (contract.dt_seconds, contract.integrator, contract.reset) == (1e-3, "euler", "zero")
    torch.save(ckpt, tmp_path / "m.pt")
    SpikingMLP.from_checkpoint(torch.load(tmp_path / "m.pt", weights_only=True))


def test_mixed_reset_modes_cannot_be_saved():
    model = SpikingMLP.from_sizes([3, 4, 2], alpha=0.5, beta=0.875)
    model.layers[1].reset = "subtract"
    with pytest.raises(
        ModelError,
        match=r"layers use different reset modes \(hidden: zero, "
        r"output: subtract\)",
    ):
        model.to_checkpoint()


def set_path(d, path, value):
    *head, last = path
    for k in head:
        d = d[k]
    if value is DELETE:
        del d[last]
    else:
        d[last] = value


DELETE = object()


def nan_weight(ckpt):
    w = ckpt["state_dict"]["layers.0.fc.weight"]
    w.view(-1)[:3] = float("nan")


def inf_threshold(ckpt):
    ckpt["state_dict"]["layers.1.threshold"][:2] = float("inf")


def drop_calibration_and_training(ckpt):
    del ckpt["calibration"], ckpt["training"]


def unchained(ckpt):
    ckpt["model"]["layers"][1]["in_features"] = 7
    ckpt["state_dict"]["layers.1.fc.weight"] = torch.zeros(4, 7)


# case -> (mutation in place, or returning a replacement; the message it must give)
MALFORMED = {
    "not a dict": (lambda c: ["a list"], r"^model.pt: expected a dict, got list"),
    "no format": (
        lambda c: set_path(c, ["format"], DELETE),
        r"^model.pt: no 'format' key, not an snn-deploy checkpoint; save it with to_checkpoint",
    ),
    "wrong format": (
        lambda c: set_path(c, ["format"], "other/thing"),
        r"format is 'other/thing', expected 'snn-deploy/checkpoint'",
    ),
    "future version": (
        lambda c: set_path(c, ["version"], 2),
        r"checkpoint version 2 is not supported \(this snn-deploy reads version 1\)",
    ),
    "missing keys": (
        drop_calibration_and_training,
        r"missing key\(s\) 'calibration', 'training'; re-save with to_checkpoint\(\)",
    ),
    "unknown key": (
        lambda c: set_path(c, ["extra"], 1),
        r"unknown key\(s\) 'extra'; a version-1 checkpoint has exactly format, version, model",
    ),
    "model kind": (
        lambda c: set_path(c, ["model", "kind"], "cnn"),
        r"model kind 'cnn' is not supported \(only 'spiking_mlp'\)",
    ),
    "layer field missing": (
        lambda c: set_path(c, ["model", "layers", 0, "reset"], DELETE),
        r"model.layers\[0\] has no 'reset'",
    ),
    "bad size": (
        lambda c: set_path(c, ["model", "layers", 1, "out_features"], "4"),
        r"model.layers\[1\].out_features must be a positive integer, got '4'",
    ),
    "unknown reset": (
        lambda c: set_path(c, ["model", "layers", 0, "reset"], "soft"),
        r"^model.pt: layer 'l0': unknown reset mode 'soft'; use one of zero, subtract$",
    ),
    "sizes do not chain": (
        unchained,
        r"^model.pt: layer 'l1' takes 7 inputs but layer 'l0' gives 5; in_features must equal",
    ),
    "weight shape": (
        lambda c: set_path(c, ["state_dict", "layers.0.fc.weight"], torch.zeros(5, 3)),
        r"^model.pt: tensor 'layers.0.fc.weight' has shape \(5, 3\) but layer 'l0' needs \(5, 6\)",
    ),
    "buffer shape": (
        lambda c: set_path(c, ["state_dict", "layers.1.beta"], torch.zeros(3)),
        r"tensor 'layers.1.beta' has shape \(3,\) but layer 'l1' needs \(4,\)",
    ),
    "missing tensor": (
        lambda c: set_path(c, ["state_dict", "layers.1.threshold"], DELETE),
        r"state_dict has no tensor 'layers.1.threshold'; re-save the model",
    ),
    "bias flag disagrees": (
        lambda c: set_path(c, ["model", "layers", 0, "bias"], False),
        r"state_dict has unexpected tensor\(s\) 'layers.0.bias' that the layer specs do not use",
    ),
    "not a tensor": (
        lambda c: set_path(c, ["state_dict", "layers.0.alpha"], [0.5] * 5),
        r"state_dict entry 'layers.0.alpha' is a list, not a tensor",
    ),
    "nan": (
        nan_weight,
        r"^model.pt: tensor 'layers.0.fc.weight' has 3 NaN value\(s\); retrain or fix the "
        r"checkpoint$",
    ),
    "inf": (
        inf_threshold,
        r"^model.pt: tensor 'layers.1.threshold' has 2 infinite value\(s\); retrain or fix",
    ),
    "contract disagrees": (
        lambda c: set_path(c, ["contract", "reset"], "subtract"),
        r"discretization contract has reset='subtract' but SpikingMLP computes with reset='zero'",
    ),
    "contract malformed": (
        lambda c: set_path(c, ["contract", "integrator"], "rk4"),
        r"^model.pt: invalid discretization contract: integrator 'rk4' not in",
    ),
    "contract value of the wrong type": (
        lambda c: set_path(c, ["contract", "dt_seconds"], "1ms"),
        r"^model.pt: 'contract' is malformed \(.*\); re-save with to_checkpoint\(\)$",
    ),
    "entry not a dict": (
        lambda c: set_path(c, ["calibration"], [1, 2]),
        r"'calibration' must be a dict, got list",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_checkpoints_raise_one_line_model_error(case):
    _, _, ckpt = make_ckpt()
    ckpt = copy.deepcopy(ckpt)
    mutate, message = MALFORMED[case]
    replacement = mutate(ckpt)
    if replacement is not None:
        ckpt = replacement
    with pytest.raises(ModelError, match=message) as info:
        SpikingMLP.from_checkpoint(ckpt, source="model.pt")
    assert "\n" not in str(info.value)


def test_error_names_checkpoint_without_source():
    _, _, ckpt = make_ckpt()
    nan_weight(ckpt)
    with pytest.raises(ModelError, match=r"^checkpoint: tensor 'layers.0.fc.weight' has 3 NaN"):
        SpikingMLP.from_checkpoint(ckpt)


class SaveFailed(Exception):
    pass


class Unsaveable:
    def __reduce__(self):
        raise SaveFailed("refuses to be pickled")


def test_atomic_save_replaces_and_leaves_no_temporary(tmp_path):
    _, _, ckpt = make_ckpt()
    path = tmp_path / "sub" / "model.pt"
    save_checkpoint_atomic(ckpt, path)
    first = path.read_bytes()
    with pytest.raises(SaveFailed):
        save_checkpoint_atomic({"bad": Unsaveable()}, path)
    assert path.read_bytes() == first, "a failed save must leave the old checkpoint intact"
    assert os.listdir(path.parent) == ["model.pt"]
    SpikingMLP.from_checkpoint(torch.load(path, weights_only=True))
