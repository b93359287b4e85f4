"""Seconds per on-chip e-prop epoch: the compiled plastic-network engine vs the numpy reference,
measured side by side in one run, on the network and task of examples/eprop/run.py.

Network (learning/demos.py: eprop_network): 20 inputs -> 64 LIF hidden neurons (e-prop LIF,
plastic) -> 4 readout neurons (centred delta rule, error neurons, bias synapse), feedback from
the error neurons' aux; every plastic connection learns every step (t_epoch 1). One epoch is
--samples training samples of 36 steps, presented online as in eprop_demo. Both engines start
from the same network; the weights, tags and traces of every plastic connection are checked to
be identical integers after every epoch. The compiled engine's first call (compilation, or
loading it from numba's cache) is timed separately and not included in its figure.

usage: .venv/bin/python benchmarks/plastic_engine.py [--epochs 2] [--samples 320]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from snn_deploy.backends.emulator.learning import RECORDED, plastic_emulator
from snn_deploy.learning.demos import EpropConfig, _stream, eprop_network, eprop_task
from snn_deploy.profiles import load_profile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=320, help="training samples per epoch")
    args = parser.parse_args(argv)
    profile = load_profile("loihi2")
    cfg = EpropConfig()
    net = eprop_network(cfg)
    data = eprop_task(cfg)
    rng = np.random.default_rng(0)
    engines = {e: plastic_emulator(net, profile, engine=e) for e in ("compiled", "reference")}
    t0 = time.perf_counter()
    engines["compiled"].run({}, num_steps=1)
    first_call = time.perf_counter() - t0
    engines["reference"].run({}, num_steps=1)
    seconds = {e: 0.0 for e in engines}
    steps = 0
    for _ in range(args.epochs):
        order = rng.permutation(len(data.y_train))[: args.samples]
        stream = _stream(cfg, data.x_train[order], data.y_train[order])
        steps += len(stream["in"])
        for name, emu in engines.items():
            t0 = time.perf_counter()
            emu.run(stream, record_voltage=("out",), record_spikes=("hid",))
            seconds[name] += time.perf_counter() - t0
        for c in net.plastic():
            a = engines["compiled"].plastic_state(c.name)
            b = engines["reference"].plastic_state(c.name)
            for q in RECORDED:
                if not np.array_equal(a[q], b[q]):
                    raise SystemExit(f"error: {c.name} {q} differ between the engines")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"e-prop network, {args.epochs} epochs x {args.samples} samples = {steps} steps")
    print(f"compiled first call (compile or load from cache): {first_call:.2f} s")
    for name, s in seconds.items():
        print(f"{name:>9s}: {s:8.2f} s  {s / steps * 1e6:9.1f} us/step")
    print(f"ratio reference / compiled: {seconds['reference'] / seconds['compiled']:.1f}x")
    print("weights, tags and traces identical after every epoch: yes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
