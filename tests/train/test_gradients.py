"""Gradients: gradcheck of the smooth relaxation, and BPTT against an explicit unrolling."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call
from train_reference import random_mlp, random_spikes

from snn_deploy.train.neurons import CubaLIF

COUNT_SCALE = 0.5
SURROGATE_SCALE = 5.0


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_gradcheck_smooth_layer(reset):
    """With sigmoid(scale x) for the step and the reset path kept, the layer is a smooth
    function, and autograd must agree with finite differences."""
    layer = CubaLIF(
        3,
        2,
        alpha=[0.5, 0.25],
        beta=[0.875, 0.75],
        threshold=[0.6, 0.9],
        reset=reset,
        bias=True,
        surrogate="sigmoid_relaxation",
        surrogate_scale=2.0,
        detach_reset=False,
    ).double()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, 3, dtype=torch.float64, generator=g).requires_grad_()
    weight = torch.randn(2, 3, dtype=torch.float64, generator=g).requires_grad_()
    bias = (0.1 * torch.randn(2, dtype=torch.float64, generator=g)).requires_grad_()
    alpha = layer.alpha.clone().requires_grad_()

    def run(x, weight, bias, alpha):
        return functional_call(layer, {"fc.weight": weight, "bias": bias, "alpha": alpha}, (x,))

    assert torch.autograd.gradcheck(run, (x, weight, bias, alpha), eps=1e-6, atol=1e-7)


def surrogate_step(u: torch.Tensor, scale: float) -> torch.Tensor:
    """Heaviside forward; backward d/du [u / (scale |u| + 1)] = 1 / (scale |u| + 1)^2."""
    smooth = u / (scale * u.abs() + 1.0)
    return (u > 0).to(u.dtype) + (smooth - smooth.detach())


def unrolled_loss(x, y, params, reset, detach_reset):
    """The network written out: time outer, layers inner, one Linear per step."""
    state = [(torch.zeros(x.shape[1], p["w"].shape[0], dtype=x.dtype),) * 2 for p in params]
    counts = 0.0
    all_spikes = [[] for _ in params]
    for t in range(x.shape[0]):
        s = x[t]
        for k, p in enumerate(params):
            i, v = state[k]
            i = p["alpha"] * i + s @ p["w"].T
            v = p["beta"] * v + i + (p["bias"] if p["bias"] is not None else 0.0)
            s = surrogate_step(v - p["threshold"], SURROGATE_SCALE)
            r = s.detach() if detach_reset else s
            v = v * (1.0 - r) if reset == "zero" else v - p["threshold"] * r
            state[k] = (i, v)
            all_spikes[k].append(s)
        counts = counts + s
    loss = torch.nn.functional.cross_entropy(COUNT_SCALE * counts, y)
    return loss, [torch.stack(s) for s in all_spikes]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
@pytest.mark.parametrize("detach_reset", [True, False])
def test_bptt_gradients_equal_unrolled_reference(reset, detach_reset):
    model = random_mlp(
        [7, 6, 5, 4],
        seed=3,
        reset=reset,
        bias=(False, True),
        gain=2.5,
        surrogate_scale=SURROGATE_SCALE,
        detach_reset=detach_reset,
    )
    x = random_spikes(25, 6, 7, seed=4, p=0.4)
    y = torch.tensor([0, 1, 2, 3, 1, 2])

    spikes = model.layer_spikes(x)
    loss = torch.nn.functional.cross_entropy(COUNT_SCALE * spikes["l2"].sum(0), y)
    named = dict(model.named_parameters())
    grads = dict(zip(named, torch.autograd.grad(loss, list(named.values())), strict=True))

    params = [
        {
            "w": layer.fc.weight.detach().clone().requires_grad_(),
            "bias": None if layer.bias is None else layer.bias.detach().clone().requires_grad_(),
            "alpha": layer.alpha,
            "beta": layer.beta,
            "threshold": layer.threshold,
        }
        for layer in model.layers
    ]
    ref_loss, ref_spikes = unrolled_loss(x, y, params, reset, detach_reset)
    leaves = {f"layers.{k}.fc.weight": p["w"] for k, p in enumerate(params)}
    leaves.update(
        {f"layers.{k}.bias": p["bias"] for k, p in enumerate(params) if p["bias"] is not None}
    )
    ref_grads = dict(zip(leaves, torch.autograd.grad(ref_loss, list(leaves.values())), strict=True))

    for name, ref in zip(model.names, ref_spikes, strict=True):
        assert torch.equal(spikes[name].detach(), ref.detach()), f"layer {name} spikes differ"
        assert 0.02 < float(ref.detach().mean()) < 0.7, f"layer {name} should fire, not saturate"
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-12)
    assert set(grads) == set(ref_grads) and len(grads) == 4
    for name, ref in ref_grads.items():
        assert float(ref.abs().max()) > 1e-4, f"{name}: reference gradient is zero"
        torch.testing.assert_close(
            grads[name], ref, rtol=1e-5, atol=1e-5, msg=f"gradient of {name}"
        )
