"""SpiNNaker checks: formats (every word is what sPyNNaker stores, unchanged) and sPyNNaker's
mapping limits, read-only analyses returning :class:`Violation` records.

Mapping limits (sPyNNaker 7.4.1; numbers in ``spinnaker1.toml``):

- atoms per core at most ``[numerics].max_row_length`` (``population_vertex.py:
  set_max_atoms_per_dimension_per_core`` refuses more, ``POP_TABLE_MAX_ROW_LENGTH``);
- a synaptic row (one source neuron's synapses onto one core) at most ``max_row_length``;
- ring-buffer index bits: ``atom bits + synapse-type bits + delay bits <= 14``
  (``population_vertex.py: __update_max_delay``), so a core holds
  ``2**(14 - atom bits - 1)`` delay slots; longer delays go through a delay-extension core,
  which covers at most ``max_delay_extension_stages`` times the slots
  (``delay_extension_vertex.py: get_max_delay_ticks_supported``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.ir.network import nonzeros
from snn_deploy.numerics.spinnaker import n_bits

_FIX = "quantize the layer again with snn-deploy; this value would not be stored as is"


def _range(layer, what, values, lo, hi, key, fix=_FIX):
    values = np.asarray(values)
    bad = values[(values < lo) | (values > hi)]
    if bad.size == 0:
        return []
    worst = bad.flat[int(np.argmax(np.abs(bad.astype(np.float64))))]
    return [
        Violation(
            layer,
            f"{what} ({bad.size} value(s))",
            worst.item(),
            f"{lo}..{hi}",
            key,
            fix,
            relation="outside",
        )
    ]


def check_spinnaker_formats(qnet, profile) -> list[Violation]:
    from snn_deploy.checks.formats import check_models

    num, key = profile.numerics, profile.key
    out = check_models(qnet, profile)
    acc = key("numerics", "accum_bits")
    for pop in qnet.populations:
        q = pop.params
        for name in (
            "v_init",
            "v_rest",
            "cm",
            "tau_m",
            "i_offset",
            "v_reset",
            "v_thresh",
            "tau_refrac",
            "tau_syn_e",
            "tau_syn_i",
            "time_step",
        ):
            out += _range(
                pop.name, f"{name} s16.15 word", getattr(q, name), num.accum_min, num.accum_max, acc
            )
        for name in ("cm", "tau_m", "time_step"):
            out += _range(
                pop.name,
                f"{name} (must be > 0)",
                getattr(q, name),
                1,
                num.accum_max,
                acc,
                "give the layer a positive time constant and capacitance",
            )
        if int(q.exponential):
            for name in ("tau_syn_e", "tau_syn_i"):
                out += _range(
                    pop.name,
                    f"{name} (must be > 0)",
                    getattr(q, name),
                    1,
                    num.accum_max,
                    acc,
                    "give the synapse a positive time constant",
                )
        out += _range(
            pop.name,
            "ring-buffer left shift",
            q.rb_shifts,
            0,
            15,
            key("numerics", "ring_buffer_entry_bits"),
        )
    for proj in qnet.projections:
        out += _range(
            proj.name,
            "16-bit weight word",
            np.abs(nonzeros(proj.weight)),
            0,
            num.weight_max,
            key("numerics", "weight_bits"),
        )
        out += _range(
            proj.name,
            "synaptic delay in ticks",
            [proj.delay_steps],
            num.synapse_delay_steps,
            2**31,
            key("numerics", "synapse_delay_steps"),
            "PyNN delays on SpiNNaker are at least one time step",
        )
    return out


def check_float32_formats(qnet, profile) -> list[Violation]:
    from snn_deploy.checks.formats import check_models

    num, key = profile.numerics, profile.key
    out = check_models(qnet, profile)
    neurons = profile.neurons
    for pop in qnet.populations:
        for name, flag in (
            ("alpha", "per_neuron_decays"),
            ("beta", "per_neuron_decays"),
            ("threshold", "per_neuron_threshold"),
        ):
            n = np.unique(getattr(pop.params, f"{name}_bits")).size
            if not getattr(neurons, flag) and n > 1:
                out.append(
                    Violation(
                        pop.name,
                        f"distinct {name} values in one population",
                        n,
                        1,
                        key("neurons", flag),
                        "give every neuron of the layer the same parameters, or split it",
                    )
                )
    for proj in qnet.projections:
        out += _range(
            proj.name,
            "weights",
            nonzeros(proj.weight),
            -num.weight_max,
            num.weight_max,
            key("numerics", "weight_bits"),
        )
        hi = 2**31 if num.max_delay is None else num.synapse_delay_steps + num.max_delay
        out += _range(
            proj.name,
            "synaptic delay in steps",
            [proj.delay_steps],
            num.synapse_delay_steps,
            hi,
            key("numerics", "max_delay_bits"),
            "shorten the delay",
        )
    return out


def atoms_per_core(plan) -> dict[str, int]:
    """The largest slice of each population in the core plan: what
    ``set_max_atoms_per_core`` is given."""
    out: dict[str, int] = {}
    for core in plan.cores:
        for s in core.slices:
            out[s.population] = max(out.get(s.population, 0), s.neurons)
    return out


def delay_slots(atoms: int, num) -> int:
    """Delay slots of one core's ring buffer: ``2**(14 - atom bits - synapse-type bits)``."""
    bits = num.max_ring_buffer_index_bits - (n_bits(atoms) + num.synapse_type_bits)
    return 2**bits if bits >= 0 else 0


def check_spinnaker_mapping(qnet, profile, plan) -> list[Violation]:
    num, key = profile.numerics, profile.key
    out = []
    atoms = atoms_per_core(plan)
    for pop in qnet.populations:
        a = atoms.get(pop.name, pop.size)
        if a > num.max_row_length:
            out.append(
                Violation(
                    pop.name,
                    "neurons per core",
                    a,
                    num.max_row_length,
                    key("numerics", "max_row_length"),
                    "lower [core].max_neurons to at most 256",
                )
            )
        slots = delay_slots(a, num)
        incoming = qnet.incoming(pop.name)
        longest = max((p.delay_steps for p in incoming), default=0)
        limit = num.max_delay_extension_stages * slots
        if incoming and longest > limit:
            out.append(
                Violation(
                    pop.name,
                    f"synaptic delay in ticks ({a} neurons per core: "
                    f"{slots} on-core slots x {num.max_delay_extension_stages} "
                    "delay-extension stages)",
                    longest,
                    limit,
                    key("numerics", "max_delay_extension_stages"),
                    "shorten the delay, or put fewer neurons on each core (more delay bits)",
                )
            )
        for proj in incoming:
            row = _longest_row(proj, pop.size, a)
            if row > num.max_row_length:
                out.append(
                    Violation(
                        proj.name,
                        "synapses in one synaptic row",
                        row,
                        num.max_row_length,
                        key("numerics", "max_row_length"),
                        "put fewer neurons on each core",
                    )
                )
    return out


def _longest_row(proj, n_target: int, atoms: int) -> int:
    """Most synapses from one source neuron onto one core's ``atoms`` consecutive targets."""
    w = proj.weight
    longest = 0
    for start in range(0, n_target, max(atoms, 1)):
        block = w[start : start + atoms]
        counts = (
            np.diff(sp.csc_matrix(block).indptr)
            if sp.issparse(block)
            else np.count_nonzero(np.asarray(block), axis=0)
        )
        longest = max(longest, int(np.max(counts, initial=0)))
    return longest
