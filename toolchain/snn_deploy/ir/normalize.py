"""``normalize``: a float NIR graph -> :class:`DiscreteNetwork` under a discretization contract.

The transformation returns a new network and never modifies the graph. In order:

1. **Contract** (:mod:`snn_deploy.ir.conventions`): the graph's own (metadata), else an
   exporter convention stated by the user or recognised from the parameters, then the user's
   explicit fields; why is recorded in ``contract.source``. No time step, no guess: an error.
2. **Structure**: nested ``NIRGraph`` nodes are flattened into dotted names (``lif1.lif``), the
   same names exporters that flatten subgraphs write; every edge must name a node; every
   parameter must be finite; a leading batch dimension of 1 on an ``Input`` is stripped.
3. **Shapes**: propagated from the ``Input`` nodes through every linear node.
4. **Linear chains**: the linear nodes between layers of neurons (``Linear``, ``Affine``,
   ``Scale``, ``Conv1d/2d``, ``SumPool2d``, ``AvgPool2d``, ``Flatten``, and ``Delay``) are
   multiplied into one weight matrix per (source, target, delay) (:mod:`lowering`); several
   edges into a node are summed; biases are carried through. A bias reaching neurons without a
   synaptic current becomes their voltage bias; one reaching neurons with a synaptic current
   becomes a ``constant`` input port (spiking every step) with the bias as weights, which is
   exact. A loop of linear nodes with no neuron on it is refused.
5. **Neurons** become populations in the canonical discrete form of :class:`Population`, with
   the input gains folded into the incoming weights. With ``a = decay(tau_syn)``,
   ``b = decay(tau_mem)``, ``g(tau) = dt/tau`` (euler) or ``1 - decay(tau)`` (exact), and
   ``decay(tau) = 1 - dt/tau`` (euler) or ``exp(-dt/tau)`` (exact):

   =========  =====  =====  =============================  ==================  ========
   node       alpha  beta   weight gain                    V bias              spikes
   =========  =====  =====  =============================  ==================  ========
   CubaLIF    a      b      w_in g(tau_syn) r g(tau_mem)   v_leak g(tau_mem)   yes
   CubaLI     a      b      w_in g(tau_syn) r g(tau_mem)   v_leak g(tau_mem)   no
   LIF        0      b      r g(tau)                       v_leak g(tau)       yes
   LI         0      b      r g(tau)                       v_leak g(tau)       no
   IF         0      1      r dt                           0                   yes
   I          0      1      r dt                           0                   no
   Threshold  0      0      1                              0                   yes
   =========  =====  =====  =============================  ==================  ========

   Norse 1.1.0's convention drops ``g(tau_syn)`` from the CubaLIF/CubaLI gain (its current jumps
   by its input) and ``dt`` from the IF/I gain (its IAF adds its input unscaled).

   A neuron node whose metadata holds ``{"snn_deploy_neuron": {"model": NAME, ...}}`` (models
   NIR has no node for, e.g. ``alif``) keeps ``NAME`` as its population model, so that a chip
   without it refuses it by name instead of running a different neuron.
6. **Time**: back edges (depth-first from the inputs) get the contract's recurrent delay;
   ``Delay`` nodes add ``round(delay / dt)`` steps; populations are ordered topologically.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict

import nir
import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import ModelError, UnsupportedError
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.ir.conventions import Convention, resolve
from snn_deploy.ir.lowering import LINEAR_NODES, compact, lower
from snn_deploy.ir.network import DiscreteNetwork, InputPort, Population, Projection

NEURON_NODES = (nir.CubaLIF, nir.CubaLI, nir.LIF, nir.LI, nir.IF, nir.I, nir.Threshold)
KNOWN_NODES = (nir.Input, nir.Output, nir.Delay, *NEURON_NODES, *LINEAR_NODES)
NEURON_METADATA_KEY = "snn_deploy_neuron"


def resolve_contract(graph: nir.NIRGraph, overrides: dict | None = None) -> DiscretizationContract:
    nodes, _ = flatten(graph)
    return resolve(nodes, graph.metadata, overrides)[0]


def flatten(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict, list]:
    """Nodes and edges with nested graphs inlined under dotted names.

    An edge into a subgraph goes to the successors of its ``Input`` node(s); an edge out of it
    leaves from the predecessors of its ``Output`` node(s)."""
    nodes, edges, ins, outs = {}, [], {}, {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = flatten(node, prefix=f"{full}.")
            sub_in = [f"{full}.{n}" for n, x in node.nodes.items() if isinstance(x, nir.Input)]
            sub_out = [f"{full}.{n}" for n, x in node.nodes.items() if isinstance(x, nir.Output)]
            ins[full] = [b for a, b in sub_edges if a in sub_in]
            outs[full] = [a for a, b in sub_edges if b in sub_out]
            nodes.update({k: v for k, v in sub_nodes.items() if k not in (*sub_in, *sub_out)})
            edges += [(a, b) for a, b in sub_edges if a not in sub_in and b not in sub_out]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = f"{prefix}{a}", f"{prefix}{b}"
        for s in outs.get(a, [a]):
            for t in ins.get(b, [b]):
                edges.append((s, t))
    return nodes, list(dict.fromkeys(edges))


def normalize(graph: nir.NIRGraph, overrides: dict | None = None) -> DiscreteNetwork:
    nodes, edges = flatten(graph)
    _check(nodes, edges)
    contract, convention = resolve(nodes, graph.metadata, overrides)
    preds, succs = defaultdict(list), defaultdict(list)
    for a, b in edges:
        succs[a].append(b)
        preds[b].append(a)
    notes: list[str] = []
    shapes = _shapes(nodes, preds, succs, notes)
    empty = [n for n, shape in shapes.items() if math.prod(shape) == 0]
    if empty:
        raise ModelError(
            f"node '{empty[0]}' has shape {shapes[empty[0]]}: a layer of zero neurons or values",
            hint="remove the empty layer, or export the model again",
        )
    inputs = tuple(
        InputPort(n, math.prod(shapes[n])) for n, x in nodes.items() if isinstance(x, nir.Input)
    )
    if not inputs:
        raise ModelError(
            "the graph has no Input node",
            hint="a recurrent graph needs an explicit nir.Input (nir.md section 6)",
        )
    neuron_names = [n for n, x in nodes.items() if isinstance(x, NEURON_NODES)]
    terms = _expand_all(nodes, preds, shapes, neuron_names, contract)

    raw = []  # (name, source, target, matrix, delay)
    current_bias = {}
    for target in neuron_names:
        groups, bias = terms[target]
        if np.any(bias != 0):
            current_bias[target] = bias
        for (source, delay, via), matrix in groups.items():
            many = sum(1 for s, d, v in groups if v == via) > 1
            name = (
                via
                if via and not many
                else (
                    f"{via or source + '->' + target}"
                    + (f"[{source}]" if many else "")
                    + (f"@{delay}" if delay and many else "")
                )
            )
            raw.append((name, source, target, compact(matrix), delay))
    pops, gains = {}, {}
    for n in neuron_names:
        pops[n], gains[n] = _population(n, nodes[n], math.prod(shapes[n]), contract, convention)
    inputs = list(inputs)
    for t, b in current_bias.items():
        b = b * gains[t]
        if np.all(pops[t].alpha == 0):  # I[t] = x + b: the bias reaches V unchanged
            pops[t] = dataclasses.replace(pops[t], bias=pops[t].bias + b)
            notes.append(f"bias into '{t}' (no synaptic current) folded into its voltage bias")
        else:
            port = f"bias:{t}"
            inputs.append(InputPort(port, 1, kind="constant"))
            raw.append((f"{port}->{t}", port, t, b[:, None] / gains[t][:, None], 0))
            notes.append(
                f"bias into '{t}' (which has a synaptic current) is carried by a "
                f"constant input '{port}' that spikes every step"
            )
    inputs = tuple(inputs)
    order, back = _order(inputs, neuron_names, raw)
    projections = []
    for name, s, t, m, delay in raw:
        g = gains[t]
        weight = sp.diags(g) @ m if sp.issparse(m) else m * g[:, None]
        back_delay = contract.recurrent_delay_steps if (s, t) in back else 0
        projections.append(
            Projection(
                name=name,
                source=s,
                target=t,
                weight=compact(weight),
                delay_steps=delay + back_delay,
            )
        )
    populations = tuple(pops[n] for n in order)
    outputs = []
    for name, node in nodes.items():
        if isinstance(node, nir.Output):
            for s in preds[name]:
                if s not in neuron_names:
                    raise UnsupportedError(
                        f"Output '{name}' is fed by '{s}' ({type(nodes[s]).__name__}); outputs "
                        "must come from neurons",
                        hint="end the network with a layer of neurons (e.g. a leaky readout)",
                    )
                outputs.append(s)
    notes.insert(0, f"discretization contract: {contract.describe()}")
    if back:
        notes.append(
            f"back edges ({contract.recurrent_delay_steps}-step delay): "
            + ", ".join(f"{s} -> {t}" for s, t in sorted(back))
        )
    for n in neuron_names:
        meta = (getattr(nodes[n], "metadata", None) or {}).get(NEURON_METADATA_KEY)
        if meta:
            notes.append(f"'{n}' is a {meta.get('model')} neuron (from its metadata)")
    return DiscreteNetwork(
        inputs=inputs,
        populations=populations,
        projections=tuple(projections),
        outputs=tuple(dict.fromkeys(outputs)),
        contract=contract,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------- structure
def _check(nodes: dict, edges: list) -> None:
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ModelError(f"edge ('{a}', '{b}') names '{end}', which is not a node")
    for name, node in nodes.items():
        if not isinstance(node, KNOWN_NODES):
            known = ", ".join(sorted({t.__name__ for t in KNOWN_NODES}))
            raise UnsupportedError(
                f"node '{name}' has type {type(node).__name__}, which snn-deploy does not "
                f"support; supported: {known}"
            )
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if hasattr(value, "detach"):  # torch tensors written by some exporters
                value = value.detach().cpu().numpy()
            if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
                bad = int(np.count_nonzero(~np.isfinite(value)))
                if bad:
                    raise ModelError(
                        f"node '{name}': parameter '{field.name}' has {bad} NaN or infinite "
                        "value(s)",
                        hint="fix or retrain the model; snn-deploy cannot quantize non-finite "
                        "values",
                    )


def _type_shape(type_dict):
    if type_dict is None:
        return None
    v = next(iter(type_dict.values()), None) if isinstance(type_dict, dict) else type_dict
    if v is None:
        return None
    return tuple(int(x) for x in np.asarray(v).ravel())


def _neuron_shape(node) -> tuple[int, ...] | None:
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, np.ndarray) and v.ndim > 0 and v.dtype.kind in "fiu":
            return tuple(v.shape)
    return None


def _shapes(nodes: dict, preds: dict, succs: dict, notes: list) -> dict:
    """Output shape of every node, propagated from the inputs (fixed point over the graph)."""
    shapes = {}
    for name, node in nodes.items():
        if isinstance(node, nir.Input):
            shape = _type_shape(node.input_type)
            if shape is None:
                raise ModelError(f"Input '{name}' has no shape")
            if (
                len(shape) > 1
                and shape[0] == 1
                and any(_expects(nodes[s]) == math.prod(shape[1:]) for s in succs[name])
            ):
                notes.append(
                    f"Input '{name}': leading batch dimension of 1 stripped "
                    f"({shape} -> {shape[1:]})"
                )
                shape = shape[1:]
            shapes[name] = shape
    for _ in range(len(nodes) + 1):
        changed = False
        for name, node in nodes.items():
            if name in shapes or isinstance(node, nir.Input):
                continue
            known = [shapes[p] for p in preds[name] if p in shapes]
            in_shape = known[0] if known else None
            if isinstance(node, NEURON_NODES):
                shape = _neuron_shape(node) or in_shape
                if shape is None and not preds[name]:
                    raise ModelError(f"node '{name}' has no input and no shaped parameters")
            elif isinstance(node, LINEAR_NODES):
                if in_shape is None and not isinstance(node, (nir.Linear, nir.Affine)):
                    continue
                shape = lower(name, node, in_shape).out_shape
            elif isinstance(node, nir.Delay):
                shape = in_shape or _neuron_shape(node)
            else:
                shape = in_shape
            if shape is not None:
                shapes[name] = tuple(shape)
                changed = True
        if not changed:
            break
    missing = [n for n in nodes if n not in shapes and not isinstance(nodes[n], nir.Output)]
    if missing:
        raise ModelError(
            f"cannot infer the shape of node(s) {', '.join(missing)}: they are not reached from "
            "an Input, or their inputs have no shape",
            hint="every node must be driven, directly or not, by an Input node",
        )
    return shapes


def _expects(node) -> int | None:
    w = getattr(node, "weight", None)
    if isinstance(node, (nir.Linear, nir.Affine)) and w is not None and np.ndim(w) == 2:
        return int(np.shape(w)[1])
    s = _neuron_shape(node) if isinstance(node, NEURON_NODES) else None
    return math.prod(s) if s else None


# ------------------------------------------------------------------------ linear expansion
def _expand_all(nodes, preds, shapes, neuron_names, contract):
    """For each neuron: {(source, delay, via): matrix} and the bias of its summed input.

    ``via`` names the linear node adjacent to the target (the projection's name)."""
    memo, stack = {}, []

    def expand(name):
        """{(source, delay): matrix} and bias of the *output* of node ``name``."""
        node = nodes[name]
        if isinstance(node, (nir.Input, *NEURON_NODES)):
            return {(name, 0): sp.identity(math.prod(shapes[name]), format="csr")}, 0.0
        if name in memo:
            return memo[name]
        if name in stack:
            loop = " -> ".join(stack[stack.index(name) :] + [name])
            raise ModelError(
                f"loop of linear nodes with no neuron on it: {loop}",
                hint="a recurrent connection must pass through neurons",
            )
        stack.append(name)
        total, bias = _sum_inputs(name, preds, expand, shapes)
        if isinstance(node, nir.Delay):
            out = {}
            steps = _delay_steps(name, node, shapes[name], contract)
            for d in np.unique(steps):
                mask = sp.diags((steps == d).astype(float), format="csr")
                for (src, dd), m in total.items():
                    key = (src, dd + int(d))
                    out[key] = out.get(key, 0) + mask @ m
            memo[name] = (out, bias)
        else:
            in_shape = shapes[preds[name][0]] if preds[name] else None
            op = lower(name, node, in_shape)
            m = op.matrix
            out = {k: sp.csr_matrix(m @ v) for k, v in total.items()}
            memo[name] = (
                out,
                (m @ np.broadcast_to(bias, (m.shape[1],)) if np.ndim(bias) or bias else 0.0)
                + op.bias,
            )
        stack.pop()
        return memo[name]

    result = {}
    for target in neuron_names:
        size = math.prod(shapes[target])
        groups, bias = {}, np.zeros(size)
        for p in preds[target]:
            terms, b = expand(p)
            via = p if not isinstance(nodes[p], (nir.Input, *NEURON_NODES)) else ""
            for (src, d), m in terms.items():
                if m.shape != (size, math.prod(shapes[src])):
                    raise ModelError(
                        f"node '{target}' ({size} neurons) receives {m.shape[0]} values from '{p}'",
                        hint="the sizes of connected nodes must agree",
                    )
                key = (src, d, via)
                groups[key] = groups[key] + m if key in groups else m
            bias = bias + b
        result[target] = (groups, bias)
    return result


def _sum_inputs(name, preds, expand, shapes):
    if not preds[name]:
        raise ModelError(f"node '{name}' has no input")
    total, bias = {}, 0.0
    for p in preds[name]:
        terms, b = expand(p)
        for k, m in terms.items():
            total[k] = total[k] + m if k in total else m
        bias = bias + b
    return total, bias


def _delay_steps(name, node, shape, contract) -> np.ndarray:
    d = np.broadcast_to(np.asarray(node.delay, dtype=np.float64), shape).ravel()
    if np.any(d < 0):
        raise ModelError(f"node '{name}': negative delay")
    steps = d / contract.dt_seconds
    r = np.rint(steps)
    if np.any(np.abs(steps - r) > 1e-6 * np.maximum(1, r)):
        raise ModelError(
            f"node '{name}': delays {np.unique(d)[:4]} are not whole time steps of "
            f"dt = {contract.dt_seconds:g} s",
            hint="state the right --dt",
        )
    return r.astype(np.int64)


# ------------------------------------------------------------------------------- ordering
def _order(inputs, neuron_names, projections):
    """Topological order of the populations and the set of back edges (source, target)."""
    succ = defaultdict(list)
    for _, s, t, _, d in projections:
        if d == 0:
            succ[s].append(t)
    for _, s, t, _, d in projections:  # delayed edges never form algebraic loops
        if d > 0:
            succ[s].append(t)
    state, back = {}, set()

    def visit(n):
        stack = [(n, iter(succ[n]))]
        state[n] = "open"
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = "open"
                stack.append((nxt, iter(succ[nxt])))

    for i in inputs:
        visit(i.name)
    unreachable = [n for n in neuron_names if n not in state]
    if unreachable:
        raise ModelError(
            f"population(s) {', '.join(unreachable)} cannot be reached from any Input",
            hint="every neuron must be driven, directly or not, by an Input node",
        )
    delayed = {(s, t) for _, s, t, _, d in projections if d > 0}
    indeg = {n: 0 for n in neuron_names}
    seen = set()
    for _, s, t, _, _ in projections:
        if (s, t) not in back and (s, t) not in delayed and t in indeg and (s, t) not in seen:
            indeg[t] += 1
            seen.add((s, t))
    ready, order = [i.name for i in inputs], []
    done_edges = set()
    while ready:
        n = ready.pop(0)
        if n in indeg:
            order.append(n)
        for t in dict.fromkeys(succ[n]):
            if (n, t) in back or (n, t) in delayed or t not in indeg or (n, t) in done_edges:
                continue
            done_edges.add((n, t))
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    order += [n for n in neuron_names if n not in order]  # only delayed edges into them
    return order, back - delayed


# -------------------------------------------------------------------------------- neurons
def _decay_gain(tau, contract: DiscretizationContract, name: str = ""):
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau <= 0):
        where = f"node '{name}': " if name else ""
        raise ModelError(f"{where}time constants must be positive, got {float(tau[tau <= 0][0]):g}")
    dt = contract.dt_seconds
    if contract.integrator == "euler":
        return 1.0 - dt / tau, dt / tau
    decay = np.exp(-dt / tau)
    return decay, 1.0 - decay


def _population(
    name: str, node, size: int, contract: DiscretizationContract, convention: Convention | None
):
    def per_neuron(value, default=0.0):
        v = np.asarray(default if value is None else value, dtype=np.float64)
        if v.size not in (1, size):
            raise ModelError(f"node '{name}': a parameter has {v.size} values for {size} neurons")
        return np.broadcast_to(v.reshape(-1) if v.size == size else v.reshape(()), (size,))

    def tau(value):
        t = per_neuron(value)
        return t / contract.dt_seconds if convention and convention.tau_divided_by_dt else t

    zeros, ones = np.zeros(size), np.ones(size)
    dt = contract.dt_seconds
    spiking = not isinstance(node, (nir.CubaLI, nir.LI, nir.I))
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        alpha, g_syn = _decay_gain(tau(node.tau_syn), contract, name)
        beta, g_mem = _decay_gain(tau(node.tau_mem), contract, name)
        if convention and convention.current_jump:  # Norse: i += x
            g_syn = 1.0
        gain = per_neuron(node.w_in, 1.0) * g_syn * per_neuron(node.r) * g_mem
        bias = per_neuron(node.v_leak) * g_mem
    elif isinstance(node, (nir.LIF, nir.LI)):
        alpha = zeros
        beta, g_mem = _decay_gain(tau(node.tau), contract, name)
        gain = per_neuron(node.r) * g_mem
        bias = per_neuron(node.v_leak) * g_mem
    elif isinstance(node, (nir.IF, nir.I)):
        step = 1.0 if convention and convention.if_gain_per_step else dt  # Norse: v += x
        alpha, beta, gain, bias = zeros, ones, per_neuron(node.r) * step, zeros
    else:  # nir.Threshold: V[t] = x[t]
        alpha, beta, gain, bias = zeros, zeros, ones, zeros
    for label, decay in (("current", alpha), ("voltage", beta)):
        if np.any((decay < 0) | (decay > 1)):
            raise ModelError(
                f"node '{name}': dt={dt:g} s gives a {label} decay outside [0, 1] under the "
                f"{contract.integrator} integrator (dt larger than tau)",
                hint="state the right dt with --dt, or use the exact integrator",
            )
    threshold = per_neuron(getattr(node, "v_threshold", getattr(node, "threshold", None)), np.inf)
    if spiking and contract.spikes == "multi" and np.any(threshold <= 0):
        raise ModelError(
            f"node '{name}': multi-spike neurons need positive thresholds (a threshold <= 0 "
            "gives unbounded spike counts)",
            hint="state --spikes single, or fix the thresholds",
        )
    meta = (getattr(node, "metadata", None) or {}).get(NEURON_METADATA_KEY) or {}
    model = str(meta.get("model", "cuba_lif" if spiking else "cuba_li"))
    pop = Population(
        name=name,
        size=size,
        alpha=alpha,
        beta=beta,
        threshold=threshold if spiking else np.full(size, np.inf),
        bias=bias,
        v_reset=per_neuron(getattr(node, "v_reset", None)),
        reset=contract.reset,
        spiking=spiking,
        model=model,
    )
    return pop, np.asarray(gain, dtype=np.float64)
