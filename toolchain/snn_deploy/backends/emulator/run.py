"""Dispatch from an integer network to the kernel of its arithmetic, in one of two engines.

``compiled`` (the default): numba kernels, the whole time loop compiled, synapses event-driven
(:mod:`snn_deploy.backends.emulator.compiled`). ``reference``: the numpy kernels of this folder,
the readable specification the compiled kernels are tested against integer for integer; a
network the compiled kernel cannot prove exact at prepare time runs there too.
"""

from __future__ import annotations

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.errors import InputFileError, UnsupportedError
from snn_deploy.quantize.network import QuantizedNetwork

ENGINES = ("compiled", "reference")
DEFAULT_ENGINE = "compiled"


def run(
    qnet: QuantizedNetwork,
    numerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
    engine: str = DEFAULT_ENGINE,
    parallel: bool | None = None,
) -> EmulationResult:
    """Run ``qnet`` on ``inputs`` (name -> (batch, steps, size) spikes); steps past the end of
    the inputs get no input spikes. ``parallel`` (compiled engine): threads over the samples;
    None chooses (from two samples on, given more than one numba thread)."""
    if engine not in ENGINES:
        raise InputFileError(f"unknown engine {engine!r}", hint=f"use {' or '.join(ENGINES)}")
    if engine == "compiled":
        from snn_deploy.backends.emulator.compiled import run_compiled
        from snn_deploy.backends.emulator.compiled.common import NotExact

        try:
            result = run_compiled(qnet, numerics, inputs, num_steps, record_voltage, parallel)
        except NotExact:
            result = None
        if result is not None:
            return result
    return run_reference(qnet, numerics, inputs, num_steps, record_voltage)


def run_reference(
    qnet: QuantizedNetwork,
    numerics,
    inputs: dict,
    num_steps: int | None = None,
    record_voltage: tuple[str, ...] = (),
) -> EmulationResult:
    """The numpy kernels (the reference engine)."""
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
    if qnet.arithmetic == "xylo":
        from snn_deploy.backends.emulator.xylo import run_network

        return run_network(qnet, numerics, inputs, num_steps, record_voltage)
    raise UnsupportedError(f"the emulator has no kernel for arithmetic {qnet.arithmetic!r}")
