"""Helpers for the training tests: a plain numpy CubaLIF and small random models.

Imported by the tests as a module (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import numpy as np
import torch

from snn_deploy.train.models import LayerSpec, SpikingMLP


def numpy_cuba_lif(x, weight, alpha, beta, threshold, bias, reset):
    """The CubaLIF equations step by step in float64 numpy.

    ``x`` is (T, B, in); returns spikes, current and voltage before reset, each (T, B, out).
    """
    steps, batch = x.shape[:2]
    n = weight.shape[0]
    i = np.zeros((batch, n))
    v = np.zeros((batch, n))
    spikes, currents, voltages = (np.zeros((steps, batch, n)) for _ in range(3))
    for t in range(steps):
        i = alpha * i + x[t] @ weight.T
        v = beta * v + i + bias
        s = v > threshold
        currents[t], voltages[t], spikes[t] = i, v, s
        if reset == "zero":
            v = np.where(s, 0.0, v)
        else:
            v = v - threshold * s
    return spikes, currents, voltages


def random_mlp(sizes, *, seed, reset="zero", bias=(False,), gain=2.0, dtype=torch.float64, **kw):
    """A SpikingMLP with per-neuron random decays and thresholds and weights big enough to
    make neurons fire; ``bias`` gives each layer's flag (cycled)."""
    g = torch.Generator().manual_seed(seed)
    specs = []
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        specs.append(
            LayerSpec(
                name=f"l{k}",
                in_features=n_in,
                out_features=n_out,
                alpha=tuple((0.9 * torch.rand(n_out, generator=g)).tolist()),
                beta=tuple((0.5 + 0.45 * torch.rand(n_out, generator=g)).tolist()),
                threshold=tuple((0.5 + torch.rand(n_out, generator=g)).tolist()),
                reset=reset,
                bias=bias[k % len(bias)],
            )
        )
    model = SpikingMLP(specs, **kw).to(dtype)
    with torch.no_grad():
        for layer in model.layers:
            layer.fc.weight.copy_(
                gain * torch.randn(layer.fc.weight.shape, generator=g) / layer.in_features**0.5
            )
            if layer.bias is not None:
                layer.bias.copy_(0.2 * torch.randn(layer.out_features, generator=g))
    return model


def random_spikes(steps, batch, features, *, seed, p=0.3, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, features, generator=g) < p).to(dtype)
