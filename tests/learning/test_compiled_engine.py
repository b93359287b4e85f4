"""The compiled engine for plastic networks against the numpy reference, integer for integer.

Randomized plastic networks (every library rule with random parameters, random two- and
three-factor rules over every dependency, factor form and trace, random neuron programs over
every op, t_epoch 1..8, every sign mode, graded third factors, recurrence, aux feedback,
weight exponents, resets, initial weights far outside 8 bits so that products wrap at int32)
run on both engines in several ``run`` calls that continue the state; every recorded quantity
(spikes of sources and populations, v, every state register, weights, both tags, x1 x2 y1..y3,
tx, ty) must be equal at every step, and so must the state read back afterwards."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from conftest import assert_ints_equal
from snn_deploy.backends.emulator.compiled.learning import CompiledPlasticEmulator
from snn_deploy.backends.emulator.learning import (
    RECORDED,
    PlasticEmulator,
    plastic_emulator,
)
from snn_deploy.errors import ModelError
from snn_deploy.learning import library
from snn_deploy.learning.demos import EpropConfig, _stream, eprop_network, eprop_task
from snn_deploy.learning.library import error_neuron, readout_delta
from snn_deploy.learning.microcode import INPUT_REGISTERS, OPS, STATE_REGISTERS, NeuronProgram, ins
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork, Source
from snn_deploy.learning.program import Factor, Product, Program
from snn_deploy.learning.rule import LearningRule, TraceSpec

SIGN_MODES = ("mixed", "excitatory", "inhibitory", None)
TRACES = ("x1", "x2", "y1", "y2", "y3")


def _random_product(rng, k: int | None) -> Product:
    dep = ("x0", "y0", "u")[int(rng.integers(0, 3))]
    factors = []
    for _ in range(int(rng.integers(0, 4))):
        var = str(rng.choice(["x0", "y0", *TRACES, "w", "d", "t"]))
        form = int(rng.integers(0, 3))
        if var in ("w", "d", "t") and form == 2:
            factors.append(Factor(var, int(rng.integers(-60, 60)), True))
        elif form >= 1:
            factors.append(Factor(var, int(rng.integers(-128, 128))))
        else:
            factors.append(Factor(var))
    mant = int(rng.integers(1, 8)) * (1 if rng.random() < 0.5 else -1)
    exp = int(rng.integers(-7, 9))
    return Product(
        dep, mant, exp, tuple(factors), (k if k is not None else 0) if dep == "u" else None
    )


def _random_rule(rng, t_epoch: int, three_factor: bool) -> LearningRule:
    k = int(rng.integers(0, 3))
    targets = [t for t in ("dw", "dd", "dt") if rng.random() < 0.6] or ["dw"]
    programs = {}
    for target in targets:
        # now and then u_k with different k in two programs: the rule's u is then 0
        kk = k if rng.random() < 0.85 else k + 1
        programs[target] = Program(
            target, tuple(_random_product(rng, kk) for _ in range(int(rng.integers(1, 4))))
        )

    def trace():
        tau = 0.0 if rng.random() < 0.2 else float(rng.uniform(1.5, 40))
        return TraceSpec(float(np.round(rng.uniform(0, 60) * 256) / 256), tau)

    return LearningRule(
        name="random",
        **programs,
        **{n: trace() for n in TRACES},
        t_epoch=t_epoch,
        rng_seed=int(rng.integers(0, 100_000)),
        three_factor=three_factor,
    )


def _random_program(rng, adaptive: bool) -> NeuronProgram:
    """Every op, random registers and immediates (shifts 0..20); writes y1..y3 and aux."""
    regs = INPUT_REGISTERS + STATE_REGISTERS
    code = []
    for _ in range(int(rng.integers(6, 16))):
        op = str(rng.choice(list(OPS)))
        dst = str(rng.choice(STATE_REGISTERS))
        n, _ = OPS[op]
        args = []
        for j in range(n):
            if op in ("shr", "shl") and j == 1:
                args.append(int(rng.integers(0, 21)))
            elif op == "clip" and j >= 1:
                args.append(int(rng.integers(-200, 0)) if j == 1 else int(rng.integers(0, 300)))
            elif op == "decay" and j == 1:
                args.append(int(rng.integers(0, 4097)))
            elif j > 0 and rng.random() < 0.3:  # operand 1 a register: arrays, as on the chip
                args.append(int(rng.integers(-100, 100)))
            else:
                args.append(str(rng.choice(regs)))
        code.append(ins(op, dst, *args))
    for y in ("y1", "y2", "y3"):
        code.append(ins("clip", y, str(rng.choice(regs)), -20, 150))
    code.append(ins("sub", "aux", "y2", "y3"))
    if adaptive:
        code.append(ins("clip", "th", "r1", -500, 500))
    return NeuronProgram("random", tuple(code), adaptive=adaptive)


def _library_rule(rng, name: str):
    lib = library()[name]
    rule = dataclasses.replace(
        lib.rule, t_epoch=int(rng.integers(1, 9)), rng_seed=int(rng.integers(0, 100_000))
    )
    return rule, lib.neuron


def _network(rng, i: int, rule: LearningRule, program: NeuronProgram | None) -> PlasticNetwork:
    n_pre, n_post = int(rng.integers(2, 10)), int(rng.integers(1, 8))
    sign_mode = SIGN_MODES[i % 4]
    big = i % 5 == 0  # initial weights and tags far outside 8 bits: products wrap at int32
    hi = 3000 if big else 230
    w = rng.integers(-hi, hi, (n_post, n_pre))
    if sign_mode == "excitatory":
        w = np.abs(w)
    elif sign_mode == "inhibitory":
        w = -np.abs(w)
    tags = {}
    if rng.random() < 0.5:
        tags = {
            "tag_1": rng.integers(-hi, hi, (n_post, n_pre)),
            "tag_2": rng.integers(0, hi, (n_post, n_pre)),
        }
    has_program = program is not None
    post = Neurons(
        "post",
        n_post,
        du=int(rng.integers(0, 4096)),
        dv=int(rng.integers(0, 4096)),
        vth=int(rng.integers(50, 400)),
        bias_mant=rng.integers(-50, 150, n_post),
        bias_exp=rng.integers(0, 3, n_post),
        program=program,
        reset_interval=int(rng.integers(0, 3)) * int(rng.integers(5, 30)),
        reset_offset=int(rng.integers(0, 5)),
    )
    pre_program = _random_program(rng, False) if i % 3 == 0 else None
    conns = [
        Connection("drive", "in", "pre", np.eye(n_pre, dtype=np.int64) * 250),
        Connection(
            "plastic",
            "pre",
            "post",
            w,
            weight_exp=int(rng.integers(-2, 3)),
            sign_mode=sign_mode,
            rule=rule,
            **tags,
        ),
        Connection(
            "direct",
            "in",
            "post",
            rng.integers(-60, 120, (n_post, n_pre)),
            rule=dataclasses.replace(rule, rng_seed=rule.rng_seed + 7),
            sign_mode="mixed",
        ),
        Connection(
            "recurrent",
            "post",
            "post",
            rng.integers(-40, 40, (n_post, n_post)),
            weight_exp=int(rng.integers(-3, 3)),
        ),
    ]
    if has_program:
        conns.append(
            Connection(
                "signal",
                "sig",
                "post",
                np.eye(n_post, dtype=np.int64) * int(rng.integers(1, 4)),
                graded=True,
                target_port="a3",
                weight_exp=int(rng.integers(-1, 2)),
            )
        )
    if has_program and pre_program is not None:
        conns.append(
            Connection(
                "feedback",
                "post",
                "pre",
                rng.integers(-8, 8, (n_pre, n_post)),
                graded=True,
                source_port="aux",
                target_port="a3",
            )
        )
    return PlasticNetwork(
        sources=(Source("in", n_pre), Source("sig", n_post)),
        populations=(
            Neurons("pre", n_pre, du=4095, dv=4095, vth=240, program=pre_program),
            post,
        ),
        connections=tuple(conns),
        name=f"net{i}",
    )


def _inputs(rng, net: PlasticNetwork, steps: int) -> dict:
    sizes = net.sizes
    x = (rng.random((steps, sizes["in"])) < rng.uniform(0.05, 0.6)).astype(np.int64)
    if "sig" not in sizes:
        return {"in": x}
    sig = np.zeros((steps, sizes["sig"]), np.int64)
    for _ in range(3):
        a = int(rng.integers(0, max(1, steps - 10)))
        sig[a : a + 15] = rng.integers(-300, 300, sizes["sig"])  # graded, both signs
    return {"in": x, "sig": sig}


def _compare(net: PlasticNetwork, profile, rng, calls) -> int:
    """Runs both engines through ``calls`` (steps of each run call; None: num_steps only, no
    inputs); compares every recorded quantity at every step. Returns how many weights moved."""
    ref = PlasticEmulator.for_profile(net, profile)
    comp = CompiledPlasticEmulator.for_profile(net, profile)
    pops = tuple(p.name for p in net.populations)
    record = dict(
        record_spikes=pops + tuple(s.name for s in net.sources),
        record_voltage=pops,
        record_registers=pops,
        record_plastic=tuple(c.name for c in net.plastic()),
    )
    first = {c.name: ref.weights(c.name) for c in net.plastic()}
    for n, steps in enumerate(calls):
        if steps is None:
            args = ({}, 7)
        elif n % 2:  # inputs shorter than the run: the sources are silent afterwards
            args = (_inputs(rng, net, steps), steps + 5)
        else:
            args = (_inputs(rng, net, steps), None)
        a, b = comp.run(*args, **record), ref.run(*args, **record)
        where = f"{net.name} call {n}"
        for kind in ("spikes", "v"):
            for name, val in b[kind].items():
                assert_ints_equal(a[kind][name], val, f"{where} {kind} {name}")
        for name, regs in b["reg"].items():
            for r in STATE_REGISTERS:
                assert_ints_equal(a["reg"][name][r], regs[r], f"{where} register {name}.{r}")
        for name, q in b["plastic"].items():
            for key in RECORDED:
                assert_ints_equal(a["plastic"][name][key], q[key], f"{where} {name} {key}")
        assert comp.time_step == ref.time_step
    moved = 0
    for c in net.plastic():
        sa, sb = comp.plastic_state(c.name), ref.plastic_state(c.name)
        for key in RECORDED:
            assert_ints_equal(sa[key], sb[key], f"{net.name} {c.name} final {key}")
        assert_ints_equal(comp.weights(c.name), ref.weights(c.name), f"{net.name} weights")
        moved += int((ref.weights(c.name) != first[c.name]).sum())
    for c in net.connections:
        if not c.plastic:
            assert_ints_equal(comp.weights(c.name), ref.weights(c.name), f"{c.name} weights")
    return moved


@pytest.mark.parametrize(
    "name", ["pair_stdp", "r_stdp", "eprop_lif", "eprop_alif", "superspike", "decolle"]
)
def test_library_rules_compiled_equal_reference(name, loihi2):
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    moved = 0
    for i in range(6):
        rule, neuron = _library_rule(rng, name)
        net = _network(rng, i, rule, neuron)
        moved += _compare(net, loihi2, rng, (60, 37, None, 50))
    assert moved > 0, f"{name}: no weight moved in any configuration"


def test_readout_delta_and_error_neurons_compiled_equal_reference(loihi2):
    rng = np.random.default_rng(11)
    moved = 0
    for i, centered in enumerate((False, True, True)):
        rule = readout_delta(
            centered=centered, decimation=i, mantissa=int(rng.integers(1, 8)), seed=i
        ).rule
        rule = dataclasses.replace(rule, t_epoch=int(rng.integers(1, 5)))
        neuron = error_neuron(prediction_shift=int(rng.integers(4, 10)), error_limit=63)
        net = _network(rng, i, rule, neuron)
        moved += _compare(net, loihi2, rng, (80, 40))
    assert moved > 0


@pytest.mark.parametrize("three_factor", [False, True], ids=["two_factor", "three_factor"])
def test_random_rules_and_programs_compiled_equal_reference(three_factor, loihi2):
    rng = np.random.default_rng(21 + three_factor)
    epochs = set()
    for i in range(16):
        t_epoch = i % 8 + 1
        epochs.add(t_epoch)
        rule = _random_rule(rng, t_epoch, three_factor)
        program = _random_program(rng, adaptive=i % 2 == 0) if three_factor or i % 2 else None
        net = _network(rng, i, rule, program)
        _compare(net, loihi2, rng, (45, 23, None, 30))
    assert epochs == set(range(1, 9))


def test_wrapping_products_are_exercised(loihi2):
    """Large initial weights and tags with high-scaled w*t*d products: the int32 wrap of the
    MAC happens (the prepare-time bound says so) and both engines wrap alike."""
    rng = np.random.default_rng(5)
    rule = LearningRule(
        "wraps",
        dw=Program(
            "dw", (Product("u", 7, 8, (Factor("w"), Factor("t"), Factor("d"), Factor("w", 3)), 0),)
        ),
        dt=Program(
            "dt",
            (
                Product(
                    "x0", -7, 6, (Factor("t"), Factor("w"), Factor("w", -5), Factor("x1")), None
                ),
            ),
        ),
        x1=TraceSpec(20.0, 10.0),
        t_epoch=2,
        rng_seed=3,
    )
    shape = (5, 8)
    net = PlasticNetwork(
        sources=(Source("in", 8),),
        populations=(Neurons("post", 5, du=500, dv=500, vth=300),),
        connections=(
            Connection(
                "plastic",
                "in",
                "post",
                rng.integers(-3000, 3000, shape),
                rule=rule,
                tag_1=rng.integers(-3000, 3000, shape),
                tag_2=rng.integers(0, 3000, shape),
            ),
        ),
        name="wraps",
    )
    comp = CompiledPlasticEmulator.for_profile(net, loihi2)
    assert comp._lay.prod[:2, 4].all()  # both products of "plastic" were proven able to wrap
    inputs = _inputs(np.random.default_rng(8), net, 60)
    _compare(net, loihi2, np.random.default_rng(8), (60,))
    # the wrap matters here: without it the weights come out different
    ref = PlasticEmulator.for_profile(net, loihi2).run(inputs, record_plastic=("plastic",))
    comp._lay.prod[:, 4] = 0
    nowrap = comp.run(inputs, record_plastic=("plastic",))
    assert (nowrap["plastic"]["plastic"]["weights"] != ref["plastic"]["plastic"]["weights"]).any()


def test_current_wrap_and_voltage_saturation(loihi2):
    """LIF corners of the kernel: u wraps once at 24 bits, v saturates at -(2**23 - 1)."""
    rng = np.random.default_rng(2)
    rule, _ = _library_rule(rng, "pair_stdp")
    net = PlasticNetwork(
        sources=(Source("in", 3),),
        populations=(Neurons("big", 2, du=0, dv=0, vth=(1 << 17) - 1, bias_mant=[100, -100]),),
        connections=(
            Connection("drive", "in", "big", [[250, 250, 250], [-250, -250, -250]], weight_exp=7),
            Connection("plastic", "in", "big", rng.integers(-200, 200, (2, 3)), rule=rule),
        ),
        name="corners",
    )
    x = {"in": (rng.random((80, 3)) < 0.7).astype(np.int64)}
    ref = PlasticEmulator.for_profile(net, loihi2).run(x, record_voltage=("big",))
    vmax = (1 << 23) - 1
    assert (ref["v"]["big"][:, 1] == -vmax).any()
    assert (ref["v"]["big"][:, 0] < 0).any()  # only positive input: u wrapped
    _compare(net, loihi2, rng, (80, 20))


def test_engine_selection_and_fallback(loihi2, caplog):
    rng = np.random.default_rng(1)
    rule, neuron = _library_rule(rng, "r_stdp")
    net = _network(rng, 1, rule, neuron)
    assert isinstance(plastic_emulator(net, loihi2), CompiledPlasticEmulator)
    assert isinstance(plastic_emulator(net, loihi2, engine="reference"), PlasticEmulator)
    with pytest.raises(ModelError, match="unknown emulation engine 'fast'"):
        plastic_emulator(net, loihi2, engine="fast")
    odd = NeuronProgram("odd", (ins("shl", "y1", "s", 70),))
    net = dataclasses.replace(
        net,
        populations=(net.populations[0], dataclasses.replace(net.populations[1], program=odd)),
    )
    with caplog.at_level(logging.WARNING):
        emu = plastic_emulator(net, loihi2)
    assert isinstance(emu, PlasticEmulator)
    assert "runs on the reference engine" in caplog.text and "shift by 70" in caplog.text
    with pytest.raises(ModelError, match="compiled engine cannot run it"):
        CompiledPlasticEmulator.for_profile(net, loihi2)
    wide = dataclasses.replace(
        net,
        populations=(net.populations[0], dataclasses.replace(net.populations[1], program=neuron)),
        connections=tuple(
            dataclasses.replace(c, weight_exp=64) if c.name == "recurrent" else c
            for c in net.connections
        ),
    )
    with caplog.at_level(logging.WARNING):
        assert isinstance(plastic_emulator(wide, loihi2), PlasticEmulator)
    assert "'recurrent': weight_exp 64" in caplog.text


def test_random_streams_drawn_in_one_call_equal_per_step_draws():
    """What :meth:`CompiledPlasticEmulator._draws` relies on: one call of size n gives the
    numbers of n calls of size 1 (floats and 7-bit integers, as ``TraceRandom`` draws them)."""
    a, b = np.random.default_rng(9), np.random.default_rng(9)
    assert_ints_equal(
        a.integers(0, 128, size=500, dtype=int),
        [int(b.integers(0, 128, size=1, dtype=int)[0]) for _ in range(500)],
        "integers",
    )
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    floats = a.random(500)
    assert all(float(b.random(1)[0]) == f for f in floats)


def test_eprop_demo_network_compiled_equal_reference(loihi2):
    """The e-prop demo's network (hidden e-prop layer, readout with error neurons, bias
    synapse, graded labels and aux feedback, resets between samples), two training chunks."""
    cfg = dataclasses.replace(
        EpropConfig(), num_classes=3, num_units=10, hidden=12, samples_per_class=4, seed=3
    )
    data = eprop_task(cfg)
    net = eprop_network(cfg)
    ref = PlasticEmulator.for_profile(net, loihi2)
    comp = CompiledPlasticEmulator.for_profile(net, loihi2)
    record = dict(
        record_spikes=("hid", "out", "in"),
        record_voltage=("hid", "out"),
        record_registers=("hid", "out"),
        record_plastic=("w_in", "w_out", "bias"),
    )
    for chunk in (slice(0, 5), slice(5, 9)):
        stream = _stream(cfg, data.x_train[chunk], data.y_train[chunk])
        a, b = comp.run(stream, **record), ref.run(stream, **record)
        for kind in ("spikes", "v"):
            for name, val in b[kind].items():
                assert_ints_equal(a[kind][name], val, f"{kind} {name}")
        for name, regs in b["reg"].items():
            for r in STATE_REGISTERS:
                assert_ints_equal(a["reg"][name][r], regs[r], f"register {name}.{r}")
        for name, q in b["plastic"].items():
            for key in RECORDED:
                assert_ints_equal(a["plastic"][name][key], q[key], f"{name} {key}")
    assert (comp.weights("w_in") != net.connection("w_in").weights).any()
