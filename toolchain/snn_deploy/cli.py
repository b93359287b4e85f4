"""Command line: parses arguments, calls :mod:`snn_deploy.api`, prints results and errors.

An :class:`SnnDeployError` is printed as one or a few lines (``error: ...`` and ``hint: ...``)
and the process exits with the error's code; so is an ``OSError`` about a path (exit code 2: a
folder that does not exist, a permission, a full disk). Any other exception is a bug in
snn-deploy: the CLI prints one ``internal error: ...`` line naming the file where it saved the
traceback, and exits with :data:`INTERNAL_ERROR_EXIT`. ``--debug`` or ``SNN_DEPLOY_DEBUG=1``
re-raises it instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from snn_deploy.errors import SnnDeployError

INTERNAL_ERROR_EXIT = 70  # sysexits.h EX_SOFTWARE: an internal software error
DEBUG_ENV = "SNN_DEPLOY_DEBUG"


def _print_learning(report: dict) -> None:
    for layer in report.get("learning", {}).get("layers", []):
        third = layer["third_factor"]
        print(
            f"plastic {layer['projection']} -> {layer['population']}: {layer['rule']} "
            f"({layer['mode']}"
            + (f", {third['signal']} routed {third['source']} -> a3)" if third else ")")
        )
        for target, text in layer["programs"].items():
            print(f"  {target} = {text}")


def _learn(args) -> int:
    from snn_deploy import api

    signal = "reward" if args.reward is not None else "labels"
    result, folder = api.learn(
        args.folder,
        args.data,
        args.out,
        signal=signal,
        epochs=1 if args.stream else args.epochs,
        reward=args.reward if args.reward is not None else 16,
        samples=args.samples,
        test_samples=args.test_samples,
        eval_every=args.eval_every,
        backend=args.backend,
        lava_samples=args.lava_samples,
        seed=args.seed,
    )
    print(
        f"learned online from {result.samples} samples ({signal}): test accuracy "
        f"{result.accuracy_before:.4f} -> {result.accuracy_after:.4f} "
        f"(online {result.online_accuracy:.4f}, {result.seconds:.1f} s)"
    )
    for point in result.curve:
        print(f"  after {point['samples']:>6} samples: {point['test_accuracy']:.4f}")
    if result.lava:
        lv = result.lava
        print(
            f"Lava agrees on every spike and weight of {lv['steps']} steps "
            f"({lv['samples']} samples)"
        )
    print(f"learned network written to {folder}")
    return 0


def _slices(slices: list, groups: dict) -> str:
    """A core's slices; the groups of a split layer as one entry with their count."""
    parts, counts = [], {}
    for s in slices:
        g = groups.get(s["population"])
        if g is None:
            parts.append(f"{s['population']}[{s['start']}:{s['stop']}]")
        else:
            if g["population"] not in counts:
                parts.append(g["population"])
            counts[g["population"]] = counts.get(g["population"], 0) + 1
    return ", ".join(f"{p} ({counts[p]} group slices)" if p in counts else p for p in parts)


def _compile(args) -> int:
    from snn_deploy import api

    report = api.compile(
        args.model,
        args.target,
        args.out,
        profile=args.profile,
        chips=args.chips,
        dt=args.dt,
        reset=args.reset,
        reset_delay=True if args.reset_delay else None,
        convention=args.convention,
        integrator=args.integrator,
        spikes=args.spikes,
        calibrate=args.calibrate,
        steps=args.steps,
        arch=args.arch,
        weight_bits=args.weight_bits,
        calibrate_percentile=args.calibrate_percentile,
        plastic=tuple(args.plastic or ()),
        netx=args.netx,
    ).to_dict()
    _print_learning(report)
    m = report["mapping"]
    folder = args.out or f"build/{report['model']['name'].rsplit('.', 1)[0]}"
    print(
        f"compiled {report['model']['name']} for {report['target']['title']}: "
        f"{report['network']['neurons']:,} neurons, {report['network']['synapses']:,} synapses "
        f"on {m['cores_used']} of {m['cores_available']} cores"
    )
    if report.get("legalization"):
        print(f"  {report['legalization']['summary']} (report.md: Legalization)")
    for p in report["quantization"]["populations"]:
        w = ", ".join(
            f"{x['projection']} exp {x['weight_exp']:+d}, "
            f"rms err {100 * x['rms_error_relative']:.2f}%"
            f", {x['saturated']} saturated, {x['zeroed']} zeroed"
            for x in p["weights"]
        )
        print(
            f"  {p['population']:12} vth {p['threshold_int']:>6} (scale limited by "
            f"{p['limited_by']}); {w}"
        )
    for c in m["cores"][:8]:
        print(
            f"  core {c['core']:3}: {c['neurons']:>5,} / {m['max_neurons_per_core']:,} neurons, "
            f"{c['memory_bits'] // 8:>7,} / {m['memory_bits_per_core'] // 8:,} bytes  "
            + _slices(c["slices"], m.get("groups", {}))
        )
    if len(m["cores"]) > 8:
        print(f"  ... {len(m['cores']) - 8} more cores (see report.md)")
    for n in report["limits"]["not_checked"]:
        print(f"  not checked: {n}")
    standard = ("report.html", "report.md", "report.json", "network.npz", "mapping.json")
    extra = [a for a in report.get("artifacts", []) if a not in (*standard, "graph.nir")]
    extra = [a for a in extra if a != "manifest.json"]
    print(f"artifacts: {folder}/ ({', '.join((*standard, 'graph.nir', *extra))})")
    netx = report.get("netx")
    if netx and not netx["written"]:
        print(f"netx export (network.net, run_loihi2.py) not written: {netx['reason']}")
    return 0


def _emulate(args) -> int:
    from snn_deploy import api

    if args.json:
        _check_json_path(args.json)
    summary = api.emulate(
        args.folder,
        data=args.data,
        backend=args.backend,
        samples=args.samples,
        save=not args.no_save,
        readout=args.readout,
        engine=args.engine,
        workers=args.workers,
        cluster=args.cluster,
        shards=args.shards,
        progress=_bars(args),
    )
    print(summary.format())
    if args.json:
        from pathlib import Path

        tmp = Path(args.json + ".part")
        tmp.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
        tmp.replace(args.json)
    return 0


def _sweep(args) -> int:
    from snn_deploy.scaleout.sweep import sweep

    result = sweep(
        args.model,
        args.data,
        args.out,
        targets=_csv(args.targets, str, "--targets"),
        weight_bits=_csv(args.weight_bits, int, "--weight-bits"),
        percentiles=_csv(args.percentiles, float, "--percentiles"),
        seeds=_csv(args.seeds, int, "--seeds"),
        samples=args.samples,
        workers=args.workers,
        cluster=args.cluster,
        progress=_bars(args),
    )
    for r in result["variants"]:
        if r["status"] == "ok":
            acc = r["int_accuracy"]
            what = f"integer accuracy {100 * acc:.2f}%" if acc is not None else "no labels"
            print(f"{r['name']:32} {what}, {r['cores_used']} core(s)")
        else:
            print(f"{r['name']:32} refused: {r['reason']}")
    print(f"wrote {args.out}/sweep.json and {args.out}/sweep.html")
    return 0


def _csv(text: str | None, kind, option: str) -> list | None:
    """A comma-separated option as a list of ``kind``; a bad item is a UsageError."""
    from snn_deploy.errors import UsageError

    if text is None:
        return None
    try:
        return [kind(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is not a comma-separated list of {kind.__name__}s"
        ) from None


def _bars(args) -> bool:
    """Progress bars on stderr: only at a terminal, and not with --quiet."""
    from snn_deploy.progress import wanted

    return wanted(getattr(args, "quiet", False))


def _check_json_path(path: str) -> None:
    """Before a run: the --json file's folder exists and the path is not a folder."""
    from pathlib import Path

    from snn_deploy.errors import UsageError

    p = Path(path)
    if p.is_dir() or not p.parent.is_dir():
        what = "is a folder" if p.is_dir() else f"is in a folder that does not exist ({p.parent})"
        raise UsageError(f"--json {path} {what}", hint="give a file path in an existing folder")


def _train(args) -> int:
    from snn_deploy import api

    if args.dataset != "digits":
        raise SnnDeployError(f"unknown data set {args.dataset!r}; available: digits")
    kwargs = {k: v for k, v in {"epochs": args.epochs, "seed": args.seed}.items() if v is not None}
    if args.nproc is not None:
        from snn_deploy.scaleout.ddp import launch

        api._require_seed(args.seed)
        summary = launch(args.out, args.nproc, **kwargs)
    elif _bars(args):
        from snn_deploy.progress import bar
        from snn_deploy.train.recipes import train_digits

        epochs = kwargs.get("epochs", train_digits.__kwdefaults__["epochs"])
        with bar(epochs, "training", "epoch") as meter:

            def log(line: str) -> None:
                if line.startswith("epoch "):
                    meter.update(1)
                    meter.set_postfix_str(line.split(": ", 1)[-1])

            summary = api.train_digits(args.out, log=log, **kwargs)
    else:
        summary = api.train_digits(args.out, **kwargs)
    print(
        f"trained on digits: float test accuracy {100 * summary['float_test_accuracy']:.2f}% "
        f"in {summary['seconds']:.1f} s; wrote {summary['path']}"
    )
    return 0


def _qat(args) -> int:
    from snn_deploy import api

    s = api.qat(
        args.model,
        args.out,
        args.target,
        profile=args.profile,
        weight_bits=args.weight_bits,
        epochs=args.epochs,
        seed=args.seed,
    )
    lo, hi = s["levels"]
    print(
        f"quantization-aware fine-tuning ({args.weight_bits or 'all'} weight bits, levels "
        f"{lo}..{hi}): float test accuracy {100 * s['float_test_accuracy_before']:.2f}% -> "
        f"{100 * s['float_test_accuracy']:.2f}% in {s['seconds']:.1f} s; wrote {s['path']}"
    )
    return 0


def _report(args) -> int:
    from snn_deploy import api

    out = api.rerender_report(args.folder)
    print(f"wrote {out.with_name('report.md')} and {out}")
    return 0


def _export(args) -> int:
    from snn_deploy import api
    from snn_deploy.ir.export import FRAMEWORKS

    out = api.export_nir(
        args.source,
        args.out,
        dt=args.dt,
        reset=args.reset,
        convention=args.convention,
        framework=args.framework,
    )
    kind = "integer network" if __import__("pathlib").Path(args.source).is_dir() else "model"
    if args.framework == "nir":
        print(f"wrote {out} (NIR 1.0, the {kind} with its discretization contract)")
    else:
        import nir

        fw = FRAMEWORKS[args.framework]
        print(f"wrote {out} (NIR 1.0 for {fw.label}; load it with {fw.load})")
        notes = (
            nir.read(out, type_check=False).metadata.get("snn_deploy_export", {}).get("notes", [])
        )
        for note in [notes] if isinstance(notes, (str, bytes)) else notes:
            print(f"  note: {note.decode() if isinstance(note, bytes) else note}")
    return 0


def _rules(args) -> int:
    from snn_deploy import api

    if not args.names and not args.dw:
        from snn_deploy.learning import library

        for name, lib in library().items():
            print(f"{name:14} {lib.equations[0] if lib.equations else ''}")
        return 0
    listings = api.emit_rules(
        args.names, args.target, args.out, profile_path=args.profile, dw=args.dw
    )
    for text in listings.values():
        print(text)
    if args.out:
        print(f"wrote {args.out}/learning/ (listings, rules.json)")
    return 0


def _targets(args) -> int:
    from snn_deploy.profiles import available_targets, load_profile

    for name in available_targets():
        p = load_profile(name)
        print(
            f"{name:12} {p.chip.title}: {p.chip.cores_per_chip} cores/chip, "
            f"{p.core.max_neurons:,} neurons/core, {p.core.memory_bytes:,} bytes/core"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="snn-deploy",
        description="Compile spiking neural networks for neuromorphic chips and run them "
        "bit-accurately.",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="log progress")
    ap.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (only drawn at a terminal)"
    )
    ap.add_argument(
        "--debug",
        action="store_true",
        help=f"let an internal error raise with its traceback (also: {DEBUG_ENV}=1)",
    )
    sub = ap.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="model (.pt, .nir or .onnx) -> artifact folder for a target")
    c.add_argument("model")
    c.add_argument("--target", default="loihi2", help="chip profile name (see `targets`)")
    c.add_argument("--profile", help="a chip profile .toml of your own (overrides --target)")
    c.add_argument("--chips", type=int, help="number of chips in the system")
    c.add_argument("--dt", type=float, help="time step in seconds, if the model does not say")
    c.add_argument(
        "--reset", choices=("zero", "subtract"), help="reset mode, if the model does not say"
    )
    c.add_argument(
        "--reset-delay",
        action="store_true",
        help="the reset takes effect one step after the spike (snnTorch's default)",
    )
    c.add_argument(
        "--integrator",
        choices=("euler", "exact"),
        help="discretization of the time constants, if the model does not say",
    )
    c.add_argument(
        "--spikes",
        choices=("single", "multi"),
        help="spikes per neuron and step: single (0/1), or multi (Sinabs' MultiSpike: "
        "floor(V/threshold)); Sinabs exports are read as multi unless this says single",
    )
    c.add_argument(
        "--convention",
        help="the exporter's conventions: nir, snntorch, sinabs, "
        "rockpool, norse, norse-1.1, spikingjelly (recognised automatically if possible)",
    )
    c.add_argument(
        "--calibrate",
        metavar="DATA",
        help="measure state ranges on DATA ('digits' or an .npz with x) to set scales",
    )
    c.add_argument(
        "--steps",
        type=int,
        help="time steps of the rate-coded input of a converted ONNX ANN (default 100)",
    )
    c.add_argument(
        "--calibrate-percentile",
        type=float,
        default=100.0,
        metavar="P",
        help="scale to the P-th percentile of the measured states (default 100: max)",
    )
    c.add_argument("--arch", help="architecture description (JSON) of a .pt bare state dict")
    c.add_argument(
        "--weight-bits",
        type=int,
        help="quantize weights to fewer bits than the chip's widest (e.g. 4)",
    )
    c.add_argument(
        "--netx",
        action="store_true",
        help="Loihi 2: quantize to integers lava-dl's netx expresses (weight exponent 0, bias "
        "exponent 6), so that network.net and run_loihi2.py are written",
    )
    c.add_argument(
        "--plastic",
        action="append",
        metavar="LAYER=RULE[,param=value...]",
        help="keep learning on the chip: a projection (or a population with one input) and a "
        "rule (readout_delta: labels; r_stdp: reward; pair_stdp); repeatable",
    )
    c.add_argument("-o", "--out", help="artifact folder (default build/<model name>)")
    c.set_defaults(func=_compile)

    ln = sub.add_parser(
        "learn", help="let a compiled plastic network learn online; writes a new artifact folder"
    )
    ln.add_argument("folder", help="artifact folder compiled with --plastic")
    ln.add_argument("--data", default="digits", help="'digits' or an .npz file with x and y")
    sig = ln.add_mutually_exclusive_group()
    sig.add_argument(
        "--labels", action="store_true", help="the label is the third factor (default)"
    )
    sig.add_argument(
        "--reward",
        type=int,
        metavar="R",
        help="reward +R to the answering neuron when right, -R when wrong",
    )
    rep = ln.add_mutually_exclusive_group()
    rep.add_argument("--epochs", type=int, default=1, help="passes over the samples")
    rep.add_argument("--stream", action="store_true", help="one pass, each sample seen once")
    ln.add_argument("--samples", type=int, help="learn from the first N samples")
    ln.add_argument("--test-samples", type=int, help="test on the first N held-out samples")
    ln.add_argument("--eval-every", type=int, default=0, metavar="N", help="test every N samples")
    ln.add_argument("--backend", choices=("emulator", "lava"), default="emulator")
    ln.add_argument(
        "--lava-samples",
        type=int,
        default=2,
        metavar="N",
        help="with --backend lava: samples re-run in Lava, compared step by step",
    )
    ln.add_argument("--seed", type=int, default=0, help="sample order of later epochs")
    ln.add_argument("-o", "--out", help="new artifact folder (default FOLDER_learned)")
    ln.set_defaults(func=_learn)

    e = sub.add_parser("emulate", help="run a compiled model bit-accurately on data")
    e.add_argument("folder")
    e.add_argument("--data", default="digits", help="'digits' or an .npz file with x (and y)")
    e.add_argument(
        "--backend",
        choices=("emulator", "lava", "netx", "xylosim"),
        default="emulator",
        help="lava: Lava 0.10.0 in .venv-lava; netx: the folder's run_loihi2.py on network.net "
        "in .venv-netx (lava-dl 0.6.0), both verified spike for spike against the emulator; "
        "xylosim: SynSense's xylosim 0.1.3 in .venv-xylo checks every spike and state of a "
        "Xylo artifact",
    )
    e.add_argument(
        "--engine",
        choices=("compiled", "reference"),
        default="compiled",
        help="emulator engine: compiled kernels (default) or the numpy reference kernels",
    )
    e.add_argument("--samples", type=int, help="use only the first N samples")
    e.add_argument(
        "--readout",
        choices=("auto", "count", "mean_voltage", "last_voltage", "max_voltage"),
        default="auto",
        help="how the class is read from the output layer (auto: spike count for a spiking "
        "output, mean voltage for a non-spiking readout); use the rule the model was trained with",
    )
    e.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="shard the samples over a local Dask cluster of N processes (127.0.0.1)",
    )
    e.add_argument(
        "--cluster",
        metavar="tcp://HOST:PORT",
        help="shard the samples over the workers of a running Dask scheduler",
    )
    e.add_argument(
        "--shards",
        type=int,
        metavar="K",
        help="number of sample shards (default: 4 per worker, 1 with --backend lava); results "
        "do not depend on it",
    )
    e.add_argument("--json", help="also write the summary to this JSON file")
    e.add_argument(
        "--no-save",
        action="store_true",
        help="do not record the run in the folder (emulation.json, report plots)",
    )
    e.set_defaults(func=_emulate)

    w = sub.add_parser("sweep", help="compile and emulate a model over a grid of variants")
    w.add_argument("model")
    w.add_argument("--data", default="digits", help="'digits' or an .npz file with x and y")
    w.add_argument("--targets", default="loihi2", help="comma-separated profile names")
    w.add_argument("--weight-bits", help="comma-separated weight widths (default: the widest)")
    w.add_argument(
        "--percentiles", help="comma-separated calibration percentiles (below 100: on --data)"
    )
    w.add_argument("--seeds", help="comma-separated seeds (recorded per variant)")
    w.add_argument("--samples", type=int, help="emulate only the first N samples")
    w.add_argument("--workers", type=int, metavar="N", help="one Dask task per variant, N local")
    w.add_argument("--cluster", metavar="tcp://HOST:PORT", help="run the variants on a scheduler")
    w.add_argument("-o", "--out", default="build/sweep", help="output folder")
    w.set_defaults(func=_sweep)

    t = sub.add_parser("train", help="train an example network (writes a .pt checkpoint)")
    t.add_argument("dataset", choices=("digits",))
    t.add_argument("-o", "--out", default="model.pt")
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="data-parallel training on N local processes with torchrun (gloo, 127.0.0.1)",
    )
    t.set_defaults(func=_train)

    q = sub.add_parser("qat", help="quantization-aware fine-tuning of a digits checkpoint")
    q.add_argument("model")
    q.add_argument("-o", "--out", required=True)
    q.add_argument("--target", default="loihi2")
    q.add_argument("--profile")
    q.add_argument("--weight-bits", type=int)
    q.add_argument("--epochs", type=int, default=15)
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(func=_qat)

    r = sub.add_parser("report", help="re-render report.md and report.html of an artifact folder")
    r.add_argument("folder")
    r.set_defaults(func=_report)

    x = sub.add_parser("export", help="write a model or a compiled artifact folder as NIR")
    x.add_argument("source", help="an artifact folder (integer network) or a model file")
    x.add_argument("-o", "--out", required=True, help="the .nir file to write")
    x.add_argument("--dt", type=float)
    x.add_argument("--reset", choices=("zero", "subtract"))
    x.add_argument("--convention")
    x.add_argument(
        "--for",
        dest="framework",
        default="nir",
        choices=("nir", "snntorch", "norse", "sinabs", "rockpool", "spikingjelly"),
        help="write for this framework's NIR importer (its dt and parameter conventions); "
        "refused, with the reason, where it cannot express the model (default: nir)",
    )
    x.set_defaults(func=_export)

    lr = sub.add_parser(
        "rules", help="check on-chip learning rules for a target and print/write their programs"
    )
    lr.add_argument("names", nargs="*", help="library rules (none: list the library)")
    lr.add_argument("--target", default="loihi2")
    lr.add_argument("--profile", help="your own chip profile (.toml)")
    lr.add_argument("--dw", help="a custom two-factor rule as a Lava string, e.g. 'x0*y1 - y0*x1'")
    lr.add_argument("-o", "--out", help="artifact folder to write (listings, Lava module)")
    lr.set_defaults(func=_rules)

    g = sub.add_parser("targets", help="list the chip profiles")
    g.set_defaults(func=_targets)
    for command in sub.choices.values():  # also accepted after the command's name
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        command.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s"
    )
    # Warnings of the libraries underneath (torch, h5py, numpy) are logged, shown with -v only:
    # the user sees snn-deploy's results and errors, each error on one line.
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        return args.func(args)
    except SnnDeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into head & co.
        return 0
    except Exception as exc:
        if args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        if isinstance(exc, OSError) and exc.filename is not None:
            # The file system refused a path the user gave (no such folder, permission, full)
            where = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 else "")
            print(
                f"error: {where}: {exc.strerror or type(exc).__name__}\n"
                "  hint: check the paths given on the command line, their permissions and the "
                "free disk space",
                file=sys.stderr,
            )
            return 2
        print(_internal_error(exc, argv), file=sys.stderr)
        return INTERNAL_ERROR_EXIT
    finally:
        logging.captureWarnings(False)


def _internal_error(exc: Exception, argv: list[str] | None) -> str:
    """The one line for a bug: what was raised, where its traceback was saved, how to report it.

    The traceback goes to a new file in the temporary folder (``$TMPDIR``), with the command
    line and the versions, so that the report has what is needed to reproduce it."""
    import platform
    import tempfile
    import time
    import traceback

    import snn_deploy

    detail = str(exc).strip().splitlines()
    what = type(exc).__name__ + (f": {detail[0][:200]}" if detail else "")
    command = ["snn-deploy", *(sys.argv[1:] if argv is None else argv)]
    body = (
        f"command: {' '.join(command)}\n"
        f"snn-deploy {snn_deploy.__version__}, Python {platform.python_version()}, "
        f"{platform.platform()}\n\n" + "".join(traceback.format_exception(exc))
    )
    try:
        fd, path = tempfile.mkstemp(
            prefix=f"snn-deploy-internal-error-{time.strftime('%Y%m%d-%H%M%S')}-",
            suffix=".txt",
        )
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        saved = f"traceback saved to {path}"
    except OSError as save_exc:
        saved = f"the traceback could not be saved ({save_exc.strerror or save_exc})"
    return (
        f"internal error: {what} (a bug in snn-deploy); {saved}; please "
        f"report it to the snn-deploy maintainers with that file and your input files, or "
        f"rerun with --debug to see the traceback here"
    )


if __name__ == "__main__":
    sys.exit(main())
