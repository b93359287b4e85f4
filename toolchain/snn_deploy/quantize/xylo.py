"""Quantizer for Xylo Audio 2 (``numerics/xylo.py``, docs/xylo.md).

Xylo decays by bit shifts: ``dash = round(-log2(1 - alpha))`` (and the same from ``beta``),
clipped to ``0 .. 2**dash_bits - 1``; a current needs ``dash_syn >= 1`` (``dash 0`` empties it
before the membrane reads it). Xylo decays the current *before* the membrane reads it, so a
weight reaches the membrane as ``w (1 - 2**-dash_syn)``: the quantizer divides every weight by
that factor of its target, which makes the first step exact and leaves only the decay's error.

Per population one state scale ``S``, the largest allowed by: the threshold (``theta S <=
32767``), the state words with headroom, each incoming matrix's largest weight reachable with
``shift <= weight_shift_max`` and the bias word. Then ``w = round(W S / a / 2**shift)`` with the
smallest shift in ``weight_shift_min .. weight_shift_max`` that keeps ``w`` in int8; thresholds
``round(theta S)`` (at least 1; a readout that never spikes gets 32767), biases ``round(b S)``.
Every saturated or zeroed value, and each decay's error, is in the report.
"""

from __future__ import annotations

import math
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.ir.network import DiscreteNetwork, nonzeros
from snn_deploy.ir.timing import ChipTiming
from snn_deploy.numerics.xylo import XyloNumerics
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.common import assemble, choose_scale, expected_ranges, finite_max
from snn_deploy.quantize.network import QPopulation, QProjection
from snn_deploy.quantize.params import XyloLifParams, XyloSynapseParams
from snn_deploy.quantize.stats import PopulationStats, WeightStats

_ZEROED_EXAMPLES = 5


def dash_of(decay, dash_max: int, lowest: int = 0) -> np.ndarray:
    """Bit-shift decay nearest to multiplying by ``decay`` each step: ``1 - 2**-dash``."""
    keep = np.clip(1.0 - np.asarray(decay, dtype=np.float64), 2.0**-dash_max, 1.0)
    return np.clip(np.round(-np.log2(keep)), lowest, dash_max).astype(np.int64)


def xylo_timing(net: DiscreteNetwork) -> ChipTiming:
    """Inputs reach hidden neurons in the same step; hidden spikes reach hidden and output
    neurons one step later: the readout runs one step later than in the float model."""
    feeds_out = {p.target for p in net.projections if p.target in net.outputs}
    shifts = {p.name: 0 for p in net.inputs}
    shifts.update({p.name: (1 if p.name in feeds_out else 0) for p in net.populations})
    delays, problems = {}, []
    for p in net.projections:
        want = 0 if p.source in shifts and p.source in {i.name for i in net.inputs} else 1
        d = p.delay_steps + shifts[p.target] - shifts[p.source]
        if d != want:
            problems.append(
                f"projection '{p.name}' ({p.source} -> {p.target}) has model delay "
                f"{p.delay_steps}; on Xylo it takes {want} step(s)"
            )
        delays[p.name] = want
    return ChipTiming(MappingProxyType(shifts), MappingProxyType(delays), tuple(problems))


def quantize_xylo(
    net: DiscreteNetwork,
    profile: HardwareProfile,
    calibration: dict | None = None,
    headroom: float = 2.0,
):
    num: XyloNumerics = profile.numerics
    timing = xylo_timing(net)
    violations: list[Violation] = []
    pops, projs, stats = [], {}, []
    for pop in net.populations:
        incoming = net.incoming(pop.name)
        c_i, c_v, calib_source = expected_ranges(pop, incoming, (calibration or {}).get(pop.name))
        dash_syn = dash_of(pop.alpha, num.dash_max, lowest=1)
        dash_mem = dash_of(pop.beta, num.dash_max)
        keep = 1.0 - 2.0 ** -dash_syn.astype(np.float64)  # the current's first-step factor
        theta = np.asarray(pop.threshold)
        finite = np.isfinite(theta) & pop.spiking
        limits = {}
        if finite_max(np.where(finite, theta, 0)) > 0:
            limits["threshold"] = num.state_max / finite_max(np.where(finite, theta, 0))
        if c_i > 0:
            limits["current headroom"] = num.state_max / (c_i * headroom)
        if c_v > 0:
            limits["voltage headroom"] = num.state_max / (c_v * headroom)
        for proj in incoming:
            wmax = _wmax(proj.weight, keep)
            if wmax > 0:
                limits[f"weight shift of '{proj.name}'"] = (
                    num.weight_max * 2.0**num.weight_shift_max / wmax
                )
        bmax = finite_max(np.abs(pop.bias))
        if bmax > 0:
            limits["bias range"] = num.bias_max / bmax
        limited_by, scale = choose_scale(limits)
        thr = np.where(finite, np.round(np.where(finite, theta, 0) * scale), num.state_max)
        thr_low = int(np.count_nonzero(finite & (thr < num.threshold_min)))
        thr = np.clip(thr, num.threshold_min, num.state_max).astype(np.int64)
        if thr_low:
            violations.append(
                Violation(
                    pop.name,
                    "thresholds below the smallest",
                    thr_low,
                    num.threshold_min,
                    profile.key("numerics", "threshold_min"),
                    "use a positive threshold",
                )
            )
        bias = np.round(pop.bias * scale).astype(np.int64)
        bias_sat = int(np.count_nonzero(np.abs(bias) > num.bias_max))
        bias = np.clip(bias, -num.bias_max, num.bias_max)
        wstats = []
        for proj in incoming:
            w_int, shift, ws = _weights(proj, scale, keep, num)
            projs[proj.name] = QProjection(
                proj.name,
                proj.source,
                proj.target,
                w_int,
                XyloSynapseParams(shift),
                delay_steps=timing.delays[proj.name],
            )
            wstats.append(ws)
        theta_back = thr / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(finite & (theta != 0), np.abs(theta_back - theta) / np.abs(theta), 0)
        alpha_int = 1.0 - 2.0 ** -dash_syn.astype(np.float64)
        beta_int = 1.0 - 2.0 ** -dash_mem.astype(np.float64)
        stats.append(
            PopulationStats(
                population=pop.name,
                size=pop.size,
                scale=float(scale),
                threshold_float=finite_max(np.where(finite, theta, 0)),
                threshold_int=int(thr.max(initial=0)),
                threshold_rel_error=float(rel.max(initial=0.0)),
                alpha_float=float(np.max(pop.alpha)),
                alpha_int=float(alpha_int[np.argmax(pop.alpha)]) if pop.size else 0.0,
                beta_float=float(np.max(pop.beta)),
                beta_int=float(beta_int[np.argmax(pop.beta)]) if pop.size else 0.0,
                bias_max_abs_error=float(np.max(np.abs(bias / scale - pop.bias), initial=0.0)),
                bias_saturated=bias_sat,
                current_headroom=float(c_i * scale / num.state_max),
                voltage_headroom=float(c_v * scale / num.state_max),
                calibration=calib_source,
                limited_by=limited_by,
                weights=tuple(wstats),
            )
        )
        pops.append(
            QPopulation(
                pop.name,
                pop.size,
                pop.model,
                XyloLifParams(dash_mem=dash_mem, dash_syn=dash_syn, threshold=thr, bias=bias),
                scale=float(scale),
                shift_steps=timing.shifts[pop.name],
                spiking=pop.spiking,
            )
        )
    notes = (
        "Xylo decays by bit shifts (x -= x >> dash, at least one unit): alpha and beta in the "
        "report are 1 - 2**-dash; weights are divided by their target's 1 - 2**-dash_syn "
        "because Xylo decays the current before the membrane reads it",
    )
    if net.contract.spikes == "single":
        notes += (
            f"the model emits one spike per neuron and step; Xylo's hidden neurons emit "
            f"floor(V / threshold) spikes (up to {num.max_hidden_spikes}) and subtract as many "
            "thresholds: the two differ wherever V reaches twice the threshold (the emulation's "
            "multi_spikes event counts those steps)",
        )
    if net.contract.spikes == "multi":
        notes += (
            f"Xylo's output neurons emit at most {num.max_output_spikes} spike(s) per step "
            f"(hidden neurons up to {num.max_hidden_spikes}); the float model's output layer "
            "is not capped",
        )
    return assemble(net, profile, timing, pops, projs, stats, violations, notes)


def _dense(weight) -> np.ndarray:
    return weight.toarray() if sp.issparse(weight) else np.asarray(weight, dtype=np.float64)


def _wmax(weight, keep) -> float:
    if not nonzeros(weight).size:
        return 0.0
    return float(np.max(np.abs(_dense(weight) / keep[:, None]), initial=0.0))


def _weights(proj, scale: float, keep: np.ndarray, num: XyloNumerics):
    w = _dense(proj.weight)
    target = w / keep[:, None]
    wmax = float(np.max(np.abs(target), initial=0.0))
    shift = num.weight_shift_min
    if wmax > 0:
        shift = math.ceil(math.log2(max(wmax * scale / num.weight_max, 1e-300)))
        shift = int(min(max(shift, num.weight_shift_min), num.weight_shift_max))
    unit = 2.0**shift / scale
    q = np.round(target / unit).astype(np.int64)
    saturated = int(np.count_nonzero((q > num.weight_max) | (q < num.weight_min)))
    q = np.clip(q, num.weight_min, num.weight_max)
    zero = (q == 0) & (w != 0)
    examples = tuple(
        (int(r), int(c), float(w[r, c])) for r, c in np.argwhere(zero)[:_ZEROED_EXAMPLES]
    )
    err = q * unit * keep[:, None] - w
    nz = w != 0
    wmax_float = float(np.max(np.abs(w), initial=0.0))
    stats = WeightStats(
        projection=proj.name,
        source=proj.source,
        target=proj.target,
        count=int(np.count_nonzero(nz)),
        format=f"int{num.weight_bits} << shift",
        weight_exp=shift,
        mantissa_bits_used=int(np.max(np.abs(q), initial=0)).bit_length() + 1,
        max_abs_error=float(np.max(np.abs(err), initial=0.0)),
        rms_error_relative=(
            float(np.sqrt(np.mean(err[nz] ** 2)) / wmax_float) if wmax_float > 0 else 0.0
        ),
        saturated=saturated,
        zeroed=int(np.count_nonzero(zero)),
        zeroed_examples=examples,
    )
    return q, shift, stats
