"""Losses and readouts against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snn_deploy.errors import ModelError
from snn_deploy.train.losses import (
    READOUTS,
    ce_count_loss,
    ce_last_membrane_loss,
    ce_max_membrane_loss,
    firing_rate_regularizer,
    first_spike_times,
    get_readout,
    mse_membrane_loss,
    mse_rate_loss,
    rate_targets,
    ttfs_ce_loss,
    ttfs_mse_loss,
    van_rossum_distance,
)


def spikes_from(times, steps, classes):
    """[T, 1, C] spikes with one spike per class at ``times[c]`` (None: silent)."""
    s = torch.zeros(steps, 1, classes, dtype=torch.float64)
    for c, t in enumerate(times):
        if t is not None:
            s[t, 0, c] = 1.0
    return s


def test_classification_losses():
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])  # counts (2, 1)
    y = torch.tensor([0])
    assert ce_count_loss(s, y, scale=0.5).item() == pytest.approx(
        -math.log(math.exp(1.0) / (math.exp(1.0) + math.exp(0.5)))
    )
    v = torch.tensor([[[0.1, 0.4]], [[0.9, 0.2]], [[0.3, 0.5]]])
    assert ce_max_membrane_loss(v, y).item() == pytest.approx(
        F.cross_entropy(torch.tensor([[0.9, 0.5]]), y).item()
    )
    assert ce_last_membrane_loss(v, y).item() == pytest.approx(
        F.cross_entropy(torch.tensor([[0.3, 0.5]]), y).item()
    )


def test_first_spike_times_and_ttfs_losses():
    s = spikes_from([3, 0, None, 7], steps=10, classes=4)
    s[5, 0, 0] = 1.0  # a second spike does not move the first
    assert first_spike_times(s).tolist() == [[3.0, 0.0, 10.0, 7.0]]
    y = torch.tensor([1])
    expected = F.cross_entropy(-0.5 * torch.tensor([[3.0, 0.0, 10.0, 7.0]]), y)
    assert ttfs_ce_loss(s, y, scale=0.5).item() == pytest.approx(expected.item())
    assert ttfs_mse_loss(s, torch.tensor([[3.0, 1.0, 10.0, 5.0]])).item() == pytest.approx(
        (0 + 1 + 0 + 4) / 4
    )
    s.requires_grad_()
    (g,) = torch.autograd.grad(first_spike_times(s).sum(), s)
    # d t_first / d s[t'] = -(number of steps t >= t' with no other spike up to t)
    assert g[3, 0, 2].item() == -7.0  # silent neuron: T - t'
    assert g[0, 0, 1].item() == -10.0  # its spike at t = 0 removes all 10 steps
    assert g[3, 0, 0].item() == -2.0  # steps 3 and 4; the spike at 5 ends the count


def test_regression_losses():
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]], [[0.0, 1.0]], [[0.0, 0.0]]])  # rates .5 .25
    targets = rate_targets(torch.tensor([0]), 2, on=0.75, off=0.25)
    assert targets.tolist() == [[0.75, 0.25]]
    assert mse_rate_loss(s, targets).item() == pytest.approx((0.25**2 + 0) / 2)
    v = torch.ones(3, 2, 2)
    assert mse_membrane_loss(v, torch.zeros(2)).item() == 1.0


def test_van_rossum_distance():
    a = spikes_from([2], steps=20, classes=1)
    assert van_rossum_distance(a, a, tau=4.0).item() == 0.0
    silent = torch.zeros_like(a)
    d = math.exp(-1 / 4)
    expected = sum(d ** (2 * k) for k in range(18)) / 4.0  # (1/tau) sum_t f[t]^2
    assert van_rossum_distance(a, silent, tau=4.0).item() == pytest.approx(expected)
    near, far = spikes_from([3], 20, 1), spikes_from([12], 20, 1)
    assert van_rossum_distance(a, near).item() < van_rossum_distance(a, far).item()
    with pytest.raises(ModelError, match="must match"):
        van_rossum_distance(a, torch.zeros(5, 1, 1))


def test_firing_rate_regularizer():
    s = torch.zeros(10, 2, 3)
    s[:, :, 0] = 1.0  # rate 1
    s[:5, :, 1] = 1.0  # rate 0.5; neuron 2 silent
    r = firing_rate_regularizer(s, low=0.1, high=0.6, weight_low=2.0, weight_high=1.0)
    assert r.item() == pytest.approx(2.0 * (0.1**2) / 3 + 1.0 * (0.4**2) / 3)


@pytest.mark.parametrize("name", ["count", "max_membrane", "last_membrane"])
def test_streamed_readouts_equal_the_whole_sequence(name):
    readout = get_readout(name)
    out = torch.randn(12, 3, 4, dtype=torch.float64)
    acc, logits = None, None
    for chunk in out.split(5):
        logits, acc = readout.stream(acc, chunk)
    torch.testing.assert_close(logits, readout.logits(out))


def test_readout_registry():
    assert set(READOUTS) == {"count", "max_membrane", "last_membrane", "first_spike"}
    with pytest.raises(ModelError, match="unknown readout 'mean'"):
        get_readout("mean")
    with pytest.raises(ModelError, match="no chunked form"):
        get_readout("first_spike").stream(None, torch.zeros(2, 1, 1))
