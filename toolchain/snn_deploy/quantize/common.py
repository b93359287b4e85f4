"""Quantization steps shared by every arithmetic: expected state ranges, the scale choice."""

from __future__ import annotations

import math

import numpy as np

from snn_deploy.ir.network import Population


def finite_max(a) -> float:
    a = np.abs(np.asarray(a, dtype=np.float64))
    return float(np.max(a[np.isfinite(a)], initial=0.0))


def expected_ranges(pop: Population, incoming, calib: dict | None):
    """Largest |I| and |V| to expect: measured if calibration exists, else worst case."""
    if calib and "max_abs_current" in calib and "max_abs_voltage" in calib:
        c_i = float(calib["max_abs_current"])
        c_v = max(float(calib["max_abs_voltage"]), finite_max(pop.threshold))
        return c_i, c_v, calib.get("source", "measured on training data (checkpoint calibration)")
    drive = np.zeros(pop.size)
    for proj in incoming:  # every source spiking every step
        drive = drive + np.asarray(abs(proj.weight).sum(axis=1)).ravel()
    with np.errstate(divide="ignore"):
        c_i = float(np.max(drive / np.maximum(1.0 - pop.alpha, 0.0), initial=0.0))
        c_v = float(np.max((c_i + np.abs(pop.bias)) / np.maximum(1.0 - pop.beta, 0.0), initial=0))
    c_v = max(c_v, finite_max(pop.threshold))
    why = "worst-case bound (every input spiking every step; no calibration data)"
    if not math.isfinite(c_i) or not math.isfinite(c_v):
        c_i = c_i if math.isfinite(c_i) else float(np.max(drive, initial=0.0)) * 64
        c_v = c_v if math.isfinite(c_v) else 8.0 * max(finite_max(pop.threshold), c_i)
        why = "rough bound (no decay, no calibration data): 64 steps of full input, |V| <= 8 theta"
    return c_i, c_v, why


def choose_scale(limits: dict[str, float]) -> tuple[str, float]:
    """The largest scale every constraint allows, and the name of the one that set it."""
    if not limits:
        return "none", 1.0
    return min(limits.items(), key=lambda kv: kv[1])


def detect_grid(values: np.ndarray, lo: int, hi: int) -> float | None:
    """The step ``d`` if every value is an integer multiple ``k d`` with ``lo <= k <= hi``
    (weights trained with quantization awareness), else None. The coarsest such grid wins."""
    v = np.asarray(values, dtype=np.float64)
    v = v[v != 0]
    if v.size == 0:
        return None
    top = float(np.max(np.abs(v)))
    for k in range(1, max(hi, -lo) + 1):
        d = top / k
        ratio = v / d
        if (
            np.all(np.abs(ratio - np.rint(ratio)) < 1e-6)
            and np.rint(ratio).min() >= lo
            and (np.rint(ratio).max() <= hi)
        ):
            return d
    return None


def assemble(net, profile, timing, pops, projs: dict, stats, violations, notes=()):
    """The stage product of any quantizer: the integer network (inputs with their shifts,
    projections in the float network's order), its report (with the quantizer's own ``notes``),
    and every violation, including the loops whose timing the chip cannot preserve."""
    from snn_deploy.errors import Violation
    from snn_deploy.quantize.network import QInput, QuantizedNetwork
    from snn_deploy.quantize.stats import QuantizationReport

    violations = list(violations) + [
        Violation(
            layer="",
            what="loop timing",
            value="model delay too short",
            limit="chip synapse delay",
            relation="vs",
            fix=problem,
            key=profile.key("numerics", "synapse_delay_steps"),
        )
        for problem in timing.problems
    ]
    qnet = QuantizedNetwork(
        target=profile.name,
        arithmetic=profile.chip.arithmetic,
        inputs=tuple(QInput(i.name, i.size, i.kind, timing.shifts[i.name]) for i in net.inputs),
        populations=tuple(pops),
        projections=tuple(projs[p.name] for p in net.projections),
        outputs=net.outputs,
        contract=net.contract,
        notes=net.notes,
    )
    notes = (
        tuple(net.notes)
        + tuple(notes)
        + tuple(
            f"population '{p.name}' runs {p.shift_steps} step(s) later on the chip than in the "
            "float model (one step per synapse on its path)"
            for p in pops
            if p.shift_steps
        )
    )
    return qnet, QuantizationReport(profile.name, tuple(stats), notes), tuple(violations)
