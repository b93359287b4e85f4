"""Quantization-aware training: the forward pass sees the weights the chip will hold.

Each weight layer's float weights ``W`` are replaced in the forward pass by::

    d  = max(max(W) / hi, min(W) / lo)                 (one step per layer, not trained)
    Wq = d * clamp(round(W / d), lo, hi)

and the backward pass lets the gradient through unchanged (``dWq/dW = 1``: the straight-through
estimator). ``lo..hi`` are the integer levels of the target's weight format at the chosen width
(:func:`weight_levels`): Loihi 2 with ``num_weight_bits = b`` in MIXED mode keeps mantissas on a
grid of ``2**(9 - b)`` within -256..254, i.e. levels ``-2**(b-1) .. 2**(b-1) - 1``; the generic
fixed-point chip with ``weight_bits = b`` has ``-(2**(b-1) - 1) .. 2**(b-1) - 1``.

:func:`finalize` writes ``Wq`` into the weights, so they lie exactly on the grid; the compiler's
quantizer recognises such a grid (``quantize.common.detect_grid``) and chooses the integer scale
that puts it exactly on the chip's, so the chip holds the weights that were trained.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from snn_deploy.errors import ModelError, UnsupportedError

logger = logging.getLogger(__name__)


def weight_levels(profile, weight_bits: int | None = None) -> tuple[int, int]:
    """Integer weight levels ``(lo, hi)`` of a signed (MIXED) weight on ``profile``."""
    num = profile.numerics
    if profile.chip.arithmetic == "loihi":
        b = weight_bits or num.weight_mantissa_bits
        if not 1 <= b <= num.weight_mantissa_bits:
            raise ModelError(f"weight bits {b} outside 1..{num.weight_mantissa_bits}")
        step = num.weight_step("mixed", b)
        lo, hi = num.weight_range("mixed")
        return -(-lo // step), hi // step
    if profile.chip.arithmetic == "fixedpoint":
        b = min(weight_bits or num.weight_bits, num.weight_bits)
        top = (1 << (b - 1)) - 1
        return -top, top
    raise UnsupportedError(
        f"quantization-aware training has no weight format for {profile.chip.title}"
    )


class FakeQuant(nn.Module):
    """Parametrization of a weight: its quantized value forward, straight-through backward."""

    def __init__(self, lo: int, hi: int):
        super().__init__()
        self.lo, self.hi = int(lo), int(hi)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            top = torch.maximum(w.max() / self.hi, w.min() / self.lo)
            step = torch.clamp(top, min=torch.finfo(w.dtype).tiny)
            wq = step * torch.clamp(torch.round(w / step), self.lo, self.hi)
        return w + (wq - w).detach()


def enable_qat(model: nn.Module, lo: int, hi: int) -> list[nn.Linear]:
    """Fake-quantize the weight of every ``nn.Linear`` in ``model``; returns those layers."""
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    for layer in layers:
        parametrize.register_parametrization(layer, "weight", FakeQuant(lo, hi))
    return layers


def finalize(model: nn.Module) -> None:
    """Bake the quantized weights in and remove the parametrizations."""
    for m in model.modules():
        if isinstance(m, nn.Linear) and parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)


def finetune_qat(
    checkpoint: str | Path,
    out: str | Path,
    profile,
    weight_bits: int | None = None,
    *,
    epochs: int = 15,
    lr: float = 1e-3,
    batch_size: int = 64,
    seed: int = 0,
    count_scale: float = 0.25,
) -> dict:
    """Fine-tune a digits checkpoint with fake-quantized weights; write the result to ``out``."""
    from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split
    from snn_deploy.frontend.checkpoint import load_checkpoint_dict
    from snn_deploy.train.bptt import evaluate, train_bptt
    from snn_deploy.train.models import SpikingMLP
    from snn_deploy.train.recipes import save_checkpoint_atomic

    ckpt = load_checkpoint_dict(Path(checkpoint))
    model = SpikingMLP.from_checkpoint(ckpt, source=Path(checkpoint).name)
    spec = EncodingSpec.from_dict(dict(ckpt["data"]))
    split = load_digits_split(spec.split_seed, spec.test_fraction)
    x_train, x_test = encode(split.x_train, spec), encode(split.x_test, spec)
    before, _ = evaluate(model, x_test, split.y_test)
    lo, hi = weight_levels(profile, weight_bits)
    enable_qat(model, lo, hi)
    start = time.perf_counter()
    train_bptt(
        model,
        x_train,
        split.y_train,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        count_scale=count_scale,
    )
    seconds = time.perf_counter() - start
    finalize(model)
    after, _ = evaluate(model, x_test, split.y_test)
    training = dict(ckpt.get("training") or {})
    training["qat"] = {
        "target": profile.name,
        "weight_bits": weight_bits,
        "levels": [lo, hi],
        "epochs": epochs,
        "lr": lr,
        "float_test_accuracy_before": before,
        "float_test_accuracy": after,
        "seconds": seconds,
    }
    calibration = model.calibrate(torch.as_tensor(x_train).permute(1, 0, 2))
    new = model.to_checkpoint(
        contract=model.default_contract(float(ckpt["contract"]["dt_seconds"])),
        data=spec,
        calibration=calibration,
        training=training,
    )
    save_checkpoint_atomic(new, out)
    logger.info("QAT: float test accuracy %.4f -> %.4f (quantized weights)", before, after)
    return {
        "float_test_accuracy_before": before,
        "float_test_accuracy": after,
        "seconds": seconds,
        "path": str(out),
        "levels": (lo, hi),
    }
