"""The fast-sigmoid surrogate: Heaviside forward, 1/(scale |x| + 1)^2 backward."""

from __future__ import annotations

import pytest
import torch

from snn_deploy.errors import ModelError
from snn_deploy.train.surrogate import (
    SURROGATES,
    get_spike_fn,
    sigmoid_relaxation,
    spike_fn,
)

SCALES = [1.0, 2.5, 10.0, 25.0, 100.0]


def points():
    x = torch.linspace(-2.0, 2.0, 401, dtype=torch.float64)
    return torch.cat([x, torch.tensor([0.0, 1e-12, -1e-12], dtype=torch.float64)])


@pytest.mark.parametrize("scale", SCALES)
def test_forward_is_strict_heaviside(scale):
    x = points()
    out = spike_fn(x, scale)
    assert out.dtype == x.dtype
    torch.testing.assert_close(out, (x > 0).to(torch.float64), rtol=0, atol=0)
    assert spike_fn(torch.zeros(1), scale).item() == 0.0


@pytest.mark.parametrize("scale", SCALES)
def test_backward_matches_derivative_of_antiderivative(scale):
    """d/dx [x / (k|x| + 1)] = 1 / (k|x| + 1)^2: autograd of that smooth function is an
    independent computation of the surrogate."""
    x = points().requires_grad_()
    (grad,) = torch.autograd.grad(spike_fn(x, scale).sum(), x)
    y = points().requires_grad_()
    (expected,) = torch.autograd.grad((y / (scale * y.abs() + 1.0)).sum(), y)
    torch.testing.assert_close(grad, expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("scale", SCALES)
def test_backward_matches_formula_and_scales_upstream_gradient(scale):
    x = points().requires_grad_()
    upstream = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    (grad,) = torch.autograd.grad(spike_fn(x, scale), x, grad_outputs=upstream)
    xd = x.detach()
    torch.testing.assert_close(grad, upstream / (scale * xd.abs() + 1.0) ** 2, rtol=1e-12, atol=0)


def test_peak_is_one_at_threshold():
    x = torch.zeros(3, requires_grad=True)
    spike_fn(x, 25.0).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(3))


def test_registry_and_lookup():
    assert SURROGATES["fast_sigmoid"] is spike_fn
    assert get_spike_fn("fast_sigmoid") is spike_fn
    assert get_spike_fn("sigmoid_relaxation") is sigmoid_relaxation
    with pytest.raises(ModelError, match=r"unknown surrogate 'atan'; known: fast_sigmoid"):
        get_spike_fn("atan")


def test_sigmoid_relaxation_is_smooth_sigmoid():
    x = points()
    torch.testing.assert_close(sigmoid_relaxation(x, 4.0), torch.sigmoid(4.0 * x))
