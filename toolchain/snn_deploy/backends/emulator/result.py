"""What an emulator (or the Lava backend) returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EmulationResult:
    """``spikes[pop]``: (batch, steps, size) bool, in chip time (step 0 is Lava's time step 1).
    ``final_state[pop]``: name -> (batch, size) int64 (``u``, ``v`` for Loihi).
    ``voltage[pop]``: (batch, steps, size) int64 traces of the populations asked for.
    ``events[pop]``: counts of arithmetic edge cases per population, summed over batch and
    steps (Loihi: ``u_wraps``, ``v_saturations``, ``int32_wraps``); empty for Lava runs."""

    spikes: dict
    final_state: dict
    num_steps: int
    voltage: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)
