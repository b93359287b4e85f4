"""Float reference simulator of a :class:`DiscreteNetwork` (numpy, float64).

The golden model against which quantization is measured. It runs either in model time (the
network's own delays, as the training framework ran it) or in chip time (a :class:`ChipTiming`,
so that its spikes line up step for step with the emulator's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_deploy.errors import ModelError
from snn_deploy.ir.network import DiscreteNetwork, project
from snn_deploy.ir.timing import ChipTiming, model_timing


@dataclass(frozen=True)
class SimResult:
    """``spikes[pop]`` is (batch, steps, size) bool; ``voltage[pop]`` (batch, steps, size) for
    the populations asked for in ``record_voltage`` and every non-spiking population."""

    spikes: dict
    voltage: dict
    num_steps: int


def check_inputs(network, inputs: dict) -> tuple[int, int]:
    """Batch size and number of steps of ``inputs`` (name -> (batch, steps, size) array) for any
    network product with ``inputs`` ports (float or integer)."""
    shapes = set()
    for port in network.inputs:
        if port.name not in inputs:
            raise ModelError(f"no data for network input '{port.name}'")
        x = np.asarray(inputs[port.name])
        if x.ndim != 3 or x.shape[2] != port.size:
            raise ModelError(
                f"input '{port.name}' must have shape (batch, steps, {port.size}), got {x.shape}"
            )
        shapes.add(x.shape[:2])
    if len(shapes) != 1:
        raise ModelError(f"inputs disagree on (batch, steps): {sorted(shapes)}")
    return shapes.pop()


def simulate(
    network: DiscreteNetwork,
    inputs: dict,
    timing: ChipTiming | None = None,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
) -> SimResult:
    """Run ``network`` on ``inputs``; steps beyond the input length get zero input."""
    batch, in_steps = check_inputs(network, inputs)
    timing = timing or model_timing(network)
    steps = in_steps if num_steps is None else num_steps
    sizes = {p.name: p.size for p in (*network.inputs, *network.populations)}
    hist = {n: np.zeros((batch, steps, s), dtype=np.float64) for n, s in sizes.items()}
    for port in network.inputs:
        x = np.asarray(inputs[port.name], dtype=np.float64)[:, :steps]
        hist[port.name][:, : x.shape[1]] = x
    current = {p.name: np.zeros((batch, p.size)) for p in network.populations}
    volt = {p.name: np.zeros((batch, p.size)) for p in network.populations}
    traces = {
        p.name: np.zeros((batch, steps, p.size))
        for p in network.populations
        if p.name in record_voltage or not p.spiking
    }
    incoming = {p.name: network.incoming(p.name) for p in network.populations}
    delays = timing.delays
    for t in range(steps):
        for pop in network.populations:
            x = np.zeros((batch, pop.size))
            for proj in incoming[pop.name]:
                src_t = t - delays[proj.name]
                if src_t >= 0:
                    x += project(proj.weight, hist[proj.source][:, src_t])
            i_prev = current[pop.name]
            i_now = pop.alpha * i_prev + x + pop.current_bias
            drive = i_now if network.contract.current_drive == "same_step" else i_prev
            v = pop.beta * volt[pop.name] + drive + pop.bias
            current[pop.name] = i_now
            if pop.spiking:
                s = v > pop.threshold
                if pop.reset == "zero":
                    v = np.where(s, pop.v_reset, v)
                else:
                    v = v - s * pop.threshold
                hist[pop.name][:, t] = s
            volt[pop.name] = v
            if pop.name in traces:
                traces[pop.name][:, t] = v
    spikes = {p.name: hist[p.name].astype(bool) for p in network.populations if p.spiking}
    return SimResult(spikes=spikes, voltage=traces, num_steps=steps)
