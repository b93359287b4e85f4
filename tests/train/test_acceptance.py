"""Acceptance bars of the training issue that fit in the suite, measured on real training runs.

- static digits: the recipe behind ``snn-deploy train digits`` reaches at least 97 % float test
  accuracy on the 360 held-out digits;
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
    """These networks are small: one thread avoids the synchronisation cost of two on every
    tiny per-step operation (and keeps the runtime independent of the machine's cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_static_digits_reach_97_percent(tmp_path, one_thread):
    summary = train_digits(tmp_path / "digits.pt", log=lambda line: None)
    assert summary["float_test_accuracy"] >= 0.97, summary
