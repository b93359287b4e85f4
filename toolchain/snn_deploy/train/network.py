"""``SpikingNetwork``: a stack of any neuron layers, its checkpoint kind and its NIR export.

Layers are those of :mod:`snn_deploy.train.neurons` (``lif``, ``cuba_lif``, ``if``, ``alif``,
``ltc``, ``li``), each optionally recurrent; the last one may be a non-spiking :class:`LI`
readout. Tensors are time-major ``[T, B, features]``.

Checkpoint (``model.kind == "spiking_network"``): the envelope of
:mod:`snn_deploy.train.models` (format ``snn-deploy/checkpoint``, version 1, exactly the keys
``format, version, model, state_dict, contract, data, calibration, training``), with::

    "model": {"kind": "spiking_network", "input_name": "input",
              "layers": [{"name": "hidden", "type": "lif", "in_features": 64,
                          "out_features": 128, "bias": False, "reset": "zero",
                          "v_reset": 0.0, "recurrent": True},          # spiking layers
                         {"name": "output", "type": "li", "in_features": 128,
                          "out_features": 10, "bias": True}]},         # readout: no reset
    "state_dict": {"layers.{k}.fc.weight": (out, in), "layers.{k}.rec.weight": (out, out),
                   "layers.{k}.bias": (out,), and the layer type's buffers, each (out,):
                   lif: beta, threshold; cuba_lif: alpha, beta, threshold; if: threshold;
                   alif: beta, threshold, rho, adapt; ltc: threshold, adapt and the gates
                   tau_m.weight (out, 2 out), tau_m.bias, tau_adp.weight, tau_adp.bias;
                   li: alpha, beta}

Every entry is validated on load with a one-line :class:`~snn_deploy.errors.ModelError`
(unknown or missing fields, types, sizes that do not chain, tensors missing, extra, of the wrong
shape or non-finite). Files load with ``torch.load(path, weights_only=True)``.

NIR (:meth:`SpikingNetwork.to_nir`): ``Input -> {L}_w -> {L} [-> {L}_rec -> {L}] -> ... ->
Output``, the discretization contract (Euler, the model's reset, ``recurrent_delay_steps = 1``)
in ``graph.metadata``; parameters per layer type in each layer's ``nir_neuron`` docstring.

:data:`MODEL_KINDS` maps ``model.kind`` to the class that reads it; the frontend dispatches
through :func:`model_from_checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import nir
import numpy as np
import torch
from torch import nn

from snn_deploy.errors import ModelError
from snn_deploy.ir.contract import METADATA_KEY, RESETS, DiscretizationContract
from snn_deploy.train.models import (
    DEFAULT_DT_SECONDS,
    NIR_OUTPUT_NODE,
    NIR_OUTPUT_NODE_FALLBACK,
    LayerStack,
    SpikingMLP,
    check_envelope,
    check_state_tensors,
    default_layer_names,
)
from snn_deploy.train.neurons import LAYER_TYPES, LayerTrace, SpikingLayer

MODEL_KIND = "spiking_network"
MODEL_KEYS = ("kind", "input_name", "layers")
COMMON_LAYER_KEYS = ("name", "type", "in_features", "out_features", "bias")
SPIKING_LAYER_KEYS = ("reset", "v_reset", "recurrent")


class SpikingNetwork(LayerStack):
    """Feed-forward stack of neuron layers (each may be recurrent) on ``[T, B, in]``.

    ``layers`` is a sequence of layers (named ``hidden``, ``hidden2``, ..., ``output`` unless
    ``names`` is given) or a mapping from name to layer. Surrogate, impl and reset-gradient
    settings belong to each layer and are not saved in checkpoints (pass them to
    :meth:`from_checkpoint` to train further).
    """

    def __init__(
        self,
        layers: Sequence[SpikingLayer] | Mapping[str, SpikingLayer],
        *,
        names: Sequence[str] | None = None,
        input_name: str = "input",
    ):
        super().__init__()
        if isinstance(layers, Mapping):
            if names is not None:
                raise ModelError("give layer names either as mapping keys or as names, not both")
            names, layers = list(layers.keys()), list(layers.values())
        layers = list(layers)
        names = list(names) if names is not None else default_layer_names(len(layers))
        if len(names) != len(layers):
            raise ModelError(f"{len(layers)} layers but {len(names)} names: {names}")
        _check_structure(input_name, names, layers)
        self.input_name = input_name
        self.names = tuple(names)
        self.layers = nn.ModuleList(layers)

    # ------------------------------------------------------------------ running
    @property
    def spiking_output(self) -> bool:
        """True when the last layer spikes; False for a non-spiking (LI) readout."""
        return self.layers[-1].spiking

    def forward(self, x) -> torch.Tensor:
        """Last layer's output ``[T, B, n_out]`` (spikes, or a readout's voltage)."""
        return self.run(x).output

    def layer_outputs(self, x) -> dict[str, torch.Tensor]:
        """Every layer's output ``[T, B, size]``, by layer name, in order."""
        return self.run(x).layers

    def trace(self, x) -> dict[str, LayerTrace]:
        """Every layer's spikes, current and voltage (before reset), by layer name."""
        out, x = {}, self._as_input(x)
        for name, layer in zip(self.names, self.layers, strict=True):
            tr = layer.trace(x)
            out[name] = tr
            x = tr.spikes if layer.spiking else tr.voltage
        return out

    # ------------------------------------------------------------------ contract
    def reset_mode(self) -> str:
        """The reset mode shared by the spiking layers (a contract has one)."""
        spiking = [(n, layer) for n, layer in zip(self.names, self.layers, strict=True)]
        spiking = [(n, layer) for n, layer in spiking if layer.spiking]
        modes = {layer.reset for _, layer in spiking}
        if len(modes) > 1:
            detail = ", ".join(f"{name}: {layer.reset}" for name, layer in spiking)
            raise ModelError(
                f"layers use different reset modes ({detail}); a discretization contract has "
                "one reset mode, so give every layer the same one"
            )
        return modes.pop() if modes else "zero"

    def default_contract(self, dt_seconds: float = DEFAULT_DT_SECONDS) -> DiscretizationContract:
        """Euler, I[t] drives V, no reset delay, one-step recurrent delay, the model's reset."""
        return DiscretizationContract(
            dt_seconds=dt_seconds,
            integrator="euler",
            reset=self.reset_mode(),
            reset_delay=False,
            current_drive="same_step",
            recurrent_delay_steps=1,
            source="snn_deploy.train SpikingNetwork: trained in discrete time with these equations",
        )

    def _expected_contract(self) -> dict:
        return {
            "integrator": "euler",
            "reset": self.reset_mode(),
            "reset_delay": False,
            "subtract_recheck": False,
            "current_drive": "same_step",
            "recurrent_delay_steps": 1,
        }

    # ------------------------------------------------------------------ checkpoint
    def _model_entry(self) -> dict:
        return {
            "kind": MODEL_KIND,
            "input_name": self.input_name,
            "layers": [
                {"name": name, **layer.config()}
                for name, layer in zip(self.names, self.layers, strict=True)
            ],
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict, source: str | None = None, **training) -> SpikingNetwork:
        """Rebuild a model from a checkpoint dict, refusing malformed ones with ModelError.

        ``source`` (a file name) prefixes every error message; ``training`` (surrogate,
        surrogate_scale, detach_reset, impl) is passed to every spiking layer."""
        where = source or "checkpoint"

        def bad(msg: str) -> ModelError:
            return ModelError(f"{where}: {msg}")

        check_envelope(ckpt, bad)
        model = _model_from_entry(ckpt["model"], bad, training)
        _check_state_dict(ckpt["state_dict"], model, bad)
        try:
            contract = DiscretizationContract.from_metadata(dict(ckpt["contract"]))
            model.check_contract(contract)
        except (TypeError, ValueError) as exc:
            raise bad(f"'contract' is malformed ({exc}); re-save with to_checkpoint()") from None
        except ModelError as exc:
            raise bad(exc.message) from None
        model.load_state_dict(ckpt["state_dict"])
        return model

    # ------------------------------------------------------------------ NIR
    def to_nir(self, contract: DiscretizationContract | None = None) -> nir.NIRGraph:
        """NIR graph of this model, the contract in ``graph.metadata[METADATA_KEY]``.

        Every array is float64. Decays must lie in ``[0, 1)`` (a decay of 1 has no finite time
        constant); ALIF and LTC neurons carry their extra parameters in node metadata."""
        contract = contract or self.default_contract()
        self.check_contract(contract)
        dt = contract.dt_seconds
        nodes = {self.input_name: nir.Input(input_type=np.array([self.num_inputs]))}
        edges, prev = [], self.input_name
        for name, layer in zip(self.names, self.layers, strict=True):
            layer_nodes, layer_edges, entry = layer.nir_nodes(name, dt)
            nodes.update(layer_nodes)
            edges += [(prev, entry), *layer_edges]
            prev = name
        out_node = NIR_OUTPUT_NODE if NIR_OUTPUT_NODE not in nodes else NIR_OUTPUT_NODE_FALLBACK
        nodes[out_node] = nir.Output(output_type=np.array([self.num_outputs]))
        edges.append((prev, out_node))
        return nir.NIRGraph(
            nodes=nodes, edges=edges, metadata={METADATA_KEY: contract.to_metadata()}
        )


def _check_structure(input_name: str, names: list, layers: list) -> None:
    """Names unique and usable as NIR node names; sizes chain; only the last layer may be a
    non-spiking readout."""
    if not layers:
        raise ModelError("a SpikingNetwork needs at least one layer")
    if not isinstance(input_name, str) or not input_name:
        raise ModelError(f"input_name must be a non-empty string, got {input_name!r}")
    taken = {input_name: "the input", NIR_OUTPUT_NODE_FALLBACK: "the NIR output node"}
    for k, (name, layer) in enumerate(zip(names, layers, strict=True)):
        if not isinstance(layer, SpikingLayer):
            raise ModelError(
                f"layer {k}: {type(layer).__name__} is not a snn_deploy.train.neurons layer"
            )
        if not isinstance(name, str) or not name:
            raise ModelError(f"layer {k}: name must be a non-empty string, got {name!r}")
        for node in (name, f"{name}_w", f"{name}_rec"):
            if node in taken:
                raise ModelError(
                    f"layer {k} '{name}': NIR node name '{node}' is already used by "
                    f"{taken[node]}; rename the layer"
                )
            taken[node] = f"layer '{name}'"
        if k and layer.in_features != layers[k - 1].out_features:
            raise ModelError(
                f"layer '{name}' takes {layer.in_features} inputs but layer "
                f"'{names[k - 1]}' gives {layers[k - 1].out_features}; in_features must "
                "equal the previous layer's out_features"
            )
        if not layer.spiking and k != len(layers) - 1:
            raise ModelError(
                f"layer '{name}' ({layer.kind}) does not spike; a non-spiking readout must be "
                "the last layer"
            )


def _model_from_entry(model: dict, bad, training: dict) -> SpikingNetwork:
    missing = [k for k in MODEL_KEYS if k not in model]
    if missing:
        raise bad(f"'model' has no {', '.join(map(repr, missing))}; re-save with to_checkpoint()")
    unknown = [k for k in model if k not in MODEL_KEYS]
    if unknown:
        raise bad(f"'model' has unknown key(s) {', '.join(map(repr, unknown))}")
    if model["kind"] != MODEL_KIND:
        raise bad(f"model kind {model['kind']!r} is not {MODEL_KIND!r}")
    entries = model["layers"]
    if not isinstance(entries, list) or not entries:
        raise bad("'model.layers' must be a non-empty list of layer entries")
    names, layers = [], []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise bad(f"model.layers[{k}] must be a dict, got {type(entry).__name__}")
        kind = entry.get("type")
        if kind not in LAYER_TYPES:
            raise bad(
                f"model.layers[{k}].type {kind!r} is not a known neuron layer; known: "
                f"{', '.join(LAYER_TYPES)}"
            )
        cls = LAYER_TYPES[kind]
        keys = COMMON_LAYER_KEYS + (SPIKING_LAYER_KEYS if cls.spiking else ())
        missing = [f for f in keys if f not in entry]
        if missing:
            raise bad(f"model.layers[{k}] ({kind}) has no {', '.join(map(repr, missing))}")
        unknown = [f for f in entry if f not in keys]
        if unknown:
            raise bad(
                f"model.layers[{k}] ({kind}) has unknown field(s) "
                f"{', '.join(map(repr, unknown))}; known: {', '.join(keys)}"
            )
        for f in ("in_features", "out_features"):
            v = entry[f]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad(f"model.layers[{k}].{f} must be a positive integer, got {v!r}")
        for f in ("bias", "recurrent"):
            if f in entry and not isinstance(entry[f], bool):
                raise bad(f"model.layers[{k}].{f} must be true or false, got {entry[f]!r}")
        if cls.spiking:
            if entry["reset"] not in RESETS:
                raise bad(
                    f"layer '{entry['name']}': unknown reset mode {entry['reset']!r}; use one "
                    f"of {', '.join(RESETS)}"
                )
            v = entry["v_reset"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
                raise bad(f"model.layers[{k}].v_reset must be a finite number, got {v!r}")
        layer_training = training if cls.spiking else {}
        try:
            layers.append(cls.from_config(entry, **layer_training))
        except ModelError as exc:
            raise bad(f"model.layers[{k}]: {exc.message}") from None
        names.append(entry["name"])
    try:
        return SpikingNetwork(layers, names=names, input_name=model["input_name"])
    except ModelError as exc:
        raise bad(exc.message) from None


def _check_state_dict(state: dict, model: SpikingNetwork, bad) -> None:
    """Exactly the tensors ``model`` has, each floating point, finite and of its shape."""
    expected = {
        k: (tuple(v.shape), f"the layer entry needs {tuple(v.shape)}")
        for k, v in model.state_dict().items()
    }
    check_state_tensors(
        state,
        expected,
        bad,
        unexpected_hint="layer entries do not use; check each layer's 'type', 'bias' and "
        "'recurrent'",
    )


MODEL_KINDS: dict[str, type] = {"spiking_mlp": SpikingMLP, MODEL_KIND: SpikingNetwork}


def model_from_checkpoint(ckpt, source: str | None = None):
    """The model a checkpoint holds, by its ``model.kind`` (:data:`MODEL_KINDS`)."""
    where = source or "checkpoint"
    model = ckpt.get("model") if isinstance(ckpt, dict) else None
    kind = model.get("kind") if isinstance(model, dict) else None
    if isinstance(model, dict) and "kind" in model and kind not in MODEL_KINDS:
        raise ModelError(
            f"{where}: model kind {kind!r} is not supported (known: {', '.join(MODEL_KINDS)})",
            hint="save models with SpikingMLP or SpikingNetwork .to_checkpoint()",
        )
    # A malformed envelope gets SpikingMLP's messages, which name the problem.
    cls = MODEL_KINDS[kind] if isinstance(kind, str) and kind in MODEL_KINDS else SpikingMLP
    return cls.from_checkpoint(ckpt, source=source)
