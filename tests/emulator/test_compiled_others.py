"""Compiled kernels of the generic fixed-point chip, SpiNNaker 1 (s16.15) and SpiNNaker 2
(float32) vs their numpy references, integer for integer (float32: bit for bit), on randomized
networks: every rounding and overflow mode, both resets, wraps and saturations, shifts at both
ends, delays, recurrence, skips, CSR, constant inputs, non-spiking readouts, batch > 1, serial
and parallel variants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emulator.differential import assert_same_result, csr_version
from snn_deploy.backends.emulator import run
from snn_deploy.backends.emulator.compiled import run_compiled
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import QInput, QPopulation, QProjection, QuantizedNetwork
from snn_deploy.quantize.params import (
    FixedLifParams,
    FixedSynapseParams,
    Float32LifParams,
    Float32SynapseParams,
    SpinnakerLifParams,
    SpinnakerSynapseParams,
)

ONE = 32768  # 1.0 in s16.15


def _layered(rng, arithmetic, target, pop_params, proj_params, weight, csr, reset="zero"):
    """in (spikes) and on (constant) -> l1 (recurrent) -> l2 -> l3 (maybe non-spiking), with a
    delayed skip in -> l2; delays 1..6."""
    sizes = [int(s) for s in rng.integers(5, 40, 4)]
    pops = [
        QPopulation(f"l{i}", sizes[i], "cuba_lif", pop_params(rng, sizes[i]), scale=1.0)
        for i in (1, 2, 3)
    ]
    pops[2] = dataclasses.replace(pops[2], spiking=bool(rng.random() < 0.7))
    d = lambda: int(rng.integers(1, 7))  # noqa: E731
    edges = [
        ("w1", "in", "l1", sizes[1], sizes[0], d()),
        ("c1", "on", "l1", sizes[1], 2, 1),
        ("r1", "l1", "l1", sizes[1], sizes[1], d()),
        ("w2", "l1", "l2", sizes[2], sizes[1], d()),
        ("s2", "in", "l2", sizes[2], sizes[0], d()),
        ("w3", "l2", "l3", sizes[3], sizes[2], d()),
    ]
    projs = []
    for name, src, tgt, n_tgt, n_src, delay in edges:
        p = QProjection(name, src, tgt, weight(rng, n_tgt, n_src), proj_params(rng), delay)
        projs.append(csr_version(rng, p) if csr else p)
    return QuantizedNetwork(
        target=target,
        arithmetic=arithmetic,
        inputs=(QInput("in", sizes[0]), QInput("on", 2, "constant", int(rng.integers(0, 5)))),
        populations=tuple(pops),
        projections=tuple(projs),
        outputs=("l3",),
        contract=DiscretizationContract(reset=reset),
    )


def _compare(qnet, num, rng, parallel, steps=45):
    batch = int(rng.integers(1, 4))
    x = rng.random((batch, 40, qnet.inputs[0].size)) < rng.uniform(0.05, 0.8)
    record = tuple(p.name for p in qnet.populations)
    ref = run(qnet, num, {"in": x}, steps, record, engine="reference")
    got = run_compiled(qnet, num, {"in": x}, steps, record, parallel)
    assert_same_result(got, ref)
    return ref


def _total(results, key):
    return sum(ev[key] for r in results for ev in r.events.values())


# ------------------------------------------------------------------------ fixed point


def _fixed_pop(rng, n):
    big = rng.random() < 0.5
    return FixedLifParams(
        a=rng.integers(0, 4097, n),
        b=rng.integers(0, 4097, n),
        threshold=rng.integers(1, 40000 if big else 2000, n),
        bias=rng.integers(-3000, 3000, n) * (rng.random() < 0.5),
    )


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
@pytest.mark.parametrize("rounding", ["nearest", "floor", "toward_zero"])
def test_fixedpoint_random_networks(overflow, rounding):
    num = dataclasses.replace(
        load_profile("fixedpoint").numerics, state_overflow=overflow, rounding=rounding
    )
    rng = np.random.default_rng(len(overflow) * 7 + len(rounding))
    results = []
    for i in range(6):
        qnet = _layered(
            rng,
            "fixedpoint",
            "fixedpoint",
            _fixed_pop,
            lambda r: FixedSynapseParams(int(r.choice([-8, -3, -1, 0, 2, 8]))),
            lambda r, t, s: r.integers(-128, 128, (t, s)),
            csr=i % 2 == 1,
            reset=("zero", "subtract")[i % 3 == 2],
        )
        results.append(_compare(qnet, num, rng, parallel=i % 4 >= 2))
    assert _total(results, "i_saturations") + _total(results, "v_saturations") > 0
    assert sum(int(s.sum()) for r in results for s in r.spikes.values()) > 500


# -------------------------------------------------------------------------- SpiNNaker 1


def _spinnaker_pop(rng, n):
    ts = int(rng.choice([ONE, 3277]))
    full = lambda v: np.full(n, int(v))  # noqa: E731
    return SpinnakerLifParams(
        v_init=rng.integers(-70 * ONE, -50 * ONE, n),
        v_rest=full(-65 * ONE),
        cm=full(rng.integers(ONE // 10, ONE)),
        tau_m=full(rng.integers(2 * ONE, 30 * ONE)),
        i_offset=full(rng.integers(0, 2 * ONE)) * (rng.random() < 0.5),
        v_reset=full(-70 * ONE),
        v_thresh=rng.integers(-60 * ONE, -40 * ONE, n),
        tau_refrac=full(rng.integers(0, 4 * ONE)),
        tau_syn_e=full(rng.integers(ONE, 10 * ONE)),
        tau_syn_i=full(rng.integers(ONE, 10 * ONE)),
        time_step=full(ts),
        rb_shifts=rng.integers(0, 16, 2),
        exponential=np.asarray(int(rng.random() < 0.6)),
    )


def _spinnaker_weights(strong: bool):
    top = 0xFFFF if strong else 3000
    return lambda r, t, s: r.integers(-top, top + 1, (t, s))


def test_spinnaker_random_networks():
    num = load_profile("spinnaker1").numerics
    rng = np.random.default_rng(1615)
    results = []
    for i in range(14):
        strong = i % 3 == 0  # words near 0xFFFF from many sources: ring saturation
        qnet = _layered(
            rng,
            "spinnaker",
            "spinnaker1",
            _spinnaker_pop,
            lambda r: SpinnakerSynapseParams(),
            _spinnaker_weights(strong),
            csr=i % 2 == 1,
        )
        results.append(_compare(qnet, num, rng, parallel=i % 4 >= 2))
    assert _total(results, "ring_saturations") > 0
    assert _total(results, "accum_wraps") > 0
    assert sum(int(s.sum()) for r in results for s in r.spikes.values()) > 500


# --------------------------------------------------------------------- SpiNNaker 2 (float32)


def _float_pop(rng, n):
    pack = Float32LifParams.pack
    return Float32LifParams(
        alpha_bits=pack(rng.uniform(0, 1, n) * (rng.random() < 0.7)),
        beta_bits=pack(rng.uniform(0.5, 1, n)),
        threshold_bits=pack(rng.uniform(-5, 300, n)),
        bias_bits=pack(rng.normal(0, 10, n) * (rng.random() < 0.5)),
    )


def test_float32_random_networks_bit_for_bit():
    num = load_profile("spinnaker2").numerics
    rng = np.random.default_rng(32)
    results = []
    for i in range(12):
        qnet = _layered(
            rng,
            "float32",
            "spinnaker2",
            _float_pop,
            lambda r: Float32SynapseParams(),
            lambda r, t, s: r.integers(-128, 128, (t, s)),
            csr=i % 2 == 1,
            reset=("zero", "subtract")[i % 2],
        )
        results.append(_compare(qnet, num, rng, parallel=i % 4 >= 2))
    assert sum(int(s.sum()) for r in results for s in r.spikes.values()) > 500


def test_csr_weights_too_wide_to_pack_with_their_index():
    """Fixed-point weights of 21 bits and 4,096 targets (12 index bits) do not fit one 32-bit
    word: the CSR keeps separate weights and indices; results equal the reference all the same."""
    from snn_deploy.backends.emulator.compiled.common import P_PACK

    num = dataclasses.replace(load_profile("fixedpoint").numerics, state_bits=40)
    rng = np.random.default_rng(21)
    n_in, n = 40, 4096
    params = FixedLifParams(
        a=np.full(n, 3000), b=np.full(n, 3000), threshold=np.full(n, 2**19), bias=np.zeros(n)
    )
    proj = QProjection(
        "w", "in", "p", rng.integers(-(2**20), 2**20, (n, n_in)), FixedSynapseParams(-4)
    )
    qnet = QuantizedNetwork(
        "fixedpoint",
        "fixedpoint",
        (QInput("in", n_in),),
        (QPopulation("p", n, "cuba_lif", params, scale=1.0),),
        (csr_version(rng, proj, 0.05),),
        ("p",),
        DiscretizationContract(),
    )
    from snn_deploy.backends.emulator.compiled import fixedpoint

    assert fixedpoint._prepare(qnet, num)[1].table[0, P_PACK] == 0
    x = rng.random((2, 20, n_in)) < 0.3
    ref = run(qnet, num, {"in": x}, 20, ("p",), engine="reference")
    assert_same_result(run_compiled(qnet, num, {"in": x}, 20, ("p",), False), ref)
    assert ref.spikes["p"].any()
