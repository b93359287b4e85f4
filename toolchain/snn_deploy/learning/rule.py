"""A complete plastic-synapse rule: the three programs, the trace configuration and the epoch.

``LearningRule`` is what one ``LearningDense`` connection executes (Lava's
``Loihi2FLearningRule`` / ``Loihi3FLearningRule``): programs for ``dw``, ``dd`` and ``dt``
(:mod:`snn_deploy.learning.program`), the impulse and time constant of every trace, the epoch
length ``t_epoch`` (products are applied when ``time_step % t_epoch == 0``) and the seed of the
trace and rounding random streams (without one Lava's fixed-point learning is irreproducible).

Two modes, as in Lava:

- ``two_factor``: the engine keeps the post traces ``y1..y3`` itself (impulse on every post
  spike, exponential decay), like the pre traces ``x1, x2``.
- ``three_factor``: ``y1..y3`` are written every step by the post neuron's program
  (:mod:`snn_deploy.learning.microcode`), so a neuron can put its surrogate derivative in ``y2``
  and a third factor delivered to it (reward, learning signal, local error) in ``y3``.
  ``post_traces`` says which neuron quantity feeds each ``y`` (used by the locality check and
  printed in the listing).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from snn_deploy.learning.program import TARGETS, Program, parse_program


@dataclass(frozen=True)
class TraceSpec:
    """``z <- z * exp(-1/tau) + impulse`` per spike (stochastic rounding to integers); tau 0 means
    the trace holds only the impulse of a spike in the current step's slot."""

    impulse: float = 0.0
    tau: float = 0.0


@dataclass(frozen=True)
class PostTrace:
    """What the post neuron writes into a ``y`` trace (three-factor mode): ``expr`` in the
    neuron's own vocabulary (``psi(v)``, ``spike_trace``, or the name of a routed signal)."""

    trace: str
    expr: str
    meaning: str = ""


@dataclass(frozen=True)
class Route:
    """How a third factor reaches the post neurons: ``signal`` (the name used in a
    ``PostTrace``), computed by ``source`` and carried by ``synapses`` into the neuron's
    third-factor input (Lava ``a_third_factor_in``)."""

    signal: str
    source: str
    synapses: str


@dataclass(frozen=True)
class LearningRule:
    name: str
    dw: Program | None = None
    dd: Program | None = None
    dt: Program | None = None
    x1: TraceSpec = TraceSpec()
    x2: TraceSpec = TraceSpec()
    y1: TraceSpec = TraceSpec()
    y2: TraceSpec = TraceSpec()
    y3: TraceSpec = TraceSpec()
    t_epoch: int = 1
    rng_seed: int = 0
    three_factor: bool = False
    post_traces: tuple[PostTrace, ...] = ()
    routes: tuple[Route, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_strings(
        cls,
        name: str,
        *,
        dw: str | None = None,
        dd: str | None = None,
        dt: str | None = None,
        **kwargs,
    ) -> LearningRule:
        """Parse Lava rule strings; other keyword arguments are the dataclass fields."""
        progs = {t: parse_program(t, s) for t, s in (("dw", dw), ("dd", dd), ("dt", dt)) if s}
        return cls(name=name, **progs, **kwargs)

    @property
    def programs(self) -> dict[str, Program]:
        """Active programs in Lava's application order (dw, dd, dt)."""
        return {t: getattr(self, t) for t in TARGETS if getattr(self, t) is not None}

    def strings(self) -> dict[str, str]:
        return {t: p.to_string() for t, p in self.programs.items()}

    def traces(self) -> dict[str, TraceSpec]:
        names = ("x1", "x2") if self.three_factor else ("x1", "x2", "y1", "y2", "y3")
        return {n: getattr(self, n) for n in names}

    @property
    def decimation(self) -> int | None:
        ks = {p.decimation for p in self.programs.values() if p.decimation is not None}
        return next(iter(ks)) if len(ks) == 1 else None

    def with_seed(self, seed: int) -> LearningRule:
        return dataclasses.replace(self, rng_seed=int(seed))

    def used_traces(self) -> set[str]:
        return {
            f.var
            for p in self.programs.values()
            for prod in p.products
            for f in prod.factors
            if f.var in ("x1", "x2", "y1", "y2", "y3")
        }

    def to_dict(self) -> dict:
        """JSON-able description (what an artifact stores next to the listing)."""
        return {
            "name": self.name,
            "mode": "three_factor" if self.three_factor else "two_factor",
            **self.strings(),
            "traces": {k: dataclasses.asdict(v) for k, v in self.traces().items()},
            "t_epoch": self.t_epoch,
            "rng_seed": self.rng_seed,
            "post_traces": [dataclasses.asdict(p) for p in self.post_traces],
            "routes": [dataclasses.asdict(r) for r in self.routes],
        }
