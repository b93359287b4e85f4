"""Xylo Audio 2's fixed layout, read-only: one input port of at most 16 channels, one hidden
population (at most 1000 neurons, recurrent allowed), one output population (at most 8 neurons)
fed by the hidden population only. Every problem is one :class:`Violation` naming the layer, the
limit and the fix."""

from __future__ import annotations

from snn_deploy.errors import Violation
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.network import QuantizedNetwork


def roles(qnet: QuantizedNetwork) -> tuple[str | None, str | None]:
    """(hidden population, output population) names, None where there is not exactly one."""
    outs = [p.name for p in qnet.populations if p.name in qnet.outputs]
    hidden = [p.name for p in qnet.populations if p.name not in qnet.outputs]
    return (hidden[0] if len(hidden) == 1 else None, outs[0] if len(outs) == 1 else None)


def check_xylo(qnet: QuantizedNetwork, profile: HardwareProfile) -> list[Violation]:
    key, num = profile.key, profile.numerics
    out = []
    spikes = [i for i in qnet.inputs if i.kind == "spikes"]
    if len(qnet.inputs) != 1 or len(spikes) != 1:
        out.append(
            Violation("", "input ports", len(qnet.inputs), 1, key("numerics", "max_input_channels"),
                      "give the network one spike input (biases go into the neurons' bias)")
        )  # fmt: skip
    for i in spikes:
        if i.size > num.max_input_channels:
            out.append(
                Violation(i.name, "input channels", i.size, num.max_input_channels,
                          key("numerics", "max_input_channels"),
                          f"reduce the input to {num.max_input_channels} channels")
            )  # fmt: skip
    hidden, output = roles(qnet)
    n_out = len([p for p in qnet.populations if p.name in qnet.outputs])
    n_hidden = len(qnet.populations) - n_out
    if n_out != 1:
        out.append(
            Violation("", "output layers", n_out, 1, key("numerics", "max_output_neurons"),
                      "give the network one output layer (Xylo's readout)")
        )  # fmt: skip
    if n_hidden != 1:
        out.append(
            Violation("", "hidden layers", n_hidden, 1, key("numerics", "max_hidden_neurons"),
                      "Xylo has one (recurrent) hidden layer: merge the hidden layers into one")
        )  # fmt: skip
    max_out = num.max_output_neurons
    if output is not None and qnet.population(output).size > max_out:
        out.append(
            Violation(output, "output neurons", qnet.population(output).size, max_out,
                      key("numerics", "max_output_neurons"),
                      f"reduce '{output}' to {max_out} neurons")
        )  # fmt: skip
    max_hidden = num.max_hidden_neurons
    if hidden is not None and qnet.population(hidden).size > max_hidden:
        out.append(
            Violation(hidden, "hidden neurons", qnet.population(hidden).size, max_hidden,
                      key("numerics", "max_hidden_neurons"),
                      f"reduce '{hidden}' to {max_hidden} neurons")
        )  # fmt: skip
    allowed = {(i.name, hidden) for i in spikes} | {(hidden, hidden), (hidden, output)}
    for p in qnet.projections:
        if (p.source, p.target) not in allowed:
            out.append(
                Violation(
                    p.name,
                    "connection",
                    f"{p.source} -> {p.target}",
                    "input -> hidden, hidden -> hidden, hidden -> output",
                    key("chip", "arithmetic"),
                    "Xylo wires only these; restructure the network",
                    relation="is not one of",
                )
            )
    seen = set()
    for p in qnet.projections:
        if (p.source, p.target) in seen:
            out.append(
                Violation(p.name, "parallel connections", 2, 1, key("chip", "arithmetic"),
                          "sum the parallel weight matrices into one")
            )  # fmt: skip
        seen.add((p.source, p.target))
    return out
