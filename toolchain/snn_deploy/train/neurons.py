"""Discrete-time spiking neuron layers for training (time-major tensors ``[T, B, features]``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import RESETS
from snn_deploy.train.surrogate import DEFAULT_SCALE, DEFAULT_SURROGATE, get_spike_fn


@dataclass(frozen=True)
class LayerTrace:
    """One run of a layer: ``spikes``, synaptic ``current`` and ``voltage``, each ``[T, B, out]``.

    ``voltage`` is V[t] before the reset, the value compared with the threshold.
    """

    spikes: torch.Tensor
    current: torch.Tensor
    voltage: torch.Tensor


def per_neuron(value: float | Sequence[float] | torch.Tensor, size: int, what: str) -> torch.Tensor:
    """``value`` as a float32 tensor of shape ``(size,)``; a scalar is broadcast."""
    t = torch.as_tensor(value, dtype=torch.float32).detach().clone()
    if t.ndim == 0:
        t = t.expand(size).clone()
    if t.shape != (size,):
        raise ModelError(f"{what} must be a scalar or have shape ({size},), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ModelError(f"{what} has non-finite values")
    return t


class CubaLIF(nn.Module):
    """Current-based leaky integrate-and-fire layer, discrete time, no synaptic delay.

    Input ``s_in`` is ``[T, B, in_features]``; output spikes are ``[T, B, out_features]``.
    State starts at zero. At every step t::

        I[t] = alpha * I[t-1] + W s_in[t]            (W: Linear(in, out, bias=False); same step)
        V[t] = beta  * V[t-1] + I[t] + bias          (bias optional, default off; adds to V)
        s[t] = H(V[t] - threshold)                   (strict: spike if V > threshold)
        reset "zero":     V[t] = V[t] * (1 - s[t])   (v_reset = 0)
        reset "subtract": V[t] = V[t] - threshold * s[t]

    Backward, ``H`` is replaced by the surrogate derivative named by ``surrogate``
    (:mod:`snn_deploy.train.surrogate`) at width ``surrogate_scale``.

    Gradient through the reset: by default (``detach_reset=True``) the spike in the reset term
    is detached, as snnTorch and Norse's ``LIF`` do, so ``dV_after/dV_before = 1 - s[t]`` for
    "zero" and ``1`` for "subtract", and no surrogate gradient flows through ``s[t]`` into the
    reset. A spike's effect on its own neuron's future voltage is therefore not trained; it
    reaches the loss only through the neurons it drives. ``detach_reset=False`` keeps that path
    (with the smooth relaxation it makes autograd's gradient the exact one, for gradcheck).

    ``alpha``, ``beta`` and ``threshold`` are per-neuron buffers of shape ``(out_features,)``:
    saved in the state dict, not learned. ``fc.weight`` (and ``bias`` if enabled) are learned.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        alpha: float | Sequence[float] | torch.Tensor,
        beta: float | Sequence[float] | torch.Tensor,
        threshold: float | Sequence[float] | torch.Tensor = 1.0,
        reset: str = "zero",
        bias: bool = False,
        surrogate: str = DEFAULT_SURROGATE,
        surrogate_scale: float = DEFAULT_SCALE,
        detach_reset: bool = True,
    ):
        super().__init__()
        if reset not in RESETS:
            raise ModelError(f"unknown reset mode {reset!r}; use one of {', '.join(RESETS)}")
        if in_features < 1 or out_features < 1:
            raise ModelError(
                f"layer sizes must be positive, got in={in_features}, out={out_features}"
            )
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.reset = reset
        self.surrogate = surrogate
        self.surrogate_scale = float(surrogate_scale)
        self.detach_reset = bool(detach_reset)
        self._spike = get_spike_fn(surrogate)
        self.fc = nn.Linear(self.in_features, self.out_features, bias=False)
        self.register_buffer("alpha", per_neuron(alpha, self.out_features, "alpha"))
        self.register_buffer("beta", per_neuron(beta, self.out_features, "beta"))
        self.register_buffer("threshold", per_neuron(threshold, self.out_features, "threshold"))
        if bias:
            self.bias = nn.Parameter(torch.zeros(self.out_features))
        else:
            self.register_parameter("bias", None)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"reset={self.reset!r}, bias={self.bias is not None}, surrogate={self.surrogate!r}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``[T, B, out]`` for input spikes ``x`` of shape ``[T, B, in]``."""
        return self._run(x, record=False)[0]

    def trace(self, x: torch.Tensor) -> LayerTrace:
        """Spikes plus the current I and the voltage V (before reset) at every step."""
        spikes, current, voltage = self._run(x, record=True)
        return LayerTrace(spikes=spikes, current=current, voltage=voltage)

    def _run(
        self, x: torch.Tensor, record: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ModelError(
                f"CubaLIF expects input [T, B, {self.in_features}], got {tuple(x.shape)}"
            )
        # One matmul over all T; per-step indexing of a grad-carrying stack makes backward
        # quadratic in T (training.md section 4.4), so the loop walks unbind(0).
        drive = self.fc(x)
        i = torch.zeros_like(drive[0])
        v = torch.zeros_like(drive[0])
        spikes, currents, voltages = [], [], []
        for x_t in drive.unbind(0):
            i = self.alpha * i + x_t
            v = self.beta * v + i
            if self.bias is not None:
                v = v + self.bias
            s = self._spike(v - self.threshold, self.surrogate_scale)
            if record:
                currents.append(i)
                voltages.append(v)
            s_reset = s.detach() if self.detach_reset else s
            if self.reset == "zero":
                v = v * (1.0 - s_reset)
            else:
                v = v - self.threshold * s_reset
            spikes.append(s)
        if not record:
            return torch.stack(spikes), None, None
        return torch.stack(spikes), torch.stack(currents), torch.stack(voltages)
