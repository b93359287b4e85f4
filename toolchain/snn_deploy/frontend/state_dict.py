"""A bare PyTorch ``state_dict`` plus an architecture description (JSON) -> NIR.

For models trained elsewhere (snnTorch, hand-written loops) whose checkpoint holds only tensors.
The description names, for each layer of neurons, the state-dict key (or a number) of each
parameter, in the discrete-time form every such framework uses::

    I[t] = alpha * I[t-1] + W s_in[t] + b (+ W_rec s[t-1] + b_rec)     (cuba_lif)
    V[t] = beta * V[t-1] + I[t]                                         (lif: alpha = 0)
    s[t] = V[t] > threshold, then the contract's reset

Format (``docs/nir-interop.md``)::

    {"format": "snn-deploy/architecture", "version": 1, "input_size": 12,
     "contract": {"dt_seconds": 1e-4, "reset": "zero"},
     "layers": [{"name": "lif1", "neuron": "cuba_lif", "weight": "fc1.weight",
                 "bias": "fc1.bias", "alpha": "lif1.alpha", "beta": "lif1.beta",
                 "threshold": "lif1.threshold", "recurrent_weight": "lif1.recurrent.weight",
                 "recurrent_bias": "lif1.recurrent.bias"}, ...]}

The graph uses snnTorch's export formulas (``tau = dt/(1-beta)``, ``r = tau/dt``, ``w_in =
tau_syn/dt``) so that forward Euler at ``dt`` gives back exactly the equations above.
"""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np

from snn_deploy.errors import InputFileError, ModelError
from snn_deploy.frontend.load import ImportedModel
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract

FORMAT = "snn-deploy/architecture"
LAYER_KEYS = {
    "name",
    "neuron",
    "weight",
    "bias",
    "alpha",
    "beta",
    "threshold",
    "recurrent_weight",
    "recurrent_bias",
}
NEURONS = ("cuba_lif", "lif")


def read_architecture(path: Path) -> dict:
    try:
        arch = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(
            f"{path}: not a readable architecture description ({exc})",
            hint="see docs/nir-interop.md for the format",
        ) from None
    if not isinstance(arch, dict) or arch.get("format") != FORMAT or arch.get("version") != 1:
        raise InputFileError(
            f"{path}: not an snn-deploy architecture description (format "
            f"{arch.get('format') if isinstance(arch, dict) else None!r})",
            hint=f'it must say "format": "{FORMAT}", "version": 1',
        )
    problem = _structure_problem(arch)
    if problem:
        raise InputFileError(
            f"{path}: {problem}", hint="see docs/nir-interop.md for the architecture format"
        )
    return arch


PARAMETER_KEYS = ("bias", "alpha", "beta", "threshold", "recurrent_weight", "recurrent_bias")


def _structure_problem(arch: dict) -> str | None:
    """What is of the wrong type in an architecture description, or None."""

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    size = arch.get("input_size")
    if not (isinstance(size, int) and not isinstance(size, bool) and size >= 1):
        return f"input_size must be a positive integer, got {size!r}"
    contract = arch.get("contract")
    if contract is not None and not isinstance(contract, dict):
        return f"contract must be a table of contract fields, got {contract!r}"
    dt = (contract or {}).get("dt_seconds", 1e-3)
    if not number(dt):
        return f"contract.dt_seconds must be a number, got {dt!r}"
    layers = arch.get("layers")
    if not isinstance(layers, list) or not layers:
        return f"layers must be a non-empty list of layer tables, got {layers!r}"
    for i, spec in enumerate(layers):
        if not isinstance(spec, dict):
            return f"layers[{i}] must be a table, got {spec!r}"
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("weight"), str):
            return f"layers[{i}] needs a name and a weight (a state-dict key)"
        for key in PARAMETER_KEYS:
            v = spec.get(key)
            if v is not None and not (isinstance(v, str) or number(v)):
                return f"layers[{i}].{key} must be a state-dict key or a number, got {v!r}"
    return None


def state_dict_to_nir(state: dict, arch: dict, source: str) -> nir.NIRGraph:
    def get(value, what: str, layer: str):
        if isinstance(value, (int, float)):
            return np.asarray(value, dtype=np.float64)
        if not isinstance(value, str) or value not in state:
            raise ModelError(
                f"{source}: layer '{layer}': {what} refers to {value!r}, which is "
                "not a tensor of the state dict",
                hint=f"state dict keys: {', '.join(sorted(state)[:12])}",
            )
        t = np.asarray(state[value].detach().cpu().double().numpy())
        if not np.all(np.isfinite(t)):
            raise ModelError(f"{source}: tensor '{value}' has NaN or infinite values")
        return t

    cdict = arch.get("contract") or {}
    contract = DiscretizationContract(
        **{**{"dt_seconds": 1e-3}, **cdict}, source="the architecture description"
    )
    dt = contract.dt_seconds
    size = int(arch["input_size"])
    nodes = {"input": nir.Input(input_type={"input": np.array([size])})}
    edges, prev = [], "input"
    for spec in arch.get("layers", []):
        unknown = set(spec) - LAYER_KEYS
        name = str(spec.get("name", ""))
        if unknown or not name:
            raise ModelError(
                f"{source}: layer spec {spec} has unknown keys {sorted(unknown)} or "
                f"no name; accepted keys: {', '.join(sorted(LAYER_KEYS))}"
            )
        kind = spec.get("neuron", "cuba_lif")
        if kind not in NEURONS:
            raise ModelError(f"{source}: layer '{name}': neuron {kind!r} is not one of {NEURONS}")
        w = get(spec["weight"], "weight", name)
        n = w.shape[0]
        if w.ndim != 2 or w.shape[1] != size:
            raise ModelError(
                f"{source}: layer '{name}': weight {w.shape} does not take {size} inputs"
            )

        def per(v, n=n):
            return np.broadcast_to(v, (n,)).astype(np.float64)

        beta = per(get(spec.get("beta", 0.0), "beta", name))
        alpha = per(get(spec.get("alpha", 0.0), "alpha", name)) if kind == "cuba_lif" else 0
        theta = per(get(spec.get("threshold", 1.0), "threshold", name))
        for label, v in (("alpha", alpha), ("beta", beta)):
            if np.any((np.asarray(v) < 0) | (np.asarray(v) >= 1)):
                raise ModelError(f"{source}: layer '{name}': {label} must be in [0, 1)")
        bias = spec.get("bias")
        syn = f"{name}_w"
        nodes[syn] = (
            nir.Affine(weight=w, bias=per(get(bias, "bias", name)))
            if bias is not None
            else nir.Linear(weight=w)
        )
        tau_mem = dt / (1 - beta)
        common = dict(r=tau_mem / dt, v_leak=np.zeros(n), v_threshold=theta, v_reset=np.zeros(n))
        if kind == "cuba_lif":
            tau_syn = dt / (1 - alpha)
            nodes[name] = nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, w_in=tau_syn / dt, **common)
        else:
            nodes[name] = nir.LIF(tau=tau_mem, **common)
        edges += [(prev, syn), (syn, name)]
        if spec.get("recurrent_weight") is not None:
            wr = get(spec["recurrent_weight"], "recurrent_weight", name)
            rb = spec.get("recurrent_bias")
            rec = f"{name}_rec"
            nodes[rec] = (
                nir.Affine(weight=wr, bias=per(get(rb, "recurrent_bias", name)))
                if rb is not None
                else nir.Linear(weight=wr)
            )
            edges += [(name, rec), (rec, name)]
        prev, size = name, n
    if prev == "input":
        raise ModelError(f"{source}: the architecture has no layers")
    nodes["output"] = nir.Output(output_type={"output": np.array([size])})
    edges.append((prev, "output"))
    return nir.NIRGraph(
        nodes, edges, metadata={METADATA_KEY: contract.to_metadata()}, type_check=False
    )


def read_state_dict(path: Path, arch_path: Path, state: dict) -> ImportedModel:
    arch = read_architecture(arch_path)
    try:
        graph = state_dict_to_nir(state, arch, path.name)
    except (ValueError, TypeError, IndexError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"{path.name}: the state dict does not fit {Path(arch_path).name} "
            f"({type(exc).__name__}: {reason})",
            hint="check the tensor shapes named by each layer (docs/nir-interop.md)",
        ) from None
    return ImportedModel(
        graph=graph,
        source=str(path),
        kind=f"PyTorch state dict described by {Path(arch_path).name}",
    )
