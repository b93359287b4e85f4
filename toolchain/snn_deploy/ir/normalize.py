"""``normalize``: a float NIR graph -> :class:`DiscreteNetwork` under a discretization contract.

The transformation (it returns a new network and never modifies the graph):

1. fixes the contract: the graph's own (``metadata[METADATA_KEY]``), or the user's overrides,
   or the default, always recording which and why (``contract.source``, ``notes``);
2. checks every parameter is finite, every edge names a node and every node type is known;
3. turns neuron nodes into populations and weight nodes into projections, broadcasting scalar
   parameters per neuron;
4. discretizes (``euler``: ``decay = 1 - dt/tau``, gain ``dt/tau``; ``exact``: ``decay =
   exp(-dt/tau)``, gain ``1 - decay``) and folds the input gains into the incoming weights, so
   every population has the canonical form of :class:`Population`;
5. marks back edges (found by depth-first search from the inputs) with the contract's recurrent
   delay and orders the populations topologically.

Per node type (NIR 1.0.8 semantics, ../shared/reference/nir.md section 2), with ``a = decay(tau_syn)``,
``b = decay(tau_mem)`` and ``g(tau) = dt/tau`` (euler) or ``1 - decay(tau)`` (exact):

- ``CubaLIF``: alpha = a; beta = b; weights scaled by ``w_in * g(tau_syn) * r * g(tau_mem)``
  (per target neuron); bias = ``v_leak * g(tau_mem)``.
- ``LIF``: alpha = 0; beta = b; weights scaled by ``r * g(tau)``; bias = ``v_leak * g(tau)``.
- ``Linear``/``Affine``: a projection; an ``Affine`` bias enters the current (``current_bias``).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import nir
import numpy as np

from snn_deploy.errors import ModelError, UnsupportedError
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract
from snn_deploy.ir.network import DiscreteNetwork, InputPort, Population, Projection

NEURON_NODES = (nir.CubaLIF, nir.LIF)
WEIGHT_NODES = (nir.Linear, nir.Affine)
KNOWN_NODES = (nir.Input, nir.Output, *NEURON_NODES, *WEIGHT_NODES)


def resolve_contract(graph: nir.NIRGraph, overrides: dict | None = None) -> DiscretizationContract:
    """The graph's contract, then the user's overrides on top; never a silent guess."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    meta = (graph.metadata or {}).get(METADATA_KEY)
    if meta:
        contract = DiscretizationContract.from_metadata(dict(meta))
        why = "the graph's metadata (snn-deploy contract)"
    else:
        contract = DiscretizationContract()
        why = (
            "no contract in the graph's metadata, so snn-deploy's default "
            "(state it with --dt and --reset)"
        )
    if overrides:
        why += "; overridden by the user: " + ", ".join(f"{k}={v}" for k, v in overrides.items())
    return dataclasses.replace(contract, **overrides, source=why)


def normalize(
    graph: nir.NIRGraph, overrides: dict | None = None, calibration: dict | None = None
) -> DiscreteNetwork:
    contract = resolve_contract(graph, overrides)
    nodes, edges = dict(graph.nodes), [tuple(e) for e in graph.edges]
    _check_nodes(nodes, edges)
    preds, succs = defaultdict(list), defaultdict(list)
    for a, b in edges:
        succs[a].append(b)
        preds[b].append(a)

    inputs = []
    for name, node in nodes.items():
        if isinstance(node, nir.Input):
            inputs.append(InputPort(name, _size(node.input_type, name)))
    if not inputs:
        raise ModelError(
            "the graph has no Input node",
            hint="a recurrent graph needs an explicit nir.Input (nir.md section 6)",
        )

    neuron_names = [n for n, node in nodes.items() if isinstance(node, NEURON_NODES)]
    sizes = {p.name: p.size for p in inputs}
    for n in neuron_names:
        sizes[n] = _neuron_size(n, nodes[n], nodes, preds)

    raw_projections = []  # (name, source, target, weight, bias)
    for name, node in nodes.items():
        if not isinstance(node, WEIGHT_NODES):
            continue
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 2:
            raise UnsupportedError(
                f"node '{name}': {type(node).__name__} weight of shape {weight.shape}; only 2-d "
                "weights are supported"
            )
        bias = np.asarray(getattr(node, "bias", 0.0), dtype=np.float64)
        srcs, tgts = preds[name], succs[name]
        for s in srcs:
            if s not in sizes:
                raise UnsupportedError(
                    f"node '{name}' is fed by '{s}' ({type(nodes[s]).__name__}); weight layers "
                    "must be fed by an Input or by neurons",
                    hint="fuse consecutive weight layers into one before deploying",
                )
        for t in tgts:
            if t not in sizes or isinstance(nodes[t], nir.Input):
                raise UnsupportedError(
                    f"node '{name}' feeds '{t}' ({type(nodes[t]).__name__}); a weight layer "
                    "must feed neurons: the chip has no neurons to hold its output",
                    hint="end the network with a layer of neurons (e.g. a LIF readout)",
                )
        for s in srcs:
            for t in tgts:
                if weight.shape != (sizes[t], sizes[s]):
                    raise ModelError(
                        f"node '{name}': weight shape {weight.shape} does not connect "
                        f"'{s}' ({sizes[s]}) to '{t}' ({sizes[t]})",
                        hint="the weight must have shape (target size, source size)",
                    )
                pname = name if len(srcs) * len(tgts) == 1 else f"{name}[{s}->{t}]"
                raw_projections.append((pname, s, t, weight, bias))
    for a, b in edges:  # neuron/input straight into neurons: identity weights
        if a in sizes and b in sizes and not isinstance(nodes[b], nir.Input):
            if sizes[a] != sizes[b]:
                raise ModelError(f"edge '{a}' -> '{b}' joins sizes {sizes[a]} and {sizes[b]}")
            raw_projections.append((f"{a}->{b}", a, b, np.eye(sizes[a]), np.zeros(sizes[b])))

    outputs = []
    for name, node in nodes.items():
        if isinstance(node, nir.Output):
            for s in preds[name]:
                if s not in neuron_names:
                    raise UnsupportedError(
                        f"Output '{name}' is fed by '{s}' ({type(nodes[s]).__name__}); outputs "
                        "must come from neurons on the chip"
                    )
                outputs.append(s)

    order, back = _order(inputs, neuron_names, raw_projections)
    pops, gains = {}, {}
    for n in neuron_names:
        pops[n], gains[n] = _population(n, nodes[n], sizes[n], contract)
    projections, current_bias = [], defaultdict(lambda: 0.0)
    for pname, s, t, w, b in raw_projections:
        g = gains[t][:, None]
        projections.append(Projection(
            name=pname, source=s, target=t, weight=w * g,
            delay_steps=contract.recurrent_delay_steps if (s, t) in back else 0,
        ))
        if np.any(b != 0):
            current_bias[t] = current_bias[t] + np.broadcast_to(b, (sizes[t],)) * gains[t]
    populations = tuple(
        dataclasses.replace(pops[n], current_bias=current_bias[n]) if n in current_bias
        else pops[n] for n in order
    )
    notes = [f"discretization contract: {contract.describe()}"]
    if back:
        notes.append(
            "back edges (delay of "
            f"{contract.recurrent_delay_steps} step): " + ", ".join(f"{s}->{t}" for s, t in back)
        )
    return DiscreteNetwork(
        inputs=tuple(inputs),
        populations=populations,
        projections=tuple(projections),
        outputs=tuple(dict.fromkeys(outputs)),
        contract=contract,
        notes=tuple(notes),
    )


def _check_nodes(nodes: dict, edges: list) -> None:
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ModelError(f"edge ('{a}', '{b}') names '{end}', which is not a node")
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise UnsupportedError(f"node '{name}' is a nested NIRGraph; nested graphs are not "
                                   "supported yet", hint="flatten the graph before deploying")
        if not isinstance(node, KNOWN_NODES):
            known = ", ".join(sorted(t.__name__ for t in KNOWN_NODES))
            raise UnsupportedError(
                f"node '{name}' has type {type(node).__name__}, which snn-deploy does not "
                f"support yet; supported: {known}"
            )
        for field in dataclasses.fields(node):
            value = getattr(node, field.name)
            if isinstance(value, np.ndarray) and value.dtype.kind in "fc":
                bad = int(np.count_nonzero(~np.isfinite(value)))
                if bad:
                    raise ModelError(
                        f"node '{name}': parameter '{field.name}' has {bad} NaN or infinite "
                        "value(s)",
                        hint="fix or retrain the model; snn-deploy cannot quantize non-finite values",
                    )


def _size(type_dict, name: str) -> int:
    shape = next(iter(type_dict.values())) if isinstance(type_dict, dict) else type_dict
    shape = np.asarray(shape, dtype=np.int64).ravel()
    if shape.size != 1:
        raise UnsupportedError(f"node '{name}' has shape {tuple(shape)}; only flat vectors are "
                               "supported yet", hint="flatten the input before deploying")
    return int(shape[0])


def _neuron_size(name: str, node, nodes: dict, preds: dict) -> int:
    sizes = {np.asarray(getattr(node, f.name)).size for f in dataclasses.fields(node)
             if isinstance(getattr(node, f.name), np.ndarray) and np.ndim(getattr(node, f.name))}
    for p in preds[name]:
        w = getattr(nodes[p], "weight", None)
        if w is not None and np.ndim(w) == 2:
            sizes.add(np.shape(w)[0])
    if len(sizes) != 1:
        raise ModelError(
            f"node '{name}': parameters and incoming weights disagree on the number of neurons "
            f"({sorted(sizes) if sizes else 'none given'})"
        )
    return sizes.pop()


def _order(inputs, neuron_names, projections):
    """Topological order of the populations and the set of back edges (source, target)."""
    succ = defaultdict(list)
    for _, s, t, _, _ in projections:
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
    indeg = {n: 0 for n in neuron_names}
    for _, s, t, _, _ in projections:
        if (s, t) not in back and t in indeg:
            indeg[t] += 1
    ready = [i.name for i in inputs]
    order = []
    while ready:
        n = ready.pop(0)
        if n in indeg:
            order.append(n)
        for t in succ[n]:
            if (n, t) in back or t not in indeg:
                continue
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    return order, back


def _decay_gain(tau, contract: DiscretizationContract):
    tau = np.asarray(tau, dtype=np.float64)
    if np.any(tau <= 0):
        raise ModelError("time constants must be positive")
    if contract.integrator == "euler":
        return 1.0 - contract.dt_seconds / tau, contract.dt_seconds / tau
    decay = np.exp(-contract.dt_seconds / tau)
    return decay, 1.0 - decay


def _population(name: str, node, size: int, contract: DiscretizationContract):
    def per_neuron(value, default=0.0):
        v = np.asarray(default if value is None else value, dtype=np.float64)
        if v.size not in (1, size):
            raise ModelError(f"node '{name}': a parameter has {v.size} values for {size} neurons")
        return np.broadcast_to(v.reshape(-1) if v.size == size else v.reshape(()), (size,))

    if isinstance(node, nir.CubaLIF):
        alpha, g_syn = _decay_gain(per_neuron(node.tau_syn), contract)
        beta, g_mem = _decay_gain(per_neuron(node.tau_mem), contract)
        gain = per_neuron(node.w_in, 1.0) * g_syn * per_neuron(node.r) * g_mem
    else:  # nir.LIF: no synaptic current
        alpha = np.zeros(size)
        beta, g_mem = _decay_gain(per_neuron(node.tau), contract)
        gain = per_neuron(node.r) * g_mem
    for label, decay in (("current", alpha), ("voltage", beta)):
        if np.any((decay < 0) | (decay > 1)):
            raise ModelError(
                f"node '{name}': dt={contract.dt_seconds:g} s gives a {label} decay outside "
                "[0, 1] under the Euler integrator (dt larger than tau)",
                hint="state the right dt with --dt, or use the exact integrator",
            )
    pop = Population(
        name=name,
        size=size,
        alpha=alpha,
        beta=beta,
        threshold=per_neuron(node.v_threshold),
        bias=per_neuron(node.v_leak) * g_mem,
        v_reset=per_neuron(node.v_reset),
        reset=contract.reset,
    )
    return pop, np.asarray(gain, dtype=np.float64)
