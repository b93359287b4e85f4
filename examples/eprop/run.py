"""On-chip e-prop on random manifolds, against BPTT in float on the same network and task.

    python examples/eprop/run.py --out eprop-out        # full setting (minutes)

Network: 20 input spike trains -> 64 LIF neurons (plastic, e-prop, snn_deploy.learning.library.
eprop_lif) -> 4 leaky readout neurons (plastic, delta rule; the readout neurons compute their
error from the label delivered to their third-factor input) with fixed random feedback from the
readout errors into the hidden neurons' third-factor input. Everything runs in the emulator's
fixed-point learning engine (bit-exact with Lava's LearningDense and the emitted neuron
models), online, one sample after the other, from random weights. The same network, from the
same initial weights, is then trained in float with BPTT. Writes learning.json, learning.md
(both learning curves, the ratio, the program listings), learning_curve.svg and learning/.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from snn_deploy.errors import SnnDeployError
from snn_deploy.learning.demos import (
    EpropConfig,
    bptt_baseline,
    eprop_demo,
    eprop_network,
    write_demo_report,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="eprop-out", help="report folder")
    parser.add_argument("--epochs", type=int, default=EpropConfig.epochs, help="on-chip epochs")
    parser.add_argument("--bptt-epochs", type=int, default=40)
    parser.add_argument(
        "--samples-per-class", type=int, default=EpropConfig.samples_per_class, help="task size"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--engine",
        choices=("compiled", "reference"),
        default="compiled",
        help="emulation engine: compiled (numba, default) or reference (numpy); same integers",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = dataclasses.replace(
        EpropConfig(), epochs=args.epochs, seed=args.seed, samples_per_class=args.samples_per_class
    )
    try:
        onchip = eprop_demo(cfg, log=logging.info, engine=args.engine)
        bptt = bptt_baseline(cfg, epochs=args.bptt_epochs, log=logging.info)
        ratio = onchip["final_test_accuracy"] / bptt["final_test_accuracy"]
        result = {"onchip": onchip, "bptt": bptt, "ratio_final": ratio}
        summary = [
            f"Task: random manifolds, {cfg.num_classes} classes, {cfg.num_units} inputs, "
            f"{cfg.num_steps} steps, {cfg.samples_per_class} samples per class (20 % test).",
            f"On-chip e-prop (fixed point, emulated), final test accuracy after {cfg.epochs} "
            f"epochs: {onchip['final_test_accuracy']:.3f} (from "
            f"{onchip['curve'][0]['test_accuracy']:.3f} with the random initial weights); "
            f"{onchip['seconds']:.0f} s ({args.engine} engine).",
            f"BPTT in float, same network and initial weights, after {bptt['epochs']} epochs: "
            f"{bptt['final_test_accuracy']:.3f}; {bptt['seconds']:.0f} s.",
            f"Ratio on-chip / BPTT: {ratio:.3f} (bar: 0.85).",
        ]
        n = max(len(onchip["curve"]), len(bptt["curve"]) + 1)
        table = [
            {
                "epoch": e,
                "on-chip test": onchip["curve"][e]["test_accuracy"]
                if e < len(onchip["curve"])
                else None,
                "on-chip train (online)": onchip["curve"][e]["train_accuracy"]
                if e < len(onchip["curve"])
                else None,
                "BPTT test": bptt["curve"][e - 1]["test_accuracy"]
                if 0 < e <= len(bptt["curve"])
                else None,
            }
            for e in range(n)
        ]
        net = eprop_network(cfg)
        listings = {
            "hidden_eprop": (net.connection("w_in").rule, net.populations[0].program),
            "readout_delta": (net.connection("w_out").rule, net.populations[1].program),
        }
        write_demo_report(
            args.out,
            "On-chip e-prop vs BPTT (float) on random manifolds",
            summary,
            table,
            {
                "on-chip e-prop (test)": [
                    (c["epoch"], c["test_accuracy"]) for c in onchip["curve"]
                ],
                "BPTT float (test)": [(c["epoch"], c["test_accuracy"]) for c in bptt["curve"]],
            },
            result,
            listings,
        )
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(summary))
    print(f"report: {args.out}/learning.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
