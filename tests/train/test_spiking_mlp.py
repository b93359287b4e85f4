"""SpikingMLP: layer names, readout, every layer's spikes, calibration, structural errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_reference import numpy_cuba_lif, random_mlp, random_spikes

from snn_deploy.errors import ModelError
from snn_deploy.train.models import LayerSpec, SpikingMLP, default_layer_names


def test_default_layer_names():
    assert default_layer_names(1) == ["output"]
    assert default_layer_names(3) == ["hidden", "hidden2", "output"]
    model = SpikingMLP.from_sizes([4, 5, 6, 3], alpha=0.5, beta=0.875)
    assert model.names == ("hidden", "hidden2", "output")
    assert (model.num_inputs, model.num_outputs) == (4, 3)


def test_forward_layer_spikes_and_trace_agree_with_numpy():
    model = random_mlp([8, 7, 5], seed=0, bias=(True, False))
    x = random_spikes(30, 4, 8, seed=1)
    with torch.no_grad():
        per_layer = model.layer_spikes(x)
        traces = model.trace(x)
        out = model(x)
    assert list(per_layer) == list(traces) == ["l0", "l1"]
    assert torch.equal(per_layer["l1"], out)
    s = x.numpy()
    for name, layer in zip(model.names, model.layers, strict=True):
        bias = layer.bias.detach().numpy() if layer.bias is not None else 0.0
        s, _, v = numpy_cuba_lif(
            s,
            layer.fc.weight.detach().numpy(),
            layer.alpha.numpy(),
            layer.beta.numpy(),
            layer.threshold.numpy(),
            bias,
            layer.reset,
        )
        np.testing.assert_array_equal(per_layer[name].numpy(), s)
        np.testing.assert_allclose(traces[name].voltage.numpy(), v, rtol=1e-12, atol=1e-12)


def test_readout_is_count_argmax_with_ties_to_lowest_index():
    model = SpikingMLP.from_sizes([3, 4], alpha=0.0, beta=0.5, threshold=0.5)
    with torch.no_grad():
        model.layers[0].fc.weight.copy_(
            torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
        )
    x = torch.zeros(6, 3, 3)
    x[:, 0, 0] = 1  # neurons 0 and 1 tie: class 0
    x[:, 1, 1] = 1  # neuron 2 only
    x[:4, 2, 2], x[:2, 2, 0] = 1, 1  # neuron 3 (4 spikes) beats 0 and 1 (2 spikes)
    counts = model.counts(x)
    assert counts.tolist() == [[6, 6, 0, 0], [0, 0, 6, 0], [2, 2, 0, 4]]
    assert model.predict(x).tolist() == [0, 2, 3]


def test_forward_accepts_bool_spikes():
    model = SpikingMLP.from_sizes([3, 2], alpha=0.5, beta=0.5)
    x = torch.ones(4, 2, 3, dtype=torch.bool)
    assert model(x).shape == (4, 2, 2)


def test_calibrate_is_max_abs_state_and_batch_independent():
    model = random_mlp([8, 7, 5], seed=2, bias=(True,))
    x = random_spikes(25, 9, 8, seed=3)
    with torch.no_grad():
        traces = model.trace(x)
    calib = model.calibrate(x, batch_size=4)
    assert calib == model.calibrate(x, batch_size=1000)
    assert set(calib) == {"l0", "l1"}
    for name, tr in traces.items():
        assert calib[name]["max_abs_current"] == float(tr.current.abs().max())
        assert calib[name]["max_abs_voltage"] == float(tr.voltage.abs().max())
        assert calib[name]["max_abs_voltage"] > float(model.layers[0].threshold.min())
        assert all(isinstance(v, float) for v in calib[name].values())


def spec(name, n_in, n_out, **kw):
    return LayerSpec(name, n_in, n_out, alpha=0.5, beta=0.5, **kw)


@pytest.mark.parametrize(
    "layers, kwargs, message",
    [
        ([], {}, r"needs at least one layer"),
        (
            [spec("a", 4, 5), spec("b", 6, 3)],
            {},
            r"layer 'b' takes 6 inputs but layer 'a' gives 5; in_features must equal",
        ),
        (
            [spec("a", 4, 5), spec("a", 5, 3)],
            {},
            r"layer 1 'a': NIR node name 'a' is already used by layer 'a'; rename the layer",
        ),
        (
            [spec("a", 4, 5), spec("a_w", 5, 3)],
            {},
            r"NIR node name 'a_w' is already used by layer 'a'",
        ),
        ([spec("input", 4, 5)], {}, r"NIR node name 'input' is already used by the input"),
        ([spec("x", 4, 5)], {"input_name": "x"}, r"already used by the input"),
        ([spec("a", 4, 5, reset="soft")], {}, r"layer 'a': unknown reset mode 'soft'"),
        ([spec("", 4, 5)], {}, r"layer 0: name must be a non-empty string"),
    ],
)
def test_structural_errors(layers, kwargs, message):
    with pytest.raises(ModelError, match=message):
        SpikingMLP(layers, **kwargs)
