"""Legalization: a model with per-neuron parameters made to fit a chip that holds one per process.

Runs inside the ``quantize`` stage when the profile holds one decay or one threshold per
population (``[neurons].per_neuron_decays`` / ``per_neuron_threshold`` false; Lava's ``LIF``) and
the model's neurons differ in them (learnable per-neuron ``beta``, ``alpha``, ``threshold``).
Each transformation returns a new product and a :class:`Transformation` record for the report:

1. ``fold_thresholds`` (float network -> float network, exact): a spiking population whose
   neurons have different positive thresholds ``theta_i`` is rescaled neuron by neuron,
   ``I' = I / theta_i``, ``V' = V / theta_i``. Dividing the update equations of
   ``ir.network.Population`` by ``theta_i`` gives the same neuron with every incoming weight row
   ``i`` (recurrent and constant-port rows too: a row belongs to its *target* neuron), its bias
   and its reset voltage divided by ``theta_i``, and threshold 1: ``V > theta_i`` iff
   ``V' > 1``, and subtracting ``theta_i`` from ``V`` is subtracting 1 from ``V'``, so every
   spike is the same. Nothing else reads a spiking population's ``V`` (a voltage readout needs a
   non-spiking output layer, which is never folded). Not folded: non-spiking readouts, and
   thresholds that are zero, negative or infinite (no rescaling keeps their comparison); those
   neurons are split by threshold instead.
2. decays quantized to the chip's bits: the quantizer's ``du``, ``dv`` (``quantize/loihi.py``);
   nearby float decays land on one integer, which is what makes groups few.
3. ``assign_groups`` (``quantize/groups.py``): the fewest groups of equal integer ``du``, ``dv``,
   ``vth``, one Lava process each; every integer stays as it was quantized.

The float model handed to ``graph.nir`` and used as the reference by ``emulate`` is the user's,
unfolded: ``emulate`` compares the legalized integer network with it spike for spike.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from snn_deploy.ir.network import DiscreteNetwork, Population
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.groups import SHARED_FIELDS, assign_groups, shared_fields
from snn_deploy.quantize.network import QuantizedNetwork


@dataclass(frozen=True)
class Transformation:
    """One step of legalization applied to one population, as the report lists it."""

    step: str  # "fold thresholds", "thresholds kept", "quantize decays" or "split into groups"
    population: str
    what: str
    why: str
    groups: int = 1
    cores_before: int | None = None
    cores_after: int | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def applies(profile: HardwareProfile) -> bool:
    """Whether the profile's chip holds some LIF parameter once per process."""
    return profile.chip.arithmetic in SHARED_FIELDS and bool(
        shared_fields(profile.chip.arithmetic, profile.neurons)
    )


def _distinct(values) -> int:
    return int(np.unique(np.asarray(values)).size)


def foldable(pop: Population) -> bool:
    """A spiking population with several thresholds, all positive and finite."""
    theta = np.asarray(pop.threshold)
    return (
        pop.spiking
        and _distinct(theta) > 1
        and bool(np.all(np.isfinite(theta)))
        and bool(np.all(theta > 0))
    )


def fold_thresholds(net: DiscreteNetwork, names: tuple[str, ...]) -> DiscreteNetwork:
    """``net`` with the populations ``names`` rescaled to threshold 1 (see the module's 1.)."""
    factor = {}
    pops = []
    for pop in net.populations:
        if pop.name not in names:
            pops.append(pop)
            continue
        f = 1.0 / np.asarray(pop.threshold)
        factor[pop.name] = f
        pops.append(
            dataclasses.replace(
                pop,
                threshold=np.ones(pop.size),
                bias=np.asarray(pop.bias) * f,
                v_reset=np.asarray(pop.v_reset) * f,
            )
        )
    projs = []
    for proj in net.projections:
        f = factor.get(proj.target)
        if f is None:
            projs.append(proj)
            continue
        if sp.issparse(proj.weight):
            w = sp.csr_matrix(sp.diags(f) @ proj.weight)
        else:
            w = np.asarray(proj.weight) * f[:, None]
        projs.append(dataclasses.replace(proj, weight=w))
    return dataclasses.replace(net, populations=tuple(pops), projections=tuple(projs))


def fold_calibration(calibration: dict | None, net: DiscreteNetwork, names) -> dict | None:
    """State ranges measured on the unfolded network, bounded for the folded one: |I|, |V| of a
    neuron shrink by its threshold, so the largest shrinks at least by the smallest threshold."""
    if not calibration:
        return calibration
    out = dict(calibration)
    for name in names:
        entry = out.get(name)
        if not entry:
            continue
        low = float(np.min(net.population(name).threshold))
        out[name] = {
            k: (v / low if k in ("max_abs_current", "max_abs_voltage") else v)
            for k, v in entry.items()
        }
    return out


def legalize_float(
    net: DiscreteNetwork, profile: HardwareProfile
) -> tuple[DiscreteNetwork, tuple[str, ...], list[Transformation]]:
    """The float network the quantizer gets: thresholds folded where the chip holds one per
    population and folding is exact. Returns it, the folded populations and their records."""
    if not applies(profile) or profile.neurons.per_neuron_threshold:
        return net, (), []
    names, records = [], []
    for pop in net.populations:
        n = _distinct(pop.threshold)
        if n <= 1 or not pop.spiking:
            continue
        if foldable(pop):
            names.append(pop.name)
            records.append(
                Transformation(
                    step="fold thresholds",
                    population=pop.name,
                    what=f"{n} distinct thresholds folded into the neurons' incoming weights, "
                    "bias and reset voltage (each divided by its neuron's threshold; threshold "
                    "1 for all): exact in the float model",
                    why=f"{profile.chip.title} holds one threshold per population "
                    f"({profile.key('neurons', 'per_neuron_threshold')} = false)",
                )
            )
        else:
            records.append(
                Transformation(
                    step="thresholds kept",
                    population=pop.name,
                    what=f"{n} distinct thresholds not folded (a zero, negative or infinite "
                    "threshold has no exact rescaling): split by threshold instead",
                    why=f"{profile.chip.title} holds one threshold per population "
                    f"({profile.key('neurons', 'per_neuron_threshold')} = false)",
                )
            )
    names = tuple(names)
    return (fold_thresholds(net, names) if names else net), names, records


def legalize_integer(
    qnet: QuantizedNetwork, net: DiscreteNetwork, profile: HardwareProfile
) -> tuple[QuantizedNetwork, list[Transformation], tuple[int, int] | None]:
    """``qnet`` (quantized from ``net``) with its populations split into groups where the chip
    holds a parameter once per process; the records of the decays and of every split, with
    what it costs in cores; and the cores of the whole network before and after (None if
    nothing was split)."""
    if not applies(profile):
        return qnet, [], None
    from snn_deploy.mapping.cores import plan_cores

    fields = shared_fields(profile.chip.arithmetic, profile.neurons)
    out = assign_groups(qnet, fields)
    split = out.split_populations
    records, cores = [], None
    if not profile.neurons.per_neuron_decays:
        for pop, qpop in zip(net.populations, qnet.populations, strict=True):
            floats = np.unique(np.stack([pop.alpha, pop.beta], axis=1), axis=0).shape[0]
            if floats <= 1:
                continue
            ints = np.unique(np.stack([qpop.params.du, qpop.params.dv], axis=1), axis=0).shape[0]
            records.append(
                Transformation(
                    step="quantize decays",
                    population=pop.name,
                    what=f"{floats} distinct (alpha, beta) pairs quantized to "
                    f"{profile.numerics.decay_bits}-bit (du, dv): {ints} distinct integer pairs",
                    why=f"{profile.chip.title} holds one du and dv per population "
                    f"({profile.key('neurons', 'per_neuron_decays')} = false)",
                    groups=ints,
                )
            )
    if split:
        before, _ = plan_cores(qnet, profile)
        after, _ = plan_cores(out, profile)
        cores = (len(before.cores), len(after.cores))
        for qpop in out.populations:
            k = split.get(qpop.name)
            if k is None:
                continue
            sizes = np.bincount(qpop.groups)
            differ = ", ".join(
                f for f in fields if _distinct(getattr(qnet.population(qpop.name).params, f)) > 1
            )
            records.append(
                Transformation(
                    step="split into groups",
                    population=qpop.name,
                    what=f"split into {k} groups of equal integer ({', '.join(fields)}), one "
                    f"Lava LIF process each (sizes {_sizes(sizes)}); every projection into and "
                    "out of it cut to match; its spikes are re-assembled in its own neuron order",
                    why=f"its neurons differ in {differ}, which {profile.chip.title} holds once "
                    "per process",
                    groups=k,
                    cores_before=before.cores_of(qpop.name),
                    cores_after=after.cores_of(qpop.name),
                )
            )
    return out, records, cores


def _sizes(sizes) -> str:
    shown = ", ".join(str(int(s)) for s in sizes[:8])
    return shown + (f", ... ({len(sizes)} groups)" if len(sizes) > 8 else "")


def summary(records: list[Transformation], cores: tuple[int, int] | None = None) -> str:
    """One line: what legalization did (empty if nothing)."""
    folded = [r.population for r in records if r.step == "fold thresholds"]
    split = [r for r in records if r.step == "split into groups"]
    if not folded and not split:
        decays = [r.population for r in records if r.step == "quantize decays"]
        if not decays:
            return ""
        return (
            f"legalized: the per-neuron decays of {len(decays)} layer(s) quantized to one "
            "integer (du, dv) each; nothing split"
        )
    parts = []
    if folded:
        parts.append(f"thresholds of {len(folded)} layer(s) folded into their weights")
    if split:
        parts.append(
            ", ".join(f"'{r.population}' split into {r.groups} groups" for r in split)
            + " (one decay and threshold per Lava process)"
        )
    line = "legalized: " + "; ".join(parts)
    if cores:
        line += f"; cores {cores[0]} -> {cores[1]}"
    return line
