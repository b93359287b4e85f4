"""PyNN output for SpiNNaker 1: the compiled integer network as a script for sPyNNaker, and the
same network for a software PyNN backend (Brian 2), so the script is tested by running it.

``emit_pynn(folder, qnet, profile, plan, data)`` writes, next to ``network.npz``:

- ``pynn_network.json``: populations with their PyNN cell parameters (``IF_curr_exp`` or
  ``IF_curr_delta``; mV, nF, ms, nA), neurons per core, ring-buffer ``max_expected_summed_weight``,
  input ports, timing;
- ``pynn_connections.npz``: per projection and receptor type a ``(n, 4)`` array of
  ``(pre, post, weight nA, delay ms)`` rows for ``FromListConnector`` (inhibitory weights
  negative, as PyNN wants them; sPyNNaker stores ``|w|``);
- ``pynn_inputs.npz``: the test split's spike trains and labels, when the model names its data
  (digits);
- ``pynn_spinnaker.py`` (``import pyNN.spiNNaker as sim``) and ``pynn_brian2.py``
  (``import pyNN.brian2 as sim``): the same script but for the sPyNNaker-only calls
  (``set_number_of_neurons_per_core``, ``set_max_atoms_per_core``, ``max_expected_summed_weight``).

Every value is the integer network's own: parameters are s16.15 words written as exact binary
fractions (``word / 32768``), which sPyNNaker's ``DataType.S1615`` turns back into the same words;
weights are ``w * 2**(shift - 15)`` nA with the population's ring-buffer shift, which
``max_expected_summed_weight = 0.75 * 2**shift`` makes sPyNNaker choose
(``population_vertex.py: get_ring_buffer_shifts``); so sPyNNaker writes exactly the integers
that snn-deploy emulated. A software backend integrates the same parameters in continuous time:
its spikes approximate the chip's, they do not reproduce them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from snn_deploy.checks.spinnaker import atoms_per_core
from snn_deploy.numerics.spinnaker import S1615_ONE

NETWORK_JSON = "pynn_network.json"
CONNECTIONS_NPZ = "pynn_connections.npz"
INPUTS_NPZ = "pynn_inputs.npz"
SCRIPTS = {"spiNNaker": "pynn_spinnaker.py", "brian2": "pynn_brian2.py"}
_WORD_PARAMS = {
    "tau_m": "tau_m",
    "cm": "cm",
    "v_rest": "v_rest",
    "v_reset": "v_reset",
    "v_thresh": "v_thresh",
    "tau_refrac": "tau_refrac",
    "i_offset": "i_offset",
}


def _value(words) -> float | list[float]:
    """s16.15 words as PyNN floats: one number if every neuron shares it."""
    w = np.asarray(words, dtype=np.int64)
    vals = (w / S1615_ONE).tolist()
    return vals[0] if np.all(w == w.flat[0]) else vals


def network_description(qnet, profile, plan) -> tuple[dict, dict]:
    """(JSON description, connection arrays) of a compiled SpiNNaker network."""
    dt_ms = qnet.contract.dt_seconds * 1000.0
    atoms = atoms_per_core(plan)
    pops = []
    for p in qnet.populations:
        q = p.params
        exponential = bool(int(q.exponential))
        params = {k: _value(getattr(q, v)) for k, v in _WORD_PARAMS.items()}
        if exponential:
            params["tau_syn_E"] = _value(q.tau_syn_e)
            params["tau_syn_I"] = _value(q.tau_syn_i)
        shifts = [int(s) for s in np.asarray(q.rb_shifts).ravel()]
        pops.append(
            {
                "name": p.name,
                "size": p.size,
                "cell_type": "IF_curr_exp" if exponential else "IF_curr_delta",
                "parameters": params,
                "v_init": _value(q.v_init),
                "spiking": bool(p.spiking),
                "shift_steps": p.shift_steps,
                "max_atoms_per_core": int(atoms.get(p.name, min(p.size, 256))),
                "ring_buffer_left_shifts": shifts,
                "max_expected_summed_weight": [0.75 * 2.0**s for s in shifts],
            }
        )
    conns, projs = {}, []
    for proj in qnet.projections:
        shifts = np.asarray(qnet.population(proj.target).params.rb_shifts).ravel()
        w = sp.coo_matrix(proj.weight) if sp.issparse(proj.weight) else None
        if w is None:
            post, pre = np.nonzero(np.asarray(proj.weight))
            vals = np.asarray(proj.weight)[post, pre]
        else:
            keep = w.data != 0
            post, pre, vals = w.row[keep], w.col[keep], w.data[keep]
        for receptor, sel, shift in (
            ("excitatory", vals > 0, int(shifts[0])),
            ("inhibitory", vals < 0, int(shifts[1])),
        ):
            if not np.any(sel):
                continue
            key = f"{proj.name}/{receptor}"
            rows = np.column_stack(
                [
                    pre[sel].astype(np.float64),
                    post[sel].astype(np.float64),
                    vals[sel].astype(np.float64) * 2.0 ** (shift - 15),
                    np.full(int(np.count_nonzero(sel)), proj.delay_steps * dt_ms),
                ]
            )
            conns[key] = rows
            projs.append(
                {
                    "name": proj.name,
                    "source": proj.source,
                    "target": proj.target,
                    "receptor_type": receptor,
                    "connections": key,
                    "delay_ms": proj.delay_steps * dt_ms,
                    "count": int(rows.shape[0]),
                }
            )
    desc = {
        "format": "snn-deploy/pynn-network",
        "version": 1,
        "target": qnet.target,
        "sPyNNaker": "1!7.4.1",
        "timestep_ms": dt_ms,
        "inputs": [
            {"name": i.name, "size": i.size, "kind": i.kind, "shift_steps": i.shift_steps}
            for i in qnet.inputs
        ],
        "populations": pops,
        "projections": projs,
        "outputs": list(qnet.outputs),
        "pipeline_steps": max((p.shift_steps for p in qnet.populations), default=0),
        "input_spike_cores": {i.name: -(-i.size // profile.core.max_neurons) for i in qnet.inputs},
    }
    return desc, conns


def emit_pynn(folder: Path, qnet, profile, plan, data: dict | None, net=None) -> list[str]:
    """Write the PyNN files into ``folder``; returns their names."""
    folder = Path(folder)
    desc, conns = network_description(qnet, profile, plan)
    (folder / NETWORK_JSON).write_text(json.dumps(desc, indent=1) + "\n")
    with open(folder / CONNECTIONS_NPZ, "wb") as fh:
        np.savez_compressed(fh, **conns)
    written = [NETWORK_JSON, CONNECTIONS_NPZ]
    if net is not None and data and data.get("dataset") == "digits":
        from snn_deploy.data.loader import load_inputs

        inputs, labels, desc_data = load_inputs("digits", net, data, "test")
        with open(folder / INPUTS_NPZ, "wb") as fh:
            np.savez_compressed(
                fh,
                labels=np.asarray(labels),
                description=np.asarray(desc_data),
                **{k: np.asarray(v, dtype=bool) for k, v in inputs.items()},
            )
        written.append(INPUTS_NPZ)
    for simulator, name in SCRIPTS.items():
        (folder / name).write_text(script_text(simulator, desc))
        written.append(name)
    return written


def script_text(simulator: str, desc: dict) -> str:
    on_spinnaker = simulator == "spiNNaker"
    pops = "\n".join(
        f"#   {p['name']}: {p['size']} x {p['cell_type']}, {p['max_atoms_per_core']} per core, "
        f"ring-buffer left shifts {p['ring_buffer_left_shifts']}"
        for p in desc["populations"]
    )
    title = (
        f"SpiNNaker 1 (sPyNNaker {desc['sPyNNaker']})"
        if on_spinnaker
        else "the Brian 2 software backend of PyNN"
    )
    what = (
        "The parameters, weights (nA), delays (ms) and ring-buffer shifts are the integers\n"
        "that snn-deploy emulated bit-accurately (network.npz); sPyNNaker turns them back into\n"
        "exactly those words."
        if on_spinnaker
        else "Same network as pynn_spinnaker.py; Brian 2 integrates it in continuous time, so\n"
        "its spikes approximate the chip's."
    )
    header = (
        f'"""{desc["target"]} network compiled by snn-deploy, as a PyNN script for {title}.\n\n'
        f"    python {SCRIPTS[simulator]} [--samples N]\n\n"
        "Reads pynn_network.json, pynn_connections.npz and pynn_inputs.npz next to this file,\n"
        "runs N test samples as N copies of the network side by side, and prints the\n"
        f'accuracy of the readout.\n{what}\n"""\n# Populations:\n{pops}\n'
    )
    sim_import = (
        "import pyNN.spiNNaker as sim\n"
        if on_spinnaker
        else 'import brian2\n\nbrian2.prefs.codegen.target = "numpy"  # no C compiler needed\n'
        "import pyNN.brian2 as sim  # noqa: E402\n"
    )
    body = f'''
import argparse
import json
import pathlib

import numpy as np

{sim_import}
HERE = pathlib.Path(__file__).resolve().parent
ON_SPINNAKER = {on_spinnaker}


def load():
    net = json.loads((HERE / "pynn_network.json").read_text())
    with np.load(HERE / "pynn_connections.npz") as z:
        conns = {{k: z[k] for k in z.files}}
    inputs = None
    if (HERE / "pynn_inputs.npz").is_file():
        with np.load(HERE / "pynn_inputs.npz") as z:
            inputs = {{k: z[k] for k in z.files}}
    return net, conns, inputs


def build(net, conns, samples):
    """One copy of the network per sample, side by side in one simulation, each fed by its own
    SpikeSourceArray: one run covers every sample and no state is shared. (sPyNNaker 7.4.1 cannot
    change a SpikeSourceArray's spike_times after a run: SpiNNFrontEndCommon's
    ``send_buffer_times`` setter indexes a list with an array.)"""
    dt = net["timestep_ms"]
    sim.setup(timestep=dt, min_delay=dt)
    if ON_SPINNAKER:  # sPyNNaker refuses this once any Population exists
        for cell in ("IF_curr_exp", "IF_curr_delta"):
            sizes = [p["max_atoms_per_core"] for p in net["populations"] if p["cell_type"] == cell]
            if sizes:
                sim.set_number_of_neurons_per_core(getattr(sim, cell), max(sizes))
    copies = []
    for s, times in enumerate(samples):
        every = {{}}
        for port in net["inputs"]:
            t = times[port["name"]]
            # sPyNNaker 7.4.1's density check fails on a source with no spike at all.
            every[port["name"]] = sim.Population(
                port["size"], sim.SpikeSourceArray(spike_times=t if any(t) else []),
                label=f"{{port['name']}}_{{s}}",
            )
        for p in net["populations"]:
            cell = getattr(sim, p["cell_type"])(**p["parameters"])
            extra = {{}}
            if ON_SPINNAKER:
                extra["additional_parameters"] = {{
                    "max_expected_summed_weight": p["max_expected_summed_weight"]
                }}
            pop = sim.Population(p["size"], cell, label=f"{{p['name']}}_{{s}}", **extra)
            if ON_SPINNAKER:
                pop.set_max_atoms_per_core(p["max_atoms_per_core"])
            pop.initialize(v=p["v_init"])
            if p["name"] in net["outputs"]:
                pop.record("spikes" if p["spiking"] else "v")
            every[p["name"]] = pop
        for proj in net["projections"]:
            sim.Projection(
                every[proj["source"]], every[proj["target"]],
                sim.FromListConnector(conns[proj["connections"]]),
                synapse_type=sim.StaticSynapse(), receptor_type=proj["receptor_type"],
                label=f"{{proj['connections']}}_{{s}}",
            )
        copies.append(every)
    return copies


def spike_times(net, x, steps):
    """Per input port, the spike times (ms) of one sample: step k fires at k * dt."""
    dt = net["timestep_ms"]
    times = {{}}
    for port in net["inputs"]:
        if port["kind"] == "constant":
            every = [k * dt for k in range(port["shift_steps"], steps)]
            times[port["name"]] = [every for _ in range(port["size"])]
        else:
            s = x[port["name"]]
            times[port["name"]] = [
                [float((k + port["shift_steps"]) * dt) for k in np.flatnonzero(s[:, i])]
                for i in range(port["size"])
            ]
    return times


def readout(pop, out, window, dt):
    seg = pop.get_data().segments[-1]
    if out["spiking"]:
        counts = np.zeros(out["size"])
        for j, train in enumerate(seg.spiketrains):
            k = np.rint(np.asarray(train.magnitude) / dt).astype(int)
            counts[j] = np.count_nonzero((k >= window[0]) & (k < window[1]))
        return counts
    if not seg.analogsignals:
        return np.zeros(out["size"])
    v = np.asarray(seg.analogsignals[0].magnitude)
    # sPyNNaker records V at the start of a tick: the value after the previous tick's update.
    return v[window[0] + ON_SPINNAKER : window[1] + ON_SPINNAKER].mean(axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10, help="test samples, one copy each")
    parser.add_argument("--first", type=int, default=0, help="index of the first test sample")
    args = parser.parse_args()
    net, conns, inputs = load()
    ports = [p["name"] for p in net["inputs"] if p["kind"] == "spikes"]
    if inputs is None:
        raise SystemExit("no pynn_inputs.npz next to this script: write your own spike trains")
    index = np.arange(args.first, min(args.first + args.samples, len(inputs["labels"])))
    steps = inputs[ports[0]].shape[1]
    chip_steps = steps + net["pipeline_steps"]
    dt = net["timestep_ms"]
    samples = [spike_times(net, {{k: inputs[k][i] for k in ports}}, chip_steps) for i in index]
    copies = build(net, conns, samples)
    sim.run(chip_steps * dt)
    out = next(p for p in net["populations"] if p["name"] == net["outputs"][0])
    window = (out["shift_steps"], out["shift_steps"] + steps)
    scores = np.asarray([readout(c[out["name"]], out, window, dt) for c in copies])
    sim.end()
    predicted = scores.argmax(axis=1)
    labels = np.asarray(inputs["labels"][index])
    accuracy = float(np.mean(predicted == labels))
    np.savez(HERE / "pynn_results_{simulator}.npz", index=index, scores=scores,
             predicted=predicted, labels=labels)
    print(f"{{len(index)}} sample(s): accuracy {{100 * accuracy:.2f}}%")


if __name__ == "__main__":
    main()
'''
    return header + body
