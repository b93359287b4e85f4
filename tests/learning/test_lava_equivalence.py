"""Emulator vs Lava 0.10.0 ``LearningDense`` (``LearningConnectionModelBitApproximate``,
``Loihi2SimCfg(select_tag="fixed_pt")``) in ``.venv-lava``: weights, both tags, every trace and
the within-epoch spike times must be equal as integers at every step, for pair STDP (two-factor,
the engine keeps the post traces) and R-STDP (three-factor, the emitted neuron model writes
``y1``, ``y2`` from its program and a graded reward). Both emulation engines (compiled, the
default, and the numpy reference) are compared with the same Lava runs. Skipped with a reason
without ``.venv-lava``."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_ints_equal
from snn_deploy.backends.emulator.learning import ENGINES, RECORDED, plastic_emulator
from snn_deploy.backends.lava.learning_bridge import LavaLearningJob, run_lava_learning
from snn_deploy.learning import TraceSpec, pair_stdp, r_stdp
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork, Source

pytestmark = pytest.mark.lava

STEPS = 120
CONFIGS = 10


def _scale(rng):
    return int(rng.integers(1, 8)), int(rng.integers(-3, 2))


def _weights(rng, shape, sign_mode):
    w = rng.integers(-120, 230, shape)
    if sign_mode == "excitatory":
        w = np.abs(w)
    elif sign_mode == "inhibitory":
        w = -np.abs(w)
    return w


def _stdp_job(rng, i: int) -> LavaLearningJob:
    n_pre, n_post = int(rng.integers(2, 9)), int(rng.integers(1, 7))
    t_epoch = int((1, 2, 3, 4, 5, 8)[i % 6])
    lib = pair_stdp(
        a_plus=_scale(rng),
        a_minus=_scale(rng),
        tau_plus=float(rng.uniform(2, 30)),
        tau_minus=float(rng.uniform(2, 30)),
        impulse=float(np.round(rng.uniform(4, 40) * 256) / 256),  # fractional impulses
        t_epoch=t_epoch,
        seed=int(rng.integers(0, 10_000)),
    )
    rule = lib.rule
    if i % 3 == 1:  # second traces and a weight-dependent product
        rule = type(rule).from_strings(
            "stdp_wdep",
            dw=f"{rule.dw.to_string()} - 2^-2*x0*y2 + 2^-3*y0*x2*(255-w)",
            x1=rule.x1,
            y1=rule.y1,
            x2=TraceSpec(float(rng.uniform(2, 30)), float(rng.uniform(1, 20))),
            y2=TraceSpec(float(rng.uniform(2, 30)), 0.0 if i % 2 else float(rng.uniform(1, 20))),
            t_epoch=t_epoch,
            rng_seed=rule.rng_seed,
        )
    sign_mode = ("mixed", "excitatory", "inhibitory", None)[i % 4]
    net = PlasticNetwork(
        sources=(Source("in", n_pre),),
        populations=(
            Neurons("pre", n_pre, du=4095, dv=4095, vth=240),
            Neurons(
                "post",
                n_post,
                du=int(rng.integers(100, 4096)),
                dv=int(rng.integers(100, 4096)),
                vth=int(rng.integers(150, 400)),
                bias_mant=rng.integers(0, 120, n_post),
            ),
        ),
        connections=(
            Connection("drive", "in", "pre", np.eye(n_pre, dtype=np.int64) * 250),
            Connection(
                "plastic",
                "pre",
                "post",
                _weights(rng, (n_post, n_pre), sign_mode),
                sign_mode=sign_mode,
                rule=rule,
            ),
        ),
        name=f"stdp{i}",
    )
    x = (rng.random((STEPS, n_pre)) < rng.uniform(0.1, 0.5)).astype(np.int64)
    return LavaLearningJob(net, {"in": x}, STEPS)


def _rstdp_job(rng, i: int) -> LavaLearningJob:
    n_pre, n_post = int(rng.integers(2, 9)), int(rng.integers(1, 6))
    lib = r_stdp(
        a_plus=_scale(rng),
        a_minus=_scale(rng),
        tag_decay_exp=int(rng.integers(-4, 0)),
        eta=(int(rng.integers(1, 8)), int(rng.integers(-3, 1))),
        tau_pre=float(rng.uniform(2, 30)),
        tau_post=float(rng.uniform(2, 30)),
        impulse=int(rng.integers(4, 40)),
        reward_shift=int(rng.integers(0, 3)),
        seed=int(rng.integers(0, 10_000)),
    )
    reward = np.zeros((STEPS, n_post), np.int64)
    for _ in range(3):
        a = int(rng.integers(0, STEPS - 20))
        reward[a : a + 20] = rng.integers(-100, 100, n_post)
    net = PlasticNetwork(
        sources=(Source("in", n_pre), Source("reward", n_post)),
        populations=(
            Neurons("pre", n_pre, du=4095, dv=4095, vth=240),
            Neurons(
                "post",
                n_post,
                du=int(rng.integers(100, 4096)),
                dv=int(rng.integers(100, 4096)),
                vth=int(rng.integers(150, 400)),
                program=lib.neuron,
                bias_mant=rng.integers(0, 120, n_post),
            ),
        ),
        connections=(
            Connection("drive", "in", "pre", np.eye(n_pre, dtype=np.int64) * 250),
            Connection(
                "reward",
                "reward",
                "post",
                np.eye(n_post, dtype=np.int64),
                graded=True,
                target_port="a3",
            ),
            Connection(
                "plastic", "pre", "post", _weights(rng, (n_post, n_pre), "mixed"), rule=lib.rule
            ),
        ),
        name=f"rstdp{i}",
    )
    x = (rng.random((STEPS, n_pre)) < rng.uniform(0.1, 0.5)).astype(np.int64)
    return LavaLearningJob(net, {"in": x, "reward": reward}, STEPS)


@pytest.fixture(scope="module")
def runs(lava_ready, loihi2):
    rng = np.random.default_rng(6)
    jobs = [_stdp_job(rng, i) for i in range(CONFIGS)] + [
        _rstdp_job(rng, i) for i in range(CONFIGS)
    ]
    lava = run_lava_learning(jobs, timeout_s=600)
    emu = {}
    for engine in ENGINES:
        emu[engine] = [
            plastic_emulator(job.net, loihi2, engine=engine).run(
                job.inputs, STEPS, record_spikes=("pre", "post"), record_plastic=("plastic",)
            )
            for job in jobs
        ]
    return jobs, emu, lava


def _check(jobs, emu, lava, kind):
    changed = 0
    for job, e, lv in zip(jobs, emu, lava, strict=True):
        if not job.net.name.startswith(kind):
            continue
        for pop in ("pre", "post"):
            assert_ints_equal(e["spikes"][pop], lv.spikes[pop], f"{job.net.name} {pop} spikes")
        for q in RECORDED:
            assert_ints_equal(
                e["plastic"]["plastic"][q],
                lv.plastic["plastic"][q],
                f"{job.net.name} {q} (every step)",
            )
        assert_ints_equal(
            e["plastic"]["plastic"]["weights"][-1],
            lv.final_weights["plastic"],
            f"{job.net.name} final weights (Var.get)",
        )
        w = e["plastic"]["plastic"]["weights"]
        changed += int((w[-1] != w[0]).sum())
    return changed


@pytest.mark.parametrize("engine", ENGINES)
def test_pair_stdp_matches_lava_at_every_step(runs, engine):
    jobs, emu, lava = runs
    assert _check(jobs, emu[engine], lava, "stdp") > 50  # learning actually happened
    # the comparison covered multi-epoch histories and every sign mode
    assert {j.net.plastic()[0].rule.t_epoch for j in jobs[:CONFIGS]} == {1, 2, 3, 4, 5, 8}


@pytest.mark.parametrize("engine", ENGINES)
def test_r_stdp_matches_lava_at_every_step(runs, engine):
    jobs, emu, lava = runs
    emu = emu[engine]
    assert _check(jobs, emu, lava, "rstdp") > 50
    tags = np.concatenate([e["plastic"]["plastic"]["tag_1"].ravel() for e in emu[CONFIGS:]])
    assert (tags > 0).any() and (tags < 0).any()
    y2 = np.concatenate([e["plastic"]["plastic"]["y2"].ravel() for e in emu[CONFIGS:]])
    assert len(np.unique(y2)) > 10  # graded rewards reached the third factor
