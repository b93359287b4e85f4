"""``SpikingMLP``: a stack of CubaLIF layers, its checkpoint format and its NIR export.

Layers are named (default ``"hidden"``, ``"hidden2"``, ..., last ``"output"``); the names carry
through the checkpoint, the NIR graph and calibration, so a report can say "layer 'hidden'".
The readout is the output layer's spike count per class; the prediction is its ``argmax`` (ties
go to the lowest class index).

Checkpoint format, version 1: a plain dict saved with ``torch.save`` that loads with
``torch.load(path, weights_only=True)`` (only dicts, lists, str, int, float, bool, tensors)::

    {
      "format": "snn-deploy/checkpoint", "version": 1,
      "model": {"kind": "spiking_mlp", "input_name": "input",
                "layers": [{"name": "hidden", "in_features": 64, "out_features": 128,
                            "reset": "zero", "bias": False}, ...]},
      "state_dict": {"layers.{i}.fc.weight": (out, in), "layers.{i}.alpha": (out,),
                     "layers.{i}.beta": (out,), "layers.{i}.threshold": (out,),
                     "layers.{i}.bias": (out,)  (only where the layer has "bias": True)},
      "contract": DiscretizationContract(...).to_metadata(),
      "data": EncodingSpec(...).to_dict(),      # how inputs were encoded; {} if unknown
      "calibration": {layer: {"max_abs_current": float, "max_abs_voltage": float}},
      "training": {"algorithm": "bptt", "epochs": ..., "seed": ..., "lr": ..., ...},
    }

Exactly these top-level keys; :meth:`SpikingMLP.from_checkpoint` refuses anything else with a
one-line :class:`~snn_deploy.errors.ModelError` that names the problem and the fix.

NIR export (:meth:`SpikingMLP.to_nir`): ``Input "input" -> Linear "{L}_w" -> CubaLIF "{L}" ->
... -> Output``, with the discretization contract in ``graph.metadata[METADATA_KEY]``. The
CubaLIF parameters follow snnTorch's ``Synaptic`` export (forward Euler at step ``dt``)::

    tau_syn = dt / (1 - alpha)      w_in = tau_syn / dt
    tau_mem = dt / (1 - beta)       r    = tau_mem / dt
    v_leak  = bias / (1 - beta)     v_threshold = threshold      v_reset = 0

so that Euler steps ``tau_syn dI/dt = -I + w_in S`` and ``tau_mem dV/dt = v_leak - V + r I``
give back exactly ``I <- alpha I + W s`` and ``V <- beta V + I + bias``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nir
import numpy as np
import torch
from torch import nn

from snn_deploy.data.digits import EncodingSpec
from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import METADATA_KEY, RESETS, DiscretizationContract
from snn_deploy.train.neurons import CubaLIF, LayerTrace, NetworkRun
from snn_deploy.train.surrogate import DEFAULT_SCALE, DEFAULT_SURROGATE

FORMAT = "snn-deploy/checkpoint"
FORMAT_VERSION = 1
MODEL_KIND = "spiking_mlp"
CHECKPOINT_KEYS = (
    "format",
    "version",
    "model",
    "state_dict",
    "contract",
    "data",
    "calibration",
    "training",
)
MODEL_KEYS = ("kind", "input_name", "layers")
LAYER_KEYS = ("name", "in_features", "out_features", "reset", "bias")
DEFAULT_DT_SECONDS = 1e-3
NIR_OUTPUT_NODE = "output"
# The default last layer is itself called "output"; NIR node names share one namespace.
NIR_OUTPUT_NODE_FALLBACK = "output_port"

ErrorFactory = Callable[[str], ModelError]


@dataclass(frozen=True)
class LayerSpec:
    """One CubaLIF layer of a :class:`SpikingMLP`; ``alpha``, ``beta``, ``threshold`` are a
    scalar or one value per output neuron."""

    name: str
    in_features: int
    out_features: int
    alpha: float | tuple[float, ...]
    beta: float | tuple[float, ...]
    threshold: float | tuple[float, ...] = 1.0
    reset: str = "zero"
    bias: bool = False


def default_layer_names(num_layers: int) -> list[str]:
    """``["hidden", "hidden2", ..., "output"]`` for ``num_layers`` layers."""
    hidden = ["hidden" if k == 1 else f"hidden{k}" for k in range(1, num_layers)]
    return [*hidden, "output"]


class LayerStack(nn.Module):
    """What :class:`SpikingMLP` and :class:`~snn_deploy.train.network.SpikingNetwork` share: a
    named stack of layers on time-major input, chunked running, calibration, the contract check
    and the checkpoint envelope. Subclasses define ``trace``, ``default_contract``,
    ``_expected_contract`` and ``_model_entry``."""

    input_name: str
    names: tuple[str, ...]
    layers: nn.ModuleList

    @property
    def num_inputs(self) -> int:
        return self.layers[0].in_features

    @property
    def num_outputs(self) -> int:
        return self.layers[-1].out_features

    def _as_input(self, x) -> torch.Tensor:
        x = torch.as_tensor(x)
        dtype = self.layers[0].fc.weight.dtype
        return x if x.dtype == dtype else x.to(dtype)

    def run(self, x, state: list | None = None) -> NetworkRun:
        """Run from ``state`` (one per layer, as returned; zero if None) over ``x``
        ``[T, B, n_in]``; for chunked training (TBPTT, FPTT)."""
        x = self._as_input(x)
        states = state if state is not None else [None] * len(self.layers)
        new, outs = [], {}
        for name, layer, st in zip(self.names, self.layers, states, strict=True):
            x, st = layer.run(x, st)
            new.append(st)
            outs[name] = x
        return NetworkRun(output=x, state=new, layers=outs)

    @torch.no_grad()
    def calibrate(self, x, batch_size: int = 256) -> dict[str, dict[str, float]]:
        """Max ``|I|`` and max ``|V|`` (V before reset) per layer over data ``x`` ``[T, B, in]``;
        the quantizer picks each population's integer scale from these ranges."""
        x = self._as_input(x)
        stats = {n: {"max_abs_current": 0.0, "max_abs_voltage": 0.0} for n in self.names}
        for start in range(0, x.shape[1], batch_size):
            for name, tr in self.trace(x[:, start : start + batch_size]).items():
                s = stats[name]
                s["max_abs_current"] = max(s["max_abs_current"], float(tr.current.abs().max()))
                s["max_abs_voltage"] = max(s["max_abs_voltage"], float(tr.voltage.abs().max()))
        return stats

    def _expected_contract(self) -> dict:
        raise NotImplementedError

    def _model_entry(self) -> dict:
        raise NotImplementedError

    def check_contract(self, contract: DiscretizationContract) -> None:
        """Raise ModelError unless ``contract`` describes how this model computes."""
        for field, value in self._expected_contract().items():
            if getattr(contract, field) != value:
                raise ModelError(
                    f"discretization contract has {field}={getattr(contract, field)!r} but "
                    f"{type(self).__name__} computes with {field}={value!r}; pass a contract "
                    f"with {field}={value!r} (or none, to use model.default_contract())"
                )

    def to_checkpoint(
        self,
        *,
        contract: DiscretizationContract | None = None,
        data: EncodingSpec | dict | None = None,
        calibration: dict | None = None,
        training: dict | None = None,
    ) -> dict:
        """The checkpoint dict (module docstring); save it with ``torch.save``."""
        contract = contract or self.default_contract()
        self.check_contract(contract)
        if isinstance(data, EncodingSpec):
            data = data.to_dict()
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self._model_entry(),
            "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
            "contract": contract.to_metadata(),
            "data": dict(data or {}),
            "calibration": {k: dict(v) for k, v in (calibration or {}).items()},
            "training": dict(training or {}),
        }


class SpikingMLP(LayerStack):
    """Feed-forward stack of :class:`CubaLIF` layers on time-major spikes ``[T, B, in]``.

    ``surrogate``, ``surrogate_scale`` and ``detach_reset`` apply to every layer (see
    :class:`CubaLIF`); they shape training only and are not part of the checkpoint's model.
    """

    def __init__(
        self,
        layers: Sequence[LayerSpec],
        *,
        input_name: str = "input",
        surrogate: str = DEFAULT_SURROGATE,
        surrogate_scale: float = DEFAULT_SCALE,
        detach_reset: bool = True,
    ):
        super().__init__()
        layers = list(layers)
        _check_structure(input_name, layers)
        self.input_name = input_name
        self.names = tuple(spec.name for spec in layers)
        self.layers = nn.ModuleList(
            CubaLIF(
                spec.in_features,
                spec.out_features,
                alpha=spec.alpha,
                beta=spec.beta,
                threshold=spec.threshold,
                reset=spec.reset,
                bias=spec.bias,
                surrogate=surrogate,
                surrogate_scale=surrogate_scale,
                detach_reset=detach_reset,
            )
            for spec in layers
        )

    @classmethod
    def from_sizes(
        cls,
        sizes: Sequence[int],
        *,
        alpha: float,
        beta: float,
        threshold: float = 1.0,
        reset: str = "zero",
        bias: bool = False,
        names: Sequence[str] | None = None,
        **kwargs,
    ) -> SpikingMLP:
        """Layers ``sizes[0] -> sizes[1] -> ...`` sharing one set of neuron parameters."""
        if len(sizes) < 2:
            raise ModelError(f"need at least an input and an output size, got {list(sizes)}")
        names = list(names) if names is not None else default_layer_names(len(sizes) - 1)
        if len(names) != len(sizes) - 1:
            raise ModelError(f"{len(sizes) - 1} layers but {len(names)} names: {names}")
        specs = [
            LayerSpec(name, n_in, n_out, alpha, beta, threshold, reset, bias)
            for name, n_in, n_out in zip(names, sizes[:-1], sizes[1:], strict=True)
        ]
        return cls(specs, **kwargs)

    # ------------------------------------------------------------------ running
    def forward(self, x) -> torch.Tensor:
        """Output-layer spikes ``[T, B, n_out]`` for input spikes ``[T, B, n_in]``."""
        x = self._as_input(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def layer_spikes(self, x) -> dict[str, torch.Tensor]:
        """Every layer's spikes ``[T, B, size]``, by layer name, in order."""
        out, x = {}, self._as_input(x)
        for name, layer in zip(self.names, self.layers, strict=True):
            x = layer(x)
            out[name] = x
        return out

    def trace(self, x) -> dict[str, LayerTrace]:
        """Every layer's spikes, current and voltage (before reset), by layer name."""
        out, x = {}, self._as_input(x)
        for name, layer in zip(self.names, self.layers, strict=True):
            tr = layer.trace(x)
            out[name] = tr
            x = tr.spikes
        return out

    def counts(self, x) -> torch.Tensor:
        """Output spike counts ``[B, n_out]``: the readout."""
        return self(x).sum(dim=0)

    def predict(self, x) -> torch.Tensor:
        """Predicted class per sample: ``argmax`` of the counts (ties -> lowest index)."""
        return self.counts(x).argmax(dim=1)

    # ------------------------------------------------------------------ contract
    def reset_mode(self) -> str:
        """The reset mode shared by all layers (a contract has one)."""
        modes = {layer.reset for layer in self.layers}
        if len(modes) != 1:
            detail = ", ".join(
                f"{name}: {layer.reset}"
                for name, layer in zip(self.names, self.layers, strict=True)
            )
            raise ModelError(
                f"layers use different reset modes ({detail}); a discretization contract has "
                "one reset mode, so give every layer the same one"
            )
        return modes.pop()

    def default_contract(self, dt_seconds: float = DEFAULT_DT_SECONDS) -> DiscretizationContract:
        """The contract this model was trained under: Euler, I[t] drives V, its reset mode."""
        return DiscretizationContract(
            dt_seconds=dt_seconds,
            integrator="euler",
            reset=self.reset_mode(),
            reset_delay=False,
            current_drive="same_step",
            source="snn_deploy.train SpikingMLP: trained in discrete time with these equations",
        )

    def _expected_contract(self) -> dict:
        return {
            "integrator": "euler",
            "reset": self.reset_mode(),
            "reset_delay": False,
            "current_drive": "same_step",
        }

    # ------------------------------------------------------------------ checkpoint
    def _model_entry(self) -> dict:
        """The version-1 ``model`` entry (module docstring)."""
        return {
            "kind": MODEL_KIND,
            "input_name": self.input_name,
            "layers": [
                {
                    "name": name,
                    "in_features": layer.in_features,
                    "out_features": layer.out_features,
                    "reset": layer.reset,
                    "bias": layer.bias is not None,
                }
                for name, layer in zip(self.names, self.layers, strict=True)
            ],
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict, source: str | None = None) -> SpikingMLP:
        """Rebuild a model from a checkpoint dict, refusing malformed ones with ModelError.

        ``source`` (a file name) prefixes every error message.
        """
        where = source or "checkpoint"

        def bad(msg: str) -> ModelError:
            return ModelError(f"{where}: {msg}")

        check_envelope(ckpt, bad)

        specs, input_name = _read_model_entry(ckpt["model"], bad)
        _check_state_dict(ckpt["state_dict"], ckpt["model"]["layers"], bad)
        try:
            contract = DiscretizationContract.from_metadata(dict(ckpt["contract"]))
        except (TypeError, ValueError) as exc:
            raise bad(f"'contract' is malformed ({exc}); re-save with to_checkpoint()") from None
        except ModelError as exc:
            raise bad(exc.message) from None
        model = cls(specs, input_name=input_name)
        try:
            model.check_contract(contract)
        except ModelError as exc:
            raise bad(exc.message) from None
        model.load_state_dict(ckpt["state_dict"])
        return model

    # ------------------------------------------------------------------ NIR
    def to_nir(self, contract: DiscretizationContract | None = None) -> nir.NIRGraph:
        """NIR graph of this model, the contract in ``graph.metadata[METADATA_KEY]``.

        Parameters as in the module docstring; every array is float64. Requires
        ``0 <= alpha < 1`` and ``0 <= beta < 1`` (a decay of 1 has no finite time constant).
        """
        contract = contract or self.default_contract()
        self.check_contract(contract)
        dt = contract.dt_seconds
        nodes = {self.input_name: nir.Input(input_type=np.array([self.num_inputs]))}
        edges, prev = [], self.input_name
        for name, layer in zip(self.names, self.layers, strict=True):
            alpha = _float64(layer.alpha)
            beta = _float64(layer.beta)
            for what, decay in (("alpha", alpha), ("beta", beta)):
                outside = ~((decay >= 0) & (decay < 1))
                if outside.any():
                    first = int(np.flatnonzero(outside)[0])
                    raise ModelError(
                        f"layer '{name}': {what} must be in [0, 1) for NIR export, got "
                        f"{decay[first]:g} at neuron {first}; choose a decay below 1"
                    )
            n = layer.out_features
            bias = _float64(layer.bias) if layer.bias is not None else np.zeros(n)
            tau_syn = dt / (1.0 - alpha)
            tau_mem = dt / (1.0 - beta)
            nodes[f"{name}_w"] = nir.Linear(weight=_float64(layer.fc.weight))
            nodes[name] = nir.CubaLIF(
                tau_syn=tau_syn,
                tau_mem=tau_mem,
                r=tau_mem / dt,
                v_leak=bias / (1.0 - beta),
                v_threshold=_float64(layer.threshold),
                v_reset=np.zeros(n),
                w_in=tau_syn / dt,
            )
            edges += [(prev, f"{name}_w"), (f"{name}_w", name)]
            prev = name
        out_node = NIR_OUTPUT_NODE if NIR_OUTPUT_NODE not in nodes else NIR_OUTPUT_NODE_FALLBACK
        nodes[out_node] = nir.Output(output_type=np.array([self.num_outputs]))
        edges.append((prev, out_node))
        return nir.NIRGraph(
            nodes=nodes, edges=edges, metadata={METADATA_KEY: contract.to_metadata()}
        )


def check_envelope(ckpt, bad: ErrorFactory) -> None:
    """The checks every checkpoint kind shares: a dict with this format, version and exactly
    the top-level keys ``CHECKPOINT_KEYS``, the dict-valued ones dicts."""
    if not isinstance(ckpt, dict):
        raise bad(f"expected a dict, got {type(ckpt).__name__}; save models with to_checkpoint()")
    if "format" not in ckpt:
        raise bad("no 'format' key, not an snn-deploy checkpoint; save it with to_checkpoint()")
    if ckpt["format"] != FORMAT:
        raise bad(
            f"format is {ckpt['format']!r}, expected {FORMAT!r}; save it with to_checkpoint()"
        )
    if ckpt.get("version") != FORMAT_VERSION:
        raise bad(
            f"checkpoint version {ckpt.get('version')!r} is not supported (this snn-deploy "
            f"reads version {FORMAT_VERSION}); re-save the model with this version"
        )
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if missing:
        raise bad(f"missing key(s) {', '.join(map(repr, missing))}; re-save with to_checkpoint()")
    unknown = [k for k in ckpt if k not in CHECKPOINT_KEYS]
    if unknown:
        raise bad(
            f"unknown key(s) {', '.join(map(repr, unknown))}; a version-{FORMAT_VERSION} "
            f"checkpoint has exactly {', '.join(CHECKPOINT_KEYS)}"
        )
    for key in ("model", "state_dict", "contract", "data", "calibration", "training"):
        if not isinstance(ckpt[key], dict):
            raise bad(f"'{key}' must be a dict, got {type(ckpt[key]).__name__}")


def _float64(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()


def _check_structure(input_name: str, layers: list[LayerSpec]) -> None:
    """Names unique and usable as NIR node names; sizes chain; reset modes known."""
    if not layers:
        raise ModelError("a SpikingMLP needs at least one layer")
    if not isinstance(input_name, str) or not input_name:
        raise ModelError(f"input_name must be a non-empty string, got {input_name!r}")
    taken = {input_name: "the input", NIR_OUTPUT_NODE_FALLBACK: "the NIR output node"}
    for k, spec in enumerate(layers):
        if not isinstance(spec.name, str) or not spec.name:
            raise ModelError(f"layer {k}: name must be a non-empty string, got {spec.name!r}")
        for node in (spec.name, f"{spec.name}_w"):
            if node in taken:
                raise ModelError(
                    f"layer {k} '{spec.name}': NIR node name '{node}' is already used by "
                    f"{taken[node]}; rename the layer"
                )
            taken[node] = f"layer '{spec.name}'"
        if spec.reset not in RESETS:
            raise ModelError(
                f"layer '{spec.name}': unknown reset mode {spec.reset!r}; use one of "
                f"{', '.join(RESETS)}"
            )
        if k and spec.in_features != layers[k - 1].out_features:
            raise ModelError(
                f"layer '{spec.name}' takes {spec.in_features} inputs but layer "
                f"'{layers[k - 1].name}' gives {layers[k - 1].out_features}; in_features must "
                "equal the previous layer's out_features"
            )


def _read_model_entry(model: dict, bad: ErrorFactory) -> tuple[list[LayerSpec], str]:
    """Layer specs (with placeholder decays, overwritten by the state dict) from ``"model"``."""
    missing = [k for k in MODEL_KEYS if k not in model]
    if missing:
        raise bad(f"'model' has no {', '.join(map(repr, missing))}; re-save with to_checkpoint()")
    if model["kind"] != MODEL_KIND:
        raise bad(f"model kind {model['kind']!r} is not supported (only {MODEL_KIND!r})")
    layers = model["layers"]
    if not isinstance(layers, list) or not layers:
        raise bad("'model.layers' must be a non-empty list of layer entries")
    specs = []
    for k, entry in enumerate(layers):
        if not isinstance(entry, dict):
            raise bad(f"model.layers[{k}] must be a dict, got {type(entry).__name__}")
        missing = [f for f in LAYER_KEYS if f not in entry]
        if missing:
            raise bad(f"model.layers[{k}] has no {', '.join(map(repr, missing))}")
        unknown = [f for f in entry if f not in LAYER_KEYS]
        if unknown:
            raise bad(
                f"model.layers[{k}] has unknown field(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(LAYER_KEYS)}"
            )
        for f in ("in_features", "out_features"):
            v = entry[f]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(f"model.layers[{k}].{f} must be a positive integer, got {v!r}")
        if not isinstance(entry["bias"], bool):
            raise bad(f"model.layers[{k}].bias must be true or false, got {entry['bias']!r}")
        if entry["reset"] not in RESETS:
            raise bad(
                f"layer '{entry['name']}': unknown reset mode {entry['reset']!r}; use one of "
                f"{', '.join(RESETS)}"
            )
        specs.append(
            LayerSpec(
                name=entry["name"],
                in_features=entry["in_features"],
                out_features=entry["out_features"],
                alpha=0.0,
                beta=0.0,
                reset=entry["reset"],
                bias=entry["bias"],
            )
        )
    try:
        _check_structure(model["input_name"], specs)
    except ModelError as exc:
        raise bad(exc.message) from None
    return specs, model["input_name"]


def _check_state_dict(state: dict, layers: list[dict], bad: ErrorFactory) -> None:
    """Every expected tensor present, finite and of the shape its layer spec implies."""
    expected = {}
    for k, entry in enumerate(layers):
        n_in, n_out = entry["in_features"], entry["out_features"]
        expected[f"layers.{k}.fc.weight"] = (entry["name"], (n_out, n_in))
        for buf in ("alpha", "beta", "threshold"):
            expected[f"layers.{k}.{buf}"] = (entry["name"], (n_out,))
        if entry["bias"]:
            expected[f"layers.{k}.bias"] = (entry["name"], (n_out,))
    check_state_tensors(
        state,
        {
            key: (
                shape,
                f"layer '{layer}' needs {shape}; the weights do not match the layer spec in "
                "'model.layers'",
            )
            for key, (layer, shape) in expected.items()
        },
        bad,
        unexpected_hint="layer specs do not use; check each layer's 'bias' flag",
    )


def check_state_tensors(state: dict, expected: dict, bad: ErrorFactory, unexpected_hint: str):
    """Exactly the tensors of ``expected`` (key -> (shape, what needs that shape)), each a
    floating-point tensor, finite and of its shape; else ``bad(message)`` is raised."""
    missing = [k for k in expected if k not in state]
    if missing:
        raise bad(f"state_dict has no tensor {', '.join(map(repr, missing))}; re-save the model")
    unknown = [k for k in state if k not in expected]
    if unknown:
        raise bad(
            f"state_dict has unexpected tensor(s) {', '.join(map(repr, unknown))} that the "
            + unexpected_hint
        )
    for key, (shape, needs) in expected.items():
        t = state[key]
        if not isinstance(t, torch.Tensor):
            raise bad(f"state_dict entry '{key}' is a {type(t).__name__}, not a tensor")
        if not t.is_floating_point():
            raise bad(f"tensor '{key}' has dtype {t.dtype}, expected a floating-point tensor")
        n_nan = int(torch.isnan(t).sum())
        if n_nan:
            raise bad(f"tensor '{key}' has {n_nan} NaN value(s); retrain or fix the checkpoint")
        n_inf = int(torch.isinf(t).sum())
        if n_inf:
            raise bad(
                f"tensor '{key}' has {n_inf} infinite value(s); retrain or fix the checkpoint"
            )
        if tuple(t.shape) != shape:
            raise bad(f"tensor '{key}' has shape {tuple(t.shape)} but {needs}")
