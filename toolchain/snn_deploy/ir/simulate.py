"""Float reference simulator of a :class:`DiscreteNetwork` (numpy, float64).

Implements the equations of :class:`Population`; with the contract's ``reset_delay`` (snnTorch's
default ``reset_delay=True``) a spike at step t resets at step t + 1 instead:
``V[t] = beta * V[t-1] + I[t] + bias - threshold * s[t-1]`` (subtract), or ``V[t-1]`` replaced by
``v_reset`` before the decay (zero).

With ``threshold = ">="`` (Sinabs) a neuron spikes at ``V >= threshold``. With ``spikes = "multi"``
(Sinabs' ``MultiSpike``) a neuron emits ``n`` spikes in one step, ``n`` the number of times the
comparison holds while the threshold is subtracted (``floor(V / threshold)`` for ``>=``,
``ceil(V / threshold) - 1`` for ``>``), sends the count ``n`` along its projections, and its
reset subtracts ``n * threshold`` (or sets ``v_reset`` where ``n > 0``).

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


def calibrate(network: DiscreteNetwork, inputs: dict, percentile: float = 100.0) -> dict:
    """Ranges of each population's current I and voltage V (before reset) on ``inputs``:
    ``{pop: {"max_abs_current", "max_abs_voltage"}}``, the form quantizers read. ``percentile``
    < 100 ignores the most extreme values (their share is then clipped or wrapped)."""
    res = simulate(network, inputs, record_state=True)
    out = {}
    for name, (cur, volt) in res.state.items():
        out[name] = {
            "max_abs_current": float(np.percentile(np.abs(cur), percentile)),
            "max_abs_voltage": float(np.percentile(np.abs(volt), percentile)),
        }
    return out


@dataclass(frozen=True)
class SimResult:
    """``spikes[pop]`` is (batch, steps, size) bool (int32 spike counts under a multi-spike
    contract); ``voltage[pop]`` (batch, steps, size) for
    the populations asked for in ``record_voltage`` and every non-spiking population."""

    spikes: dict
    voltage: dict
    num_steps: int
    state: dict = None  # pop -> (I, V before reset), each (batch, steps, size), if asked


def check_inputs(network, inputs: dict) -> tuple[int, int]:
    """Batch size and number of steps of ``inputs`` (name -> (batch, steps, size) array) for any
    network product with ``inputs`` ports (float or integer); constant ports need no data."""
    shapes = set()
    for port in network.inputs:
        if port.kind == "constant":
            continue
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


def input_arrays(network, inputs: dict, steps: int, shifts: dict, binary: bool = True) -> dict:
    """Every port's (batch, steps, size) array: the data given (cut or zero-padded to ``steps``)
    and, for constant ports, spikes at every step from the port's shift on. ``binary`` (chips)
    requires 0/1 spikes; the float reference also takes graded inputs (currents)."""
    batch, _ = check_inputs(network, inputs)
    out = {}
    for port in network.inputs:
        a = np.zeros((batch, steps, port.size), dtype=bool if binary else np.float64)
        if port.kind == "constant":
            a[:, shifts.get(port.name, 0) :] = 1
        else:
            x = np.asarray(inputs[port.name])[:, :steps]
            if binary and x.dtype != bool and not np.isin(x, (0, 1)).all():
                raise ModelError(
                    f"input '{port.name}' holds values other than 0 and 1; the chip takes binary "
                    "spikes",
                    hint="encode the data as spikes (see snn_deploy.data)",
                )
            a[:, : x.shape[1]] = x
        out[port.name] = a
    return out


def simulate(
    network: DiscreteNetwork,
    inputs: dict,
    timing: ChipTiming | None = None,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
    record_state: bool = False,
) -> SimResult:
    """Run ``network`` on ``inputs``; steps beyond the input length get zero input."""
    batch, in_steps = check_inputs(network, inputs)
    timing = timing or model_timing(network)
    steps = in_steps if num_steps is None else num_steps
    sizes = {p.name: p.size for p in (*network.inputs, *network.populations)}
    hist = {n: np.zeros((batch, steps, s), dtype=np.float64) for n, s in sizes.items()}
    for name, x in input_arrays(network, inputs, steps, timing.shifts, binary=False).items():
        hist[name][:] = x
    current = {p.name: np.zeros((batch, p.size)) for p in network.populations}
    volt = {p.name: np.zeros((batch, p.size)) for p in network.populations}
    traces = {
        p.name: np.zeros((batch, steps, p.size))
        for p in network.populations
        if p.name in record_voltage or not p.spiking
    }
    state = (
        {
            p.name: (np.zeros((batch, steps, p.size)), np.zeros((batch, steps, p.size)))
            for p in network.populations
        }
        if record_state
        else None
    )
    incoming = {p.name: network.incoming(p.name) for p in network.populations}
    delays = timing.delays
    delayed = network.contract.reset_delay
    recheck = network.contract.subtract_recheck
    multi = network.contract.spikes == "multi"
    at_threshold = network.contract.threshold == ">="
    for t in range(steps):
        for pop in network.populations:
            x = np.zeros((batch, pop.size))
            for proj in incoming[pop.name]:
                src_t = t - delays[proj.name]
                if src_t >= 0:
                    x += project(proj.weight, hist[proj.source][:, src_t])
            i_prev = current[pop.name]
            i_now = pop.alpha * i_prev + x
            drive = i_now if network.contract.current_drive == "same_step" else i_prev
            v_prev = volt[pop.name]
            if delayed and pop.spiking and t > 0:  # last step's spike resets now
                s_prev = hist[pop.name][:, t - 1].astype(bool)
                if pop.reset == "zero":
                    v_prev = np.where(s_prev, pop.v_reset, v_prev)
            v = pop.beta * v_prev + drive + pop.bias
            if delayed and pop.spiking and t > 0 and pop.reset == "subtract":
                v = v - s_prev * pop.threshold
            current[pop.name] = i_now
            if state is not None:
                state[pop.name][0][:, t] = i_now
                state[pop.name][1][:, t] = v
            if pop.spiking:
                if multi:
                    s = spike_counts(v, pop.threshold, at_threshold)
                elif recheck and pop.reset == "subtract":  # snnTorch: V - theta if still above
                    s = (v - (volt[pop.name] > pop.threshold) * pop.threshold) > pop.threshold
                elif at_threshold:
                    s = v >= pop.threshold
                else:
                    s = v > pop.threshold
                if not delayed:
                    v = (
                        np.where(s > 0, pop.v_reset, v)
                        if pop.reset == "zero"
                        else v - s * pop.threshold
                    )
                hist[pop.name][:, t] = s
            volt[pop.name] = v
            if pop.name in traces:
                traces[pop.name][:, t] = v
    kind = np.int32 if multi else bool
    spikes = {p.name: hist[p.name].astype(kind) for p in network.populations if p.spiking}
    return SimResult(spikes=spikes, voltage=traces, num_steps=steps, state=state)


def spike_counts(v: np.ndarray, threshold: np.ndarray, at_threshold: bool) -> np.ndarray:
    """Spikes of multi-spike neurons in one step: how many times ``V >= threshold`` (or ``>``)
    holds while the threshold is subtracted; Sinabs' ``MultiSpike`` computes
    ``(V > 0) * trunc(V / threshold)``, the same for a positive threshold."""
    q = v / threshold
    n = np.floor(q) if at_threshold else np.ceil(q) - 1.0
    return np.where(v > 0, np.maximum(n, 0.0), 0.0)
