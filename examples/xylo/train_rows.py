"""A task that fits Xylo Audio 2: digits 0-7 read row by row (8 input channels, 8 steps; a
pixel above a quarter of full intensity is a spike), a recurrent current-based LIF layer of 64
neurons with subtractive reset and an 8-neuron spiking readout (class = most output spikes).
Trains with BPTT (firing rates held below 0.2 by a regularizer), compiles for xylo_audio2,
and prints the float and integer (Xylo) test accuracies; with .venv-xylo it also checks the
integer run against xylosim 0.1.3 on every spike and state.

The model is trained with one spike per neuron and step (the training library has no
multi-spike neurons); Xylo's hidden neurons emit floor(V / threshold) spikes, which is where
float and integer accuracies part (docs/xylo.md gives the measured figures).

usage: .venv/bin/python examples/xylo/train_rows.py [--epochs 30] [--out build/xylo-rows]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from snn_deploy import api
from snn_deploy.backends.xylo.bridge import xylosim_unavailable_reason
from snn_deploy.data.sequences import sequential_digits
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.train.algorithms import fit
from snn_deploy.train.network import SpikingNetwork
from snn_deploy.train.neurons import CubaLIF

CLASSES = 8  # Xylo Audio 2 has 8 output neurons


def data():
    split = sequential_digits("row")
    keep_tr, keep_te = split.y_train < CLASSES, split.y_test < CLASSES
    x_tr = (split.x_train[keep_tr] > 0.25).astype(np.float32)
    x_te = (split.x_test[keep_te] > 0.25).astype(np.float32)
    return x_tr, split.y_train[keep_tr], x_te, split.y_test[keep_te]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    x_tr, y_tr, x_te, y_te = data()
    torch.manual_seed(args.seed)
    kw = {"alpha": 0.5, "beta": 0.875, "reset": "subtract"}
    model = SpikingNetwork([CubaLIF(8, 64, recurrent=True, **kw), CubaLIF(64, CLASSES, **kw)])
    with torch.no_grad():  # larger initial weights: the binary rows drive the layer from step 1
        model.layers[0].fc.weight.mul_(2.5)
    # Few spikes per neuron keep the membrane below twice the threshold, where Xylo's
    # floor(V / threshold) spikes and the trained model's single spike agree.
    fit(model, torch.tensor(x_tr), torch.tensor(y_tr), epochs=args.epochs, lr=5e-3,
        batch_size=64, seed=args.seed, readout="count",
        rate_reg={"high": 0.2, "weight_high": 10.0})  # fmt: skip
    contract = DiscretizationContract(dt_seconds=1e-3, reset="subtract")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "xylo-rows"
        ckpt = Path(tmp) / "rows.pt"
        torch.save(model.to_checkpoint(contract=contract), ckpt)
        np.savez(Path(tmp) / "test.npz", x=x_te.astype(np.uint8), y=y_te)
        api.compile(ckpt, "xylo_audio2", out)
        backend = "emulator" if xylosim_unavailable_reason() else "xylosim"
        s = api.emulate(out, str(Path(tmp) / "test.npz"), backend=backend, save=False)
    print(f"digits 0-{CLASSES - 1}, rows as 8 channels x 8 steps, {len(y_te)} test digits")
    print(f"float test accuracy {s.float_accuracy:.2%}, Xylo integer {s.int_accuracy:.2%}")
    if s.verification:
        print(s.verification)


if __name__ == "__main__":
    main()
