"""ONNX ANNs -> rate-coded IF spiking networks (Rueckauer et al. 2017, data-based normalization).

Reads a feed-forward chain of ``Gemm``/``MatMul`` (+ ``Add``), ``Conv``, ``Relu``,
``AveragePool``, ``Flatten``/``Reshape`` (to a vector), ``Dropout`` and ``Identity`` nodes, as
``torch.onnx.export`` writes them. Each linear operator followed by ``Relu`` becomes a layer of
IF neurons (threshold 1, reset to zero, one step per input spike); the last linear operator
becomes a non-spiking integrator whose mean voltage over the run is the class score.

Weights are normalized on data (``normalize_on``): with ``lam_l`` the ``percentile``-th
percentile of layer l's ReLU activations on the data (``lam_0 = 1`` for rate-coded inputs in
[0, 1]), ``W_l <- W_l lam_{l-1} / lam_l`` and ``b_l <- b_l / lam_l``, so that each layer's firing
rate stays below one spike per step. The input is rate-coded (``snn_deploy.data``): an input of
intensity p spikes at rate p.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np

from snn_deploy.errors import InputFileError, ModelError, UnsupportedError
from snn_deploy.frontend.sizes import DeclaredArray, require_memory
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract

SUPPORTED_OPS = (
    "Gemm",
    "MatMul",
    "Add",
    "Conv",
    "Relu",
    "AveragePool",
    "Flatten",
    "Reshape",
    "Dropout",
    "Identity",
)
PERCENTILE = 99.9


@dataclass(frozen=True)
class AnnLayer:
    """One step of the chain: ``kind`` in linear, conv, relu, avgpool, flatten."""

    kind: str
    name: str
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    attrs: dict | None = None


def _declared(tensor) -> DeclaredArray:
    import onnx

    try:
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
    except (KeyError, TypeError, ValueError):
        itemsize = 8
    return DeclaredArray(tensor.name, tuple(int(d) for d in tensor.dims), itemsize, "ONNX tensor")


def _initializer(path: Path, tensor, numpy_helper) -> np.ndarray:
    """An initializer as float64, refused if its data does not fill its dims or is not finite."""
    try:
        value = numpy_helper.to_array(tensor).astype(np.float64)
    except (ValueError, TypeError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise InputFileError(
            f"{path.name}: initializer '{tensor.name}' cannot be read ({reason})",
            hint="export the model again with torch.onnx.export",
        ) from None
    bad = int(np.count_nonzero(~np.isfinite(value)))
    if bad:
        raise ModelError(
            f"{path.name}: initializer '{tensor.name}' has {bad} NaN or infinite value(s)",
            hint="the model's training diverged; export a model with finite weights",
        )
    return value


def _clean(name: str) -> str:
    """ONNX names like '/0/Gemm' as NIR node names (HDF5 groups cannot contain '/')."""
    return name.strip("/").replace("/", "_") or "node"


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def read_onnx(path: Path) -> tuple[list[AnnLayer], tuple[int, ...]]:
    """The chain of layers and the input shape (without batch) of an ONNX model.

    A graph whose parts contradict each other (a bias that does not fit its weight, an
    attribute of the wrong type, a name that is not text) is refused with ``ModelError``."""
    try:
        return _read_onnx(path)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"{path.name}: the ONNX graph is inconsistent ({type(exc).__name__}: {reason})",
            hint="export it again with torch.onnx.export (a feed-forward chain, "
            "docs/nir-interop.md)",
        ) from None


def _read_onnx(path: Path) -> tuple[list[AnnLayer], tuple[int, ...]]:
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... for damaged files
        raise InputFileError(
            f"{path.name}: not a readable ONNX model ({type(exc).__name__})",
            hint="export it again with torch.onnx.export",
        ) from None
    g = model.graph
    require_memory(path, [_declared(t) for t in g.initializer])
    init = {t.name: _initializer(path, t, numpy_helper) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            init[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"]).astype(np.float64)
    inputs = [i for i in g.input if i.name not in init]
    if len(inputs) != 1:
        raise UnsupportedError(f"{path.name}: {len(inputs)} graph inputs; one is supported")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    shape = tuple(int(d) for d in dims[1:])
    if not shape or any(d <= 0 for d in shape):
        raise UnsupportedError(
            f"{path.name}: input shape {dims} is not static",
            hint="export with a fixed input size (batch may be dynamic)",
        )
    layers, current = [], inputs[0].name
    for n in g.node:
        if n.op_type == "Constant":
            continue
        if n.op_type not in SUPPORTED_OPS:
            hint = (
                "a rate-coded SNN has no max; replace MaxPool by AveragePool and retrain"
                if n.op_type == "MaxPool"
                else f"supported operators: {', '.join(SUPPORTED_OPS)}"
            )
            raise UnsupportedError(
                f"{path.name}: ONNX operator {n.op_type} (node "
                f"'{n.name or n.output[0]}') cannot be converted",
                hint=hint,
            )
        data_in = [x for x in n.input if x and x not in init]
        if data_in != [current]:
            raise UnsupportedError(
                f"{path.name}: node '{n.name or n.op_type}' is not part of a single chain; only "
                "sequential networks are converted"
            )
        a, name = _attrs(n), _clean(n.name or n.output[0])
        if n.op_type == "Gemm":
            w = init[n.input[1]]
            if a.get("transA", 0):
                raise UnsupportedError(f"{path.name}: Gemm '{name}' with transA")
            w = w if a.get("transB", 0) else w.T
            w = w * a.get("alpha", 1.0)
            b = init[n.input[2]] * a.get("beta", 1.0) if len(n.input) > 2 else np.zeros(w.shape[0])
            layers.append(AnnLayer("linear", name, w, np.broadcast_to(b, (w.shape[0],)).copy()))
        elif n.op_type == "MatMul":
            w = init[n.input[1]].T
            layers.append(AnnLayer("linear", name, w, np.zeros(w.shape[0])))
        elif n.op_type == "Add":
            const = [init[x] for x in n.input if x in init]
            if not layers or layers[-1].kind not in ("linear", "conv") or len(const) != 1:
                raise UnsupportedError(f"{path.name}: Add '{name}' that is not a bias")
            last = layers[-1]
            b = last.bias + np.broadcast_to(const[0].reshape(-1), last.bias.shape)
            layers[-1] = AnnLayer(last.kind, last.name, last.weight, b, last.attrs)
        elif n.op_type == "Conv":
            w = init[n.input[1]]
            b = init[n.input[2]] if len(n.input) > 2 else np.zeros(w.shape[0])
            pads = list(a.get("pads", [0] * (2 * (w.ndim - 2))))
            half = len(pads) // 2
            if pads[:half] != pads[half:] or a.get("auto_pad", b"NOTSET") not in (
                b"NOTSET",
                "NOTSET",
            ):
                raise UnsupportedError(
                    f"{path.name}: Conv '{name}' with asymmetric or automatic padding"
                )
            layers.append(
                AnnLayer(
                    "conv",
                    name,
                    w,
                    b,
                    {
                        "stride": a.get("strides", [1] * (w.ndim - 2)),
                        "padding": pads[:half],
                        "dilation": a.get("dilations", [1] * (w.ndim - 2)),
                        "groups": a.get("group", 1),
                    },
                )
            )
        elif n.op_type == "Relu":
            layers.append(AnnLayer("relu", name))
        elif n.op_type == "AveragePool":
            pads = list(a.get("pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:] or (any(pads) and not a.get("count_include_pad", 0)):
                raise UnsupportedError(
                    f"{path.name}: AveragePool '{name}' with padding that "
                    "excludes the pad from the average"
                )
            layers.append(
                AnnLayer(
                    "avgpool",
                    name,
                    attrs={
                        "kernel": a["kernel_shape"],
                        "stride": a.get("strides", a["kernel_shape"]),
                        "padding": pads[:2],
                    },
                )
            )
        elif n.op_type in ("Flatten", "Reshape"):
            layers.append(AnnLayer("flatten", name))
        current = n.output[0]
    for layer in layers:
        expected = {"linear": (2,), "conv": (3, 4)}.get(layer.kind)
        if expected and layer.weight.ndim not in expected:
            raise ModelError(
                f"{path.name}: {layer.kind} layer '{layer.name}' has a weight of shape "
                f"{layer.weight.shape}; it needs {' or '.join(map(str, expected))} dimensions",
                hint="export it again with torch.onnx.export",
            )
        if layer.weight is not None and layer.weight.size == 0:
            raise ModelError(
                f"{path.name}: {layer.kind} layer '{layer.name}' has an empty weight of shape "
                f"{layer.weight.shape}",
                hint="remove the empty layer, or export the model again",
            )
    return layers, shape


def _forward(layers, x, shape, record=False):
    """Float ANN forward on (N, prod(shape)) inputs through the lowered operators."""
    from snn_deploy.ir.lowering import lower

    acts, cur_shape = [], shape
    for layer, node in zip(layers, _nir_ops(layers, shape), strict=True):
        if layer.kind == "relu":
            x = np.maximum(x, 0.0)
            acts.append(x)
            continue
        op = lower(layer.name, node, cur_shape)
        x = np.asarray((op.matrix @ x.T).T) + op.bias
        cur_shape = op.out_shape
    return (x, acts) if record else x


def _nir_ops(layers, shape=None):
    """The NIR node of every layer (None for Relu). With the input ``shape``, shape fields that
    NIR files must hold (Conv ``input_shape``, Flatten ``input_type``) are filled in."""
    from snn_deploy.ir.lowering import lower

    out, cur = [], shape
    for layer in layers:
        node = None
        if layer.kind == "linear":
            node = nir.Affine(weight=layer.weight, bias=layer.bias)
        elif layer.kind == "conv":
            a = layer.attrs
            nd = layer.weight.ndim - 2
            if cur is not None and len(cur) != nd + 1:
                raise ModelError(
                    f"conv layer '{layer.name}' has a {layer.weight.ndim}-D weight and needs an "
                    f"input of {nd + 1} dimensions (channels first); its input has shape {cur}"
                )
            spatial = None if cur is None else (tuple(cur[1:]) if nd == 2 else int(cur[1]))
            if nd == 2:
                node = nir.Conv2d(
                    spatial,
                    layer.weight,
                    a["stride"],
                    a["padding"],
                    a["dilation"],
                    a["groups"],
                    layer.bias,
                )
            else:
                node = nir.Conv1d(
                    spatial,
                    layer.weight,
                    a["stride"][0],
                    a["padding"][0],
                    a["dilation"][0],
                    a["groups"],
                    layer.bias,
                )
        elif layer.kind == "avgpool":
            a = layer.attrs
            node = nir.AvgPool2d(
                kernel_size=np.array(a["kernel"]),
                stride=np.array(a["stride"]),
                padding=np.array(a["padding"]),
            )
        elif layer.kind == "flatten":
            node = nir.Flatten(
                input_type={"input": np.array(cur if cur is not None else [0])},
                start_dim=0,
                end_dim=-1,
            )
        if node is not None and cur is not None:
            cur = lower(layer.name, node, cur).out_shape
        out.append(node)
    return out


def convert(
    layers: list[AnnLayer],
    shape: tuple[int, ...],
    x_calib: np.ndarray,
    percentile: float = PERCENTILE,
) -> tuple[nir.NIRGraph, dict]:
    """The SNN as a NIR graph (contract: dt = 1 step, Euler, reset to zero) and what was done."""
    if not any(layer.kind == "relu" for layer in layers):
        raise UnsupportedError("the ONNX model has no Relu: there is nothing to turn into spikes")
    if layers[-1].kind == "relu":
        raise UnsupportedError(
            "the ONNX model ends with Relu; the converter needs the logits of "
            "a last linear layer as the readout"
        )
    _, acts = _forward(layers, x_calib, shape, record=True)
    lambdas = [max(float(np.percentile(a, percentile)), 1e-12) for a in acts]
    ops = _nir_ops(layers, shape)
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges, prev, prev_lam, relu_i = [], "input", 1.0, 0
    pending = []  # linear nodes since the last neurons
    for layer, node in zip(layers, ops, strict=True):
        if layer.kind == "relu":
            lam = lambdas[relu_i]
            relu_i += 1
            scaled = _scale_last(pending, prev_lam, lam)
            for name, n in scaled:
                nodes[name] = n
                edges.append((prev, name))
                prev = name
            out = tuple(_out_shape(layers, shape, layer))  # keeps (C, H, W) for what follows
            nodes[f"{layer.name}_if"] = nir.IF(
                r=np.ones(out), v_threshold=np.ones(out), v_reset=np.zeros(out)
            )
            edges.append((prev, f"{layer.name}_if"))
            prev, prev_lam, pending = f"{layer.name}_if", lam, []
        else:
            pending.append((layer.name, node))
    out_size = int(np.prod(_out_shape(layers, shape, layers[-1])))
    for name, n in _scale_last(pending, prev_lam, 1.0):
        nodes[name] = n
        edges.append((prev, name))
        prev = name
    nodes["readout"] = nir.I(r=np.ones(out_size))
    nodes["output"] = nir.Output(output_type={"output": np.array([out_size])})
    edges += [(prev, "readout"), ("readout", "output")]
    contract = DiscretizationContract(
        dt_seconds=1.0,
        integrator="euler",
        reset="zero",
        source="ANN converted from ONNX: one step per time step, IF neurons reset to zero",
    )
    graph = nir.NIRGraph(
        nodes, edges, metadata={METADATA_KEY: contract.to_metadata()}, type_check=False
    )
    info = {"percentile": percentile, "lambdas": lambdas}
    return graph, info


def _scale_last(pending, lam_in: float, lam_out: float):
    """Scale a chain of linear nodes: weights of the first by lam_in, biases and weights of the
    last by 1/lam_out (a chain holds at most one weighted operator in practice)."""
    out = []
    weighted = [i for i, (_, n) in enumerate(pending) if hasattr(n, "weight")]
    for i, (name, n) in enumerate(pending):
        if hasattr(n, "weight"):
            w = n.weight * (lam_in if i == weighted[0] else 1.0)
            b = n.bias
            if i == weighted[-1]:
                w, b = w / lam_out, b / lam_out
            n = (
                nir.Affine(weight=w, bias=b)
                if isinstance(n, nir.Affine)
                else type(n)(n.input_shape, w, n.stride, n.padding, n.dilation, n.groups, b)
            )
        out.append((name, n))
    return out


def _out_shape(layers, shape, upto):
    from snn_deploy.ir.lowering import lower

    cur = shape
    for layer, node in zip(layers, _nir_ops(layers, shape), strict=True):
        if node is not None:
            cur = lower(layer.name, node, cur).out_shape
        if layer is upto:
            return cur
    return cur


def onnx_input_size(path: Path) -> int:
    return math.prod(read_onnx(path)[1])


def rates_of(spikes: np.ndarray) -> np.ndarray:
    """Analog inputs seen by the ANN: the rate of each input's spike train."""
    return np.asarray(spikes, dtype=np.float64).mean(axis=1)


def check_chain(layers) -> None:
    if not layers:
        raise ModelError("the ONNX model has no operators")
