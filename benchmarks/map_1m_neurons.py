"""Time and peak memory of checking plus mapping a synthetic 1,000,000-neuron, 100,000,000-synapse
layered network onto Loihi 2 (issue target: under 30 s and under 8 GB on 2 cores).

Ten layers of 100,000 neurons, each neuron with 100 distinct synapses from the previous layer (CSR,
8-bit mixed-sign mantissas), built directly as an integer network. Measured: the format checks and
core planning (split, pack, axons) that `snn-deploy compile` runs, on a system of enough Loihi 2
chips. No peer maps networks this size without hardware (nengo-loihi and the Loihi 2 compiler
need NxSDK / lava-loihi), so the ratio printed is against the target.

usage: .venv/bin/python benchmarks/map_1m_neurons.py [--layers 10] [--neurons 100000] [--fan-in 100]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from snn_deploy.checks import check_formats
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.mapping import plan_cores
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QInput,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)


def build(layers: int, n: int, fan_in: int, seed: int = 0) -> QuantizedNetwork:
    rng = np.random.default_rng(seed)
    pops, projs, prev = [], [], "in"
    for i in range(layers):
        name = f"l{i}"
        pops.append(
            QPopulation(
                name,
                n,
                "cuba_lif",
                LoihiLifParams(
                    du=np.full(n, 1023),
                    dv=np.full(n, 512),
                    vth=np.full(n, 1000),
                    bias_mant=np.zeros(n, int),
                    bias_exp=np.zeros(n, int),
                ),
                scale=1.0,
                shift_steps=i + 1,
            )
        )
        # distinct sources per neuron: a random offset plus a fixed stride pattern
        offset = rng.integers(0, n, size=(n, 1))
        cols = ((offset + np.arange(fan_in)[None, :] * 1009) % n).astype(np.int32).ravel()
        data = rng.integers(-128, 128, size=n * fan_in).astype(np.int64) * 2  # MIXED: even
        indptr = np.arange(0, n * fan_in + 1, fan_in, dtype=np.int64)
        w = sp.csr_matrix((data, cols, indptr), shape=(n, n))
        projs.append(QProjection(f"w{i}", prev, name, w, LoihiSynapseParams(0, 8, "mixed")))
        prev = name
    return QuantizedNetwork(
        "loihi2",
        "loihi",
        (QInput("in", n),),
        tuple(pops),
        tuple(projs),
        (prev,),
        DiscretizationContract(),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--neurons", type=int, default=100_000)
    ap.add_argument("--fan-in", type=int, default=100)
    ap.add_argument("--chips", type=int, default=32)
    a = ap.parse_args()
    t0 = time.perf_counter()
    qnet = build(a.layers, a.neurons, a.fan_in)
    built = time.perf_counter() - t0
    profile = load_profile("loihi2").with_chips(a.chips)
    tracemalloc.start()
    t0 = time.perf_counter()
    violations = check_formats(qnet, profile)
    t_check = time.perf_counter() - t0
    t0 = time.perf_counter()
    mapped, more = plan_cores(qnet, profile)
    t_map = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    total = t_check + t_map
    print(
        f"network: {qnet.num_neurons:,} neurons, {qnet.num_synapses:,} synapses "
        f"(built in {built:.1f} s)"
    )
    print(
        f"violations: {len(violations) + len(more)}; cores used: {len(mapped.cores):,} on "
        f"{len({c.chip for c in mapped.cores})} Loihi 2 chips"
    )
    print(
        f"check {t_check:.1f} s + map {t_map:.1f} s = {total:.1f} s "
        f"(target 30 s: {total / 30:.2f}x of it)"
    )
    print(
        f"peak memory allocated while checking and mapping: {peak / 1024**3:.2f} GiB; "
        f"process peak RSS (construction included): {rss:.2f} GiB (target 8 GiB: "
        f"{max(peak / 1024**3, 0) / 8:.2f}x of it)"
    )


if __name__ == "__main__":
    main()
