"""Tolerant reading of NIR files that NIR's own type check refuses.

Today's exporters write graphs that ``nir.read`` (nir 1.0.8, ``type_check=True``) refuses although
their weights say every size (../shared/reference/nir.md sections 6, 8): Norse 1.1.0 keeps the
batch dimension of its sample on the ``Input`` (``[1, 10]`` into an ``Affine`` of 10 inputs,
NIRTorch#17), Sinabs 3.1.3 writes a ``LIF`` with 0-d parameters (type ``[]``) for a layer of 20.

:func:`read_graph` reads with NIR's check; when it fails, it reads without it and
:func:`infer_graph` infers every node's shape from the weights and edges, in order from the
``Input`` nodes:

- an ``Input`` with a leading dimension of 1 that its successors do not take (they take the
  rest) loses it: a batch dimension;
- a linear node's output shape follows from its input (``ir.lowering``); an ``Affine``/``Linear``
  checks that its input has as many values as its weight has columns;
- a neuron node (or a ``Delay``) with only 0-d parameters takes the
  shape of its input, and its parameters are broadcast to it; one with shaped parameters must get
  as many values as it has neurons;
- an ``Output`` takes the shape of what feeds it.

Every edge is then checked (the sizes at both ends agree, several edges into one node carry the
same size); a graph inconsistent even then is refused with the node and the shapes that disagree.
The result is a new graph (the input is not modified) whose nodes carry the inferred shapes, and
a note for the compile report listing each inference.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import nir
import numpy as np

from snn_deploy.errors import ModelError
from snn_deploy.ir.lowering import LINEAR_NODES, lower

# What nir.read raises when its type inference or type check fails.
NIR_TYPE_ERRORS = (ValueError, NotImplementedError, AssertionError, TypeError)
_SHAPED_NODES = (
    nir.CubaLIF,
    nir.CubaLI,
    nir.LIF,
    nir.LI,
    nir.IF,
    nir.I,
    nir.Threshold,
    nir.Delay,
)


def read_graph(path) -> tuple[nir.NIRGraph, tuple[str, ...]]:
    """``nir.read(path)``; if NIR's type check refuses the graph, the graph read without it
    with every shape inferred (:func:`infer_graph`), and the notes saying what was inferred."""
    try:
        return nir.read(path), ()
    except NIR_TYPE_ERRORS as exc:
        refused = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    graph = nir.read(path, type_check=False)
    return infer_graph(graph, refused)


def _first_shape(type_dict) -> tuple[int, ...] | None:
    if type_dict is None:
        return None
    v = next(iter(type_dict.values()), None) if isinstance(type_dict, dict) else type_dict
    if v is None:
        return None
    return tuple(int(x) for x in np.asarray(v).ravel())


def _arrays(node) -> dict[str, np.ndarray]:
    """The array parameters of a node (torch tensors from some exporters become numpy)."""
    out = {}
    for f in dataclasses.fields(node):
        if not f.init or f.name in ("metadata", "input_type", "output_type"):
            continue
        v = getattr(node, f.name)
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        if isinstance(v, (np.ndarray, np.generic, float, int)) and not isinstance(v, bool):
            v = np.asarray(v)  # h5py gives 0-d parameters back as numpy scalars
            if v.dtype.kind in "fiu":
                out[f.name] = v
    return out


def _param_shape(name: str, node) -> tuple[int, ...] | None:
    """The one shape of a neuron node's non-scalar parameters (None if all are 0-d)."""
    shapes = {k: v.shape for k, v in _arrays(node).items() if v.ndim > 0 and v.size > 1}
    distinct = set(shapes.values())
    if len(distinct) > 1:
        detail = ", ".join(f"{k} {list(s)}" for k, s in shapes.items())
        raise ModelError(
            f"node '{name}' ({type(node).__name__}): its parameters have different shapes "
            f"({detail})",
            hint="export the layer with one value per neuron for every parameter",
        )
    return distinct.pop() if distinct else None


def _rebuild(node, **changes):
    kwargs = {
        f.name: getattr(node, f.name)
        for f in dataclasses.fields(node)
        if f.init and f.name not in ("metadata", "input_type", "output_type")
    }
    kwargs.update(changes)
    return type(node)(**kwargs, metadata=dict(getattr(node, "metadata", None) or {}))


def _expects(node) -> int | None:
    """How many values a node takes in, where its parameters say it."""
    if isinstance(node, (nir.Linear, nir.Affine)) and np.ndim(node.weight) == 2:
        return int(np.shape(node.weight)[1])
    if isinstance(node, _SHAPED_NODES):
        shape = _param_shape("", node)
        return math.prod(shape) if shape else None
    return None


def infer_graph(graph: nir.NIRGraph, refused: str = "") -> tuple[nir.NIRGraph, tuple[str, ...]]:
    """A new graph with every node's shape inferred from weights and edges, and the notes."""
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ModelError(f"edge ('{a}', '{b}') names '{end}', which is not a node")
    preds, succs = defaultdict(list), defaultdict(list)
    for a, b in edges:
        succs[a].append(b)
        preds[b].append(a)
    notes = [f"NIR's type check refused the graph ({refused}); read without it, shapes inferred:"]
    shapes: dict[str, tuple[int, ...]] = {}
    new_nodes = dict(nodes)
    for name, node in nodes.items():
        if isinstance(node, nir.Input):
            shape = _first_shape(node.input_type)
            if shape is None:
                raise ModelError(f"Input '{name}' has no shape")
            if (
                len(shape) > 1
                and shape[0] == 1
                and _takes_rest([nodes[s] for s in succs[name]], shape[1:])
            ):
                notes.append(
                    f"Input '{name}': leading batch dimension dropped ({list(shape)} -> "
                    f"{list(shape[1:])})"
                )
                shape = shape[1:]
                new_nodes[name] = nir.Input(input_type={"input": np.array(shape)})
            shapes[name] = shape
    for _ in range(len(nodes) + 1):
        changed = False
        for name, node in nodes.items():
            if name in shapes or isinstance(node, nir.Input):
                continue
            known = [p for p in preds[name] if p in shapes]
            if not known and not isinstance(node, (nir.Linear, nir.Affine, *_SHAPED_NODES)):
                continue
            in_shape = shapes[known[0]] if known else None
            shape = _infer_node(name, node, in_shape, new_nodes, notes)
            if shape is None:
                continue
            shapes[name] = shape
            changed = True
        if not changed:
            break
    missing = [n for n in nodes if n not in shapes]
    if missing:
        raise ModelError(
            f"cannot infer the shape of node(s) {', '.join(missing)}: they are not reached from "
            "an Input",
            hint="every node must be driven, directly or not, by an Input node",
        )
    _check_edges(nodes, edges, shapes, preds)
    if len(notes) == 1:
        notes.append("no shape needed inferring; the graph is consistent")
    fixed = nir.NIRGraph(
        nodes=new_nodes, edges=edges, metadata=dict(graph.metadata or {}), type_check=False
    )
    return fixed, (" ".join(notes[:1]) + " " + "; ".join(notes[1:]),)


def _takes_rest(succ_nodes, rest) -> bool:
    """Some successor of an Input takes ``rest`` (its shape without a leading 1) exactly: a 2-d
    weight takes a vector, a convolution (C, spatial...) with its channels, a neuron layer its
    parameters' shape. Then the leading 1 is a batch dimension."""
    for n in succ_nodes:
        if isinstance(n, (nir.Linear, nir.Affine)) and np.ndim(n.weight) == 2:
            if len(rest) == 1 and rest[0] == np.shape(n.weight)[1]:
                return True
        elif isinstance(n, (nir.Conv1d, nir.Conv2d)):
            w = np.asarray(n.weight)
            if len(rest) == w.ndim - 1 and rest[0] == w.shape[1] * int(n.groups):
                return True
        elif isinstance(n, _SHAPED_NODES):
            if _param_shape("", n) == tuple(rest):
                return True
    return False


def _infer_node(name, node, in_shape, new_nodes, notes):
    if isinstance(node, nir.Output):
        if in_shape is None:
            return None
        declared = _first_shape(node.output_type)
        if declared is not None and tuple(declared) != tuple(in_shape):
            notes.append(
                f"Output '{name}': declared {list(declared)}, takes {list(in_shape)} from its input"
            )
        new_nodes[name] = nir.Output(output_type={"output": np.array(in_shape)})
        return tuple(in_shape)
    if isinstance(node, LINEAR_NODES):
        if in_shape is None and not isinstance(node, (nir.Linear, nir.Affine)):
            return None
        return tuple(lower(name, node, in_shape).out_shape)
    if isinstance(node, _SHAPED_NODES):
        shape = _param_shape(name, node)
        if shape is not None:
            if in_shape is not None and math.prod(in_shape) != math.prod(shape):
                raise ModelError(
                    f"node '{name}' ({type(node).__name__}): parameters of shape {list(shape)} "
                    f"({math.prod(shape)} neurons) but its input has shape {list(in_shape)}"
                )
            return tuple(shape)
        if in_shape is None:
            return None
        arrays = _arrays(node)
        new_nodes[name] = _rebuild(
            node, **{k: np.broadcast_to(v, in_shape).copy() for k, v in arrays.items()}
        )
        notes.append(
            f"'{name}' ({type(node).__name__}): 0-d parameters ({', '.join(arrays)}) broadcast "
            f"to its {math.prod(in_shape)} neurons (shape {list(in_shape)} of its input)"
        )
        return tuple(in_shape)
    if isinstance(node, nir.NIRGraph):
        return _first_shape(node.output_type)
    return tuple(in_shape) if in_shape is not None else None


def _check_edges(nodes, edges, shapes, preds) -> None:
    """Every node's inputs agree in size with each other and with what the node takes."""
    for name, node in nodes.items():
        if not preds[name]:
            continue
        sizes = {p: math.prod(shapes[p]) for p in preds[name]}
        takes = _expects(node)
        if takes is None and isinstance(node, _SHAPED_NODES):
            takes = math.prod(shapes[name])
        if takes is None and isinstance(node, nir.Output):
            takes = math.prod(shapes[name])
        for p, n in sizes.items():
            ref = takes if takes is not None else next(iter(sizes.values()))
            if n != ref:
                raise ModelError(
                    f"node '{name}' ({type(node).__name__}) takes {ref} values but '{p}' gives "
                    f"{n} (shape {list(shapes[p])}): the graph is inconsistent even with "
                    "inferred shapes",
                    hint="check the exporter's output; the sizes of connected nodes must agree",
                )
