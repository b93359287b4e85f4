"""Fused sequence kernels: the whole LIF recurrence over T as one autograd node.

Autograd through a per-step Python loop records a dozen small nodes per step and replays them
backward; most of a training step then goes to bookkeeping, not arithmetic (training.md
section 4.3). The kernels here run the forward loop without building a graph, keep only what
backward needs (the voltage before reset and the spikes, ``[T, B, N]`` each), and run a
hand-written backward loop. They compute exactly the equations of the layers in
:mod:`snn_deploy.train.neurons` (forward bit-identical to their autograd implementation) and
their gradients (``tests/train/test_neurons.py`` checks them against autograd and against finite
differences of the smooth relaxation).

Forward, per step t, with ``c[t]`` the input current already projected (``W x[t]``)::

    c[t] += U s[t-1]                                        (recurrent weights U, if any)
    I[t]  = alpha * I[t-1] + c[t]                           (I[t] = c[t] without alpha)
    P[t]  = beta * V[t-1] + I[t] + b                        (voltage before reset)
    s[t]  = S(P[t] - theta)                                 (H, or the smooth relaxation)
    V[t]  = P[t] (1 - s[t]) + v_reset s[t]                  (reset "zero")
    V[t]  = P[t] - theta s[t]                               (reset "subtract")

Backward, with ``S'`` the surrogate derivative, ``g_o[t] = dL/ds[t]`` from the layers above,
``gP[t] = dL/dP[t]`` and ``gC[t] = dL/dc[t]``, for t = T-1 down to 0::

    gV    = beta * gP[t+1]                                  (dL/dV[t]; 0 at t = T-1)
    gs    = g_o[t] + gC[t+1] U + [no detach] gV dV/ds       (dV/ds = v_reset - P or -theta)
    gP[t] = gV dV/dP + gs S'(P[t] - theta)                  (dV/dP = 1 - s[t] or 1)
    gI[t] = gP[t] + alpha gI[t+1];   gC[t] = gI[t]
    dL/dU = sum_t gC[t]^T s[t-1];    dL/db = sum_t gP[t]

With ``detach_reset`` (the default, as snnTorch and Norse) the ``gV dV/ds`` term is dropped;
without recurrence ``gP[t] = g_o[t] S'[t] + beta (1 - s[t]) gP[t+1]`` is then a first-order
linear recursion computed in place. Decays, thresholds and the initial state are constants
here: a layer whose decays or initial state require gradients runs its autograd
implementation instead.

:func:`project_events` is the input projection ``x W^T`` computed from the non-zero entries of
an input that needs no gradient (spikes): forward and weight gradient cost in proportion to the
number of events, as on an event-driven chip. Whether that beats the dense product depends on the
CPU (the instruction set PyTorch dispatches to, ``ATEN_CPU_CAPABILITY``, and the BLAS), not only
on the input: :func:`project_input` measures both once per process for each kind of input (size,
density, threads) and uses the faster one (:func:`projection_choices` lists the decisions).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from snn_deploy.train.surrogate import SMOOTH_RELAXATION, spike_forward, surrogate_derivative_

EVENT_DENSITY_LIMIT = 0.15
EVENT_MIN_FEATURES = 128
#: timed calls of each input projection when :func:`project_input` chooses (after one warm-up)
CHOICE_REPEATS = 5


@dataclass(frozen=True)
class LIFConfig:
    """The non-tensor settings of one LIF sequence."""

    reset: str
    v_reset: float
    detach_reset: bool
    surrogate: str
    scale: float
    record_current: bool = False

    @property
    def relaxed(self) -> bool:
        return self.surrogate == SMOOTH_RELAXATION


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, drive, rec_weight, bias, alpha, beta, threshold, i0, v0, s0, cfg):
        steps = drive.shape[0]
        vpre = torch.empty_like(drive)
        spikes = torch.empty_like(drive)
        currents = torch.empty_like(drive) if cfg.record_current else None
        i = None if alpha is None else i0.clone()
        v = v0.clone()
        s_prev = s0
        keep = torch.empty_like(v)
        rec_t = None if rec_weight is None else rec_weight.t()
        zero_reset = cfg.reset == "zero"
        for t, (c, p, s) in enumerate(
            zip(drive.unbind(0), vpre.unbind(0), spikes.unbind(0), strict=True)
        ):
            if rec_t is not None:
                c = c + s_prev.matmul(rec_t)
            if i is not None:
                torch.mul(i, alpha, out=i)
                i.add_(c)
                c = i
            if currents is not None:
                currents[t].copy_(c)
            torch.mul(v, beta, out=p)
            p.add_(c)
            if bias is not None:
                p.add_(bias)
            if cfg.relaxed:
                s.copy_(spike_forward(cfg.surrogate, p - threshold, cfg.scale))
                if zero_reset:
                    torch.sub(1.0, s, out=keep)
                    torch.mul(p, keep, out=v)
                else:
                    torch.mul(threshold, s, out=keep)
                    torch.sub(p, keep, out=v)
            else:
                torch.gt(p, threshold, out=s)
                # s is 0 or 1, so these single-rounding forms equal P (1 - s) and P - theta s.
                if zero_reset:
                    torch.addcmul(p, p, s, value=-1.0, out=v)
                else:
                    torch.addcmul(p, threshold, s, value=-1.0, out=v)
            if zero_reset and cfg.v_reset != 0.0:
                v.add_(cfg.v_reset * s)
            s_prev = s
        final_i = torch.zeros_like(v) if i is None else i
        # Gradients of the outputs nobody differentiates stay None, not tensors of zeros.
        ctx.set_materialize_grads(False)
        ctx.cfg = cfg
        ctx.has = (rec_weight is not None, bias is not None, alpha is not None)
        ctx.save_for_backward(vpre, spikes, rec_weight, alpha, beta, threshold, s0)
        extra = currents if currents is not None else vpre.new_empty(0)
        final_s = spikes[-1].clone() if steps else s0.clone()
        ctx.mark_non_differentiable(vpre, extra, final_i, v, final_s)
        return spikes, vpre, extra, final_i, v, final_s

    @staticmethod
    def backward(ctx, g_spikes, _gv, _gc, _gi, _gvf, _gsf):
        vpre, spikes, rec_weight, alpha, beta, threshold, s0 = ctx.saved_tensors
        cfg = ctx.cfg
        has_rec, has_bias, has_alpha = ctx.has
        steps = vpre.shape[0]
        zero_reset = cfg.reset == "zero"
        sg = surrogate_derivative_(cfg.surrogate, vpre - threshold, cfg.scale)
        g_drive = None
        if not has_rec and cfg.detach_reset:
            # gP[t] = g_o[t] S'[t] + D[t] gP[t+1], written over sg.
            if g_spikes is None:
                sg.zero_()
            else:
                sg.mul_(g_spikes)
            g_pre = sg
            d = torch.sub(1.0, spikes).mul_(beta) if zero_reset else beta
            rows = g_pre.unbind(0)
            d_rows = d.unbind(0) if zero_reset else None
            for t in range(steps - 2, -1, -1):
                rows[t].addcmul_(d_rows[t] if zero_reset else d, rows[t + 1])
        else:
            g_pre, g_drive = _general_backward(
                g_spikes, sg, vpre, spikes, rec_weight, alpha, beta, threshold, cfg
            )
        g_bias = g_pre.sum(dim=(0, 1)) if has_bias and ctx.needs_input_grad[2] else None
        if g_drive is None:
            g_drive = g_pre
            if has_alpha:
                # gI[t] = gP[t] + alpha gI[t+1], in place (gP is no longer needed).
                rows = g_drive.unbind(0)
                for t in range(steps - 2, -1, -1):
                    rows[t].addcmul_(alpha, rows[t + 1])
        g_rec = None
        if has_rec and ctx.needs_input_grad[1]:
            n = vpre.shape[-1]
            g_rec = g_drive[0].t().matmul(s0)
            if steps > 1:
                g_rec = g_rec + g_drive[1:].reshape(-1, n).t().matmul(spikes[:-1].reshape(-1, n))
        g_in = g_drive if ctx.needs_input_grad[0] else None
        return g_in, g_rec, g_bias, None, None, None, None, None, None, None


def _general_backward(g_spikes, sg, vpre, spikes, rec_weight, alpha, beta, threshold, cfg):
    """The backward loop with recurrence and/or the gradient through the reset.

    Returns ``(gP, gC)``, or ``(gP, None)`` when ``gC`` is left to the caller's alpha filter."""
    steps = vpre.shape[0]
    zero_reset = cfg.reset == "zero"
    has_rec, has_alpha = rec_weight is not None, alpha is not None
    g_pre = torch.empty_like(vpre)
    g_drive = None
    if has_rec:
        g_drive = torch.empty_like(vpre) if has_alpha else g_pre
    nxt = gc_next = None
    for t in range(steps - 1, -1, -1):
        gs = g_spikes[t] if g_spikes is not None else torch.zeros_like(vpre[t])
        if gc_next is not None:
            gs = gs + gc_next.matmul(rec_weight)
        if nxt is None:
            torch.mul(gs, sg[t], out=g_pre[t])
        else:
            g_post = beta * nxt
            if not cfg.detach_reset:
                dv_ds = (cfg.v_reset - vpre[t]) if zero_reset else -threshold
                gs = gs + g_post * dv_ds
            dv_dp = g_post * (1.0 - spikes[t]) if zero_reset else g_post
            torch.add(dv_dp, gs * sg[t], out=g_pre[t])
        nxt = g_pre[t]
        if has_rec:
            if has_alpha:
                if t == steps - 1:
                    g_drive[t].copy_(g_pre[t])
                else:
                    torch.addcmul(g_pre[t], alpha, g_drive[t + 1], out=g_drive[t])
            gc_next = g_drive[t]
    return g_pre, g_drive


def lif_sequence(
    drive: torch.Tensor,
    *,
    alpha: torch.Tensor | None,
    beta: torch.Tensor,
    threshold: torch.Tensor,
    bias: torch.Tensor | None,
    rec_weight: torch.Tensor | None,
    state: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    cfg: LIFConfig,
):
    """Run the fused LIF recurrence (module docstring) on ``drive`` ``[T, B, N]``.

    ``state`` is ``(I, V, s)`` at t = -1, each ``[B, N]``. Returns ``(spikes, voltage before
    reset, currents or None, (I, V, s) at t = T-1)``; only the spikes carry a gradient, and the
    final state is detached (a truncation point when passed on).
    """
    i0, v0, s0 = (t.detach() for t in state)
    out = _LIFSequence.apply(drive, rec_weight, bias, alpha, beta, threshold, i0, v0, s0, cfg)
    spikes, vpre, currents, fi, fv, fs = out
    return spikes, vpre, (currents if cfg.record_current else None), (fi, fv, fs)


class _LeakyIntegratorSequence(torch.autograd.Function):
    """``I[t] = alpha I[t-1] + c[t]``; ``V[t] = beta V[t-1] + I[t] + b``; output V."""

    @staticmethod
    def forward(ctx, drive, bias, alpha, beta, i0, v0):
        out = torch.empty_like(drive)
        i = None if alpha is None else i0.clone()
        v = v0
        for c, o in zip(drive.unbind(0), out.unbind(0), strict=True):
            if i is not None:
                torch.mul(i, alpha, out=i)
                i.add_(c)
                c = i
            torch.mul(v, beta, out=o)
            o.add_(c)
            if bias is not None:
                o.add_(bias)
            v = o
        ctx.set_materialize_grads(False)
        ctx.has_alpha = alpha is not None
        ctx.save_for_backward(alpha, beta)
        final_i = torch.zeros_like(v0) if i is None else i
        final_v = v.clone()
        ctx.mark_non_differentiable(final_i, final_v)
        return out, final_i, final_v

    @staticmethod
    def backward(ctx, g_out, _gi, _gv):
        if g_out is None:
            return None, None, None, None, None, None
        alpha, beta = ctx.saved_tensors
        g_v = g_out.clone(memory_format=torch.contiguous_format)
        rows = g_v.unbind(0)
        for t in range(len(rows) - 2, -1, -1):
            rows[t].addcmul_(beta, rows[t + 1])
        g_bias = g_v.sum(dim=(0, 1)) if ctx.needs_input_grad[1] else None
        if ctx.has_alpha:
            for t in range(len(rows) - 2, -1, -1):
                rows[t].addcmul_(alpha, rows[t + 1])
        return g_v, g_bias, None, None, None, None


def leaky_integrator_sequence(drive, *, alpha, beta, bias, state):
    """Run the non-spiking leaky integrator on ``drive`` ``[T, B, N]``; returns ``(V [T, B, N],
    (I, V) at t = T-1)``; the final state is detached.

    Backward: ``gV[t] = g_o[t] + beta gV[t+1]``, ``gI[t] = gV[t] + alpha gI[t+1]``,
    ``dL/dc[t] = gI[t]``, ``dL/db = sum_t gV[t]``."""
    i0, v0 = (t.detach() for t in state)
    out, fi, fv = _LeakyIntegratorSequence.apply(drive, bias, alpha, beta, i0, v0)
    return out, (fi, fv)


class _EventProjection(torch.autograd.Function):
    """``x @ W^T`` from the events of ``x`` (rows = time x batch); gradient for W only.

    Forward ``y[r] = sum_{c: x[r, c] != 0} x[r, c] W[:, c]``; backward
    ``dL/dW[:, c] = sum_{r: x[r, c] != 0} x[r, c] dL/dy[r]``: both are bags of row sums
    (``F.embedding_bag``), one over the rows of ``W^T``, one over the rows of ``dL/dy``.
    """

    @staticmethod
    def forward(ctx, weight, rows, cols, vals, n_rows):
        offsets = _offsets(rows, n_rows)
        out = F.embedding_bag(
            cols, weight.t().contiguous(), offsets, mode="sum", per_sample_weights=vals
        )
        ctx.save_for_backward(rows, cols, vals)
        ctx.n_features = weight.shape[1]
        return out

    @staticmethod
    def backward(ctx, g):
        rows, cols, vals = ctx.saved_tensors
        order = torch.argsort(cols, stable=True)
        offsets = _offsets(cols, ctx.n_features)
        g_wt = F.embedding_bag(
            rows[order],
            g.contiguous(),
            offsets,
            mode="sum",
            per_sample_weights=None if vals is None else vals[order],
        )
        return g_wt.t(), None, None, None, None


def _offsets(sorted_ids: torch.Tensor, n: int) -> torch.Tensor:
    """Start of each id's run in ``sorted_ids`` (ids 0..n-1, runs may be empty)."""
    counts = torch.bincount(sorted_ids, minlength=n)
    offsets = torch.zeros(n, dtype=torch.int64)
    torch.cumsum(counts[:-1], 0, out=offsets[1:])
    return offsets


def project_events(
    x: torch.Tensor,
    weight: torch.Tensor,
    *,
    density_limit: float = EVENT_DENSITY_LIMIT,
    min_features: int = EVENT_MIN_FEATURES,
) -> torch.Tensor | None:
    """``x @ weight.T`` computed from the events (non-zero entries) of ``x`` ``[..., F]``, or
    ``None`` when that cannot work or cannot pay: ``x`` needs a gradient, is not a CPU tensor,
    has fewer than ``min_features`` features, or more than ``density_limit`` of it is non-zero.
    Whether it pays on this CPU is :func:`project_input`'s question."""
    if not _events_apply(x, weight) or x.shape[-1] < min_features:
        return None
    x2d = x.reshape(-1, x.shape[-1])
    if _sampled_density(x) > 2 * density_limit:
        return None
    # Integer view: same zero test, and torch.nonzero is faster on integers than on floats.
    ints = {torch.float32: torch.int32, torch.float64: torch.int64}.get(x2d.dtype)
    nz = torch.nonzero(x2d.view(ints) if ints is not None else x2d)
    if nz.shape[0] > density_limit * x2d.numel():
        return None
    rows, cols = (t.contiguous() for t in nz.unbind(1))
    vals = x2d[rows, cols]
    if bool((vals == 1).all()):
        vals = None
    out = _EventProjection.apply(weight, rows, cols, vals, x2d.shape[0])
    return out.reshape(*x.shape[:-1], weight.shape[0])


@dataclass(frozen=True)
class ProjectionChoice:
    """The input projection :func:`project_input` uses for one kind of input, and why: the best
    of ``CHOICE_REPEATS`` timed calls (forward, plus the weight gradient where one is needed) of
    each kernel, in milliseconds."""

    kernel: str  # "events" or "dense"
    events_ms: float
    dense_ms: float


_CHOICES: dict[tuple, ProjectionChoice] = {}
# A timed choice can fall either way near break-even, and the two kernels round differently: the
# first measurement on a machine is kept on disk, so that every later process on the same machine
# (CPU, instruction set, torch version) picks the same kernel and reproduces the same training.
CHOICE_CACHE_ENV = "SNN_DEPLOY_CACHE_DIR"


def _choice_file():
    import os
    import platform
    from pathlib import Path

    root = os.environ.get(CHOICE_CACHE_ENV) or Path.home() / ".cache" / "snn-deploy"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    machine = f"{cpu}|{torch.backends.cpu.get_cpu_capability()}|{torch.__version__}"
    digest = __import__("hashlib").sha256(machine.encode()).hexdigest()[:16]
    return Path(root) / f"projection-choices-{digest}.json"


def _stored_choice(key: tuple, measure) -> ProjectionChoice:
    """The choice recorded on this machine for ``key``, or ``measure()``'s, recorded (atomically;
    a cache folder that cannot be written only costs the measurement in every process)."""
    import json
    import os
    import tempfile

    path, name = _choice_file(), repr(key)
    try:
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and isinstance(stored.get(name), dict):
            return ProjectionChoice(**stored[name])
    except (OSError, ValueError, TypeError):
        stored = {}
    choice = measure()
    if not isinstance(stored, dict):
        stored = {}
    stored[name] = {"kernel": choice.kernel, "events_ms": choice.events_ms,
                    "dense_ms": choice.dense_ms}  # fmt: skip
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".choices.", dir=path.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(stored, fh, allow_nan=True)
        os.replace(tmp, path)
    except OSError:
        pass
    return choice


def projection_choices() -> dict[tuple, ProjectionChoice]:
    """The choices made so far in this process, by key ``(rows bucket, features, outputs, dtype,
    density bucket, threads, weight gradient)``; the buckets are powers of 2 (rows) and half
    octaves (density)."""
    return dict(_CHOICES)


def project_input(x: torch.Tensor, weight: torch.Tensor, mode: str | bool = "auto") -> torch.Tensor:
    """``x @ weight.T`` for ``x`` ``[..., F]``, by the dense product or from the events
    (:func:`project_events`). ``mode``: ``False`` dense; ``True`` from the events wherever
    :func:`project_events` accepts the input; ``"auto"`` from the events only where the input is
    sparse and wide enough for that to possibly pay (``EVENT_DENSITY_LIMIT``,
    ``EVENT_MIN_FEATURES``) and a one-off measurement on this input found it faster than the
    dense product (kept per process, :func:`projection_choices`, and on disk per machine, so
    that later processes on the machine choose alike)."""
    if mode is False:
        return F.linear(x, weight)
    if mode is True:
        out = project_events(x, weight, density_limit=1.0, min_features=1)
        return F.linear(x, weight) if out is None else out
    density = _sampled_density(x)
    if not _events_may_pay(x, weight, density):
        return F.linear(x, weight)
    need_grad = torch.is_grad_enabled() and weight.requires_grad
    rows = x.numel() // x.shape[-1]
    key = (
        rows.bit_length(),
        x.shape[-1],
        weight.shape[0],
        x.dtype,
        math.floor(2 * math.log2(max(density, 1e-6))),
        torch.get_num_threads(),
        need_grad,
    )
    choice = _CHOICES.get(key)
    if choice is None:
        choice = _CHOICES[key] = _stored_choice(
            key, lambda: _measure_projections(x, weight, need_grad)
        )
    if choice.kernel == "events":
        out = project_events(x, weight)
        if out is not None:
            return out
    return F.linear(x, weight)


def _sampled_density(x: torch.Tensor) -> float:
    """Fraction of non-zero entries in about 256 rows of ``x`` spread over all of it."""
    if x.numel() == 0:
        return 0.0
    x2d = x.reshape(-1, x.shape[-1])
    sample = x2d[:: max(1, x2d.shape[0] // 256)]
    return int(torch.count_nonzero(sample)) / sample.numel()


def _events_may_pay(x: torch.Tensor, weight: torch.Tensor, density: float) -> bool:
    return (
        _events_apply(x, weight)
        and x.shape[-1] >= EVENT_MIN_FEATURES
        and density <= 2 * EVENT_DENSITY_LIMIT
    )


def _events_apply(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether :func:`project_events` can compute ``x @ weight.T`` at all."""
    return (
        not x.requires_grad
        and x.device.type == "cpu"
        and weight.device.type == "cpu"
        and x.dtype == weight.dtype
        and x.numel() > 0
    )


def _measure_projections(x, weight, need_grad: bool) -> ProjectionChoice:
    """Time both projections of ``x`` (and their weight gradients if ``need_grad``) on a
    detached copy of the weights; nothing the caller holds is touched."""
    w = weight.detach().clone().requires_grad_(need_grad)
    g = None

    def run(kernel):
        nonlocal g
        with torch.enable_grad() if need_grad else torch.no_grad():
            out = project_events(x, w) if kernel == "events" else F.linear(x, w)
            if out is None:
                return False
            if need_grad:
                g = torch.ones_like(out) if g is None else g
                torch.autograd.grad(out, w, g)
        return True

    best = {"events": math.inf, "dense": math.inf}
    for repeat in range(CHOICE_REPEATS + 1):
        for kernel in best:
            t0 = time.perf_counter()
            if not run(kernel):
                return ProjectionChoice("dense", math.inf, best["dense"])
            if repeat:
                best[kernel] = min(best[kernel], (time.perf_counter() - t0) * 1e3)
    kernel = "events" if best["events"] < best["dense"] else "dense"
    return ProjectionChoice(kernel, best["events"], best["dense"])
