"""Surrogate spike functions: a Heaviside step forward, a smooth pseudo-derivative backward.

With ``x = V - threshold`` a neuron spikes when ``x > 0``. The step has no useful derivative, so
backpropagation uses a surrogate ``dS/dx`` instead (../shared/reference/training.md section 2).

- ``fast_sigmoid`` (SuperSpike, Zenke & Ganguli 2018)::

      forward:  S(x)     = H(x) = 1 if x > 0 else 0
      backward: dS/dx    = 1 / (scale * |x| + 1)**2        (peak 1 at x = 0)

  ``scale`` sets the width (snnTorch ``fast_sigmoid(slope=25)``, SpyTorch 100; default here 10).

``SURROGATES`` maps a name to a spike function ``fn(x, scale) -> spikes``; every entry has the
Heaviside forward above, so a model trained with any of them runs unchanged on a chip.

``sigmoid_relaxation`` is not a surrogate: its forward is the smooth ``sigmoid(scale * x)``, so
the whole network becomes differentiable and ``torch.autograd.gradcheck`` applies. It exists for
gradient tests only and is selected by name through :func:`get_spike_fn`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from snn_deploy.errors import ModelError

SpikeFn = Callable[[torch.Tensor, float], torch.Tensor]

DEFAULT_SURROGATE = "fast_sigmoid"
DEFAULT_SCALE = 10.0
SMOOTH_RELAXATION = "sigmoid_relaxation"


class FastSigmoid(torch.autograd.Function):
    """Heaviside forward ``(x > 0)``; backward ``grad / (scale * |x| + 1)**2``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.scale = float(scale)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output / (ctx.scale * x.abs() + 1.0) ** 2, None


def spike_fn(x: torch.Tensor, scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """Spikes ``H(x)`` with the fast-sigmoid surrogate ``1 / (scale * |x| + 1)**2`` backward."""
    return FastSigmoid.apply(x, scale)


def sigmoid_relaxation(x: torch.Tensor, scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """Smooth stand-in for the step, ``sigmoid(scale * x)``; for gradient checks, not training."""
    return torch.sigmoid(scale * x)


SURROGATES: dict[str, SpikeFn] = {"fast_sigmoid": spike_fn}


def get_spike_fn(name: str) -> SpikeFn:
    """The spike function registered as ``name`` in ``SURROGATES``, or the smooth relaxation."""
    if name == SMOOTH_RELAXATION:
        return sigmoid_relaxation
    try:
        return SURROGATES[name]
    except KeyError:
        known = ", ".join(sorted(SURROGATES) + [SMOOTH_RELAXATION])
        raise ModelError(f"unknown surrogate {name!r}; known: {known}") from None
