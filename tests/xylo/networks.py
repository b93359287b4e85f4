"""Random Xylo configurations and inputs that hit the arithmetic's corners on purpose: int16
saturation (large weights and shifts), multi-spike steps (thresholds far below the drive), input
counts above the cap of 15, the membrane wrap at -32768 with dash 0, both shift ends."""

from __future__ import annotations

import numpy as np

from snn_deploy.backends.xylo.config import XyloConfig

FLAVOURS = ("mixed", "saturate", "multi", "wrap", "quiet")


def random_config(rng, n_in=16, n_hidden=40, n_out=8, n_syn=2, flavour="mixed") -> XyloConfig:
    def weights(shape, density):
        w = rng.integers(-128, 128, shape)
        return np.where(rng.random(shape) < density, w, 0)

    h, o = n_hidden, n_out
    shifts = rng.integers(0, 9, 3)
    thr_hi = 4000
    dash_mem = rng.integers(0, 16, h)
    if flavour == "saturate":
        shifts = np.array([8, 8, rng.integers(6, 9)])
    elif flavour == "multi":
        thr_hi = 60
    elif flavour == "wrap":
        dash_mem = np.where(rng.random(h) < 0.5, 0, dash_mem)
        shifts = np.array([8, 7, 8])
    elif flavour == "quiet":
        shifts = np.array([0, 0, 0])
    cfg = XyloConfig(
        w_in=weights((n_in, h, n_syn), 0.5),
        w_rec=weights((h, h, n_syn), 0.3),
        w_out=weights((h, o), 0.6),
        dash_mem=dash_mem,
        dash_syn=rng.integers(0, 16, (h, n_syn)),
        threshold=rng.integers(1, thr_hi, h),
        bias=rng.integers(-400, 400, h) * (rng.random(h) < 0.7),
        dash_mem_out=rng.integers(0, 16, o),
        dash_syn_out=rng.integers(0, 16, o),
        threshold_out=rng.integers(1, thr_hi, o),
        bias_out=rng.integers(-200, 200, o),
        shift_in=int(shifts[0]),
        shift_rec=int(shifts[1]),
        shift_out=int(shifts[2]),
    )
    if flavour == "wrap":  # strongly inhibitory inputs drive membranes to -32768
        cfg = cfg.replace(w_in=-np.abs(cfg.w_in), bias=np.zeros(h, np.int64))
    return cfg


def random_counts(rng, batch, steps, n_in, rate=0.4, high=20) -> np.ndarray:
    x = rng.integers(1, high + 1, (batch, steps, n_in))
    return np.where(rng.random(x.shape) < rate, x, 0).astype(np.uint8)
