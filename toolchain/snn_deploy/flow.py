"""The compile flow: the ordered stages, each taking the previous product and returning a new one.

::

    import_model  path                          -> ImportedModel (float nir.NIRGraph + extras)
    normalize     ImportedModel                 -> DiscreteNetwork (contract applied)
    quantize      DiscreteNetwork + profile     -> QuantizedNetwork + QuantizationReport
    check         QuantizedNetwork + profile    -> violations (raised together) + core plan
    map           core plan                     -> MappedNetwork
    emit          all products                  -> staging folder (graph.nir, network.npz, ...)
    report        all products                  -> report.json/.md/.html, manifest.json; commit

Between stages, ``emit`` verifies that the files it wrote read back to the same products and
raises :class:`VerificationError` otherwise. Nothing is written to the output folder unless every
stage succeeds (``artifacts.StagingDir``).
"""

from __future__ import annotations

import dataclasses
import datetime
import inspect
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import nir
import numpy as np

import snn_deploy
from snn_deploy.artifacts import ARTIFACT_FORMAT, StagingDir, sha256, write_json
from snn_deploy.backends.spinnaker.pynn import emit_pynn
from snn_deploy.backends.xylo.config import emit_xylo
from snn_deploy.checks import check_formats
from snn_deploy.checks.formats import check_mapping
from snn_deploy.checks.overflow import overflow_violations
from snn_deploy.data.loader import load_inputs
from snn_deploy.emulation import compare
from snn_deploy.errors import ResourceError, UnsupportedError, UsageError, VerificationError
from snn_deploy.frontend import ImportedModel, import_model
from snn_deploy.frontend.nir_file import read_nir
from snn_deploy.ir.contract import METADATA_KEY
from snn_deploy.ir.network import weights_equal
from snn_deploy.ir.normalize import normalize, resolve_contract
from snn_deploy.ir.simulate import calibrate, simulate
from snn_deploy.learning.deploy import (
    LearningConfig,
    learning_config,
    learning_report,
    make_plastic,
    parse_plastic,
    rule_violations,
    save_config,
)
from snn_deploy.learning.listing import write_learning_artifact
from snn_deploy.mapping import plan_cores
from snn_deploy.profiles import HardwareProfile, load_profile
from snn_deploy.quantize.fixedpoint import quantize_fixedpoint
from snn_deploy.quantize.float32 import quantize_float32
from snn_deploy.quantize.legalize import fold_calibration, legalize_float, legalize_integer
from snn_deploy.quantize.legalize import summary as legalization_summary
from snn_deploy.quantize.loihi import DEFAULT_HEADROOM, quantize_loihi
from snn_deploy.quantize.network import QuantizedNetwork
from snn_deploy.quantize.spinnaker import quantize_spinnaker
from snn_deploy.quantize.xylo import quantize_xylo
from snn_deploy.reports import CompileReport, write_reports

CHECK_SAMPLES = 64  # calibration samples run in integers to measure overflow at compile time

DEFAULT_STAGES = ("import_model", "normalize", "quantize", "check", "map", "emit", "report")

# Target programs written next to the integer network, per arithmetic: (folder, qnet, profile,
# core plan, data description, float network) -> names of the files written.
EMITTERS = {"spinnaker": emit_pynn, "xylo": emit_xylo}

QUANTIZERS = {
    "loihi": quantize_loihi,
    "fixedpoint": quantize_fixedpoint,
    "spinnaker": quantize_spinnaker,
    "float32": quantize_float32,
    "xylo": quantize_xylo,
}


@dataclass(frozen=True)
class CompileOptions:
    model: str
    target: str = "loihi2"
    out: str | None = None
    profile: str | None = None  # a .toml path; overrides target
    chips: int | None = None
    overrides: dict = field(default_factory=dict)  # contract fields stated by the user
    headroom: float = DEFAULT_HEADROOM
    calibrate: str | None = None  # data whose state ranges set the integer scales
    steps: int | None = None  # input time steps of a converted ANN
    weight_bits: int | None = None  # narrower weights than the chip's widest
    calibrate_percentile: float = 100.0  # < 100 ignores the most extreme state values
    arch: str | None = None  # architecture description of a bare state dict
    plastic: tuple[str, ...] = ()  # --plastic LAYER=RULE[,param=value...] (learning/deploy.py)
    netx: bool = False  # quantize to integers lava-dl's netx expresses (Loihi 2's network.net)


class StageTimer:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        assert name in DEFAULT_STAGES, name  # a programming error, not user input
        t0 = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - t0


def resolve_profile(target: str, profile: str | None, chips: int | None) -> HardwareProfile:
    prof = load_profile(profile if profile else target)
    return prof.with_chips(chips) if chips else prof


def compile_model(opts: CompileOptions) -> CompileReport:
    timer = StageTimer()
    profile = resolve_profile(opts.target, opts.profile, opts.chips)
    with timer.stage("import_model"):
        imported = import_model(opts.model, opts.calibrate, opts.steps, opts.arch)
    with timer.stage("normalize"):
        net = normalize(imported.graph, opts.overrides)
    with timer.stage("quantize"):
        quantizer = QUANTIZERS.get(profile.chip.arithmetic)
        if quantizer is None:
            raise UnsupportedError(f"no quantizer for arithmetic {profile.chip.arithmetic!r}")
        # Legalization (quantize/legalize.py): the quantizer gets `legal`, `net` stays the
        # user's model (graph.nir, the report, the float reference of emulate).
        legal, folded, legalization = net, (), []
        if not opts.plastic:
            legal, folded, legalization = legalize_float(net, profile)
        calibration = fold_calibration(imported.calibration, net, folded)
        calib_run = None
        if opts.calibrate:
            inputs, labels, desc = load_inputs(opts.calibrate, net, imported.data, "train")
            calibration = {
                k: {
                    **v,
                    "source": f"measured on {desc}"
                    + (
                        f" ({opts.calibrate_percentile:g}th percentile)"
                        if opts.calibrate_percentile < 100
                        else " (max)"
                    ),
                }
                for k, v in calibrate(legal, inputs, opts.calibrate_percentile).items()
            }
        notes = _spikes_notes(
            imported.graph, net, opts.overrides, inputs if opts.calibrate else None
        )
        if net.contract.threshold != profile.neurons.threshold_comparison:
            notes.append(
                f"the model spikes at V {net.contract.threshold} threshold; "
                f"{profile.chip.title} compares V {profile.neurons.threshold_comparison} "
                "threshold: the two differ only where V equals the threshold exactly"
            )
        imported = dataclasses.replace(imported, notes=(*imported.notes, *notes))
        extra = {}
        if opts.weight_bits is not None:
            if "weight_bits" not in inspect.signature(quantizer).parameters:
                raise UnsupportedError(f"--weight-bits is not supported for {profile.chip.title}")
            _check_weight_bits(opts.weight_bits, profile)
            extra["weight_bits"] = opts.weight_bits
        if opts.netx:
            if "netx" not in inspect.signature(quantizer).parameters:
                raise UnsupportedError(
                    f"--netx: lava-dl's netx runs Loihi 2 networks, not {profile.chip.title}",
                    hint="compile with --target loihi2, or drop --netx",
                )
            extra["netx"] = True
        qnet, qreport, violations = quantizer(legal, profile, calibration, opts.headroom, **extra)
        cores = None
        if not opts.plastic:
            qnet, split_records, cores = legalize_integer(qnet, legal, profile)
            legalization += split_records
        learning = _learning_config(opts, profile, qnet)
        if learning is not None:
            qnet = make_plastic(qnet, learning)
    with timer.stage("check"):
        violations = list(violations) + check_formats(qnet, profile)
        if learning is not None:
            for entry in learning.entries:
                violations += rule_violations(entry, profile)
        plan, resource_violations = plan_cores(qnet, profile)
        violations += resource_violations + check_mapping(qnet, profile, plan)
        if opts.calibrate and not violations:
            # State overflow risk, measured: the integer network on (part of) the data.
            part = {k: v[:CHECK_SAMPLES] for k, v in inputs.items()}
            calib_run = compare(
                net,
                qnet,
                profile,
                part,
                None if labels is None else labels[:CHECK_SAMPLES],
                desc,
                mapping=plan.to_dict(),
            )
            violations += overflow_violations(calib_run.events, profile)
        if violations:
            raise ResourceError(
                violations,
                summary=f"{Path(opts.model).name} cannot be deployed on {profile.chip.title}: "
                f"{len(violations)} problem(s)",
            )
    with timer.stage("map"):
        mapped = plan
    out = Path(opts.out) if opts.out else Path("build") / Path(opts.model).stem
    staging = StagingDir(out)
    try:
        with timer.stage("emit"):
            graph = _graph_with_contract(imported.graph, net.contract.to_metadata())
            nir.write(staging.path / "graph.nir", graph)
            qnet.save(staging.path / "network.npz")
            write_json(staging.path / "mapping.json", mapped.to_dict())
            _verify_round_trip(staging.path, qnet, net, opts.overrides)
            emitter = EMITTERS.get(profile.chip.arithmetic)
            extra = (
                emitter(staging.path, qnet, profile, mapped, imported.data, net) if emitter else []
            )
            if learning is not None:
                extra = list(extra) + _emit_learning(staging.path, learning, profile)
            netx = _emit_netx(staging.path, qnet, profile, learning)
            extra = list(extra) + netx["files"]
        with timer.stage("report"):
            report = _build_report(
                opts, profile, imported, net, qnet, qreport, mapped, timer, calib_run, extra
            )
            if legalization:
                report.data["legalization"] = {
                    "summary": legalization_summary(legalization, cores),
                    "split_populations": qnet.split_populations,
                    "cores_before": cores[0] if cores else len(mapped.cores),
                    "cores_after": len(mapped.cores),
                    "transformations": [t.to_dict() for t in legalization],
                }
            if learning is not None:
                report.data["learning"] = learning_report(learning, profile)
            if netx["applies"]:
                report.data["netx"] = {k: v for k, v in netx.items() if k != "applies"}
                report.data["notes"].append(netx["note"])
            write_json(staging.path / "report.json", report.to_dict())
            record = calib_run.record() if calib_run else None
            if record:
                write_json(staging.path / "emulation.json", record)
            write_reports(staging.path, report.to_dict(), record)
            manifest = _manifest(opts, profile, imported, qnet, staging.path)
            write_json(staging.path / "manifest.json", manifest)
        staging.commit()
    except BaseException:
        staging.discard()
        raise
    return report


def _learning_config(opts, profile, qnet) -> LearningConfig | None:
    """The plastic projections of ``--plastic`` (None without it)."""
    if not opts.plastic:
        return None
    if profile.learning is None:
        raise UnsupportedError(
            f"--plastic: {profile.chip.title} has no on-chip learning engine "
            f"(no [learning] table in {Path(profile.path).name})",
            hint="compile for a target with one (--target loihi2) or drop --plastic",
        )
    return learning_config([parse_plastic(t) for t in opts.plastic], qnet)


def _emit_netx(folder: Path, qnet, profile, learning) -> dict:
    """``network.net`` and ``run_loihi2.py`` for a Loihi 2 network that netx loads exactly;
    where it does not, nothing is written and the one-line reason is returned for the report
    (the other artifacts do not depend on it)."""
    from snn_deploy.backends.netx.export import NetxRefused, emit_netx
    from snn_deploy.quantize.groups import split_reason

    if profile.chip.arithmetic != "loihi":
        return {"applies": False, "files": []}
    try:
        if learning is not None:
            raise NetxRefused("plastic projections: a netx network does not learn")
        split = split_reason(qnet)
        if split is not None:
            raise NetxRefused(split, hint="emulate --backend lava runs it")
        if profile.numerics_fingerprint() != load_profile("loihi2").numerics_fingerprint():
            raise NetxRefused(
                f"the profile's numerics ({Path(profile.path).name}) differ from Lava's "
                "Loihi 2 models (loihi2.toml), which netx builds"
            )
        files = emit_netx(folder, qnet)
    except NetxRefused as exc:
        reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return {
            "applies": True,
            "written": False,
            "files": [],
            "reason": reason,
            "note": f"netx export (network.net, run_loihi2.py) not written: {reason}",
        }
    return {
        "applies": True,
        "written": True,
        "files": files,
        "reason": "",
        "note": "netx export: network.net (lava-dl netx HDF5) and run_loihi2.py run this "
        "network on Loihi 2 or in Lava (docs/loihi2-netx.md)",
    }


def _emit_learning(folder: Path, learning: LearningConfig, profile) -> list[str]:
    """``learning.json`` (the configuration) and ``learning/`` (listings, rules.json, the Lava
    module) in the staging folder; returns their names relative to it."""
    save_config(learning, folder / "learning.json")
    entries = {e.projection: (e.rule, e.neuron) for e in learning.entries}
    written = write_learning_artifact(folder, entries, profile)
    return ["learning.json", *(str(p.relative_to(folder)) for p in written)]


def _spikes_notes(graph: nir.NIRGraph, net, overrides: dict, inputs: dict | None) -> list[str]:
    """What ``--spikes`` changed: when it states another spike mode than the graph's metadata
    or convention, the float network is run both ways on the calibration data (if any) and the
    spike counts per layer are reported."""
    stated = overrides.get("spikes")
    if stated is None:
        return []
    rest = {k: v for k, v in overrides.items() if k != "spikes"}
    default = resolve_contract(graph, rest).spikes
    if default == stated:
        return []
    origin = f"convention '{net.contract.convention}'" if net.contract.convention else "metadata"
    head = f"--spikes {stated} replaces the model's {default}-spike reading (its {origin})"
    if inputs is None:
        return [f"{head}; its effect was not measured: pass --calibrate DATA to measure it"]
    other = normalize(graph, {**rest, "spikes": default})
    got, ref = simulate(net, inputs).spikes, simulate(other, inputs).spikes
    parts = []
    for pop in net.populations:
        if pop.name not in got:
            continue
        a, b = np.asarray(got[pop.name], np.int64), np.asarray(ref[pop.name], np.int64)
        parts.append(
            f"'{pop.name}' {int(b.sum()):,} spikes ({default}) vs {int(a.sum()):,} ({stated}), "
            f"{int(np.count_nonzero(a != b)):,} of {a.size:,} neuron-steps differ"
        )
    batch = next(iter(inputs.values())).shape[0]
    return [
        f"{head}; measured in float on the calibration data ({batch} samples): " + "; ".join(parts)
    ]


def _check_weight_bits(bits: int, profile: HardwareProfile) -> None:
    """``--weight-bits`` between the narrowest signed weight and the chip's widest."""
    num = profile.numerics
    key = "weight_mantissa_bits" if hasattr(num, "weight_mantissa_bits") else "weight_bits"
    lowest = 1 if key == "weight_mantissa_bits" else 2  # a mantissa has a separate sign bit
    widest = getattr(num, key)
    if not lowest <= bits <= widest:
        raise UsageError(
            f"--weight-bits {bits} is outside {lowest}..{widest} for {profile.chip.title} "
            f"({profile.key('numerics', key)})",
            hint=f"give a width from {lowest} to {widest}, or omit it for the widest",
        )


def _graph_with_contract(graph: nir.NIRGraph, contract_meta: dict) -> nir.NIRGraph:
    meta = dict(graph.metadata or {})
    meta[METADATA_KEY] = contract_meta
    return nir.NIRGraph(
        nodes=dict(graph.nodes), edges=list(graph.edges), metadata=meta, type_check=False
    )


def _verify_round_trip(folder: Path, qnet: QuantizedNetwork, net, overrides) -> None:
    back = QuantizedNetwork.load(folder / "network.npz")
    problems = []
    for a, b in zip(qnet.populations, back.populations, strict=True):
        for f in dataclasses.fields(a.params):
            if not np.array_equal(getattr(a.params, f.name), getattr(b.params, f.name)):
                problems.append(f"{a.name}.{f.name}")
        if (a.groups is None) != (b.groups is None) or (
            a.groups is not None and not np.array_equal(a.groups, b.groups)
        ):
            problems.append(f"{a.name}.groups")
    for a, b in zip(qnet.projections, back.projections, strict=True):
        if not weights_equal(a.weight, b.weight) or a.params != b.params:
            problems.append(a.name)
    graph = read_nir(folder / "graph.nir").graph
    renet = normalize(graph, overrides)
    for a, b in zip(net.projections, renet.projections, strict=True):
        if not weights_equal(a.weight, b.weight):
            problems.append(f"graph.nir:{a.name}")
    if problems:
        raise VerificationError(
            "artifacts do not read back to what was compiled: " + ", ".join(problems[:10]),
            hint="this is a bug in snn-deploy; please report it with the model",
        )


def _build_report(
    opts,
    profile,
    imported: ImportedModel,
    net,
    qnet,
    qreport,
    mapped,
    timer,
    calib_run=None,
    extra_artifacts=(),
):
    checked = [
        f"{profile.key('core', 'max_neurons')} = {profile.core.max_neurons:,} neurons per core",
        f"{profile.key('core', 'memory_bytes')} = {profile.core.memory_bytes:,} bytes per core "
        f"(neuron {profile.core.neuron_bits} bits + synapse bits each)",
        f"{profile.key('chip', 'cores_per_chip')} x max_chips = {profile.total_cores} cores",
        f"number formats of {profile.key('numerics', '*')} (decays, threshold, bias, weights, "
        "exponents, delays)",
        f"neuron model, reset mode and voltage drive ({profile.key('neurons', '*')})",
    ]
    overflow_note = []
    if calib_run:
        counts = ", ".join(f"{k} {v}" for k, v in calib_run.events.items())
        overflow_note = [
            f"state overflow measured on {calib_run.data} ({calib_run.samples} samples): {counts}"
        ]
    shifts = [
        f"'{p.name}' spikes {p.shift_steps} step(s) after its float-model step (one step per "
        "Dense synapse on its path)"
        for p in qnet.populations
        if p.shift_steps
    ]
    data = {
        "format": "snn-deploy/compile-report",
        "version": 1,
        "snn_deploy_version": snn_deploy.__version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "model": {
            "name": Path(opts.model).name,
            "source": str(opts.model),
            "kind": imported.kind,
            "training": imported.training,
        },
        "target": {
            "name": profile.name,
            "title": profile.chip.title,
            "profile": profile.path,
            "chips": profile.chip.max_chips,
            "cores_per_chip": profile.chip.cores_per_chip,
        },
        "contract": {**net.contract.to_metadata(), "description": net.contract.describe()},
        "network": {
            "inputs": [{"name": i.name, "size": i.size} for i in net.inputs],
            "populations": [
                {"name": p.name, "size": p.size, "model": p.model} for p in qnet.populations
            ],
            "projections": [
                {
                    "name": p.name,
                    "source": p.source,
                    "target": p.target,
                    "delay_steps": p.delay_steps,
                }
                for p in qnet.projections
            ],
            "neurons": net.num_neurons,
            "synapses": net.num_synapses,
            "outputs": list(net.outputs),
        },
        "timing": shifts,
        "quantization": qreport.to_dict(),
        "mapping": mapped.to_dict(),
        "limits": {"checked": checked, "not_checked": list(mapped.not_checked)},
        "violations": [],
        "notes": list(dict.fromkeys((*imported.notes, *qreport.notes, *overflow_note))),
        "stage_seconds": dict(timer.seconds),
        "artifacts": [
            "graph.nir",
            "network.npz",
            "mapping.json",
            "report.json",
            "report.md",
            "report.html",
            "manifest.json",
            *extra_artifacts,
        ],
    }
    return CompileReport(data)


def _manifest(opts, profile, imported: ImportedModel, qnet: QuantizedNetwork, folder: Path):
    files = {f.name: sha256(f) for f in sorted(folder.iterdir()) if f.is_file()}
    if (folder / "learning").is_dir():
        for f in sorted((folder / "learning").iterdir()):
            files[f"learning/{f.name}"] = sha256(f)
    return {
        "format": ARTIFACT_FORMAT,
        "version": 1,
        "snn_deploy_version": snn_deploy.__version__,
        "target": profile.name,
        "profile": {
            "path": profile.path,
            "sha256": sha256(profile.path),
            "numerics_sha256": profile.numerics_fingerprint(),
            "chips": profile.chip.max_chips,
        },
        "model": {"path": str(opts.model), "sha256": sha256(opts.model), "kind": imported.kind},
        "contract_overrides": dict(opts.overrides),
        "calibration_data": opts.calibrate,
        "data": imported.data,
        "outputs": list(qnet.outputs),
        "shift_steps": {p.name: p.shift_steps for p in qnet.populations},
        # Populations run as several processes (quantize/groups.py): not a chain of layers.
        "split_populations": qnet.split_populations,
        "files": files,
    }
