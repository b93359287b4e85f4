"""R-STDP demo: a network learns from reward which input pattern each output neuron answers.

    python examples/rstdp/run.py --out rstdp-out          # 200 trials, about 6 s

Two input patterns (each a different half of 20 Poisson inputs), two output neurons with
plastic synapses under reward-modulated STDP (snn_deploy.learning.library.r_stdp), run in the
emulator's fixed-point learning engine (bit-exact with Lava's LearningDense). After every trial
the neuron that answered (fired more) receives +reward if it is the one assigned to the pattern
and -reward otherwise, as a graded third factor. Writes learning.json, learning.md (learning
curve per block of trials, program listings) and learning/ (listings, rules.json, Lava module).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

from snn_deploy.errors import SnnDeployError
from snn_deploy.learning.demos import RstdpConfig, rstdp_demo, rstdp_network, write_demo_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="rstdp-out", help="report folder")
    parser.add_argument("--trials", type=int, default=RstdpConfig.trials)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--engine",
        choices=("compiled", "reference"),
        default="compiled",
        help="emulation engine: compiled (numba, default) or reference (numpy); same integers",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = dataclasses.replace(RstdpConfig(), trials=args.trials, seed=args.seed)
    try:
        result = rstdp_demo(cfg, log=logging.info, engine=args.engine)
        _, lib = rstdp_network(cfg)
        summary = [
            f"Accuracy in the first block of {cfg.block} trials: "
            f"{result['first_block_accuracy']:.2f}; in the last: "
            f"{result['last_block_accuracy']:.2f} (chance 0.5).",
            f"Mean final weight, pattern -> its assigned neuron: "
            f"{result['mean_weight_assigned']:.1f}; -> the other neuron: "
            f"{result['mean_weight_other']:.1f} (initial {cfg.w_init[0]}..{cfg.w_init[1]}).",
            f"Emulated in {result['seconds']:.1f} s ({args.engine} engine).",
        ]
        curve = result["curve"]
        write_demo_report(
            args.out,
            "R-STDP: learning from reward which pattern to answer",
            summary,
            curve,
            {"accuracy per block": [(c["trials"], c["accuracy"]) for c in curve]},
            result,
            {"r_stdp": (lib.rule, lib.neuron)},
            xlabel="trials",
        )
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print("\n".join(summary))
    print(f"report: {args.out}/learning.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
