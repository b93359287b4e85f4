"""The emulator's compiled engine against its numpy reference engine, measured side by side in one
run (issue 14 targets: >= 7x at scale, >= 20x batched, under 4 GB peak).

1. Scale: the 1,000,000-neuron, 100,000,000-synapse network of ``map_1m_neurons.py`` (ten CSR
   layers of 100,000 Loihi neurons, fan-in 100), 5 % input, batch 1: ms per step of each engine
   (median of --repeats runs after a warm-up: one-time preparation and compilation excluded, and
   reported apart), peak memory (each engine
   in its own process: peak RSS, network construction included), synaptic events per step (a
   spike of a source reaches each of its synapses) and ns per event.
2. Batched: 700-256-20 dense Loihi network, T 100, batch 512, 5 % input: samples per second.

Both engines must produce identical spikes (checked). The compiled engine's parallel variant
uses numba's threads (``NUMBA_NUM_THREADS``, default: all cores).

usage: .venv/bin/python benchmarks/emulator_scale.py [--steps 20] [--neurons 100000]
       [--batch 512] [--skip-scale] [--skip-batch]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _scale_child(engine: str, steps: int, neurons: int, layers: int, repeats: int) -> dict:
    from map_1m_neurons import build

    from snn_deploy.backends.emulator import run
    from snn_deploy.backends.emulator.loihi import LoihiEmulator
    from snn_deploy.profiles import load_profile

    num = load_profile("loihi2").numerics
    t0 = time.perf_counter()
    qnet = build(layers, neurons, 100)
    built_s = time.perf_counter() - t0
    rss_built = _rss_gib()
    x = {"in": np.random.default_rng(1).random((1, steps, neurons)) < 0.05}
    t0 = time.perf_counter()
    if engine == "reference":
        emulator = LoihiEmulator(qnet, num)
        prepare_s = time.perf_counter() - t0

        def once():
            return emulator.run(x, steps)
    else:
        run(qnet, num, {"in": x["in"][:, :2]}, 2, engine="compiled")  # prepare, load kernels
        prepare_s = time.perf_counter() - t0

        def once():
            return run(qnet, num, x, steps, engine="compiled")

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = once()
        times.append((time.perf_counter() - t0) * 1e3 / steps)
    ms_step = float(np.median(times))
    # synaptic events: every spike of a source reaches each of its synapses
    events = 0
    sources = {"in": x["in"], **res.spikes}
    for p in qnet.projections:
        fan_out = np.bincount(p.weight.indices, minlength=p.weight.shape[1])
        events += int(sources[p.source][0].astype(np.int64).sum(0) @ fan_out)
    digest = {k: hashlib.sha256(np.packbits(v).tobytes()).hexdigest()
              for k, v in res.spikes.items()}  # fmt: skip
    spikes = int(sum(int(v.sum()) for v in res.spikes.values()))
    return {
        "ms_step": ms_step,
        "prepare_s": prepare_s,
        "built_s": built_s,
        "rss_built_gib": rss_built,
        "peak_rss_gib": _rss_gib(),
        "events_per_step": events / steps,
        "spikes": spikes,
        "digest": digest,
        "neurons": qnet.num_neurons,
        "synapses": qnet.num_synapses,
    }


def _batch_network(seed: int = 0):
    from snn_deploy.ir.contract import DiscretizationContract
    from snn_deploy.quantize.network import (
        LoihiLifParams,
        LoihiSynapseParams,
        QInput,
        QPopulation,
        QProjection,
        QuantizedNetwork,
    )

    rng = np.random.default_rng(seed)
    sizes, names = (700, 256, 20), ("in", "hidden", "out")
    pops, projs = [], []
    for i in (1, 2):
        n = sizes[i]
        params = LoihiLifParams(
            du=np.full(n, 410),
            dv=np.full(n, 205),
            vth=np.full(n, 1000),
            bias_mant=np.zeros(n, int),
            bias_exp=np.zeros(n, int),
        )
        pops.append(QPopulation(names[i], n, "cuba_lif", params, scale=1.0))
        w = rng.integers(-128, 128, (n, sizes[i - 1]))
        projs.append(
            QProjection(f"w{i}", names[i - 1], names[i], w, LoihiSynapseParams(0, 8, "mixed"))
        )
    return QuantizedNetwork(
        "loihi2",
        "loihi",
        (QInput("in", 700),),
        tuple(pops),
        tuple(projs),
        ("out",),
        DiscretizationContract(),
    )


def _batched(batch: int, steps: int) -> None:
    from snn_deploy.backends.emulator import run
    from snn_deploy.profiles import load_profile

    num = load_profile("loihi2").numerics
    qnet = _batch_network()
    x = {"in": np.random.default_rng(2).random((batch, steps, 700)) < 0.05}
    run(qnet, num, {"in": x["in"][:2, :2]}, 2, engine="compiled")  # load the kernels
    rates, results = {}, {}
    for engine in ("compiled", "reference"):
        t0 = time.perf_counter()
        results[engine] = run(qnet, num, x, steps, engine=engine)
        rates[engine] = batch / (time.perf_counter() - t0)
    for pop in results["reference"].spikes:
        got, ref = results["compiled"].spikes[pop], results["reference"].spikes[pop]
        diff = int(np.count_nonzero(got != ref))
        if diff:
            raise SystemExit(f"engines disagree on {diff} spikes of {pop}")
    counts = [int(v.sum()) for v in results["reference"].spikes.values()]
    print(f"\nbatched: 700-256-20 dense, T {steps}, batch {batch}, 5% input, spikes {counts} "
          "(identical in both)")  # fmt: skip
    print(f"{'':34}{'samples/s':>12}")
    for engine in ("compiled", "reference"):
        print(f"{engine + ' engine':34}{rates[engine]:>12.0f}")
    print(f"ratio compiled / reference (batched): {rates['compiled'] / rates['reference']:.1f}x "
          "(target >= 20x)")  # fmt: skip


def _scale(steps: int, neurons: int, layers: int, repeats: int) -> None:
    out = {}
    for engine in ("compiled", "reference"):
        cmd = [sys.executable, __file__, "--child", engine, "--steps", str(steps)]
        cmd += ["--neurons", str(neurons), "--layers", str(layers), "--repeats", str(repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"{engine} engine failed:\n{proc.stderr}")
        out[engine] = json.loads(proc.stdout.strip().splitlines()[-1])
    c, r = out["compiled"], out["reference"]
    if c["digest"] != r["digest"] or c["spikes"] != r["spikes"]:
        raise SystemExit("the engines disagree on the spikes of the scale network")
    print(f"scale: {c['neurons']:,} neurons, {c['synapses']:,} synapses, 5% input, batch 1, "
          f"{steps} steps, {c['spikes']:,} spikes (identical in both)")  # fmt: skip
    print(f"synaptic events per step: {c['events_per_step']:,.0f}")
    head = f"{'':20}{'ms/step':>10}{'ns/event':>10}{'prepare s':>11}{'peak RSS GiB':>14}"
    print(head + f"{'after build':>13}")
    for name, d in (("compiled", c), ("reference", r)):
        ns = d["ms_step"] * 1e6 / max(d["events_per_step"], 1)
        print(f"{name + ' engine':20}{d['ms_step']:>10.2f}{ns:>10.2f}{d['prepare_s']:>11.1f}"
              f"{d['peak_rss_gib']:>14.2f}{d['rss_built_gib']:>13.2f}")  # fmt: skip
    print(f"ratio compiled / reference (scale): {r['ms_step'] / c['ms_step']:.1f}x (target >= 7x); "
          f"compiled peak {c['peak_rss_gib']:.2f} GiB (target < 4 GiB)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20, help="time steps of the scale network")
    ap.add_argument("--neurons", type=int, default=100_000, help="neurons per layer")
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per engine (median)")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--batch-steps", type=int, default=100)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(_scale_child(a.child, a.steps, a.neurons, a.layers, a.repeats)))
        return
    import numba

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numba {numba.__version__} with {numba.get_num_threads()} threads, "
          f"Python {platform.python_version()}")  # fmt: skip
    if not a.skip_scale:
        _scale(a.steps, a.neurons, a.layers, a.repeats)
    if not a.skip_batch:
        _batched(a.batch, a.batch_steps)


if __name__ == "__main__":
    main()
