"""Norse 1.1.0 and Sinabs 3.1.3 both ways.

Import: NIR files written by Norse 1.1.0 and Sinabs 3.1.3 themselves (tests/interop/fixtures/,
made by ``make interop-fixtures`` in side environments): read although NIR's type check refuses
them, recognised, and run in the float reference with exactly the framework's own output spikes
(spike counts for Sinabs' MultiSpike); single-spike ones compile for Loihi 2 and agree with
Lava, multi-spike ones are refused with the reason.

Export: ``export --for norse|sinabs`` read back by their own importers (second half)."""

import dataclasses
import json
import math
from pathlib import Path

import nir
import numpy as np
import pytest
from interop_roundtrip import (
    SINABS_CONTRACT,
    SNNTORCH_CONTRACT,
    differences,
    random_network,
    round_trips,
    spikes_in,
)

from snn_deploy import api
from snn_deploy.cli import main
from snn_deploy.errors import ModelError, ResourceError, UnsupportedError
from snn_deploy.frontend.nir_file import read_nir
from snn_deploy.ir.export import network_for
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


def test_per_neuron_time_constants_are_legalized_for_loihi2(tmp_path):
    """Loihi 2 has one decay and one threshold per population (loihi2.toml): thresholds are
    folded into the weights and each layer is split into groups of equal decays
    (quantize/legalize.py); the float reference still gives the framework's spikes."""
    for name in [n for n in SINGLE_ALL if "_pern_" in n]:
        report, _ = _compile_single(name, tmp_path)
        leg = report["legalization"]
        assert leg["split_populations"], name
        assert {t["step"] for t in leg["transformations"]} >= {
            "fold thresholds",
            "split into groups",
        }


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
    for name in SINGLE_ALL:  # the per-neuron ones split into groups, one LIF process each
        _, data = _compile_single(name, tmp_path)
        s = api.emulate(tmp_path / name, data=data, backend="lava")
        assert s.verification.startswith("verified"), (name, s.verification)
        assert math.isfinite(s.seconds["lava"])


# ------------------------------------------- export --for norse|sinabs, read by their importers
# Random networks exported by snn-deploy, loaded by Norse 1.1.0's ``from_nir`` and Sinabs 3.1.3's
# ``from_nir`` in their side environments (``runners/run_imported.py``; skipped with the reason
# when an environment is absent), run there and compared with the float reference. Both run in
# float32, the reference in float64; the fixed seeds give no spike within float32 rounding of a
# threshold (a future difference there would be rounding, not a convention).
NORSE_CASES = {
    "lif-cuba-if per-neuron": dict(kinds=("lif", "cuba", "if")),
    "cuba-lif per-layer": dict(kinds=("cuba", "lif"), per_neuron=False, pnt=False),
    "recurrent lif and cuba": dict(kinds=("lif", "cuba", "lif"), recurrent=(0, 1)),
}
SINABS_CASES = {
    "lif-lif-lif per-neuron": dict(kinds=("lif", "lif", "lif")),
    "lif-lif per-layer": dict(kinds=("lif", "lif"), per_neuron=False, pnt=False),
    "lif-if-lif, V of IF kept >= 0": dict(kinds=("lif", "if", "lif"), positive=True),
}
SEEDS = (0, 1)
SIGNED_IF_SEEDS = (0, 1, 2)


def _case_network(opts, seed, contract):
    rng = np.random.default_rng(seed)
    kinds = opts["kinds"]
    sizes = [10, *rng.integers(8, 20, len(kinds) - 1).tolist(), 5]
    net = random_network(
        rng,
        sizes,
        kinds,
        contract,
        per_neuron=opts.get("per_neuron", True),
        per_neuron_threshold=opts.get("pnt", True),
        recurrent=opts.get("recurrent", ()),
    )
    if opts.get("positive"):
        net = _non_negative_into_if(net)
    return net, spikes_in(rng, 6, 80, sizes[0])


def _non_negative_into_if(net):
    ifs = {p.name for p in net.populations if np.all(p.beta == 1)}
    pops = tuple(
        dataclasses.replace(p, bias=np.abs(p.bias)) if p.name in ifs else p for p in net.populations
    )
    projs = tuple(
        dataclasses.replace(p, weight=np.abs(p.weight)) if p.target in ifs else p
        for p in net.projections
    )
    return dataclasses.replace(net, populations=pops, projections=projs)


@pytest.fixture(scope="module")
def norse_trips(tmp_path_factory):
    """Every Norse case, exported and run in one start of the side environment."""
    cases = {
        (case, seed): _case_network(opts, seed, SNNTORCH_CONTRACT)
        for case, opts in NORSE_CASES.items()
        for seed in SEEDS
    }
    return round_trips("norse", cases, tmp_path_factory.mktemp("norse"))


@pytest.fixture(scope="module")
def sinabs_trips(tmp_path_factory):
    """Every Sinabs case (and the signed-IF measurement), in one start of its environment."""
    cases = {
        (case, seed): _case_network(opts, seed, SINABS_CONTRACT)
        for case, opts in SINABS_CASES.items()
        for seed in SEEDS
    }
    for seed in SIGNED_IF_SEEDS:
        rng = np.random.default_rng(seed)
        net = random_network(rng, [10, 16, 12, 5], ("lif", "if", "lif"), SINABS_CONTRACT)
        cases[("signed if", seed)] = (net, spikes_in(rng, 6, 80, 10))
    return round_trips("sinabs", cases, tmp_path_factory.mktemp("sinabs"))


@pytest.mark.parametrize("case", sorted(NORSE_CASES))
@pytest.mark.parametrize("seed", SEEDS)
def test_export_for_norse_random_networks(norse_trips, case, seed):
    ours, theirs, reread = norse_trips[(case, seed)]
    assert ours.sum() > 50, "the test network should spike"
    np.testing.assert_array_equal(theirs, ours, err_msg=differences(theirs, ours))
    np.testing.assert_array_equal(reread, ours, err_msg=differences(reread, ours))


@pytest.mark.parametrize("case", sorted(SINABS_CASES))
@pytest.mark.parametrize("seed", SEEDS)
def test_export_for_sinabs_random_networks(sinabs_trips, case, seed):
    """Multi-spike counts, reset by subtraction, V >= threshold: Sinabs' IAF and LIF. IF layers
    get non-negative input here: Sinabs' importer bounds IF voltages at -threshold (next test)."""
    ours, theirs, reread = sinabs_trips[(case, seed)]
    assert ours.sum() > 50 and ours.max() > 1, "the test network should send several spikes"
    np.testing.assert_array_equal(theirs, ours, err_msg=differences(theirs, ours))
    np.testing.assert_array_equal(reread, ours, err_msg=differences(reread, ours))


def test_export_for_sinabs_if_with_signed_input_measured(sinabs_trips):
    """Sinabs' importer makes IF layers IAFSqueeze(min_v_mem=-v_threshold): their voltage
    cannot go below -threshold, the model's can. The export says so in its notes; the
    agreement of the output spike counts is measured (docs/nir-interop.md quotes it)."""
    net = random_network(np.random.default_rng(0), [4, 3, 2], ("lif", "if"), SINABS_CONTRACT)
    assert "min_v_mem" in str(network_for(net, "sinabs").metadata["snn_deploy_export"]["notes"])
    agree = []
    for seed in SIGNED_IF_SEEDS:
        ours, theirs, reread = sinabs_trips[("signed if", seed)]
        np.testing.assert_array_equal(reread, ours)
        agree.append(1 - np.abs(theirs - ours).sum() / max(ours.sum(), 1))
    print(f"Sinabs IF round trip, output spike-count agreement per seed: {np.round(agree, 4)}")
    assert min(agree) > 0.8 and min(agree) < 1


@pytest.mark.parametrize(
    ("framework", "change", "message"),
    [
        ("norse", "subtract", "resets by subtraction; Norse 1.1.0's importer resets to zero"),
        ("norse", "readout", "is a non-spiking readout (LI/CubaLI); Norse 1.1.0's importer"),
        ("sinabs", "zero", "the model resets to v_reset; Sinabs 3.1.3's IAF/LIF reset by"),
        ("sinabs", "cuba", "has a synaptic current; Sinabs 3.1.3 imports no CubaLIF"),
        ("sinabs", "recurrent", "the network is recurrent"),
    ],
)
def test_export_refuses_what_the_importer_cannot_express(framework, change, message):
    rng = np.random.default_rng(0)
    contract = SINABS_CONTRACT if framework == "sinabs" else SNNTORCH_CONTRACT
    if change == "subtract":
        contract = dataclasses.replace(contract, reset="subtract")
    if change == "zero":
        contract = dataclasses.replace(contract, reset="zero")
    net = random_network(
        rng,
        [6, 5, 3],
        ("cuba" if change == "cuba" else "lif", "lif"),
        contract,
        recurrent=(0,) if change == "recurrent" else (),
    )
    if change == "readout":
        pops = (net.populations[0], dataclasses.replace(net.populations[1], spiking=False))
        net = dataclasses.replace(net, populations=pops)
    with pytest.raises(UnsupportedError, match="cannot express this model") as e:
        network_for(net, framework)
    assert message in str(e.value)
