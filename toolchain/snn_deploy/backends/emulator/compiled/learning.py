"""Compiled engine for plastic networks: the whole time loop of a ``PlasticNetwork`` in numba.

:class:`CompiledPlasticEmulator` computes exactly what the readable reference
:class:`~snn_deploy.backends.emulator.learning.PlasticEmulator` computes (same public methods,
state persisting between :meth:`~CompiledPlasticEmulator.run` calls: weights, tags, traces,
neurons, registers, the time step and every random stream), with one compiled kernel for the
whole run. The reference is the specification; tests/learning/test_compiled_engine.py compares
both integer for integer on randomized networks, and the Lava equivalence tests run on both.

Prepare time (Python, once per emulator):

- the reference objects (``_Population``, ``_StaticDense``, ``PlasticDense``) are built and their
  prepared constants and initial state flattened: every population into one neuron vector,
  every weight matrix into one array (static weights transposed, so a spike adds one row),
  every trace, tag and history buffer at an offset;
- neuron programs become an instruction table (op code, destination and operand register
  slots; every immediate is a constant slot), run instruction by instruction over a
  population's neurons; rules become program / product / factor tables from the reference's
  ``_compile_rule`` (mantissa, stored exponent, MAC shift, int32-wrap flag proven at prepare
  time, factor saturation limits);
- trace decay factors ``exp(-1/tau)`` are computed by numpy, with the reference's own call, so
  the float the kernel multiplies by is the reference's float.

Run time: the random streams do not depend on the data. Per plastic connection and step the
reference draws two floats and two 7-bit integers from each of its two ``TraceRandom`` streams
(``advance`` twice per step) and one rounding float per learning epoch; :meth:`run` draws the
whole run's values in one call per generator (the same numbers in the same order: a numpy
``Generator`` gives the same sequence for one call of size ``n`` as for ``n`` calls of size 1)
and hands them to the kernel. The kernel then runs every step: connections deliver their
words, populations run LIF and their program, connections accumulate the spikes of this step
(only the sources that spiked), plastic connections run their spike phase and, when due, their
learning phase (trace histories; the sum of products product by product over all synapses,
each product as its pre-neuron factors times its post-neuron factors times its per-synapse
factors; stochastic rounding).

Networks the kernel cannot reproduce exactly (a shift by 64 or more: a neuron program's immediate
or a weight exponent; an immediate outside int64) make :func:`cannot_compile` return the reason;
:func:`~snn_deploy.backends.emulator.learning.plastic_emulator` then uses the reference.
"""

from __future__ import annotations

import numpy as np

from snn_deploy.backends.emulator.compiled.common import helper, kernel
from snn_deploy.errors import ModelError
from snn_deploy.learning.engine import product_shift
from snn_deploy.learning.microcode import INPUT_REGISTERS, OPS, STATE_REGISTERS
from snn_deploy.learning.network import PlasticNetwork

# ===============================================================================================
# Flat tables (prepare time)
# ===============================================================================================

_OPCODE = {op: i for i, op in enumerate(OPS)}
_REGISTERS = INPUT_REGISTERS + STATE_REGISTERS  # slots 0..4 inputs, 5..13 state
_NSTATE = len(STATE_REGISTERS)
_NIN = len(INPUT_REGISTERS)
_I64 = (-(1 << 63), (1 << 63) - 1)

# factor variable codes of the kernel
_VAR = {"x0": 0, "y0": 1, "x1": 2, "x2": 3, "y1": 4, "y2": 5, "y3": 6, "w": 7, "d": 8, "t": 9}
_DEP = {"x0": 0, "y0": 1, "u": 2}
_TARGET = {"w": 0, "d": 1, "t": 2}

# plastic connection table columns
(
    P_NPOST,
    P_NPRE,
    P_EXP,
    P_SRC,
    P_TGT,
    P_PORT,
    P_BUF,
    P_SYN,
    P_PRE,
    P_POST,
    P_EPOCH,
    P_3F,
    P_DECIM,
    P_PROG0,
    P_NPROG,
    P_HX,
    P_HY,
) = range(17)
_P_COLS = 17


def cannot_compile(net: PlasticNetwork) -> str | None:
    """None if the kernel reproduces ``net`` exactly, else the reason it cannot (shifts by 64
    or more, which numpy defines and LLVM does not)."""
    for c in net.connections:
        if not -63 <= int(c.weight_exp) <= 63:
            return (
                f"connection '{c.name}': weight_exp {c.weight_exp} (the compiled engine "
                "shifts by 0..63)"
            )
    for pop in net.populations:
        if pop.program is None:
            continue
        for k, ins in enumerate(pop.program.instructions):
            for a in ins.args:
                if isinstance(a, int) and not _I64[0] <= a <= _I64[1]:
                    return (
                        f"neuron program '{pop.program.name}' line {k + 1}: immediate {a} is "
                        "outside int64"
                    )
            if ins.op in ("shl", "shr") and isinstance(ins.args[1], int):
                if not 0 <= ins.args[1] <= 63:
                    return (
                        f"neuron program '{pop.program.name}' line {k + 1}: shift by "
                        f"{ins.args[1]} (the compiled engine shifts by 0..63)"
                    )
    return None


def _program_table(programs: list, decay_bits: int):
    """Instructions of every program as rows (op, dst, a, b, c) of register slots: 0..4 the
    inputs, 5..13 the state, 14.. constants (every immediate, and ``decay_bits`` as the third
    operand of ``decay``). Returns the table, the constants and (start, count) per program."""
    rows, spans, consts = [], [], []

    def slot(a) -> int:
        if isinstance(a, str):
            return _REGISTERS.index(a)
        if a not in consts:
            consts.append(a)
        return len(_REGISTERS) + consts.index(a)

    for prog in programs:
        start = len(rows)
        for ins in prog.instructions if prog is not None else ():
            args = list(ins.args) + ([decay_bits] if ins.op == "decay" else [])
            slots = [slot(a) for a in args] + [0] * (3 - len(args))
            rows.append([_OPCODE[ins.op], _REGISTERS.index(ins.dst), *slots])
        spans.append((start, len(rows) - start))
    return np.array(rows, np.int64).reshape(-1, 5), np.array(consts, np.int64), spans


class _Layout:
    """Offsets and flat arrays of one network (built from the reference objects)."""

    def __init__(self, ref):
        from snn_deploy.backends.emulator.learning import PlasticDense

        net, num, eng = ref.net, ref.num, ref.engine
        # -- neurons ----------------------------------------------------------------------------
        self.pop_names = [p.name for p in net.populations]
        self.pop_off, n = {}, 0
        for p in net.populations:
            self.pop_off[p.name] = n
            n += p.size
        self.src_off, ns = {}, 0
        for s in net.sources:
            self.src_off[s.name] = ns
            ns += s.size
        self.n_src = ns
        programs = [ref.pops[p].program for p in self.pop_names]
        self.instr, self.consts, spans = _program_table(programs, num.decay_bits)
        pops = np.zeros((len(self.pop_names), 10), np.int64)
        self.bias = np.zeros(n, np.int64)
        self.u = np.zeros(n, np.int64)
        self.v = np.zeros(n, np.int64)
        self.s = np.zeros(n, np.int64)
        self.regs = np.zeros((_NSTATE, n), np.int64)
        for i, name in enumerate(self.pop_names):
            pop, o = ref.pops[name], self.pop_off[name]
            adaptive = int(pop.program is not None and pop.program.adaptive)
            pops[i] = (
                o,
                pop.size,
                pop.keep_u,
                pop.keep_v,
                pop.vth,
                pop.reset_interval,
                pop.reset_offset,
                adaptive,
                spans[i][0],
                spans[i][1] if pop.program is not None else -1,
            )
            self.bias[o : o + pop.size] = pop.bias
            self.u[o : o + pop.size] = pop.u
            self.v[o : o + pop.size] = pop.v
            self.s[o : o + pop.size] = pop.s
            for r, reg in enumerate(STATE_REGISTERS):
                self.regs[r, o : o + pop.size] = pop.reg[reg]
        self.pops = pops
        self.numerics = np.array(
            [num.decay_bits, num.input_shift, num.state_bits, eng.trace_max], np.int64
        )

        def payload(c):
            if c.source in self.src_off:
                return self.src_off[c.source]
            base = self.n_src if c.source_port == "s_out" else self.n_src + n
            return base + self.pop_off[c.source]

        # -- connections ------------------------------------------------------------------------
        static, plastic = [], []
        w_static, buf_n = [], 0
        self.buf_off = {}
        for c in net.connections:
            self.buf_off[c.name] = buf_n
            buf_n += c.weights.shape[0]
        self.buf = np.zeros(buf_n, np.int64)
        ws_n = 0
        for c in net.connections:
            obj = ref.conns[c.name]
            self.buf[self.buf_off[c.name] : self.buf_off[c.name] + obj.buf.size] = obj.buf
            n_post, n_pre = c.weights.shape
            port = 0 if c.target_port == "a_in" else 1
            if not c.plastic:
                static.append(
                    (
                        ws_n,
                        n_post,
                        n_pre,
                        obj.exp,
                        int(obj.graded),
                        payload(c),
                        self.pop_off[c.target],
                        port,
                        self.buf_off[c.name],
                    )
                )
                w_static.append(np.ascontiguousarray(obj.weights.T).ravel())
                ws_n += n_post * n_pre
            else:
                assert isinstance(obj, PlasticDense)
                plastic.append((c, obj, payload(c), port))
        self.static = np.array(static, np.int64).reshape(-1, 9)
        self.static_names = [c.name for c in net.connections if not c.plastic]
        self.w_static = np.concatenate(w_static) if w_static else np.zeros(0, np.int64)
        # -- plastic connections ----------------------------------------------------------------
        self.plastic_names = [c.name for c, *_ in plastic]
        self.plastic_objs = [obj for _, obj, *_ in plastic]
        ptab = np.zeros((len(plastic), _P_COLS), np.int64)
        self.trace_f = np.ones((len(plastic), 5), np.float64)
        self.trace_i = np.zeros((len(plastic), 15), np.int64)
        prog_rows, prod_rows, fac_rows = [], [], []
        syn_n = pre_n = post_n = hx_n = hy_n = 0
        self.syn_off, self.pre_off, self.post_off = {}, {}, {}
        for i, (c, obj, src, port) in enumerate(plastic):
            n_post, n_pre = obj.shape
            e = obj.rule.t_epoch
            decim = obj.rule.decimation
            ptab[i, P_NPOST], ptab[i, P_NPRE], ptab[i, P_EXP] = n_post, n_pre, obj.exp
            ptab[i, P_SRC], ptab[i, P_TGT], ptab[i, P_PORT] = src, self.pop_off[c.target], port
            ptab[i, P_BUF], ptab[i, P_SYN] = self.buf_off[c.name], syn_n
            ptab[i, P_PRE], ptab[i, P_POST], ptab[i, P_EPOCH] = pre_n, post_n, e
            ptab[i, P_3F] = int(obj.rule.three_factor)
            ptab[i, P_DECIM] = -1 if decim is None else decim
            ptab[i, P_PROG0], ptab[i, P_NPROG] = len(prog_rows), len(obj._plan)
            ptab[i, P_HX], ptab[i, P_HY] = hx_n, hy_n
            self.syn_off[c.name], self.pre_off[c.name], self.post_off[c.name] = (
                syn_n,
                pre_n,
                post_n,
            )
            syn_n += n_post * n_pre
            pre_n += n_pre
            post_n += n_post
            hx_n += (e + 1) * 2 * n_pre
            hy_n += (e + 1) * 3 * n_post
            self.trace_f[i] = np.concatenate(
                [_decay_factors(obj._x_tau), _decay_factors(obj._y_tau)]
            )
            self.trace_i[i] = np.concatenate(
                [
                    obj._x_int,
                    obj._x_frac,
                    (obj._x_tau != 0).astype(np.int64),
                    obj._y_int,
                    obj._y_frac,
                    (obj._y_tau != 0).astype(np.int64),
                ]
            )
            for var, products in obj._plan:
                sh = eng.accumulator_shift(var)
                unit_bits = eng.accumulator_bits - eng.variable_bits(var)
                lo, hi = eng.variable_range(var, obj.sign_mode)
                clamp = 0
                if var == "w" and obj.sign_mode == "excitatory":
                    clamp = 1
                elif var == "w" and obj.sign_mode == "inhibitory":
                    clamp = 2
                elif var == "d":
                    clamp = 1
                prog_rows.append(
                    (_TARGET[var], len(prod_rows), len(products), sh, unit_bits, lo, hi, clamp)
                )
                for dep, factors, mant, stored, width_sum, wraps in products:
                    prod_rows.append(
                        (
                            _DEP[dep],
                            mant,
                            stored,
                            product_shift(width_sum, eng),
                            int(wraps),
                            len(fac_rows),
                            len(factors),
                        )
                    )
                    for f, flo, fhi in factors:
                        fac_rows.append(
                            (_VAR[f.var], 0 if f.const is None else f.const, int(f.sgn), flo, fhi)
                        )
        self.ptab = ptab
        self.prog = np.array(prog_rows, np.int64).reshape(-1, 8)
        self.prod = np.array(prod_rows, np.int64).reshape(-1, 7)
        self.fac = np.array(fac_rows, np.int64).reshape(-1, 5)
        self.acc_range = np.array([eng.accumulator_min, eng.accumulator_max], np.int64)
        self.W = np.zeros(syn_n, np.int64)
        self.T = np.zeros(syn_n, np.int64)
        self.D = np.zeros(syn_n, np.int64)
        self.x = np.zeros((2, pre_n), np.int64)
        self.tx = np.zeros(pre_n, np.int64)
        self.y = np.zeros((3, post_n), np.int64)
        self.ty = np.zeros(post_n, np.int64)
        for name, obj in zip(self.plastic_names, self.plastic_objs, strict=True):
            so, po, qo = self.syn_off[name], self.pre_off[name], self.post_off[name]
            n_post, n_pre = obj.shape
            self.W[so : so + n_post * n_pre] = obj.weights.ravel()
            self.T[so : so + n_post * n_pre] = obj.tag_1.ravel()
            self.D[so : so + n_post * n_pre] = obj.tag_2.ravel()
            self.x[:, po : po + n_pre] = obj.x
            self.tx[po : po + n_pre] = obj.tx
            self.y[:, qo : qo + n_post] = obj.y
            self.ty[qo : qo + n_post] = obj.ty
        self.hx = np.zeros(hx_n, np.int64)
        self.hy = np.zeros(hy_n, np.int64)


def _decay_factors(taus: np.ndarray) -> np.ndarray:
    """``exp(-1/tau)`` of the active traces, by the very numpy call ``decay_trace`` makes (an
    (active, 1) array), so the kernel multiplies by the reference's float; 1.0 elsewhere."""
    out = np.ones(taus.size, np.float64)
    active = taus != 0
    if active.any():
        out[active] = np.exp(-1 / np.asarray(taus[active][:, None], dtype=np.float64))[:, 0]
    return out


# ===============================================================================================
# The kernel
# ===============================================================================================


@helper
def _wrap32(x):
    return ((x + 2147483648) & 4294967295) - 2147483648


@helper
def _clip(x, lo, hi):
    return min(max(x, lo), hi)


@helper
def _sign(x):
    return np.int64(1) if x > 0 else (np.int64(-1) if x < 0 else np.int64(0))


@helper
def _run_program(instr, start, count, R, size):
    """A population's program, instruction by instruction over its ``size`` neurons; ``R``
    holds one row per register slot (inputs, state, constants). Every op is elementwise with
    numpy's int64 semantics, so the order (instruction-major here, vectorized in numpy) does
    not change a value."""
    for k in range(start, start + count):
        op = instr[k, 0]
        D, A, B, C = R[instr[k, 1]], R[instr[k, 2]], R[instr[k, 3]], R[instr[k, 4]]
        if op == 0:  # mov
            for i in range(size):
                D[i] = A[i]
        elif op == 1:  # add
            for i in range(size):
                D[i] = A[i] + B[i]
        elif op == 2:  # sub
            for i in range(size):
                D[i] = A[i] - B[i]
        elif op == 3:  # mul
            for i in range(size):
                D[i] = A[i] * B[i]
        elif op == 4:  # min
            for i in range(size):
                D[i] = min(A[i], B[i])
        elif op == 5:  # max
            for i in range(size):
                D[i] = max(A[i], B[i])
        elif op == 6:  # shr
            for i in range(size):
                D[i] = A[i] >> B[i]
        elif op == 7:  # shl
            for i in range(size):
                D[i] = A[i] << B[i]
        elif op == 8:  # abs
            for i in range(size):
                D[i] = -A[i] if A[i] < 0 else A[i]
        elif op == 9:  # clip
            for i in range(size):
                D[i] = min(max(A[i], B[i]), C[i])
        elif op == 10:  # decay: sign(a*b) * (|a*b| >> decay_bits), C holds decay_bits
            for i in range(size):
                p = A[i] * B[i]
                D[i] = _sign(p) * ((-p if p < 0 else p) >> C[i])
        elif op == 11:  # sel
            for i in range(size):
                D[i] = B[i] if A[i] != 0 else C[i]
        else:  # gt
            for i in range(size):
                D[i] = 1 if A[i] > B[i] else 0


@helper
def _trace_history(h, off, n, rows, z, t_spike, e, fac, active, imp_int, imp_frac, r_dec, r_imp,
                   trace_max):  # fmt: skip
    """``PlasticDense._history``: h[k] = stochastic decay of h[k-1] (inactive traces: 0), plus
    the impulse of a spike at within-epoch time k; h is (e + 1, rows, n) at ``off``."""
    for i in range(rows):
        for j in range(n):
            h[off + i * n + j] = z[i, j]
    for k in range(1, e + 1):
        base, prev = off + k * rows * n, off + (k - 1) * rows * n
        for i in range(rows):
            for j in range(n):
                if active[i] != 0:
                    f = fac[i] * np.float64(h[prev + i * n + j])
                    fl = np.floor(f)
                    val = np.int64(fl) + (1 if r_dec < f - fl else 0)
                else:
                    val = np.int64(0)
                h[base + i * n + j] = val
        for j in range(n):
            if t_spike[j] == k:
                for i in range(rows):
                    val = h[base + i * n + j] + imp_int[i] + (1 if r_imp < imp_frac[i] else 0)
                    h[base + i * n + j] = _clip(val, 0, trace_max)


@helper
def _learn(c, ptab, trace_f, trace_i, prog, prod, fac, acc_range, W, T, D, x, tx, y, ty, hx, hy,
           acc, m, pre_vec, post_vec, t, r_xdec, r_ximp, r_ydec, r_yimp, r_conn,
           trace_max):  # fmt: skip
    """``PlasticDense.learning_phase`` of plastic connection ``c`` at time step ``t``.

    Product by product over all synapses (``_apply``'s order of operations per synapse; the
    loops only change which synapse is computed first): ``acc[g]`` holds the accumulator of
    program ``g``, ``m`` the per-synapse factors of one product, ``pre_vec`` / ``post_vec`` its
    factors that depend on the pre / post neuron only."""
    n_post, n_pre, e = ptab[c, P_NPOST], ptab[c, P_NPRE], ptab[c, P_EPOCH]
    so, po, qo = ptab[c, P_SYN], ptab[c, P_PRE], ptab[c, P_POST]
    hxo, hyo = ptab[c, P_HX], ptab[c, P_HY]
    n_syn = n_post * n_pre
    txc = tx[po : po + n_pre]
    tyc = ty[qo : qo + n_post]
    _trace_history(hx, hxo, n_pre, 2, x[:, po : po + n_pre], txc, e, trace_f[c, 0:2],
                   trace_i[c, 4:6], trace_i[c, 0:2], trace_i[c, 2:4], r_xdec, r_ximp,
                   trace_max)  # fmt: skip
    _trace_history(hy, hyo, n_post, 3, y[:, qo : qo + n_post], tyc, e, trace_f[c, 2:5],
                   trace_i[c, 12:15], trace_i[c, 6:9], trace_i[c, 9:12], r_ydec, r_yimp,
                   trace_max)  # fmt: skip
    decim = ptab[c, P_DECIM]
    uval = np.int64(0)
    if decim >= 0 and (t // e) % (np.int64(1) << decim) == 0:
        uval = np.int64(1)
    amin, amax = acc_range[0], acc_range[1]
    p0, npg = ptab[c, P_PROG0], ptab[c, P_NPROG]
    Wc, Dc, Tc = W[so : so + n_syn], D[so : so + n_syn], T[so : so + n_syn]
    for g in range(npg):
        row = p0 + g
        target, sh = prog[row, 0], prog[row, 3]
        old = Wc if target == 0 else (Dc if target == 1 else Tc)
        a = acc[g]
        for s in range(n_syn):
            a[s] = old[s] << sh
        for q in range(prog[row, 1], prog[row, 1] + prog[row, 2]):
            dep, mant, stored, shift = prod[q, 0], prod[q, 1], prod[q, 2], prod[q, 3]
            wraps = prod[q, 4] != 0
            if dep == 2 and uval == 0:  # the product is 0: acc = clip(acc + 0)
                for s in range(n_syn):
                    a[s] = _clip(a[s], amin, amax)
                continue
            # The MAC wraps each multiplication at int32 (or not at all): either way the
            # result is the whole product modulo 2**32 (2**64), whatever the order, so factors
            # of the pre neuron go into pre_vec, those of the post neuron into post_vec, the
            # others (synaptic variables, traces at the other side's spike time) into m.
            for j in range(n_pre):
                pre_vec[j] = (1 if txc[j] > 0 else 0) if dep == 0 else 1
            for p in range(n_post):
                post_vec[p] = ((1 if tyc[p] > 0 else 0) if dep == 1 else 1) * mant
            per_synapse = False
            for fi in range(prod[q, 5], prod[q, 5] + prod[q, 6]):
                var, const, lo, hi = fac[fi, 0], fac[fi, 1], fac[fi, 3], fac[fi, 4]
                if var == 0 or (var >= 2 and var <= 3 and dep != 1):  # of the pre neuron
                    for j in range(n_pre):
                        if var == 0:
                            val = np.int64(1) if txc[j] > 0 else np.int64(0)
                        else:
                            k = e if dep == 2 else txc[j]
                            val = hx[hxo + (k * 2 + var - 2) * n_pre + j]
                        pre_vec[j] *= _clip(val + const, lo, hi)
                    continue
                if var == 1 or (var >= 4 and var <= 6 and dep != 0):  # of the post neuron
                    for p in range(n_post):
                        if var == 1:
                            val = np.int64(1) if tyc[p] > 0 else np.int64(0)
                        else:
                            k = e if dep == 2 else tyc[p]
                            val = hy[hyo + (k * 3 + var - 4) * n_post + p]
                        post_vec[p] *= _clip(val + const, lo, hi)
                    continue
                if not per_synapse:
                    per_synapse = True
                    for s in range(n_syn):
                        m[s] = 1
                if var <= 3:  # x trace at the post neuron's spike time
                    for p in range(n_post):
                        mrow = m[p * n_pre : (p + 1) * n_pre]
                        hrow = hx[hxo + (tyc[p] * 2 + var - 2) * n_pre :]
                        for j in range(n_pre):
                            mrow[j] *= _clip(hrow[j] + const, lo, hi)
                elif var <= 6:  # y trace at the pre neuron's spike time
                    for p in range(n_post):
                        mrow = m[p * n_pre : (p + 1) * n_pre]
                        for j in range(n_pre):
                            val = hy[hyo + (txc[j] * 3 + var - 4) * n_post + p]
                            mrow[j] *= _clip(val + const, lo, hi)
                else:  # a synaptic variable (before this epoch's update)
                    z = Wc if var == 7 else (Dc if var == 8 else Tc)
                    if fac[fi, 2] != 0:
                        for s in range(n_syn):
                            m[s] *= _clip(_sign(z[s] + const), lo, hi)
                    else:
                        for s in range(n_syn):
                            m[s] *= _clip(z[s] + const, lo, hi)
            for p in range(n_post):
                pv = post_vec[p]
                arow = a[p * n_pre : (p + 1) * n_pre]
                mrow = m[p * n_pre : (p + 1) * n_pre]
                for j in range(n_pre):
                    v = pre_vec[j] * pv
                    if per_synapse:
                        v *= mrow[j]
                    if wraps:
                        v = _wrap32(_wrap32(v) >> shift << stored)
                    else:
                        v = v >> shift << stored
                    arow[j] = _clip(arow[j] + _clip(v, amin, amax), amin, amax)
    for g in range(npg):
        row = p0 + g
        target, sh, ub = prog[row, 0], prog[row, 3], prog[row, 4]
        lo, hi, clamp = prog[row, 5], prog[row, 6], prog[row, 7]
        a = acc[g]
        unit = np.int64(1) << ub
        # r < frac with frac = (v mod unit) / unit (exact in float64): for the integer
        # v mod unit that is (v mod unit) > floor(r * unit), r * unit being exact as well
        r_units = np.int64(np.floor(r_conn * np.float64(unit)))
        for s in range(n_syn):
            v = a[s]
            if clamp == 1:
                v = max(v, 0)
            elif clamp == 2:
                v = min(v, 0)
            v = ((v >> ub) + (1 if (v & (unit - 1)) > r_units else 0)) << ub
            a[s] = _clip(v >> sh, lo, hi)
    for g in range(npg):
        row = p0 + g
        target = prog[row, 0]
        dst = Wc if target == 0 else (Dc if target == 1 else Tc)
        a = acc[g]
        for s in range(n_syn):
            dst[s] = a[s]
    for i in range(2):
        for j in range(n_pre):
            x[i, po + j] = hx[hxo + (e * 2 + i) * n_pre + j]
    if ptab[c, P_3F] == 0:
        for i in range(3):
            for p in range(n_post):
                y[i, qo + p] = hy[hyo + (e * 3 + i) * n_post + p]
    for j in range(n_pre):
        tx[po + j] = 0
    for p in range(n_post):
        ty[qo + p] = 0


@kernel
def _kernel(
    t0, steps, inputs,
    pops, instr, consts, bias, numerics, u, v, s, regs,
    static, w_static, buf,
    ptab, trace_f, trace_i, prog, prod, fac, acc_range, W, T, D, x, tx, y, ty, hx, hy,
    rnd_f, rnd_i, r_conn,
    rec_spk, out_spk, rec_v, out_v, rec_reg, out_reg, rec_pl, out_pl,
):  # fmt: skip
    """Every step of ``PlasticEmulator.run`` (see the reference for the equations)."""
    n = u.size
    n_src = inputs.shape[1]
    decay_bits, input_shift, state_bits, trace_max = (
        numerics[0],
        numerics[1],
        numerics[2],
        numerics[3],
    )
    half = np.int64(1) << (state_bits - 1)
    full = np.int64(1) << state_bits
    vmax = half - 1
    a_in = np.zeros(n, np.int64)
    a3 = np.zeros(n, np.int64)
    payload = np.zeros(n_src + 2 * n, np.int64)
    volt = np.zeros(n, np.int64)
    max_pop = 1
    for q in range(pops.shape[0]):
        max_pop = max(max_pop, pops[q, 1])
    R = np.zeros((_NIN + _NSTATE + consts.size, max_pop), np.int64)
    for i in range(consts.size):
        R[_NIN + _NSTATE + i, :] = consts[i]
    max_syn, max_side, max_prog = 1, 1, 1
    for c in range(ptab.shape[0]):
        max_syn = max(max_syn, ptab[c, P_NPOST] * ptab[c, P_NPRE])
        max_side = max(max_side, ptab[c, P_NPOST], ptab[c, P_NPRE])
        max_prog = max(max_prog, ptab[c, P_NPROG])
    acc_buf = np.zeros((max_prog, max_syn), np.int64)
    m = np.zeros(max_syn, np.int64)
    pre_vec = np.zeros(max_side, np.int64)
    active = np.zeros(max_side, np.int64)
    post_vec = np.zeros(max_side, np.int64)
    for k in range(steps):
        t = t0 + k + 1
        # -- every connection sends the word it accumulated at t-1
        a_in[:] = 0
        a3[:] = 0
        for c in range(static.shape[0]):
            tgt, bo = static[c, 6], static[c, 8]
            for p in range(static[c, 1]):
                if static[c, 7] == 0:
                    a_in[tgt + p] += buf[bo + p]
                else:
                    a3[tgt + p] += buf[bo + p]
        for c in range(ptab.shape[0]):
            tgt, bo = ptab[c, P_TGT], ptab[c, P_BUF]
            for p in range(ptab[c, P_NPOST]):
                if ptab[c, P_PORT] == 0:
                    a_in[tgt + p] += buf[bo + p]
                else:
                    a3[tgt + p] += buf[bo + p]
        for i in range(n_src):
            payload[i] = inputs[k, i]
        # -- populations: LIF, then the neuron program
        for q in range(pops.shape[0]):
            o, size, keep_u, keep_v, vth = (
                pops[q, 0],
                pops[q, 1],
                pops[q, 2],
                pops[q, 3],
                pops[q, 4],
            )
            ri, roff = pops[q, 5], pops[q, 6]
            reset = ri != 0 and t % ri == roff
            for i in range(o, o + size):
                if reset:
                    u[i] = 0
                    v[i] = 0
                act = _wrap32(_wrap32(a_in[i]) << input_shift)
                pu = u[i] * keep_u
                cur = _wrap32(_sign(pu) * ((-pu if pu < 0 else pu) >> decay_bits) + act)
                if cur > half:
                    cur -= full
                elif cur <= -half:
                    cur += full
                u[i] = cur
                pv = v[i] * keep_v
                vv = _sign(pv) * ((-pv if pv < 0 else pv) >> decay_bits) + cur + bias[i]
                vv = _clip(_wrap32(vv), -vmax, vmax)
                thr = vth + (regs[7, i] if pops[q, 7] != 0 else 0)
                spiked = vv > thr
                s[i] = 1 if spiked else 0
                volt[i] = vv
                v[i] = 0 if spiked else vv
            if pops[q, 9] >= 0:
                for i in range(size):
                    R[0, i], R[1, i], R[2, i] = u[o + i], volt[o + i], s[o + i]
                    R[3, i], R[4, i] = _wrap32(a3[o + i]), vth
                for j in range(_NSTATE):
                    for i in range(size):
                        R[_NIN + j, i] = regs[j, o + i]
                _run_program(instr, pops[q, 8], pops[q, 9], R, size)
                for j in range(_NSTATE):
                    for i in range(size):
                        regs[j, o + i] = R[_NIN + j, i]
            for i in range(o, o + size):
                payload[n_src + i] = s[i]
                payload[n_src + n + i] = _wrap32(regs[8, i])
        # -- static connections accumulate this step's output
        for c in range(static.shape[0]):
            wo, n_post, n_pre, ex = static[c, 0], static[c, 1], static[c, 2], static[c, 3]
            graded, src, bo = static[c, 4], static[c, 5], static[c, 8]
            for p in range(n_post):
                buf[bo + p] = 0
            for j in range(n_pre):
                val = payload[src + j]
                if val == 0:
                    continue
                row = wo + j * n_post
                if graded != 0:
                    val = _wrap32(val)
                    for p in range(n_post):
                        buf[bo + p] += w_static[row + p] * val
                else:
                    for p in range(n_post):
                        buf[bo + p] += w_static[row + p]
            for p in range(n_post):
                acc = buf[bo + p]
                if graded != 0:
                    acc = _wrap32(acc)
                acc = acc << ex if ex >= 0 else acc >> -ex
                buf[bo + p] = _wrap32(acc)
        # -- plastic connections: accumulate, spike phase, learning phase
        for c in range(ptab.shape[0]):
            n_post, n_pre, ex = ptab[c, P_NPOST], ptab[c, P_NPRE], ptab[c, P_EXP]
            src, tgt, bo, so = ptab[c, P_SRC], ptab[c, P_TGT], ptab[c, P_BUF], ptab[c, P_SYN]
            po, qo, e = ptab[c, P_PRE], ptab[c, P_POST], ptab[c, P_EPOCH]
            n_active = 0
            for j in range(n_pre):
                if payload[src + j] != 0:
                    active[n_active] = j
                    n_active += 1
            for p in range(n_post):
                acc = np.int64(0)
                wrow = W[so + p * n_pre : so + (p + 1) * n_pre]
                for i in range(n_active):
                    acc += wrow[active[i]]
                acc = acc << ex if ex >= 0 else acc >> -ex
                buf[bo + p] = _wrap32(acc)
            te = t % e
            if te == 0:
                te = e
            for j in range(n_pre):
                if payload[src + j] != 0:
                    if tx[po + j] > 0:
                        for i in range(2):
                            val = x[i, po + j] + trace_i[c, i] + (1 if 0 < trace_i[c, 2 + i] else 0)
                            x[i, po + j] = _clip(val, 0, trace_max)
                    tx[po + j] = te
            r_yimp_a = rnd_i[k, c, 0]
            for p in range(n_post):
                if s[tgt + p] != 0:
                    if ty[qo + p] > 0:
                        for i in range(3):
                            val = y[i, qo + p] + trace_i[c, 6 + i]
                            val += 1 if r_yimp_a < trace_i[c, 9 + i] else 0
                            y[i, qo + p] = _clip(val, 0, trace_max)
                    ty[qo + p] = te
            if ptab[c, P_3F] != 0:
                for i in range(3):
                    for p in range(n_post):
                        y[i, qo + p] = _clip(regs[i, tgt + p], 0, trace_max)
            if t % e == 0:
                _learn(c, ptab, trace_f, trace_i, prog, prod, fac, acc_range, W, T, D, x, tx,
                       y, ty, hx, hy, acc_buf, m, pre_vec, post_vec, t, rnd_f[k, c, 0],
                       rnd_i[k, c, 1], rnd_f[k, c, 1], rnd_i[k, c, 2], r_conn[k, c],
                       trace_max)  # fmt: skip
        # -- record
        for i in range(rec_spk.size):
            out_spk[k, i] = payload[rec_spk[i]] != 0
        for i in range(rec_v.size):
            out_v[k, i] = v[rec_v[i]]
        for i in range(rec_reg.size):
            for j in range(_NSTATE):
                out_reg[k, j, i] = regs[j, rec_reg[i]]
        col = 0
        for ci in range(rec_pl.size):
            c = rec_pl[ci]
            n_post, n_pre = ptab[c, P_NPOST], ptab[c, P_NPRE]
            so, po, qo = ptab[c, P_SYN], ptab[c, P_PRE], ptab[c, P_POST]
            for arr in (W, T, D):
                for i in range(n_post * n_pre):
                    out_pl[k, col] = arr[so + i]
                    col += 1
            for i in range(2):
                for j in range(n_pre):
                    out_pl[k, col] = x[i, po + j]
                    col += 1
            for i in range(3):
                for p in range(n_post):
                    out_pl[k, col] = y[i, qo + p]
                    col += 1
            for j in range(n_pre):
                out_pl[k, col] = tx[po + j]
                col += 1
            for p in range(n_post):
                out_pl[k, col] = ty[qo + p]
                col += 1


# ===============================================================================================
# The engine
# ===============================================================================================


class CompiledPlasticEmulator:
    """:class:`~snn_deploy.backends.emulator.learning.PlasticEmulator` with the time loop in
    compiled code: same constructor, same :meth:`run`, :meth:`weights`, :meth:`plastic_state`
    and ``time_step``; the same integers."""

    engine_name = "compiled"

    def __init__(self, net: PlasticNetwork, numerics, engine):
        from snn_deploy.backends.emulator.learning import PlasticEmulator

        reason = cannot_compile(net)
        if reason is not None:
            raise ModelError(f"network '{net.name}': the compiled engine cannot run it: {reason}")
        ref = PlasticEmulator(net, numerics, engine)
        self.net, self.num, self.engine = net, numerics, engine
        self.time_step = 0
        self._lay = _Layout(ref)
        # the reference's random generators, each already advanced as its constructor does
        self._rngs = [
            (o._xr._rd, o._xr._ri, o._yr._rd, o._yr._ri, o._conn_rng, o._xr._n)
            for o in self._lay.plastic_objs
        ]

    @classmethod
    def for_profile(cls, net: PlasticNetwork, profile) -> CompiledPlasticEmulator:
        from snn_deploy.learning.engine import engine_of

        return cls(net, profile.numerics, engine_of(profile))

    # -- state ---------------------------------------------------------------------------------
    def _conn(self, name: str) -> tuple[int, tuple[int, int]]:
        lay = self._lay
        if name not in lay.syn_off:
            raise KeyError(name)
        i = lay.plastic_names.index(name)
        return i, lay.plastic_objs[i].shape

    def weights(self, name: str) -> np.ndarray:
        """Weights of a connection (post, pre): learned ones, or a static one's prepared ones."""
        lay = self._lay
        if name in lay.static_names:
            row = lay.static[lay.static_names.index(name)]
            wo, n_post, n_pre = row[0], row[1], row[2]
            return lay.w_static[wo : wo + n_post * n_pre].reshape(n_pre, n_post).T.copy()
        _, (n_post, n_pre) = self._conn(name)
        so = lay.syn_off[name]
        return lay.W[so : so + n_post * n_pre].reshape(n_post, n_pre).copy()

    def plastic_state(self, name: str) -> dict:
        lay = self._lay
        _, (n_post, n_pre) = self._conn(name)
        so, po, qo = lay.syn_off[name], lay.pre_off[name], lay.post_off[name]
        syn = slice(so, so + n_post * n_pre)
        pre, post = slice(po, po + n_pre), slice(qo, qo + n_post)
        return {
            "weights": lay.W[syn].reshape(n_post, n_pre).copy(),
            "tag_1": lay.T[syn].reshape(n_post, n_pre).copy(),
            "tag_2": lay.D[syn].reshape(n_post, n_pre).copy(),
            "x1": lay.x[0, pre].copy(),
            "x2": lay.x[1, pre].copy(),
            "y1": lay.y[0, post].copy(),
            "y2": lay.y[1, post].copy(),
            "y3": lay.y[2, post].copy(),
            "tx": lay.tx[pre].copy(),
            "ty": lay.ty[post].copy(),
        }

    # -- random streams ------------------------------------------------------------------------
    def _draws(self, steps: int):
        """The values the reference draws in ``steps`` steps, per plastic connection: trace
        random numbers of both ``advance`` calls of every step (A: first, B: second) and the
        rounding float of every learning epoch."""
        n_conn = len(self._rngs)
        rnd_f = np.zeros((steps, n_conn, 2), np.float64)
        rnd_i = np.zeros((steps, n_conn, 3), np.int64)
        r_conn = np.zeros((steps, n_conn), np.float64)
        t = np.arange(self.time_step + 1, self.time_step + steps + 1)
        for c, (xd, xi, yd, yi, cr, n) in enumerate(self._rngs):
            if steps == 0:
                continue
            x_dec = xd.random(2 * steps).reshape(steps, 2)
            x_imp = xi.integers(0, n, size=2 * steps, dtype=int).reshape(steps, 2)
            y_dec = yd.random(2 * steps).reshape(steps, 2)
            y_imp = yi.integers(0, n, size=2 * steps, dtype=int).reshape(steps, 2)
            rnd_f[:, c, 0], rnd_f[:, c, 1] = x_dec[:, 1], y_dec[:, 1]
            rnd_i[:, c, 0], rnd_i[:, c, 1], rnd_i[:, c, 2] = y_imp[:, 0], x_imp[:, 1], y_imp[:, 1]
            due = t % self._lay.plastic_objs[c].rule.t_epoch == 0
            r_conn[due, c] = cr.random(int(due.sum()))
        return rnd_f, rnd_i, r_conn

    # -- running -------------------------------------------------------------------------------
    def run(
        self,
        inputs: dict,
        num_steps: int | None = None,
        record_spikes: tuple[str, ...] = (),
        record_voltage: tuple[str, ...] = (),
        record_registers: tuple[str, ...] = (),
        record_plastic: tuple[str, ...] = (),
    ) -> dict:
        """As :meth:`PlasticEmulator.run`."""
        lay = self._lay
        sizes = self.net.sizes
        from snn_deploy.backends.emulator.learning import plastic_inputs

        data, steps = plastic_inputs(self.net, inputs, num_steps)
        feed = np.zeros((steps, lay.n_src), np.int64)
        for name, x in data.items():
            o, m = lay.src_off[name], min(steps, x.shape[0])
            feed[:m, o : o + x.shape[1]] = x[:m]
        rec_spk = np.array(
            [
                lay.src_off[n] + i if n in lay.src_off else lay.n_src + lay.pop_off[n] + i
                for n in record_spikes
                for i in range(sizes[n])
            ],
            np.int64,
        )
        rec_v = np.array(
            [lay.pop_off[n] + i for n in record_voltage for i in range(sizes[n])], np.int64
        )
        rec_reg = np.array(
            [lay.pop_off[n] + i for n in record_registers for i in range(sizes[n])], np.int64
        )
        rec_pl = np.array([lay.plastic_names.index(n) for n in record_plastic], np.int64)
        widths = []
        for c in rec_pl:
            n_post, n_pre = lay.plastic_objs[c].shape
            widths.append(3 * n_post * n_pre + 3 * n_pre + 4 * n_post)
        out_spk = np.zeros((steps, rec_spk.size), np.bool_)
        out_v = np.zeros((steps, rec_v.size), np.int64)
        out_reg = np.zeros((steps, _NSTATE, rec_reg.size), np.int64)
        out_pl = np.zeros((steps, sum(widths)), np.int64)
        rnd_f, rnd_i, r_conn = self._draws(steps)
        _kernel(
            np.int64(self.time_step), np.int64(steps), feed,
            lay.pops, lay.instr, lay.consts, lay.bias, lay.numerics, lay.u, lay.v, lay.s, lay.regs,
            lay.static, lay.w_static, lay.buf,
            lay.ptab, lay.trace_f, lay.trace_i, lay.prog, lay.prod, lay.fac, lay.acc_range,
            lay.W, lay.T, lay.D, lay.x, lay.tx, lay.y, lay.ty, lay.hx, lay.hy,
            rnd_f, rnd_i, r_conn,
            rec_spk, out_spk, rec_v, out_v, rec_reg, out_reg, rec_pl, out_pl,
        )  # fmt: skip
        self.time_step += steps
        return self._unpack(
            steps, out_spk, out_v, out_reg, out_pl, widths, record_spikes, record_voltage,
            record_registers, record_plastic,
        )  # fmt: skip

    def _unpack(self, steps, out_spk, out_v, out_reg, out_pl, widths, rs, rv, rr, rp) -> dict:
        sizes = self.net.sizes
        out = {"spikes": {}, "v": {}, "reg": {}, "plastic": {}}
        col = 0
        for n in rs:
            out["spikes"][n] = out_spk[:, col : col + sizes[n]].copy()
            col += sizes[n]
        col = 0
        for n in rv:
            out["v"][n] = out_v[:, col : col + sizes[n]].copy()
            col += sizes[n]
        col = 0
        for n in rr:
            out["reg"][n] = {
                r: out_reg[:, j, col : col + sizes[n]].copy() for j, r in enumerate(STATE_REGISTERS)
            }
            col += sizes[n]
        col = 0
        for n, width in zip(rp, widths, strict=True):
            n_post, n_pre = self._conn(n)[1]
            block = out_pl[:, col : col + width]
            col += width
            q, parts = 0, {}
            for name, shape in (
                ("weights", (n_post, n_pre)),
                ("tag_1", (n_post, n_pre)),
                ("tag_2", (n_post, n_pre)),
                ("x1", (n_pre,)),
                ("x2", (n_pre,)),
                ("y1", (n_post,)),
                ("y2", (n_post,)),
                ("y3", (n_post,)),
                ("tx", (n_pre,)),
                ("ty", (n_post,)),
            ):
                size = int(np.prod(shape))
                parts[name] = block[:, q : q + size].reshape((steps, *shape)).copy()
                q += size
            out["plastic"][n] = parts
        return out
