"""Discrete-time spiking neuron layers for training.

Tensors are **time-major**: a layer takes ``x`` of shape ``[T, B, in_features]`` and returns
``[T, B, out_features]`` (spikes; the membrane voltage for the non-spiking :class:`LI`). Data
sets are sample-major ``[N, T, F]`` (:mod:`snn_deploy.data`); the training loops transpose each
batch. Loops walk ``unbind(0)``, never ``x[t]`` (that makes backward quadratic in T,
training.md section 4.4).

Every layer owns its input weights ``W`` (``fc``, ``Linear(in, out, bias=False)``), optional
recurrent weights ``U`` (``rec``, ``Linear(out, out, bias=False)``, with ``recurrent=True``;
they carry last step's spikes, ``U s[t-1]``) and an optional bias ``b``. The input projection
``W x[t]`` is computed for all T at once; for a sparse spike input that needs no gradient it may
be computed from the events alone (:func:`snn_deploy.train.kernels.project_events`), where a
one-off measurement on this CPU finds that faster (:func:`snn_deploy.train.kernels.project_input`).

Common parameters: ``threshold`` (per neuron), ``reset`` (``"zero"``: ``V <- v_reset`` after a
spike; ``"subtract"``: ``V <- V - threshold``), ``v_reset`` (a scalar, default 0),
``surrogate``/``surrogate_scale`` (:mod:`snn_deploy.train.surrogate`; the scale defaults to the
surrogate's own), ``detach_reset`` (default True, as snnTorch and Norse: no gradient flows
through the spike in the reset term), ``impl`` (``"auto"``: the fused kernel where the layer has
one and nothing it treats as constant needs a gradient, else ``"autograd"``; ``"fused"``;
``"autograd"``: a plain step loop, the reference), ``event_input`` (``"auto"``: the faster input
projection on this CPU, measured once per process; ``True``: from the events; ``False``: dense).

Per-neuron constants (decays, thresholds, adaptation) are buffers: saved, not learned. The
:class:`LTC` neuron learns its time constants through gates, as in FPTT.

``H`` below is the spike function: the Heaviside step forward, the surrogate backward.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import nir
import numpy as np
import torch
from torch import nn

from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import RESETS
from snn_deploy.train.kernels import (
    LIFConfig,
    leaky_integrator_sequence,
    lif_sequence,
    project_input,
)
from snn_deploy.train.surrogate import (
    DEFAULT_SCALE,
    DEFAULT_SCALES,
    DEFAULT_SURROGATE,
    get_spike_fn,
)

IMPLS = ("auto", "fused", "autograd")
NEURON_METADATA_KEY = "snn_deploy_neuron"

State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class LayerTrace:
    """One run of a layer, each ``[T, B, out]``: ``spikes`` (zeros for a non-spiking layer),
    the synaptic ``current`` (the total input where the neuron has none), the ``voltage`` V[t]
    before the reset (the value compared with the threshold) and, for adaptive neurons, the
    ``adaptation`` variable."""

    spikes: torch.Tensor
    current: torch.Tensor
    voltage: torch.Tensor
    adaptation: torch.Tensor | None = None


@dataclass(frozen=True)
class NetworkRun:
    """One run of a network over a chunk of time: the last layer's ``output`` ``[T, B, out]``,
    the ``state`` after the last step (one dict per layer; pass it to the next chunk), and every
    layer's output by name (``layers``), e.g. for a firing-rate regularizer."""

    output: torch.Tensor
    state: list
    layers: dict


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


def _f64(t: torch.Tensor | None, size: int | None = None) -> np.ndarray:
    if t is None:
        return np.zeros(size)
    return t.detach().cpu().to(torch.float64).numpy().copy()


def _check_decay(layer: str, what: str, decay: np.ndarray) -> None:
    outside = ~((decay >= 0) & (decay < 1))
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise ModelError(
            f"layer '{layer}': {what} must be in [0, 1) for NIR export, got "
            f"{decay[first]:g} at neuron {first}; choose a decay below 1"
        )


class SpikingLayer(nn.Module):
    """Base class of the neuron layers (module docstring); not used directly."""

    kind: ClassVar[str] = ""
    spiking: ClassVar[bool] = True
    has_kernel: ClassVar[bool] = False
    bias_on_voltage: ClassVar[bool] = False
    buffer_names: ClassVar[tuple[str, ...]] = ("threshold",)
    state_names: ClassVar[tuple[str, ...]] = ("v", "s")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        threshold: float | Sequence[float] | torch.Tensor = 1.0,
        reset: str = "zero",
        v_reset: float = 0.0,
        bias: bool = False,
        recurrent: bool = False,
        surrogate: str = DEFAULT_SURROGATE,
        surrogate_scale: float | None = None,
        detach_reset: bool = True,
        impl: str = "auto",
        event_input: str | bool = "auto",
    ):
        super().__init__()
        name = type(self).__name__
        if reset not in RESETS:
            raise ModelError(f"unknown reset mode {reset!r}; use one of {', '.join(RESETS)}")
        if in_features < 1 or out_features < 1:
            raise ModelError(
                f"layer sizes must be positive, got in={in_features}, out={out_features}"
            )
        if impl not in IMPLS:
            raise ModelError(f"unknown impl {impl!r}; use one of {', '.join(IMPLS)}")
        if impl == "fused" and not self.has_kernel:
            raise ModelError(f"{name} has no fused kernel; use impl='auto' or 'autograd'")
        if not (isinstance(event_input, bool) or event_input == "auto"):
            raise ModelError(f"event_input must be 'auto', True or False, got {event_input!r}")
        if recurrent and not self.spiking:
            raise ModelError(f"{name} is a non-spiking readout and cannot be recurrent")
        if not np.isfinite(v_reset):
            raise ModelError(f"v_reset must be finite, got {v_reset}")
        get_spike_fn(surrogate)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.reset = reset
        self.v_reset = float(v_reset)
        self.surrogate = surrogate
        self.surrogate_scale = float(
            surrogate_scale
            if surrogate_scale is not None
            else DEFAULT_SCALES.get(surrogate, DEFAULT_SCALE)
        )
        self.detach_reset = bool(detach_reset)
        self.impl = impl
        self.event_input = event_input
        self.fc = nn.Linear(self.in_features, self.out_features, bias=False)
        self.rec = (
            nn.Linear(self.out_features, self.out_features, bias=False) if recurrent else None
        )
        if bias:
            self.bias = nn.Parameter(torch.zeros(self.out_features))
        else:
            self.register_parameter("bias", None)
        if self.spiking:
            self.register_buffer("threshold", per_neuron(threshold, self.out_features, "threshold"))

    # ------------------------------------------------------------------ description
    @property
    def recurrent(self) -> bool:
        return self.rec is not None

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"reset={self.reset!r}, bias={self.bias is not None}, recurrent={self.recurrent}, "
            f"surrogate={self.surrogate!r}"
        )

    def config(self) -> dict:
        """The layer's structure for a checkpoint (tensors live in the state dict)."""
        return {
            "type": self.kind,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "reset": self.reset,
            "v_reset": self.v_reset,
            "bias": self.bias is not None,
            "recurrent": self.recurrent,
        }

    @classmethod
    def from_config(cls, cfg: dict, **training) -> SpikingLayer:
        """A layer with the structure ``cfg`` (placeholder constants: load a state dict next);
        ``training`` passes surrogate, impl and similar settings that are not saved."""
        kwargs = dict(cls.placeholders())
        kwargs["bias"] = cfg["bias"]
        if cls.spiking:
            kwargs.update(reset=cfg["reset"], v_reset=cfg["v_reset"], recurrent=cfg["recurrent"])
        return cls(cfg["in_features"], cfg["out_features"], **kwargs, **training)

    @classmethod
    def placeholders(cls) -> dict:
        return {}

    # ------------------------------------------------------------------ running
    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 3 or x.shape[-1] != self.in_features:
            raise ModelError(
                f"{type(self).__name__} expects input [T, B, {self.in_features}], "
                f"got {tuple(x.shape)}"
            )

    def init_state(self, batch: int, like: torch.Tensor) -> State:
        """All-zero state for ``batch`` samples, dtype and device of ``like``."""
        z = like.new_zeros(batch, self.out_features)
        return {k: z.clone() for k in self.state_names}

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """``W x[t]`` for all t (plus ``b`` unless the bias drives the voltage)."""
        drive = project_input(x, self.fc.weight, self.event_input)
        if self.bias is not None and not self.bias_on_voltage:
            drive = drive + self.bias
        return drive

    def _constants(self) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, n) for n in self.buffer_names)

    def _use_kernel(self, state: State) -> bool:
        if self.impl == "autograd" or not self.has_kernel:
            return False
        if torch.is_grad_enabled() and (
            any(t.requires_grad for t in self._constants())
            or any(t.requires_grad for t in state.values())
        ):
            if self.impl == "fused":
                raise ModelError(
                    f"{type(self).__name__}: the fused kernel treats decays, thresholds and "
                    "the initial state as constants, but one of them requires a gradient; "
                    "use impl='autograd'"
                )
            return False
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output ``[T, B, out]`` for input ``x`` ``[T, B, in]`` from the zero state."""
        return self.run(x)[0]

    def run(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Output ``[T, B, out]`` and the state after the last step, from ``state`` (zero if
        None). Passing the state on continues the sequence; with the fused kernel the returned
        state is detached (the truncation point of TBPTT and FPTT)."""
        out, state, _ = self._run(x, state, record=False)
        return out, state

    def trace(self, x: torch.Tensor, state: State | None = None) -> LayerTrace:
        """Spikes, current and voltage (before reset) at every step, from ``state``."""
        return self._run(x, state, record=True)[2]

    def _run(self, x, state, record):
        raise NotImplementedError

    def _spike(self, x: torch.Tensor) -> torch.Tensor:
        return get_spike_fn(self.surrogate)(x, self.surrogate_scale)

    def _reset(self, v: torch.Tensor, s: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        """``V (1 - s) + v_reset s`` ("zero") or ``V - threshold s`` ("subtract")."""
        s_reset = s.detach() if self.detach_reset else s
        if self.reset == "zero":
            v = v * (1.0 - s_reset)
            return v + self.v_reset * s_reset if self.v_reset != 0.0 else v
        return v - threshold * s_reset

    def _recurrent_input(self, drive_t: torch.Tensor, s_prev: torch.Tensor) -> torch.Tensor:
        if self.rec is None:
            return drive_t
        return drive_t + s_prev.matmul(self.rec.weight.t())

    # ------------------------------------------------------------------ NIR
    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        raise NotImplementedError

    def nir_nodes(self, name: str, dt: float) -> tuple[dict, list, str]:
        """NIR nodes and edges of this layer: ``{name}_w`` (``Linear``, or ``Affine`` when the
        bias is added to the input current), the neuron node ``name``, and for a recurrent layer
        ``{name}_rec`` with edges ``name -> {name}_rec -> name`` (one-step delay by the
        contract). Returns ``(nodes, edges, entry node)``."""
        w = _f64(self.fc.weight)
        if self.bias is not None and not self.bias_on_voltage and not self.bias_in_neuron():
            weights = nir.Affine(weight=w, bias=_f64(self.bias))
        else:
            weights = nir.Linear(weight=w)
        nodes = {f"{name}_w": weights, name: self.nir_neuron(name, dt)}
        edges = [(f"{name}_w", name)]
        if self.rec is not None:
            nodes[f"{name}_rec"] = nir.Linear(weight=_f64(self.rec.weight))
            edges += [(name, f"{name}_rec"), (f"{name}_rec", name)]
        return nodes, edges, f"{name}_w"

    def bias_in_neuron(self) -> bool:
        """Whether the NIR neuron node carries the bias itself (as ``v_leak``)."""
        return False


class _LIFFamily(SpikingLayer):
    """Shared run loop of :class:`LIF`, :class:`CubaLIF` and :class:`IF`."""

    has_kernel = True

    def _alpha(self) -> torch.Tensor | None:
        return None

    def _beta(self) -> torch.Tensor:
        return self.beta

    def init_state(self, batch: int, like: torch.Tensor) -> State:
        z = like.new_zeros(batch, self.out_features)
        return {"i": z.clone(), "v": z.clone(), "s": z.clone()}

    def _run(self, x, state, record):
        self._check_input(x)
        state = state if state is not None else self.init_state(x.shape[1], x)
        drive = self.project(x)
        alpha, beta = self._alpha(), self._beta()
        if alpha is not None and not alpha.requires_grad and not bool(alpha.any()):
            alpha = None  # I[t] = 0 * I[t-1] + c[t] = c[t] exactly
        bias_v = self.bias if self.bias_on_voltage else None
        if self._use_kernel(state):
            cfg = LIFConfig(
                reset=self.reset,
                v_reset=self.v_reset,
                detach_reset=self.detach_reset,
                surrogate=self.surrogate,
                scale=self.surrogate_scale,
                record_current=record,
            )
            spikes, vpre, currents, (i, v, s) = lif_sequence(
                drive,
                alpha=alpha,
                beta=beta,
                threshold=self.threshold,
                bias=bias_v,
                rec_weight=None if self.rec is None else self.rec.weight,
                state=(state["i"], state["v"], state["s"]),
                cfg=cfg,
            )
            new_state = {"i": i, "v": v, "s": s}
            tr = None
            if record:
                tr = LayerTrace(spikes=spikes, current=currents, voltage=vpre)
            return spikes, new_state, tr
        i, v, s = state["i"], state["v"], state["s"]
        spikes, currents, voltages = [], [], []
        for d in drive.unbind(0):
            c = self._recurrent_input(d, s)
            if alpha is not None:
                i = alpha * i + c
                c = i
            v = beta * v + c
            if bias_v is not None:
                v = v + bias_v
            s = self._spike(v - self.threshold)
            if record:
                currents.append(c)
                voltages.append(v)
            v = self._reset(v, s, self.threshold)
            spikes.append(s)
        if alpha is None:
            i = torch.zeros_like(v)
        spikes = torch.stack(spikes)
        tr = _stacked_trace(spikes, currents, voltages) if record else None
        return spikes, {"i": i, "v": v, "s": s}, tr


def _stacked_trace(spikes, currents: list, voltages: list, adaptation: list | None = None):
    """The :class:`LayerTrace` of a step loop's per-step lists (spikes already stacked)."""
    return LayerTrace(
        spikes=spikes,
        current=torch.stack(currents),
        voltage=torch.stack(voltages),
        adaptation=None if adaptation is None else torch.stack(adaptation),
    )


class LIF(_LIFFamily):
    """Leaky integrate-and-fire layer (snnTorch ``Leaky``, Norse ``LIFBox``). At every step t::

        V[t] = beta V[t-1] + W x[t] + U s[t-1] + b           (U only if recurrent)
        s[t] = H(V[t] - threshold)                            (spike if V > threshold)
        V[t] <- V[t] (1 - s[t]) + v_reset s[t]                (reset "zero")
        V[t] <- V[t] - threshold s[t]                         (reset "subtract")

    ``beta`` (per neuron, in [0, 1]) and ``threshold`` are buffers. The bias is part of the
    input current (as ``nn.Linear``'s; NIR: the ``v_leak`` of the LIF node).
    """

    kind = "lif"
    buffer_names = ("beta", "threshold")

    def __init__(self, in_features: int, out_features: int, *, beta=0.9, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        self.register_buffer("beta", per_neuron(beta, self.out_features, "beta"))

    @classmethod
    def placeholders(cls) -> dict:
        return {"beta": 0.0}

    def bias_in_neuron(self) -> bool:
        return True

    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        """``nir.LIF``: ``tau = dt / (1 - beta)``, ``r = tau / dt``, ``v_leak = b / (1 - beta)``
        (forward Euler gives back ``V <- beta V + I + b``)."""
        beta = _f64(self.beta)
        _check_decay(name, "beta", beta)
        n = self.out_features
        tau = dt / (1.0 - beta)
        return nir.LIF(
            tau=tau,
            r=tau / dt,
            v_leak=_f64(self.bias, n) / (1.0 - beta),
            v_threshold=_f64(self.threshold),
            v_reset=np.full(n, self.v_reset),
        )


class CubaLIF(_LIFFamily):
    """Current-based leaky integrate-and-fire layer, discrete time, no synaptic delay.

    Input ``s_in`` is ``[T, B, in_features]``; output spikes are ``[T, B, out_features]``.
    State starts at zero. At every step t::

        I[t] = alpha * I[t-1] + W s_in[t] + U s[t-1]  (W: Linear(in, out, bias=False); same step)
        V[t] = beta  * V[t-1] + I[t] + bias           (bias optional, default off; adds to V)
        s[t] = H(V[t] - threshold)                    (strict: spike if V > threshold)
        reset "zero":     V[t] = V[t] * (1 - s[t]) + v_reset * s[t]   (v_reset default 0)
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
    saved in the state dict, not learned. ``fc.weight`` (and ``bias`` if enabled, ``rec.weight``
    if recurrent) are learned.
    """

    kind = "cuba_lif"
    bias_on_voltage = True
    buffer_names = ("alpha", "beta", "threshold")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        alpha: float | Sequence[float] | torch.Tensor,
        beta: float | Sequence[float] | torch.Tensor,
        **kwargs,
    ):
        super().__init__(in_features, out_features, **kwargs)
        self.register_buffer("alpha", per_neuron(alpha, self.out_features, "alpha"))
        self.register_buffer("beta", per_neuron(beta, self.out_features, "beta"))

    @classmethod
    def placeholders(cls) -> dict:
        return {"alpha": 0.0, "beta": 0.0}

    def _alpha(self) -> torch.Tensor | None:
        return self.alpha

    def bias_in_neuron(self) -> bool:
        return True

    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        """``nir.CubaLIF`` as snnTorch's ``Synaptic`` export: ``tau_syn = dt / (1 - alpha)``,
        ``w_in = tau_syn / dt``, ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``,
        ``v_leak = b / (1 - beta)``."""
        alpha, beta = _f64(self.alpha), _f64(self.beta)
        _check_decay(name, "alpha", alpha)
        _check_decay(name, "beta", beta)
        n = self.out_features
        tau_syn, tau_mem = dt / (1.0 - alpha), dt / (1.0 - beta)
        return nir.CubaLIF(
            tau_syn=tau_syn,
            tau_mem=tau_mem,
            r=tau_mem / dt,
            v_leak=_f64(self.bias, n) / (1.0 - beta),
            v_threshold=_f64(self.threshold),
            v_reset=np.full(n, self.v_reset),
            w_in=tau_syn / dt,
        )


class IF(_LIFFamily):
    """Integrate-and-fire layer (no leak). At every step t::

        V[t] = V[t-1] + W x[t] + U s[t-1] + b
        s[t] = H(V[t] - threshold)
        V[t] <- V[t] (1 - s[t]) + v_reset s[t]   or   V[t] - threshold s[t]

    NIR: ``nir.IF`` with ``r = 1 / dt``; the bias goes to an ``Affine`` weight node.
    """

    kind = "if"

    def __init__(self, in_features: int, out_features: int, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        self.register_buffer("beta", torch.ones(self.out_features), persistent=False)

    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        n = self.out_features
        return nir.IF(
            r=np.full(n, 1.0 / dt),
            v_threshold=_f64(self.threshold),
            v_reset=np.full(n, self.v_reset),
        )


class ALIF(SpikingLayer):
    """Adaptive LIF layer (Bellec et al. 2018 LSNN, 2020 e-prop). At every step t::

        V[t] = beta V[t-1] + W x[t] + U s[t-1] + b
        A[t] = threshold + adapt * a[t-1]                     (adaptive threshold)
        s[t] = H(V[t] - A[t])
        a[t] = rho a[t-1] + s[t]                              (spike-triggered adaptation)
        V[t] <- V[t] (1 - s[t]) + v_reset s[t]                (reset "zero")
        V[t] <- V[t] - threshold s[t]                         (reset "subtract": the baseline
                                                               threshold, as e-prop's - z v_th)

    ``beta``, ``rho`` (adaptation decay, e.g. ``exp(-dt / tau_a)``), ``adapt`` (Bellec's beta,
    the threshold increase per unit of adaptation) and ``threshold`` are per-neuron buffers.
    Gradients flow through ``a`` (exact BPTT); only the reset term is detached by default.
    NIR: a ``LIF`` node (the membrane) whose metadata ``snn_deploy_neuron`` carries
    ``model = "alif"``, ``rho`` and ``adapt``, so a chip without adaptive neurons refuses it by
    name instead of running a plain LIF.
    """

    kind = "alif"
    buffer_names = ("beta", "threshold", "rho", "adapt")
    state_names = ("v", "a", "s")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        beta=0.9,
        rho=0.98,
        adapt=1.8,
        **kwargs,
    ):
        super().__init__(in_features, out_features, **kwargs)
        self.register_buffer("beta", per_neuron(beta, self.out_features, "beta"))
        self.register_buffer("rho", per_neuron(rho, self.out_features, "rho"))
        self.register_buffer("adapt", per_neuron(adapt, self.out_features, "adapt"))

    @classmethod
    def placeholders(cls) -> dict:
        return {"beta": 0.0, "rho": 0.0, "adapt": 0.0}

    def bias_in_neuron(self) -> bool:
        return True

    def _run(self, x, state, record):
        self._check_input(x)
        state = state if state is not None else self.init_state(x.shape[1], x)
        drive = self.project(x)
        v, a, s = state["v"], state["a"], state["s"]
        spikes, currents, voltages, adaptation = [], [], [], []
        for d in drive.unbind(0):
            c = self._recurrent_input(d, s)
            v = self.beta * v + c
            s = self._spike(v - (self.threshold + self.adapt * a))
            if record:
                currents.append(c)
                voltages.append(v)
                adaptation.append(a)
            a = self.rho * a + s
            v = self._reset(v, s, self.threshold)
            spikes.append(s)
        spikes = torch.stack(spikes)
        tr = _stacked_trace(spikes, currents, voltages, adaptation) if record else None
        return spikes, {"v": v, "a": a, "s": s}, tr

    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        beta = _f64(self.beta)
        _check_decay(name, "beta", beta)
        n = self.out_features
        tau = dt / (1.0 - beta)
        meta = {
            "model": "alif",
            "rho": _f64(self.rho),
            "adapt": _f64(self.adapt),
            "equations": "a[t] = rho a[t-1] + s[t]; spike if V[t] > v_threshold + adapt a[t-1]",
        }
        return nir.LIF(
            tau=tau,
            r=tau / dt,
            v_leak=_f64(self.bias, n) / (1.0 - beta),
            v_threshold=_f64(self.threshold),
            v_reset=np.full(n, self.v_reset),
            metadata={NEURON_METADATA_KEY: meta},
        )


def _init_gate_bias(bias: torch.Tensor, value, what: str) -> None:
    """Fill a gate bias with ``value`` (a number) or draw it uniformly in ``(low, high)``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not np.isfinite(value):
            raise ModelError(f"{what} must be finite, got {value}")
        with torch.no_grad():
            bias.fill_(float(value))
        return
    try:
        if isinstance(value, str | bytes):
            raise TypeError
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ModelError(f"{what} must be a number or a pair (low, high), got {value!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ModelError(f"{what} needs finite low <= high, got ({low}, {high})")
    with torch.no_grad():
        bias.uniform_(low, high)


class LTC(SpikingLayer):
    """Liquid-time-constant spiking neuron of FPTT (Yin, Corradi & Bohte 2023; the
    ``byin-cwi/sFPTT`` code, training.md section 1.3). At every step t::

        I[t]     = W x[t] + U s[t-1] + b
        tau_m[t] = sigmoid(W_m [I[t], u[t-1]] + b_m)           (learned, in (0, 1))
        tau_a[t] = sigmoid(W_a [I[t], h[t-1]] + b_a)           (learned, in (0, 1))
        h[t]     = tau_a[t] h[t-1] + (1 - tau_a[t]) s[t-1]     (adaptation)
        theta[t] = threshold + adapt h[t]                      (0.1 + 1.8 h with the defaults)
        u[t]     = (1 - tau_m[t]) u[t-1] + tau_m[t] I[t]
        s[t]     = H(u[t] - theta[t])
        u[t]    <- u[t] (1 - s[t]) + v_reset s[t]   or   u[t] - threshold s[t]

    ``W_m``, ``W_a`` (``tau_m``, ``tau_adp``: ``Linear(2 out, out)``) are learned with the
    weights; ``threshold`` (b0 = 0.1) and ``adapt`` (1.8) are per-neuron buffers.

    Initialisation: ``W_m``, ``W_a`` Xavier-normal; the gate biases ``b_m``, ``b_a`` set the
    rest values of the gates and so each neuron's time constants at rest, ``1 / tau_m`` steps
    for the membrane and ``1 / (1 - tau_a)`` for the adaptation. ``tau_m_bias`` and
    ``tau_adp_bias`` are a number (every neuron alike; 0, sFPTT's zeros, the default: both
    time constants 2 steps) or a pair ``(low, high)``: biases drawn uniformly in that range
    (from torch's global generator), a spread of time constants. ``tau_m_bias=(-4, 0)`` gives
    membrane time constants ``1 + exp(-b_m)`` from 2 to 56 steps (``ln(tau - 1)`` uniform) and
    ``tau_adp_bias=(0, 4)`` adaptation time constants over the same range, a spread that
    covers a 64-step sequence (the sequential-digits recipe; docs/training.md). The sFPTT code's
    per-step batch normalisation of I and the learnable slope of the tau_m sigmoid are left out
    (the slope is redundant with W_m, and per-step statistics cannot run on a chip).
    NIR: a ``LIF`` node with the gate at rest (``tau_m = sigmoid(b_m)``, so ``tau = dt / tau_m``,
    ``r = 1``) and metadata ``snn_deploy_neuron`` with ``model = "ltc"`` and every gate
    parameter; chips without this neuron refuse it by name.
    """

    kind = "ltc"
    buffer_names = ("threshold", "adapt")
    state_names = ("v", "a", "s")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        threshold=0.1,
        adapt=1.8,
        tau_m_bias: float | tuple[float, float] = 0.0,
        tau_adp_bias: float | tuple[float, float] = 0.0,
        **kwargs,
    ):
        super().__init__(in_features, out_features, threshold=threshold, **kwargs)
        self.register_buffer("adapt", per_neuron(adapt, self.out_features, "adapt"))
        n = self.out_features
        self.tau_m = nn.Linear(2 * n, n)
        self.tau_adp = nn.Linear(2 * n, n)
        nn.init.xavier_normal_(self.tau_m.weight)
        nn.init.xavier_normal_(self.tau_adp.weight)
        _init_gate_bias(self.tau_m.bias, tau_m_bias, "tau_m_bias")
        _init_gate_bias(self.tau_adp.bias, tau_adp_bias, "tau_adp_bias")

    @classmethod
    def placeholders(cls) -> dict:
        return {"adapt": 0.0}

    def _run(self, x, state, record):
        self._check_input(x)
        state = state if state is not None else self.init_state(x.shape[1], x)
        drive = self.project(x)
        u, h, s = state["v"], state["a"], state["s"]
        spikes, currents, voltages, adaptation = [], [], [], []
        for d in drive.unbind(0):
            c = self._recurrent_input(d, s)
            tau_m = torch.sigmoid(self.tau_m(torch.cat((c, u), dim=-1)))
            tau_a = torch.sigmoid(self.tau_adp(torch.cat((c, h), dim=-1)))
            h = tau_a * h + (1.0 - tau_a) * s
            u = (1.0 - tau_m) * u + tau_m * c
            s = self._spike(u - (self.threshold + self.adapt * h))
            if record:
                currents.append(c)
                voltages.append(u)
                adaptation.append(h)
            u = self._reset(u, s, self.threshold)
            spikes.append(s)
        spikes = torch.stack(spikes)
        tr = _stacked_trace(spikes, currents, voltages, adaptation) if record else None
        return spikes, {"v": u, "a": h, "s": s}, tr

    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        n = self.out_features
        rest = 1.0 / (1.0 + np.exp(-_f64(self.tau_m.bias)))
        meta = {
            "model": "ltc",
            "tau_m_weight": _f64(self.tau_m.weight),
            "tau_m_bias": _f64(self.tau_m.bias),
            "tau_adp_weight": _f64(self.tau_adp.weight),
            "tau_adp_bias": _f64(self.tau_adp.bias),
            "adapt": _f64(self.adapt),
            "equations": (
                "tau_m = sigmoid(tau_m_weight [I, u] + tau_m_bias); "
                "tau_a = sigmoid(tau_adp_weight [I, h] + tau_adp_bias); "
                "h = tau_a h + (1 - tau_a) s[t-1]; u = (1 - tau_m) u + tau_m I; "
                "spike if u > v_threshold + adapt h"
            ),
        }
        return nir.LIF(
            tau=dt / rest,
            r=np.ones(n),
            v_leak=np.zeros(n),
            v_threshold=_f64(self.threshold),
            v_reset=np.full(n, self.v_reset),
            metadata={NEURON_METADATA_KEY: meta},
        )


class LI(SpikingLayer):
    """Non-spiking leaky integrator readout (NIR ``LI``, or ``CubaLI`` with ``alpha``)::

        I[t] = alpha I[t-1] + W x[t]                          (I[t] = W x[t] when alpha = 0)
        V[t] = beta V[t-1] + I[t] + b

    The output is the membrane ``V`` ``[T, B, out]``, e.g. for a cross-entropy on the last or the
    maximum value over time (:mod:`snn_deploy.train.losses`). ``alpha`` and ``beta`` are
    per-neuron buffers. No threshold, no reset, no recurrence.
    """

    kind = "li"
    spiking = False
    has_kernel = True
    bias_on_voltage = True
    buffer_names = ("alpha", "beta")
    state_names = ("i", "v")

    def __init__(self, in_features: int, out_features: int, *, beta=0.9, alpha=0.0, **kwargs):
        super().__init__(in_features, out_features, **kwargs)
        self.register_buffer("alpha", per_neuron(alpha, self.out_features, "alpha"))
        self.register_buffer("beta", per_neuron(beta, self.out_features, "beta"))

    @classmethod
    def placeholders(cls) -> dict:
        return {"alpha": 0.0, "beta": 0.0}

    def config(self) -> dict:
        return {
            "type": self.kind,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
        }

    def _run(self, x, state, record):
        self._check_input(x)
        state = state if state is not None else self.init_state(x.shape[1], x)
        drive = self.project(x)
        alpha = self.alpha
        if not alpha.requires_grad and not bool(alpha.any()):
            alpha = None
        if self._use_kernel(state):
            v_seq, (i, v) = leaky_integrator_sequence(
                drive, alpha=alpha, beta=self.beta, bias=self.bias, state=(state["i"], state["v"])
            )
            currents = None
            if record:
                currents = drive if alpha is None else self._currents(drive, state["i"])
        else:
            i, v = state["i"], state["v"]
            outs, cur = [], []
            for d in drive.unbind(0):
                c = d
                if alpha is not None:
                    i = alpha * i + d
                    c = i
                v = self.beta * v + c
                if self.bias is not None:
                    v = v + self.bias
                outs.append(v)
                cur.append(c)
            v_seq = torch.stack(outs)
            currents = torch.stack(cur) if record else None
            if alpha is None:
                i = torch.zeros_like(v)
        tr = None
        if record:
            tr = LayerTrace(spikes=torch.zeros_like(v_seq), current=currents, voltage=v_seq)
        return v_seq, {"i": i, "v": v}, tr

    def _currents(self, drive, i):
        out = []
        for d in drive.unbind(0):
            i = self.alpha * i + d
            out.append(i)
        return torch.stack(out)

    def nir_neuron(self, name: str, dt: float) -> nir.NIRNode:
        """``nir.LI`` (``tau = dt / (1 - beta)``, ``r = tau / dt``, ``v_leak = b / (1 - beta)``)
        or, with a synaptic current, ``nir.CubaLI`` (plus ``tau_syn``, ``w_in`` as CubaLIF)."""
        alpha, beta = _f64(self.alpha), _f64(self.beta)
        _check_decay(name, "beta", beta)
        n = self.out_features
        tau_mem = dt / (1.0 - beta)
        v_leak = _f64(self.bias, n) / (1.0 - beta)
        if not alpha.any():
            return nir.LI(tau=tau_mem, r=tau_mem / dt, v_leak=v_leak)
        _check_decay(name, "alpha", alpha)
        tau_syn = dt / (1.0 - alpha)
        return nir.CubaLI(
            tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=v_leak, w_in=tau_syn / dt
        )

    def bias_in_neuron(self) -> bool:
        return True


LAYER_TYPES: dict[str, type[SpikingLayer]] = {
    cls.kind: cls for cls in (LIF, CubaLIF, IF, ALIF, LTC, LI)
}
