"""Spike encoders and event binning against their documented definitions."""

from __future__ import annotations

import numpy as np
import pytest

from snn_deploy.data.encoders import (
    bin_events,
    delta_encode,
    direct_encode,
    latency_encode,
    load_events,
    rate_encode,
)
from snn_deploy.errors import InputFileError, ModelError


def test_rate_encode_is_seeded_bernoulli():
    x = np.array([[0.0, 0.25, 1.0]])
    s = rate_encode(np.repeat(x, 400, axis=0), 50, seed=3)
    assert s.shape == (400, 50, 3) and s.dtype == bool
    rates = s.mean(axis=(0, 1))
    assert rates[0] == 0.0 and rates[2] == 1.0 and abs(rates[1] - 0.25) < 0.01
    assert np.array_equal(s, rate_encode(np.repeat(x, 400, axis=0), 50, seed=3))
    assert not np.array_equal(s, rate_encode(np.repeat(x, 400, axis=0), 50, seed=4))
    half = rate_encode(np.repeat(x, 400, axis=0), 50, max_rate=0.5, seed=3).mean(axis=(0, 1))
    assert abs(half[2] - 0.5) < 0.01


def test_latency_encode_linear_and_log():
    x = np.array([[1.0, 0.5, 0.0, 0.2]])
    s = latency_encode(x, 11)
    assert s.sum(axis=1).tolist() == [[1, 1, 0, 1]]
    assert [int(np.argmax(s[0, :, f])) for f in (0, 1, 3)] == [0, 5, 8]
    log = latency_encode(x, 50, mode="log", tau=5.0, threshold=0.1)
    times = [int(np.argmax(log[0, :, f])) for f in (0, 1, 3)]
    expected = [round(5.0 * np.log(v / (v - 0.1))) for v in (1.0, 0.5, 0.2)]
    assert times == expected and log[0, :, 2].sum() == 0
    with pytest.raises(ModelError, match="unknown latency mode 'exp'"):
        latency_encode(x, 5, mode="exp")


def test_delta_encode_counts_threshold_crossings():
    ramp = np.arange(17) / 8.0  # exact steps of 1/8 from 0 to 2
    wave = np.sin(np.linspace(0, 2 * np.pi, 17))
    signal = np.stack([ramp, 2.0 - ramp, wave], axis=1)[None]  # (1, 17, 3)
    s = delta_encode(signal, threshold=0.25)
    assert s.shape == (1, 17, 6)
    on, off = s[0, :, :3], s[0, :, 3:]
    assert np.flatnonzero(on[:, 0]).tolist() == [2, 4, 6, 8, 10, 12, 14, 16] and not off[:, 0].any()
    assert np.flatnonzero(off[:, 1]).tolist() == [2, 4, 6, 8, 10, 12, 14, 16] and not on[:, 1].any()
    assert on[:, 2].any() and off[:, 2].any()
    assert delta_encode(signal, 0.25, off_spikes=False).shape == (1, 17, 3)
    with pytest.raises(ModelError, match="threshold must be > 0"):
        delta_encode(signal, 0.0)


def test_direct_encode_repeats_the_value():
    x = np.array([[0.1, 0.9]])
    d = direct_encode(x, 4)
    assert d.shape == (1, 4, 2) and d.dtype == np.float32
    assert np.array_equal(d[0], np.tile(x.astype(np.float32), (4, 1)))


def test_bin_events_2d_and_1d(tmp_path):
    events = {
        "t": np.array([0.0, 1.0, 2.5, 9.9, 10.0]),
        "x": np.array([0, 1, 2, 0, 1]),
        "y": np.array([0, 1, 0, 1, 0]),
        "p": np.array([0, 1, 1, 0, 0]),
    }
    frames = bin_events(events, (3, 2), 5, dt=2.0)
    assert frames.shape == (5, 2 * 2 * 3)
    feature = lambda p, y, x: (p * 2 + y) * 3 + x  # noqa: E731
    assert frames[0, feature(0, 0, 0)] == 1 and frames[0, feature(1, 1, 1)] == 1
    assert frames[1, feature(1, 0, 2)] == 1 and frames[4, feature(0, 1, 0)] == 1
    assert frames.sum() == 4  # t = 10.0 lies past the last bin [8, 10)
    auto = bin_events(events, (3, 2), 5)
    assert auto.sum() == 5  # default dt: the span / num_steps, every event kept
    structured = np.zeros(5, dtype=[("t", "f8"), ("x", "i8"), ("p", "i8")])
    structured["t"], structured["x"], structured["p"] = events["t"], events["x"], events["p"]
    cochlea = bin_events(structured, (3,), 2, binary=True)
    assert cochlea.shape == (2, 6) and cochlea.dtype == bool
    np.savez(tmp_path / "ev.npz", events=structured)
    assert np.array_equal(load_events(tmp_path / "ev.npz")["t"], events["t"])
    np.savez(tmp_path / "ev2.npz", **events)
    assert set(load_events(tmp_path / "ev2.npz")) == {"t", "x", "y", "p"}
    with pytest.raises(InputFileError, match="not an .npz file of events"):
        (tmp_path / "bad.npz").write_text("nope")
        load_events(tmp_path / "bad.npz")


def test_bin_events_refuses_bad_input():
    ev = {"t": np.array([0.0]), "x": np.array([5]), "p": np.array([0])}
    with pytest.raises(ModelError, match=r"field x has values outside 0..2"):
        bin_events(ev, (3,), 2)
    with pytest.raises(ModelError, match=r"no y field"):
        bin_events({"t": [0.0], "x": [0], "p": [0]}, (3, 2), 2)
    with pytest.raises(ModelError, match="different lengths"):
        bin_events({"t": [0.0, 1.0], "x": [0], "p": [0]}, (3,), 2)
