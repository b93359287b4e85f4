"""Quantization-aware training: on a digits network and a weight width at which post-training
quantization loses at least 3 points on Loihi 2 (found by the test, whatever the CPU), QAT wins
back at least half of them; the trained grid reaches the chip exactly."""

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


#: the premise: post-training quantization loses at least this much of the float accuracy
PTQ_LOSS = 0.03


@pytest.mark.slow
def test_qat_recovers_most_of_what_ptq_loses(tmp_path):
    """The premise is searched for, not assumed: which network a seed trains depends on the
    CPU's instruction set (``ATEN_CPU_CAPABILITY``) and thread count, and so does how much
    4-bit PTQ costs it (seed 1: 4.2 points on avx2, 2.8 on avx512 and default). The weight
    width goes down from 4 bits until PTQ loses at least 3 points (3 bits loses 8 to 10 points
    on every capability measured), then QAT at that width must win back at least half of them.
    Measured (seed 1, hidden 24, T 8; float, PTQ, QAT): avx2 4 bits 96.11 / 91.94 / 95.56 %;
    default 3 bits 97.22 / 87.78 / 95.83 %."""
    base = api.train_digits(tmp_path / "m.pt", hidden=24, num_steps=8, seed=1)
    float_acc = base["float_test_accuracy"]
    tried = {}
    for bits in (4, 3, 2):
        api.compile(tmp_path / "m.pt", "loihi2", tmp_path / f"ptq{bits}", weight_bits=bits)
        tried[bits] = api.emulate(tmp_path / f"ptq{bits}", save=False).int_accuracy
        if tried[bits] <= float_acc - PTQ_LOSS:
            break
    else:
        pytest.fail(f"PTQ loses less than 3 points at 4, 3 and 2 bits: float {float_acc}, {tried}")
    ptq = tried[bits]
    api.qat(tmp_path / "m.pt", tmp_path / "q.pt", "loihi2", weight_bits=bits)
    report = api.compile(tmp_path / "q.pt", "loihi2", tmp_path / "qat", weight_bits=bits)
    for pop in report.to_dict()["quantization"]["populations"]:
        assert all(w["rms_error_relative"] < 1e-6 for w in pop["weights"])  # float32 rounding only
    qat = api.emulate(tmp_path / "qat", save=False).int_accuracy
    assert qat - ptq >= 0.5 * (float_acc - ptq), (bits, float_acc, ptq, qat)
