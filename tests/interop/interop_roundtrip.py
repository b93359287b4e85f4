"""Round trips through other frameworks' own NIR importers (``export --for FRAMEWORK``).

Random networks are built as snn-deploy :class:`DiscreteNetwork`s under the contract each
framework runs, exported with :func:`network_for`, loaded and run by the framework
(``runners/run_imported.py``: in .venv for snnTorch, in its side environment for Norse and
Sinabs), and their output spikes compared with the float reference on the same inputs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest

from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.ir.export import network_for, write_nir
from snn_deploy.ir.network import DiscreteNetwork, InputPort, Population, Projection
from snn_deploy.ir.normalize import normalize
from snn_deploy.ir.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).resolve().parent / "runners" / "run_imported.py"
SIDE_ENVS = {"norse": ROOT / ".venv-interop-norse", "sinabs": ROOT / ".venv-interop-sinabs"}

SNNTORCH_CONTRACT = DiscretizationContract(source="test")
SINABS_CONTRACT = DiscretizationContract(
    dt_seconds=1.0, integrator="exact", reset="subtract", threshold=">=", spikes="multi"
)


def side_python(framework: str) -> Path:
    """The side environment's interpreter, or a skip with the reason."""
    venv = SIDE_ENVS[framework]
    if not (venv / ".installed").is_file() or not (venv / "bin" / "python").exists():
        pytest.skip(f"{venv.name} is not set up (make test, or scripts/setup-interop-envs)")
    return venv / "bin" / "python"


def random_network(
    rng,
    sizes,
    kinds,
    contract: DiscretizationContract,
    *,
    per_neuron: bool = True,
    per_neuron_threshold: bool = True,
    recurrent: tuple[int, ...] = (),
    bias: bool = True,
    gain: float = 1.0,
) -> DiscreteNetwork:
    """Layers of ``kinds`` ('lif', 'cuba', 'if') of ``sizes[1:]`` neurons fed by ``sizes[0]``
    inputs; ``recurrent`` lists the layers (0-based) with an all-to-all back projection."""
    inputs = [InputPort("input", sizes[0])]
    pops, projs = [], []
    src = "input"
    for i, (n_in, n, kind) in enumerate(zip(sizes[:-1], sizes[1:], kinds, strict=True)):
        name = f"l{i}"

        def draw(lo, hi, n=n):
            return rng.uniform(lo, hi, n) if per_neuron else np.full(n, rng.uniform(lo, hi))

        alpha = draw(0.3, 0.8) if kind == "cuba" else np.zeros(n)
        beta = np.ones(n) if kind == "if" else draw(0.6, 0.95)
        thr = (
            rng.uniform(0.6, 1.4, n) if per_neuron_threshold else np.full(n, rng.uniform(0.6, 1.4))
        )
        v_bias = rng.normal(0.0, 0.05, n) if bias and kind == "lif" else np.zeros(n)
        pops.append(
            Population(name, n, alpha, beta, thr, v_bias, np.zeros(n), reset=contract.reset)
        )
        w = rng.normal(0.25, 0.6, (n, n_in)) * gain * (1 - alpha[:, None]) ** 0.5
        projs.append(Projection(f"w{i}", src, name, w))
        if bias and kind == "cuba":
            port = f"bias:{name}"
            inputs.append(InputPort(port, 1, kind="constant"))
            projs.append(Projection(f"b{i}", port, name, rng.normal(0.0, 0.05, (n, 1))))
        if bias and kind == "if":
            pops[-1] = Population(
                name,
                n,
                alpha,
                beta,
                thr,
                rng.normal(0.0, 0.05, n),
                np.zeros(n),
                reset=contract.reset,
            )
        if i in recurrent:
            projs.append(Projection(f"r{i}", name, name, rng.normal(0, 0.4, (n, n)), 1))
        src = name
    return DiscreteNetwork(tuple(inputs), tuple(pops), tuple(projs), (src,), contract)


def spikes_in(rng, batch, steps, n, rate=(0.2, 0.4)) -> np.ndarray:
    return (rng.random((batch, steps, n)) < rng.uniform(*rate)).astype(np.float32)


def run_framework(framework: str, path: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """The framework's output spikes for ``x``, its importer reading ``path``."""
    return run_many(framework, [(path, x)], tmp_path)[0]


def run_many(framework: str, items, tmp_path: Path) -> list[np.ndarray]:
    """Output spikes for each ``(path, x)``; a side environment is started once for all."""
    if framework == "snntorch":
        sys.path.insert(0, str(RUNNER.parent))
        try:
            import run_imported
        finally:
            sys.path.pop(0)
        return [run_imported.run_snntorch(str(path), x) for path, x in items]
    python = side_python(framework)
    args = []
    for i, (path, x) in enumerate(items):
        np.savez(tmp_path / f"x{i}.npz", x=x)
        args += [str(path), str(tmp_path / f"x{i}.npz"), str(tmp_path / f"out{i}.npz")]
    proc = subprocess.run(
        [str(python), "-W", "ignore", str(RUNNER), framework, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [np.load(tmp_path / f"out{i}.npz")["out"] for i in range(len(items))]


def round_trips(framework: str, cases: dict, tmp_path: Path) -> dict:
    """For each ``name: (net, x)``: (ours, theirs, re-read) output spikes of the float
    reference, of the framework, and of snn-deploy reading the exported file back."""
    items, result = [], {}
    for i, (name, (net, x)) in enumerate(cases.items()):
        path = tmp_path / f"g{i}.nir"
        write_nir(path, network_for(net, framework), framework)
        items.append((path, x))
        back = normalize(nir.read(path))
        result[name] = (
            simulate(net, {"input": x}).spikes[net.outputs[0]],
            simulate(back, {back.inputs[0].name: x}).spikes[back.outputs[0]],
        )
    theirs = run_many(framework, items, tmp_path)
    return {
        name: (np.asarray(o, np.int64), np.rint(t).astype(np.int64), np.asarray(r, np.int64))
        for (name, (o, r)), t in zip(result.items(), theirs, strict=True)
    }


def round_trip(framework, net, x, tmp_path):
    """(ours, theirs, re-read) for one network."""
    return round_trips(framework, {"net": (net, x)}, tmp_path)["net"]


def differences(a, b) -> str:
    diff = np.argwhere(a != b)
    return f"{len(diff)} of {a.size} entries differ, first {diff[:5].tolist()}"
