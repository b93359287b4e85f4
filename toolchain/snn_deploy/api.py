"""What the CLI and users call: ``compile``, ``emulate``, ``train_digits``, ``rerender_report``."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from snn_deploy.artifacts import read_manifest
from snn_deploy.data.loader import load_inputs
from snn_deploy.errors import InputFileError, VerificationError
from snn_deploy.flow import CompileOptions, compile_model
from snn_deploy.ir.timing import ChipTiming
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import QuantizedNetwork
from snn_deploy.reports import CompileReport, render_markdown

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
    calibrate: str | None = None,
    steps: int | None = None,
    arch: str | None = None,
) -> CompileReport:
    """Compile ``model`` (.pt checkpoint or .nir graph) for ``target``; writes the artifact folder
    ``out`` atomically and returns the report. Raises ResourceError listing every violation.

    ``dt``, ``reset``, ``reset_delay``, ``integrator`` and ``convention`` state the discretization
    where the model does not (see :mod:`snn_deploy.ir.conventions`); ``calibrate`` names data
    ('digits' or an .npz file) on which the float model's state ranges are measured to choose the
    integer scales (otherwise the checkpoint's calibration, or worst-case bounds); it is required
    for an ``.onnx`` ANN, whose weights are normalized on it, and ``steps`` sets how many time
    steps the converted network's rate-coded inputs last (default 100)."""
    fields = {
        "dt_seconds": dt,
        "reset": reset,
        "reset_delay": reset_delay,
        "convention": convention,
        "integrator": integrator,
    }
    overrides = {k: v for k, v in fields.items() if v is not None}
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
    )
    return compile_model(opts)


@dataclass(frozen=True)
class LayerActivity:
    population: str
    float_spikes_per_sample: float
    int_spikes_per_sample: float
    agreement: float  # fraction of (sample, step, neuron) entries where both agree


@dataclass(frozen=True)
class EmulationSummary:
    backend: str
    target: str
    data: str
    samples: int
    steps: int
    chip_steps: int
    float_accuracy: float | None
    int_accuracy: float | None
    layers: tuple[LayerActivity, ...]
    events: dict
    seconds: dict
    verification: str = ""
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = [asdict(x) for x in self.layers]
        return d

    def format(self) -> str:
        label = f"{self.target} (integer, {self.backend})"
        width = max(len(label) + 2, 24)
        lines = [
            f"data: {self.data}; {self.samples} sample(s), {self.steps} steps "
            f"(+{self.chip_steps - self.steps} pipeline steps on the chip)",
        ]
        if self.float_accuracy is not None:
            lines += [
                f"{'':16}{'float':>12}{label:>{width}}",
                f"{'accuracy':16}{100 * self.float_accuracy:>11.2f}%"
                f"{100 * self.int_accuracy:>{width - 1}.2f}%",
            ]
        lines.append("spikes per sample (float | integer | agreement of every step and neuron):")
        for x in self.layers:
            lines.append(
                f"  {x.population:14}{x.float_spikes_per_sample:>10.1f}"
                f"{x.int_spikes_per_sample:>12.1f}{100 * x.agreement:>12.3f}%"
            )
        ev = ", ".join(f"{k} {v}" for k, v in self.events.items())
        lines.append(f"arithmetic events in the integer run: {ev or 'not recorded'}")
        if self.verification:
            lines.append(self.verification)
        lines += [f"note: {n}" for n in self.notes]
        lines.append("time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(lines)


def load_artifacts(folder: str | Path):
    """The float network, integer network and profile of an artifact folder."""
    from snn_deploy.frontend.nir_file import read_nir
    from snn_deploy.ir.normalize import normalize

    folder = Path(folder)
    manifest = read_manifest(folder)
    for name in ("graph.nir", "network.npz"):
        if not (folder / name).is_file():
            raise InputFileError(f"{folder}: {name} is missing", hint="compile the model again")
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
) -> EmulationSummary:
    """Run a compiled model on data in the float reference and bit-accurately as integers.

    ``backend="emulator"`` uses snn-deploy's emulator; ``"lava"`` runs Lava 0.10.0 in
    ``.venv-lava`` and verifies that it agrees with the emulator on every spike and final state.
    """
    from snn_deploy.backends.emulator import run
    from snn_deploy.ir.simulate import simulate

    if backend not in ("emulator", "lava"):
        raise InputFileError(f"unknown backend {backend!r}", hint="use --backend emulator|lava")
    manifest, profile, net, qnet = load_artifacts(folder)
    inputs, labels, desc = load_inputs(data, net, manifest.get("data"), "test", samples)
    n, steps = next(iter(inputs.values())).shape[:2]
    shifts = {p.name: p.shift_steps for p in (*qnet.inputs, *qnet.populations)}
    timing = ChipTiming(
        MappingProxyType(shifts),
        MappingProxyType({p.name: p.delay_steps for p in qnet.projections}),
        (),
    )
    chip_steps = steps + max(p.shift_steps for p in qnet.populations)
    readouts = tuple(p.name for p in qnet.populations if not p.spiking)
    seconds = {}
    t0 = time.perf_counter()
    ref = simulate(net, inputs, timing=timing, num_steps=chip_steps, record_voltage=readouts)
    seconds["float reference"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emu = run(qnet, profile.numerics, inputs, chip_steps, record_voltage=readouts)
    seconds["emulator"] = time.perf_counter() - t0
    result, verification, notes = emu, "", []
    if backend == "lava":
        from snn_deploy.backends.lava.bridge import LavaJob, run_lava

        t0 = time.perf_counter()
        jobs = [
            LavaJob(qnet, {k: v[i : i + LAVA_CHUNK] for k, v in inputs.items()}, chip_steps)
            for i in range(0, n, LAVA_CHUNK)
        ]
        parts, _ = run_lava(jobs)
        seconds["lava"] = time.perf_counter() - t0
        result = _concat(parts)
        verification = _verify_equal(emu, result)
    layers = []
    for p in qnet.populations:
        if not p.spiking:
            continue
        f, i = ref.spikes[p.name], result.spikes[p.name]
        layers.append(
            LayerActivity(p.name, float(f.sum()) / n, float(i.sum()) / n, float(np.mean(f == i)))
        )
    float_acc = int_acc = None
    if labels is not None:
        out = qnet.population(qnet.outputs[0])
        window = slice(out.shift_steps, out.shift_steps + steps)
        if out.spiking:  # class = most output spikes
            f_score = ref.spikes[out.name][:, window].sum(1)
            i_score = result.spikes[out.name][:, window].sum(1)
        else:  # class = highest mean voltage of the readout (emulator's trace: see notes)
            f_score = ref.voltage[out.name][:, window].mean(1)
            i_score = emu.voltage[out.name][:, window].mean(1)
            if backend == "lava":
                notes.append(
                    "Lava returns the readout's final v only; the accuracy uses the "
                    "emulator's voltage trace, verified equal to Lava in spikes and "
                    "final state"
                )
        float_acc = float(np.mean(f_score.argmax(1) == labels))
        int_acc = float(np.mean(i_score.argmax(1) == labels))
    events = {}
    for ev in emu.events.values():
        for k, v in ev.items():
            events[k] = events.get(k, 0) + v
    return EmulationSummary(
        backend="Lava 0.10.0 fixed_pt" if backend == "lava" else "snn-deploy emulator",
        target=qnet.target,
        data=desc,
        samples=n,
        steps=steps,
        chip_steps=chip_steps,
        float_accuracy=float_acc,
        int_accuracy=int_acc,
        layers=tuple(layers),
        events=events,
        seconds=seconds,
        verification=verification,
        notes=tuple(notes),
    )


def _concat(parts):
    from snn_deploy.backends.emulator.result import EmulationResult

    spikes = {k: np.concatenate([p.spikes[k] for p in parts]) for k in parts[0].spikes}
    final = {
        k: {
            v: np.concatenate([p.final_state[k][v] for p in parts]) for v in parts[0].final_state[k]
        }
        for k in parts[0].final_state
    }
    return EmulationResult(spikes=spikes, final_state=final, num_steps=parts[0].num_steps)


def _verify_equal(emu, lava) -> str:
    diffs = []
    for pop, s in emu.spikes.items():
        d = int(np.count_nonzero(s != lava.spikes[pop]))
        if d:
            diffs.append(f"{pop}: {d} spike(s)")
        for var in ("u", "v"):
            d = int(np.count_nonzero(emu.final_state[pop][var] != lava.final_state[pop][var]))
            if d:
                diffs.append(f"{pop}.{var}: {d} value(s)")
    if diffs:
        raise VerificationError(
            "Lava and the snn-deploy emulator disagree: " + "; ".join(diffs),
            hint="this is a bug in snn-deploy's emulator; please report it with the artifacts",
        )
    total = sum(int(s.sum()) for s in emu.spikes.values())
    return (
        f"verified: Lava and the snn-deploy emulator agree on all {total:,} spikes and on the "
        "final u and v of every neuron"
    )


def export_nir(
    source: str | Path,
    out: str | Path,
    *,
    dt: float | None = None,
    reset: str | None = None,
    convention: str | None = None,
) -> Path:
    """Write ``source`` as a NIR file: an artifact folder as its integer network (dequantized
    values, exact integers in node metadata), a model file as its normalized float network;
    both with the discretization contract in the graph metadata. Written atomically."""
    import os
    import tempfile

    import nir

    from snn_deploy.frontend import import_model
    from snn_deploy.ir.export import network_to_nir, quantized_to_nir
    from snn_deploy.ir.normalize import normalize

    source, out = Path(source), Path(out)
    if source.is_dir():
        _, profile, net, qnet = load_artifacts(source)
        graph = quantized_to_nir(net, qnet, profile.numerics)
    else:
        overrides = {
            k: v
            for k, v in {"dt_seconds": dt, "reset": reset, "convention": convention}.items()
            if v is not None
        }
        graph = network_to_nir(normalize(import_model(source).graph, overrides))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an export is not
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out


def rerender_report(folder: str | Path) -> Path:
    """Re-render ``report.md`` from ``report.json`` (after an upgrade of the renderer)."""
    folder = Path(folder)
    read_manifest(folder)
    try:
        data = json.loads((folder / "report.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(
            f"{folder}/report.json cannot be read ({exc})", hint="compile the model again"
        ) from None
    out = folder / "report.md"
    tmp = out.with_suffix(".md.part")
    tmp.write_text(render_markdown(data))
    tmp.replace(out)
    return out


def train_digits(out: str | Path, **kwargs) -> dict:
    """Train the digits example network with BPTT and write the checkpoint ``out``."""
    from snn_deploy.train.recipes import train_digits as _train

    return _train(out, **kwargs)
