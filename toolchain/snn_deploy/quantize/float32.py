"""Quantizer for the float32 LIF with integer weights (SpiNNaker2, ``numerics/float32.py``).

Per population one scale ``S`` (state units per float unit), the largest that puts every
incoming weight inside the signed ``weight_bits`` range: ``S = weight_max / max |W|``. Weights
are ``round(W S)`` (ties to even); ``alpha``, ``beta`` are the nearest float32 values;
threshold and bias are ``theta S`` and ``bias S`` in float32. The state is float32, so no
headroom is needed. Every weight that rounds to zero or saturates is counted in the report.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.ir.network import DiscreteNetwork, nonzeros
from snn_deploy.ir.timing import chip_timing
from snn_deploy.numerics.float32 import Float32Numerics
from snn_deploy.numerics.ops import round_nearest
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.common import assemble, expected_ranges, finite_max
from snn_deploy.quantize.network import QPopulation, QProjection
from snn_deploy.quantize.params import Float32LifParams, Float32SynapseParams
from snn_deploy.quantize.stats import PopulationStats, WeightStats

_EXAMPLES = 5
_F32_MAX = float(np.finfo(np.float32).max)


def quantize_float32(
    net: DiscreteNetwork,
    profile: HardwareProfile,
    calibration: dict | None = None,
    headroom: float = 2.0,
):
    num: Float32Numerics = profile.numerics
    timing = chip_timing(net, num.synapse_delay_steps)
    violations: list[Violation] = []
    pops, projs, stats = [], {}, []
    for pop in net.populations:
        incoming = net.incoming(pop.name)
        wmax = max(
            (float(np.max(np.abs(nonzeros(p.weight)), initial=0.0)) for p in incoming), default=0.0
        )
        scale = num.weight_max / wmax if wmax > 0 else 1.0
        theta = np.asarray(pop.threshold, dtype=np.float64)
        finite = np.isfinite(theta)
        thr = np.where(finite & pop.spiking, theta * scale, _F32_MAX).astype(np.float32)
        alpha = np.asarray(pop.alpha, dtype=np.float32)
        beta = np.asarray(pop.beta, dtype=np.float32)
        bias = (np.asarray(pop.bias) * scale).astype(np.float32)
        wstats = []
        for proj in incoming:
            q, ws = _weights(proj, scale, num)
            projs[proj.name] = QProjection(
                proj.name,
                proj.source,
                proj.target,
                q,
                Float32SynapseParams(num.weight_bits),
                delay_steps=timing.delays[proj.name],
            )
            wstats.append(ws)
        c_i, c_v, calib_source = expected_ranges(pop, incoming, (calibration or {}).get(pop.name))
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(
                finite & (theta != 0),
                np.abs(thr.astype(np.float64) / scale - theta) / np.abs(theta),
                0.0,
            )
        stats.append(
            PopulationStats(
                population=pop.name,
                size=pop.size,
                scale=float(scale),
                threshold_float=finite_max(theta),
                threshold_int=int(
                    np.max(np.where(finite, np.rint(thr.astype(np.float64)), 0), initial=0)
                ),
                threshold_rel_error=float(np.max(np.where(finite, rel, 0), initial=0.0)),
                alpha_float=float(np.max(pop.alpha)),
                alpha_int=float(np.max(alpha)),
                beta_float=float(np.max(pop.beta)),
                beta_int=float(np.max(beta)),
                bias_max_abs_error=float(np.max(np.abs(bias / scale - pop.bias), initial=0.0)),
                bias_saturated=0,
                current_headroom=float(c_i * scale / _F32_MAX),
                voltage_headroom=float(c_v * scale / _F32_MAX),
                calibration=calib_source,
                limited_by=f"weight range ({num.weight_bits}-bit signed integers)",
                weights=tuple(wstats),
            )
        )
        pops.append(
            QPopulation(
                pop.name,
                pop.size,
                pop.model,
                Float32LifParams(
                    alpha_bits=Float32LifParams.pack(alpha),
                    beta_bits=Float32LifParams.pack(beta),
                    threshold_bits=Float32LifParams.pack(thr),
                    bias_bits=Float32LifParams.pack(bias),
                ),
                scale=float(scale),
                shift_steps=timing.shifts[pop.name],
                spiking=pop.spiking,
            )
        )
    return assemble(net, profile, timing, pops, projs, stats, violations)


def _weights(proj, scale: float, num: Float32Numerics):
    sparse = sp.issparse(proj.weight)
    w = proj.weight.data if sparse else np.asarray(proj.weight)
    q = round_nearest(w * scale)
    saturated = int(np.count_nonzero(np.abs(q) > num.weight_max))
    q = np.clip(q, -num.weight_max, num.weight_max)
    zero = (q == 0) & (w != 0)
    if sparse:
        rows = np.repeat(np.arange(proj.weight.shape[0]), np.diff(proj.weight.indptr))
        examples = tuple(
            (int(rows[i]), int(proj.weight.indices[i]), float(w[i]))
            for i in np.flatnonzero(zero)[:_EXAMPLES]
        )
    else:
        examples = tuple((int(r), int(c), float(w[r, c])) for r, c in np.argwhere(zero)[:_EXAMPLES])
    err = q / scale - w
    wmax = float(np.max(np.abs(w), initial=0.0))
    stats = WeightStats(
        projection=proj.name,
        source=proj.source,
        target=proj.target,
        count=int(w.size),
        format=f"int{num.weight_bits}",
        weight_exp=0,
        mantissa_bits_used=int(np.max(np.abs(q), initial=0)).bit_length() + 1,
        max_abs_error=float(np.max(np.abs(err), initial=0.0)),
        rms_error_relative=float(np.sqrt(np.mean(err**2)) / wmax) if wmax > 0 else 0.0,
        saturated=saturated,
        zeroed=int(np.count_nonzero(zero)),
        zeroed_examples=examples,
    )
    if sparse:
        q = sp.csr_matrix((q, proj.weight.indices, proj.weight.indptr), shape=proj.weight.shape)
    return q, stats
