"""Float reference vs integer run on the same inputs: accuracy, per-layer agreement, activity.

``compare`` is what ``snn-deploy emulate`` prints and what ``compile --calibrate`` records: the
float network (``ir/simulate.py``) and the integer network (the emulator, or Lava verified
against it) run in chip time on the same inputs, so every layer can be compared step by step.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from types import MappingProxyType

import numpy as np

from snn_deploy.errors import InputFileError, VerificationError
from snn_deploy.ir.timing import ChipTiming
from snn_deploy.reports.activity import estimate, measure, raster

BACKENDS = {
    "emulator": "snn-deploy emulator",
    "lava": "Lava 0.10.0 fixed_pt",
    "netx": "lava-dl 0.6.0 netx, Lava fixed_pt",
    "xylosim": "snn-deploy emulator, checked by xylosim 0.1.3",
}
LAVA_CHUNK = 60  # samples per Lava run: one block-diagonal network of this many copies
FLOAT_BLOCK = 32  # samples per float64 reference run (see run_pair)


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
    activity: dict = field(default_factory=dict)
    estimates: dict | None = None
    raster: dict = field(default_factory=dict, repr=False)

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
        a = self.activity
        if a:
            msgs = a.get("inter_core_messages_per_inference")
            lines.append(
                f"per inference: {a['synaptic_ops_per_inference']:,.0f} synaptic ops, "
                f"{a['neuron_updates_per_inference']:,} neuron updates, "
                f"{a['spikes_per_inference']:,.1f} spikes"
                + (f", {msgs:,.0f} inter-core spike messages" if msgs is not None else "")
            )
        if self.estimates:
            lines.append(
                f"energy estimate: {self.estimates['energy_uj_per_inference']:.3g} uJ "
                f"per inference ({self.estimates['label']})"
            )
        lines.append("time: " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(lines)

    def record(self) -> dict:
        """The JSON record (``emulation.json``) the reports read."""
        return {"format": "snn-deploy/emulation", "version": 1, **self.to_dict()}


VOLTAGE_READOUTS = {
    "mean_voltage": lambda v: v.mean(1),
    "last_voltage": lambda v: v[:, -1],
    "max_voltage": lambda v: v.max(1),
}
READOUTS = ("auto", "count", *VOLTAGE_READOUTS)


def compare(
    net,
    qnet,
    profile,
    inputs: dict,
    labels,
    desc: str,
    backend: str = "emulator",
    mapping: dict | None = None,
    readout: str = "auto",
    engine: str = "compiled",
    runner=None,
    netx_folder=None,
) -> EmulationSummary:
    """Run ``net`` (float) and ``qnet`` (integer) on ``inputs`` and compare them; with the
    ``mapping`` (``mapping.json``), the activity includes inter-core traffic.

    ``readout`` is how a class is read from the output layer (:data:`READOUTS`): ``count``
    (most spikes), ``mean_voltage``, ``last_voltage`` or ``max_voltage`` of a non-spiking
    readout; ``auto`` is ``count`` for a spiking output and ``mean_voltage`` otherwise. Use the
    rule the model was trained with (``fit(..., readout="last_membrane")``: ``last_voltage``).
    ``engine`` picks the emulator's kernels: ``compiled`` or the numpy ``reference``.
    ``runner(samples, chip_steps, lava) -> (float result, integer result, seconds, Lava
    result or None)`` replaces the in-process :func:`run_pair` and, with ``lava``,
    :func:`run_lava_samples` (``snn_deploy.scaleout`` runs both on shards of the samples, one
    Lava process per shard).
    ``backend="netx"`` runs ``netx_folder``'s own ``run_loihi2.py`` on its ``network.net`` in
    ``.venv-netx`` (one network per sample) and verifies every spike against the emulator.
    """
    if backend not in BACKENDS:
        raise InputFileError(
            f"unknown backend {backend!r}", hint=f"use --backend {'|'.join(BACKENDS)}"
        )
    if backend == "netx" and netx_folder is None:
        raise InputFileError("--backend netx needs the artifact folder with network.net")
    if backend == "xylosim" and qnet.arithmetic != "xylo":
        raise InputFileError(
            f"--backend xylosim runs Xylo networks; this one is compiled for {qnet.target}",
            hint="compile with --target xylo_audio2, or use --backend emulator",
        )
    if readout not in READOUTS:
        raise InputFileError(
            f"unknown readout {readout!r}", hint=f"use --readout {'|'.join(READOUTS)}"
        )
    n, steps = next(iter(inputs.values())).shape[:2]
    chip_steps = steps + max(p.shift_steps for p in qnet.populations)
    lava = None
    if runner is None:
        ref, emu, seconds = run_pair(net, qnet, profile, inputs, chip_steps, engine=engine)
        if backend == "lava":
            lava, seconds["lava"] = run_lava_samples(qnet, inputs, chip_steps)
    else:
        ref, emu, seconds, lava = runner(n, chip_steps, lava=backend == "lava")
    result, verification, notes = emu, "", []
    if backend == "lava":
        result = lava
        verification = _verify_equal(emu, result)
    elif backend == "netx":
        t0 = time.perf_counter()
        result = _run_netx(netx_folder, qnet, inputs, chip_steps)
        seconds["netx"] = time.perf_counter() - t0
        verification = _verify_spikes(emu, result)
        if not all(p.spiking for p in qnet.populations):
            notes.append(
                "netx returns spikes only; the readout's accuracy uses the emulator's voltage "
                "trace, verified equal to netx in every spike"
            )
    elif backend == "xylosim":
        from snn_deploy.backends.xylo.bridge import verify_network

        verification, seconds["xylosim"] = verify_network(
            qnet, profile.numerics, inputs, chip_steps
        )
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
        rule = readout if readout != "auto" else ("count" if out.spiking else "mean_voltage")
        if rule == "count":  # class = most output spikes
            if not out.spiking:
                raise InputFileError(
                    f"--readout count needs a spiking output layer; '{out.name}' does not spike",
                    hint="use --readout mean_voltage, last_voltage or max_voltage",
                )
            f_score = ref.spikes[out.name][:, window].sum(1)
            i_score = result.spikes[out.name][:, window].sum(1)
        else:  # class from the readout's voltage (emulator's trace: see notes)
            if out.spiking:
                raise InputFileError(
                    f"--readout {rule} needs a non-spiking readout; '{out.name}' spikes",
                    hint="use --readout count",
                )
            reduce = VOLTAGE_READOUTS[rule]
            f_score = reduce(ref.voltage[out.name][:, window])
            i_score = reduce(emu.voltage[out.name][:, window])
            if backend == "lava":
                notes.append(
                    "Lava returns the readout's final v only; the accuracy uses the "
                    "emulator's voltage trace, verified equal to Lava in spikes and "
                    "final state"
                )
        what = "spike count" if rule == "count" else rule.replace("_", " ")
        notes.append(f"class = argmax of the output layer's {what} (--readout {rule})")
        float_acc = float(np.mean(f_score.argmax(1) == labels))
        int_acc = float(np.mean(i_score.argmax(1) == labels))
    events = {}
    for ev in emu.events.values():
        for k, v in ev.items():
            events[k] = events.get(k, 0) + v
    activity = measure(qnet, result.spikes, chip_steps, dict(inputs), mapping)
    spiking = {p.name for p in qnet.populations if p.spiking}
    ras = {
        "float": raster({k: v for k, v in ref.spikes.items() if k in spiking}),
        "int": raster({k: v for k, v in result.spikes.items() if k in spiking}),
    }
    return EmulationSummary(
        backend=BACKENDS[backend],
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
        activity=activity,
        estimates=estimate(activity, profile),
        raster=ras,
    )


def run_pair(net, qnet, profile, inputs: dict, chip_steps: int, **emulator_options):
    """The float reference and the integer emulator on ``inputs`` in chip time:
    ``(SimResult, EmulationResult, seconds)``; ``emulator_options`` go to the emulator's ``run``.

    A sample's integer result depends on that sample only. A float64 matrix product's rows do
    not: BLAS picks its kernels (and so the order of the sums) by the number of rows; with
    float64 weights, half of the voltages of 7 digits computed in a batch of 7 differed in the
    last bits from the same samples in a batch of 360 (scipy-openblas 0.3.31, Haswell kernels;
    ``tests/test_scaleout.py``). The float reference therefore always runs
    in blocks of :data:`FLOAT_BLOCK` samples from the first of ``inputs``, with one BLAS thread,
    so that sharding at multiples of the block (``snn_deploy.scaleout``) gives the same floats
    as one run on one machine."""
    from snn_deploy.backends.emulator import run

    shifts = {p.name: p.shift_steps for p in (*qnet.inputs, *qnet.populations)}
    timing = ChipTiming(
        MappingProxyType(shifts),
        MappingProxyType({p.name: p.delay_steps for p in qnet.projections}),
        (),
    )
    readouts = tuple(p.name for p in qnet.populations if not p.spiking)
    seconds = {}
    t0 = time.perf_counter()
    ref = _simulate_blocks(net, inputs, timing, chip_steps, readouts)
    seconds["float reference"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    emu = run(
        qnet, profile.numerics, inputs, chip_steps, record_voltage=readouts, **emulator_options
    )
    seconds["emulator"] = time.perf_counter() - t0
    return ref, emu, seconds


def run_lava_samples(qnet, inputs: dict, chip_steps: int):
    """``inputs`` run in Lava in one subprocess, as networks of :data:`LAVA_CHUNK` copies
    (exact: the copies never exchange spikes): ``(EmulationResult without voltages, seconds)``.
    """
    from snn_deploy.backends.lava.bridge import LavaJob, run_lava

    t0 = time.perf_counter()
    n = next(iter(inputs.values())).shape[0]
    jobs = [
        LavaJob(qnet, {k: v[i : i + LAVA_CHUNK] for k, v in inputs.items()}, chip_steps)
        for i in range(0, n, LAVA_CHUNK)
    ]
    parts, _ = run_lava(jobs)
    return concat_results(parts), time.perf_counter() - t0


def _simulate_blocks(net, inputs: dict, timing, chip_steps: int, readouts: tuple):
    """``simulate`` on blocks of :data:`FLOAT_BLOCK` samples (one BLAS thread), joined."""
    from threadpoolctl import threadpool_limits

    from snn_deploy.ir.simulate import SimResult, simulate

    n = next(iter(inputs.values())).shape[0]
    parts = []
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, n, FLOAT_BLOCK):
            block = {k: v[start : start + FLOAT_BLOCK] for k, v in inputs.items()}
            parts.append(
                simulate(net, block, timing=timing, num_steps=chip_steps, record_voltage=readouts)
            )
    if len(parts) == 1:
        return parts[0]
    spikes = {k: np.concatenate([p.spikes[k] for p in parts]) for k in parts[0].spikes}
    voltage = {k: np.concatenate([p.voltage[k] for p in parts]) for k in parts[0].voltage}
    return SimResult(spikes=spikes, voltage=voltage, num_steps=parts[0].num_steps)


def concat_results(parts):
    """Lava results of consecutive samples joined along the sample axis."""
    from snn_deploy.backends.emulator.result import EmulationResult

    spikes = {k: np.concatenate([p.spikes[k] for p in parts]) for k in parts[0].spikes}
    final = {
        k: {
            v: np.concatenate([p.final_state[k][v] for p in parts]) for v in parts[0].final_state[k]
        }
        for k in parts[0].final_state
    }
    return EmulationResult(spikes=spikes, final_state=final, num_steps=parts[0].num_steps)


def _run_netx(folder, qnet, inputs: dict, chip_steps: int):
    """The folder's ``run_loihi2.py`` on its ``network.net``, fed the chip-time input spikes
    the emulator got; an EmulationResult holding the spikes of every population."""
    from pathlib import Path

    from snn_deploy.backends.emulator.result import EmulationResult
    from snn_deploy.backends.netx.bridge import NetxJob, run_netx_script
    from snn_deploy.backends.netx.export import NET_FILE, SCRIPT
    from snn_deploy.ir.simulate import input_arrays

    port = next(i for i in qnet.inputs if i.kind == "spikes")
    shifts = {i.name: i.shift_steps for i in qnet.inputs}
    x = input_arrays(qnet, inputs, chip_steps, shifts)[port.name]
    folder = Path(folder)
    spikes = run_netx_script(folder / SCRIPT, NetxJob(folder / NET_FILE, x, chip_steps))
    return EmulationResult(spikes=spikes, final_state={}, num_steps=chip_steps)


def _verify_spikes(emu, other) -> str:
    """Every spike of every population equal, or VerificationError (netx has no state)."""
    diffs = []
    for pop, s in emu.spikes.items():
        if pop not in other.spikes:
            diffs.append(f"{pop}: not recorded")
            continue
        d = int(np.count_nonzero(s != other.spikes[pop]))
        if d:
            diffs.append(f"{pop}: {d} spike(s)")
    if diffs:
        raise VerificationError(
            "netx and the snn-deploy emulator disagree: " + "; ".join(diffs),
            hint="this is a bug in snn-deploy's netx export or emulator; please report it with "
            "the artifacts",
        )
    total = sum(int(s.sum()) for s in emu.spikes.values())
    return (
        f"verified: netx (lava-dl 0.6.0) and the snn-deploy emulator agree on all {total:,} spikes"
    )


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
