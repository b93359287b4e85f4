"""Compiled Xylo kernel vs its numpy reference, integer for integer, on randomized networks at
the corners: int16 saturation, the dash-0 wrap at -32768, weight shifts 0 and 8, multi-spike
steps up to 31, input counts capped at 15, one or two synaptic currents, serial and parallel.
Runs without xylosim (tests/xylo/ checks both against it)."""

from __future__ import annotations

import numpy as np
import pytest

from snn_deploy.backends.emulator.compiled.xylo import run_xylo_compiled
from snn_deploy.backends.emulator.xylo import run_xylo_reference
from snn_deploy.backends.xylo.bridge import mismatches
from snn_deploy.numerics.xylo import decayed, neuron_step, wrap16
from snn_deploy.profiles import load_profile
from xylo.networks import FLAVOURS, random_config, random_counts


@pytest.fixture(scope="module")
def num():
    return load_profile("xylo_audio2").numerics


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("parallel", [False, True])
def test_compiled_equals_reference(num, flavour, parallel):
    rng = np.random.default_rng(10 * FLAVOURS.index(flavour) + parallel)
    for n_syn in (1, 2):
        cfg = random_config(rng, n_hidden=30, n_syn=n_syn, flavour=flavour)
        x = random_counts(rng, batch=3, steps=30, n_in=cfg.n_in)
        ref = run_xylo_reference(cfg, num, x)
        comp = run_xylo_compiled(cfg, num, x, parallel=parallel)
        assert mismatches(comp, ref) == {}, mismatches(comp, ref)
        assert comp.events == ref.events


def test_corners_are_hit_and_agree(num):
    hit = dict.fromkeys(("saturated_additions", "multi_spikes", "capped_inputs", "mem_wraps"), 0)
    shifts = set()
    for seed in range(10):
        rng = np.random.default_rng(seed)
        cfg = random_config(rng, n_hidden=25, flavour=FLAVOURS[seed % len(FLAVOURS)])
        if seed < 2:
            cfg = cfg.replace(shift_in=8 * seed, shift_rec=8 * seed, shift_out=8 * seed)
        shifts |= {cfg.shift_in, cfg.shift_rec, cfg.shift_out}
        x = random_counts(rng, batch=2, steps=25, n_in=cfg.n_in, high=40)
        ref = run_xylo_reference(cfg, num, x)
        comp = run_xylo_compiled(cfg, num, x)
        assert mismatches(comp, ref) == {}
        for k in hit:
            hit[k] += comp.events[k]
        assert ref.spikes.max() <= num.max_hidden_spikes
    assert all(v > 0 for v in hit.values()), hit
    assert {0, 8} <= shifts


def test_spike_count_reaches_31_and_outputs_stop_at_one(num):
    rng = np.random.default_rng(3)
    cfg = random_config(rng, n_hidden=10, flavour="multi")
    cfg = cfg.replace(
        w_in=np.full_like(cfg.w_in, 127),
        threshold=np.ones(10, np.int64),
        threshold_out=np.ones(8, np.int64),
        shift_in=8,
    )
    x = np.full((1, 5, cfg.n_in), 15, np.uint8)
    comp = run_xylo_compiled(cfg, num, x)
    assert comp.spikes.max() == 31 and comp.out_spikes.max() == 1
    assert mismatches(comp, run_xylo_reference(cfg, num, x)) == {}


def test_the_membrane_wrap_at_minus_32768_with_dash_0():
    # -d(-32768, 0) = 32768 does not fit int16: the chip adds -32768 instead
    assert int(wrap16(-np.int64(-32768))) == -32768
    assert int(decayed(np.int64(-32768), 0)) == 0
    _, v, n = neuron_step(
        np.zeros((1, 1), np.int64), np.array([-32768]), np.zeros((1, 1), np.int64),
        np.array([0]), np.array([0]), np.array([100]), 31,
    )  # fmt: skip
    assert int(v[0]) == -32768 and int(n[0]) == 0
    _, v, _ = neuron_step(
        np.zeros((1, 1), np.int64), np.array([-32767]), np.zeros((1, 1), np.int64),
        np.array([0]), np.array([0]), np.array([100]), 31,
    )  # fmt: skip
    assert int(v[0]) == 0
