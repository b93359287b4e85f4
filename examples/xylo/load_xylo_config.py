"""Load a Xylo configuration exported by snn-deploy (``xylo_config.json`` or ``.npz``, written
by ``XyloConfig.export``) into the vendor's objects.

- ``specification(path)``: the keyword arguments of Rockpool's
  ``rockpool.devices.xylo.syns61201.config_from_specification`` (and of
  ``XyloSim.from_specification``), which builds samna's ``XyloConfiguration`` for the chip.
  Needs only numpy; snn-deploy itself never installs samna or rockpool.
- ``xylosim_layer(path)``: a ``xylosim.v2.XyloLayer`` (the vendor's bit-accurate simulator core),
  returned with the synapse objects it needs kept alive (xylosim crashes if they are collected).

usage (in an environment with numpy and xylosim 0.1.3, e.g. snn-deploy's .venv-xylo):
    python load_xylo_config.py build/net/xylo_config.json [inputs.npz]
prints the specification's shapes and, given ``inputs.npz`` with ``x`` (steps, 16) spike counts,
the output spike counts xylosim computes for it (as ``out_spikes`` in ``xylo_out.npz``).
"""

import json
import sys
from pathlib import Path

import numpy as np

ARRAYS = (
    "w_in", "w_rec", "w_out", "dash_mem", "dash_syn", "threshold", "bias",
    "dash_mem_out", "dash_syn_out", "threshold_out", "bias_out",
)  # fmt: skip


def read(path):
    path = Path(path)
    if path.suffix == ".json":
        body = json.loads(path.read_text())
        arrays = {k: np.asarray(body[k], dtype=np.int64) for k in ARRAYS}
        header = {k: body[k] for k in ("shift_in", "shift_rec", "shift_out")}
    else:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k].astype(np.int64) for k in ARRAYS}
            header = json.loads(bytes(z["header"]).decode())
    return arrays, header


def specification(path) -> dict:
    """Arguments of Rockpool's ``config_from_specification`` for Xylo Audio 2 (SYNS61201)."""
    a, h = read(path)
    n_syn = a["dash_syn"].shape[1]
    return {
        "weights_in": a["w_in"],
        "weights_rec": a["w_rec"],
        "weights_out": a["w_out"],
        "dash_mem": a["dash_mem"],
        "dash_syn": a["dash_syn"][:, 0],
        "dash_syn_2": a["dash_syn"][:, 1] if n_syn > 1 else a["dash_syn"][:, 0],
        "dash_mem_out": a["dash_mem_out"],
        "dash_syn_out": a["dash_syn_out"],
        "threshold": a["threshold"],
        "threshold_out": a["threshold_out"],
        "bias_hidden": a["bias"],
        "bias_out": a["bias_out"],
        "weight_shift_in": h["shift_in"],
        "weight_shift_rec": h["shift_rec"],
        "weight_shift_out": h["shift_out"],
    }


def xylosim_layer(path):
    """(layer, keep): a ``xylosim.v2.XyloLayer``; hold ``keep`` as long as the layer is used."""
    from xylosim.v2 import XyloLayer, XyloSynapse

    a, h = read(path)

    def synapses(w):
        return [
            [
                XyloSynapse(int(t), int(s), int(w[p, t, s]))
                for t, s in zip(*np.nonzero(w[p]), strict=True)
            ]
            for p in range(w.shape[0])
        ]

    keep = [synapses(a["w_in"]), synapses(a["w_rec"]), synapses(a["w_out"][:, :, None])]
    layer = XyloLayer(
        synapses_in=keep[0],
        synapses_rec=keep[1],
        synapses_out=keep[2],
        aliases=[[] for _ in range(a["w_rec"].shape[0])],
        threshold=a["threshold"].tolist(),
        threshold_out=a["threshold_out"].tolist(),
        has_bias=bool(a["bias"].any() or a["bias_out"].any()),
        bias=a["bias"].tolist(),
        bias_out=a["bias_out"].tolist(),
        weight_shift_inp=h["shift_in"],
        weight_shift_rec=h["shift_rec"],
        weight_shift_out=h["shift_out"],
        dash_mem=a["dash_mem"].tolist(),
        dash_mem_out=a["dash_mem_out"].tolist(),
        dash_syns=a["dash_syn"].tolist(),
        dash_syns_out=[[d] for d in a["dash_syn_out"].tolist()],
        name="snn-deploy export",
    )
    return layer, keep


def main(argv):
    spec = specification(argv[1])
    for k, v in spec.items():
        print(f"{k:16} {np.shape(v) if np.ndim(v) else v}")
    if len(argv) > 2:
        with np.load(argv[2], allow_pickle=False) as z:
            x = z["x"]
        layer, keep = xylosim_layer(argv[1])
        out = np.asarray(layer.evolve(x.astype(int).tolist()), np.uint8)
        np.savez("xylo_out.npz", out_spikes=out)
        print(f"xylosim: {int(out.sum())} output spikes in {len(x)} steps -> xylo_out.npz")
        del layer, keep


if __name__ == "__main__":
    main(sys.argv)
