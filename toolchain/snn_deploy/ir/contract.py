"""The discretization contract: what NIR leaves unsaid and snn-deploy must fix.

NIR is continuous-time and declares no ``dt``, integrator, reset mode or update order
(../shared/reference/nir.md sections 0, 3, 5, 9). Every graph that enters snn-deploy is given one
:class:`DiscretizationContract`; it is recorded, versioned, in the graph metadata under
``METADATA_KEY`` and in every report, together with the reason it was chosen (``source``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from snn_deploy.errors import ModelError

METADATA_KEY = "snn_deploy_contract"
CONTRACT_VERSION = 1

INTEGRATORS = ("euler", "exact")
RESETS = ("zero", "subtract")
CURRENT_DRIVES = ("same_step", "previous_step")
THRESHOLDS = (">", ">=")
SPIKES = ("single", "multi")


@dataclass(frozen=True)
class DiscretizationContract:
    """How a continuous NIR graph becomes a discrete-time network.

    - ``dt_seconds``: the time step.
    - ``integrator``: ``euler`` gives ``decay = 1 - dt/tau`` and input gain ``dt/tau``
      (snnTorch, the NIR paper's graphs); ``exact`` gives ``decay = exp(-dt/tau)``.
    - ``reset``: ``zero`` sets V to ``v_reset`` after a spike; ``subtract`` subtracts the threshold.
    - ``reset_delay``: snnTorch's ``reset_delay=True`` applies the reset one step late.
    - ``subtract_recheck``: snnTorch 1.0.0's subtractive reset without delay tests a neuron whose
      voltage is still above threshold after its last subtraction against ``V - threshold``
      (its "avoid double reset" term), so it needs twice the threshold to spike again.
    - ``current_drive``: CubaLIF voltage driven by ``I[t]`` (``same_step``, snnTorch) or ``I[t-1]``.
    - ``recurrent_delay_steps``: delay on back edges (1 in every discrete runtime in use).
    - ``threshold``: the spike comparison: ``>`` (NIR's Threshold, snnTorch, Norse) or ``>=``
      (Sinabs' ``SingleSpike`` and ``MultiSpike``).
    - ``spikes``: ``single`` (at most one spike per neuron and step) or ``multi`` (Sinabs'
      ``MultiSpike``: ``n = floor(V / threshold)`` spikes where ``V >= threshold``, sent as a
      count, and the threshold subtracted ``n`` times; ``n`` = the number of times the
      comparison holds while the threshold is subtracted).
    - ``convention``: the exporter convention whose meaning of the node parameters applies
      (``ir.conventions``; e.g. ``norse-1.1`` divides tau by dt), so that a graph written with
      this contract in its metadata reads back to the same network; empty: NIR's own meaning.
    - ``source``: why this contract: graph metadata, user flags, or an exporter convention.
    """

    dt_seconds: float = 1e-3
    integrator: str = "euler"
    reset: str = "zero"
    reset_delay: bool = False
    subtract_recheck: bool = False
    current_drive: str = "same_step"
    recurrent_delay_steps: int = 1
    threshold: str = ">"
    spikes: str = "single"
    convention: str = ""
    source: str = "snn-deploy default"

    def __post_init__(self):
        problems = []
        if not (self.dt_seconds > 0):
            problems.append(f"dt_seconds must be > 0, got {self.dt_seconds}")
        if self.integrator not in INTEGRATORS:
            problems.append(f"integrator {self.integrator!r} not in {INTEGRATORS}")
        if self.reset not in RESETS:
            problems.append(f"reset {self.reset!r} not in {RESETS}")
        if self.current_drive not in CURRENT_DRIVES:
            problems.append(f"current_drive {self.current_drive!r} not in {CURRENT_DRIVES}")
        if self.recurrent_delay_steps < 1:
            problems.append("recurrent_delay_steps must be >= 1")
        if self.subtract_recheck and (self.reset != "subtract" or self.reset_delay):
            problems.append("subtract_recheck applies only to reset 'subtract' without delay")
        if self.threshold not in THRESHOLDS:
            problems.append(f"threshold comparison {self.threshold!r} not in {THRESHOLDS}")
        if self.spikes not in SPIKES:
            problems.append(f"spikes {self.spikes!r} not in {SPIKES}")
        if self.spikes == "multi" and (self.reset_delay or self.subtract_recheck):
            problems.append("multi-spike neurons take no delayed reset and no snnTorch re-check")
        if problems:
            raise ModelError("invalid discretization contract: " + "; ".join(problems))

    def to_metadata(self) -> dict:
        d = dataclasses.asdict(self)
        d["version"] = CONTRACT_VERSION
        return d

    @classmethod
    def from_metadata(cls, meta: dict) -> DiscretizationContract:
        known = {f.name for f in dataclasses.fields(cls)}
        version = int(meta.get("version", CONTRACT_VERSION))
        if version != CONTRACT_VERSION:
            raise ModelError(
                f"discretization contract version {version} is not supported "
                f"(this snn-deploy reads version {CONTRACT_VERSION})"
            )
        values = {}
        for k, v in meta.items():
            if k == "version":
                continue
            if k not in known:
                raise ModelError(f"unknown field {k!r} in the discretization contract metadata")
            values[k] = _plain(v)
        return cls(**values)

    def describe(self) -> str:
        return (
            f"dt={self.dt_seconds:g} s, {self.integrator} integrator, reset {self.reset}"
            f"{' (delayed)' if self.reset_delay else ''}"
            f"{' (snnTorch re-check)' if self.subtract_recheck else ''}, voltage driven by "
            f"{'I[t]' if self.current_drive == 'same_step' else 'I[t-1]'}, "
            f"recurrent delay {self.recurrent_delay_steps} step(s), spike if V {self.threshold} "
            f"threshold"
            f"{', several spikes per step (multi-spike)' if self.spikes == 'multi' else ''}"
            f"; chosen because: {self.source}"
        )


def _plain(v):
    """h5py gives numpy scalars and bytes back; turn them into Python values."""
    if isinstance(v, bytes):
        return v.decode()
    if hasattr(v, "item"):
        v = v.item()
        return v.decode() if isinstance(v, bytes) else v
    return v
