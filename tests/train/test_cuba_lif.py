"""CubaLIF forward against a plain numpy implementation of its equations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_reference import numpy_cuba_lif, random_spikes

from snn_deploy.errors import ModelError
from snn_deploy.train.neurons import CubaLIF


def make_layer(n_in, n_out, *, reset, bias, seed):
    g = torch.Generator().manual_seed(seed)
    layer = CubaLIF(
        n_in,
        n_out,
        alpha=0.9 * torch.rand(n_out, generator=g),
        beta=0.5 + 0.45 * torch.rand(n_out, generator=g),
        threshold=0.5 + torch.rand(n_out, generator=g),
        reset=reset,
        bias=bias,
    ).double()
    with torch.no_grad():
        layer.fc.weight.copy_(2.0 * torch.randn(n_out, n_in, generator=g) / n_in**0.5)
        if bias:
            layer.bias.copy_(0.3 * torch.randn(n_out, generator=g))
    return layer


def assert_spikes_equal(actual: np.ndarray, expected: np.ndarray):
    diff = np.argwhere(actual != expected)
    assert diff.size == 0, f"{len(diff)} spike(s) differ, first at [t, b, n] = {diff[:5].tolist()}"


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_equals_numpy_equations(reset, bias, seed):
    layer = make_layer(12, 9, reset=reset, bias=bias, seed=seed)
    x = random_spikes(40, 5, 12, seed=100 + seed)
    with torch.no_grad():
        trace = layer.trace(x)
        spikes = layer(x)
    b = layer.bias.detach().numpy() if bias else np.zeros(9)
    ref_s, ref_i, ref_v = numpy_cuba_lif(
        x.numpy(),
        layer.fc.weight.detach().numpy(),
        layer.alpha.numpy(),
        layer.beta.numpy(),
        layer.threshold.numpy(),
        b,
        reset,
    )
    assert 0.02 < ref_s.mean() < 0.6, "test inputs should make neurons fire, not saturate"
    assert_spikes_equal(spikes.numpy(), ref_s)
    assert_spikes_equal(trace.spikes.numpy(), ref_s)
    np.testing.assert_allclose(trace.current.numpy(), ref_i, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(trace.voltage.numpy(), ref_v, rtol=1e-12, atol=1e-12)


def test_resets_differ_where_voltage_overshoots():
    """With a large input the "subtract" reset keeps the overshoot, "zero" does not."""
    outs = {}
    for reset in ("zero", "subtract"):
        layer = CubaLIF(1, 1, alpha=0.0, beta=1.0 - 1 / 8, threshold=1.0, reset=reset).double()
        with torch.no_grad():
            layer.fc.weight.fill_(1.5)
        outs[reset] = layer.trace(torch.ones(3, 1, 1, dtype=torch.float64))
    assert outs["zero"].voltage[:, 0, 0].tolist() == [1.5, 1.5, 1.5]
    after_1, after_2 = 1.5 - 1.0, (0.5 * 0.875 + 1.5) - 1.0
    assert outs["subtract"].voltage[:, 0, 0].tolist() == [
        1.5,
        after_1 * 0.875 + 1.5,
        after_2 * 0.875 + 1.5,
    ]


def test_buffers_are_per_neuron_and_not_learned():
    layer = CubaLIF(3, 4, alpha=0.5, beta=0.875)
    assert layer.alpha.shape == layer.beta.shape == layer.threshold.shape == (4,)
    assert {n for n, _ in layer.named_parameters()} == {"fc.weight"}
    assert set(layer.state_dict()) == {"fc.weight", "alpha", "beta", "threshold"}
    with_bias = CubaLIF(3, 4, alpha=0.5, beta=0.875, bias=True)
    assert {n for n, _ in with_bias.named_parameters()} == {"fc.weight", "bias"}


def test_invalid_construction_and_input():
    with pytest.raises(ModelError, match=r"unknown reset mode 'soft'; use one of zero, subtract"):
        CubaLIF(3, 4, alpha=0.5, beta=0.5, reset="soft")
    with pytest.raises(
        ModelError, match=r"alpha must be a scalar or have shape \(4,\), got \(3,\)"
    ):
        CubaLIF(3, 4, alpha=[0.5, 0.5, 0.5], beta=0.5)
    layer = CubaLIF(3, 4, alpha=0.5, beta=0.5)
    with pytest.raises(ModelError, match=r"expects input \[T, B, 3\], got \(2, 3\)"):
        layer(torch.zeros(2, 3))
