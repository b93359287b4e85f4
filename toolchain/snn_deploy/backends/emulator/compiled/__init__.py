"""The compiled emulation engine (numba): one module per arithmetic, each holding only its
arithmetic's step; :mod:`.common` holds what they share (jit and cache, flattened layouts,
input compaction, event-driven synapses, exactness proofs); :mod:`.learning` runs the plastic
networks of the learning engine. The numpy kernels one folder up are the reference these kernels
are tested against, integer for integer."""

from __future__ import annotations

import importlib

# arithmetic -> module of its compiled kernel (each has ``run(qnet, numerics, inputs, ...)``)
KERNELS = {
    "loihi": "snn_deploy.backends.emulator.compiled.loihi",
    "fixedpoint": "snn_deploy.backends.emulator.compiled.fixedpoint",
    "spinnaker": "snn_deploy.backends.emulator.compiled.spinnaker",
    "float32": "snn_deploy.backends.emulator.compiled.float32",
    "xylo": "snn_deploy.backends.emulator.compiled.xylo",
}


def run_compiled(qnet, numerics, inputs, num_steps=None, record_voltage=(), parallel=None):
    """The compiled kernel of ``qnet.arithmetic``, or None where there is none."""
    name = KERNELS.get(qnet.arithmetic)
    if name is None:
        return None
    module = importlib.import_module(name)
    return module.run(qnet, numerics, inputs, num_steps, tuple(record_voltage), parallel)
