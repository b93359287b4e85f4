"""Pixel-by-pixel digits (T = 64) with a recurrent LTC network: BPTT against FPTT.

    python examples/sequential_digits/train.py                       # BPTT, then FPTT
    python examples/sequential_digits/train.py --algorithms fptt --chunk-steps 16 --out m.pt

Both algorithms start from the same network (same seed) and see the same batches; the script
prints each one's float test accuracy on the 360 held-out digits and the difference.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from snn_deploy.errors import SnnDeployError
from snn_deploy.train.recipes import SEQUENTIAL_DEFAULTS, train_sequential_digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--algorithms", default="bptt,fptt", help="comma-separated: bptt, tbptt, fptt"
    )
    parser.add_argument("--mode", default="pixel", choices=["pixel", "row"])
    parser.add_argument("--chunk-steps", type=int, default=32, help="TBPTT/FPTT chunk length")
    parser.add_argument("--epochs", type=int, default=SEQUENTIAL_DEFAULTS["epochs"])
    parser.add_argument("--hidden", type=int, default=SEQUENTIAL_DEFAULTS["hidden"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="checkpoint path (.pt) for the last algorithm's model")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    algorithms = args.algorithms.split(",")
    results = {}
    try:
        for k, algorithm in enumerate(algorithms):
            summary = train_sequential_digits(
                args.out if k == len(algorithms) - 1 else None,
                mode=args.mode,
                algorithm=algorithm,
                chunk_steps=None if algorithm == "bptt" else args.chunk_steps,
                hidden=args.hidden,
                epochs=args.epochs,
                seed=args.seed,
            )
            results[algorithm] = {
                k: summary[k]
                for k in ("float_test_accuracy", "train_accuracy", "seconds", "chunk_steps", "path")
            }
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(results, indent=2))
    if "bptt" in results and "fptt" in results:
        gap = results["bptt"]["float_test_accuracy"] - results["fptt"]["float_test_accuracy"]
        print(f"BPTT - FPTT: {100 * gap:+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
