"""Training algorithms: full BPTT, truncated BPTT and FPTT, for any model with ``run``.

A model here is a :class:`~snn_deploy.train.network.SpikingNetwork` or a
:class:`~snn_deploy.train.models.SpikingMLP`: ``model.run(x, state) -> NetworkRun`` on
time-major ``x`` ``[T, B, F]``. Data sets are sample-major ``[N, T, F]`` (numpy or torch, bool or
float); each batch is made time-major. The loss is ``CE(readout logits, y)``
(:mod:`snn_deploy.train.losses`) plus, optionally, a firing-rate regularizer on every spiking
layer.

- **bptt**: the whole sequence forward, one backward, one optimizer step per batch.
- **tbptt**: the sequence in chunks of ``chunk_steps``; the state is detached between chunks
  (gradients never cross a chunk boundary), and after chunk k of K the weights are updated on
  ``((k + 1) / K) * CE(logits after chunk k, y)``. Activation memory is O(chunk_steps).
- **fptt**: TBPTT's chunks and loss weights (sFPTT: ``(p + 1) / PARTS``) plus the dynamic
  regularizer of :class:`FPTT`, updated after every optimizer step (Kag & Saligrama 2021; Yin,
  Corradi & Bohte 2023). Gradient clipping at norm 1 by default, as in sFPTT.

Both chunked algorithms take an optional **oracle term** (``oracle_weight``, default 0: off):
chunk k of K also pays ``(1 - (k + 1) / K) * oracle_weight * CE(uniform, softmax(logits))``,
the cross-entropy of its logits against the uniform class distribution, i.e. the mean over
classes of ``-log p_c``. Early chunks, which have seen only part of the sequence, are thereby
kept from committing to a class; the last chunk pays nothing. This is the term of Kag &
Saligrama's sequential scripts (training.md section 1.2) with the uniform distribution for
their oracle ``q``; their ``mean(-q * log_softmax)`` with ``q = 1/C`` is
``oracle_weight = 1/C``.

The logits after chunk k use the readout's streaming form: spike counts so far, the maximum so
far, or the last voltage, with earlier chunks entering as constants.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from snn_deploy.errors import ModelError
from snn_deploy.train.losses import Readout, firing_rate_regularizer, get_readout

logger = logging.getLogger(__name__)

ALGORITHMS = ("bptt", "tbptt", "fptt")
OPTIMIZERS = {"adam": torch.optim.Adam, "adamax": torch.optim.Adamax}
FPTT_FORMS = ("paper", "code")
CHUNK_LOSSES = ("end", "every_step")
CHUNK_WEIGHTS = ("linear", "last")


class FPTT:
    """Per-parameter running average ``W_bar`` and gradient memory ``lam`` of FPTT.

    Chosen form: the **paper** form of Kag & Saligrama (ICML 2021), the regularizer

        R(W) = (alpha / 2) * || W - W_bar - lam / (2 alpha) ||^2,
        dR/dW = alpha (W - W_bar) - lam / 2,

    and after each optimizer step (``W`` now holds ``W_{t+1}``)::

        lam   <- lam - alpha (W - W_bar)
        W_bar <- (1 - beta) W_bar + beta W - (beta / alpha) lam      (beta = 1/2: the paper)

    ``W_bar`` starts at ``W``, ``lam`` at 0. Why this form: it is the published one with the
    convergence analysis, its regularizer is a squared distance (non-negative, a proximal step
    towards the corrected anchor ``W_bar + lam / (2 alpha)``), and at ``beta = 1/2`` the updates
    are exactly the paper's. ``form="code"`` gives the authors' code instead
    (``R = (alpha/2) ||W - W_bar||^2 - <W, lam>``, whose ``lam`` gradient term is twice as large;
    training.md section 1.2); the updates are the same. Defaults ``alpha = 0.1``,
    ``beta = 0.5`` are sFPTT's.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        *,
        alpha: float = 0.1,
        beta: float = 0.5,
        form: str = "paper",
    ):
        if not alpha > 0 or not 0 < beta <= 1:
            raise ModelError(f"FPTT needs alpha > 0 and 0 < beta <= 1; got {alpha}, {beta}")
        if form not in FPTT_FORMS:
            raise ModelError(f"unknown FPTT form {form!r}; use one of {', '.join(FPTT_FORMS)}")
        self.alpha, self.beta, self.form = float(alpha), float(beta), form
        self.params = [p for p in params if p.requires_grad]
        self.w_bar = [p.detach().clone() for p in self.params]
        self.lam = [torch.zeros_like(p) for p in self.params]

    def penalty(self) -> torch.Tensor:
        """The regularizer ``R`` summed over parameters (a differentiable scalar)."""
        total = None
        for p, w_bar, lam in zip(self.params, self.w_bar, self.lam, strict=True):
            if self.form == "paper":
                r = 0.5 * self.alpha * (p - w_bar - lam / (2.0 * self.alpha)).pow(2).sum()
            else:
                r = 0.5 * self.alpha * (p - w_bar).pow(2).sum() - (p * lam).sum()
            total = r if total is None else total + r
        return total if total is not None else torch.zeros(())

    @torch.no_grad()
    def update(self) -> None:
        """``lam`` and ``W_bar`` after an optimizer step (class docstring)."""
        for p, w_bar, lam in zip(self.params, self.w_bar, self.lam, strict=True):
            lam.sub_(self.alpha * (p - w_bar))
            w_bar.mul_(1.0 - self.beta).add_(self.beta * p - (self.beta / self.alpha) * lam)

    @torch.no_grad()
    def load_average(self) -> None:
        """``W <- W_bar`` (sFPTT does this after each epoch)."""
        for p, w_bar in zip(self.params, self.w_bar, strict=True):
            p.copy_(w_bar)


def time_major(x, what: str = "x") -> torch.Tensor:
    """``[N, T, F]`` (any numeric or bool type) -> float32 ``[T, N, F]``, contiguous."""
    x = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if x.ndim != 3:
        raise ModelError(f"{what} must have shape [samples, steps, features], got {tuple(x.shape)}")
    return x.to(torch.float32).permute(1, 0, 2).contiguous()


def labels(y, n: int, num_classes: int, what: str = "y") -> torch.Tensor:
    y = (y if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y))).to(torch.int64)
    if y.shape != (n,):
        raise ModelError(f"{what} must have shape ({n},), got {tuple(y.shape)}")
    if n and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ModelError(f"{what} must be class indices in 0..{num_classes - 1}")
    return y


def log_epoch(history, epoch, epochs, total_loss, correct, n, val_accuracy, start, on_epoch):
    """Append the epoch's record (loss, train and validation accuracy, seconds) to ``history``
    and hand it to ``on_epoch``, or log it."""
    record = {
        "epoch": epoch,
        "loss": total_loss / max(n, 1),
        "train_accuracy": correct / max(n, 1),
        "val_accuracy": val_accuracy,
        "seconds": time.perf_counter() - start,
    }
    history.append(record)
    if on_epoch is not None:
        on_epoch(record)
    else:
        logger.info(
            "epoch %d/%d: loss %.4f, train acc %.4f%s, %.1f s",
            epoch,
            epochs,
            record["loss"],
            record["train_accuracy"],
            "" if val_accuracy is None else f", val acc {val_accuracy:.4f}",
            record["seconds"],
        )


def _model_dtype(model: nn.Module) -> torch.dtype:
    return next(model.parameters()).dtype


def bptt_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    readout: Readout,
    *,
    rate_reg: dict | None = None,
    clip_grad: float | None = None,
) -> tuple[float, torch.Tensor]:
    """One BPTT update on a time-major batch; returns ``(loss, logits)``."""
    run = model.run(x)
    logits = readout.logits(run.output)
    loss = F.cross_entropy(logits, y) + _spiking_rate_penalty(model, run, rate_reg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
    optimizer.step()
    return float(loss.detach()), logits.detach()


def chunked_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    readout: Readout,
    chunk_steps: int,
    *,
    fptt: FPTT | None = None,
    rate_reg: dict | None = None,
    clip_grad: float | None = None,
    chunk_loss: str = "end",
    chunk_weights: str = "linear",
    oracle_weight: float = 0.0,
) -> tuple[float, torch.Tensor]:
    """TBPTT (``fptt=None``) or FPTT over one time-major batch, one update per chunk; returns
    ``(mean weighted chunk loss, logits after the last chunk)``.

    ``chunk_loss="end"``: chunk k of K is scored by ``((k + 1) / K) CE(logits at its end)``;
    ``"every_step"``: by the mean over its steps t of ``((t + 1) / T) CE(logits after step t)``
    (sFPTT's per-step loss, with an update every chunk). ``chunk_weights="last"`` (with
    ``"end"``) scores only the last chunk (weight 1; earlier chunks' updates see only the FPTT
    regularizer), the terminal loss BPTT sees. ``oracle_weight`` adds the oracle term (module
    docstring): ``(1 - (k + 1) / K)`` times it times :func:`uniform_cross_entropy` at the end
    of chunk k, or with ``"every_step"`` ``(1 - (t + 1) / T)`` times it at every step t."""
    steps = x.shape[0]
    num_chunks = math.ceil(steps / chunk_steps)
    if chunk_loss not in CHUNK_LOSSES:
        raise ModelError(f"unknown chunk_loss {chunk_loss!r}; use one of {', '.join(CHUNK_LOSSES)}")
    if chunk_weights not in CHUNK_WEIGHTS:
        raise ModelError(
            f"unknown chunk_weights {chunk_weights!r}; use one of {', '.join(CHUNK_WEIGHTS)}"
        )
    state, acc, logits, total, done = None, None, None, 0.0, 0
    for k, x_chunk in enumerate(x.split(chunk_steps, dim=0)):
        run = model.run(x_chunk, state)
        state = [{n: t.detach() for n, t in s.items()} for s in run.state]
        if chunk_loss == "end":
            logits, acc = readout.stream(acc, run.output)
            progress = (k + 1) / num_chunks
            weight = progress if chunk_weights == "linear" else float(k == num_chunks - 1)
            loss = weight * F.cross_entropy(logits, y)
            if oracle_weight:
                loss = (
                    loss + (1.0 - progress) * oracle_weight * uniform_cross_entropy(logits).mean()
                )
        else:
            per_step, acc = readout.stream_steps(acc, run.output)
            length = per_step.shape[0]
            weights = torch.arange(done + 1, done + length + 1, dtype=per_step.dtype) / steps
            ce = F.cross_entropy(
                per_step.reshape(-1, per_step.shape[-1]), y.repeat(length), reduction="none"
            ).reshape(length, -1)
            loss = (weights[:, None] * ce).mean(dim=1).mean()
            if oracle_weight:
                early = (1.0 - weights)[:, None] * uniform_cross_entropy(per_step)
                loss = loss + oracle_weight * early.mean(dim=1).mean()
            logits = per_step[-1]
        done += x_chunk.shape[0]
        loss = loss + _spiking_rate_penalty(model, run, rate_reg)
        objective = loss if fptt is None else loss + fptt.penalty()
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        if clip_grad:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
        if fptt is not None:
            fptt.update()
        total += float(loss.detach())
    return total / num_chunks, logits.detach()


def uniform_cross_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``CE(uniform, softmax(logits))`` over the last axis: ``-(1/C) sum_c log p_c``, one value
    per row (``log C`` at the uniform prediction, larger the more peaked it is)."""
    return -F.log_softmax(logits, dim=-1).mean(dim=-1)


def _spiking_rate_penalty(model, run, rate_reg):
    if not rate_reg:
        return 0.0
    total = 0.0
    for layer, out in zip(model.layers, run.layers.values(), strict=True):
        if getattr(layer, "spiking", True):
            total = total + firing_rate_regularizer(out, **rate_reg)
    return total


@torch.no_grad()
def evaluate(
    model: nn.Module, x, y, readout: str | Readout = "count", *, batch_size: int = 512
) -> tuple[float, np.ndarray]:
    """Accuracy of ``argmax`` of the readout logits on ``x`` ``[N, T, F]``, and the logits
    ``[N, C]`` (float64)."""
    readout = get_readout(readout)
    xt = time_major(x, "x").to(_model_dtype(model))
    yt = labels(y, xt.shape[1], model.num_outputs, "y")
    was_training = model.training
    model.eval()
    out = [
        readout.logits(model(xt[:, s : s + batch_size])) for s in range(0, xt.shape[1], batch_size)
    ]
    model.train(was_training)
    logits = torch.cat(out) if out else torch.zeros(0, model.num_outputs)
    acc = float((logits.argmax(dim=1) == yt).to(torch.float64).mean()) if len(yt) else 0.0
    return acc, logits.to(torch.float64).numpy()


def fit(
    model: nn.Module,
    x_train,
    y_train,
    *,
    algorithm: str = "bptt",
    readout: str | Readout = "count",
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    chunk_steps: int | None = None,
    optimizer: str = "adam",
    fptt_alpha: float = 0.1,
    fptt_beta: float = 0.5,
    fptt_form: str = "paper",
    fptt_average_each_epoch: bool = False,
    chunk_loss: str = "end",
    chunk_weights: str = "linear",
    oracle_weight: float = 0.0,
    clip_grad: float | None = None,
    rate_reg: dict | None = None,
    lr_schedule: str | None = None,
    x_val=None,
    y_val=None,
    on_epoch: Callable[[dict], None] | None = None,
    data_parallel: bool = False,
) -> list[dict]:
    """Train ``model`` in place; returns one record per epoch.

    ``algorithm`` is ``bptt``, ``tbptt`` or ``fptt`` (module docstring); the chunked ones need
    ``chunk_steps`` (1 = an update every step, sFPTT's S-MNIST setting). ``readout`` names a
    :data:`~snn_deploy.train.losses.READOUTS` entry or is a :class:`Readout`. ``rate_reg`` holds
    :func:`~snn_deploy.train.losses.firing_rate_regularizer` keyword arguments. ``clip_grad``
    defaults to 1.0 for FPTT. ``oracle_weight`` (tbptt/fptt only) is the weight of the oracle
    term (module docstring). ``lr_schedule="cosine"`` anneals the learning rate to 0 over the
    epochs. Records: ``epoch``, ``loss``, ``train_accuracy`` (on the batches as trained),
    ``val_accuracy`` (None without validation data) and ``seconds``; each goes to ``on_epoch``
    or the module logger.

    ``data_parallel`` (under torchrun, ``torch.distributed`` initialised, the same model on
    every rank): every rank draws the same batch order and takes its share ``idx[rank::world]``
    of every batch of ``batch_size``; before each update the gradients, each weighted by its
    rank's share of the batch, are summed over the ranks, then clipped, and every rank takes the
    same step. The mean losses over samples (cross-entropy, the oracle term) and the FPTT penalty
    are therefore those of one process on the whole batch with the same ``lr`` and schedule, up
    to the order of float sums; ``rate_reg`` is the exception (computed on each rank's share,
    weighted by it: a firing-rate penalty of a batch is not a sum over its samples). Loss and
    accuracy records are summed over the ranks; a rank whose share of a short last batch is
    empty takes the same steps with zero gradients.
    """
    if algorithm not in ALGORITHMS:
        raise ModelError(f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    if algorithm != "bptt" and (chunk_steps is None or chunk_steps < 1):
        raise ModelError(f"{algorithm} needs chunk_steps >= 1, got {chunk_steps!r}")
    if optimizer not in OPTIMIZERS:
        raise ModelError(f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ModelError(
            f"need epochs >= 0, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    if (x_val is None) != (y_val is None):
        raise ModelError("give both x_val and y_val, or neither")
    if not (math.isfinite(oracle_weight) and oracle_weight >= 0):
        raise ModelError(f"oracle_weight must be a finite number >= 0, got {oracle_weight!r}")
    if oracle_weight and algorithm == "bptt":
        raise ModelError(
            "oracle_weight applies to the chunks of tbptt and fptt; bptt has one chunk, use 0"
        )
    readout = get_readout(readout)
    dtype = _model_dtype(model)
    xt = time_major(x_train, "x_train").to(dtype)
    n = xt.shape[1]
    yt = labels(y_train, n, model.num_outputs, "y_train")
    gen = torch.Generator().manual_seed(seed)
    opt = OPTIMIZERS[optimizer](model.parameters(), lr=lr)
    sched = None
    if lr_schedule == "cosine":
        steps_per_epoch = math.ceil(n / batch_size)
        if algorithm != "bptt":
            steps_per_epoch *= math.ceil(xt.shape[0] / chunk_steps)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * steps_per_epoch))
    elif lr_schedule is not None:
        raise ModelError(f"unknown lr_schedule {lr_schedule!r}; use 'cosine' or None")
    fptt = None
    if algorithm == "fptt":
        fptt = FPTT(model.parameters(), alpha=fptt_alpha, beta=fptt_beta, form=fptt_form)
        clip_grad = 1.0 if clip_grad is None else clip_grad
    rank, world, shared = 0, 1, None
    if data_parallel:
        rank, world = dist.get_rank(), dist.get_world_size()
        opt = shared = _DataParallelOptimizer(opt, model.parameters(), clip_grad)
        clip_grad = None  # after the sum over the ranks, in the shared optimizer
    if sched is not None:
        opt = _ScheduledOptimizer(opt, sched)
    steps_per_batch = 1 if algorithm == "bptt" else math.ceil(xt.shape[0] / chunk_steps)
    history = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0
        for first in range(0, n, batch_size):
            idx = order[first : first + batch_size]
            mine = idx[rank::world]
            if shared is not None:
                shared.share = len(mine) / len(idx)
            if not len(mine):  # the other ranks' steps, with zero gradients
                for _ in range(steps_per_batch):
                    opt.zero_grad(set_to_none=True)
                    opt.step()
                    if fptt is not None:
                        fptt.update()
                continue
            xb, yb = xt[:, mine], yt[mine]
            if algorithm == "bptt":
                loss, logits = bptt_step(
                    model, opt, xb, yb, readout, rate_reg=rate_reg, clip_grad=clip_grad
                )
            else:
                loss, logits = chunked_step(
                    model,
                    opt,
                    xb,
                    yb,
                    readout,
                    chunk_steps,
                    fptt=fptt,
                    rate_reg=rate_reg,
                    clip_grad=clip_grad,
                    chunk_loss=chunk_loss,
                    chunk_weights=chunk_weights,
                    oracle_weight=oracle_weight,
                )
            total_loss += loss * len(mine)
            correct += int((logits.argmax(dim=1) == yb).sum())
        if data_parallel:
            sums = torch.tensor([total_loss, float(correct)], dtype=torch.float64)
            dist.all_reduce(sums)
            total_loss, correct = float(sums[0]), int(sums[1])
        if fptt is not None and fptt_average_each_epoch:
            fptt.load_average()
        val = evaluate(model, x_val, y_val, readout)[0] if x_val is not None else None
        log_epoch(history, epoch, epochs, total_loss, correct, n, val, start, on_epoch)
    return history


class _DataParallelOptimizer:
    """An optimizer whose ``step`` first weights this rank's gradients by its ``share`` of the
    batch and sums them over the ranks (``all_reduce``), then clips their norm at ``clip_grad``:
    every rank then holds the same gradients and takes the same step."""

    def __init__(self, optimizer, params, clip_grad: float | None):
        self.optimizer, self.clip_grad, self.share = optimizer, clip_grad, 1.0
        self.params = [p for p in params if p.requires_grad]

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for p in self.params:
            if p.grad is None:  # every rank reduces the same tensors
                p.grad = torch.zeros_like(p)
            p.grad.mul_(self.share)
            dist.all_reduce(p.grad)
        if self.clip_grad:
            nn.utils.clip_grad_norm_(self.params, self.clip_grad)
        self.optimizer.step()


class _ScheduledOptimizer:
    """An optimizer whose every ``step`` also steps its learning-rate scheduler."""

    def __init__(self, optimizer, scheduler):
        self.optimizer, self.scheduler = optimizer, scheduler

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()
