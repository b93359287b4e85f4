"""What the CLI and users call: ``compile``, ``emulate``, ``train_digits``, ``rerender_report``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from snn_deploy.artifacts import (
    VERIFIED,
    check_output_path,
    read_manifest,
    record_files,
    verify_files,
    write_json_atomic,
)
from snn_deploy.artifacts import sha256 as sha256_of
from snn_deploy.data.loader import load_inputs
from snn_deploy.emulation import EmulationSummary, compare
from snn_deploy.errors import InputFileError, ModelError, UnsupportedError, UsageError
from snn_deploy.flow import CompileOptions, compile_model
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import QuantizedNetwork
from snn_deploy.reports import CompileReport, write_reports

LAVA_CHUNK = 120  # samples per Lava run: one block-diagonal network of this many copies


def compile(  # noqa: A001 - the verb users expect
    model: str | Path,
    target: str = "loihi2",
    out: str | Path | None = None,
    *,
    profile: str | Path | None = None,
    chips: int | None = None,
    dt: float | None = None,
    reset: str | None = None,
    reset_delay: bool | None = None,
    convention: str | None = None,
    integrator: str | None = None,
    spikes: str | None = None,
    calibrate: str | None = None,
    steps: int | None = None,
    arch: str | None = None,
    weight_bits: int | None = None,
    calibrate_percentile: float = 100.0,
    plastic: tuple[str, ...] | list[str] = (),
    netx: bool = False,
) -> CompileReport:
    """Compile ``model`` (.pt checkpoint or .nir graph) for ``target``; writes the artifact folder
    ``out`` atomically and returns the report. Raises ResourceError listing every violation.

    ``dt``, ``reset``, ``reset_delay``, ``integrator``, ``spikes`` (``single``/``multi``) and
    ``convention`` state the discretization where the model does not (see
    :mod:`snn_deploy.ir.conventions`); ``calibrate`` names data ('digits' or an .npz file) on
    which the float model's state ranges are measured to choose the integer scales (otherwise
    the checkpoint's calibration, or worst-case bounds); it is required for an ``.onnx`` ANN,
    whose weights are normalized on it, and ``steps`` sets how many time steps the converted
    network's rate-coded inputs last (default 100). ``plastic`` lists ``LAYER=RULE[,p=v...]``
    options: those projections keep learning on the chip (:mod:`snn_deploy.learning.deploy`).
    ``netx`` (Loihi 2) quantizes to integers lava-dl's netx expresses, so that ``network.net``
    and ``run_loihi2.py`` are written (docs/loihi2-netx.md); without it they are written
    whenever the integers happen to be expressible, and the report says why where not."""
    fields = {
        "dt_seconds": dt,
        "reset": reset,
        "reset_delay": reset_delay,
        "convention": convention,
        "integrator": integrator,
        "spikes": spikes,
    }
    overrides = {k: v for k, v in fields.items() if v is not None}
    if not 0 < calibrate_percentile <= 100:
        raise UsageError(
            f"--calibrate-percentile must be in (0, 100], got {calibrate_percentile:g}",
            hint="100 scales to the largest measured state; 99.9 ignores the top 0.1%",
        )
    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be at least 1, got {steps}")
    opts = CompileOptions(
        model=str(model),
        target=target,
        out=str(out) if out else None,
        profile=str(profile) if profile else None,
        chips=chips,
        overrides=overrides,
        calibrate=calibrate,
        steps=steps,
        arch=str(arch) if arch else None,
        weight_bits=weight_bits,
        calibrate_percentile=calibrate_percentile,
        plastic=tuple(plastic),
        netx=bool(netx),
    )
    return compile_model(opts)


def load_artifacts(folder: str | Path):
    """The float network, integer network and profile of an artifact folder."""
    from snn_deploy.frontend.nir_file import read_nir
    from snn_deploy.ir.normalize import normalize

    folder = Path(folder)
    manifest = read_manifest(folder)
    verify_files(folder, manifest)
    profile = load_profile(manifest["profile"]["path"])
    if profile.numerics_fingerprint() != manifest["profile"].get("numerics_sha256"):
        raise InputFileError(
            f"{folder}: the arithmetic of profile {profile.path} changed since the model was "
            "compiled",
            hint="compile the model again against the current profile",
        )
    profile = profile.with_chips(int(manifest["profile"]["chips"]))
    qnet = QuantizedNetwork.load(folder / "network.npz")
    net = normalize(read_nir(folder / "graph.nir").graph, manifest.get("contract_overrides"))
    return manifest, profile, net, qnet


def emulate(
    folder: str | Path,
    data: str = "digits",
    backend: str = "emulator",
    samples: int | None = None,
    save: bool = True,
    readout: str = "auto",
    engine: str = "compiled",
    *,
    workers: int | None = None,
    cluster: str | None = None,
    shards: int | None = None,
    progress: bool = False,
) -> EmulationSummary:
    """Run a compiled model on data in the float reference and bit-accurately as integers.

    ``backend="emulator"`` uses snn-deploy's emulator; ``"lava"`` runs Lava 0.10.0 in
    ``.venv-lava`` and verifies that it agrees with the emulator on every spike and final state;
    ``"xylosim"`` (Xylo networks) runs xylosim 0.1.3 in ``.venv-xylo`` and verifies every spike
    count and every state of every step.
    With ``save``, the result is written to ``emulation.json`` in the folder and the reports are
    re-rendered with its activity plots. ``readout`` picks how the class is read from the output
    layer (:data:`snn_deploy.emulation.READOUTS`). ``engine``: the emulator's ``compiled``
    kernels (default) or its numpy ``reference`` kernels (identical results).

    ``workers`` (a local Dask cluster of that many processes) or ``cluster`` (a scheduler's
    ``tcp://HOST:PORT``) run the samples in ``shards`` (default: 4 per worker; 1 per worker with
    ``backend="lava"``, each shard in a Lava subprocess of its worker) on Dask
    (:mod:`snn_deploy.scaleout`); the results are the same as in one process, bit for bit.
    ``progress`` draws a bar on stderr when it is a terminal.
    """
    manifest, profile, net, qnet = load_artifacts(folder)
    netx_folder = None
    if backend == "netx":
        netx_folder = _netx_folder(Path(folder), manifest)
        if workers is not None or cluster is not None or shards is not None:
            raise UsageError(
                "--backend netx runs in one process; --workers, --cluster and --shards do not "
                "apply to it",
                hint="drop them, or use --backend emulator or lava",
            )
    inputs, labels, desc = load_inputs(data, net, manifest.get("data"), "test", samples)
    mapping = json.loads((Path(folder) / "mapping.json").read_text())
    if workers is None and cluster is None and shards is None and (not progress or netx_folder):
        summary = compare(
            net, qnet, profile, inputs, labels, desc, backend, mapping, readout, engine=engine,
            netx_folder=netx_folder,
        )  # fmt: skip
    else:
        from snn_deploy.scaleout.run import emulate_sharded

        summary = emulate_sharded(
            folder, data, samples, (net, qnet, profile, inputs, labels, desc),
            backend=backend, mapping=mapping, readout=readout, workers=workers,
            cluster=cluster, shards=shards, progress=progress,
            emulator_options={"engine": engine},
        )  # fmt: skip
    if save:
        folder = Path(folder)
        write_json_atomic(folder / "emulation.json", summary.record())
        report = json.loads((folder / "report.json").read_text())
        write_reports(folder, report, summary.record())
        record_files(folder, manifest, ("emulation.json", "report.md", "report.html"))
    return summary


def _netx_folder(folder: Path, manifest: dict) -> Path:
    """``folder`` if compile wrote its netx export (checked against the manifest), else an
    InputFileError with the reason compile recorded."""
    from snn_deploy.backends.netx.export import NET_FILE, SCRIPT

    if NET_FILE not in manifest["files"]:
        record = json.loads((folder / "report.json").read_text()).get("netx") or {}
        reason = record.get("reason") or "it was compiled for a target other than Loihi 2"
        raise InputFileError(
            f"{folder} has no netx export ({NET_FILE}): {reason}",
            hint="compile the model with --target loihi2 --netx",
        )
    verify_files(folder, manifest, (NET_FILE, SCRIPT))
    return folder


def export_nir(
    source: str | Path,
    out: str | Path,
    *,
    dt: float | None = None,
    reset: str | None = None,
    convention: str | None = None,
    framework: str = "nir",
) -> Path:
    """Write ``source`` as a NIR file: an artifact folder as its integer network (dequantized
    values, exact integers in node metadata), a model file as its normalized float network;
    both with the discretization contract in the graph metadata. Written atomically.

    ``framework`` (:data:`snn_deploy.ir.export.FRAMEWORKS`) writes the float network in the
    form that framework's own importer reads as the same discrete-time model (its dt, its
    parameter conventions), or refuses, naming what that importer would change; for an artifact
    folder, the integer network's values dequantized (run in float there: the chip's rounding
    is not reproduced, and the export's notes say so)."""
    import os
    import tempfile

    from snn_deploy.frontend import import_model
    from snn_deploy.ir.export import dequantized, network_for, quantized_to_nir, write_nir
    from snn_deploy.ir.normalize import normalize

    source, out = Path(source), Path(out)
    if source.is_dir():
        _, profile, net, qnet = load_artifacts(source)
        if qnet.arithmetic != "loihi":
            raise UnsupportedError(
                f"{source}: exporting a compiled {qnet.arithmetic!r} network to NIR is not "
                "implemented (only the Loihi family's integers have a NIR form here)",
                hint=f"the float model's graph is {source / 'graph.nir'}",
            )
        if framework == "nir":
            graph = quantized_to_nir(net, qnet, profile.numerics)
        else:
            deq, _ = dequantized(net, qnet, profile.numerics)
            note = (
                f"the compiled {qnet.target} integer network's values, dequantized; {framework} "
                "runs them in float, without the chip's integer rounding (decays, products, "
                "saturation): spikes can differ where that rounding decides one"
            )
            graph = network_for(deq, framework, (note,))
    else:
        overrides = {
            k: v
            for k, v in {"dt_seconds": dt, "reset": reset, "convention": convention}.items()
            if v is not None
        }
        graph = network_for(normalize(import_model(source).graph, overrides), framework)
    check_output_path(out, folder=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    try:
        write_nir(tmp, graph, framework)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an export is not
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def rerender_report(folder: str | Path) -> Path:
    """Re-render ``report.md`` and ``report.html`` from ``report.json`` (and ``emulation.json``
    if there is one), e.g. after an upgrade of the renderer. Returns the HTML path."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    emulated = (folder / "emulation.json").is_file()
    verify_files(folder, manifest, VERIFIED + (("emulation.json",) if emulated else ()))
    data = {}
    for name in ("report.json", "emulation.json"):
        path = folder / name
        if name == "emulation.json" and not emulated:
            continue
        try:
            data[name] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(
                f"{path} cannot be read ({exc})", hint="compile the model again"
            ) from None
    write_reports(folder, data["report.json"], data.get("emulation.json"))
    record_files(folder, manifest, ("report.md", "report.html"))
    return folder / "report.html"


def qat(
    model: str | Path,
    out: str | Path,
    target: str = "loihi2",
    *,
    profile: str | Path | None = None,
    weight_bits: int | None = None,
    epochs: int = 15,
    lr: float = 1e-3,
    seed: int = 0,
) -> dict:
    """Quantization-aware fine-tuning of a digits checkpoint for ``target``'s weight format at
    ``weight_bits``; writes the fine-tuned checkpoint to ``out`` (compile it with the same
    ``weight_bits``: its weights then reach the chip exactly)."""
    from snn_deploy.flow import resolve_profile
    from snn_deploy.train.qat import finetune_qat

    _require_seed(seed)
    prof = resolve_profile(target, str(profile) if profile else None, None)
    _require_digits_mlp(Path(model))
    return finetune_qat(model, out, prof, weight_bits, epochs=epochs, lr=lr, seed=seed)


def _require_seed(seed: int | None) -> None:
    if seed is not None and not 0 <= seed < 2**32:
        raise UsageError(f"--seed must be in 0..2**32-1, got {seed}")


def _require_digits_mlp(path: Path) -> None:
    """What ``qat`` fine-tunes: a valid SpikingMLP checkpoint with digits' 64 inputs and 10
    classes; anything else is refused before training starts."""
    from snn_deploy.frontend import import_model
    from snn_deploy.frontend.checkpoint import load_checkpoint_dict

    if Path(path).suffix.lower() not in (".pt", ".pth"):
        raise InputFileError(
            f"{Path(path).name}: qat fine-tunes a .pt checkpoint", hint="give a .pt checkpoint"
        )
    import_model(path)  # a damaged checkpoint is refused here, with its reason
    entry = load_checkpoint_dict(Path(path))["model"]
    kind, layers = entry.get("kind", "spiking_mlp"), entry.get("layers")
    if kind != "spiking_mlp" or not layers:
        raise UnsupportedError(
            f"{Path(path).name}: qat fine-tunes SpikingMLP checkpoints, not {kind!r}",
            hint="compile the model with --weight-bits instead (post-training quantization)",
        )
    n_in, n_out = layers[0]["in_features"], layers[-1]["out_features"]
    if (n_in, n_out) != (64, 10):
        raise ModelError(
            f"{Path(path).name}: qat fine-tunes on digits (64 inputs, 10 classes); the model has "
            f"{n_in} inputs and {n_out} outputs",
            hint="fine-tune a model trained with `snn-deploy train digits`",
        )


def train_digits(out: str | Path, **kwargs) -> dict:
    """Train the digits example network with BPTT and write the checkpoint ``out``."""
    _require_seed(kwargs.get("seed"))
    from snn_deploy.train.recipes import train_digits as _train

    return _train(out, **kwargs)


def emit_rules(
    names: list[str],
    target: str = "loihi2",
    out: str | Path | None = None,
    *,
    profile_path: str | Path | None = None,
    dw: str | None = None,
) -> dict[str, str]:
    """Check on-chip learning rules against a target and return their listings ("microcode").

    ``names`` are library rules (:func:`snn_deploy.learning.library`); ``dw`` adds a custom
    two-factor rule named ``custom`` from a Lava rule string. Every rule is checked first
    (locality, engine widths; one :class:`ResourceError` listing all problems of a rule); with
    ``out``, the folder ``out/learning/`` (listings, ``rules.json`` and, for Loihi 2, the Lava
    module) is written atomically with a ``manifest.json``.
    """
    from snn_deploy.artifacts import StagingDir, write_json
    from snn_deploy.learning import LearningRule, library, render_listing, require_runnable
    from snn_deploy.learning.listing import write_learning_artifact

    profile = load_profile(profile_path if profile_path else target)
    lib = library()
    unknown = [n for n in names if n not in lib]
    if unknown:
        raise InputFileError(
            f"unknown learning rule(s): {', '.join(unknown)}",
            hint=f"library rules: {', '.join(sorted(lib))}; or give your own with --dw",
        )
    entries = {n: (lib[n].rule, lib[n].neuron) for n in names}
    if dw:
        entries["custom"] = (LearningRule.from_strings("custom", dw=dw), None)
    if not entries:
        raise InputFileError("no learning rule given", hint=f"one of: {', '.join(sorted(lib))}")
    for rule, neuron in entries.values():
        require_runnable(rule, profile, neuron=neuron)
    listings = {n: render_listing(r, nr, profile) for n, (r, nr) in entries.items()}
    if out is not None:
        staging = StagingDir(out)
        try:
            written = write_learning_artifact(staging.path, entries, profile)
            write_json(
                staging.path / "manifest.json",
                {
                    "kind": "learning_rules",
                    "target": profile.name,
                    "rules": list(entries),
                    "files": [str(p.relative_to(staging.path)) for p in written],
                },
            )
            staging.commit()
        except BaseException:
            staging.discard()
            raise
    return listings


def load_plastic_artifact(folder: str | Path):
    """``(manifest, profile, net, qnet, config)`` of a folder compiled with ``--plastic``; every
    file the manifest lists must have its recorded SHA-256 (an edited artifact is refused)."""
    from snn_deploy.artifacts import sha256
    from snn_deploy.learning.deploy import load_config

    folder = Path(folder)
    manifest = read_manifest(folder)
    files = manifest.get("files") or {}
    if "learning.json" not in files:
        raise InputFileError(
            f"{folder}: the network has no plastic layer",
            hint="compile it with --plastic LAYER=RULE (e.g. --plastic out=readout_delta)",
        )
    for name, digest in files.items():
        if name == "manifest.json":
            continue
        path = folder / name
        if not path.is_file() or sha256(path) != digest:
            raise InputFileError(
                f"{folder}: {name} was changed or removed after compilation "
                "(its SHA-256 differs from manifest.json)",
                hint="compile the model again; snn-deploy learns only from artifacts it wrote",
            )
    manifest, profile, net, qnet = load_artifacts(folder)
    config = load_config(folder / "learning.json", qnet)
    return manifest, profile, net, qnet, config


def learn(
    folder: str | Path,
    data: str = "digits",
    out: str | Path | None = None,
    *,
    signal: str = "labels",
    epochs: int = 1,
    reward: int = 16,
    samples: int | None = None,
    test_samples: int | None = None,
    eval_every: int = 0,
    backend: str = "emulator",
    lava_samples: int = 2,
    engine: str = "compiled",
    seed: int = 0,
):
    """Let the plastic layers of a compiled artifact learn online from ``data`` (the train split
    of 'digits', or an .npz with x and y) and test on held-out samples (digits' test split, or
    the same .npz); the learned network is written as a new artifact folder ``out``
    (atomically). ``backend="lava"`` re-runs the first ``lava_samples`` samples in Lava and
    compares every spike and weight. Returns the :class:`~snn_deploy.learning.online.LearnResult`.
    """
    from snn_deploy.learning.online import LearnOptions, learn_online

    if backend not in ("emulator", "lava"):
        raise UnsupportedError(f"unknown backend {backend!r}; accepted: emulator, lava")
    manifest, profile, net, qnet, config = load_plastic_artifact(folder)
    x, y, desc = load_inputs(data, net, manifest.get("data"), "train", samples)
    xt, yt, desc_t = load_inputs(data, net, manifest.get("data"), "test", test_samples)
    port = next(i.name for i in net.inputs if i.kind == "spikes")
    if y is None or yt is None:
        raise InputFileError(f"learn: {data} has no labels (y)", hint="give data with labels")
    opts = LearnOptions(
        signal=signal,
        epochs=epochs,
        reward=reward,
        eval_every=eval_every,
        seed=seed,
        engine=engine,
        verify_lava=lava_samples if backend == "lava" else 0,
    )
    result = learn_online(
        qnet,
        config,
        profile,
        np.asarray(x[port]),
        np.asarray(y),
        np.asarray(xt[port]),
        np.asarray(yt),
        opts,
    )
    record = {
        "format": "snn-deploy/learn-run",
        "version": 1,
        "source_artifact": str(folder),
        "source_manifest_sha256": sha256_of(Path(folder) / "manifest.json"),
        "data": desc,
        "test_data": desc_t,
        "signal": signal,
        "epochs": epochs,
        "engine": engine,
        **result.to_dict(),
    }
    target = Path(out) if out else Path(folder).with_name(Path(folder).name + "_learned")
    write_learned_artifact(folder, target, qnet, result.weights, record)
    return result, target


def write_learned_artifact(
    source: str | Path, target: str | Path, qnet: QuantizedNetwork, weights: dict, record: dict
) -> Path:
    """A copy of artifact ``source`` whose plastic projections hold ``weights``, with
    ``learn.json`` (the run) and the report's learning-run section; written atomically, with a
    new manifest that names the folder it was learned from."""
    import dataclasses
    import shutil

    from snn_deploy.artifacts import StagingDir, sha256, write_json

    source = Path(source)
    staging = StagingDir(target)
    try:
        for f in sorted(source.iterdir()):
            if f.name == "manifest.json" or f.name.startswith("."):
                continue
            if f.is_dir():
                shutil.copytree(f, staging.path / f.name)
            else:
                shutil.copy2(f, staging.path / f.name)
        projs = tuple(
            dataclasses.replace(p, weight=weights[p.name]) if p.name in weights else p
            for p in qnet.projections
        )
        learned = dataclasses.replace(qnet, projections=projs)
        learned.save(staging.path / "network.npz")
        back = QuantizedNetwork.load(staging.path / "network.npz")
        for p in back.projections:
            if p.name in weights and not np.array_equal(p.weight, weights[p.name]):
                raise InputFileError(f"learned weights of '{p.name}' do not read back")
        write_json(staging.path / "learn.json", record)
        report = json.loads((source / "report.json").read_text())
        report["learning_run"] = {k: v for k, v in record.items() if k != "format"}
        if "learn.json" not in report.get("artifacts", []):
            report["artifacts"] = [*report.get("artifacts", []), "learn.json"]
        write_json(staging.path / "report.json", report)
        emulation = None
        if (staging.path / "emulation.json").is_file():
            (staging.path / "emulation.json").unlink()  # measured on the weights before learning
        write_reports(staging.path, report, emulation)
        manifest = read_manifest(source)
        files = {f.name: sha256(f) for f in sorted(staging.path.iterdir()) if f.is_file()}
        if (staging.path / "learning").is_dir():
            for f in sorted((staging.path / "learning").iterdir()):
                files[f"learning/{f.name}"] = sha256(f)
        manifest["files"] = files
        manifest["learned_from"] = {
            "folder": str(source),
            "manifest_sha256": record["source_manifest_sha256"],
        }
        write_json(staging.path / "manifest.json", manifest)
        return staging.commit()
    except BaseException:
        staging.discard()
        raise
