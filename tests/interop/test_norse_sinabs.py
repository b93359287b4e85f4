"""NIR files written by Norse 1.1.0 and Sinabs 3.1.3 themselves (tests/interop/fixtures/, made by
``make interop-fixtures`` in side environments): read although NIR's type check refuses them,
recognised, and run in the float reference with exactly the framework's own output spikes (spike
counts for Sinabs' MultiSpike); single-spike ones compile for Loihi 2 and agree with Lava,
multi-spike ones are refused with the reason."""

import json
import math
from pathlib import Path

import nir
import numpy as np
import pytest

from snn_deploy import api
from snn_deploy.cli import main
from snn_deploy.errors import ModelError, ResourceError
from snn_deploy.frontend.nir_file import read_nir
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate, spike_counts

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROFILES = Path(__file__).resolve().parents[2] / "hardware_profiles"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.nir"))
OPTION_FIELDS = {"dt": "dt_seconds", "spikes": "spikes", "reset": "reset"}


def _fixture(name):
    z = np.load(FIXTURES / f"{name}.npz")
    return z["x"], z["out"], json.loads(str(z["meta"]))


def _overrides(meta):
    return {OPTION_FIELDS[k]: v for k, v in meta["compile_options"].items()}


def test_fixtures_are_there_and_small():
    assert len([n for n in NAMES if n.startswith("norse_")]) >= 5
    assert len([n for n in NAMES if n.startswith("sinabs_multi")]) >= 2
    assert len([n for n in NAMES if n.startswith("sinabs_single")]) >= 2
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 1_000_000


@pytest.mark.parametrize("name", NAMES)
def test_float_reference_reproduces_the_frameworks_spikes(name):
    x, expected, meta = _fixture(name)
    try:
        nir.read(FIXTURES / f"{name}.nir")
        refused = False
    except ValueError as exc:  # what users got before: "type mismatch"
        refused = "type mismatch" in str(exc)
    model = read_nir(FIXTURES / f"{name}.nir")
    assert bool(model.notes) == refused
    if refused:
        assert "shapes inferred" in model.notes[0]
    net = normalize(model.graph, _overrides(meta))
    assert (
        f"recognised convention '{'norse-1.1' if meta['framework'] == 'norse' else 'sinabs'}'"
        in (net.contract.source)
    )
    got = simulate(net, {net.inputs[0].name: x}).spikes[net.outputs[0]]
    diff = np.argwhere(np.asarray(got, np.int64) != expected)
    assert diff.size == 0, f"{len(diff)} of {expected.size} entries differ, first {diff[:5]}"
    assert expected.sum() == meta["output_spikes"] >= 20
    if not meta["single_spike"]:
        assert expected.max() > 1 and net.contract.spikes == "multi"


def test_what_was_inferred_is_said():
    for name in ("norse_lifbox_6_12_3", "sinabs_multi_8_16_4"):
        with pytest.raises(ValueError, match="type mismatch"):  # nir 1.0.8's own check
            nir.read(FIXTURES / f"{name}.nir")
    norse = read_nir(FIXTURES / "norse_lifbox_6_12_3.nir").notes[0]
    assert "Input 'input': leading batch dimension dropped ([1, 6] -> [6])" in norse
    sinabs = read_nir(FIXTURES / "sinabs_multi_8_16_4.nir").notes[0]
    assert "'1' (LIF): 0-d parameters" in sinabs and "broadcast to its 16 neurons" in sinabs


def test_inconsistent_graph_is_refused_with_the_node_and_shapes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 10])}),
        "fc1": nir.Affine(rng.normal(size=(20, 10)), np.zeros(20)),
        "lif": nir.LIF(*(np.ones(20),) * 4),
        "fc2": nir.Affine(rng.normal(size=(5, 21)), np.zeros(5)),
        "out": nir.LIF(*(np.ones(5),) * 4),
        "output": nir.Output(output_type={"output": np.array([5])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "out"), ("out", "output")]
    nir.write(tmp_path / "bad.nir", nir.NIRGraph(nodes, edges, type_check=False))
    with pytest.raises(
        ModelError, match=r"node 'fc2' \(Affine\) takes 21 values but 'lif' gives 20"
    ):
        read_nir(tmp_path / "bad.nir")
    assert main(["compile", str(tmp_path / "bad.nir"), "-o", str(tmp_path / "o")]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("error: node 'fc2'") and "shape [20]" in err[0]
    assert not (tmp_path / "o").exists()


def test_multi_spike_counts_follow_sinabs_multispike():
    """Sinabs: spikes = (V > 0) * trunc(V / threshold); V >= threshold fires."""
    v = np.array([-3.0, 0.0, 0.5, 1.0, 1.5, 2.0, 7.9])
    np.testing.assert_array_equal(spike_counts(v, np.ones(7), True), [0, 0, 0, 1, 1, 2, 7])
    np.testing.assert_array_equal(spike_counts(v, np.ones(7), False), [0, 0, 0, 0, 1, 1, 7])


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("sinabs_multi")])
def test_multi_spike_is_refused_for_loihi2_with_the_reason(name, tmp_path, capsys):
    nir_file = str(FIXTURES / f"{name}.nir")
    with pytest.raises(ResourceError, match=r"layer '1': spikes per neuron and step several"):
        api.compile(nir_file, "loihi2", tmp_path / "a", reset="zero")
    assert main(["compile", nir_file, "--reset", "zero", "-o", str(tmp_path / "b")]) == 4
    err = capsys.readouterr().err
    assert "max_spikes_per_step" in err and "--spikes single" in err
    for target in ("spinnaker1", "fixedpoint"):
        with pytest.raises(ResourceError, match="max_spikes_per_step"):
            api.compile(nir_file, target, tmp_path / target, reset="zero")
    # A chip that could emit several spikes still needs an arithmetic that counts them.
    toml = (PROFILES / "fixedpoint.toml").read_text()
    mine = tmp_path / "multi_chip.toml"
    mine.write_text(toml.replace("max_spikes_per_step = 1", "max_spikes_per_step = 31"))
    with pytest.raises(ResourceError, match="multi-spike integer arithmetic for fixedpoint is not"):
        api.compile(nir_file, profile=mine, out=tmp_path / "mine")


def test_single_spike_approximation_of_a_multi_spike_model_is_measured(tmp_path):
    name = "sinabs_multi_8_16_4"
    x, expected, _ = _fixture(name)
    report = api.compile(  # fixedpoint resets by subtraction, as Sinabs
        FIXTURES / f"{name}.nir",
        "fixedpoint",
        tmp_path / "a",
        spikes="single",
        calibrate=str(FIXTURES / f"{name}.npz"),
    ).to_dict()
    note = next(n for n in report["notes"] if n.startswith("--spikes single replaces"))
    assert (
        "(its convention 'sinabs'); measured in float on the calibration data (4 samples)" in note
    )
    assert f"'3' {int(expected.sum()):,} spikes (multi)" in note  # the framework's own count
    assert report["contract"]["spikes"] == "single"
    uncal = api.compile(
        FIXTURES / f"{name}.nir", "loihi2", tmp_path / "b", reset="zero", spikes="single"
    ).to_dict()
    assert any("pass --calibrate DATA to measure it" in n for n in uncal["notes"])


def _compile_single(name, tmp_path):
    _, _, meta = _fixture(name)
    options = dict(meta["compile_options"])
    if meta["framework"] == "sinabs":
        options["reset"] = "zero"  # Loihi 2's LIF resets to zero (exact for MembraneReset)
    data = str(FIXTURES / f"{name}.npz")
    report = api.compile(
        FIXTURES / f"{name}.nir", "loihi2", tmp_path / name, calibrate=data, **options
    ).to_dict()
    return report, data


SINGLE_ALL = [n for n in NAMES if not n.startswith("sinabs_multi")]
SINGLE = [n for n in SINGLE_ALL if "_pern_" not in n]  # one decay, one threshold per layer


def test_per_neuron_time_constants_are_refused_for_loihi2(tmp_path):
    """Loihi 2 has one decay and one threshold per population (loihi2.toml)."""
    for name in [n for n in SINGLE_ALL if "_pern_" in n]:
        with pytest.raises(ResourceError, match="per_neuron_decays"):
            _compile_single(name, tmp_path)


@pytest.mark.parametrize("name", SINGLE)
def test_single_spike_fixtures_compile_for_loihi2(name, tmp_path):
    report, data = _compile_single(name, tmp_path)
    assert report["contract"]["spikes"] == "single"
    notes = " ".join(report["notes"])
    if name.startswith("norse_"):
        assert "leading batch dimension dropped" in notes
        assert report["contract"]["convention"] == "norse-1.1"
    else:
        assert "the model spikes at V >= threshold; Intel Loihi 2 compares V > threshold" in notes
    s = api.emulate(tmp_path / name, data=data)
    assert s.layers[-1].agreement > 0.5


@pytest.mark.lava
def test_single_spike_fixtures_agree_with_lava(tmp_path, lava_ready):
    for name in SINGLE:
        _, data = _compile_single(name, tmp_path)
        s = api.emulate(tmp_path / name, data=data, backend="lava")
        assert s.verification.startswith("verified"), (name, s.verification)
        assert math.isfinite(s.seconds["lava"])
