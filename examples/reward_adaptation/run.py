"""R-STDP on a compiled network: adapt the readout to a drifted sensor from a reward alone.

    python examples/reward_adaptation/run.py --out build/reward_adaptation [--lava-samples 2]

Trains (or takes, ``--model``) a spiking MLP on digits 0-4, compiles it for Loihi 2 with an
R-STDP readout (``--plastic output=r_stdp,...``: STDP pairings in the tag, a reward delivered to
the answering output neuron's third-factor input turns them into weight changes), feeds it
through a drifted sensor (``--drift sensitivity``: 90% of the input spikes lost; ``shift``:
every image one pixel to the right) and lets the compiled network learn online from
right/wrong rewards. Writes ``reward_adaptation.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from snn_deploy.errors import SnnDeployError
from snn_deploy.learning.continual import reward_adaptation_demo, train_old_classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="build/reward_adaptation", help="output folder")
    parser.add_argument("--model", help="a digits 0-4 checkpoint (default: train one)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--drift", choices=("sensitivity", "shift"), default="sensitivity")
    parser.add_argument("--lava-samples", type=int, default=0, help="samples re-run in Lava")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        model = Path(args.model) if args.model else out / "old_classes.pt"
        if not args.model:
            train_old_classes(model)
        r = reward_adaptation_demo(
            out,
            model,
            epochs=args.epochs,
            drift=args.drift,
            lava_samples=args.lava_samples,
            log=print,
        )
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    (out / "reward_adaptation.json").write_text(json.dumps(r, indent=2) + "\n")
    print(
        f"clean digits {r['clean_accuracy']:.3f}; drifted {r['drifted_before']:.3f} -> "
        f"{r['drifted_after']:.3f} after {r['samples']} x {r['epochs']} rewarded samples"
    )
    if r["lava"]:
        print(f"Lava agreed on every spike and weight of {r['lava']['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
