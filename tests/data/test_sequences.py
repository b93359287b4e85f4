"""Offline temporal data sets: shapes, determinism and the structure each one promises."""

from __future__ import annotations

import numpy as np
import pytest

from snn_deploy.data.digits import load_digits_split
from snn_deploy.data.sequences import randman, sequential_digits, temporal_xor
from snn_deploy.errors import ModelError


def test_sequential_digits_rows_and_pixels():
    split = load_digits_split()
    rows = sequential_digits("row")
    pixels = sequential_digits("pixel")
    assert rows.x_train.shape == (1437, 8, 8) and pixels.x_train.shape == (1437, 64, 1)
    assert rows.x_test.shape == (360, 8, 8) and pixels.num_steps == 64
    image = split.x_train[5].reshape(8, 8)
    np.testing.assert_allclose(rows.x_train[5], image, rtol=1e-6)
    np.testing.assert_allclose(pixels.x_train[5, :, 0], image.ravel(), rtol=1e-6)
    assert np.array_equal(pixels.y_test, split.y_test)
    with pytest.raises(ModelError, match="unknown mode 'column'"):
        sequential_digits("column")


def test_randman_is_seeded_balanced_and_one_spike_per_unit():
    a = randman(num_classes=3, num_units=12, num_steps=30, samples_per_class=20, seed=1)
    b = randman(num_classes=3, num_units=12, num_steps=30, samples_per_class=20, seed=1)
    c = randman(num_classes=3, num_units=12, num_steps=30, samples_per_class=20, seed=2)
    assert a.x_train.shape == (48, 30, 12) and a.x_test.shape == (12, 30, 12)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert np.array_equal(a.x_train.sum(axis=1), np.ones((48, 12)))
    assert np.bincount(a.y_test).tolist() == [4, 4, 4]
    last = int(np.max(np.nonzero(a.x_train)[1]))
    assert last <= 0.8 * 30  # step_frac
    two = randman(num_classes=2, num_units=5, num_steps=40, num_spikes=2, samples_per_class=10)
    assert (two.x_train.sum(axis=1) <= 2).all() and two.x_train.sum() > 5 * 16


def test_randman_classes_are_separable_by_spike_times():
    """1-nearest neighbour on spike times beats chance (25 %) by far: each class is a smooth
    manifold of its own."""
    d = randman(num_classes=4, num_units=30, num_steps=50, samples_per_class=50, seed=0)
    train = np.argmax(d.x_train, axis=1).astype(float)
    test = np.argmax(d.x_test, axis=1).astype(float)
    dist = ((test[:, None, :] - train[None]) ** 2).sum(-1)
    assert (d.y_train[dist.argmin(axis=1)] == d.y_test).mean() > 0.8


def test_temporal_xor_labels_are_the_xor_of_the_cues():
    d = temporal_xor(200, channels=6, cue_steps=5, delay_steps=7, recall_steps=4, noise_rate=0.0)
    assert d.x_train.shape == (160, 21, 12)
    x = np.concatenate([d.x_train, d.x_test])
    y = np.concatenate([d.y_train, d.y_test])
    bit1 = x[:, :5, 6:].sum(axis=(1, 2)) > x[:, :5, :6].sum(axis=(1, 2))
    bit2 = x[:, 12:17, 6:].sum(axis=(1, 2)) > x[:, 12:17, :6].sum(axis=(1, 2))
    assert np.array_equal(y, (bit1 ^ bit2).astype(int))
    assert x[:, 5:12].sum() == 0 and x[:, 17:].sum() == 0  # silent delay and recall
    assert np.bincount(y).tolist() == [100, 100]
