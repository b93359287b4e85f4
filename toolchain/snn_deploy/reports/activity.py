"""Activity measured in an emulation run, and the estimates derived from it.

Per inference (one sample, all steps): spikes per population; synaptic operations = for every
projection, each source spike times the synapses it reaches (its column's stored entries);
neuron updates = neurons x steps. Energy, only where the profile has an ``[estimates]`` section,
is ``ops x energy per op``, always reported with the profile's label (e.g. "Loihi 1,
pre-silicon"): an estimate, not a measurement.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

RASTER_LIMIT = 4000  # spikes per population kept for the report's raster


def _fan_out(weight) -> np.ndarray:
    """Synapses reached by one spike of each source neuron."""
    if sp.issparse(weight):
        return np.bincount(weight.indices, minlength=weight.shape[1]).astype(np.float64)
    return np.full(weight.shape[1], float(weight.shape[0]))


def _core_of(mapping: dict, qnet) -> dict:
    """population -> core id of each of its neurons, from ``mapping.json``."""
    out = {p.name: np.full(p.size, -1) for p in qnet.populations}
    groups = mapping.get("groups", {})  # a population split into groups: slices of a group
    for c in mapping.get("cores", []):
        for s in c["slices"]:
            g = groups.get(s["population"])
            if g is None:
                out[s["population"]][s["start"] : s["stop"]] = c["core"]
            else:
                out[g["population"]][np.asarray(g["neurons"])[s["start"] : s["stop"]]] = c["core"]
    return out


def _messages_per_spike(proj, core_of: dict) -> np.ndarray | None:
    """Other cores each source neuron's spike must be sent to through this projection."""
    if proj.target not in core_of:
        return None
    dest = core_of[proj.target]
    w = sp.csr_matrix(proj.weight) if not sp.issparse(proj.weight) else proj.weight
    cores = np.unique(dest)
    reach = np.zeros((w.shape[1], len(cores)), dtype=bool)
    for j, c in enumerate(cores):
        rows = w[dest == c]
        reach[np.unique(rows.indices), j] = True
    own = core_of.get(proj.source)
    if own is not None:  # a neuron's own core needs no message
        same = cores[None, :] == own[:, None]
        reach &= ~same
    return reach.sum(axis=1).astype(np.float64)


def measure(
    qnet, spikes: dict, num_steps: int, input_spikes: dict, mapping: dict | None = None
) -> dict:
    """Per-inference activity of an integer run (``spikes``: pop -> (batch, steps, size)).
    With ``mapping``, also the spike messages that leave their core (inter-core traffic)."""
    n = next(iter(spikes.values())).shape[0] if spikes else 1
    all_spikes = {**input_spikes, **spikes}
    syn_ops, per_proj, messages = 0.0, {}, 0.0
    core_of = _core_of(mapping, qnet) if mapping else None
    for proj in qnet.projections:
        src = all_spikes.get(proj.source)
        if src is None:
            continue
        counts = np.asarray(src, dtype=np.float64).sum(axis=(0, 1)) / n  # per source neuron
        ops = float(counts @ _fan_out(proj.weight))
        per_proj[proj.name] = ops
        syn_ops += ops
        if core_of is not None and proj.source in core_of:
            per_spike = _messages_per_spike(proj, core_of)
            if per_spike is not None:
                messages += float(counts @ per_spike)
    pop_spikes = {k: float(v.sum()) / n for k, v in spikes.items()}
    return {
        "synaptic_ops_per_inference": syn_ops,
        "neuron_updates_per_inference": int(qnet.num_neurons * num_steps),
        "spikes_per_inference": float(sum(pop_spikes.values())),
        "spikes_per_population": pop_spikes,
        "synaptic_ops_per_projection": per_proj,
        "inter_core_messages_per_inference": messages if mapping else None,
    }


def estimate(activity: dict, profile) -> dict | None:
    est = profile.estimates
    if est is None:
        return None
    parts = {
        "synaptic ops": activity["synaptic_ops_per_inference"] * est.synaptic_op_pj,
        "neuron updates": activity["neuron_updates_per_inference"] * est.neuron_update_pj,
        "spikes": activity["spikes_per_inference"] * est.spike_pj,
    }
    return {
        "label": est.label,
        "energy_uj_per_inference": sum(parts.values()) * 1e-6,
        "parts_uj": {k: v * 1e-6 for k, v in parts.items()},
        "per_op_pj": {
            "synaptic op": est.synaptic_op_pj,
            "neuron update": est.neuron_update_pj,
            "spike": est.spike_pj,
        },
    }


def raster(spikes: dict, sample: int = 0) -> dict:
    """(step, neuron) pairs of one sample per population, at most RASTER_LIMIT each."""
    out = {}
    for name, s in spikes.items():
        t, i = np.nonzero(s[sample])
        out[name] = np.stack([t, i], axis=1)[:RASTER_LIMIT].tolist()
    return out
