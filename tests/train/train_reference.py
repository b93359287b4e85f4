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


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_layer(kind, x, p, reset="zero", v_reset=0.0):
    """The docstring equations of every neuron layer, step by step in float64 numpy.

    ``p`` holds numpy arrays: ``w`` (out, in), optional ``u`` (out, out) recurrent, ``b``, and the
    layer's constants. Returns ``(outputs, voltage before reset)``, each (T, B, out)."""
    steps, batch = x.shape[:2]
    n = p["w"].shape[0]
    z = np.zeros((batch, n))
    i, v, s, a = z.copy(), z.copy(), z.copy(), z.copy()
    outs, volts = np.zeros((steps, batch, n)), np.zeros((steps, batch, n))
    u = p.get("u")
    b = p.get("b", np.zeros(n))
    bias_on_current = kind in ("lif", "if", "alif", "ltc")
    for t in range(steps):
        c = x[t] @ p["w"].T
        if bias_on_current:
            c = c + b
        if u is not None:
            c = c + s @ u.T
        if kind == "li":
            i = p["alpha"] * i + c
            v = p["beta"] * v + i + b
            outs[t] = volts[t] = v
            continue
        if kind == "cuba_lif":
            i = p["alpha"] * i + c
            v = p["beta"] * v + i + b
            theta = p["threshold"]
        elif kind in ("lif", "if", "alif"):
            beta = 1.0 if kind == "if" else p["beta"]
            v = beta * v + c
            theta = p["threshold"] + (p["adapt"] * a if kind == "alif" else 0.0)
        elif kind == "ltc":
            tau_m = sigmoid(np.concatenate([c, v], axis=1) @ p["wm"].T + p["bm"])
            tau_a = sigmoid(np.concatenate([c, a], axis=1) @ p["wa"].T + p["ba"])
            a = tau_a * a + (1.0 - tau_a) * s
            v = (1.0 - tau_m) * v + tau_m * c
            theta = p["threshold"] + p["adapt"] * a
        s = (v > theta).astype(np.float64)
        volts[t] = v
        if kind == "alif":
            a = p["rho"] * a + s
        if reset == "zero":
            v = np.where(s > 0, v_reset, v)
        else:
            v = v - p["threshold"] * s
        outs[t] = s
    return outs, volts


def layer_params(layer):
    """The numpy parameter dict of ``numpy_layer`` from a torch layer."""

    def f(t):
        return t.detach().double().numpy()

    p = {"w": f(layer.fc.weight)}
    if layer.rec is not None:
        p["u"] = f(layer.rec.weight)
    if layer.bias is not None:
        p["b"] = f(layer.bias)
    for name in ("alpha", "beta", "threshold", "rho", "adapt"):
        if hasattr(layer, name) and isinstance(getattr(layer, name), torch.Tensor):
            p[name] = f(getattr(layer, name))
    if hasattr(layer, "tau_m"):
        p.update(
            wm=f(layer.tau_m.weight),
            bm=f(layer.tau_m.bias),
            wa=f(layer.tau_adp.weight),
            ba=f(layer.tau_adp.bias),
        )
    return p
