"""Retiming a network for a chip whose synapses add delay (an analysis: returns data).

In the float model a feedforward projection delivers in the same step (delay 0); on Loihi every
``Dense`` adds ``synapse_delay_steps`` (1). For each population we find a shift ``sigma`` (chip step
= model step + sigma) and for each projection the chip delay ``d_chip = d_model + sigma(target) -
sigma(source)`` that preserves the model's behaviour exactly, with ``d_chip >= min_delay``. For a
feedforward chain sigma is the depth of the layer; a constant input port starts just in time for its
target (its sigma is the target's minus the synapse delay). A loop whose model delay is shorter than
the chip's synapses allow cannot be preserved; it is listed in ``problems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from snn_deploy.ir.network import DiscreteNetwork


@dataclass(frozen=True)
class ChipTiming:
    shifts: Mapping[str, int]  # input/population name -> chip step minus model step
    delays: Mapping[str, int]  # projection name -> delay on the chip, in steps
    problems: tuple[str, ...]

    @property
    def max_shift(self) -> int:
        return max(self.shifts.values(), default=0)


def model_timing(network: DiscreteNetwork) -> ChipTiming:
    """The identity timing: the model's own delays, no shifts."""
    names = [p.name for p in (*network.inputs, *network.populations)]
    return ChipTiming(
        shifts=MappingProxyType({n: 0 for n in names}),
        delays=MappingProxyType({p.name: p.delay_steps for p in network.projections}),
        problems=(),
    )


def chip_timing(network: DiscreteNetwork, min_delay: int) -> ChipTiming:
    order = {p.name: i for i, p in enumerate(network.inputs)}
    base = len(order)
    order.update({p.name: base + i for i, p in enumerate(network.populations)})
    shifts = {p.name: 0 for p in network.inputs}
    for pop in network.populations:
        forward = [p for p in network.incoming(pop.name) if order[p.source] < order[pop.name]]
        # Never earlier than the inputs: a population cannot start before chip step 0.
        shifts[pop.name] = max(
            [0, *(shifts[p.source] + min_delay - p.delay_steps for p in forward)]
        )
    for port in network.inputs:  # a constant source can start whenever its targets need it
        if port.kind == "constant":
            targets = [p for p in network.projections if p.source == port.name]
            shifts[port.name] = min(
                (shifts[p.target] - min_delay + p.delay_steps for p in targets), default=0
            )
    delays, problems = {}, []
    for p in network.projections:
        d = p.delay_steps + shifts[p.target] - shifts[p.source]
        if d < min_delay:
            problems.append(
                f"projection '{p.name}' ({p.source} -> {p.target}) closes a loop with model delay "
                f"{p.delay_steps} step(s); the chip needs {min_delay - d} more step(s) on it, "
                "so the loop runs slower than in the float model"
            )
            d = min_delay
        delays[p.name] = d
    return ChipTiming(MappingProxyType(shifts), MappingProxyType(delays), tuple(problems))
