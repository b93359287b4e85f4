"""snnTorch 1.0.0 networks exported with ``export_to_nir``, imported by snn-deploy and run in the
float reference, give the same output spikes as snnTorch itself on random inputs: zero
differences. snnTorch runs in float32, as its users run it (its spikes are float32 whatever
the network's dtype); the reference runs in float64."""

import warnings

import nir
import numpy as np
import pytest
import torch

snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir  # noqa: E402

from snn_deploy.ir.normalize import normalize  # noqa: E402
from snn_deploy.ir.simulate import simulate  # noqa: E402

T, B = 60, 8


def _run_snntorch(net, x):
    """x: (B, T, n) -> output spikes (B, T, m) of a Sequential with init_hidden neurons."""
    from snntorch import utils

    utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(x.shape[1]):
            s = net(torch.from_numpy(x[:, t]).float())
            out.append((s[0] if isinstance(s, tuple) else s).numpy())
    return np.stack(out, 1)


def _import(net, tmp_path, n_in, overrides=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = export_to_nir(net, torch.randn(n_in))
    nir.write(tmp_path / "g.nir", graph)
    return normalize(nir.read(tmp_path / "g.nir"), overrides)


def _check(net, tmp_path, n_in, overrides=None, rate=0.3, gain=1.0):
    rng = np.random.default_rng(0)
    x = (rng.random((B, T, n_in)) < rate) * rng.uniform(0.5, 1.5, (B, T, n_in)) * gain
    expected = _run_snntorch(net, x)
    dnet = _import(net, tmp_path, n_in, overrides)
    got = simulate(dnet, {dnet.inputs[0].name: x}).spikes[dnet.outputs[0]]
    assert expected.sum() > 20, "the test network should spike"
    np.testing.assert_array_equal(got, expected.astype(bool))
    return dnet


def _leaky_net(reset, delay, seed=1):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(6, 5),
        snn.Leaky(
            beta=torch.full((5,), 0.9),
            threshold=torch.full((5,), 0.8),
            init_hidden=True,
            reset_mechanism=reset,
            reset_delay=delay,
        ),
        torch.nn.Linear(5, 3),
        snn.Leaky(
            beta=torch.full((3,), 0.8),
            threshold=torch.full((3,), 0.5),
            init_hidden=True,
            output=True,
            reset_mechanism=reset,
            reset_delay=delay,
        ),
    )


@pytest.mark.parametrize("delay", [False, True])
def test_leaky_reset_to_zero(tmp_path, delay):
    dnet = _check(_leaky_net("zero", delay), tmp_path, 6)
    assert "recognised convention 'snntorch'" in dnet.contract.source
    assert dnet.contract.dt_seconds == 1e-4


@pytest.mark.parametrize("gain", [1.0, 6.0])
def test_leaky_subtract_without_delay(tmp_path, gain):
    """gain 6 drives voltages past twice the threshold, where snnTorch re-checks."""
    dnet = _check(_leaky_net("subtract", False), tmp_path, 6, {"reset": "subtract"}, gain=gain)
    assert "does not export its reset mechanism or reset_delay" in dnet.contract.source
    assert dnet.contract.subtract_recheck


def test_leaky_subtract_with_snntorch_default_reset_delay(tmp_path):
    _check(_leaky_net("subtract", True), tmp_path, 6, {"reset": "subtract", "reset_delay": True})


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_synaptic(tmp_path, reset):
    torch.manual_seed(2)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 5),
        snn.Synaptic(
            alpha=torch.full((5,), 0.6),
            beta=torch.full((5,), 0.85),
            threshold=torch.full((5,), 0.9),
            init_hidden=True,
            reset_mechanism=reset,
            reset_delay=False,
        ),
        torch.nn.Linear(5, 3),
        snn.Synaptic(
            alpha=torch.full((3,), 0.5),
            beta=torch.full((3,), 0.7),
            threshold=torch.full((3,), 0.5),
            init_hidden=True,
            output=True,
            reset_mechanism=reset,
            reset_delay=False,
        ),
    )
    _check(net, tmp_path, 6, {"reset": reset})


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_rleaky(tmp_path, reset):
    torch.manual_seed(4)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 5),
        snn.RLeaky(
            beta=torch.full((5,), 0.9),
            threshold=torch.full((5,), 0.8),
            linear_features=5,
            init_hidden=True,
            reset_mechanism=reset,
            reset_delay=False,
        ),
        torch.nn.Linear(5, 3),
        snn.Leaky(
            beta=torch.full((3,), 0.8),
            threshold=torch.full((3,), 0.5),
            init_hidden=True,
            output=True,
            reset_mechanism=reset,
            reset_delay=False,
        ),
    )
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    dnet = _check(net, tmp_path, 6, {"reset": reset})
    assert any(p.delay_steps == 1 for p in dnet.projections), "the recurrent edge is delayed"
