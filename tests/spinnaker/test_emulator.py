"""The SpiNNaker 1 kernel step by step on hand-built integer networks, the integer network's
serialization, and the mapping limits (ring-buffer delay slots, delay extensions)."""

import nir
import numpy as np
import pytest

from conftest import assert_ints_equal
from snn_deploy import api
from snn_deploy.backends.emulator import run
from snn_deploy.errors import ResourceError
from snn_deploy.ir.contract import METADATA_KEY, DiscretizationContract
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import QInput, QPopulation, QProjection, QuantizedNetwork
from snn_deploy.quantize.params import SpinnakerLifParams, SpinnakerSynapseParams

ONE = 32768
TAU_M, CM, TAU_SYN = 245395, 30674, 47274  # R = 262147, exp_TC = 28672, decay 0.5, init 0.72
R, EXP_TC = 262147, 28672
DECAY, INIT = 2147487414, (47274 * (0xFFFFFFFF - 2147487414)) >> 15


@pytest.fixture(scope="module")
def s1():
    return load_profile("spinnaker1")


def _qnet(
    weight,
    shifts=(12, 12),
    delay=2,
    v_thresh=2**31 - 1,
    tau_refrac=0,
    n_in=1,
    exponential=1,
    v_reset=0,
):
    n = np.asarray(weight).shape[0]
    full = lambda x: np.full(n, x)  # noqa: E731
    params = SpinnakerLifParams(
        v_init=full(0),
        v_rest=full(0),
        cm=full(CM),
        tau_m=full(TAU_M),
        i_offset=full(0),
        v_reset=full(v_reset),
        v_thresh=full(v_thresh),
        tau_refrac=full(tau_refrac),
        tau_syn_e=full(TAU_SYN),
        tau_syn_i=full(TAU_SYN),
        time_step=full(ONE),
        rb_shifts=np.asarray(shifts),
        exponential=np.asarray(exponential),
    )
    return QuantizedNetwork(
        target="spinnaker1",
        arithmetic="spinnaker",
        inputs=(QInput("in", n_in),),
        populations=(QPopulation("p", n, "cuba_lif", params, scale=1.0),),
        projections=(
            QProjection("w", "in", "p", np.asarray(weight), SpinnakerSynapseParams(), delay),
        ),
        outputs=("p",),
        contract=DiscretizationContract(),
    )


def _mul(a, b):
    return (a * b) >> 15


def test_a_spike_through_an_exponential_synapse_by_hand(s1):
    """Weight word 100, left shift 12, delay 2: the spike of tick 0 enters at tick 2 as
    decay_s1615(100 << 12, init); V = a - exp_TC (a - V), a = J R; then J decays."""
    qnet = _qnet([[100]])
    x = np.zeros((1, 5, 1), bool)
    x[0, 0, 0] = True
    res = run(qnet, s1.numerics, {"in": x}, record_voltage=("p",))
    j = ((100 << 12) * INIT) >> 32
    expected, v = [0, 0], 0
    for _ in range(3):
        a = _mul(j, R)
        v = a - _mul(EXP_TC, a - v)
        expected.append(v)
        j = (j * DECAY) >> 32
    assert_ints_equal(res.voltage["p"][0, :, 0], expected, "V (s16.15 words)")
    # J = 0.7213 * 100 * 2**12 words; a = 8.0001 J; V = a - 0.875 a: 9.017 mV
    assert expected[2] == 295465
    assert res.events["p"] == {"ring_saturations": 0, "accum_wraps": 0}


def test_inhibitory_words_subtract(s1):
    qnet = _qnet([[-100]])
    x = np.zeros((1, 4, 1), bool)
    x[0, 0, 0] = True
    res = run(qnet, s1.numerics, {"in": x}, record_voltage=("p",))
    j = ((100 << 12) * INIT) >> 32
    a = _mul(-j, R)
    assert res.voltage["p"][0, 2, 0] == a - _mul(EXP_TC, a)


def test_threshold_is_greater_or_equal_and_resets(s1):
    qnet = _qnet([[100]], v_thresh=295465, v_reset=-5 * ONE)
    x = np.zeros((1, 4, 1), bool)
    x[0, 0, 0] = True
    res = run(qnet, s1.numerics, {"in": x}, record_voltage=("p",))
    assert res.spikes["p"][0, :, 0].tolist() == [False, False, True, False]
    assert res.voltage["p"][0, 2, 0] == -5 * ONE
    qnet = _qnet([[100]], v_thresh=295466)
    assert not run(qnet, s1.numerics, {"in": x[:, :3]}).spikes["p"].any()


def test_refractory_ticks_skip_the_update(s1):
    qnet = _qnet([[1000]], v_thresh=ONE, tau_refrac=2 * ONE, v_reset=-ONE)
    x = np.ones((1, 8, 1), bool)
    res = run(qnet, s1.numerics, {"in": x}, record_voltage=("p",))
    s = res.spikes["p"][0, :, 0]
    assert s.tolist() == [False, False, True, False, False, True, False, False]
    assert res.voltage["p"][0, 3:5, 0].tolist() == [-ONE, -ONE]  # held while refractory


def test_ring_buffer_saturation_is_counted(s1):
    qnet = _qnet(np.full((1, 3), 30000), n_in=3, delay=1)
    x = np.ones((1, 3, 3), bool)
    full = run(qnet, s1.numerics, {"in": x}, record_voltage=("p",))
    assert full.events["p"]["ring_saturations"] == 3  # entries of ticks 1-3: 90000 > 65535
    one = _qnet(np.full((1, 1), 65535), delay=1)
    ref = run(one, s1.numerics, {"in": x[:, :, :1]}, record_voltage=("p",))
    assert_ints_equal(full.voltage["p"], ref.voltage["p"], "saturated entry = 0xFFFF")


def test_delta_synapse_adds_once(s1):
    qnet = _qnet([[100]], exponential=0, delay=1)
    x = np.zeros((1, 4, 1), bool)
    x[0, 0, 0] = True
    res = run(qnet, s1.numerics, {"in": x}, record_voltage=("p",))
    a = _mul(_mul(100 << 12, ONE), R)  # input scaled by 1/ts = 1.0, in one tick only
    v1 = a - _mul(EXP_TC, a)
    v2 = -_mul(EXP_TC, -v1)  # a = 0 afterwards: V decays, the floor rounds toward -inf
    v3 = -_mul(EXP_TC, -v2)
    assert res.voltage["p"][0, :, 0].tolist() == [0, v1, v2, v3]


def test_integer_network_round_trips(tmp_path):
    qnet = _qnet(np.array([[100, -7], [0, 65535]]), n_in=2)
    qnet.save(tmp_path / "n.npz")
    back = QuantizedNetwork.load(tmp_path / "n.npz")
    assert back.arithmetic == "spinnaker"
    p, q = qnet.populations[0].params, back.populations[0].params
    for f in ("tau_m", "cm", "v_thresh", "rb_shifts", "exponential", "tau_syn_e"):
        assert_ints_equal(getattr(q, f), getattr(p, f), f)
    assert back.projections[0].params == qnet.projections[0].params
    assert_ints_equal(back.projections[0].weight, qnet.projections[0].weight, "weights")


def _delay_graph(delay_steps, n=256):
    c = DiscretizationContract(dt_seconds=1e-3)
    lif = nir.LIF(
        tau=np.full(n, 1e-2),
        r=np.full(n, 10.0),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        v_reset=np.zeros(n),
    )
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4])}),
        "fc": nir.Linear(weight=np.full((n, 4), 0.3)),
        "delay": nir.Delay(delay=np.full(n, delay_steps * 1e-3)),
        "lif": lif,
        "output": nir.Output(output_type={"output": np.array([n])}),
    }
    edges = [("input", "fc"), ("fc", "delay"), ("delay", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes, edges, metadata={METADATA_KEY: c.to_metadata()}, type_check=False)


def test_delays_beyond_the_delay_extension_are_refused(tmp_path):
    # 256 neurons per core: 8 atom bits + 1 type bit leave 5 of 14 ring-buffer bits: 32 slots,
    # and delay extensions reach 8 x 32 = 256 ticks.
    nir.write(tmp_path / "ok.nir", _delay_graph(250))
    api.compile(tmp_path / "ok.nir", "spinnaker1", tmp_path / "ok")
    nir.write(tmp_path / "far.nir", _delay_graph(300))
    with pytest.raises(
        ResourceError,
        match=r"synaptic delay in ticks \(256 neurons per core: "
        r"32 on-core slots x 8 delay-extension stages\) 300 exceeds 256",
    ):
        api.compile(tmp_path / "far.nir", "spinnaker1", tmp_path / "far")


def test_subtractive_reset_is_refused(tmp_path):
    c = DiscretizationContract(dt_seconds=1e-3, reset="subtract")
    g = _delay_graph(1)
    g = nir.NIRGraph(g.nodes, g.edges, metadata={METADATA_KEY: c.to_metadata()}, type_check=False)
    nir.write(tmp_path / "sub.nir", g)
    with pytest.raises(
        ResourceError,
        match=r"reset mode subtract is not one of zero "
        r"\(spinnaker1.toml \[neurons\].reset_modes\)",
    ):
        api.compile(tmp_path / "sub.nir", "spinnaker1", tmp_path / "sub")
