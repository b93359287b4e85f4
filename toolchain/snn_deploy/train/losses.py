"""Losses for spike trains and membrane traces, and classification readouts.

All inputs are time-major: ``spikes`` and ``v`` are ``[T, B, C]``; labels ``y`` are ``[B]``
class indices; results are scalars averaged over the batch.

Classification (cross-entropy ``CE(logits, y)`` on a readout of the output layer):

- :func:`ce_count_loss`: ``logits = scale * sum_t s[t]`` (spike counts; snnTorch's
  ``ce_count_loss`` with ``scale = 1``)
- :func:`ce_max_membrane_loss`: ``logits = max_t V[t]`` (a non-spiking readout)
- :func:`ce_last_membrane_loss`: ``logits = V[T-1]``
- :func:`ttfs_ce_loss`: ``logits = -scale * t_first`` (the earliest output wins), with
  :func:`first_spike_times` ``t_first[b, c] = sum_t prod_{t' <= t} (1 - s[t', b, c])``: the
  number of steps before the first spike (``T`` if none), differentiable through the surrogate

Regression and spike-train targets:

- :func:`mse_rate_loss`: ``mean_{b,c} (mean_t s[t] - r)^2`` against target rates ``r [B, C]``
  (:func:`rate_targets` makes them from labels)
- :func:`mse_membrane_loss`: ``mean (V - target)^2``
- :func:`van_rossum_distance`: both trains filtered by ``f[t] = exp(-1/tau) f[t-1] + s[t]``, then
  ``D = (1/tau) sum_t sum_c (f - g)^2``, averaged over the batch (van Rossum 2001, in steps)

Activity: :func:`firing_rate_regularizer` with per-neuron rates ``nu_n = mean_{t,b} s``::

    R = w_low mean_n relu(nu_low - nu_n)^2 + w_high mean_n relu(nu_n - nu_high)^2

(silent neurons pushed up, over-active ones down; Zenke & Vogels 2021 use such bounds).

:data:`READOUTS` are the classification readouts that the training loops of
:mod:`snn_deploy.train.algorithms` use; each gives ``logits`` for a whole sequence and, for the
chunked algorithms (TBPTT, FPTT), ``stream``: the logits after one more chunk, earlier chunks
entering as constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from snn_deploy.errors import ModelError


def _check(x: torch.Tensor, what: str) -> None:
    if x.ndim != 3:
        raise ModelError(f"{what} must be time-major [T, B, C], got shape {tuple(x.shape)}")


def spike_count_logits(spikes: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``scale * sum_t s[t]``, ``[B, C]``."""
    _check(spikes, "spikes")
    return scale * spikes.sum(dim=0)


def ce_count_loss(spikes: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``CE(scale * sum_t s[t], y)``."""
    return F.cross_entropy(spike_count_logits(spikes, scale), y)


def ce_max_membrane_loss(v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``CE(max_t V[t], y)``."""
    _check(v, "v")
    return F.cross_entropy(v.max(dim=0).values, y)


def ce_last_membrane_loss(v: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``CE(V[T-1], y)``."""
    _check(v, "v")
    return F.cross_entropy(v[-1], y)


def first_spike_times(spikes: torch.Tensor) -> torch.Tensor:
    """``t_first = sum_t prod_{t' <= t} (1 - s[t'])``, ``[B, C]``: steps before the first
    spike, ``T`` for a neuron that never spikes."""
    _check(spikes, "spikes")
    return torch.cumprod(1.0 - spikes, dim=0).sum(dim=0)


def ttfs_ce_loss(spikes: torch.Tensor, y: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``CE(-scale * t_first, y)``: the target class should spike first."""
    return F.cross_entropy(-scale * first_spike_times(spikes), y)


def ttfs_mse_loss(spikes: torch.Tensor, target_times: torch.Tensor) -> torch.Tensor:
    """``mean (t_first - target)^2`` against target first-spike times ``[B, C]`` in steps."""
    return F.mse_loss(first_spike_times(spikes), target_times.to(spikes.dtype))


def rate_targets(
    y: torch.Tensor, num_classes: int, on: float = 0.8, off: float = 0.1
) -> torch.Tensor:
    """Target rates ``[B, C]``: ``on`` for the label, ``off`` elsewhere."""
    t = torch.full((y.shape[0], num_classes), float(off))
    t[torch.arange(y.shape[0]), y] = float(on)
    return t


def mse_rate_loss(spikes: torch.Tensor, target_rates: torch.Tensor) -> torch.Tensor:
    """``mean_{b,c} (mean_t s[t] - r)^2``."""
    _check(spikes, "spikes")
    return F.mse_loss(spikes.mean(dim=0), target_rates.to(spikes.dtype))


def mse_membrane_loss(v: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean (V - target)^2``; ``target`` broadcasts against ``[T, B, C]``."""
    _check(v, "v")
    return F.mse_loss(v, target.to(v.dtype).expand_as(v))


def exponential_filter(spikes: torch.Tensor, tau: float) -> torch.Tensor:
    """``f[t] = exp(-1/tau) f[t-1] + s[t]`` from ``f[-1] = 0``, ``[T, B, C]``."""
    decay = math.exp(-1.0 / tau)
    out, f = [], torch.zeros_like(spikes[0])
    for s in spikes.unbind(0):
        f = decay * f + s
        out.append(f)
    return torch.stack(out)


def van_rossum_distance(
    spikes: torch.Tensor, target: torch.Tensor, tau: float = 5.0
) -> torch.Tensor:
    """``(1/tau) sum_t sum_c (f - g)^2`` of the filtered trains (module docstring), batch mean."""
    _check(spikes, "spikes")
    if target.shape != spikes.shape:
        raise ModelError(
            f"target spikes {tuple(target.shape)} must match spikes {tuple(spikes.shape)}"
        )
    if not tau > 0:
        raise ModelError(f"tau must be > 0 steps, got {tau}")
    diff = exponential_filter(spikes, tau) - exponential_filter(target.to(spikes.dtype), tau)
    return diff.pow(2).sum(dim=(0, 2)).mean() / tau


def firing_rate_regularizer(
    spikes: torch.Tensor,
    *,
    low: float = 0.0,
    high: float = 1.0,
    weight_low: float = 1.0,
    weight_high: float = 1.0,
) -> torch.Tensor:
    """Squared hinges on each neuron's rate ``nu_n = mean_{t,b} s`` (module docstring)."""
    _check(spikes, "spikes")
    nu = spikes.mean(dim=(0, 1))
    return (
        weight_low * F.relu(low - nu).pow(2).mean() + weight_high * F.relu(nu - high).pow(2).mean()
    )


@dataclass(frozen=True)
class Readout:
    """A classification readout of the output layer; subclasses define the logits."""

    name: str = ""

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def stream(self, acc, out: torch.Tensor):
        """``(logits after this chunk, accumulator for the next)``; ``acc`` is None at first."""
        raise ModelError(f"readout {self.name!r} has no chunked form; use count or *_membrane")

    def stream_steps(self, acc, out: torch.Tensor):
        """``(logits after every step of this chunk [L, B, C], accumulator for the next)``."""
        raise ModelError(f"readout {self.name!r} has no chunked form; use count or *_membrane")


@dataclass(frozen=True)
class SpikeCount(Readout):
    """``logits = scale * sum_t s[t]``."""

    name: str = "count"
    scale: float = 1.0

    def logits(self, out):
        return spike_count_logits(out, self.scale)

    def stream(self, acc, out):
        total = out.sum(dim=0) if acc is None else acc + out.sum(dim=0)
        return self.scale * total, total.detach()

    def stream_steps(self, acc, out):
        totals = out.cumsum(dim=0) if acc is None else acc + out.cumsum(dim=0)
        return self.scale * totals, totals[-1].detach()


@dataclass(frozen=True)
class MaxMembrane(Readout):
    """``logits = max_t V[t]``."""

    name: str = "max_membrane"

    def logits(self, out):
        _check(out, "v")
        return out.max(dim=0).values

    def stream(self, acc, out):
        m = out.max(dim=0).values
        m = m if acc is None else torch.maximum(acc, m)
        return m, m.detach()

    def stream_steps(self, acc, out):
        m = out.cummax(dim=0).values
        m = m if acc is None else torch.maximum(acc, m)
        return m, m[-1].detach()


@dataclass(frozen=True)
class LastMembrane(Readout):
    """``logits = V[T-1]``."""

    name: str = "last_membrane"

    def logits(self, out):
        _check(out, "v")
        return out[-1]

    def stream(self, acc, out):
        return out[-1], None

    def stream_steps(self, acc, out):
        return out, None


@dataclass(frozen=True)
class FirstSpike(Readout):
    """``logits = -scale * t_first``."""

    name: str = "first_spike"
    scale: float = 1.0

    def logits(self, out):
        return -self.scale * first_spike_times(out)


READOUTS: dict[str, type[Readout]] = {
    "count": SpikeCount,
    "max_membrane": MaxMembrane,
    "last_membrane": LastMembrane,
    "first_spike": FirstSpike,
}


def get_readout(readout: str | Readout) -> Readout:
    """A :class:`Readout` from its name (default parameters) or itself."""
    if isinstance(readout, Readout):
        return readout
    try:
        return READOUTS[readout]()
    except KeyError:
        raise ModelError(f"unknown readout {readout!r}; known: {', '.join(READOUTS)}") from None
