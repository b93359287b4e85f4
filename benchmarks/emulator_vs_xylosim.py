"""ms per time step of a full-size Xylo Audio 2 network (16 inputs, 1000 hidden neurons with 2
synaptic currents, 8 outputs): snn-deploy's compiled Xylo kernel (and its numpy reference, for
context) vs the vendor's simulator xylosim 0.1.3 (in .venv-xylo), measured side by side in one
run, printing the ratio. Both runs are checked to agree on every spike count and recorded state.

Network: weights uniform int8, input 50 % dense, recurrent --density (default 10 %: 200,000
synapses), readout 50 %; shifts 4/0/2; random dashes 1..8; hidden thresholds 20000..32000;
biases; inputs: counts 0..3 at 30 % of channel-steps. xylosim records every state every step (it
cannot be told not to); our kernel is timed recording them too, and without.

usage: .venv/bin/python benchmarks/emulator_vs_xylosim.py [--steps 200] [--samples 4]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from snn_deploy.backends.emulator.compiled.xylo import run_xylo_compiled
from snn_deploy.backends.emulator.xylo import run_xylo_reference
from snn_deploy.backends.xylo.bridge import run_xylosim, verify, xylosim_unavailable_reason
from snn_deploy.backends.xylo.config import XyloConfig
from snn_deploy.profiles import load_profile


def network(density: float, seed: int = 0) -> XyloConfig:
    rng = np.random.default_rng(seed)
    n_in, h, o = 16, 1000, 8

    def w(shape, d):
        return np.where(rng.random(shape) < d, rng.integers(-128, 128, shape), 0)

    return XyloConfig(
        w_in=w((n_in, h, 2), 0.5),
        w_rec=w((h, h, 2), density),
        w_out=w((h, o), 0.5),
        dash_mem=rng.integers(1, 9, h),
        dash_syn=rng.integers(1, 9, (h, 2)),
        threshold=rng.integers(20000, 32000, h),
        bias=rng.integers(-50, 50, h),
        dash_mem_out=rng.integers(1, 9, o),
        dash_syn_out=rng.integers(1, 9, o),
        threshold_out=rng.integers(500, 4000, o),
        bias_out=rng.integers(-50, 50, o),
        shift_in=4,
        shift_rec=0,
        shift_out=2,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    reason = xylosim_unavailable_reason()
    if reason:
        raise SystemExit(f"cannot run the benchmark: {reason}")
    num = load_profile("xylo_audio2").numerics
    cfg = network(args.density)
    rng = np.random.default_rng(1)
    x = (
        rng.integers(0, 4, (args.samples, args.steps, 16))
        * (rng.random((args.samples, args.steps, 16)) < 0.3)
    ).astype(np.uint8)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at start"
    )
    n_syn = int(
        np.count_nonzero(cfg.w_in) + np.count_nonzero(cfg.w_rec) + np.count_nonzero(cfg.w_out)
    )
    print(
        f"network: 16-1000-8, 2 synaptic currents, {n_syn:,} synapses; "
        f"{args.samples} samples x {args.steps} steps"
    )

    theirs, seconds = run_xylosim(cfg, x)
    xylosim_ms = 1e3 * float(np.median(seconds)) / args.steps
    ours = run_xylo_compiled(cfg, num, x, parallel=False)  # compiles once (cached)
    verify(ours, theirs)
    print(
        f"verified: identical spikes ({int(theirs.spikes.sum()):,} hidden, "
        f"{int(theirs.out_spikes.sum()):,} output) and states on every step"
    )

    def timed(fn) -> float:
        runs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(runs) / (args.samples * args.steps)

    rec = timed(lambda: run_xylo_compiled(cfg, num, x, record=True, parallel=False))
    bare = timed(lambda: run_xylo_compiled(cfg, num, x, record=False, parallel=False))
    t0 = time.perf_counter()
    run_xylo_reference(cfg, num, x[:1, : min(args.steps, 50)], record=False)
    ref = 1e3 * (time.perf_counter() - t0) / min(args.steps, 50)
    print(f"xylosim 0.1.3 (C++, one sample per evolve call):  {xylosim_ms:9.4f} ms/step")
    print(f"snn-deploy compiled, recording every state:       {rec:9.4f} ms/step")
    print(f"snn-deploy compiled, spikes only:                 {bare:9.4f} ms/step")
    print(f"snn-deploy numpy reference (context):             {ref:9.4f} ms/step")
    print(
        f"ratio xylosim / compiled: {xylosim_ms / rec:.1f}x recording states, "
        f"{xylosim_ms / bare:.1f}x spikes only (one thread each)"
    )


if __name__ == "__main__":
    main()
