"""Quantization-aware training: on a digits network where post-training quantization to 4-bit
weights loses more than 3 points on Loihi 2, QAT brings the integer accuracy within 1 point of
the float model's; the trained grid reaches the chip exactly."""

import numpy as np
import pytest
import torch

from snn_deploy import api
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.common import detect_grid
from snn_deploy.train.qat import FakeQuant, enable_qat, finalize, weight_levels


def test_weight_levels_follow_the_chip_format():
    assert weight_levels(load_profile("loihi2"), 4) == (-8, 7)
    assert weight_levels(load_profile("loihi2"), 8) == (-128, 127)
    assert weight_levels(load_profile("fixedpoint"), 4) == (-7, 7)


def test_fake_quant_is_quantized_forward_and_identity_backward():
    w = torch.tensor([[0.7, -0.35, 0.1], [0.05, -0.8, 0.33]], requires_grad=True)
    fq = FakeQuant(-8, 7)
    wq = fq(w)
    step = 0.1  # max(0.7 / 7, -0.8 / -8)
    np.testing.assert_allclose(
        wq.detach().numpy() / step, np.round(wq.detach().numpy() / step), atol=1e-6
    )
    (wq * torch.arange(6.0).view(2, 3)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.arange(6.0).reshape(2, 3))


def test_finalized_weights_lie_on_a_detectable_grid():
    layer = torch.nn.Linear(5, 4)
    enable_qat(layer, -8, 7)
    finalize(layer)
    w = layer.weight.detach().double().numpy()
    assert detect_grid(w, -8, 7) is not None


@pytest.mark.slow
def test_qat_recovers_what_4_bit_ptq_loses(tmp_path):
    # Seed 1 is a network where 4-bit PTQ loses > 3 points (measured: float 96.11%, PTQ 92.22%);
    # across seeds 0..3 of this size PTQ loses 1.9, 3.9, 0.8 and 2.5 points, QAT at most 0.8.
    base = api.train_digits(tmp_path / "m.pt", hidden=24, num_steps=8, seed=1)
    float_acc = base["float_test_accuracy"]
    api.compile(tmp_path / "m.pt", "loihi2", tmp_path / "ptq", weight_bits=4)
    ptq = api.emulate(tmp_path / "ptq", save=False).int_accuracy
    assert ptq < float_acc - 0.03, (float_acc, ptq)  # the premise: PTQ loses > 3 points
    api.qat(tmp_path / "m.pt", tmp_path / "q.pt", "loihi2", weight_bits=4)
    report = api.compile(tmp_path / "q.pt", "loihi2", tmp_path / "qat", weight_bits=4).to_dict()
    for pop in report["quantization"]["populations"]:
        assert all(w["rms_error_relative"] < 1e-6 for w in pop["weights"])  # float32 rounding only
    s = api.emulate(tmp_path / "qat", save=False)
    assert s.int_accuracy >= float_acc - 0.01, (float_acc, ptq, s.int_accuracy)
