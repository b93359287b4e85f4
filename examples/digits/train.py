"""Train a spiking MLP on scikit-learn's digits and write an snn-deploy checkpoint.

    python examples/digits/train.py --out /tmp/model.pt

The checkpoint records the spike encoding, the discretization contract and per-layer
calibration, so it can go straight to the compiler.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from snn_deploy.errors import SnnDeployError
from snn_deploy.train import train_digits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="checkpoint path to write (.pt)")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and batch-order seed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        extra = {} if args.epochs is None else {"epochs": args.epochs}
        summary = train_digits(args.out, seed=args.seed, **extra)
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
