"""Quantizer for Loihi-family chips: float :class:`DiscreteNetwork` -> Lava ``LIF``/``Dense`` ints.

Per population, one state scale ``S`` (integer units per float unit of I and V) is chosen as the
largest that satisfies every constraint, and the constraint that fixed it is reported:

- threshold: ``vth = round(theta * S / 2**threshold_shift)`` fits ``threshold_bits``;
- headroom: the largest expected ``|I|`` and ``|V|`` times ``S`` times ``headroom`` fit the
  ``state_bits`` words (``u`` wraps and ``v`` saturates beyond them). Expected ranges come from
  calibration (measured on data, stored by training) or, without it, from worst-case bounds;
- weights: every incoming projection can reach its largest weight with ``weight_exp <= max``;
- bias: ``bias * S`` fits ``bias_mant << bias_exp``.

Then, with ``m * 2**(weight_exp + input_shift) = W * S`` (the chip adds ``a_in << input_shift``
to ``u``): each projection gets the smallest exponent that keeps its largest weight inside the
mantissa, its mantissas rounded to the step the sign mode allows (MIXED: even numbers), and every
saturated or zeroed weight is counted. Decays: ``du = round(2**decay_bits * (1 - alpha)) -
current_decay_offset``, ``dv = round(2**decay_bits * (1 - beta)) - voltage_decay_offset``.
Nothing is altered silently: every rounding, clip and zeroing is in the returned report.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.ir.network import DiscreteNetwork, nonzeros
from snn_deploy.ir.timing import chip_timing
from snn_deploy.numerics.loihi import LoihiNumerics, determine_sign_mode
from snn_deploy.numerics.ops import round_nearest
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.common import (
    assemble,
    choose_scale,
    detect_grid,
    expected_ranges,
    finite_max,
)
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)
from snn_deploy.quantize.stats import PopulationStats, QuantizationReport, WeightStats

DEFAULT_HEADROOM = 2.0
_ZEROED_EXAMPLES = 5


def quantize_loihi(
    net: DiscreteNetwork,
    profile: HardwareProfile,
    calibration: dict | None = None,
    headroom: float = DEFAULT_HEADROOM,
    weight_bits: int | None = None,
    netx: bool = False,
) -> tuple[QuantizedNetwork, QuantizationReport, tuple[Violation, ...]]:
    """Returns the integer network, what quantization did, and what it could not represent.

    ``weight_bits`` (1..8) is Lava's ``num_weight_bits`` for every projection (default: all 8
    bits of the mantissa). ``netx`` chooses only integers that lava-dl's netx expresses
    (:func:`netx_numerics`), so that ``network.net`` can be written."""
    num: LoihiNumerics = netx_numerics(profile.numerics) if netx else profile.numerics
    nbits = num.weight_mantissa_bits if weight_bits is None else int(weight_bits)
    timing = chip_timing(net, num.synapse_delay_steps)
    violations: list[Violation] = []
    qpops, qprojs, stats = [], {}, []
    for pop in net.populations:
        incoming = net.incoming(pop.name)
        qpop, pstats, wq, viol = _quantize_population(
            pop, incoming, num, profile, (calibration or {}).get(pop.name), headroom, nbits
        )
        qpops.append(
            QPopulation(
                name=qpop["name"],
                size=pop.size,
                model=pop.model,
                params=qpop["params"],
                scale=qpop["scale"],
                shift_steps=timing.shifts[pop.name],
                spiking=pop.spiking,
            )
        )
        stats.append(pstats)
        violations.extend(viol)
        for proj in incoming:
            mant, params = wq[proj.name]
            qprojs[proj.name] = QProjection(
                name=proj.name,
                source=proj.source,
                target=proj.target,
                weight=mant,
                params=params,
                delay_steps=timing.delays[proj.name],
            )
    return assemble(net, profile, timing, qpops, qprojs, stats, violations)


def netx_numerics(num: LoihiNumerics) -> LoihiNumerics:
    """``num`` narrowed to what netx expresses: weight exponent 0 (netx adds the file's
    integer weights, derives its own exponent from them and has no field for ours) and bias
    exponent ``NETX_BIAS_EXP`` (netx builds every LIF with ``bias_exp = 6``)."""
    from snn_deploy.backends.netx.export import NETX_BIAS_EXP

    return dataclasses.replace(
        num,
        weight_exp_min=0,
        weight_exp_max=0,
        bias_exp_min=NETX_BIAS_EXP,
        bias_exp_max=NETX_BIAS_EXP,
    )


def _quantize_population(pop, incoming, num: LoihiNumerics, profile, calib, headroom, nbits):
    violations = []
    state_max = (1 << (num.state_bits - 1)) - 1
    vth_max = (1 << num.threshold_bits) - 1
    theta = np.asarray(pop.threshold)
    bias_total = np.asarray(pop.bias, dtype=np.float64).copy()
    theta = np.where(np.isfinite(theta), theta, np.inf)
    c_i, c_v, calib_source = expected_ranges(pop, incoming, calib)
    limits = {}
    theta_max = finite_max(theta)
    if theta_max > 0:
        limits["threshold"] = vth_max * (1 << num.threshold_shift) / theta_max
    if c_i > 0:
        limits["current headroom"] = state_max / (c_i * headroom)
    if c_v > 0:
        limits["voltage headroom"] = state_max / (c_v * headroom)
    top_exp = num.weight_exp_max + num.input_shift
    for proj in incoming:
        values = nonzeros(proj.weight)
        wmax = float(np.max(np.abs(values), initial=0.0))
        if wmax > 0:
            mode = determine_sign_mode(np.sign(values))
            hi = _mantissa_max(num, mode, nbits)
            limits[f"weight exponent of '{proj.name}'"] = hi * 2.0**top_exp / wmax
    bmax = float(np.max(np.abs(bias_total), initial=0.0))
    if bmax > 0:
        limits["bias range"] = (
            ((1 << (num.bias_mantissa_bits - 1)) - 1) * 2.0**num.bias_exp_max / bmax
        )
    limited_by, scale = choose_scale(limits)
    forced_exp = {}
    grid = _grid_scale(incoming, scale, num, nbits)
    if grid is not None:
        scale, forced_exp = grid
        limited_by += " (then lowered to put the trained weight grid on the chip's)"

    # A non-spiking readout (infinite threshold) gets the largest vth; the headroom keeps its
    # v below it, so it never spikes.
    finite = np.isfinite(theta)
    vth = round_nearest(np.where(finite, theta, 0.0) * scale / (1 << num.threshold_shift))
    vth_sat = int(np.count_nonzero(finite & ((vth < 0) | (vth > vth_max))))
    vth = np.where(finite, np.clip(vth, 0, vth_max), vth_max)
    unity = num.decay_unity
    du_raw = round_nearest(unity * (1.0 - pop.alpha)) - num.current_decay_offset
    dv_raw = round_nearest(unity * (1.0 - pop.beta)) - num.voltage_decay_offset
    du = np.clip(du_raw, 0, unity - 1)
    dv = np.clip(dv_raw, 0, unity - 1)
    for label, raw, key in (
        ("current decay du", du_raw, "decay_bits"),
        ("voltage decay dv", dv_raw, "decay_bits"),
    ):
        # One step off the range (no decay, or a complete decay, which Loihi cannot encode)
        # is a reported rounding of the decay by 1/4096; further is a broken format.
        far = np.abs(raw - np.clip(raw, 0, unity - 1)) > 1
        if np.any(far):
            bad = raw[far]
            violations.append(
                Violation(
                    layer=pop.name,
                    what=label,
                    value=int(bad[0]),
                    limit=f"0..{unity - 1}",
                    relation="outside",
                    key=profile.key("numerics", key),
                    fix="the time constant is shorter than one step or infinite; change tau or dt",
                )
            )
    if vth_sat:
        violations.append(
            Violation(
                layer=pop.name,
                what="threshold mantissa",
                value=int(np.max(vth)),
                limit=vth_max,
                key=profile.key("numerics", "threshold_bits"),
                fix="use a positive threshold; negative thresholds have no Loihi encoding",
            )
        )
    bias_mant, bias_exp, bias_sat = _encode_bias(round_nearest(bias_total * scale), num)
    bias_back = (bias_mant.astype(np.float64) * 2.0**bias_exp) / scale
    weights, wstats = {}, []
    for proj in incoming:
        mant, params, ws = _quantize_weights(proj, scale, num, nbits, forced_exp.get(proj.name))
        weights[proj.name] = (mant, params)
        wstats.append(ws)
    alpha_int = 1.0 - (du + num.current_decay_offset) / unity
    beta_int = 1.0 - (dv + num.voltage_decay_offset) / unity
    theta_int = vth * (1 << num.threshold_shift) / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(finite & (theta != 0), np.abs(theta_int - theta) / np.abs(theta), 0.0)
    stats = PopulationStats(
        population=pop.name,
        size=pop.size,
        scale=float(scale),
        threshold_float=theta_max,
        threshold_int=int(np.max(vth, initial=0)),  # vth_max for a non-spiking readout
        threshold_rel_error=float(np.max(rel, initial=0.0)),
        alpha_float=float(np.max(pop.alpha)),
        alpha_int=float(np.max(alpha_int)),
        beta_float=float(np.max(pop.beta)),
        beta_int=float(np.max(beta_int)),
        bias_max_abs_error=float(np.max(np.abs(bias_back - bias_total), initial=0.0)),
        bias_saturated=bias_sat,
        current_headroom=float(c_i * scale / state_max),
        voltage_headroom=float(c_v * scale / state_max),
        calibration=calib_source,
        limited_by=limited_by,
        weights=tuple(wstats),
    )
    params = LoihiLifParams(du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)
    return {"name": pop.name, "params": params, "scale": float(scale)}, stats, weights, violations


def _mantissa_range(num: LoihiNumerics, mode: str, nbits: int) -> tuple[int, int]:
    """Mantissas the chip keeps unchanged: inside the clip range and on the truncation step."""
    step = num.weight_step(mode, nbits)
    lo, hi = num.weight_range(mode)
    return -(-lo // step) * step, hi // step * step


def _mantissa_max(num: LoihiNumerics, mode: str, nbits: int) -> int:
    lo, hi = _mantissa_range(num, mode, nbits)
    return {"excitatory": hi, "inhibitory": -lo}.get(mode, min(hi, -lo))


def _grid_scale(incoming, scale: float, num: LoihiNumerics, nbits: int):
    """If every incoming projection's weights lie on a grid (quantization-aware training) and
    one scale <= ``scale`` maps each grid step onto the chip's mantissa step with an exponent in
    range, that scale and the exponents; else None (weights are then rounded as usual)."""
    steps = {}
    for proj in incoming:
        values = nonzeros(proj.weight)
        mode = determine_sign_mode(np.sign(values))
        step = num.weight_step(mode, nbits)
        lo, hi = _mantissa_range(num, mode, nbits)
        d = detect_grid(values, lo // step, hi // step)
        if d is None:
            return None
        steps[proj.name] = (d, step)
    if not steps:
        return None
    name0, (d0, step0) = next(iter(steps.items()))
    # scale = step * 2**(exp + shift) / d: the largest exponent that keeps scale <= the limit
    exp0 = math.floor(math.log2(scale * d0 / step0)) - num.input_shift
    new_scale = step0 * 2.0 ** (exp0 + num.input_shift) / d0
    exps = {}
    for name, (d, step) in steps.items():
        e = math.log2(new_scale * d / step) - num.input_shift
        if abs(e - round(e)) > 1e-9 or not num.weight_exp_min <= round(e) <= num.weight_exp_max:
            return None
        exps[name] = int(round(e))
    return new_scale, exps


def _quantize_weights(
    proj, scale: float, num: LoihiNumerics, nbits: int, forced_exp: int | None = None
):
    sparse = sp.issparse(proj.weight)
    w = proj.weight.data if sparse else np.asarray(proj.weight)
    mode = determine_sign_mode(np.sign(w))
    step = num.weight_step(mode, nbits)
    lo_eff, hi_eff = _mantissa_range(num, mode, nbits)
    wmax = float(np.max(np.abs(w), initial=0.0))
    exp = num.weight_exp_min
    needed = []
    if w.size and w.max() > 0 and hi_eff > 0:
        needed.append(math.ceil(math.log2(float(w.max()) * scale / hi_eff)))
    if w.size and w.min() < 0 and lo_eff < 0:
        needed.append(math.ceil(math.log2(-float(w.min()) * scale / -lo_eff)))
    if needed:
        exp = int(min(max(max(needed) - num.input_shift, num.weight_exp_min), num.weight_exp_max))
    if forced_exp is not None:
        exp = forced_exp
    unit = 2.0 ** (exp + num.input_shift) / scale  # float weight of one mantissa LSB
    mant = round_nearest(w / unit / step) * step
    saturated = int(np.count_nonzero((mant < lo_eff) | (mant > hi_eff)))
    mant = np.clip(mant, lo_eff, hi_eff)
    zero_mask = (mant == 0) & (w != 0)
    if sparse:
        rows = np.repeat(np.arange(proj.weight.shape[0]), np.diff(proj.weight.indptr))
        cols = proj.weight.indices
        examples = tuple(
            (int(rows[i]), int(cols[i]), float(w[i]))
            for i in np.flatnonzero(zero_mask)[:_ZEROED_EXAMPLES]
        )
    else:
        examples = tuple(
            (int(r), int(c), float(w[r, c])) for r, c in np.argwhere(zero_mask)[:_ZEROED_EXAMPLES]
        )
    err = mant * unit - w
    used = int(np.max(np.abs(mant), initial=0)).bit_length()
    stats = WeightStats(
        projection=proj.name,
        source=proj.source,
        target=proj.target,
        count=int(w.size),
        format=num.weight_format(mode, nbits),
        weight_exp=exp,
        mantissa_bits_used=used,
        max_abs_error=float(np.max(np.abs(err), initial=0.0)),
        rms_error_relative=float(np.sqrt(np.mean(err**2)) / wmax) if wmax > 0 else 0.0,
        saturated=saturated,
        zeroed=int(np.count_nonzero(zero_mask)),
        zeroed_examples=examples,
    )
    if sparse:
        mant = sp.csr_matrix(
            (mant, proj.weight.indices, proj.weight.indptr), shape=proj.weight.shape
        )
    return mant, LoihiSynapseParams(weight_exp=exp, num_weight_bits=nbits, sign_mode=mode), stats


def _encode_bias(b: np.ndarray, num: LoihiNumerics):
    """Integer biases -> (mantissa, exponent) with the smallest exponent that fits."""
    m_max = (1 << (num.bias_mantissa_bits - 1)) - 1
    m_min = -(1 << (num.bias_mantissa_bits - 1))
    exp = np.full(b.shape, num.bias_exp_min, dtype=np.int64)
    for e in range(num.bias_exp_min, num.bias_exp_max + 1):
        m = round_nearest(b / 2.0**e)
        need = (m > m_max) | (m < m_min)
        exp = np.where((exp == e) & need, e + 1, exp)
    exp = np.minimum(exp, num.bias_exp_max)
    mant = round_nearest(b / 2.0**exp)
    saturated = int(np.count_nonzero((mant > m_max) | (mant < m_min)))
    return np.clip(mant, m_min, m_max), exp, saturated
