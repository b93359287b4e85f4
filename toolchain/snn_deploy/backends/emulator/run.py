"""Dispatch from an integer network to the kernel of its arithmetic."""

from __future__ import annotations

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.errors import UnsupportedError
from snn_deploy.quantize.network import QuantizedNetwork


def run(
    qnet: QuantizedNetwork,
    numerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
) -> EmulationResult:
    """Run ``qnet`` on ``inputs`` (name -> (batch, steps, size) spikes); steps past the end of
    the inputs get no input spikes."""
    if qnet.arithmetic == "loihi":
        from snn_deploy.backends.emulator.loihi import LoihiEmulator

        return LoihiEmulator(qnet, numerics).run(inputs, num_steps, record_voltage)
    if qnet.arithmetic == "fixedpoint":
        from snn_deploy.backends.emulator.fixedpoint import run_fixedpoint

        return run_fixedpoint(qnet, numerics, inputs, num_steps, record_voltage)
    if qnet.arithmetic == "spinnaker":
        from snn_deploy.backends.emulator.spinnaker import run_spinnaker

        return run_spinnaker(qnet, numerics, inputs, num_steps, record_voltage)
    if qnet.arithmetic == "float32":
        from snn_deploy.backends.emulator.float32 import run_float32

        return run_float32(qnet, numerics, inputs, num_steps, record_voltage)
    raise UnsupportedError(f"the emulator has no kernel for arithmetic {qnet.arithmetic!r}")
