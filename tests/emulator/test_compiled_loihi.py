"""Compiled Loihi kernel vs its numpy reference, integer for integer, on randomized networks that
hit every corner: int32 wraps, u wraps, v saturation, weight exponents -7 and +7, every sign mode
and weight width, biases, delays, recurrence, skip connections, CSR, constant inputs, a
non-spiking readout, batch > 1, serial and parallel variants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from emulator.differential import assert_same_result, csr_version
from snn_deploy.backends.emulator import run
from snn_deploy.backends.emulator.compiled import run_compiled
from snn_deploy.backends.emulator.compiled.loihi import _prepare
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QInput,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)


def _pop(rng, name, n, spiking=True):
    du = int(rng.integers(0, 64) if rng.random() < 0.5 else rng.integers(0, 4096))
    dv = int(rng.integers(0, 64) if rng.random() < 0.5 else rng.integers(0, 4096))
    vth = int(rng.integers(0, 2000) if rng.random() < 0.5 else rng.integers(0, 131072))
    bias_on = rng.random() < 0.5
    params = LoihiLifParams(
        du=np.full(n, du),
        dv=np.full(n, dv),
        vth=np.full(n, vth),
        bias_mant=rng.integers(-4096, 4096, n) * bias_on,
        bias_exp=rng.integers(0, 8, n),
    )
    return QPopulation(name, n, "cuba_lif", params, scale=1.0, spiking=spiking)


def _proj(rng, name, source, target, n_tgt, n_src, delay=1, exp=None, mode=None):
    mode = mode or str(rng.choice(["mixed", "excitatory", "inhibitory"], p=[0.6, 0.2, 0.2]))
    exp = int(rng.integers(-7, 8)) if exp is None else exp
    w = rng.integers(-300, 301, (n_tgt, n_src))
    params = LoihiSynapseParams(exp, int(rng.integers(1, 9)), mode)
    return QProjection(name, source, target, w, params, delay)


def random_loihi_net(rng, csr: bool) -> QuantizedNetwork:
    """in (spikes) and on (constant) -> l1 (recurrent) -> l2 -> l3 (maybe non-spiking), with a
    delayed skip in -> l2; delays 1..6; every projection CSR at density ~0.3 when ``csr``."""
    sizes = [int(s) for s in rng.integers(5, 40, 4)]
    pops = [_pop(rng, f"l{i}", sizes[i]) for i in (1, 2)]
    pops.append(_pop(rng, "l3", sizes[3], spiking=rng.random() < 0.7))
    d = lambda: int(rng.integers(1, 7))  # noqa: E731
    projs = [
        _proj(rng, "w1", "in", "l1", sizes[1], sizes[0], d()),
        _proj(rng, "c1", "on", "l1", sizes[1], 2, 1),
        _proj(rng, "r1", "l1", "l1", sizes[1], sizes[1], d()),
        _proj(rng, "w2", "l1", "l2", sizes[2], sizes[1], d()),
        _proj(rng, "s2", "in", "l2", sizes[2], sizes[0], d()),
        _proj(rng, "w3", "l2", "l3", sizes[3], sizes[2], d()),
    ]
    if csr:
        projs = [csr_version(rng, p) for p in projs]
    return QuantizedNetwork(
        target="loihi2",
        arithmetic="loihi",
        inputs=(QInput("in", sizes[0]), QInput("on", 2, "constant", int(rng.integers(0, 5)))),
        populations=tuple(pops),
        projections=tuple(projs),
        outputs=("l3",),
        contract=DiscretizationContract(),
    )


def _compare(qnet, num, x, steps, parallel):
    record = tuple(p.name for p in qnet.populations)
    ref = run(qnet, num, {"in": x}, steps, record, engine="reference")
    got = run_compiled(qnet, num, {"in": x}, steps, record, parallel)
    assert_same_result(got, ref)
    return ref


def test_random_networks_dense_and_csr_serial_and_parallel(loihi2):
    rng = np.random.default_rng(314)
    totals = {"u_wraps": 0, "v_saturations": 0, "int32_wraps": 0}
    spikes, proofs = 0, set()
    for i in range(24):
        qnet = random_loihi_net(rng, csr=i % 2 == 1)
        safe, uniform = _prepare(qnet, loihi2.numerics)[-2:]
        proofs |= {(bool(f), bool(u)) for f, u in zip(safe, uniform, strict=True)}
        batch = 1 if i % 3 == 0 else int(rng.integers(2, 5))
        x = rng.random((batch, 40, qnet.inputs[0].size)) < rng.uniform(0.05, 0.8)
        ref = _compare(qnet, loihi2.numerics, x, 50, parallel=i % 4 >= 2)
        for ev in ref.events.values():
            for k in totals:
                totals[k] += ev[k]
        spikes += sum(int(s.sum()) for s in ref.spikes.values())
    assert totals["u_wraps"] > 0 and totals["v_saturations"] > 0, totals
    assert spikes > 5_000
    # populations with and without int32-wrap checks, with the same parameters for every neuron
    # (held in registers) and with per-neuron biases
    assert {(True, True), (True, False), (False, True), (False, False)} <= proofs, proofs


@pytest.mark.parametrize("exp", [-7, 7])
@pytest.mark.parametrize("mode", ["excitatory", "inhibitory", "mixed"])
def test_int32_wraps_at_both_weight_exponent_ends(loihi2, exp, mode):
    """Fan-in 1,100 at exponent +7 overflows the int32 words; -7 shifts almost everything out."""
    rng = np.random.default_rng(abs(exp) * 10 + len(mode))
    n_in, n = 1100, 8
    pop = _pop(rng, "l1", n)
    proj = _proj(rng, "w1", "in", "l1", n, n_in, 2, exp, mode)
    lo, hi = {"excitatory": (0, 256), "inhibitory": (-255, 1), "mixed": (-60, 256)}[mode]
    params = dataclasses.replace(proj.params, num_weight_bits=8)
    proj = dataclasses.replace(proj, weight=rng.integers(lo, hi, (n, n_in)), params=params)
    qnet = QuantizedNetwork(
        "loihi2", "loihi", (QInput("in", n_in),), (pop,), (proj,), ("l1",), DiscretizationContract()
    )
    x = rng.random((2, 30, n_in)) < 0.9
    ref = _compare(qnet, loihi2.numerics, x, 32, parallel=True)
    if exp == 7:
        assert ref.events["l1"]["int32_wraps"] > 0
    sparse = dataclasses.replace(qnet, projections=(csr_version(rng, proj, 0.9),))
    _compare(sparse, loihi2.numerics, x, 32, parallel=False)


def test_steps_past_the_input_and_empty_activity(loihi2):
    rng = np.random.default_rng(3)
    qnet = random_loihi_net(rng, csr=False)
    x = np.zeros((2, 5, qnet.inputs[0].size), bool)
    _compare(qnet, loihi2.numerics, x, 30, parallel=True)
    _compare(qnet, loihi2.numerics, x[:, :0], 0, parallel=False)


def test_a_sparse_matrix_without_entries(loihi2):
    rng = np.random.default_rng(4)
    qnet = random_loihi_net(rng, csr=False)
    empty = sp.csr_matrix(qnet.projections[0].weight.shape, dtype=np.int64)
    projs = (dataclasses.replace(qnet.projections[0], weight=empty), *qnet.projections[1:])
    qnet = dataclasses.replace(qnet, projections=projs)
    x = rng.random((1, 20, qnet.inputs[0].size)) < 0.5
    _compare(qnet, loihi2.numerics, x, 20, parallel=False)


def test_recording_an_input_port_gives_zeros_as_the_reference(loihi2):
    rng = np.random.default_rng(5)
    qnet = random_loihi_net(rng, csr=False)
    x = rng.random((2, 10, qnet.inputs[0].size)) < 0.5
    ref = run(qnet, loihi2.numerics, {"in": x}, 12, ("in", "l2"), engine="reference")
    got = run_compiled(qnet, loihi2.numerics, {"in": x}, 12, ("in", "l2"), False)
    assert_same_result(got, ref)


def test_csr_synapses_are_packed_with_their_target_index(loihi2):
    from snn_deploy.backends.emulator.compiled.common import P_DENSE, P_PACK

    qnet = random_loihi_net(np.random.default_rng(6), csr=True)
    table = _prepare(qnet, loihi2.numerics)[1].table
    assert (table[:, P_DENSE] == 0).all() and (table[:, P_PACK] > 0).all()
