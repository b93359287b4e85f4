"""Quantizer for SpiNNaker 1: float :class:`DiscreteNetwork` -> sPyNNaker ``IF_curr_exp`` /
``IF_curr_delta`` parameters and 16-bit ring-buffer weights (``numerics/spinnaker.py``).

The float population ``I[t] = alpha I[t-1] + x[t]``, ``V[t] = beta V[t-1] + I[t] + bias`` maps
onto sPyNNaker's neuron (equations in :mod:`snn_deploy.numerics.spinnaker`) as follows, with
``S`` the population's voltage scale (mV per float unit):

- ``tau_m`` is the s16.15 word whose on-chip ``exp_TC = expk(-ts/tau_m)`` is closest to
  ``beta``; ``cm`` is chosen so that ``R = kdivk(tau_m, cm)`` makes the gain from current to
  voltage ``g = (1 - exp_TC) R`` close to 1 mV/nA; the exact ``g`` of the chip's words is used
  for everything below. ``IF_curr_delta`` (``alpha = 0``) has ``g = (1 - exp_TC) R / ts``.
- ``tau_syn_E = tau_syn_I`` is the word whose on-chip ``decay = expulr(-ts/tau_syn)`` is closest
  to ``alpha``; a spike then adds ``init * w`` to the current, where ``init = (tau/ts)(1 -
  decay)`` is computed on the chip too. So a float weight ``W`` is ``W S / (g init)`` nA.
- ``v_thresh = theta S + one s16.15 step``: the chip fires on ``V >= v_thresh``, which is
  ``V > theta S`` on the word grid; ``v_rest = 0``, ``v_reset = v_reset S``, ``i_offset =
  bias S / g``, ``tau_refrac = 0`` (the float model has no refractory period).
- ``S`` is the largest scale for which the expected ``|V|``, ``|I_syn|`` and ``|I R|`` (the
  membrane update's first product) stay ``headroom`` times inside the s16.15 range; expected
  ranges come from calibration or worst-case bounds (``quantize/common.py``).
- Per population and receptor type, one ring-buffer left shift: the smallest for which no
  neuron's 16-bit entry can saturate even if every presynaptic neuron spikes in the same tick.
  Weights are ``rint(|w| 2**(15 - shift))``; the emitted PyNN script pins the shift with
  ``max_expected_summed_weight``. What sPyNNaker's *default* scaling (``spikes_per_second``,
  ``ring_buffer_sigma``) would have chosen is computed too, and every weight it would round to
  zero is counted in the report.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import Violation
from snn_deploy.ir.network import DiscreteNetwork
from snn_deploy.ir.timing import chip_timing
from snn_deploy.numerics.spinnaker import (
    S1615_ONE,
    SpinnakerNumerics,
    default_max_summed_weight,
    delta_input_scale,
    exp_synapse_constants,
    lif_constants,
    s1615_from_float,
    shift_for_max_weight,
    weight_scale,
)
from snn_deploy.profiles import HardwareProfile
from snn_deploy.quantize.common import assemble, choose_scale, expected_ranges, finite_max
from snn_deploy.quantize.network import QPopulation, QProjection
from snn_deploy.quantize.params import SpinnakerLifParams, SpinnakerSynapseParams
from snn_deploy.quantize.stats import PopulationStats, WeightStats

DEFAULT_HEADROOM = 2.0
_EXAMPLES = 5
_SEARCH = 6  # s16.15 steps tried on each side of the nearest time constant
MAX_SHIFT = 15  # (2**16 - 1) << shift must stay a positive 32-bit word


def quantize_spinnaker(
    net: DiscreteNetwork,
    profile: HardwareProfile,
    calibration: dict | None = None,
    headroom: float = DEFAULT_HEADROOM,
):
    num: SpinnakerNumerics = profile.numerics
    timing = chip_timing(net, num.synapse_delay_steps)
    dt_ms = net.contract.dt_seconds * 1000.0
    time_step = int(s1615_from_float(dt_ms))
    violations: list[Violation] = []
    pops, projs, stats, notes = [], {}, [], []
    if time_step <= 0:
        violations.append(
            Violation(
                "",
                "time step in s16.15 ms",
                dt_ms,
                "> 0",
                profile.key("numerics", "*"),
                "use a time step of at least 1/32768 ms",
            )
        )
        time_step = S1615_ONE
    for pop in net.populations:
        incoming = net.incoming(pop.name)
        qpop, pstats, wq, viol, pnotes = _population(
            pop,
            incoming,
            net,
            num,
            profile,
            (calibration or {}).get(pop.name),
            headroom,
            time_step,
            dt_ms,
        )
        violations += viol
        notes += pnotes
        stats.append(pstats)
        pops.append(
            QPopulation(
                pop.name,
                pop.size,
                pop.model,
                qpop["params"],
                qpop["scale"],
                shift_steps=timing.shifts[pop.name],
                spiking=pop.spiking,
            )
        )
        for proj in incoming:
            projs[proj.name] = QProjection(
                proj.name,
                proj.source,
                proj.target,
                wq[proj.name],
                SpinnakerSynapseParams(),
                delay_steps=timing.delays[proj.name],
            )
    return assemble(net, profile, timing, pops, projs, stats, violations, notes)


def _nearest_word(target: float, values_of) -> int:
    """The positive s16.15 word near ``target`` whose chip value (``values_of(word)``) is closest
    to what is wanted; ties go to the word nearest ``target``."""
    centre = max(1, int(s1615_from_float(target)))
    best = None
    for word in range(max(1, centre - _SEARCH), centre + _SEARCH + 1):
        err = values_of(word)
        key = (err, abs(word - centre))
        if best is None or key < best[0]:
            best = (key, word)
    return best[1]


def _population(pop, incoming, net, num, profile, calib, headroom, time_step, dt_ms):
    violations, notes = [], []
    key = profile.key
    alpha = np.asarray(pop.alpha, dtype=np.float64)
    beta = np.asarray(pop.beta, dtype=np.float64)
    exponential = bool(np.any(alpha > 0))
    if exponential and np.any(alpha <= 0):
        violations.append(
            Violation(
                pop.name,
                "neurons with and without a synaptic current in one population",
                int(np.count_nonzero(alpha <= 0)),
                0,
                key("neurons", "models"),
                "split the layer: IF_curr_exp and IF_curr_delta are different cell types",
            )
        )
    bad_a = (alpha < 0) | (alpha >= 1)
    if np.any(bad_a):
        violations.append(
            Violation(
                pop.name,
                "current decay alpha",
                float(alpha[bad_a][0]),
                "0 <= alpha < 1",
                key("numerics", "decay_frac_bits"),
                "use a finite synaptic time constant",
                relation="outside",
            )
        )
    top = 1.0 - 1.0 / S1615_ONE
    bad_b = (beta < 0) | (beta > top)
    if np.any(bad_b):
        violations.append(
            Violation(
                pop.name,
                "voltage decay beta",
                float(beta[bad_b][0]),
                f"0..{top:.6f}",
                key("numerics", "accum_frac_bits"),
                "IF_curr_exp's closed form V = a - exp_TC (a - V) needs exp_TC < 1: give "
                "the layer a finite membrane time constant",
                relation="outside",
            )
        )

    # Membrane: tau_m, cm per distinct beta; the chip's exp_TC, R and gain.
    tau_m = np.zeros(pop.size, np.int64)
    cm = np.zeros(pop.size, np.int64)
    exp_tc = np.zeros(pop.size, np.int64)
    gain = np.zeros(pop.size)
    sf = delta_input_scale(time_step)
    for b in np.unique(beta):
        bb = float(np.clip(b, 1e-6, top))
        target = -dt_ms / math.log(bb)
        word = _nearest_word(
            target,
            lambda w, bb=bb: abs(lif_constants(w, 1, 0, time_step).exp_tc / S1615_ONE - bb),
        )
        e = lif_constants(word, 1, 0, time_step).exp_tc
        one_minus = max(1.0 - e / S1615_ONE, 1.0 / S1615_ONE)
        c = max(1, int(round(word * one_minus)))
        consts = lif_constants(word, c, 0, time_step)
        g = (1.0 - consts.exp_tc / S1615_ONE) * consts.r_membrane / S1615_ONE
        if not exponential:
            g *= sf / S1615_ONE
        m = beta == b
        tau_m[m], cm[m], exp_tc[m], gain[m] = word, c, consts.exp_tc, g
    # Synapse: tau_syn per distinct alpha; the chip's decay and init.
    tau_syn = np.zeros(pop.size, np.int64)
    decay = np.zeros(pop.size, np.int64)
    init = np.ones(pop.size)
    if exponential:
        for a in np.unique(alpha[alpha > 0]):
            aa = float(min(a, 1 - 1e-9))
            target = -dt_ms / math.log(aa)
            word = _nearest_word(
                target, lambda w, aa=aa: abs(exp_synapse_constants(w, time_step).decay / 2**32 - aa)
            )
            consts = exp_synapse_constants(word, time_step)
            m = alpha == a
            tau_syn[m], decay[m], init[m] = word, consts.decay, consts.init / 2**32

    # Voltage scale S: the largest for which V, I_syn and the first product I R fit.
    c_i, c_v, calib_source = expected_ranges(pop, incoming, calib)
    acc_max = (num.accum_max >> num.accum_frac_bits) + 1 - 1.0 / S1615_ONE  # 65535.99997 mV
    bias = np.asarray(pop.bias, dtype=np.float64)
    g_min = float(np.min(gain)) if gain.size else 1.0
    one_minus_e = 1.0 - exp_tc / S1615_ONE
    limits = {}
    if c_v > 0:
        limits["voltage headroom"] = acc_max / (c_v * headroom)
    if c_i > 0:
        limits["current headroom"] = acc_max * g_min / (c_i * headroom)
    drive = float(np.max((c_i + np.abs(bias)) / np.maximum(one_minus_e, 1.0 / S1615_ONE)))
    if drive > 0:
        limits["membrane product I R headroom"] = acc_max / (drive * headroom)
    limited_by, scale = choose_scale(limits)

    theta = np.asarray(pop.threshold, dtype=np.float64)
    finite = np.isfinite(theta)
    thr_words = s1615_from_float(np.where(finite, theta, 0.0) * scale) + 1
    v_thresh = np.where(finite & pop.spiking, thr_words, num.accum_max)
    out_of_range = finite & ((thr_words > num.accum_max) | (thr_words < num.accum_min))
    if np.any(out_of_range):
        violations.append(
            Violation(
                pop.name,
                "threshold in s16.15 mV",
                float(theta[out_of_range][0] * scale),
                acc_max,
                key("numerics", "accum_bits"),
                "quantize with more headroom or a smaller threshold",
                relation="outside",
            )
        )
    v_reset = s1615_from_float(np.asarray(pop.v_reset) * scale)
    i_offset = s1615_from_float(bias * scale / gain)
    bias_back = s1615_from_float(bias * scale / gain) / S1615_ONE * gain / scale

    # Weights: nA, then one shift per receptor type, then 16-bit words.
    w_na, signs = {}, {}
    for proj in incoming:
        w = proj.weight
        values = w.data if sp.issparse(w) else np.asarray(w)
        rows = (
            np.repeat(np.arange(w.shape[0]), np.diff(w.indptr))
            if sp.issparse(w)
            else np.broadcast_to(np.arange(w.shape[0])[:, None], w.shape)
        )
        w_na[proj.name] = values * scale / (gain[rows] * init[rows])
        signs[proj.name] = np.sign(values)
    shifts, default_shifts = [], []
    for sign in (1, -1):
        bound = np.zeros(pop.size)
        stats_default = []
        for proj in incoming:
            mag = np.where(signs[proj.name] == sign, np.abs(w_na[proj.name]), 0.0)
            bound += _row_sums(proj.weight, mag)
            counts = _row_sums(proj.weight, (mag > 0).astype(np.float64))
            if np.any(mag > 0):
                stats_default.append((float(np.max(mag)), int(np.max(counts))))
        b_max = float(np.max(bound, initial=0.0))
        shift = max(0, math.ceil(math.log2(b_max * 2**15 / num.ring_max))) if b_max > 0 else 0
        while shift < MAX_SHIFT:  # rounding up may still overflow the 16-bit sum
            total = np.zeros(pop.size)
            for proj in incoming:
                mag = np.where(signs[proj.name] == sign, np.abs(w_na[proj.name]), 0.0)
                total += _row_sums(proj.weight, np.rint(mag * weight_scale(shift)))
            if float(np.max(total, initial=0.0)) <= num.ring_max:
                break
            shift += 1
        if shift > MAX_SHIFT or b_max * weight_scale(MAX_SHIFT) > num.ring_max:
            violations.append(
                Violation(
                    pop.name,
                    f"ring-buffer left shift ({'exc' if sign > 0 else 'inh'})",
                    shift,
                    MAX_SHIFT,
                    key("numerics", "ring_buffer_entry_bits"),
                    "give the layer a smaller voltage scale (more --headroom)",
                )
            )
            shift = MAX_SHIFT
        shifts.append(shift)
        default_shifts.append(
            shift_for_max_weight(default_max_summed_weight(stats_default, num, dt_ms))
        )
    wq, wstats = {}, []
    for proj in incoming:
        q, ws, default_examples = _weights(
            proj, w_na[proj.name], signs[proj.name], shifts, default_shifts, scale, gain, init, num
        )
        wq[proj.name] = q
        wstats.append(ws)
        if ws.default_scaling_zeroed:
            ex = ", ".join(f"[{a},{b}]={v:.3g}" for a, b, v in default_examples)
            notes.append(
                f"'{proj.name}' ({proj.source} -> {proj.target}): sPyNNaker's default ring-buffer "
                f"scaling (spikes_per_second = {num.default_spikes_per_second:g}, "
                f"ring_buffer_sigma = {num.default_ring_buffer_sigma:g}: left shifts "
                f"exc {default_shifts[0]}, inh {default_shifts[1]}) would round "
                f"{ws.default_scaling_zeroed} of its {ws.count:,} non-zero weight(s) to zero "
                f"(first: {ex}); the emitted PyNN script pins the shifts to exc {shifts[0]}, inh "
                f"{shifts[1]} with max_expected_summed_weight"
            )
    n = pop.size
    params = SpinnakerLifParams(
        v_init=np.zeros(n, np.int64),
        v_rest=np.zeros(n, np.int64),
        cm=cm,
        tau_m=tau_m,
        i_offset=i_offset,
        v_reset=v_reset,
        v_thresh=v_thresh,
        tau_refrac=np.zeros(n, np.int64),
        tau_syn_e=tau_syn,
        tau_syn_i=tau_syn,
        time_step=np.full(n, time_step, np.int64),
        rb_shifts=np.asarray(shifts, np.int64),
        exponential=np.asarray(int(exponential), np.int64),
    )
    theta_back = (v_thresh - 1) / S1615_ONE / scale
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(finite & (theta != 0), np.abs(theta_back - theta) / np.abs(theta), 0.0)
    pstats = PopulationStats(
        population=pop.name,
        size=pop.size,
        scale=float(scale),
        threshold_float=finite_max(theta),
        threshold_int=int(np.max(v_thresh, initial=0)),
        threshold_rel_error=float(np.max(np.where(finite, rel, 0.0), initial=0.0)),
        alpha_float=float(np.max(alpha)),
        alpha_int=float(np.max(decay) / 2**32) if exponential else 0.0,
        beta_float=float(np.max(beta)),
        beta_int=float(np.max(exp_tc) / S1615_ONE),
        bias_max_abs_error=float(np.max(np.abs(bias_back - bias), initial=0.0)),
        bias_saturated=0,
        current_headroom=float(c_i * scale / g_min / acc_max),
        voltage_headroom=float(c_v * scale / acc_max),
        calibration=calib_source,
        limited_by=limited_by,
        weights=tuple(wstats),
    )
    return {"params": params, "scale": float(scale)}, pstats, wq, violations, notes


def _row_sums(weight, values) -> np.ndarray:
    """Per target row, the sum of ``values`` laid out as ``weight``'s stored entries."""
    if sp.issparse(weight):
        return np.add.reduceat(np.append(values, 0.0), weight.indptr[:-1]) * (
            np.diff(weight.indptr) > 0
        )
    return np.asarray(values).sum(axis=1)


def _weights(proj, w_na, signs, shifts, default_shifts, scale, gain, init, num):
    sparse = sp.issparse(proj.weight)
    w = proj.weight.data if sparse else np.asarray(proj.weight)
    shift_of = np.where(signs >= 0, shifts[0], shifts[1])
    default_of = np.where(signs >= 0, default_shifts[0], default_shifts[1])
    words = np.rint(np.abs(w_na) * weight_scale(shift_of))
    saturated = int(np.count_nonzero(words > num.weight_max))
    words = np.minimum(words, num.weight_max).astype(np.int64)
    q = words * np.where(signs < 0, -1, 1)
    nonzero = w != 0
    zero_mask = nonzero & (words == 0)
    default_words = np.rint(np.abs(w_na) * weight_scale(default_of))
    default_mask = nonzero & (default_words == 0)
    default_zeroed = int(np.count_nonzero(default_mask))
    if sparse:
        rows = np.repeat(np.arange(proj.weight.shape[0]), np.diff(proj.weight.indptr))
        cols = proj.weight.indices
        idx = np.flatnonzero(zero_mask)[:_EXAMPLES]
        examples = tuple((int(rows[i]), int(cols[i]), float(w[i])) for i in idx)
        idx = np.flatnonzero(default_mask)[:_EXAMPLES]
        default_examples = tuple((int(rows[i]), int(cols[i]), float(w[i])) for i in idx)
        row_of = rows
    else:
        examples = tuple(
            (int(r), int(c), float(w[r, c])) for r, c in np.argwhere(zero_mask)[:_EXAMPLES]
        )
        default_examples = tuple(
            (int(r), int(c), float(w[r, c])) for r, c in np.argwhere(default_mask)[:_EXAMPLES]
        )
        row_of = np.broadcast_to(np.arange(w.shape[0])[:, None], w.shape)
    back = q * 2.0 ** (shift_of - 15) * gain[row_of] * init[row_of] / scale
    err = back - w
    wmax = float(np.max(np.abs(w), initial=0.0))
    stats = WeightStats(
        projection=proj.name,
        source=proj.source,
        target=proj.target,
        count=int(np.count_nonzero(nonzero)),
        format=f"uint16 ring-buffer word, left shift exc {shifts[0]} / inh {shifts[1]}",
        weight_exp=int(shifts[0] if np.any(signs > 0) else shifts[1]),
        mantissa_bits_used=int(np.max(np.abs(q), initial=0)).bit_length(),
        max_abs_error=float(np.max(np.abs(err), initial=0.0)),
        rms_error_relative=float(np.sqrt(np.mean(err**2)) / wmax) if wmax > 0 else 0.0,
        saturated=saturated,
        zeroed=int(np.count_nonzero(zero_mask)),
        zeroed_examples=examples,
        default_scaling_zeroed=default_zeroed,
    )
    if sparse:
        q = sp.csr_matrix((q, proj.weight.indices, proj.weight.indptr), shape=proj.weight.shape)
    return q, stats, default_examples
