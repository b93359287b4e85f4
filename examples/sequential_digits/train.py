"""Pixel-by-pixel digits (T = 64) with a recurrent LTC network: BPTT against FPTT.

    python examples/sequential_digits/train.py             # BPTT and FPTT, seeds 0..4
    python examples/sequential_digits/train.py --jobs 2    # two runs at a time
    python examples/sequential_digits/train.py --seeds 0 --algorithms fptt --out m.pt
    python examples/sequential_digits/train.py --validation    # choose settings: 80/20 of train

For every seed, both algorithms start from the same network (same initial weights) and see the
same batches in the same order; the script prints each run's float test accuracy on the 360
held-out digits, the mean over seeds per algorithm, and the mean difference BPTT - FPTT. With
``--validation`` it trains on 80 % of the training split and scores the other 20 % instead
(the test digits are not used): settings are chosen that way.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import multiprocessing
import statistics
import sys

import torch

from snn_deploy.errors import SnnDeployError
from snn_deploy.train.recipes import SEQUENTIAL_DEFAULTS, train_sequential_digits


def run_one(kwargs: dict, threads: int, quiet: bool) -> dict:
    """One training run (in a worker process when ``--jobs`` > 1)."""
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return train_sequential_digits(**kwargs)
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--algorithms", default="bptt,fptt", help="comma-separated: bptt, tbptt, fptt"
    )
    parser.add_argument("--mode", default="pixel", choices=["pixel", "row"])
    parser.add_argument(
        "--chunk-steps",
        type=int,
        default=SEQUENTIAL_DEFAULTS["chunk_steps"],
        help="TBPTT/FPTT chunk length",
    )
    parser.add_argument("--fptt-alpha", type=float, default=SEQUENTIAL_DEFAULTS["fptt_alpha"])
    parser.add_argument(
        "--oracle-weight",
        type=float,
        default=SEQUENTIAL_DEFAULTS["oracle_weight"],
        help="weight of the oracle term for TBPTT/FPTT (0: off)",
    )
    parser.add_argument("--epochs", type=int, default=SEQUENTIAL_DEFAULTS["epochs"])
    parser.add_argument("--hidden", type=int, default=SEQUENTIAL_DEFAULTS["hidden"])
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per run (default 1: as fast as 2 for this small network)",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs in parallel processes (each with --threads)"
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="train on 80 %% of the training split, report accuracy on the other 20 %%",
    )
    parser.add_argument("--out", help="checkpoint path (.pt) for the last run's model")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    algorithms = args.algorithms.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = []
    for seed in seeds:
        for k, algorithm in enumerate(algorithms):
            last = seed == seeds[-1] and k == len(algorithms) - 1
            kwargs = dict(
                out_path=args.out if last else None,
                mode=args.mode,
                algorithm=algorithm,
                chunk_steps=None if algorithm == "bptt" else args.chunk_steps,
                hidden=args.hidden,
                epochs=args.epochs,
                seed=seed,
                fptt_alpha=args.fptt_alpha,
                oracle_weight=args.oracle_weight,
                validation=args.validation,
            )
            jobs.append((algorithm, kwargs))
    runs: dict[str, list[dict]] = {a: [] for a in algorithms}
    try:
        if args.jobs > 1:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
                futures = [pool.submit(run_one, kw, args.threads, args.quiet) for _, kw in jobs]
                summaries = [f.result() for f in futures]
        else:
            summaries = [run_one(kw, args.threads, args.quiet) for _, kw in jobs]
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    for (algorithm, _), summary in zip(jobs, summaries, strict=True):
        runs[algorithm].append(summary)
    results = {}
    for algorithm, mine in runs.items():
        accs = [s["float_test_accuracy"] for s in mine]
        results[algorithm] = {
            "float_test_accuracy": statistics.mean(accs),
            "evaluated_on": mine[0]["evaluated_on"],
            "per_seed": dict(zip(map(str, seeds), accs, strict=True)),
            "train_accuracy": statistics.mean(s["train_accuracy"] for s in mine),
            "seconds": sum(s["seconds"] for s in mine),
            "chunk_steps": mine[0]["chunk_steps"],
            "fptt_alpha": args.fptt_alpha if algorithm == "fptt" else None,
            "oracle_weight": mine[0]["oracle_weight"],
            "path": next((s["path"] for s in mine if s["path"]), None),
        }
    print(json.dumps(results, indent=2))
    if "bptt" in results and "fptt" in results:
        gaps = [
            100 * (b["float_test_accuracy"] - f["float_test_accuracy"])
            for b, f in zip(runs["bptt"], runs["fptt"], strict=True)
        ]
        print(
            f"BPTT - FPTT: {statistics.mean(gaps):+.2f} points (mean over seeds {args.seeds}; "
            f"per seed {', '.join(f'{g:+.2f}' for g in gaps)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
