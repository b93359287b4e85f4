"""Plastic synapses and three-factor neurons, bit-exact with Lava 0.10.0's fixed-point models.

``PlasticDense`` is ``PyLearningDenseModelBitApproximate`` (``lava/proc/dense/models.py`` and
``LearningConnectionModelBitApproximate`` in ``lava/magma/core/model/py/connection.py``) on one
connection; ``PlasticEmulator`` runs a whole :class:`~snn_deploy.learning.network.PlasticNetwork`
(sources, ``LIF`` / three-factor LIF populations, ``Dense`` and ``LearningDense`` connections)
step by step, keeping its state between calls (the chip keeps learning across samples).

One step ``t`` (Lava ``time_step``, 1-based), in the order Lava's processes exchange messages::

    every connection sends the word it accumulated at t-1; sources emit data[:, t-1]
    every population: LIF (u, v, s); a three-factor neuron then runs its program (y1..y3, aux)
    every connection accumulates this step's source output (binary: W[:, s].sum(1), graded:
        W @ payload) << weight_exp
    every plastic connection, spike phase (every step):
        pre spikes: a second spike in the epoch adds the impulse at once (any fraction rounds
            up); tx = t mod t_epoch (or t_epoch); advance the x and y random numbers
        post spikes (bAP): the same for y (2-factor); ty; 3-factor: y1..y3 = the neuron's values;
            advance the random numbers again
    learning phase, when t % t_epoch == 0:
        advance the rounding random number; x0 = tx > 0, y0 = ty > 0
        trace history h[0..E]: h[k] = stochastic_decay(h[k-1]) (+ impulse at spike times)
        traces = h[E] (x always; y only in 2-factor mode)
        dw, dd, dt in that order, all from the pre-update variables:
            acc = Z << 7; acc += sum of products (engine arithmetic, learning/engine.py)
            stochastic rounding to a multiple of 2**7; Z = acc >> 7; saturate Z
        tx = ty = 0

Weights of a ``LearningDense`` are truncated to ``num_weight_bits`` on the first step, without
clipping, in the sign mode passed (default MIXED); afterwards learned weights are used as they
are. ``Dense`` weights are clipped and truncated once, as in :mod:`.loihi`.

This module is the readable reference. :func:`plastic_emulator` picks the engine: ``compiled``
(the default, :mod:`.compiled.learning`: the same integers, the whole time loop in numba) or
``reference`` (:class:`PlasticEmulator`).
"""

from __future__ import annotations

import logging

import numpy as np

from snn_deploy.errors import ModelError
from snn_deploy.learning.engine import (
    LearningEngine,
    add_impulse,
    decay_trace,
    decompose_impulse,
    factor_value_range,
    mac_product,
    product_bound,
    stochastic_round_accumulator,
)
from snn_deploy.learning.microcode import STATE_REGISTERS, ProgramRunner
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork
from snn_deploy.numerics.loihi import (
    LoihiNumerics,
    determine_sign_mode,
    prepare_weights,
    truncate_weights,
)
from snn_deploy.numerics.ops import (
    decay_toward_zero,
    saturate_symmetric,
    shift,
    wrap,
    wrap_int32,
    wrap_once,
)

_I32 = 1 << 31
ENGINES = ("compiled", "reference")
log = logging.getLogger(__name__)


def _wrap32(x) -> np.ndarray:
    """``wrap_int32`` with a fast path for values already in range (the common case)."""
    x = np.asarray(x, dtype=np.int64)
    if x.size and (x.max() >= _I32 or x.min() < -_I32):
        return wrap_int32(x)
    return x


def _clip(x, lo, hi):
    return np.minimum(np.maximum(x, lo), hi)


RECORDED = ("weights", "tag_1", "tag_2", "x1", "x2", "y1", "y2", "y3", "tx", "ty")


class _TraceRandom:
    """Lava ``TraceRandom``: one float for decay rounding, one 7-bit int for impulse rounding."""

    def __init__(self, seed_decay: int, seed_impulse: int, trace_bits: int):
        self._rd = np.random.default_rng(seed_decay)
        self._ri = np.random.default_rng(seed_impulse)
        self._n = 1 << trace_bits
        self.advance()

    def advance(self) -> None:
        self.decay = float(self._rd.random(1)[0])
        self.impulse = int(self._ri.integers(0, self._n, size=1, dtype=int)[0])


class PlasticDense:
    """One ``LearningDense`` connection: forward pass, traces and learning, as Lava does them."""

    def __init__(self, conn: Connection, engine: LearningEngine, numerics: LoihiNumerics):
        rule = conn.rule
        if rule is None:
            raise ModelError(f"connection '{conn.name}' has no learning rule")
        if rule.t_epoch < 1:
            raise ModelError(f"rule '{rule.name}': t_epoch must be at least 1")
        self.name, self.rule, self.engine = conn.name, rule, engine
        self.sign_mode = conn.sign_mode or "mixed"
        self.exp = int(conn.weight_exp)
        n_post, n_pre = conn.weights.shape
        self.shape = (n_post, n_pre)
        w = truncate_weights(
            wrap_int32(conn.weights), self.sign_mode, conn.num_weight_bits, numerics
        )
        self.weights = w
        zeros = np.zeros(self.shape, np.int64)
        self.tag_1 = zeros.copy() if conn.tag_1 is None else conn.tag_1.astype(np.int64)
        self.tag_2 = zeros.copy() if conn.tag_2 is None else conn.tag_2.astype(np.int64)
        self.x = np.zeros((2, n_pre), np.int64)
        self.y = np.zeros((3, n_post), np.int64)
        self.tx = np.zeros(n_pre, np.int64)
        self.ty = np.zeros(n_post, np.int64)
        self.buf = np.zeros(n_post, np.int64)
        seed = int(rule.rng_seed)
        self._xr = _TraceRandom(seed, seed + 1, engine.trace_bits)
        self._yr = _TraceRandom(seed + 2, seed + 3, engine.trace_bits)
        self._conn_rng = np.random.default_rng(engine.rounding_seed)
        self._r_conn = float(self._conn_rng.random(1)[0])
        x_imp = [decompose_impulse(getattr(rule, n).impulse, engine) for n in ("x1", "x2")]
        self._x_int = np.array([i for i, _ in x_imp], np.int64)
        self._x_frac = np.array([f for _, f in x_imp], np.int64)
        self._x_tau = np.array([rule.x1.tau, rule.x2.tau], np.float64)
        if rule.three_factor:
            self._y_int = np.zeros(3, np.int64)
            self._y_frac = np.zeros(3, np.int64)
            self._y_tau = np.full(3, float(engine.three_factor_trace_tau))
        else:
            y_imp = [
                decompose_impulse(getattr(rule, n).impulse, engine) for n in ("y1", "y2", "y3")
            ]
            self._y_int = np.array([i for i, _ in y_imp], np.int64)
            self._y_frac = np.array([f for _, f in y_imp], np.int64)
            self._y_tau = np.array([rule.y1.tau, rule.y2.tau, rule.y3.tau], np.float64)
        extent = {
            "w": int(np.abs(self.weights).max(initial=0)),
            "t": int(np.abs(self.tag_1).max(initial=0)),
            "d": int(np.abs(self.tag_2).max(initial=0)),
        }
        self._plan, self._needed = _compile_rule(rule, engine, extent)

    # -- spike phase ---------------------------------------------------------------------------
    def send(self) -> np.ndarray:
        return self.buf

    def accumulate(self, s_pre: np.ndarray) -> None:
        acc = self.weights[:, s_pre].sum(axis=1)
        self.buf = _wrap32(shift(acc, self.exp))

    def spike_phase(self, t: int, s_pre: np.ndarray, bap: np.ndarray, y_in=None) -> None:
        e = self.rule.t_epoch
        te = t % e or e
        multi = (self.tx > 0) & s_pre
        if multi.any():
            self.x[:, multi] = add_impulse(
                self.x[:, multi], 0, self._x_int[:, None], self._x_frac[:, None], self.engine
            )
        self.tx[s_pre] = te
        self._xr.advance()
        self._yr.advance()
        multi = (self.ty > 0) & bap
        if multi.any():
            self.y[:, multi] = add_impulse(
                self.y[:, multi],
                self._yr.impulse,
                self._y_int[:, None],
                self._y_frac[:, None],
                self.engine,
            )
        self.ty[bap] = te
        if self.rule.three_factor:
            self.y = np.array(y_in, dtype=np.int64)
        self._xr.advance()
        self._yr.advance()

    def learning_due(self, t: int) -> bool:
        return t % self.rule.t_epoch == 0

    # -- learning phase ------------------------------------------------------------------------
    def _history(self, trace, taus, imp_int, imp_frac, t_spike, rand: _TraceRandom):
        e = self.rule.t_epoch
        h = np.zeros((e + 1,) + trace.shape, np.int64)
        h[0] = trace
        active = taus != 0
        for k in range(1, e + 1):
            if active.any():
                h[k][active] = decay_trace(h[k - 1][active], taus[active][:, None], rand.decay)
            ids = np.nonzero(t_spike == k)[0]
            if ids.size:
                h[k][:, ids] = add_impulse(
                    h[k][:, ids], rand.impulse, imp_int[:, None], imp_frac[:, None], self.engine
                )
        return h

    def learning_phase(self, t: int) -> None:
        self._r_conn = float(self._conn_rng.random(1)[0])
        x0 = self.tx > 0
        y0 = self.ty > 0
        hx = self._history(self.x, self._x_tau, self._x_int, self._x_frac, self.tx, self._xr)
        hy = self._history(self.y, self._y_tau, self._y_int, self._y_frac, self.ty, self._yr)
        e = self.rule.t_epoch
        self.x = hx[e].copy()
        if not self.rule.three_factor:
            self.y = hy[e].copy()
        env = self._environment(t, x0, y0, hx, hy)
        new = {}
        for var, products in self._plan:
            new[var] = self._apply(var, products, env)
        for var, value in new.items():
            setattr(self, _ATTR[var], value)
        self.tx = np.zeros_like(self.tx)
        self.ty = np.zeros_like(self.ty)

    def _environment(self, t, x0, y0, hx, hy) -> dict:
        """Dependencies, synaptic variables and every trace the rule reads, evaluated at its
        dependency's time (``x0``: the pre neuron's spike time tx, ``y0``: ty, ``u``: the end
        of the epoch), shaped to broadcast over (post, pre)."""
        e = self.rule.t_epoch
        env = {
            "x0": x0[None, :],
            "y0": y0[:, None],
            "w": self.weights,
            "d": self.tag_2,
            "t": self.tag_1,
            "u": 0,
        }
        k = self.rule.decimation
        if k is not None:
            env["u"] = 1 if int(t / e) % 2**k == 0 else 0
        for name, dep in self._needed:
            if name[0] == "x":
                i = int(name[1]) - 1
                if dep == "x0":
                    env[f"{name}_x0"] = hx[self.tx, i, np.arange(self.shape[1])][None, :]
                elif dep == "y0":
                    env[f"{name}_y0"] = hx[self.ty, i]
                else:
                    env[f"{name}_u"] = hx[e, i][None, :]
            else:
                i = int(name[1]) - 1
                if dep == "x0":
                    env[f"{name}_x0"] = hy[self.tx, i].T
                elif dep == "y0":
                    env[f"{name}_y0"] = hy[self.ty, i, np.arange(self.shape[0])][:, None]
                else:
                    env[f"{name}_u"] = hy[e, i][:, None]
        return env

    def _apply(self, var: str, products, env) -> np.ndarray:
        eng = self.engine
        sh = eng.accumulator_shift(var)
        acc = env[var] << sh
        for dep, factors, mant, stored_exp, width_sum, wraps in products:
            vals = []
            for f, lo, hi in factors:
                const = 0 if f.const is None else f.const
                if f.var in ("x0", "y0"):
                    val = env[f.var].astype(np.int64) + const
                elif f.var in ("w", "d", "t"):
                    val = env[f.var] + const
                    if f.sgn:
                        val = np.sign(val)
                else:
                    val = env[f"{f.var}_{dep}"] + const
                vals.append(_clip(val, lo, hi))
            m = mac_product(env[dep], vals, mant, stored_exp, width_sum, self.shape, eng, wraps)
            acc = _clip(acc + m, eng.accumulator_min, eng.accumulator_max)
        if var == "w" and self.sign_mode == "excitatory":
            acc = np.maximum(0, acc)
        elif var == "w" and self.sign_mode == "inhibitory":
            acc = np.minimum(0, acc)
        elif var == "d":
            acc = np.maximum(0, acc)
        acc = stochastic_round_accumulator(acc, self._r_conn, var, eng)
        lo, hi = eng.variable_range(var, self.sign_mode)
        return _clip(acc >> sh, lo, hi)

    def snapshot(self) -> dict:
        return {
            "weights": self.weights.copy(),
            "tag_1": self.tag_1.copy(),
            "tag_2": self.tag_2.copy(),
            "x1": self.x[0].copy(),
            "x2": self.x[1].copy(),
            "y1": self.y[0].copy(),
            "y2": self.y[1].copy(),
            "y3": self.y[2].copy(),
            "tx": self.tx.copy(),
            "ty": self.ty.copy(),
        }


_ATTR = {"w": "weights", "d": "tag_2", "t": "tag_1"}


def _compile_rule(rule, engine: LearningEngine, extent: dict):
    """The rule as ([(variable, [(dependency, [(factor, lo, hi)], mantissa, exponent + 7,
    width sum, wraps)])], {(trace, dependency) it reads}); ``wraps`` is False where the
    product's worst case (initial variable values included) cannot overflow int32."""
    plan, needed = [], set()
    for prog in rule.programs.values():
        products = []
        for p in prog.products:
            factors, width_sum, ranges = [], 0, []
            for f in p.factors:
                if not f.is_engine:
                    raise ModelError(
                        f"rule '{rule.name}': {prog.target} reads '{f.var}', which the learning "
                        "engine does not have (run check_rule first)"
                    )
                lo, hi = engine.factor_limits(f.var)
                factors.append((f, lo, hi))
                width_sum += engine.factor_width(f.var)
                ranges.append(factor_value_range(f, engine, extent.get(f.var)))
                if f.var in ("x1", "x2", "y1", "y2", "y3"):
                    needed.add((f.var, p.dependency))
            lo_m, hi_m = engine.scale_mantissa_range
            if not (
                lo_m <= p.mantissa <= hi_m
                and engine.scale_exp_min <= p.exponent <= engine.scale_exp_max
            ):
                raise ModelError(
                    f"rule '{rule.name}': {prog.target} term '{p.text()}' has a scaling the "
                    "engine cannot hold (run check_rule for the details)"
                )
            stored = p.exponent + 7
            bound = product_bound(ranges, p.mantissa, stored, width_sum, engine)
            wraps = bound >= 1 << (engine.mac_bits - 1)
            products.append((p.dependency, factors, p.mantissa, stored, width_sum, wraps))
        plan.append((prog.variable, products))
    return plan, sorted(needed)


class _StaticDense:
    """Lava's bit-accurate ``Dense``: weights clipped and truncated once, binary or graded."""

    def __init__(self, conn: Connection, numerics: LoihiNumerics):
        w = wrap_int32(conn.weights)
        mode = conn.sign_mode or determine_sign_mode(w)
        self.weights = prepare_weights(w, mode, conn.num_weight_bits, numerics)
        self.exp = int(conn.weight_exp)
        self.graded = conn.graded
        self.buf = np.zeros(conn.weights.shape[0], np.int64)

    def send(self) -> np.ndarray:
        return self.buf

    def accumulate(self, payload: np.ndarray) -> None:
        if self.graded:
            # int32 weights times int32 payloads: numpy's int32 dot product wraps, then shifts
            acc = _wrap32(self.weights @ _wrap32(payload))
        else:
            acc = self.weights[:, payload.astype(bool)].sum(axis=1)
        self.buf = _wrap32(shift(acc, self.exp))


class _Population:
    """Lava ``PyLifModelBitAcc`` (the same operations as ``emulator/loihi.py``), plus the
    program of a three-factor neuron."""

    def __init__(self, pop: Neurons, numerics: LoihiNumerics):
        self.name, self.size, self.num = pop.name, pop.size, numerics
        unity = numerics.decay_unity
        self.keep_u = unity - (int(pop.du) + numerics.current_decay_offset)
        self.keep_v = unity - (int(pop.dv) + numerics.voltage_decay_offset)
        self.bias = wrap_int32(shift(wrap(pop.bias_mant, 16), wrap(pop.bias_exp, 16)))
        self.vth = int(pop.vth) << numerics.threshold_shift
        self.u = np.zeros(pop.size, np.int64)
        self.v = np.zeros(pop.size, np.int64)
        self.s = np.zeros(pop.size, bool)
        self.program = pop.program
        self.reset_interval = int(pop.reset_interval)
        self.reset_offset = int(pop.reset_offset) % max(1, self.reset_interval)
        self.runner = ProgramRunner(pop.program, numerics.decay_bits) if pop.program else None
        self.reg = {r: np.zeros(pop.size, np.int64) for r in STATE_REGISTERS}
        self.v_pre = self.v

    def step(self, t: int, a_in: np.ndarray, a3: np.ndarray) -> None:
        num = self.num
        if self.reset_interval and t % self.reset_interval == self.reset_offset:
            self.u = np.zeros_like(self.u)
            self.v = np.zeros_like(self.v)
        act = _wrap32(_wrap32(a_in) << num.input_shift)
        cur = _wrap32(decay_toward_zero(self.u, self.keep_u, num.decay_bits) + act)
        self.u = wrap_once(cur, num.state_bits)
        volt = decay_toward_zero(self.v, self.keep_v, num.decay_bits) + self.u + self.bias
        volt = saturate_symmetric(_wrap32(volt), num.state_bits)
        thr = self.vth + (
            self.reg["th"] if self.program is not None and self.program.adaptive else 0
        )
        self.s = volt > thr
        self.v_pre = volt
        self.v = np.where(self.s, 0, volt)
        if self.runner is not None:
            regs = dict(self.reg)
            regs.update(
                u=self.u,
                v=volt,
                s=self.s.astype(np.int64),
                a3=_wrap32(a3),
                vth=np.full(self.size, self.vth, np.int64),
            )
            self.reg = self.runner.run(regs)

    def post_traces(self, trace_max: int) -> np.ndarray:
        return np.clip(np.stack([self.reg["y1"], self.reg["y2"], self.reg["y3"]]), 0, trace_max)

    def output(self, port: str) -> np.ndarray:
        return self.s if port == "s_out" else _wrap32(self.reg["aux"])


def plastic_inputs(net: PlasticNetwork, inputs: dict, num_steps: int | None):
    """Each source's (steps, size) int64 payloads (a missing source: none) and the number of
    steps to run (``num_steps``, else the first source's length)."""
    steps = num_steps
    data = {}
    for src in net.sources:
        x = np.asarray(inputs.get(src.name, np.zeros((0, src.size), np.int64)))
        if x.ndim != 2 or x.shape[1] != src.size:
            raise ModelError(f"input '{src.name}': expected (steps, {src.size}), got {x.shape}")
        if x.dtype.kind not in "iub":
            raise ModelError(f"input '{src.name}': integer payloads expected, got {x.dtype}")
        data[src.name] = x.astype(np.int64)
        steps = x.shape[0] if steps is None else steps
    if steps is None:
        raise ModelError("num_steps is needed when the network has no inputs")
    return data, steps


class PlasticEmulator:
    """Runs a :class:`PlasticNetwork` step by step; state (weights, traces, neurons, the time
    step and every random stream) persists between :meth:`run` calls."""

    def __init__(self, net: PlasticNetwork, numerics: LoihiNumerics, engine: LearningEngine):
        self.net, self.num, self.engine = net, numerics, engine
        self.time_step = 0
        self.pops = {p.name: _Population(p, numerics) for p in net.populations}
        self.conns = {}
        for c in net.connections:
            self.conns[c.name] = (
                PlasticDense(c, engine, numerics) if c.plastic else _StaticDense(c, numerics)
            )
        self._spec = {c.name: c for c in net.connections}

    @classmethod
    def for_profile(cls, net: PlasticNetwork, profile) -> PlasticEmulator:
        from snn_deploy.learning.engine import engine_of

        return cls(net, profile.numerics, engine_of(profile))

    def plastic_state(self, name: str) -> dict:
        return self.conns[name].snapshot()

    def weights(self, name: str) -> np.ndarray:
        return self.conns[name].weights.copy()

    def run(
        self,
        inputs: dict,
        num_steps: int | None = None,
        record_spikes: tuple[str, ...] = (),
        record_voltage: tuple[str, ...] = (),
        record_registers: tuple[str, ...] = (),
        record_plastic: tuple[str, ...] = (),
    ) -> dict:
        """``inputs``: source name -> (steps, size) integer payloads (0/1 spikes, or graded
        values for graded connections). Returns recorded arrays, each (steps, ...):
        ``spikes[pop]``, ``v[pop]`` (after reset), ``reg[pop][register]``,
        ``plastic[conn][quantity]`` (weights, tags, traces, tx, ty at the end of each step)."""
        sizes = self.net.sizes
        data, steps = plastic_inputs(self.net, inputs, num_steps)
        out = {
            "spikes": {n: np.zeros((steps, sizes[n]), bool) for n in record_spikes},
            "v": {n: np.zeros((steps, sizes[n]), np.int64) for n in record_voltage},
            "reg": {
                n: {r: np.zeros((steps, sizes[n]), np.int64) for r in STATE_REGISTERS}
                for n in record_registers
            },
            "plastic": {n: {} for n in record_plastic},
        }
        conns = list(self._spec.values())
        for k in range(steps):
            t = self.time_step + 1
            a_in = {p: np.zeros(self.pops[p].size, np.int64) for p in self.pops}
            a3 = {p: np.zeros(self.pops[p].size, np.int64) for p in self.pops}
            for c in conns:
                target = a_in if c.target_port == "a_in" else a3
                target[c.target] = target[c.target] + self.conns[c.name].send()
            outputs = {}
            for name, x in data.items():
                outputs[(name, "s_out")] = (
                    x[k] if k < x.shape[0] else np.zeros(sizes[name], np.int64)
                )
            for name, pop in self.pops.items():
                pop.step(t, a_in[name], a3[name])
            for c in conns:
                key = (c.source, c.source_port)
                if key not in outputs:
                    outputs[key] = self.pops[c.source].output(c.source_port)
                eng = self.conns[c.name]
                payload = outputs[key]
                if c.plastic:
                    s_pre = payload.astype(bool)
                    eng.accumulate(s_pre)
                    post = self.pops[c.target]
                    y_in = post.post_traces(self.engine.trace_max) if c.rule.three_factor else None
                    eng.spike_phase(t, s_pre, post.s, y_in)
                    if eng.learning_due(t):
                        eng.learning_phase(t)
                else:
                    eng.accumulate(payload)
            for n in record_spikes:
                out["spikes"][n][k] = (
                    self.pops[n].s if n in self.pops else outputs[(n, "s_out")] != 0
                )
            for n in record_voltage:
                out["v"][n][k] = self.pops[n].v
            for n in record_registers:
                for r in STATE_REGISTERS:
                    out["reg"][n][r][k] = self.pops[n].reg[r]
            for n in record_plastic:
                for q, val in self.conns[n].snapshot().items():
                    out["plastic"][n].setdefault(q, np.zeros((steps,) + val.shape, np.int64))[k] = (
                        val
                    )
            self.time_step = t
        return out


def plastic_emulator(net: PlasticNetwork, profile, engine: str = "compiled"):
    """An emulator of ``net`` on ``profile``'s learning engine: ``engine="compiled"`` (default;
    :class:`~snn_deploy.backends.emulator.compiled.learning.CompiledPlasticEmulator`) or
    ``"reference"`` (:class:`PlasticEmulator`, numpy). Both compute the same integers and offer
    the same ``run`` / ``weights`` / ``plastic_state``. A network the compiled engine cannot
    reproduce exactly runs on the reference, with a warning giving the reason."""
    if engine not in ENGINES:
        raise ModelError(
            f"unknown emulation engine '{engine}'; accepted: {', '.join(ENGINES)}",
            hint="use 'compiled' (default) or 'reference' (the numpy specification)",
        )
    if engine == "compiled":
        from snn_deploy.backends.emulator.compiled.learning import (
            CompiledPlasticEmulator,
            cannot_compile,
        )

        reason = cannot_compile(net)
        if reason is None:
            return CompiledPlasticEmulator.for_profile(net, profile)
        log.warning("network '%s' runs on the reference engine: %s", net.name, reason)
    return PlasticEmulator.for_profile(net, profile)
