"""Backpropagation through time for :class:`~snn_deploy.train.models.SpikingMLP`.

Data are sample-major spike tensors ``[N, T, F]`` (bool or float, numpy or torch), as
:func:`snn_deploy.data.digits.encode` returns them; batches are made time-major ``[T, B, F]``
for the model. The loss is the cross-entropy of the output spike counts used as logits::

    logits[b, k] = count_scale * sum_t s_out[t, b, k]
    loss = mean_b CE(logits[b], y[b])

Training is deterministic given ``seed`` (batch order) and the model's initial weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from snn_deploy.errors import ModelError
from snn_deploy.train.algorithms import labels, log_epoch, time_major
from snn_deploy.train.models import SpikingMLP

logger = logging.getLogger(__name__)


@torch.no_grad()
def evaluate(model: SpikingMLP, x, y, *, batch_size: int = 512) -> tuple[float, np.ndarray]:
    """Accuracy of ``argmax`` of the output spike counts on ``x`` ``[N, T, F]``, and the counts
    ``[N, n_out]`` (int64)."""
    xt = time_major(x, "x")
    yt = labels(y, xt.shape[1], model.num_outputs, "y")
    was_training = model.training
    model.eval()
    counts = [
        model.counts(xt[:, start : start + batch_size])
        for start in range(0, xt.shape[1], batch_size)
    ]
    model.train(was_training)
    counts = torch.cat(counts).round().to(torch.int64)
    accuracy = float((counts.argmax(dim=1) == yt).to(torch.float64).mean()) if len(yt) else 0.0
    return accuracy, counts.numpy()


def train_bptt(
    model: SpikingMLP,
    x_train,
    y_train,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    x_val=None,
    y_val=None,
    count_scale: float = 1.0,
    on_epoch: Callable[[dict], None] | None = None,
    data_parallel: bool = False,
) -> list[dict]:
    """Train ``model`` in place with Adam on the count cross-entropy (module docstring).

    ``data_parallel`` (under torchrun, with ``torch.distributed`` initialised): every rank draws
    the same batch order and takes its share ``idx[rank::world]`` of every batch of
    ``batch_size``; the gradients of the losses of its samples, divided by the whole batch's
    size, are summed over the ranks, so each step is the step of one process on the whole batch
    with the same ``lr`` (up to the order of float sums). Loss and accuracy are summed too.

    Returns one record per epoch: ``epoch``, ``loss`` (mean over samples), ``train_accuracy``
    (on the batches as they were trained), ``val_accuracy`` (``None`` without validation data)
    and ``seconds``. Each record goes to ``on_epoch`` when given, else to the module logger at
    INFO.
    """
    if epochs < 0 or batch_size < 1 or not lr > 0:
        raise ModelError(
            f"need epochs >= 0, batch_size >= 1 and lr > 0; got {epochs}, {batch_size}, {lr}"
        )
    xt = time_major(x_train, "x_train")
    n = xt.shape[1]
    yt = labels(y_train, n, model.num_outputs, "y_train")
    if (x_val is None) != (y_val is None):
        raise ModelError("give both x_val and y_val, or neither")
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    history = []
    rank, world = (dist.get_rank(), dist.get_world_size()) if data_parallel else (0, 1)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        total_loss, correct = 0.0, 0
        for first in range(0, n, batch_size):
            idx = order[first : first + batch_size]
            mine = idx[rank::world]
            counts = model(xt[:, mine]).sum(dim=0)
            loss = loss_fn(count_scale * counts, yt[mine])
            optimizer.zero_grad(set_to_none=True)
            (loss / len(idx)).backward()
            if data_parallel:
                for p in model.parameters():
                    if p.grad is None:  # every rank reduces the same tensors
                        p.grad = torch.zeros_like(p)
                    dist.all_reduce(p.grad)
            optimizer.step()
            total_loss += loss.item()
            correct += int((counts.argmax(dim=1) == yt[mine]).sum())
        if data_parallel:
            sums = torch.tensor([total_loss, float(correct)], dtype=torch.float64)
            dist.all_reduce(sums)
            total_loss, correct = float(sums[0]), int(sums[1])
        val = evaluate(model, x_val, y_val)[0] if x_val is not None else None
        log_epoch(history, epoch, epochs, total_loss, correct, n, val, start, on_epoch)
    return history
