"""Ready-made training runs that end in an snn-deploy checkpoint.

:func:`train_digits`: scikit-learn digits (8x8, 10 classes) as rate-coded spikes, a
64 -> hidden -> 10 :class:`SpikingMLP`, BPTT, float test accuracy on the held-out split,
calibration on the training split, checkpoint written atomically.

:func:`train_sequential_digits`: the same digits read pixel by pixel (T = 64, one input) or row
by row (T = 8), a recurrent :class:`~snn_deploy.train.neurons.LTC` layer (the FPTT paper's
neuron) and a leaky-integrator readout, trained with BPTT, TBPTT or FPTT; the same seed gives the
same initial network for every algorithm, so their accuracies compare like for like.

Default neuron parameters are exactly representable on Loihi 2, whose current decay is
``1 - (du + 1)/4096`` and voltage decay ``1 - dv/4096`` for integers ``du, dv`` in 0..4095:
``alpha = 0.5`` is ``du = 2047`` and ``beta = 0.875`` is ``dv = 512``. The reset is "zero", the
only one Loihi 2's LIF has; no bias; threshold 1.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split
from snn_deploy.errors import InputFileError
from snn_deploy.train.bptt import evaluate, train_bptt
from snn_deploy.train.models import DEFAULT_DT_SECONDS, SpikingMLP
from snn_deploy.train.surrogate import DEFAULT_SCALE, DEFAULT_SURROGATE

logger = logging.getLogger(__name__)

DIGITS_ALPHA = 0.5
DIGITS_BETA = 0.875
DIGITS_THRESHOLD = 1.0
DIGITS_RESET = "zero"


def save_checkpoint_atomic(ckpt: dict, path: str | Path) -> Path:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` it into place,
    so a reader never sees a half-written checkpoint."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputFileError(
            f"cannot write checkpoint {path}: {exc.strerror or exc}",
            hint="choose an output path in a writable directory",
        ) from None
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def train_digits(
    out_path: str | Path,
    *,
    hidden: int = 128,
    num_steps: int = 20,
    epochs: int = 40,
    seed: int = 0,
    lr: float = 2e-3,
    batch_size: int = 64,
    count_scale: float = 0.25,
    encoding: str = "rate_regular",
    surrogate: str = DEFAULT_SURROGATE,
    surrogate_scale: float = DEFAULT_SCALE,
    log: Callable[[str], None] | None = None,
    classes: tuple[int, ...] | None = None,
    data_parallel: bool = False,
) -> dict:
    """Train a spiking MLP on digits, write its checkpoint to ``out_path``, return a summary.

    ``data_parallel``: one rank of a torchrun job (:mod:`snn_deploy.scaleout.ddp`); the batches
    are shared among the ranks (``train_bptt``) and only rank 0 writes the checkpoint.

    The summary holds ``float_test_accuracy``, ``train_accuracy``, ``epochs``, ``seconds``
    (training only), ``path``, ``hidden``, ``num_steps`` and ``seed``. ``log`` receives one
    progress line per epoch (default: the module logger at INFO). ``classes`` trains (and
    tests) on those digits only; the network keeps its ten outputs (continual learning adds the
    others later, examples/continual_digits).

    ``seed`` fixes the weight initialisation and the batch order; the data split and encoding
    are fixed by :class:`EncodingSpec` and recorded in the checkpoint's ``"data"`` entry.
    ``count_scale`` multiplies the spike counts before the cross-entropy: below 1 the loss
    keeps pushing for larger count margins, which the integer model needs.
    """
    emit = log or logger.info
    spec = EncodingSpec(dataset="digits", encoding=encoding, num_steps=num_steps)
    split = load_digits_split(seed=spec.split_seed, test_fraction=spec.test_fraction)
    if classes is not None:
        keep_tr, keep_te = np.isin(split.y_train, classes), np.isin(split.y_test, classes)
        split = dataclasses.replace(
            split,
            x_train=split.x_train[keep_tr],
            y_train=split.y_train[keep_tr],
            x_test=split.x_test[keep_te],
            y_test=split.y_test[keep_te],
        )
    x_train, x_test = encode(split.x_train, spec), encode(split.x_test, spec)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SpikingMLP.from_sizes(
            [x_train.shape[2], hidden, 10],
            alpha=DIGITS_ALPHA,
            beta=DIGITS_BETA,
            threshold=DIGITS_THRESHOLD,
            reset=DIGITS_RESET,
            surrogate=surrogate,
            surrogate_scale=surrogate_scale,
        )

    def report(rec: dict) -> None:
        emit(
            f"epoch {rec['epoch']}/{epochs}: loss {rec['loss']:.4f}, "
            f"train accuracy {rec['train_accuracy']:.4f}, {rec['seconds']:.1f} s"
        )

    start = time.perf_counter()
    history = train_bptt(
        model,
        x_train,
        split.y_train,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        count_scale=count_scale,
        on_epoch=report,
        data_parallel=data_parallel,
    )
    seconds = time.perf_counter() - start
    test_accuracy, _ = evaluate(model, x_test, split.y_test)
    train_accuracy, _ = evaluate(model, x_train, split.y_train)
    calibration = model.calibrate(torch.as_tensor(x_train).permute(1, 0, 2))
    emit(f"float test accuracy {test_accuracy:.4f} ({len(split.y_test)} held-out digits)")

    training = {
        "algorithm": "bptt",
        "optimizer": "adam",
        "loss": "cross_entropy(count_scale * output spike counts)",
        "epochs": epochs,
        "seed": seed,
        "lr": lr,
        "batch_size": batch_size,
        "count_scale": count_scale,
        **({} if classes is None else {"classes": [int(c) for c in classes]}),
        "surrogate": surrogate,
        "surrogate_scale": surrogate_scale,
        "detach_reset": True,
        "float_test_accuracy": test_accuracy,
        "float_train_accuracy": train_accuracy,
        "seconds": seconds,
        "history": [{k: v for k, v in rec.items() if v is not None} for rec in history],
    }
    ckpt = model.to_checkpoint(
        contract=model.default_contract(DEFAULT_DT_SECONDS),
        data=spec,
        calibration=calibration,
        training=training,
    )
    write = not data_parallel or torch.distributed.get_rank() == 0
    path = save_checkpoint_atomic(ckpt, out_path) if write else None
    return {
        "float_test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "epochs": epochs,
        "seconds": seconds,
        "path": str(path) if path else None,
        "hidden": hidden,
        "num_steps": num_steps,
        "seed": seed,
    }


SEQUENTIAL_DEFAULTS = {
    "hidden": 256,
    "epochs": 30,
    "lr": 5e-3,
    "batch_size": 64,
    "readout_beta": 0.9,
    "rec_gain": 0.5,
    "clip_grad": 1.0,
    "chunk_steps": 32,
    "fptt_alpha": 0.5,
    "oracle_weight": 0.1,
    "tau_m_bias": (-4.0, 0.0),
    "tau_adp_bias": (0.0, 4.0),
}


def sequential_digits_network(num_inputs: int, hidden: int, seed: int):
    """``num_inputs -> hidden`` recurrent LTC (reset to zero, multi-Gaussian surrogate) ``->
    10`` LI readout; recurrent weights orthogonal with gain 0.5 (sFPTT initialises them
    orthogonal); gate biases drawn uniformly in ``(-4, 0)`` (membrane) and ``(0, 4)``
    (adaptation), so that the neurons' time constants at rest spread from 2 to 56 steps
    (:class:`~snn_deploy.train.neurons.LTC`). Deterministic given ``seed``."""
    from torch import nn

    from snn_deploy.train.network import SpikingNetwork
    from snn_deploy.train.neurons import LI, LTC

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        ltc = LTC(
            num_inputs,
            hidden,
            recurrent=True,
            reset="zero",
            surrogate="multi_gaussian",
            tau_m_bias=SEQUENTIAL_DEFAULTS["tau_m_bias"],
            tau_adp_bias=SEQUENTIAL_DEFAULTS["tau_adp_bias"],
        )
        with torch.no_grad():
            nn.init.orthogonal_(ltc.rec.weight, gain=SEQUENTIAL_DEFAULTS["rec_gain"])
        readout = LI(hidden, 10, beta=SEQUENTIAL_DEFAULTS["readout_beta"], bias=True)
        return SpikingNetwork([ltc, readout])


VALIDATION_FRACTION = 0.2
VALIDATION_SEED = 1234


def validation_split(x_train, y_train, *, fraction=VALIDATION_FRACTION, seed=VALIDATION_SEED):
    """Carve a stratified validation set out of the training split: ``round(fraction * n_c)``
    samples of every class ``c``, drawn with ``numpy.random.default_rng(seed)``. Returns
    ``(x_fit, y_fit, x_val, y_val)``; the test split is not touched. Settings of the
    sequential-digits recipe are chosen on this split (docs/training.md)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.asarray(y_train)
    held = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        held[idx[: int(round(fraction * len(idx)))]] = True
    return x_train[~held], y_train[~held], x_train[held], y_train[held]


def train_sequential_digits(
    out_path: str | Path | None = None,
    *,
    mode: str = "pixel",
    algorithm: str = "bptt",
    chunk_steps: int | None = None,
    hidden: int = SEQUENTIAL_DEFAULTS["hidden"],
    epochs: int = SEQUENTIAL_DEFAULTS["epochs"],
    lr: float = SEQUENTIAL_DEFAULTS["lr"],
    batch_size: int = SEQUENTIAL_DEFAULTS["batch_size"],
    seed: int = 0,
    fptt_alpha: float = SEQUENTIAL_DEFAULTS["fptt_alpha"],
    oracle_weight: float = SEQUENTIAL_DEFAULTS["oracle_weight"],
    validation: bool = False,
    log: Callable[[str], None] | None = None,
    data_parallel: bool = False,
) -> dict:
    """Train on sequential digits; write the checkpoint to ``out_path`` if given (under
    ``data_parallel``, one rank of a torchrun job: :func:`~snn_deploy.train.algorithms.fit`
    shares every batch among the ranks, and rank 0 writes).

    Loss: cross-entropy on the readout's last voltage (for TBPTT/FPTT, on its voltage at the
    end of each chunk, weighted ``(k + 1) / K``); Adam with a cosine learning-rate schedule;
    gradients clipped at norm 1 for every algorithm (sFPTT's setting; without it BPTT through
    64 steps sometimes diverges). FPTT's ``alpha`` defaults to 0.5, sFPTT's value for its long
    add task (0.1, its S-MNIST value, did worse on the validation split; docs/training.md).
    TBPTT and FPTT also pay the oracle term with ``oracle_weight`` (default 0.1, Kag &
    Saligrama's ``1/C``; :mod:`snn_deploy.train.algorithms`), which keeps the first chunk's
    readout from committing before it has seen the whole digit; BPTT has one chunk and no
    such term (its ``oracle_weight`` is ignored and recorded as 0).
    Returns ``float_test_accuracy``, ``train_accuracy``, ``best_test_accuracy`` (over epochs,
    for reference only), ``history``, ``seconds``, ``path`` and the settings.

    ``validation=True`` trains on 80 % of the training split and reports accuracy on the other
    20 % (:func:`validation_split`) in place of the test split (the summary's ``"evaluated_on"``
    says which); use it to choose settings without looking at the test set.
    """
    from snn_deploy.data.sequences import sequential_digits
    from snn_deploy.train.algorithms import evaluate as evaluate_readout
    from snn_deploy.train.algorithms import fit, time_major

    emit = log or logger.info
    data = sequential_digits(mode)
    x_train, y_train, x_eval, y_eval = data.x_train, data.y_train, data.x_test, data.y_test
    if validation:
        x_train, y_train, x_eval, y_eval = validation_split(data.x_train, data.y_train)
    held_out = "validation" if validation else "test"
    oracle_weight = 0.0 if algorithm == "bptt" else oracle_weight
    model = sequential_digits_network(data.num_inputs, hidden, seed)
    history: list[dict] = []

    def report(rec: dict) -> None:
        history.append(rec)
        emit(
            f"{algorithm} epoch {rec['epoch']}/{epochs}: loss {rec['loss']:.4f}, train accuracy "
            f"{rec['train_accuracy']:.4f}, {held_out} accuracy {rec['val_accuracy']:.4f}, "
            f"{rec['seconds']:.1f} s"
        )

    start = time.perf_counter()
    fit(
        model,
        x_train,
        y_train,
        algorithm=algorithm,
        readout="last_membrane",
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        chunk_steps=chunk_steps,
        fptt_alpha=fptt_alpha,
        oracle_weight=oracle_weight,
        clip_grad=SEQUENTIAL_DEFAULTS["clip_grad"],
        lr_schedule="cosine",
        x_val=x_eval,
        y_val=y_eval,
        on_epoch=report,
        data_parallel=data_parallel,
    )
    seconds = time.perf_counter() - start
    test_accuracy, _ = evaluate_readout(model, x_eval, y_eval, "last_membrane")
    train_accuracy, _ = evaluate_readout(model, x_train, y_train, "last_membrane")
    emit(f"{algorithm}: float {held_out} accuracy {test_accuracy:.4f} ({len(y_eval)} digits)")
    summary = {
        "float_test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "best_test_accuracy": max((r["val_accuracy"] for r in history), default=0.0),
        "history": history,
        "seconds": seconds,
        "path": None,
        "evaluated_on": held_out,
        "mode": mode,
        "algorithm": algorithm,
        "chunk_steps": chunk_steps,
        "hidden": hidden,
        "epochs": epochs,
        "seed": seed,
        "oracle_weight": oracle_weight,
    }
    if out_path is not None and (not data_parallel or torch.distributed.get_rank() == 0):
        calibration = model.calibrate(time_major(x_train[:256]))
        training = {k: v for k, v in summary.items() if k not in ("path", "history")}
        training["chunk_steps"] = chunk_steps if chunk_steps is not None else 0
        training.update(lr=lr, batch_size=batch_size, fptt_alpha=fptt_alpha, readout="last")
        training["history"] = [{k: v for k, v in r.items() if v is not None} for r in history]
        ckpt = model.to_checkpoint(
            data={"dataset": "digits_sequential", "mode": mode, "split_seed": 0},
            calibration=calibration,
            training=training,
        )
        summary["path"] = str(save_checkpoint_atomic(ckpt, out_path))
    return summary
