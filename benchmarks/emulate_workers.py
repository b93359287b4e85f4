"""Samples per second of ``emulate --workers 2`` against ``--workers 1`` (and against one
process without Dask), on the digits test set repeated to at least --samples samples, measured
side by side in one run; and the cost of starting and stopping the embedded local cluster.

Each Dask run's wall time includes starting its cluster and warming up its workers (imports,
artifact, data and compiled kernels loaded once per worker process), as the CLI does; the
warm-up is printed, and the figure without start and warm-up is the sharded run alone. The three
are run side by side --repeat times (with the load average after each round: the machine may be
shared); the summaries are checked to be identical (timings aside).

usage: .venv/bin/python benchmarks/emulate_workers.py [--samples 10000] [--artifact FOLDER]
       [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from snn_deploy import api
from snn_deploy.data.loader import load_inputs
from snn_deploy.scaleout.cluster import connect


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--artifact", help="a compiled digits artifact folder (default: train one)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the three side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="snn-bench-") as tmp:
        tmp = Path(tmp)
        art = args.artifact
        if art is None:
            api.train_digits(tmp / "model.pt", epochs=5)
            api.compile(tmp / "model.pt", "loihi2", tmp / "art")
            art = tmp / "art"
        manifest, _, net, _ = api.load_artifacts(art)
        inputs, y, _ = load_inputs("digits", net, manifest.get("data"), "test", None)
        x = next(iter(inputs.values()))
        reps = -(-args.samples // len(x))
        data = tmp / "digits-repeated.npz"
        np.savez(data, x=np.concatenate([x] * reps), y=np.concatenate([y] * reps))
        n = len(x) * reps
        load = os.getloadavg()[0]
        print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load "
              f"average {load:.2f} at the start; digits test set x{reps} = {n:,} "
              "samples")  # fmt: skip

        for workers in (2, 1):
            t0 = time.perf_counter()
            with connect(workers=workers) as client:
                client.wait_for_workers(workers, timeout=120)
                started = time.perf_counter() - t0
            print(f"local cluster of {workers} worker(s): start {started:.2f} s, start and stop "
                  f"{time.perf_counter() - t0:.2f} s")  # fmt: skip

        records, ratios = {}, []
        for rep in range(args.repeat):
            rates, runs = {}, {}
            for label, kwargs in (
                ("one process (no Dask)", {}),
                ("--workers 1", {"workers": 1}),
                ("--workers 2", {"workers": 2}),
            ):
                t0 = time.perf_counter()
                summary = api.emulate(art, str(data), save=False, **kwargs)
                wall = time.perf_counter() - t0
                rec = summary.record()
                seconds = rec.pop("seconds")
                records[label] = json.dumps(rec, sort_keys=True)
                rates[label] = n / wall
                run = seconds.get("sharded run (wall)")
                runs[label] = n / run if run else None
                extra = ""
                if run:
                    warm = seconds["worker warm-up (wall)"]
                    extra = f"; warm-up {warm:.2f} s; sharded run alone {n / run:,.0f} samples/s"
                print(f"{label:24} {wall:7.2f} s  {n / wall:8,.0f} samples/s (with start){extra}")
            ratio = rates["--workers 2"] / rates["--workers 1"]
            alone = runs["--workers 2"] / runs["--workers 1"]
            ratios.append((ratio, alone))
            print(f"run {rep + 1}: --workers 2 / --workers 1: {ratio:.2f}x samples/s with the "
                  f"cluster's start and warm-up, {alone:.2f}x the sharded run alone "
                  f"(load average {os.getloadavg()[0]:.2f})")  # fmt: skip
        same = len(set(records.values())) == 1
        print(f"summaries identical (timings aside): {same}")
        if args.repeat > 1:
            print(
                f"median of {args.repeat} runs: "
                f"{statistics.median(r[0] for r in ratios):.2f}x with start and warm-up, "
                f"{statistics.median(r[1] for r in ratios):.2f}x the sharded run alone"
            )
        if not same:
            raise SystemExit("error: the summaries differ")


if __name__ == "__main__":
    main()
