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


def measure(qnet, spikes: dict, num_steps: int, input_spikes: dict) -> dict:
    """Per-inference activity of an integer run (``spikes``: pop -> (batch, steps, size))."""
    n = next(iter(spikes.values())).shape[0] if spikes else 1
    all_spikes = {**input_spikes, **spikes}
    syn_ops, per_proj = 0.0, {}
    for proj in qnet.projections:
        src = all_spikes.get(proj.source)
        if src is None:
            continue
        counts = np.asarray(src, dtype=np.float64).sum(axis=(0, 1)) / n  # per source neuron
        ops = float(counts @ _fan_out(proj.weight))
        per_proj[proj.name] = ops
        syn_ops += ops
    pop_spikes = {k: float(v.sum()) / n for k, v in spikes.items()}
    return {
        "synaptic_ops_per_inference": syn_ops,
        "neuron_updates_per_inference": int(qnet.num_neurons * num_steps),
        "spikes_per_inference": float(sum(pop_spikes.values())),
        "spikes_per_population": pop_spikes,
        "synaptic_ops_per_projection": per_proj,
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
