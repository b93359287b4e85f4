"""Acceptance bars of the training issue that fit in the suite, measured on real training runs.

- static digits: the recipe behind ``snn-deploy train digits`` reaches at least 97 % float test
  accuracy on the 360 held-out digits (mean of three seeds: one seed's network depends on the
  CPU);
- sequential digits, pixel by pixel (T = 64): FPTT against BPTT with the same network, the same
  initial weights and the same batches. The full comparison (``examples/sequential_digits``,
  numbers in docs/training.md) takes minutes; here a smaller network trains for fewer epochs.
"""

from __future__ import annotations

import pytest
import torch

from snn_deploy.train.recipes import train_digits, train_sequential_digits


@pytest.fixture
def one_thread():
    """These networks are small: one thread is as fast as two for them, and keeps the runtime
    independent of how busy the machine's other cores are."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_static_digits_reach_97_percent(tmp_path, one_thread):
    """The bar is on the recipe, not on the network one seed trains: that network follows the
    kernels PyTorch dispatches for the CPU's instruction set and the thread count (seed 0, one
    thread: 97.78 % with ATEN_CPU_CAPABILITY=avx2, 97.22 % with default). Seeds 0, 1, 2, one
    thread, measured: avx2 97.78 / 98.06 / 97.78 % (mean 97.87 %), default 97.22 / 98.06 /
    98.06 % (mean 97.78 %)."""
    acc = [
        train_digits(tmp_path / f"digits{seed}.pt", seed=seed, log=lambda line: None)[
            "float_test_accuracy"
        ]
        for seed in range(3)
    ]
    assert sum(acc) / len(acc) >= 0.97, acc
    assert min(acc) >= 0.96, acc


def test_fptt_keeps_up_with_bptt_on_pixel_by_pixel_digits(one_thread):
    """The sequential-digits recipe (256 recurrent LTC neurons, T = 64, one pixel per step)
    trained for 12 epochs by BPTT and by FPTT in two chunks of 32 steps (with the recipe's
    oracle term), from the same weights on the same batches. A smoke version of the 30-epoch,
    five-seed comparison that meets the 1.5-point bar (docs/training.md: BPTT 96.50 %, FPTT
    96.17 %); after 12 epochs FPTT is still catching up (measured: BPTT 91.11 %, FPTT 89.44 %),
    so the margin here is 4 points."""
    acc = {}
    for algorithm in ("bptt", "fptt"):
        summary = train_sequential_digits(
            mode="pixel",
            algorithm=algorithm,
            chunk_steps=None if algorithm == "bptt" else 32,
            epochs=12,
            seed=0,
            log=lambda line: None,
        )
        assert summary["history"][-1]["epoch"] == 12
        assert summary["hidden"] == 256
        assert summary["oracle_weight"] == (0.0 if algorithm == "bptt" else 0.1)
        acc[algorithm] = summary["float_test_accuracy"]
    assert min(acc.values()) > 0.85, acc  # chance is 0.1
    assert acc["fptt"] >= acc["bptt"] - 0.04, acc
