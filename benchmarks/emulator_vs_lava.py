"""ms per time step of the 100-200-10 LIF network (loihi2-lava.md sections 6-7): snn-deploy's
emulator (its compiled engine, the default; the numpy reference engine for context) vs Lava 0.10.0
fixed_pt (Loihi2SimCfg), measured side by side in one run (issue 14 target: ratio >= 1000x).

Network: RingBuffer(100 channels, 5 % input rate) -> Dense -> LIF(100) -> Dense -> LIF(200) ->
Dense -> LIF(10); weights uniform in [-128, 128) (MIXED, truncated to even); du = 410, dv = 205,
vth = 1000. Lava runs a compile-and-first-step block, then timed blocks of --block steps; its
steady-state figure is the median block. Both runs are checked to produce identical spikes.

usage: .venv/bin/python benchmarks/emulator_vs_lava.py [--blocks 5] [--block 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from snn_deploy.backends.emulator import run
from snn_deploy.backends.lava.bridge import LavaJob, lava_unavailable_reason, run_lava
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QInput,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)


def network(seed: int = 0) -> QuantizedNetwork:
    rng = np.random.default_rng(seed)
    sizes, names = (100, 100, 200, 10), ("in", "lif1", "lif2", "lif3")
    pops, projs = [], []
    for i in range(1, 4):
        n = sizes[i]
        pops.append(
            QPopulation(
                names[i],
                n,
                "cuba_lif",
                LoihiLifParams(
                    du=np.full(n, 410),
                    dv=np.full(n, 205),
                    vth=np.full(n, 1000),
                    bias_mant=np.zeros(n, int),
                    bias_exp=np.zeros(n, int),
                ),
                scale=1.0,
            )
        )
        projs.append(
            QProjection(
                f"dense{i}",
                names[i - 1],
                names[i],
                rng.integers(-128, 128, (n, sizes[i - 1])),
                LoihiSynapseParams(0, 8, "mixed"),
            )
        )
    return QuantizedNetwork(
        "loihi2",
        "loihi",
        (QInput("in", 100),),
        tuple(pops),
        tuple(projs),
        ("lif3",),
        DiscretizationContract(),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=5, help="timed Lava blocks")
    ap.add_argument("--block", type=int, default=200, help="steps per block")
    ap.add_argument("--repeats", type=int, default=5, help="timed emulator repeats")
    a = ap.parse_args()
    reason = lava_unavailable_reason()
    if reason:
        raise SystemExit(f"cannot benchmark against Lava: {reason}")
    qnet, num = network(), load_profile("loihi2").numerics
    steps = 1 + a.blocks * a.block
    x = np.random.default_rng(1).random((1, steps, 100)) < 0.05

    emu_ms = []
    for _ in range(a.repeats + 1):
        t0 = time.perf_counter()
        emu = run(qnet, num, {"in": x}, steps, engine="compiled")
        emu_ms.append((time.perf_counter() - t0) * 1e3 / steps)
    emu_ms = emu_ms[1:]  # first run prepares the network and loads (or compiles) the kernel
    t0 = time.perf_counter()
    ref = run(qnet, num, {"in": x}, steps, engine="reference")
    ref_ms = (time.perf_counter() - t0) * 1e3 / steps
    for pop in qnet.populations:
        if np.count_nonzero(ref.spikes[pop.name] != emu.spikes[pop.name]):
            raise SystemExit(f"the compiled and reference engines disagree on {pop.name}")

    blocks = (1,) + (a.block,) * a.blocks
    jobs = [
        LavaJob(qnet, {"in": x}, steps, record=True, blocks=blocks),
        LavaJob(qnet, {"in": x}, steps, record=False, blocks=blocks),
    ]
    (lava_rec, _), timings = run_lava(jobs)
    for pop in qnet.populations:
        diff = int(np.count_nonzero(lava_rec.spikes[pop.name] != emu.spikes[pop.name]))
        if diff:
            raise SystemExit(f"emulator and Lava disagree on {diff} spikes of {pop.name}")
    counts = [int(emu.spikes[p.name].sum()) for p in qnet.populations]

    def steady(t):
        return statistics.median(b * 1e3 / a.block for b in t["blocks_s"][1:])

    lava_sinks, lava_nosinks = steady(timings[0]), steady(timings[1])
    emu_med = statistics.median(emu_ms)
    print(f"100-200-10 LIF network, {steps} steps, spikes per layer {counts} (identical in both)")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"{'':38}{'ms/step':>10}")
    print(f"{'snn-deploy emulator, compiled (batch 1)':38}{emu_med:>10.4f}")
    print(f"{'snn-deploy emulator, reference engine':38}{ref_ms:>10.4f}")
    print(f"{'Lava 0.10.0 fixed_pt, with sinks':38}{lava_sinks:>10.3f}")
    print(f"{'Lava 0.10.0 fixed_pt, no sinks':38}{lava_nosinks:>10.3f}")
    print(f"{'Lava compile + first step (s)':38}{timings[1]['blocks_s'][0]:>10.2f}")
    print(
        f"ratio Lava(no sinks) / emulator: {lava_nosinks / emu_med:.1f}x; "
        f"Lava(with sinks) / emulator: {lava_sinks / emu_med:.1f}x"
    )


if __name__ == "__main__":
    main()
