"""Populations split into groups of equal integer parameters: one Lava process per group.

Lava's ``LIF`` takes one ``du``, ``dv`` and ``vth`` per process (lava/proc/lif/process.py; the
profile's ``[neurons].per_neuron_decays`` and ``per_neuron_threshold`` are false). A population
whose neurons differ in them runs as several processes, one per group:

- ``assign_groups`` numbers each neuron's group: the fewest groups, one per distinct tuple of the
  parameters the chip holds once per process, numbered in order of first appearance. The
  population keeps its per-neuron arrays in the user's neuron order; ``QPopulation.groups`` says
  which neuron runs in which process.
- ``split_groups`` writes the network out as the chip runs it: one population per group (named
  ``<population>:g<k>``) and one projection per pair of (source group, target group), recurrent
  ones and the readout's included, every integer and every projection's exponent, weight bits
  and sign mode unchanged (``<projection>[<source>><target>]``; empty sparse pieces are left out).
- ``merge_groups`` puts the groups' spikes, states and traces back in each population's order.

Splitting changes no neuron's arithmetic: a neuron's update reads its own parameters and the
weights of its own row, whichever process holds it. The emulator therefore runs either form and
computes the same integers (tests/test_legalize.py runs both, and Lava on the split form). A
network with split populations is no longer a chain of one process per layer
(``QuantizedNetwork.split_populations``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from snn_deploy.quantize.network import QPopulation, QProjection, QuantizedNetwork

# Per arithmetic: the LIF parameter fields that a flag of [neurons] makes one-per-process.
SHARED_FIELDS = {"loihi": {"per_neuron_decays": ("du", "dv"), "per_neuron_threshold": ("vth",)}}


def shared_fields(arithmetic: str, neurons) -> tuple[str, ...]:
    """The parameters the chip holds once per process (empty: every one per neuron)."""
    out: tuple[str, ...] = ()
    for flag, fields in SHARED_FIELDS.get(arithmetic, {}).items():
        if not getattr(neurons, flag):
            out += fields
    return out


def group_of(params, fields: tuple[str, ...]) -> np.ndarray:
    """Each neuron's group: equal values of ``fields`` share one, numbered by first appearance."""
    if not fields:
        return np.zeros(len(getattr(params, dataclasses.fields(params)[0].name)), np.int64)
    keys = np.stack([np.asarray(getattr(params, f)) for f in fields], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[np.asarray(inverse).ravel()]


def assign_groups(qnet: QuantizedNetwork, fields: tuple[str, ...]) -> QuantizedNetwork:
    """``qnet`` with ``groups`` set on every population whose neurons differ in ``fields``."""
    pops = []
    for p in qnet.populations:
        g = group_of(p.params, fields)
        pops.append(dataclasses.replace(p, groups=g if g.size and g.max() > 0 else None))
    return dataclasses.replace(qnet, populations=tuple(pops))


def group_name(population: str, k: int) -> str:
    return f"{population}:g{k}"


def members(qnet: QuantizedNetwork) -> dict[str, list[tuple[str, np.ndarray]]]:
    """population or input -> its processes, each (name, indices of its neurons)."""
    out = {i.name: [(i.name, np.arange(i.size))] for i in qnet.inputs}
    for p in qnet.populations:
        if p.groups is None:
            out[p.name] = [(p.name, np.arange(p.size))]
        else:
            out[p.name] = [
                (group_name(p.name, k), np.flatnonzero(p.groups == k))
                for k in range(int(p.groups.max()) + 1)
            ]
    return out


def _take(params, idx: np.ndarray):
    return type(params)(
        **{f.name: getattr(params, f.name)[idx] for f in dataclasses.fields(params)}
    )


def _piece(weight, rows: np.ndarray, cols: np.ndarray):
    if sp.issparse(weight):
        return sp.csr_matrix(weight[rows][:, cols])
    return np.asarray(weight)[np.ix_(rows, cols)]


def split_groups(qnet: QuantizedNetwork) -> QuantizedNetwork:
    """The network as the chip runs it: one population per group, projections cut to match.
    A network without groups is returned as it is."""
    if not qnet.split_populations:
        return qnet
    parts = members(qnet)
    pops = [
        QPopulation(
            name=name,
            size=idx.size,
            model=p.model,
            params=_take(p.params, idx),
            scale=p.scale,
            shift_steps=p.shift_steps,
            spiking=p.spiking,
        )
        for p in qnet.populations
        for name, idx in parts[p.name]
    ]
    projs = []
    for proj in qnet.projections:
        single = len(parts[proj.source]) == 1 and len(parts[proj.target]) == 1
        for tname, rows in parts[proj.target]:
            for sname, cols in parts[proj.source]:
                w = _piece(proj.weight, rows, cols)
                if sp.issparse(w) and w.nnz == 0:
                    continue
                projs.append(
                    QProjection(
                        name=proj.name if single else f"{proj.name}[{sname}>{tname}]",
                        source=sname,
                        target=tname,
                        weight=w,
                        params=proj.params,
                        delay_steps=proj.delay_steps,
                    )
                )
    outputs = tuple(name for out in qnet.outputs for name, _ in parts[out])
    return dataclasses.replace(
        qnet, populations=tuple(pops), projections=tuple(projs), outputs=outputs
    )


def merge_groups(qnet: QuantizedNetwork, result):
    """A result (``EmulationResult``) of ``split_groups(qnet)`` in ``qnet``'s populations and
    neuron order."""
    from snn_deploy.backends.emulator.result import EmulationResult

    if not qnet.split_populations:
        return result
    parts = members(qnet)

    def gather(table: dict, pop) -> np.ndarray | None:
        names = [name for name, _ in parts[pop.name]]
        if not all(n in table for n in names):
            return None
        first = np.asarray(table[names[0]])
        out = np.zeros((*first.shape[:-1], pop.size), dtype=first.dtype)
        for name, idx in parts[pop.name]:
            out[..., idx] = table[name]
        return out

    spikes, final, voltage, events = {}, {}, {}, {}
    for pop in qnet.populations:
        for table, into in ((result.spikes, spikes), (result.voltage, voltage)):
            merged = gather(table, pop)
            if merged is not None:
                into[pop.name] = merged
        names = [name for name, _ in parts[pop.name]]
        if all(n in result.final_state for n in names):
            state_vars = result.final_state[names[0]]
            final[pop.name] = {
                var: gather({n: result.final_state[n][var] for n in names}, pop)
                for var in state_vars
            }
        for n in names:
            for k, v in result.events.get(n, {}).items():
                events.setdefault(pop.name, {})
                events[pop.name][k] = events[pop.name].get(k, 0) + v
    return EmulationResult(
        spikes=spikes,
        final_state=final,
        num_steps=result.num_steps,
        voltage=voltage,
        events=events,
    )


def split_reason(qnet: QuantizedNetwork) -> str | None:
    """Why ``qnet`` is not a chain of one process per layer (None if it is one): for an exporter
    that can only write chains (netx) to refuse it with this reason."""
    split = qnet.split_populations
    if not split:
        return None
    layers = ", ".join(f"'{name}' into {k}" for name, k in split.items())
    return (
        f"layers split into groups of equal decays and thresholds ({layers}) run as several "
        "processes each, which is not a chain of one layer per process"
    )
