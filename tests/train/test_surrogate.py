"""The fast-sigmoid surrogate: Heaviside forward, 1/(scale |x| + 1)^2 backward."""

from __future__ import annotations

import math

import pytest
import torch

from snn_deploy.errors import ModelError
from snn_deploy.train.surrogate import (
    DEFAULT_SCALES,
    SURROGATES,
    get_spike_fn,
    sigmoid_relaxation,
    spike_fn,
    surrogate_derivative,
    surrogate_derivative_,
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


# ----------------------------------------------------------------- every surrogate
def antiderivative(name: str, x: torch.Tensor, k: float) -> torch.Tensor:
    """A smooth function whose derivative is the documented dS/dx, written independently of
    the package: autograd of it is the reference for each surrogate's backward."""
    if name == "fast_sigmoid":
        return x / (k * x.abs() + 1.0)
    if name == "boxcar":
        return k * torch.clamp(x, -0.5 / k, 0.5 / k)
    if name == "ste":
        return k * x
    if name == "triangle":
        z = torch.clamp(x, -1.0 / k, 1.0 / k)
        return z - 0.5 * k * z * z.abs()
    if name == "sigmoid":
        return torch.sigmoid(k * x)
    if name == "arctan":
        return torch.atan(0.5 * math.pi * k * x) / math.pi
    if name == "exponential":
        return torch.where(x >= 0, 0.5 * (1.0 - torch.exp(-k * x)), -0.5 * (1.0 - torch.exp(k * x)))
    if name == "multi_gaussian":
        s, h, r, g = 1.0 / k, 0.15, 6.0, 0.5

        def cdf(z, mu, sigma):
            return 0.5 * (1.0 + torch.erf((z - mu) / (sigma * math.sqrt(2.0))))

        return g * ((1 + h) * cdf(x, 0.0, s) - h * cdf(x, s, r * s) - h * cdf(x, -s, r * s))
    raise AssertionError(name)


ALL = [
    "fast_sigmoid",
    "boxcar",
    "ste",
    "triangle",
    "sigmoid",
    "arctan",
    "exponential",
    "multi_gaussian",
]


def test_registry_has_every_surrogate_with_a_default_scale():
    assert set(SURROGATES) == set(ALL)
    assert set(DEFAULT_SCALES) == set(ALL)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("scale", [0.5, 1.0, 4.0, 25.0])
def test_forward_is_heaviside_and_backward_is_the_documented_derivative(name, scale):
    # Offset so that no point sits exactly on a kink of boxcar or triangle.
    x = (torch.linspace(-2.0, 2.0, 401, dtype=torch.float64) + 0.00123).requires_grad_()
    spike = get_spike_fn(name)
    out = spike(x, scale)
    torch.testing.assert_close(out, (x > 0).to(torch.float64), rtol=0, atol=0)
    (grad,) = torch.autograd.grad(out.sum(), x)
    y = x.detach().clone().requires_grad_()
    (expected,) = torch.autograd.grad(antiderivative(name, y, scale).sum(), y)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        surrogate_derivative(name, x.detach(), scale), expected, rtol=1e-10, atol=1e-12
    )
    inplace = surrogate_derivative_(name, x.detach().clone(), scale)
    torch.testing.assert_close(inplace, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name, scale, peak",
    [
        ("fast_sigmoid", 25.0, 1.0),
        ("boxcar", 2.0, 2.0),
        ("ste", 3.0, 3.0),
        ("triangle", 5.0, 1.0),
        ("sigmoid", 4.0, 1.0),
        ("arctan", 2.0, 1.0),
        ("exponential", 2.0, 1.0),
    ],
)
def test_value_at_threshold(name, scale, peak):
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    get_spike_fn(name)(x, scale).sum().backward()
    assert x.grad.item() == pytest.approx(peak)


def test_multi_gaussian_has_negative_side_lobes_and_integrates_to_gamma_1_minus_h():
    """Area g ((1 + h) - h - h) = 0.5 * 0.85 (training.md section 1.4 says g; it is g (1 - h))."""
    x = torch.linspace(-20.0, 20.0, 200001, dtype=torch.float64)
    d = surrogate_derivative("multi_gaussian", x, 1.0 / 0.3)
    assert float(d.min()) < 0 < float(d.max())
    assert float(torch.trapezoid(d, x)) == pytest.approx(0.5 * 0.85, abs=1e-6)


def test_no_nan_far_below_threshold():
    """snnTorch 1.0.0's sigmoid surrogate gives NaN below x = -3.5 (training.md section 2)."""
    x = torch.tensor([-1e4, -50.0, -3.6, 3.6, 50.0, 1e4], dtype=torch.float64)
    for name in ALL:
        assert torch.isfinite(surrogate_derivative(name, x, DEFAULT_SCALES[name])).all(), name
