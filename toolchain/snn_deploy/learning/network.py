"""Networks with plastic synapses, as the chip runs them (Lava processes, one-to-one).

A compiled network does not build one by hand: :func:`snn_deploy.learning.deploy.plastic_view`
makes it from the ``QuantizedNetwork`` and its learning configuration (``compile --plastic``),
so the compile flow, the emulator and the Lava bridge share one integer network; the demos
write theirs directly.

``PlasticNetwork`` lists spike sources (Lava ``RingBuffer``), neuron populations (Lava's
bit-accurate ``LIF``, or a three-factor LIF with a neuron program) and connections (``Dense``,
or ``LearningDense`` when ``rule`` is set). Values are the integers handed to Lava. The
emulator (``backends/emulator/learning.py``) and the Lava learning runner
(``backends/lava/learning_runner.py``) build the same network from this description.

Connection ports: ``source_port`` is ``s_out`` (spikes) or ``aux`` (a three-factor neuron's
graded output); ``target_port`` is ``a_in`` (synaptic input) or ``a3`` (third-factor input,
Lava ``a_third_factor_in``). ``graded`` connections multiply weights by the payload
(``num_message_bits > 0``). A plastic connection's post neurons send their spikes back to it as
back-propagating action potentials; in three-factor mode also their ``y1..y3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snn_deploy.errors import ModelError
from snn_deploy.learning.microcode import NeuronProgram
from snn_deploy.learning.rule import LearningRule


def _ints(a, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind not in "iub":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ModelError(f"{what}: integer values expected")
    out = arr.astype(np.int64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class Source:
    name: str
    size: int


@dataclass(frozen=True)
class Neurons:
    """Lava ``LIF`` (one ``du``, ``dv``, ``vth`` per population) or, with ``program``, a
    three-factor LIF (:mod:`snn_deploy.learning.microcode`). ``reset_interval`` > 0 resets
    ``u`` and ``v`` to 0 before the dynamics of every step with
    ``time_step % reset_interval == reset_offset`` (Lava ``LIFReset``), e.g. between samples."""

    name: str
    size: int
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray | None = None
    bias_exp: np.ndarray | None = None
    program: NeuronProgram | None = None
    reset_interval: int = 0
    reset_offset: int = 0

    def __post_init__(self):
        if self.reset_interval < 0:
            raise ModelError(f"population '{self.name}': reset_interval must be >= 0")
        for attr in ("bias_mant", "bias_exp"):
            v = getattr(self, attr)
            v = np.zeros(self.size, np.int64) if v is None else np.broadcast_to(v, (self.size,))
            object.__setattr__(self, attr, _ints(v, f"population '{self.name}' {attr}"))


@dataclass(frozen=True)
class Connection:
    name: str
    source: str
    target: str
    weights: np.ndarray  # (target size, source size)
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: str | None = (
        None  # None: Lava's default (Dense: from the weights; LearningDense: mixed)
    )
    graded: bool = False
    source_port: str = "s_out"
    target_port: str = "a_in"
    rule: LearningRule | None = None
    tag_1: np.ndarray | None = None
    tag_2: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "weights", _ints(self.weights, f"connection '{self.name}'"))
        for attr in ("tag_1", "tag_2"):
            v = getattr(self, attr)
            if v is not None:
                object.__setattr__(self, attr, _ints(v, f"connection '{self.name}' {attr}"))
        if self.source_port not in ("s_out", "aux") or self.target_port not in ("a_in", "a3"):
            raise ModelError(
                f"connection '{self.name}': ports {self.source_port} -> {self.target_port}; "
                "accepted: s_out or aux -> a_in or a3"
            )

    @property
    def plastic(self) -> bool:
        return self.rule is not None


@dataclass(frozen=True)
class PlasticNetwork:
    sources: tuple[Source, ...]
    populations: tuple[Neurons, ...]
    connections: tuple[Connection, ...]
    name: str = "network"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        sizes = self.sizes
        if len(sizes) != len(self.sources) + len(self.populations):
            raise ModelError(f"network '{self.name}': duplicate source or population names")
        pops = {p.name: p for p in self.populations}
        for c in self.connections:
            if c.source not in sizes or c.target not in pops:
                raise ModelError(
                    f"connection '{c.name}': {c.source} -> {c.target} names an unknown "
                    "source or population"
                )
            if c.weights.shape != (sizes[c.target], sizes[c.source]):
                raise ModelError(
                    f"connection '{c.name}': weights {c.weights.shape}, expected "
                    f"({sizes[c.target]}, {sizes[c.source]}) (target, source)"
                )
            needs_program = c.source_port == "aux" or c.target_port == "a3"
            if c.source_port == "aux" and pops.get(c.source, None) is None:
                raise ModelError(f"connection '{c.name}': only neurons have an aux output")
            if needs_program and c.source_port == "aux" and pops[c.source].program is None:
                raise ModelError(
                    f"connection '{c.name}': '{c.source}' has no neuron program, so no aux output"
                )
            if c.target_port == "a3" and pops[c.target].program is None:
                raise ModelError(
                    f"connection '{c.name}': '{c.target}' has no neuron program to read a "
                    "third-factor input"
                )
            if c.rule is not None and c.rule.three_factor and pops[c.target].program is None:
                raise ModelError(
                    f"connection '{c.name}': three-factor rule '{c.rule.name}' needs a neuron "
                    f"program on '{c.target}' that writes y1..y3"
                )
            if c.rule is not None and c.graded:
                raise ModelError(f"connection '{c.name}': plastic connections take binary spikes")

    @property
    def sizes(self) -> dict[str, int]:
        return {x.name: x.size for x in (*self.sources, *self.populations)}

    def connection(self, name: str) -> Connection:
        for c in self.connections:
            if c.name == name:
                return c
        raise KeyError(name)

    def plastic(self) -> list[Connection]:
        return [c for c in self.connections if c.plastic]
