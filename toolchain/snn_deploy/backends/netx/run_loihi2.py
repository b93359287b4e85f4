"""Run network.net (written by `snn-deploy compile --target loihi2`) with lava-dl's netx.

    python run_loihi2.py [network.net] --data spikes.npz [--out out.npz] [--steps N]
                         [--samples N] [--run-config auto|hw|sim]

Needs Python 3.10 with lava-nc 0.10.0 and lava-dl 0.6.0 (`make netx-env` sets up .venv-netx), and
nothing from snn-deploy. ``--data``: an .npz whose ``x`` holds 0/1 spikes of shape (samples, steps,
inputs), as `snn-deploy emulate --data` takes. Each sample runs on a freshly built network (netx
has no state reset between samples) for ``--steps`` steps: by default the data's steps plus one
per layer and per delay step, so that the last input reaches the output layer.

Run configuration: ``hw`` is Loihi2HwCfg (needs Intel's lava-loihi; spikes cross to and from the
chip through lava-loihi's embedded-IO adapters, and only the output layer is recorded); ``sim`` is
Loihi2SimCfg(select_tag="fixed_pt"), Lava's bit-accurate CPU models, recording every layer;
``auto`` picks ``hw`` where lava-loihi is importable.

``--out`` (default spikes_out.npz): ``spikes_<layer>`` (samples, steps, neurons) uint8 per recorded
layer, named after the snn-deploy population when the file says it (else ``layer<i>``), and
``run_config``. `snn-deploy emulate --backend netx` runs this script and compares these spikes with
its emulator's, integer for integer.
"""

import argparse
import os
import sys

import numpy as np


def layer_names(path):
    """Names of the dense layers of ``path``, in order (snn-deploy's population names)."""
    import h5py

    names = []
    with h5py.File(path, "r") as f:
        layers = f["layer"]
        for i in range(len(layers)):
            g = layers[str(i)]
            if g["type"][0].decode() == "input":
                continue
            names.append(str(g.attrs.get("snn_deploy_population", f"layer{i}")))
    return names


def input_size(path):
    """Neurons of the input layer of ``path``."""
    import h5py

    with h5py.File(path, "r") as f:
        return int(np.prod(f["layer"]["0"]["shape"][()]))


def pipeline_steps(path):
    """Steps from an input spike to the output layer: one per Dense, plus its delays."""
    import h5py

    total = 0
    with h5py.File(path, "r") as f:
        layers = f["layer"]
        for i in range(len(layers)):
            g = layers[str(i)]
            if g["type"][0].decode() == "input":
                continue
            total += 1 + (int(np.max(g["delay"][()])) if "delay" in g else 0)
    return total


def lava_loihi_installed():
    from lava.utils import loihi

    return loihi.is_installed()


def run_sample(path, x, steps, hardware):
    """Run one sample ``x`` (steps_in, inputs) for ``steps`` steps; {layer name: (steps, n)}."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    net = netx.hdf5.Network(net_config=path)
    names = layer_names(path)
    data = np.zeros((net.inp.shape[0], steps), dtype=np.int32)
    n = min(steps, x.shape[0])
    data[:, :n] = np.asarray(x[:n]).T
    source = Source(data=data)
    sinks = {}
    if hardware:
        from lava.proc import embedded_io as eio  # part of lava-loihi

        to_chip = eio.spike.PyToNxAdapter(shape=net.inp.shape)
        source.s_out.connect(to_chip.inp)
        to_chip.out.connect(net.inp)
        from_chip = eio.spike.NxToPyAdapter(shape=net.out.shape)
        net.out.connect(from_chip.inp)
        sinks[names[-1]] = Sink(shape=net.out.shape, buffer=steps)
        from_chip.out.connect(sinks[names[-1]].a_in)
        cfg = Loihi2HwCfg()
    else:
        source.s_out.connect(net.inp)
        for name, block in zip(names, net.layers, strict=True):
            sinks[name] = Sink(shape=block.out.shape, buffer=steps)
            block.out.connect(sinks[name].a_in)
        cfg = Loihi2SimCfg(select_tag="fixed_pt")
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
        # Sink data is read before stop(); it is a float array of exact 0/1 values.
        out = {k: np.asarray(s.data.get()).T.astype(np.uint8) for k, s in sinks.items()}
    finally:
        net.stop()
    return out


def run(path, x, steps=None, run_config="auto"):
    """Run every sample of ``x`` (samples, steps_in, inputs); {layer: (samples, steps, n)}."""
    hardware = run_config == "hw" or (run_config == "auto" and lava_loihi_installed())
    if steps is None:
        steps = x.shape[1] + pipeline_steps(path)
    per_sample = [run_sample(path, xs, steps, hardware) for xs in x]
    out = {k: np.stack([s[k] for s in per_sample]) for k in per_sample[0]}
    return out, ("Loihi2HwCfg" if hardware else "Loihi2SimCfg(select_tag='fixed_pt')")


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("net", nargs="?", default=os.path.join(here, "network.net"))
    ap.add_argument("--data", required=True, help=".npz with x: (samples, steps, inputs) spikes")
    ap.add_argument("--out", default="spikes_out.npz")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None)
    ap.add_argument("--run-config", choices=("auto", "hw", "sim"), default="auto")
    args = ap.parse_args(argv)
    for path in (args.net, args.data):
        if not os.path.isfile(path):
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    with np.load(args.data, allow_pickle=False) as z:
        if "x" not in z.files:
            print(f"error: {args.data} has no array 'x'", file=sys.stderr)
            return 2
        x = z["x"]
    if x.ndim != 3 or not np.isin(x, (0, 1)).all():
        print(
            f"error: {args.data}: x must be 0/1 spikes of shape (samples, steps, inputs)",
            file=sys.stderr,
        )
        return 2
    inputs = input_size(args.net)
    if x.shape[2] != inputs:
        print(
            f"error: {args.data}: x has {x.shape[2]} inputs, {args.net} takes {inputs}",
            file=sys.stderr,
        )
        return 2
    if args.run_config == "hw" and not lava_loihi_installed():
        print(
            "error: --run-config hw needs Intel's lava-loihi, which is not installed here",
            file=sys.stderr,
        )
        return 2
    if args.samples is not None:
        x = x[: args.samples]
    spikes, cfg = run(args.net, x, args.steps, args.run_config)
    arrays = {f"spikes_{k}": v for k, v in spikes.items()}
    arrays["run_config"] = np.array(cfg)
    tmp = args.out + ".part.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, args.out)
    total = sum(int(v.sum()) for v in spikes.values())
    print(f"{len(x)} sample(s) on {cfg}: {total} spikes; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
