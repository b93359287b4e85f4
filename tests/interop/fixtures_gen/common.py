"""Shared by the fixture generators (run in the side environments, not in .venv).

Each fixture is ``NAME.nir`` (written by the framework's own ``to_nir`` and ``nir.write``) and
``NAME.npz``: ``x`` (samples, steps, inputs) uint8 input spikes, ``out`` (samples, steps, outputs)
uint8 output spikes (spike counts for Sinabs' MultiSpike) as the framework computed them in
float32, and ``meta``, a JSON string: framework and package versions, what the network is, and
the ``compile`` options that state what the file cannot (``spikes``, ``dt``, ``reset``).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

MIN_OUTPUT_SPIKES = 20  # a fixture whose output hardly spikes would test nothing
TARGET_OUTPUT_SPIKES = 60  # weights are scaled up until the output spikes at least this often


def run_until_it_spikes(net, run, x):
    """``run(net, x)``, with every ``torch.nn.Linear`` of ``net`` scaled up by 1.25 until the
    output has ``TARGET_OUTPUT_SPIKES`` spikes (random weights and time constants vary a lot);
    returns the output and the scale applied."""
    import torch

    scale = 1.0
    for _ in range(20):
        out = run(net, x)
        if out.sum() >= TARGET_OUTPUT_SPIKES:
            break
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.Linear):
                    m.weight.mul_(1.25)
                    m.bias.mul_(1.25)
        scale *= 1.25
    return out, scale


def save(folder: Path, name: str, graph, x: np.ndarray, out: np.ndarray, meta: dict) -> None:
    import nir

    if int(out.sum()) < MIN_OUTPUT_SPIKES:
        sys.exit(f"fixture {name}: only {int(out.sum())} output spikes; raise its input gain")
    if out.max() > 255 or out.min() < 0:
        sys.exit(f"fixture {name}: output counts outside uint8")
    folder.mkdir(parents=True, exist_ok=True)
    nir.write(str(folder / f"{name}.nir"), graph)
    meta = {
        **meta,
        "versions": {p: version(p) for p in meta.pop("packages")},
        "python": sys.version.split()[0],
        "output_spikes": int(out.sum()),
        "max_spikes_per_step": int(out.max()),
    }
    np.savez_compressed(
        folder / f"{name}.npz",
        x=x.astype(np.uint8),
        out=out.astype(np.uint8),
        meta=np.array(json.dumps(meta, sort_keys=True)),
    )
    print(
        f"{name}: {out.shape[0]} samples x {out.shape[1]} steps, {int(out.sum())} output "
        f"spikes (max {int(out.max())} per neuron and step)"
    )
