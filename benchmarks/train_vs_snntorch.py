"""Training speed on CPU: snn-deploy against snnTorch 1.0.0, side by side in one run.

Forward + backward (no optimizer step) of a 700 -> 256 -> 20 LIF network, batch 64, T = 100,
fast-sigmoid surrogate of slope 25, beta = 0.9, threshold 1, reset by subtraction, Bernoulli(0.05)
input spikes, loss = cross-entropy of the output spike counts: the setup of
../shared/reference/training.md section 4.3/4.5 (whose snnTorch and plain-PyTorch variants are
reproduced here). Every implementation is timed in the same process, in interleaved rounds, and
the script prints the median per implementation, the ratio snnTorch / snn-deploy, which input
projection snn-deploy chose, and the CPU capability PyTorch dispatches to (set
``ATEN_CPU_CAPABILITY=avx2`` or ``default`` to measure what another x86-64 CPU would get).

    python benchmarks/train_vs_snntorch.py [--T 100] [--iters 20] [--rounds 3] [--threads 2]

Implementations:
  snntorch_loop      snnTorch Leaky, tutorial loop (Linear per step on x[t])  <- the reference
  snntorch_hoisted   snnTorch Leaky, Linear over all T, then unbind
  torch_ref          plain PyTorch: Linear over all T, LIF loop over unbind, autograd
  snn_deploy         snn_deploy.train LIF layers (fused kernel; input projection chosen at run
                     time, event_input="auto": the faster of the two on this CPU, measured once)
  snn_deploy_events  the same with the event-driven input projection forced (event_input=True)
  snn_deploy_dense   the same with the dense input projection forced (event_input=False)
  snn_deploy_autograd  the same layers, plain autograd step loop (impl="autograd")

The networks differ only where the libraries do: snnTorch's ``Leaky`` applies the subtractive
reset one step late (``reset_delay=True``), snn-deploy's LIF in the same step; the work per step
is the same.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 64
BETA, SLOPE = 0.9, 25.0


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward, ``1 / (25 |v| + 1)^2`` backward (training.md section 4.5)."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, g):
        (v,) = ctx.saved_tensors
        return g / (SLOPE * v.abs() + 1.0) ** 2


class TorchRef(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)

    @staticmethod
    def lif_seq(cur):
        v = torch.zeros_like(cur[0])
        out = []
        for c in cur.unbind(0):
            v = BETA * v + c
            s = FastSigmoidSpike.apply(v - 1.0)
            v = v - s
            out.append(s)
        return torch.stack(out)

    def forward(self, x):
        return self.lif_seq(self.fc2(self.lif_seq(self.fc1(x))))


def make_snntorch(hoist: bool) -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    sg = surrogate.fast_sigmoid(slope=SLOPE)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(N_IN, N_HID), nn.Linear(N_HID, N_OUT)
            self.lif1 = snn.Leaky(beta=BETA, spike_grad=sg)
            self.lif2 = snn.Leaky(beta=BETA, spike_grad=sg)

        def forward(self, x):
            mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
            out = []
            if hoist:
                for c1 in self.fc1(x).unbind(0):
                    spk1, mem1 = self.lif1(c1, mem1)
                    spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                    out.append(spk2)
            else:
                for t in range(x.shape[0]):
                    spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
                    spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
                    out.append(spk2)
            return torch.stack(out)

    return Net()


def make_snn_deploy(**layer_kwargs) -> nn.Module:
    from snn_deploy.train import LIF, SpikingNetwork

    common = dict(
        beta=BETA,
        threshold=1.0,
        reset="subtract",
        bias=True,
        surrogate="fast_sigmoid",
        surrogate_scale=SLOPE,
        **layer_kwargs,
    )
    return SpikingNetwork([LIF(N_IN, N_HID, **common), LIF(N_HID, N_OUT, **common)])


BUILDERS = {
    "snntorch_loop": lambda: make_snntorch(hoist=False),
    "snntorch_hoisted": lambda: make_snntorch(hoist=True),
    "torch_ref": TorchRef,
    "snn_deploy": make_snn_deploy,
    "snn_deploy_events": lambda: make_snn_deploy(event_input=True),
    "snn_deploy_dense": lambda: make_snn_deploy(event_input=False),
    "snn_deploy_autograd": lambda: make_snn_deploy(impl="autograd", event_input=False),
}


def time_impl(model: nn.Module, x, y, iters: int, warmup: int) -> list[float]:
    def step():
        model.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x).sum(0), y)
        loss.backward()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def chosen_projection() -> str:
    """Which input projection ``event_input="auto"`` chose for the 700-input layer in training."""
    from snn_deploy.train.kernels import projection_choices

    for key, choice in projection_choices().items():
        if key[1:3] == (N_IN, N_HID) and key[-1]:
            return (
                f"snn_deploy (event_input='auto') chose the {choice.kernel} input projection "
                f"(one-off measurement: events {choice.events_ms:.1f} ms, dense "
                f"{choice.dense_ms:.1f} ms, forward + weight gradient)"
            )
    return "snn_deploy (event_input='auto') measured no choice: the input is not sparse enough"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--impls", default=",".join(BUILDERS), help="comma-separated subset")
    a = ap.parse_args(argv)
    impls = a.impls.split(",")
    for name in impls:
        if name not in BUILDERS:
            print(f"error: unknown implementation {name!r}; known: {', '.join(BUILDERS)}")
            return 2
    try:
        import snntorch
    except ImportError:
        print("error: snntorch is not installed (pip install snntorch==1.0.0)", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = (torch.rand(a.T, BATCH, N_IN) < 0.05).float()
    y = torch.randint(0, N_OUT, (BATCH,))
    models = {}
    for name in impls:
        torch.manual_seed(1)
        models[name] = BUILDERS[name]()
    print(
        f"700 -> 256 -> 20 LIF, batch {BATCH}, T = {a.T}, fast sigmoid (slope 25), forward + "
        f"backward; torch {torch.__version__}, snntorch {snntorch.__version__}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; PyTorch CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()} "
        f"(ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', '<unset>')})"
    )
    medians: dict[str, list[float]] = {n: [] for n in impls}
    best: dict[str, float] = {n: float("inf") for n in impls}
    for r in range(a.rounds):
        for name in impls:
            times = time_impl(models[name], x, y, a.iters, a.warmup)
            medians[name].append(statistics.median(times))
            best[name] = min(best[name], min(times))
        print(
            f"round {r + 1}: "
            + ", ".join(f"{n} {medians[n][-1]:.1f} ms" for n in impls)
            + f" (load {os.getloadavg()[0]:.2f})"
        )
    summary = {n: statistics.median(m) for n, m in medians.items()}
    print()
    print(f"{'implementation':<22}{'median of round medians':>26}{'best iteration':>17}")
    for n in impls:
        print(f"{n:<22}{summary[n]:>23.1f} ms{best[n]:>14.1f} ms")
    if "snntorch_loop" in summary and "snn_deploy" in summary:
        print()
        print(chosen_projection())
        print(
            f"speed-up of snn-deploy over snnTorch (tutorial loop): "
            f"{summary['snntorch_loop'] / summary['snn_deploy']:.2f}x "
            f"({summary['snntorch_loop']:.1f} ms / {summary['snn_deploy']:.1f} ms)"
        )
        for other in ("snntorch_hoisted", "torch_ref", "snn_deploy_events", "snn_deploy_dense"):
            if other in summary:
                print(
                    f"{other} / snn_deploy: {summary[other] / summary['snn_deploy']:.2f}x "
                    f"({summary[other]:.1f} ms)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
