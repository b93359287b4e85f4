"""Surrogate spike functions: a Heaviside step forward, a smooth pseudo-derivative backward.

With ``x = V - threshold`` a neuron spikes when ``x > 0``. The step has no useful derivative, so
backpropagation uses a surrogate ``dS/dx`` instead (../shared/reference/training.md section 2).
Every surrogate below has the same forward, ``S(x) = H(x) = 1 if x > 0 else 0``, so a model
trained with any of them runs unchanged on a chip; they differ only in the backward formula and
in the meaning of their one ``scale`` parameter ``k`` (larger ``k``: narrower surrogate)::

    name            dS/dx                                              default k   peak
    fast_sigmoid    1 / (k|x| + 1)^2          (SuperSpike; Zenke & Ganguli 2018)    10   1
    boxcar          k * 1[|x| < 1/(2k)]       (rectangle of area 1)                   1   k
    ste             k                         (straight-through estimator)            1   k
    triangle        max(0, 1 - k|x|)          (Bellec et al. 2018/2020, gamma = 1)     1   1
    sigmoid         k * sig(kx) * (1 - sig(kx)), sig(z) = 1/(1 + e^-z)                 4   k/4
    arctan          (k/2) / (1 + (pi k x / 2)^2)   (snnTorch's ATan, alpha = k)        2   k/2
    exponential     (k/2) * exp(-k|x|)        (SLAYER, tau = 1/k; area 1)             2   k/2
    multi_gaussian  g * [(1+h) N(x; 0, s) - h N(x; s, r s) - h N(x; -s, r s)]      1/0.3  ~0.73
                    with s = 1/k, g = 0.5, h = 0.15, r = 6, N the normal pdf
                    (Yin et al. 2021, the FPTT code's sigma = 0.3, gamma = 0.5)

Conventions compared with the libraries (training.md section 2): snnTorch's
``fast_sigmoid(slope=25)`` is ``fast_sigmoid`` with k = 25 (SpyTorch uses 100); snnTorch's default
``ATan(alpha=2)`` is ``arctan`` with k = 2; SpikingJelly's default ``Sigmoid(alpha=4)`` is
``sigmoid`` with k = 4; lava-dl SLAYER with ``tau_grad = 1/k, scale_grad = 1`` at threshold 1
is ``exponential``; e-prop's pseudo-derivative is ``0.3 * triangle`` with k = 1/threshold. The
boxcar has area 1, like SpikingJelly's ``Rect``; ``ste`` passes ``k`` times the gradient
everywhere (snnTorch's ``straight_through_estimator`` is k = 1). Unlike snnTorch 1.0.0's
``sigmoid`` these never produce NaN (``sig`` is evaluated with ``torch.sigmoid``), and
``triangle`` is a triangle (snnTorch's ``triangular`` is a sign flip).

``SURROGATES`` maps a name to a spike function ``fn(x, scale) -> spikes``;
:func:`surrogate_derivative` evaluates the ``dS/dx`` column above on a tensor (the fused kernels
of :mod:`snn_deploy.train.kernels` use it directly).

``sigmoid_relaxation`` is not a surrogate: its forward is the smooth ``sigmoid(scale * x)``, so
the whole network becomes differentiable and ``torch.autograd.gradcheck`` applies. It exists for
gradient tests only and is selected by name through :func:`get_spike_fn`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from snn_deploy.errors import ModelError

SpikeFn = Callable[[torch.Tensor, float], torch.Tensor]
DerivativeFn = Callable[[torch.Tensor, float], torch.Tensor]

DEFAULT_SURROGATE = "fast_sigmoid"
DEFAULT_SCALE = 10.0
SMOOTH_RELAXATION = "sigmoid_relaxation"

MULTI_GAUSSIAN_GAMMA = 0.5
MULTI_GAUSSIAN_HEIGHT = 0.15
MULTI_GAUSSIAN_WIDTH_RATIO = 6.0


def _normal_pdf(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2.0 * math.pi))


def d_fast_sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    """``1 / (k|x| + 1)^2``."""
    return 1.0 / (k * x.abs() + 1.0) ** 2


def d_boxcar(x: torch.Tensor, k: float) -> torch.Tensor:
    """``k`` inside ``|x| < 1/(2k)``, 0 outside."""
    return (x.abs() < 0.5 / k).to(x.dtype) * k


def d_ste(x: torch.Tensor, k: float) -> torch.Tensor:
    """``k`` everywhere."""
    return torch.full_like(x, k)


def d_triangle(x: torch.Tensor, k: float) -> torch.Tensor:
    """``max(0, 1 - k|x|)``."""
    return torch.clamp(1.0 - k * x.abs(), min=0.0)


def d_sigmoid(x: torch.Tensor, k: float) -> torch.Tensor:
    """``k sig(kx) (1 - sig(kx))``."""
    s = torch.sigmoid(k * x)
    return k * s * (1.0 - s)


def d_arctan(x: torch.Tensor, k: float) -> torch.Tensor:
    """``(k/2) / (1 + (pi k x / 2)^2)``."""
    return (0.5 * k) / (1.0 + (0.5 * math.pi * k * x) ** 2)


def d_exponential(x: torch.Tensor, k: float) -> torch.Tensor:
    """``(k/2) exp(-k|x|)``."""
    return 0.5 * k * torch.exp(-k * x.abs())


def d_multi_gaussian(x: torch.Tensor, k: float) -> torch.Tensor:
    """``g [(1+h) N(x;0,s) - h N(x;s,rs) - h N(x;-s,rs)]``, ``s = 1/k``."""
    s, h, r = 1.0 / k, MULTI_GAUSSIAN_HEIGHT, MULTI_GAUSSIAN_WIDTH_RATIO
    return MULTI_GAUSSIAN_GAMMA * (
        (1.0 + h) * _normal_pdf(x, 0.0, s)
        - h * _normal_pdf(x, s, r * s)
        - h * _normal_pdf(x, -s, r * s)
    )


DERIVATIVES: dict[str, DerivativeFn] = {
    "fast_sigmoid": d_fast_sigmoid,
    "boxcar": d_boxcar,
    "ste": d_ste,
    "triangle": d_triangle,
    "sigmoid": d_sigmoid,
    "arctan": d_arctan,
    "exponential": d_exponential,
    "multi_gaussian": d_multi_gaussian,
}
DEFAULT_SCALES: dict[str, float] = {
    "fast_sigmoid": DEFAULT_SCALE,
    "boxcar": 1.0,
    "ste": 1.0,
    "triangle": 1.0,
    "sigmoid": 4.0,
    "arctan": 2.0,
    "exponential": 2.0,
    "multi_gaussian": 1.0 / 0.3,
}


def _make_function(name: str, derivative: DerivativeFn) -> type[torch.autograd.Function]:
    class _Surrogate(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
            ctx.save_for_backward(x)
            ctx.scale = float(scale)
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad_output: torch.Tensor):
            (x,) = ctx.saved_tensors
            return grad_output * derivative(x, ctx.scale), None

    title = "".join(part.title() for part in name.split("_"))
    _Surrogate.__name__ = _Surrogate.__qualname__ = title
    _Surrogate.__doc__ = f"Heaviside forward ``(x > 0)``; backward ``grad * {derivative.__doc__}``"
    return _Surrogate


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


FUNCTIONS: dict[str, type[torch.autograd.Function]] = {"fast_sigmoid": FastSigmoid}
FUNCTIONS.update(
    {name: _make_function(name, d) for name, d in DERIVATIVES.items() if name not in FUNCTIONS}
)


def spike_fn(x: torch.Tensor, scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """Spikes ``H(x)`` with the fast-sigmoid surrogate ``1 / (scale * |x| + 1)**2`` backward."""
    return FastSigmoid.apply(x, scale)


def _spike_fn_for(name: str) -> SpikeFn:
    fn_class = FUNCTIONS[name]

    def spike(x: torch.Tensor, scale: float = DEFAULT_SCALES[name]) -> torch.Tensor:
        return fn_class.apply(x, scale)

    spike.__name__ = f"{name}_spike"
    spike.__doc__ = f"Spikes ``H(x)``; backward ``{DERIVATIVES[name].__doc__}`` (k = scale)."
    return spike


def sigmoid_relaxation(x: torch.Tensor, scale: float = DEFAULT_SCALE) -> torch.Tensor:
    """Smooth stand-in for the step, ``sigmoid(scale * x)``; for gradient checks, not training."""
    return torch.sigmoid(scale * x)


SURROGATES: dict[str, SpikeFn] = {"fast_sigmoid": spike_fn}
SURROGATES.update({name: _spike_fn_for(name) for name in DERIVATIVES if name not in SURROGATES})


def known_surrogates() -> str:
    return ", ".join([*SURROGATES, SMOOTH_RELAXATION])


def get_spike_fn(name: str) -> SpikeFn:
    """The spike function registered as ``name`` in ``SURROGATES``, or the smooth relaxation."""
    if name == SMOOTH_RELAXATION:
        return sigmoid_relaxation
    try:
        return SURROGATES[name]
    except KeyError:
        raise ModelError(f"unknown surrogate {name!r}; known: {known_surrogates()}") from None


def surrogate_derivative_(name: str, x: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`surrogate_derivative` written over ``x`` (no new tensor for ``fast_sigmoid``,
    the default; other surrogates compute out of place and copy back)."""
    if name == "fast_sigmoid":
        return x.abs_().mul_(scale).add_(1.0).pow_(-2)
    return x.copy_(surrogate_derivative(name, x, scale))


def surrogate_derivative(name: str, x: torch.Tensor, scale: float) -> torch.Tensor:
    """``dS/dx`` of surrogate ``name`` at ``x`` (for the relaxation: of ``sigmoid(scale x)``)."""
    if name == SMOOTH_RELAXATION:
        return d_sigmoid(x, scale)
    try:
        return DERIVATIVES[name](x, scale)
    except KeyError:
        raise ModelError(f"unknown surrogate {name!r}; known: {known_surrogates()}") from None


def spike_forward(name: str, x: torch.Tensor, scale: float) -> torch.Tensor:
    """The forward value of spike function ``name``: ``H(x)``, or ``sigmoid(scale x)`` for the
    relaxation; no autograd graph."""
    if name == SMOOTH_RELAXATION:
        return torch.sigmoid(scale * x)
    return (x > 0).to(x.dtype)
