"""Place populations on neuro-cores: split what is too large for one core, pack what is small.

Memory model (profile ``[core]``; an estimate where the vendor publishes none, labelled so in the
profile): a neuron costs ``neuron_bits`` plus, for every incoming synapse, its weight bits (as the
arithmetic stores them: Loihi ``num_weight_bits`` plus a sign bit in MIXED mode), its delay bits if
the synapse needs a delay
beyond the chip's fixed one, and ``synapse_overhead_bits``. Dense projections store every entry,
zeros included; sparse ones (lowered convolutions) store their non-zeros, each with the index of
its source (``ceil(log2(source size))`` bits, our estimate). A neuron's fan-in is its number of
stored synapses. A core holds at most ``max_neurons`` neurons and ``memory_bytes`` of them.

Placement: populations in network order; each is cut into the fewest equal slices that fit one
core each, and slices are packed first-fit into consecutive cores, so neighbouring layers share
cores and inter-core traffic stays local. ``plan_cores`` is an analysis: it returns the plan and
the violations, and raises nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.groups import members, split_groups
from snn_deploy.quantize.network import QuantizedNetwork


@dataclass(frozen=True)
class Slice:
    """Neurons ``start:stop`` of ``population``, with their memory in bits."""

    population: str
    start: int
    stop: int
    memory_bits: int

    @property
    def neurons(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class CoreAssignment:
    core: int
    chip: int
    slices: tuple[Slice, ...]
    input_axons: int = 0  # distinct (projection, source neuron) pairs reaching this core
    output_axons: int = 0  # sum over its neurons of the distinct cores they send to

    @property
    def neurons(self) -> int:
        return sum(s.neurons for s in self.slices)

    @property
    def memory_bits(self) -> int:
        return sum(s.memory_bits for s in self.slices)


@dataclass(frozen=True)
class PopulationFootprint:
    population: str
    neurons: int
    fan_in: int  # synapses per neuron
    bits_per_neuron: int  # neuron state + incoming synapses
    neurons_per_core: int  # what one core can hold (0: not even one neuron fits)
    cores: int


@dataclass(frozen=True)
class MappedNetwork:
    target: str
    cores: tuple[CoreAssignment, ...]
    footprints: tuple[PopulationFootprint, ...]
    cores_available: int
    max_neurons_per_core: int
    memory_bits_per_core: int
    not_checked: tuple[str, ...] = field(default=())
    groups: tuple[tuple[str, str, tuple[int, ...]], ...] = field(default=())  # (group, pop, ids)

    def to_dict(self) -> dict:
        extra = {}
        if self.groups:
            extra["groups"] = {
                g: {"population": pop, "neurons": list(ids)} for g, pop, ids in self.groups
            }
        return {
            "target": self.target,
            "cores_used": len(self.cores),
            "cores_available": self.cores_available,
            "max_neurons_per_core": self.max_neurons_per_core,
            "memory_bits_per_core": self.memory_bits_per_core,
            "populations": [vars(f) for f in self.footprints],
            "cores": [
                {
                    "core": c.core,
                    "chip": c.chip,
                    "neurons": c.neurons,
                    "memory_bits": c.memory_bits,
                    "input_axons": c.input_axons,
                    "output_axons": c.output_axons,
                    "slices": [vars(s) for s in c.slices],
                }
                for c in self.cores
            ],
            "not_checked": list(self.not_checked),
            **extra,
        }

    def cores_of(self, population: str) -> int:
        """Cores holding neurons of ``population`` (of any of its groups)."""
        owner = {g: pop for g, pop, _ in self.groups}
        return sum(
            any(owner.get(s.population, s.population) == population for s in c.slices)
            for c in self.cores
        )


def synapse_bits(qnet: QuantizedNetwork, profile: HardwareProfile, proj) -> int:
    num = profile.numerics
    bits = proj.params.stored_bits(num)
    if proj.delay_steps > num.synapse_delay_steps:
        bits += num.delay_bits
    if sp.issparse(proj.weight):
        bits += max(1, math.ceil(math.log2(max(qnet.size_of(proj.source), 2))))
    return bits + profile.core.synapse_overhead_bits


def synapses_per_neuron(qnet: QuantizedNetwork, proj) -> int:
    """Stored synapses of the neuron with the most: all sources if dense, its non-zeros if not."""
    if sp.issparse(proj.weight):
        return int(np.diff(proj.weight.indptr).max(initial=0))
    return qnet.size_of(proj.source)


def _sources_of_rows(proj, start: int, stop: int, n_source: int) -> np.ndarray:
    """Source neurons with a synapse into target rows start:stop (all of them if dense)."""
    if sp.issparse(proj.weight):
        w = proj.weight
        return np.unique(w.indices[w.indptr[start] : w.indptr[stop]])
    return np.arange(n_source)


def _axons(qnet: QuantizedNetwork, cores: list[list[Slice]]) -> tuple[list[int], list[int]]:
    """Input and output axons of every core (the routing tables a chip must hold)."""
    where = {}  # population -> list of (start, stop, core)
    for ci, c in enumerate(cores):
        for s in c:
            where.setdefault(s.population, []).append((s.start, s.stop, ci))
    axons_in = [0] * len(cores)
    axons_out = [0] * len(cores)
    for proj in qnet.projections:
        n_src = qnet.size_of(proj.source)
        dest_cores = np.zeros((n_src, len(cores)), dtype=bool) if proj.source in where else None
        per_core: dict[int, set | np.ndarray] = {}
        for start, stop, ci in where.get(proj.target, []):
            srcs = _sources_of_rows(proj, start, stop, n_src)
            prev = per_core.get(ci)
            per_core[ci] = srcs if prev is None else np.union1d(prev, srcs)
            if dest_cores is not None:
                dest_cores[srcs, ci] = True
        for ci, srcs in per_core.items():
            axons_in[ci] += len(srcs)
        if dest_cores is not None:
            fan = dest_cores.sum(axis=1)
            for start, stop, ci in where[proj.source]:
                axons_out[ci] += int(fan[start:stop].sum())
    return axons_in, axons_out


def plan_cores(qnet: QuantizedNetwork, profile: HardwareProfile):
    """Returns ``(MappedNetwork, violations)``."""
    groups = tuple(
        (name, pop, tuple(int(i) for i in idx))
        for pop, parts in members(qnet).items()
        if pop in qnet.split_populations
        for name, idx in parts
    )
    qnet = split_groups(qnet)
    core = profile.core
    memory_bits = core.memory_bytes * 8
    violations: list[Violation] = []
    footprints, slices = [], []
    for pop in qnet.populations:
        incoming = qnet.incoming(pop.name)
        fan_in = sum(synapses_per_neuron(qnet, p) for p in incoming)
        per_neuron = core.neuron_bits + sum(
            synapses_per_neuron(qnet, p) * synapse_bits(qnet, profile, p) for p in incoming
        )
        per_core = min(core.max_neurons, memory_bits // per_neuron)
        n_cores = math.ceil(pop.size / per_core) if per_core else 0
        footprints.append(
            PopulationFootprint(pop.name, pop.size, fan_in, per_neuron, per_core, n_cores)
        )
        if per_core == 0:
            violations.append(
                Violation(
                    layer=pop.name,
                    what=f"memory of one neuron (fan-in {fan_in:,} synapses) in bits",
                    value=per_neuron,
                    limit=memory_bits,
                    key=profile.key("core", "memory_bytes"),
                    fix=f"reduce the fan-in of '{pop.name}' (fewer or sparser inputs) or quantize "
                    "its weights to fewer bits",
                )
            )
            continue
        if n_cores > profile.total_cores:
            violations.append(
                Violation(
                    layer=pop.name,
                    what=f"cores needed for {pop.size:,} neurons (at most {per_core:,} per core)",
                    value=n_cores,
                    limit=profile.total_cores,
                    key=f"{profile.key('chip', 'cores_per_chip')} x [chip].max_chips",
                    fix=f"make '{pop.name}' smaller, or give the system more chips "
                    f"(--chips {math.ceil(n_cores / profile.chip.cores_per_chip)})",
                )
            )
        base, extra = divmod(pop.size, n_cores)
        start = 0
        for i in range(n_cores):
            stop = start + base + (1 if i < extra else 0)
            slices.append(Slice(pop.name, start, stop, (stop - start) * per_neuron))
            start = stop
    cores: list[list[Slice]] = []
    # A chip that runs one population slice per core (sPyNNaker: one machine vertex per core)
    # says so in its [numerics].populations_per_core.
    shared = getattr(profile.numerics, "populations_per_core", None) != 1
    for s in slices:
        last = cores[-1] if cores else None
        if (
            shared
            and last is not None
            and (
                sum(x.neurons for x in last) + s.neurons <= core.max_neurons
                and sum(x.memory_bits for x in last) + s.memory_bits <= memory_bits
            )
        ):
            last.append(s)
        else:
            cores.append([s])
    axons_in, axons_out = _axons(qnet, cores)
    assignments = tuple(
        CoreAssignment(
            core=i,
            chip=i // profile.chip.cores_per_chip,
            slices=tuple(c),
            input_axons=axons_in[i],
            output_axons=axons_out[i],
        )
        for i, c in enumerate(cores)
    )
    for k, attr, what in (
        ("max_input_axons", "input_axons", "input axons"),
        ("max_output_axons", "output_axons", "output axons"),
    ):
        limit = getattr(core, k)
        if limit is None:
            continue
        for a in assignments:
            if getattr(a, attr) > limit:
                violations.append(
                    Violation(
                        layer=", ".join(dict.fromkeys(s.population for s in a.slices)),
                        core=a.core,
                        what=what,
                        value=getattr(a, attr),
                        limit=limit,
                        key=profile.key("core", k),
                        fix="spread the layer over more cores (fewer neurons per core) or reduce "
                        "its connectivity",
                    )
                )
    if len(assignments) > profile.total_cores and not any(
        v.what.startswith("cores needed") for v in violations
    ):
        violations.append(
            Violation(
                layer="",
                what="cores needed",
                value=len(assignments),
                limit=profile.total_cores,
                key=f"{profile.key('chip', 'cores_per_chip')} x [chip].max_chips",
                fix="make the network smaller, or give the system more chips "
                f"(--chips {math.ceil(len(assignments) / profile.chip.cores_per_chip)})",
            )
        )
    not_checked = tuple(
        f"{profile.key('core', k)}: not published for {profile.chip.title}"
        for k in ("max_fan_in", "max_fan_out", "max_input_axons", "max_output_axons")
        if getattr(core, k) is None
    )
    for k, label in (("max_fan_in", "fan-in"),):
        limit = getattr(core, k)
        if limit is not None:
            for f in footprints:
                if f.fan_in > limit:
                    violations.append(
                        Violation(
                            layer=f.population,
                            what=label,
                            value=f.fan_in,
                            limit=limit,
                            key=profile.key("core", k),
                            fix=f"reduce the number of inputs of '{f.population}'",
                        )
                    )
    mapped = MappedNetwork(
        target=profile.name,
        cores=assignments,
        footprints=tuple(footprints),
        cores_available=profile.total_cores,
        max_neurons_per_core=core.max_neurons,
        memory_bits_per_core=memory_bits,
        not_checked=not_checked,
        groups=groups,
    )
    return mapped, violations
