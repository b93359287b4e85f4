"""Runs in .venv-pynn (sPyNNaker 1!7.4.1, no snn_deploy): build an artifact folder's
``pynn_spinnaker.py`` network with sPyNNaker on a virtual board, let sPyNNaker map it and
generate its data, and write what sPyNNaker's own host code makes of it as JSON:

- per population, the ring-buffer left shifts (``PopulationVertex.get_ring_buffer_shifts``) and
  weight scales (``get_weight_scales``), and every parameter as ``DataType.S1615`` words;
- per projection, the 16-bit weight words ``rint(|w| * scale) & 0xFFFF``
  (``synapse_dynamics_static.py: get_static_synaptic_data``) with sPyNNaker's scale.

    python spynnaker_check.py ARTIFACT_DIR OUT.json

sPyNNaker needs a configuration file in $HOME (``.spynnaker.cfg``) with ``virtual_board = True``;
the caller provides a scratch HOME (tests/spinnaker/test_pynn.py).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np


def main(folder: str, out: str) -> None:
    from spinn_front_end_common.interface.ds import DataType

    spec = importlib.util.spec_from_file_location(
        "pynn_spinnaker", Path(folder) / "pynn_spinnaker.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    net, conns, inputs = script.load()
    ports = [p["name"] for p in net["inputs"] if p["kind"] == "spikes"]
    steps = inputs[ports[0]].shape[1] + net["pipeline_steps"]
    times = script.spike_times(net, {k: inputs[k][0] for k in ports}, steps)
    (copy,) = script.build(net, conns, [times])
    script.sim.run(steps * net["timestep_ms"])
    result = {"populations": {}, "projections": {}}
    scales = {}
    for p in net["populations"]:
        vertex = copy[p["name"]]._vertex
        shifts = [int(s) for s in vertex.get_ring_buffer_shifts()]
        scales[p["name"]] = [float(s) for s in vertex.get_weight_scales(shifts)]
        words = {}
        for name in p["parameters"]:
            values = np.broadcast_to(np.asarray(copy[p["name"]].get(name), dtype=float), p["size"])
            words[name] = [DataType.S1615.encode_as_int(float(v)) for v in values]
        result["populations"][p["name"]] = {
            "shifts": shifts,
            "weight_scales": scales[p["name"]],
            "words": words,
        }
    for proj in net["projections"]:
        rows = conns[proj["connections"]]
        j = 0 if proj["receptor_type"] == "excitatory" else 1
        scale = scales[proj["target"]][j]
        words = (np.rint(np.abs(rows[:, 2]) * scale).astype(np.uint32) & 0xFFFF).astype(int)
        result["projections"][proj["connections"]] = {
            "pre": rows[:, 0].astype(int).tolist(),
            "post": rows[:, 1].astype(int).tolist(),
            "words": words.tolist(),
            "delay_ticks": np.rint(rows[:, 3] / net["timestep_ms"]).astype(int).tolist(),
        }
    script.sim.end()
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:3])
