"""Quantizer for the generic fixed-point chip (``numerics/fixedpoint.py``).

Per population one state scale ``S`` (integer units per float unit), the largest allowed by: the
threshold word (``theta S <= 2**threshold_bits - 1``), the state words with headroom (expected
``|I| S h`` and ``|V| S h`` within ``state_bits``), each incoming projection's largest weight
reachable with ``shift <= weight_shift_max``, and the bias word. Then ``w = R(W S / 2**shift)``
with the smallest shift that keeps ``|w| <= 2**(weight_bits-1) - 1``; decays
``a = R(alpha 2**decay_bits)``, ``b = R(beta 2**decay_bits)``; ``R`` is the chip's rounding.
Every saturated or zeroed value is counted in the report.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.ir.network import DiscreteNetwork, nonzeros
from snn_deploy.ir.timing import chip_timing
from snn_deploy.numerics.fixedpoint import FixedPointNumerics, round_float
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.common import assemble, choose_scale, expected_ranges, finite_max
from snn_deploy.quantize.network import QPopulation, QProjection
from snn_deploy.quantize.params import FixedLifParams, FixedSynapseParams
from snn_deploy.quantize.stats import PopulationStats, WeightStats

_ZEROED_EXAMPLES = 5


def quantize_fixedpoint(
    net: DiscreteNetwork,
    profile: HardwareProfile,
    calibration: dict | None = None,
    headroom: float = 2.0,
):
    num: FixedPointNumerics = profile.numerics
    timing = chip_timing(net, num.synapse_delay_steps)
    violations: list[Violation] = []
    pops, projs, stats = [], {}, []
    for pop in net.populations:
        incoming = net.incoming(pop.name)
        c_i, c_v, calib_source = expected_ranges(pop, incoming, (calibration or {}).get(pop.name))
        theta = np.asarray(pop.threshold)
        finite = np.isfinite(theta)
        limits = {}
        if finite_max(theta) > 0:
            limits["threshold"] = num.threshold_max / finite_max(theta)
        if c_i > 0:
            limits["current headroom"] = num.state_max / (c_i * headroom)
        if c_v > 0:
            limits["voltage headroom"] = num.state_max / (c_v * headroom)
        for proj in incoming:
            wmax = float(np.max(np.abs(nonzeros(proj.weight)), initial=0.0))
            if wmax > 0:
                limits[f"weight shift of '{proj.name}'"] = (
                    num.weight_max * 2.0**num.weight_shift_max / wmax
                )
        bmax = finite_max(pop.bias)
        if bmax > 0:
            limits["bias range"] = num.bias_max / bmax
        limited_by, scale = choose_scale(limits)
        r = num.rounding
        thr = np.where(
            finite, round_float(np.where(finite, theta, 0) * scale, r), num.threshold_max
        )
        thr_sat = int(np.count_nonzero(finite & ((thr < 0) | (thr > num.threshold_max))))
        thr = np.clip(thr, 0, num.threshold_max)
        if thr_sat:
            violations.append(
                Violation(
                    pop.name,
                    "threshold",
                    int(thr.max()),
                    num.threshold_max,
                    profile.key("numerics", "threshold_bits"),
                    "use a positive threshold",
                )
            )
        a = np.clip(round_float(pop.alpha * num.decay_unity, r), 0, num.decay_unity)
        b = np.clip(round_float(pop.beta * num.decay_unity, r), 0, num.decay_unity)
        bias = round_float(pop.bias * scale, r)
        bias_sat = int(np.count_nonzero(np.abs(bias) > num.bias_max))
        bias = np.clip(bias, -num.bias_max, num.bias_max)
        wstats = []
        for proj in incoming:
            w_int, shift, ws = _weights(proj, scale, num)
            projs[proj.name] = QProjection(
                proj.name,
                proj.source,
                proj.target,
                w_int,
                FixedSynapseParams(shift),
                delay_steps=timing.delays[proj.name],
            )
            wstats.append(ws)
        theta_back = thr / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(finite & (theta != 0), np.abs(theta_back - theta) / np.abs(theta), 0)
        stats.append(
            PopulationStats(
                population=pop.name,
                size=pop.size,
                scale=float(scale),
                threshold_float=finite_max(theta),
                threshold_int=int(thr.max(initial=0)),
                threshold_rel_error=float(rel.max(initial=0.0)),
                alpha_float=float(np.max(pop.alpha)),
                alpha_int=float(a.max() / num.decay_unity),
                beta_float=float(np.max(pop.beta)),
                beta_int=float(b.max() / num.decay_unity),
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
                FixedLifParams(a=a, b=b, threshold=thr, bias=bias),
                scale=float(scale),
                shift_steps=timing.shifts[pop.name],
                spiking=pop.spiking,
            )
        )
    return assemble(net, profile, timing, pops, projs, stats, violations)


def _weights(proj, scale: float, num: FixedPointNumerics):
    sparse = sp.issparse(proj.weight)
    w = proj.weight.data if sparse else np.asarray(proj.weight)
    wmax = float(np.max(np.abs(w), initial=0.0))
    shift = num.weight_shift_min
    if wmax > 0:
        shift = math.ceil(math.log2(wmax * scale / num.weight_max))
        shift = int(min(max(shift, num.weight_shift_min), num.weight_shift_max))
    unit = 2.0**shift / scale
    q = round_float(w / unit, num.rounding)
    saturated = int(np.count_nonzero(np.abs(q) > num.weight_max))
    q = np.clip(q, -num.weight_max, num.weight_max)
    zero = (q == 0) & (w != 0)
    if sparse:
        rows = np.repeat(np.arange(proj.weight.shape[0]), np.diff(proj.weight.indptr))
        examples = tuple(
            (int(rows[i]), int(proj.weight.indices[i]), float(w[i]))
            for i in np.flatnonzero(zero)[:_ZEROED_EXAMPLES]
        )
        q_out = sp.csr_matrix((q, proj.weight.indices, proj.weight.indptr), shape=proj.weight.shape)
    else:
        examples = tuple(
            (int(r), int(c), float(w[r, c])) for r, c in np.argwhere(zero)[:_ZEROED_EXAMPLES]
        )
        q_out = q
    err = q * unit - w
    stats = WeightStats(
        projection=proj.name,
        source=proj.source,
        target=proj.target,
        count=int(w.size),
        format=f"int{num.weight_bits} << shift",
        weight_exp=shift,
        mantissa_bits_used=int(np.max(np.abs(q), initial=0)).bit_length() + 1,
        max_abs_error=float(np.max(np.abs(err), initial=0.0)),
        rms_error_relative=float(np.sqrt(np.mean(err**2)) / wmax) if wmax > 0 else 0.0,
        saturated=saturated,
        zeroed=int(np.count_nonzero(zero)),
        zeroed_examples=examples,
    )
    return q_out, shift, stats
