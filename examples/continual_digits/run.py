"""Continual learning on the chip: learn digits 5-9 on a network compiled after training on 0-4.

    python examples/continual_digits/run.py --out build/continual_digits [--lava-samples 2]

Trains a spiking MLP offline on digits 0-4 (BPTT), compiles it for Loihi 2 with a plastic
readout (``--plastic output=readout_delta,...``: the three-factor delta rule, the label as third
factor), lets the compiled network learn digits 5-9 online in the emulator's learning engine
from 10 examples each (with 3 rehearsed examples of each old digit), and reports the accuracy
on the new and the old digits, the learning curve and the float reference of the same
adaptation. Writes ``continual.json`` and ``continual.md`` next to the artifact folders
``compiled/`` and ``learned/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from snn_deploy.errors import SnnDeployError
from snn_deploy.learning.continual import ContinualConfig, continual_digits_demo


def render(r: dict) -> str:
    c = r["config"]
    lines = [
        "# Continual digits: learning new classes on the chip",
        "",
        f"Offline BPTT on digits {c['old_classes']}, compiled for Loihi 2 with "
        f"`--plastic {c['plastic']}`; then {c['shots']} examples of each of {c['new_classes']} "
        f"and {c['rehearsal']} of each old digit ({r['stream_samples']} samples), "
        f"{c['epochs']} passes, learned online in the emulator ({c['engine']} engine).",
        "",
        "| test accuracy | before | after (on chip) | float reference after |",
        "|---|---|---|---|",
        f"| new digits {c['new_classes']} | {r['new_classes']['before']:.3f} | "
        f"{r['new_classes']['after']:.3f} | {r['float_reference']['new_after']:.3f} |",
        f"| old digits {c['old_classes']} | {r['old_classes']['before']:.3f} | "
        f"{r['old_classes']['after']:.3f} | {r['float_reference']['old_after']:.3f} |",
        "",
        f"On-chip / float reference on the new digits: {r['ratio_new_chip_to_float']:.3f} "
        f"(bar 0.85); old digits after / before: {r['ratio_old_after_to_before']:.3f} (bar 0.8).",
        "",
        "Learning curve (test accuracy on the new digits after each pass): "
        + ", ".join(f"{p['test_accuracy']:.3f}" for p in r["curve"]),
        "",
    ]
    if r.get("lava"):
        lv = r["lava"]
        lines += [
            f"Lava 0.10.0 agreed with the emulator on every spike and every weight of "
            f"{lv['steps']} steps ({lv['samples']} samples).",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/continual_digits", help="output folder")
    parser.add_argument("--shots", type=int, help="examples per new digit (default 10)")
    parser.add_argument("--epochs", type=int, help="passes over the stream (default 10)")
    parser.add_argument("--lava-samples", type=int, default=0, help="samples re-run in Lava")
    parser.add_argument("--engine", choices=("compiled", "reference"), default="compiled")
    args = parser.parse_args(argv)
    cfg = ContinualConfig(engine=args.engine, lava_samples=args.lava_samples)
    if args.shots:
        cfg = dataclasses.replace(cfg, shots=args.shots)
    if args.epochs:
        cfg = dataclasses.replace(cfg, epochs=args.epochs)
    out = Path(args.out)
    try:
        r = continual_digits_demo(out, cfg, log=print)
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    (out / "continual.json").write_text(json.dumps(r, indent=2) + "\n")
    (out / "continual.md").write_text(render(r))
    print(render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
