"""Bad input gets one clear message naming the problem and the fix, a non-zero exit code, no
traceback, and no artifact folder (not even a half-written one)."""

import pickle
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch


def run_cli(*args, cwd: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "snn_deploy", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def assert_nothing_written(tmp_path: Path, out: str = "out"):
    assert not (tmp_path / out).exists()
    assert not list(tmp_path.glob(f".{out}.*")), "a staging folder was left behind"


def lif_graph(n_out: int, n_in: int, weight: np.ndarray | None = None) -> nir.NIRGraph:
    w = np.full((n_out, n_in), 0.5) if weight is None else weight
    nodes = {
        "input": nir.Input(input_type=np.array([n_in])),
        "fc": nir.Linear(weight=w),
        "lif": nir.LIF(
            tau=np.full(n_out, 0.01),
            r=np.ones(n_out),
            v_leak=np.zeros(n_out),
            v_threshold=np.ones(n_out),
            v_reset=np.zeros(n_out),
        ),
        "output": nir.Output(output_type=np.array([n_out])),
    }
    return nir.NIRGraph(nodes, [("input", "fc"), ("fc", "lif"), ("lif", "output")])


def test_missing_model_file(tmp_path):
    p = run_cli("compile", "nope.pt", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.startswith("error: model file nope.pt does not exist")
    assert "hint: give the path of a .pt checkpoint" in p.stderr
    assert_nothing_written(tmp_path)


def test_pt_file_that_is_not_a_model(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "state.pt")
    p = run_cli("compile", "state.pt", "-o", "out", cwd=tmp_path)
    assert p.returncode == 3
    assert "state.pt: is a PyTorch file but not an snn-deploy checkpoint" in p.stderr
    assert_nothing_written(tmp_path)


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"model": Exploit()}, fh)
    p = run_cli("compile", "evil.pt", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2
    assert "evil.pt: not a PyTorch checkpoint that can be loaded safely" in p.stderr
    assert "this must never run" not in p.stdout + p.stderr
    assert_nothing_written(tmp_path)


def test_garbage_file(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"\x00\x01not a zip")
    p = run_cli("compile", "junk.pt", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2 and "junk.pt: not a PyTorch checkpoint" in p.stderr


def test_nan_weights_in_a_nir_graph(tmp_path):
    w = np.full((4, 3), 0.5)
    w[1, 2] = np.nan
    w[0, 0] = np.inf
    nir.write(tmp_path / "nan.nir", lif_graph(4, 3, w))
    p = run_cli("compile", "nan.nir", "--dt", "1e-3", "-o", "out", cwd=tmp_path)
    assert p.returncode == 3
    assert "node 'fc': parameter 'weight' has 2 NaN or infinite value(s)" in p.stderr
    assert_nothing_written(tmp_path)


def test_graph_without_a_time_step_asks_for_one(tmp_path):
    nir.write(tmp_path / "nodt.nir", lif_graph(4, 3))
    p = run_cli("compile", "nodt.nir", "-o", "out", cwd=tmp_path)
    assert p.returncode == 3
    assert "error: the graph does not say its time step" in p.stderr
    assert "hint: pass --dt SECONDS" in p.stderr
    assert_nothing_written(tmp_path)


def test_unknown_target(tmp_path):
    nir.write(tmp_path / "ok.nir", lif_graph(4, 3))
    p = run_cli("compile", "ok.nir", "--target", "truenorth", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2
    assert "error: unknown target 'truenorth'; known targets: " in p.stderr and "loihi2" in p.stderr
    assert "hint: pass --target with one of the known targets" in p.stderr
    assert_nothing_written(tmp_path)


@pytest.mark.slow
def test_layer_larger_than_the_chip(tmp_path):
    nir.write(tmp_path / "big.nir", lif_graph(2_000_000, 1))
    p = run_cli("compile", "big.nir", "--dt", "1e-3", "-o", "out", cwd=tmp_path)
    assert p.returncode == 4
    assert "big.nir cannot be deployed on Intel Loihi 2" in p.stderr
    assert (
        "error: layer 'lif': cores needed for 2,000,000 neurons (at most 8,192 per core) "
        "245 exceeds 128 (loihi2.toml [chip].cores_per_chip x [chip].max_chips)"
    ) in p.stderr
    assert "hint: make 'lif' smaller, or give the system more chips (--chips 2)" in p.stderr
    assert_nothing_written(tmp_path)


def test_fan_in_too_large_for_one_core(tmp_path):
    nir.write(tmp_path / "wide.nir", lif_graph(2, 200_000))
    p = run_cli("compile", "wide.nir", "--dt", "1e-3", "-o", "out", cwd=tmp_path)
    assert p.returncode == 4
    assert (
        "layer 'lif': memory of one neuron (fan-in 200,000 synapses) in bits 1,600,064 "
        "exceeds 1,572,864 (loihi2.toml [core].memory_bytes)"
    ) in p.stderr
    assert "hint: reduce the fan-in of 'lif'" in p.stderr
    assert_nothing_written(tmp_path)


def test_truncated_nir_file(tmp_path):
    nir.write(tmp_path / "ok.nir", lif_graph(4, 3))
    data = (tmp_path / "ok.nir").read_bytes()
    (tmp_path / "cut.nir").write_bytes(data[: len(data) // 3])
    p = run_cli("compile", "cut.nir", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2 and "cut.nir: not a readable NIR file" in p.stderr
    assert_nothing_written(tmp_path)


def test_output_path_that_is_someone_elses_folder(tmp_path):
    nir.write(tmp_path / "ok.nir", lif_graph(4, 3))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("precious")
    p = run_cli("compile", "ok.nir", "--dt", "1e-3", "-o", "out", cwd=tmp_path)
    assert p.returncode == 2 and "is not an snn-deploy artifact folder" in p.stderr
    assert (tmp_path / "out" / "thesis.tex").read_text() == "precious"


def test_emulate_a_folder_that_is_not_an_artifact(tmp_path):
    p = run_cli("emulate", "missing", cwd=tmp_path)
    assert p.returncode == 2 and "artifact folder missing does not exist" in p.stderr


def test_nan_and_infinite_weights_in_a_checkpoint(tmp_path):
    from snn_deploy.train.models import SpikingMLP

    ckpt = SpikingMLP.from_sizes([4, 3, 2], alpha=0.5, beta=0.875).to_checkpoint()
    ckpt["state_dict"]["layers.0.fc.weight"][0, 0] = float("nan")
    torch.save(ckpt, tmp_path / "nan.pt")
    p = run_cli("compile", "nan.pt", "-o", "out", cwd=tmp_path)
    assert p.returncode == 3
    assert "nan.pt: tensor 'layers.0.fc.weight' has 1 NaN value(s)" in p.stderr
    assert_nothing_written(tmp_path)
    ckpt["state_dict"]["layers.0.fc.weight"][0, 0] = float("inf")
    torch.save(ckpt, tmp_path / "inf.pt")
    p = run_cli("compile", "inf.pt", "-o", "out", cwd=tmp_path)
    assert p.returncode == 3 and "inf.pt: tensor 'layers.0.fc.weight' has 1 infinite" in p.stderr
