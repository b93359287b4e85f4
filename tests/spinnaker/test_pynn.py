"""The emitted PyNN scripts: always checked structurally; run to completion on Brian 2 and on
sPyNNaker 7.4.1's virtual board when .venv-pynn exists (`make pynn-env`), where sPyNNaker's own
host code must turn them into exactly the integers snn-deploy emulated."""

import ast
import json

import numpy as np
import pytest

from snn_deploy.backends.spinnaker import pynn_unavailable_reason, run_in_pynn_env
from snn_deploy.quantize.network import QuantizedNetwork

CHECK = "toolchain/snn_deploy/backends/spinnaker/spynnaker_check.py"


@pytest.fixture(scope="module")
def pynn_ready():
    reason = pynn_unavailable_reason()
    if reason:
        pytest.skip(reason)


def _calls(tree) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            out.add(node.func.attr)
    return out


def test_scripts_are_valid_pynn_structurally(spinnaker1_artifacts):
    out, _ = spinnaker1_artifacts
    for name, module in (
        ("pynn_spinnaker.py", "pyNN.spiNNaker"),
        ("pynn_brian2.py", "pyNN.brian2"),
    ):
        tree = ast.parse((out / name).read_text())
        imports = {
            a.name: a.asname for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        assert imports.get(module) == "sim"
        calls = _calls(tree)
        assert {
            "setup",
            "Population",
            "Projection",
            "FromListConnector",
            "StaticSynapse",
            "SpikeSourceArray",
            "run",
            "end",
            "initialize",
            "record",
        } <= calls
    assert {"set_number_of_neurons_per_core", "set_max_atoms_per_core"} <= _calls(
        ast.parse((out / "pynn_spinnaker.py").read_text())
    )
    desc = json.loads((out / "pynn_network.json").read_text())
    assert {p["cell_type"] for p in desc["populations"]} == {"IF_curr_exp"}
    assert desc["timestep_ms"] == 1.0
    with np.load(out / "pynn_connections.npz") as z:
        for proj in desc["projections"]:
            rows = z[proj["connections"]]
            assert rows.shape == (proj["count"], 4)
            assert np.all(rows[:, 3] == proj["delay_ms"])
            sign = 1 if proj["receptor_type"] == "excitatory" else -1
            assert np.all(np.sign(rows[:, 2]) == sign)


def test_brian2_script_runs_to_completion(spinnaker1_artifacts, pynn_ready, tmp_path):
    out, _ = spinnaker1_artifacts
    proc = run_in_pynn_env(["pynn_brian2.py", "--samples", "3"], cwd=out, home=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 sample(s): accuracy" in proc.stdout
    with np.load(out / "pynn_results_brian2.npz") as z:
        assert z["scores"].shape == (3, 10) and z["scores"].sum() > 0


def test_spinnaker_script_maps_on_a_virtual_board(spinnaker1_artifacts, pynn_ready, tmp_path):
    out, _ = spinnaker1_artifacts
    # run from tmp_path: sPyNNaker writes its reports/ into the working directory
    proc = run_in_pynn_env(
        [str(out / "pynn_spinnaker.py"), "--samples", "2"], cwd=tmp_path, home=tmp_path / "home"
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "2 sample(s): accuracy" in proc.stdout


def test_spynnaker_writes_exactly_the_emulated_integers(spinnaker1_artifacts, pynn_ready, tmp_path):
    from pathlib import Path

    out, _ = spinnaker1_artifacts
    check = Path(__file__).resolve().parents[2] / CHECK
    proc = run_in_pynn_env(
        [str(check), str(out), str(tmp_path / "check.json")], cwd=tmp_path, home=tmp_path / "home"
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    got = json.loads((tmp_path / "check.json").read_text())
    qnet = QuantizedNetwork.load(out / "network.npz")
    names = {"tau_syn_E": "tau_syn_e", "tau_syn_I": "tau_syn_i"}
    for pop in qnet.populations:
        g = got["populations"][pop.name]
        assert g["shifts"] == [int(s) for s in pop.params.rb_shifts]
        for name, words in g["words"].items():
            np.testing.assert_array_equal(words, getattr(pop.params, names.get(name, name)))
    for proj in qnet.projections:
        w = np.asarray(proj.weight)
        for receptor, sign in (("excitatory", 1), ("inhibitory", -1)):
            g = got["projections"].get(f"{proj.name}/{receptor}")
            back = np.zeros_like(w)
            if g:
                back[g["post"], g["pre"]] = sign * np.asarray(g["words"])
                assert set(g["delay_ticks"]) == {proj.delay_steps}
            np.testing.assert_array_equal(back, np.where(np.sign(w) == sign, w, 0))
