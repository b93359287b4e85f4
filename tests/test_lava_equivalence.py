"""Emulator vs Lava 0.10.0 (Loihi2SimCfg fixed_pt) in .venv-lava: every spike and the final u, v
of every neuron must be equal (zero differences), on the compiled engine (its differential tests
tie it to the numpy reference). Skipped with a reason where .venv-lava is absent;
CI has Python 3.10, so it runs there."""

import numpy as np
import pytest

from conftest import assert_ints_equal, random_qnet
from snn_deploy.backends.emulator import run
from snn_deploy.backends.lava.bridge import LavaJob, run_lava
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QInput,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)

pytestmark = pytest.mark.lava


def _compare(jobs, results, loihi2):
    for k, (job, lava) in enumerate(zip(jobs, results, strict=True)):
        emu = run(job.qnet, loihi2.numerics, job.inputs, job.num_steps, engine="compiled")
        for p in job.qnet.populations:
            assert_ints_equal(emu.spikes[p.name], lava.spikes[p.name], f"net {k} {p.name} spikes")
            for var in ("u", "v"):
                assert_ints_equal(
                    emu.final_state[p.name][var],
                    lava.final_state[p.name][var],
                    f"net {k} {p.name} final {var}",
                )
        yield emu


def test_twenty_random_three_layer_networks_match_lava_exactly(lava_ready, loihi2):
    rng = np.random.default_rng(2024)
    jobs = []
    for i in range(21):
        mode = ("mixed", "excitatory", "inhibitory")[i % 3] if i < 6 else None
        qnet = random_qnet(rng, sizes=(24, 32, 24, 10), sign_mode=mode)
        x = rng.random((1, 100, 24)) < rng.uniform(0.1, 0.7)
        jobs.append(LavaJob(qnet, {"in": x}, 100))
    results, _ = run_lava(jobs)
    events = {"u_wraps": 0, "v_saturations": 0}
    spikes = 0
    for emu in _compare(jobs, results, loihi2):
        for ev in emu.events.values():
            for k in events:
                events[k] += ev[k]
        spikes += sum(int(s.sum()) for s in emu.spikes.values())
    # the comparison is only meaningful if the edge cases actually happened
    exps = {p.params.weight_exp for j in jobs for p in j.qnet.projections}
    modes = {p.params.sign_mode for j in jobs for p in j.qnet.projections}
    assert exps == set(range(-3, 4)), exps
    assert modes == {"mixed", "excitatory", "inhibitory"}
    assert events["u_wraps"] > 0 and events["v_saturations"] > 0, events
    assert spikes > 10_000


def test_int32_overflow_of_the_synaptic_input_matches_lava(lava_ready, loihi2):
    """A fan-in of 1100 at weight exponent +7 overflows Lava's int32 words; we wrap the same way."""
    rng = np.random.default_rng(5)
    jobs = []
    for exp, mode in ((7, "excitatory"), (6, "inhibitory")):
        n_in = 1100
        lo, hi = (0, 256) if mode == "excitatory" else (-255, 1)
        pop = QPopulation(
            "l1",
            8,
            "cuba_lif",
            LoihiLifParams(
                du=np.full(8, 10),
                dv=np.full(8, 100),
                vth=np.full(8, 131071),
                bias_mant=np.zeros(8, int),
                bias_exp=np.zeros(8, int),
            ),
            scale=1.0,
        )
        proj = QProjection(
            "w1", "in", "l1", rng.integers(lo, hi, (8, n_in)), LoihiSynapseParams(exp, 8, mode)
        )
        qnet = QuantizedNetwork(
            "loihi2",
            "loihi",
            (QInput("in", n_in),),
            (pop,),
            (proj,),
            ("l1",),
            DiscretizationContract(),
        )
        jobs.append(LavaJob(qnet, {"in": rng.random((1, 30, n_in)) < 0.9}, 30))
    results, _ = run_lava(jobs)
    wraps = sum(emu.events["l1"]["int32_wraps"] for emu in _compare(jobs, results, loihi2))
    assert wraps > 0


def test_batched_run_in_lava_equals_per_sample_emulation(lava_ready, loihi2):
    """The backend runs a batch as block-diagonal copies (Sparse); copies must not interact."""
    rng = np.random.default_rng(11)
    qnet = random_qnet(rng, sizes=(16, 20, 6))
    x = rng.random((5, 50, 16)) < 0.4
    results, _ = run_lava([LavaJob(qnet, {"in": x}, 55)])
    list(_compare([LavaJob(qnet, {"in": x}, 55)], results, loihi2))


def test_sparse_connections_match_lava(lava_ready, loihi2):
    """CSR weights (lowered convolutions) run as Lava ``Sparse``, alone and batched."""
    import dataclasses

    import scipy.sparse as sp

    rng = np.random.default_rng(13)
    qnet = random_qnet(rng, sizes=(30, 40, 12))
    projs = tuple(
        dataclasses.replace(
            p, weight=sp.csr_matrix(np.where(rng.random(p.weight.shape) < 0.3, p.weight, 0))
        )
        for p in qnet.projections
    )
    qnet = dataclasses.replace(qnet, projections=projs)
    jobs = [
        LavaJob(qnet, {"in": rng.random((1, 60, 30)) < 0.5}, 60),
        LavaJob(qnet, {"in": rng.random((3, 60, 30)) < 0.5}, 60),
    ]
    results, _ = run_lava(jobs)
    total = sum(int(s.sum()) for e in _compare(jobs, results, loihi2) for s in e.spikes.values())
    assert total > 100, "the sparse networks should be active"
