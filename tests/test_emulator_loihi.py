"""The Loihi kernel of the emulator against an independent, literal transcription of the verified
pseudo-code of loihi2-lava.md section 1.6 (Python integers, one neuron at a time)."""

import numpy as np

from conftest import assert_ints_equal, random_qnet
from snn_deploy.backends.emulator import run


def _oracle(qnet, x, steps):
    """Scalar reference: Python ints, loops over neurons, the doc's order of operations."""
    M = 2**23

    def sign_mode_prep(w, mode, bits):
        w = int(w)
        lo, hi = {"excitatory": (0, 255), "mixed": (-256, 255), "inhibitory": (-255, 0)}[mode]
        w = min(max(w, lo), hi)
        n = 8 - bits + (mode == "mixed")
        return -(((-w) >> n) << n) if mode == "inhibitory" else (w >> n) << n

    def rtz(p):  # round toward zero of p / 4096
        return (abs(p) >> 12) * (1 if p >= 0 else -1)

    pops = {p.name: p for p in qnet.populations}
    state = {n: {"u": [0] * p.size, "v": [0] * p.size} for n, p in pops.items()}
    buf = {pr.name: [0] * qnet.size_of(pr.target) for pr in qnet.projections}
    W = {
        pr.name: [
            [sign_mode_prep(w, pr.params.sign_mode, pr.params.num_weight_bits) for w in row]
            for row in pr.weight.tolist()
        ]
        for pr in qnet.projections
    }
    spikes = {n: np.zeros((steps, p.size), bool) for n, p in pops.items()}
    {qnet.inputs[0].name: None}
    for t in range(steps):
        a_in = {n: [0] * p.size for n, p in pops.items()}
        for pr in qnet.projections:  # each Dense sends what it accumulated last step
            for j, val in enumerate(buf[pr.name]):
                a_in[pr.target][j] += val
        cur = {qnet.inputs[0].name: [bool(b) for b in (x[t] if t < len(x) else [0] * len(x[0]))]}
        for n, p in pops.items():
            q = p.params
            s_out = []
            for j in range(p.size):
                bexp = int(q.bias_exp[j])
                bias = int(q.bias_mant[j]) << bexp if bexp >= 0 else int(q.bias_mant[j]) >> -bexp
                u = rtz(state[n]["u"][j] * (4096 - (int(q.du[j]) + 1))) + (a_in[n][j] << 6)
                u = u - 2 * M if u > M else (u + 2 * M if u <= -M else u)
                v = rtz(state[n]["v"][j] * (4096 - int(q.dv[j]))) + u + bias
                v = min(max(v, -(M - 1)), M - 1)
                s = v > (int(q.vth[j]) << 6)
                if s:
                    v = 0
                state[n]["u"][j], state[n]["v"][j] = u, v
                s_out.append(s)
            spikes[n][t] = s_out
            cur[n] = s_out
        for pr in qnet.projections:  # ... then accumulates this step's spikes for the next
            acc = [
                sum(w for w, s in zip(row, cur[pr.source], strict=True) if s) for row in W[pr.name]
            ]
            e = pr.params.weight_exp
            buf[pr.name] = [a << e if e > 0 else a >> -e for a in acc]
    return spikes, state


def test_emulator_equals_scalar_oracle_on_random_networks(loihi2):
    rng = np.random.default_rng(7)
    total = 0
    for trial in range(6):
        qnet = random_qnet(rng, sizes=(12, 16, 8))
        x = rng.random((2, 40, 12)) < rng.uniform(0.1, 0.8)
        res = run(qnet, loihi2.numerics, {"in": x}, 45)
        for b in range(2):
            spikes, state = _oracle(qnet, x[b].astype(int).tolist(), 45)
            for p in qnet.populations:
                assert_ints_equal(res.spikes[p.name][b], spikes[p.name], f"trial {trial} {p.name}")
                assert_ints_equal(res.final_state[p.name]["u"][b], state[p.name]["u"], "u")
                assert_ints_equal(res.final_state[p.name]["v"][b], state[p.name]["v"], "v")
                total += int(spikes[p.name].sum())
    assert total > 100, "the random networks should be active"


def test_dense_delivers_one_step_later_and_input_is_not_delayed(loihi2):
    """A single input spike at step 0 reaches u at step 1 (Dense delay), as in Lava."""
    rng = np.random.default_rng(0)
    qnet = random_qnet(rng, sizes=(1, 1))
    import dataclasses

    from snn_deploy.quantize.network import LoihiLifParams, LoihiSynapseParams

    pop = dataclasses.replace(
        qnet.populations[0],
        params=LoihiLifParams(du=[4095], dv=[0], vth=[1000], bias_mant=[0], bias_exp=[0]),
    )
    proj = dataclasses.replace(
        qnet.projections[0], weight=[[100]], params=LoihiSynapseParams(0, 8, "excitatory")
    )
    qnet = dataclasses.replace(qnet, populations=(pop,), projections=(proj,))
    x = np.zeros((1, 4, 1), bool)
    x[0, 0, 0] = True
    res = run(qnet, loihi2.numerics, {"in": x}, 4, record_voltage=("l1",))
    # u = 100 << 6 = 6400 at step 1 only (du = 4095: no current memory); v integrates it
    assert_ints_equal(res.voltage["l1"][0, :, 0], [0, 6400, 6400, 6400], "v trace")


def test_events_count_wraps_and_saturations(loihi2):
    rng = np.random.default_rng(3)
    totals = {"u_wraps": 0, "v_saturations": 0}
    for _ in range(8):
        qnet = random_qnet(rng)
        res = run(qnet, loihi2.numerics, {"in": rng.random((1, 60, 24)) < 0.5}, 60)
        for ev in res.events.values():
            for k in totals:
                totals[k] += ev[k]
    assert totals["u_wraps"] > 0 and totals["v_saturations"] > 0
