"""Emission: the Lava module (rule objects, three-factor neuron models) runs in ``.venv-lava``
and computes what the emulator computes for every library rule; the program listing
("microcode") and the learning artifact are written."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from conftest import assert_ints_equal
from snn_deploy.backends.emulator.learning import ENGINES, RECORDED, plastic_emulator
from snn_deploy.backends.lava.learning_bridge import LavaLearningJob, run_lava_learning
from snn_deploy.learning import library, render_listing, write_learning_artifact
from snn_deploy.learning.demos import EpropConfig, _stream, eprop_network, eprop_task
from snn_deploy.learning.emit import lava_module_source
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork, Source

STEPS = 80


def _three_factor_job(name, lib, rng) -> LavaLearningJob:
    n_pre, n_post = 6, 4
    net = PlasticNetwork(
        sources=(Source("in", n_pre), Source("signal", n_post)),
        populations=(
            Neurons("pre", n_pre, du=4095, dv=4095, vth=240),
            Neurons(
                "post",
                n_post,
                du=3000,
                dv=400,
                vth=200,
                program=lib.neuron,
                bias_mant=rng.integers(0, 200, n_post),
            ),
        ),
        connections=(
            Connection("drive", "in", "pre", np.eye(n_pre, dtype=np.int64) * 250),
            Connection(
                "signal",
                "signal",
                "post",
                np.eye(n_post, dtype=np.int64) * 3,
                graded=True,
                target_port="a3",
            ),
            Connection(
                "plastic", "pre", "post", rng.integers(-100, 200, (n_post, n_pre)), rule=lib.rule
            ),
        ),
        name=name,
    )
    x = (rng.random((STEPS, n_pre)) < 0.3).astype(np.int64)
    sig = rng.integers(-40, 40, (STEPS, n_post))
    return LavaLearningJob(net, {"in": x, "signal": sig}, STEPS)


def _demo_job() -> LavaLearningJob:
    cfg = EpropConfig(
        num_classes=2,
        num_units=8,
        num_steps=20,
        samples_per_class=3,
        hidden=8,
        window_start=8,
        gap_steps=4,
        prediction_shift=8,
        w_out_std=40,
    )
    data = eprop_task(cfg)
    stream = _stream(cfg, data.x_train[:4], data.y_train[:4])
    return LavaLearningJob(eprop_network(cfg), stream, len(stream["in"]))


@pytest.mark.lava
def test_every_three_factor_library_rule_runs_in_lava_as_emulated(lava_ready, loihi2):
    rng = np.random.default_rng(3)
    libs = {n: lib for n, lib in library().items() if lib.neuron is not None}
    assert set(libs) == {"r_stdp", "eprop_lif", "eprop_alif", "superspike", "decolle"}
    jobs = [_three_factor_job(n, lib, rng) for n, lib in libs.items()] + [_demo_job()]
    results = run_lava_learning(jobs, timeout_s=600)
    for (job, lava), engine in itertools.product(zip(jobs, results, strict=True), ENGINES):
        emu = plastic_emulator(job.net, loihi2, engine=engine).run(
            job.inputs,
            job.num_steps,
            record_spikes=tuple(p.name for p in job.net.populations),
            record_plastic=tuple(c.name for c in job.net.plastic()),
        )
        for pop in job.net.populations:
            assert_ints_equal(
                emu["spikes"][pop.name],
                lava.spikes[pop.name],
                f"{engine} {job.net.name} {pop.name} spikes",
            )
        for c in job.net.plastic():
            for q in RECORDED:
                assert_ints_equal(
                    emu["plastic"][c.name][q],
                    lava.plastic[c.name][q],
                    f"{engine} {job.net.name} {c.name} {q}",
                )
            w = emu["plastic"][c.name]["weights"]
            assert (w[-1] != w[0]).any(), f"{engine} {job.net.name} {c.name}: no learning happened"


def test_emitted_module_defines_every_rule_and_neuron():
    libs = library()
    src = lava_module_source(
        {n: lib.rule for n, lib in libs.items()},
        {n: lib.neuron for n, lib in libs.items() if lib.neuron is not None},
    )
    compile(src, "lava_learning.py", "exec")
    for n, lib in libs.items():
        assert f"def rule_{n}()" in src
        for s in lib.rule.strings().values():
            assert repr(s) in src
    assert "class Neuron_eprop_lif(LearningLIF)" in src
    assert "Loihi3FLearningRule" in src and "Loihi2FLearningRule" in src


def test_listing_shows_traces_products_widths_and_neuron_program(loihi2):
    lib = library()["eprop_lif"]
    text = render_listing(lib.rule, lib.neuron, loihi2)
    assert "dw = 2^-7*u0*t*(y3-64)" in text
    assert "factors: t[9b], (y3-64)[7b]" in text
    assert "MAC: width 16+4 -> >> 5, << 0" in text
    assert "post neuron program 'eprop_lif'" in text
    assert "route 'learning_signal'" in text
    assert "NOT RUNNABLE" not in text


def test_learning_artifact_is_written(tmp_path, loihi2):
    libs = library()
    entries = {n: (lib.rule, lib.neuron) for n, lib in libs.items()}
    written = write_learning_artifact(tmp_path, entries, loihi2)
    names = {p.name for p in written}
    assert {"rules.json", "lava_learning.py", "eprop_lif.txt", "r_stdp.txt"} <= names
    meta = json.loads((tmp_path / "learning" / "rules.json").read_text())
    assert meta["r_stdp"]["dw"] == libs["r_stdp"].rule.dw.to_string()


def test_every_target_gets_a_listing(tmp_path):
    from snn_deploy.profiles import load_profile

    lib = library()["r_stdp"]
    for name in ("loihi2", "spinnaker1", "spinnaker2", "fixedpoint"):
        profile = load_profile(name)
        written = write_learning_artifact(
            tmp_path / name, {"r_stdp": (lib.rule, lib.neuron)}, profile
        )
        text = (tmp_path / name / "learning" / "r_stdp.txt").read_text()
        assert "learning rule 'r_stdp'" in text
        has_lava = any(p.name == "lava_learning.py" for p in written)
        assert has_lava == (name == "loihi2")
        if name != "loihi2":
            assert "has no on-chip learning engine: this rule cannot run there" in text
