"""Peak memory of BPTT and FPTT training steps as the sequence grows (T = 100, 400, 1000).

Same network for both: 700 inputs -> 256 LIF -> 20 LI readout, batch 64, Bernoulli(0.05) input
spikes, cross-entropy on the readout's last voltage, Adam (lr 1e-3). BPTT: one update per
sequence. FPTT: chunks of ``--chunk-steps`` steps (default 10, so K = T / 10 updates per
sequence), the paper-form regularizer, gradient clipping at 1.

Every (algorithm, T) runs in a fresh process, so that its peak resident set size is its own.
Two figures per run:

- ``peak dRSS``: peak RSS during the training steps minus the RSS just before the first one
  (the kernel's peak mark is reset there through ``/proc/self/clear_refs``; the input tensor,
  T x 64 x 700 float32, is allocated before and so excluded, as in training.md section 4.3).
  Each run gets ``MALLOC_MMAP_THRESHOLD_=131072`` (unless ``--glibc-default``): glibc then
  serves blocks of 128 KiB and more with ``mmap`` and returns them to the system on ``free``,
  so the RSS follows the memory in use. With glibc's default (a threshold that adapts upwards)
  freed activation buffers stay in the heap and the peak varies from run to run by a few MB
  (FPTT T = 100 -> 1000 measured +5 % to +15 % over four runs, docs/training.md);
- ``graph``: bytes of the tensors autograd saves for one backward pass (BPTT: the whole
  sequence; FPTT: one chunk), counted by ``torch.autograd.graph.saved_tensors_hooks``
  (distinct storages): the activation memory that BPTT needs in proportion to T.

    python benchmarks/fptt_memory.py [--Ts 100,400,1000] [--chunk-steps 10] [--iters 2]
                                     [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 64
MMAP_ENV, MMAP_THRESHOLD_BYTES = "MALLOC_MMAP_THRESHOLD_", 131072


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(mode: str, steps: int, chunk_steps: int, iters: int, threads: int) -> dict:
    import torch

    from snn_deploy.train import LI, LIF, SpikingNetwork
    from snn_deploy.train.algorithms import FPTT, bptt_step, chunked_step
    from snn_deploy.train.losses import get_readout

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = SpikingNetwork(
        [
            # The event-driven input projection, as when the figures in docs/training.md were
            # taken: "auto" would time both projections in the first step (a peak of its own),
            # and the dense one saves a view of the whole input, which the graph count would
            # charge to every chunk.
            LIF(N_IN, N_HID, beta=0.9, reset="subtract", surrogate_scale=25.0, event_input=True),
            LI(N_HID, N_OUT, beta=0.95),
        ]
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    fptt = FPTT(net.parameters()) if mode == "fptt" else None
    readout = get_readout("last_membrane")
    x = (torch.rand(steps, BATCH, N_IN) < 0.05).float()
    y = torch.randint(0, N_OUT, (BATCH,))

    graph = {"now": 0, "peak": 0, "seen": set()}

    def pack(t):
        key = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes())
        if key not in graph["seen"]:
            graph["seen"].add(key)
            graph["now"] += key[1]
        return t

    # Every optimizer step follows one backward pass: what was saved since the last step is
    # that pass's graph.
    step_fn = opt.step

    def counted_step(*args, **kwargs):
        graph["peak"] = max(graph["peak"], graph["now"])
        graph["now"], graph["seen"] = 0, set()
        return step_fn(*args, **kwargs)

    opt.step = counted_step

    def step():
        if mode == "bptt":
            bptt_step(net, opt, x, y, readout)
        else:
            chunked_step(net, opt, x, y, readout, chunk_steps, fptt=fptt, clip_grad=1.0)

    exact = reset_peak_rss()
    rss_before = _status_mb("VmRSS")
    times = []
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        for _ in range(iters):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    peak = (
        _status_mb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "mode": mode,
        "T": steps,
        "chunk_steps": chunk_steps if mode == "fptt" else None,
        "peak_delta_rss_mb": round(peak - rss_before, 1),
        "graph_mb": round(graph["peak"] / 2**20, 2),
        "seconds_per_sequence": round(statistics.median(times), 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--Ts", default="100,400,1000")
    ap.add_argument("--chunk-steps", type=int, default=10)
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads in each run")
    ap.add_argument(
        "--glibc-default",
        action="store_true",
        help=f"keep glibc's default allocator settings (no {MMAP_ENV}={MMAP_THRESHOLD_BYTES})",
    )
    ap.add_argument("--child", nargs=2, metavar=("MODE", "T"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.chunk_steps, a.iters, a.threads)))
        return 0
    steps = [int(t) for t in a.Ts.split(",")]
    env = dict(os.environ)
    if not a.glibc_default:
        env.setdefault(MMAP_ENV, str(MMAP_THRESHOLD_BYTES))
    rows = []
    for mode in ("bptt", "fptt"):
        for t in steps:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                mode,
                str(t),
                "--chunk-steps",
                str(a.chunk_steps),
                "--iters",
                str(a.iters),
                "--threads",
                str(a.threads),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            r = rows[-1]
            print(
                f"{mode:<5} T = {t:>5}: peak dRSS {r['peak_delta_rss_mb']:>7.1f} MB, "
                f"graph {r['graph_mb']:>7.2f} MB, {r['seconds_per_sequence']:.2f} s per sequence",
                flush=True,
            )
    print()
    for mode in ("bptt", "fptt"):
        mine = [r for r in rows if r["mode"] == mode]
        first, last = mine[0], mine[-1]
        for key, label in (("peak_delta_rss_mb", "peak dRSS"), ("graph_mb", "graph")):
            growth = 100.0 * (last[key] - first[key]) / first[key] if first[key] else float("nan")
            print(
                f"{mode}: {label} T = {first['T']} -> {last['T']}: {first[key]} -> {last[key]} MB "
                f"({growth:+.1f} %)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
