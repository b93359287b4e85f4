"""Format and model checks: is every integer what the chip will store, unchanged?

For the Loihi family: neuron model, reset mode, voltage drive and spikes per step supported; one
decay and one threshold per population where the chip allows only one; decays, thresholds, bias
mantissas and exponents, weight exponents and delays inside their formats; and weights that the
chip's clip-and-truncate (``prepare_weights``) would leave exactly as they are.
"""

from __future__ import annotations

import numpy as np

from snn_deploy.errors import Violation
from snn_deploy.ir.network import nonzeros
from snn_deploy.numerics.loihi import prepare_weights
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.network import QuantizedNetwork

SPIKE_COUNT_ARITHMETICS = ("xylo",)  # kernels that emit several spikes per neuron and step


def check_formats(qnet: QuantizedNetwork, profile: HardwareProfile) -> list[Violation]:
    if qnet.arithmetic == "loihi":
        return _check_loihi(qnet, profile)
    if qnet.arithmetic == "fixedpoint":
        return _check_fixedpoint(qnet, profile)
    if qnet.arithmetic == "spinnaker":
        from snn_deploy.checks.spinnaker import check_spinnaker_formats

        return check_spinnaker_formats(qnet, profile)
    if qnet.arithmetic == "float32":
        from snn_deploy.checks.spinnaker import check_float32_formats

        return check_float32_formats(qnet, profile)
    if qnet.arithmetic == "xylo":
        return _check_xylo(qnet, profile)
    return []


def _check_xylo(qnet: QuantizedNetwork, profile: HardwareProfile) -> list[Violation]:
    """Layout (``checks/xylo.py``), models, then every array against the chip's formats."""
    from snn_deploy.backends.xylo.config import config_from_network
    from snn_deploy.checks.xylo import check_xylo

    out = check_models(qnet, profile) + check_xylo(qnet, profile)
    if out:
        return out
    for problem in config_from_network(qnet).problems(profile.numerics):
        out.append(
            Violation("", "Xylo configuration", problem, "the chip's formats",
                      profile.key("chip", "arithmetic"), "please report this: a quantizer bug",
                      relation="breaks")
        )  # fmt: skip
    return out


def check_mapping(qnet: QuantizedNetwork, profile: HardwareProfile, plan) -> list[Violation]:
    """Target-specific limits of a core plan beyond the shared ones of ``mapping/cores.py``."""
    if qnet.arithmetic == "spinnaker":
        from snn_deploy.checks.spinnaker import check_spinnaker_mapping

        return check_spinnaker_mapping(qnet, profile, plan)
    return []


def check_models(qnet: QuantizedNetwork, profile: HardwareProfile) -> list[Violation]:
    """Neuron models, reset mode and voltage drive against the profile's ``[neurons]``."""
    neurons, key, contract = profile.neurons, profile.key, qnet.contract
    out = []
    if (
        contract.reset not in neurons.reset_modes
        or contract.reset_delay
        or (contract.subtract_recheck)
    ):
        mode = (
            contract.reset
            + (" (delayed)" if contract.reset_delay else "")
            + (" (snnTorch re-check)" if contract.subtract_recheck else "")
        )
        out.append(
            Violation(
                layer="",
                what="reset mode",
                value=mode,
                limit=", ".join(neurons.reset_modes),
                relation="is not one of",
                key=key("neurons", "reset_modes"),
                fix="retrain with a reset the chip has, or state the right reset with --reset if "
                "the graph's metadata is wrong",
            )
        )
    if contract.current_drive not in neurons.current_drives:
        out.append(
            Violation(
                layer="",
                what="voltage drive",
                value=contract.current_drive,
                limit=", ".join(neurons.current_drives),
                relation="is not one of",
                key=key("neurons", "current_drives"),
                fix="the chip adds this step's current to the voltage; export the model that way",
            )
        )
    if (
        contract.spikes == "multi"
        and neurons.max_spikes_per_step >= 2
        and qnet.arithmetic not in SPIKE_COUNT_ARITHMETICS
    ):
        # Only the Xylo kernels compute spike counts.
        out.append(
            Violation(
                layer="",
                what="multi-spike integer arithmetic for",
                value=qnet.arithmetic,
                limit="snn-deploy",
                relation="is not implemented in",
                key=key("neurons", "max_spikes_per_step"),
                fix="compile with --spikes single, or implement spike counts for this arithmetic",
            )
        )
    if contract.spikes == "multi" and neurons.max_spikes_per_step < 2:
        for pop in qnet.populations:
            if pop.model in ("cuba_li",):  # a readout that never spikes
                continue
            out.append(
                Violation(
                    layer=pop.name,
                    what="spikes per neuron and step",
                    value="several (multi-spike model)",
                    limit=neurons.max_spikes_per_step,
                    relation="exceed",
                    key=key("neurons", "max_spikes_per_step"),
                    fix="the chip emits one spike per neuron and step: compile with --spikes "
                    "single (exact for Sinabs' SingleSpike; for a MultiSpike model an "
                    "approximation whose effect --calibrate DATA measures)",
                )
            )
    for pop in qnet.populations:
        if pop.model not in neurons.models:
            out.append(
                Violation(
                    layer=pop.name,
                    what="neuron model",
                    value=pop.model,
                    limit=", ".join(neurons.models),
                    relation="is not one of",
                    key=key("neurons", "models"),
                    fix="use a neuron model the chip runs (a spiking LIF, read out by spike "
                    "counts)",
                )
            )
    return out


def _check_fixedpoint(qnet: QuantizedNetwork, profile: HardwareProfile) -> list[Violation]:
    num, key = profile.numerics, profile.key
    out = check_models(qnet, profile)
    fix = "quantize the layer again; this value would not be stored as is"
    for pop in qnet.populations:
        q = pop.params
        for what, values, lo, hi, k in (
            ("current decay", q.a, 0, num.decay_unity, "decay_bits"),
            ("voltage decay", q.b, 0, num.decay_unity, "decay_bits"),
            ("threshold", q.threshold, 0, num.threshold_max, "threshold_bits"),
            ("bias", q.bias, -num.bias_max, num.bias_max, "bias_bits"),
        ):
            v = _range_violation(pop.name, what, values, lo, hi, key("numerics", k), fix)
            if v:
                out.append(v)
    for proj in qnet.projections:
        for what, values, lo, hi, k in (
            ("weights", nonzeros(proj.weight), -num.weight_max, num.weight_max, "weight_bits"),
            (
                "weight shift",
                [proj.params.shift],
                num.weight_shift_min,
                num.weight_shift_max,
                "weight_shift_max",
            ),
            (
                "synaptic delay in steps",
                [proj.delay_steps],
                num.synapse_delay_steps,
                num.synapse_delay_steps + num.max_delay,
                "delay_bits",
            ),
        ):
            v = _range_violation(proj.name, what, values, lo, hi, key("numerics", k), fix)
            if v:
                out.append(v)
    return out


def _range_violation(layer, what, values, lo, hi, key, fix):
    values = np.asarray(values)
    bad = values[(values < lo) | (values > hi)]
    if bad.size == 0:
        return None
    worst = int(bad[np.argmax(np.abs(bad))])
    return Violation(
        layer=layer,
        what=f"{what} ({bad.size} value(s))",
        value=worst,
        limit=f"{lo}..{hi}",
        relation="outside",
        key=key,
        fix=fix,
    )


def _check_loihi(qnet: QuantizedNetwork, profile: HardwareProfile) -> list[Violation]:
    num, neurons, key = profile.numerics, profile.neurons, profile.key
    out = check_models(qnet, profile)
    for pop in qnet.populations:
        q = pop.params
        groups = pop.groups if pop.groups is not None else np.zeros(pop.size, np.int64)
        where = pop.name if pop.groups is None else f"{pop.name} (in each of its groups)"
        for flag, names, what, kind in (
            ("per_neuron_decays", ("du", "dv"), "{name} values", "time constants"),
            ("per_neuron_threshold", ("vth",), "thresholds", "threshold"),
        ):
            if getattr(neurons, flag):
                continue
            for name in names:
                n = (
                    max(
                        np.unique(np.asarray(getattr(q, name))[groups == g]).size
                        for g in np.unique(groups)
                    )
                    if pop.size
                    else 0
                )
                if n > 1:
                    out.append(
                        Violation(
                            layer=where,
                            what=f"distinct {what.format(name=name)} in one population",
                            value=n,
                            limit=1,
                            key=key("neurons", flag),
                            fix=f"give every neuron of the layer the same {kind}; snn-deploy "
                            "splits such a layer into groups itself, except with --plastic",
                        )
                    )
        top = num.decay_unity - 1
        checks = (
            ("current decay du", q.du, 0, top, key("numerics", "decay_bits")),
            ("voltage decay dv", q.dv, 0, top, key("numerics", "decay_bits")),
            (
                "threshold vth",
                q.vth,
                0,
                (1 << num.threshold_bits) - 1,
                key("numerics", "threshold_bits"),
            ),
            (
                "bias mantissa",
                q.bias_mant,
                -(1 << (num.bias_mantissa_bits - 1)),
                (1 << (num.bias_mantissa_bits - 1)) - 1,
                key("numerics", "bias_mantissa_bits"),
            ),
            (
                "bias exponent",
                q.bias_exp,
                num.bias_exp_min,
                num.bias_exp_max,
                key("numerics", "bias_exp_max"),
            ),
        )
        for what, values, lo, hi, k in checks:
            v = _range_violation(
                pop.name,
                what,
                values,
                lo,
                hi,
                k,
                "quantize the layer again; this value would not be stored as is",
            )
            if v:
                out.append(v)
    for proj in qnet.projections:
        p = proj.params
        layer = f"{proj.name}"
        if p.sign_mode not in ("excitatory", "inhibitory", "mixed"):
            out.append(
                Violation(
                    layer,
                    "sign mode",
                    p.sign_mode,
                    "excitatory, inhibitory, mixed",
                    key("numerics", "weight_mantissa_bits"),
                    "use a Lava sign mode",
                    relation="is not one of",
                )
            )
            continue
        if not 1 <= p.num_weight_bits <= num.weight_mantissa_bits:
            out.append(
                Violation(
                    layer,
                    "weight bits",
                    p.num_weight_bits,
                    f"1..{num.weight_mantissa_bits}",
                    key("numerics", "weight_mantissa_bits"),
                    "use at most the chip's mantissa bits",
                    relation="outside",
                )
            )
            continue
        v = _range_violation(
            layer,
            "weight exponent",
            [p.weight_exp],
            num.weight_exp_min,
            num.weight_exp_max,
            key("numerics", "weight_exp_max"),
            "scale the layer's weights (or its threshold) into range",
        )
        if v:
            out.append(v)
        values = nonzeros(proj.weight)
        changed = int(
            np.count_nonzero(prepare_weights(values, p.sign_mode, p.num_weight_bits, num) != values)
        )
        if changed:
            out.append(
                Violation(
                    layer=layer,
                    what="weights the chip would clip or truncate",
                    value=changed,
                    limit=0,
                    key=key("numerics", "weight_mantissa_bits"),
                    fix="quantize with snn-deploy, which rounds weights onto the chip's grid",
                )
            )
        lo = num.synapse_delay_steps
        v = _range_violation(
            layer,
            "synaptic delay in steps",
            [proj.delay_steps],
            lo,
            lo + num.max_delay,
            key("numerics", "delay_bits"),
            "shorten the delay; longer delays need relay neurons",
        )
        if v:
            out.append(v)
    return out
