"""SpiNNaker2's LIF (numerics/float32.py) against the NIR paper's SpiNNaker2 single-LIF trace
(../shared/nir-paper/01_lif/lif_spinnaker2.csv): spike steps exactly, voltages to float32."""

import numpy as np
import pytest

from snn_deploy.backends.emulator import run
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import QInput, QPopulation, QProjection, QuantizedNetwork
from snn_deploy.quantize.params import Float32LifParams, Float32SynapseParams

SCALE = 102.02  # the paper's script: weight 1 -> round(102.02) = 102, voltages divided back


def test_reproduces_the_published_spinnaker2_lif_trace(nir_paper):
    path = nir_paper / "01_lif" / "lif_spinnaker2.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    data = np.loadtxt(path, delimiter=",")
    x, v_ref, s_ref = data[:, 0] > 0, data[:, 1], data[:, 2] > 0
    # tau = 2.5 ms, dt = 0.1 ms, forward Euler: beta = 1 - dt/tau; threshold 0.1 * tau/dt
    params = Float32LifParams(
        alpha_bits=Float32LifParams.pack([0.0]),
        beta_bits=Float32LifParams.pack([1 - 1e-4 / 2.5e-3]),
        threshold_bits=Float32LifParams.pack([2.5 * SCALE]),
        bias_bits=Float32LifParams.pack([0.0]),
    )
    qnet = QuantizedNetwork(
        target="spinnaker2",
        arithmetic="float32",
        inputs=(QInput("in", 1),),
        populations=(QPopulation("lif", 1, "cuba_lif", params, scale=SCALE),),
        projections=(
            QProjection("w", "in", "lif", np.array([[102]]), Float32SynapseParams(), delay_steps=1),
        ),
        outputs=("lif",),
        contract=DiscretizationContract(dt_seconds=1e-4),
    )
    # The trace's input acts in its own step; ours arrives one step later: shift the input.
    inp = np.zeros((1, len(x) + 1, 1), bool)
    inp[0, :-1, 0] = x
    res = run(qnet, load_profile("spinnaker2").numerics, {"in": inp}, record_voltage=("lif",))
    spikes = res.spikes["lif"][0, 1:, 0]
    np.testing.assert_array_equal(np.flatnonzero(spikes), np.flatnonzero(s_ref))
    v = res.voltage["lif"][0, 1:, 0].astype(np.float64) / SCALE
    assert np.max(np.abs(v - v_ref)) < 3e-7
