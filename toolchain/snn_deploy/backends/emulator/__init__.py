"""snn-deploy's own bit-accurate emulator: one kernel module per chip arithmetic.

``run(qnet, numerics, inputs)`` dispatches on ``qnet.arithmetic``; each kernel reproduces its
chip's integer arithmetic exactly (``loihi``: Lava 0.10.0's bit-accurate ``LIF`` and ``Dense``).
"""

from snn_deploy.backends.emulator.result import EmulationResult
from snn_deploy.backends.emulator.run import run

__all__ = ["EmulationResult", "run"]
