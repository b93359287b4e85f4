"""Plastic projections in a compiled network: the ``--plastic`` option of ``compile``.

``compile MODEL --plastic LAYER=RULE[,param=value...]`` names a projection (or a population
with one input projection) whose synapses keep learning on the chip. This module

- parses the option (:func:`parse_plastic`) and builds the rule and the post neuron's program
  from the library with the given parameters (:func:`build_entry`); ``dw=``, ``dt=``, ``dd=``
  replace a program by a rule string of one's own, which the locality and width checks judge;
- routes the third factor: a ``readout_delta`` layer gets a graded ``label`` source into its
  neurons' third-factor input (the label is part of the compiled network), an ``r_stdp`` layer
  a graded ``reward`` source; ``pair_stdp`` needs none;
- makes the plastic projections MIXED in sign (:func:`make_plastic`: a learned weight may change
  sign; Lava's ``LearningDense`` default), the only change to the integer network;
- and builds the network the chip runs from the ``QuantizedNetwork`` plus the
  :class:`LearningConfig` (:func:`plastic_view`): one integer network, whose plastic view is the
  list of Lava processes that the emulator (``backends/emulator/learning.py``) and the Lava
  learning bridge run.

The sample stream (:func:`sample_stream`) presents samples back to back, ``period`` steps each
(the input's steps, the deepest layer's shift, then silent steps), every population's ``u`` and
``v`` reset at each sample's first step (Lava ``LIFReset``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import InputFileError, ModelError, UnsupportedError, Violation
from snn_deploy.learning.engine import product_shift
from snn_deploy.learning.library import error_neuron, pair_stdp, r_stdp, readout_delta
from snn_deploy.learning.microcode import NeuronProgram
from snn_deploy.learning.network import Connection, Neurons, PlasticNetwork, Source
from snn_deploy.learning.program import parse_program
from snn_deploy.learning.rule import LearningRule
from snn_deploy.quantize.network import QuantizedNetwork
from snn_deploy.quantize.params import LoihiSynapseParams

FORMAT = "snn-deploy/learning-config"
VERSION = 1
NON_SPIKING_VTH = (1 << 17) - 1  # Lava LIF vth is 17 bits: a readout that never spikes
DEFAULT_GAP = 2  # silent steps after each sample's input and shift

# Rule -> (third factor kind or None, parameters of the library function, of the neuron).
DEPLOYABLE = {
    "readout_delta": (
        "label",
        {"tau_pre", "pre_impulse", "eta_exp", "centered", "mean_exp", "mantissa", "decimation"},
        {"prediction_shift", "error_limit", "target", "read", "margin"},
    ),
    "r_stdp": (
        "reward",
        {"tau_pre", "tau_post", "impulse", "tag_decay_exp", "reward_shift", "eta", "a_plus"},
        set(),
    ),
    "pair_stdp": (None, {"tau_pre", "tau_post", "impulse"}, set()),
}
PROGRAM_KEYS = ("dw", "dt", "dd")


@dataclass(frozen=True)
class PlasticSpec:
    """One ``--plastic LAYER=RULE[,param=value...]``."""

    layer: str
    rule: str
    params: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        return ",".join([f"{self.layer}={self.rule}", *(f"{k}={v}" for k, v in self.params)])


def parse_plastic(text: str) -> PlasticSpec:
    head, _, rest = text.partition(",")
    layer, eq, rule = head.partition("=")
    if not eq or not layer.strip() or not rule.strip():
        raise InputFileError(
            f"--plastic {text!r}: expected LAYER=RULE[,param=value...]",
            hint="e.g. --plastic out=readout_delta,eta_exp=-5",
        )
    params = []
    for part in filter(None, (p.strip() for p in rest.split(","))):
        k, eq, v = part.partition("=")
        if not eq or not k.strip():
            raise InputFileError(
                f"--plastic {text!r}: parameter {part!r} is not param=value",
                hint="separate parameters with commas: LAYER=RULE,param=value,param=value",
            )
        params.append((k.strip(), v.strip()))
    return PlasticSpec(layer.strip(), rule.strip(), tuple(params))


def _value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "/" in text:  # a (mantissa/exponent) pair, e.g. eta=1/-2
        a, b = text.split("/", 1)
        return (int(a), int(b))
    raise ValueError(text)


@dataclass(frozen=True)
class PlasticEntry:
    """A plastic projection as compiled: its rule, the post neuron's program and the third
    factor's source (``kind`` label / reward / None; ``source`` its input port)."""

    projection: str
    population: str
    spec: PlasticSpec
    rule: LearningRule
    neuron: NeuronProgram | None
    third_factor: str | None
    target_level: int = 0

    @property
    def source(self) -> str | None:
        return None if self.third_factor is None else f"{self.third_factor}_{self.population}"


@dataclass(frozen=True)
class LearningConfig:
    entries: tuple[PlasticEntry, ...]
    gap: int = DEFAULT_GAP  # silent steps after each sample's input and shift
    notes: tuple[str, ...] = field(default_factory=tuple)

    def entry(self, projection: str) -> PlasticEntry:
        for e in self.entries:
            if e.projection == projection:
                return e
        raise KeyError(projection)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "gap": self.gap,
            "notes": list(self.notes),
            "plastic": [
                {
                    "projection": e.projection,
                    "population": e.population,
                    "option": e.spec.text(),
                    "rule": e.rule.to_dict(),
                    "neuron": None if e.neuron is None else e.neuron.name,
                    "third_factor": e.third_factor,
                    "third_factor_source": e.source,
                    "target_level": e.target_level,
                }
                for e in self.entries
            ],
        }


def _population_vth(qnet: QuantizedNetwork, name: str) -> int:
    pop = next(p for p in qnet.populations if p.name == name)
    return int(np.max(pop.params.vth)) if pop.spiking else NON_SPIKING_VTH


def _find_projection(qnet: QuantizedNetwork, layer: str):
    for p in qnet.projections:
        if p.name == layer:
            return p
    inputs = [p for p in qnet.projections if p.target == layer]
    if len(inputs) == 1:
        return inputs[0]
    names = ", ".join(p.name for p in qnet.projections)
    if inputs:
        raise ModelError(
            f"--plastic {layer}: population '{layer}' has {len(inputs)} input projections",
            hint=f"name one projection: {names}",
        )
    raise ModelError(
        f"--plastic {layer}: no projection or population of that name",
        hint=f"projections: {names}; populations: " + ", ".join(p.name for p in qnet.populations),
    )


def build_entry(spec: PlasticSpec, qnet: QuantizedNetwork, seed: int) -> PlasticEntry:
    """The rule, neuron program and third factor of ``spec`` on ``qnet`` (library defaults,
    overridden by the spec's parameters)."""
    if spec.rule not in DEPLOYABLE:
        raise UnsupportedError(
            f"--plastic {spec.text()}: rule '{spec.rule}' cannot be attached to a compiled "
            f"layer (deployable: {', '.join(DEPLOYABLE)})",
            hint="e-prop, SuperSpike and DECOLLE need error neurons and feedback synapses; "
            "build them with snn_deploy.learning (PlasticNetwork)",
        )
    proj = _find_projection(qnet, spec.layer)
    if proj.delay_steps != 1 or sp.issparse(proj.weight):
        raise UnsupportedError(
            f"--plastic {spec.text()}: projection '{proj.name}' is "
            + ("sparse" if sp.issparse(proj.weight) else f"delayed {proj.delay_steps} steps")
            + "; Lava's LearningDense is dense with one step of delay",
            hint="make another, dense and undelayed layer plastic",
        )
    kind, rule_keys, neuron_keys = DEPLOYABLE[spec.rule]
    rule_kw, neuron_kw, programs = {"seed": seed}, {}, {}
    for k, v in spec.params:
        if k in PROGRAM_KEYS:
            programs[k] = v
            continue
        if k == "seed":
            rule_kw["seed"] = int(v)
            continue
        if k == "gap":
            continue  # silent steps after each sample (learning_config)
        if k not in rule_keys | neuron_keys:
            raise InputFileError(
                f"--plastic {spec.text()}: unknown parameter '{k}' of rule '{spec.rule}'",
                hint="accepted: "
                + ", ".join(sorted(rule_keys | neuron_keys | {"seed", "gap", *PROGRAM_KEYS})),
            )
        try:
            val = v if k == "read" else _value(v)
        except ValueError:
            raise InputFileError(
                f"--plastic {spec.text()}: parameter {k}={v!r} is not a number",
                hint="give integers, decimals, true/false, or mantissa/exponent pairs (1/-2)",
            ) from None
        (rule_kw if k in rule_keys else neuron_kw)[k] = val
    lib = {"readout_delta": readout_delta, "r_stdp": r_stdp, "pair_stdp": pair_stdp}[spec.rule]
    made = lib(**rule_kw)
    rule, neuron, level = made.rule, made.neuron, 0
    if spec.rule == "readout_delta":
        vth = _population_vth(qnet, proj.target)
        # Prediction = v >> shift: the threshold (vth << 6) reads as 32.
        shift = max(0, (vth << 6).bit_length() - 6)
        neuron = error_neuron(
            prediction_shift=int(neuron_kw.get("prediction_shift", shift)),
            error_limit=int(neuron_kw.get("error_limit", 63)),
            read=str(neuron_kw.get("read", "v")),
            margin=bool(neuron_kw.get("margin", True)),
        )
        level = int(neuron_kw.get("target", 32))
    for k, text in programs.items():
        rule = dataclasses.replace(rule, **{k: parse_program(k, text)})
    rule = dataclasses.replace(rule, name=f"{spec.rule}_{proj.name}")
    return PlasticEntry(proj.name, proj.target, spec, rule, neuron, kind, level)


def rule_violations(entry: PlasticEntry, profile) -> list[Violation]:
    """``check_rule`` on the entry, each violation located at the projection."""
    from snn_deploy.learning.check import check_rule

    return check_rule(
        entry.rule, profile, neuron=entry.neuron, layer=f"{entry.projection} ({entry.spec.rule})"
    )


def make_plastic(qnet: QuantizedNetwork, config: LearningConfig) -> QuantizedNetwork:
    """``qnet`` with every plastic projection in MIXED sign mode (LearningDense's default: a
    learned weight may change sign)."""
    plastic = {e.projection for e in config.entries}
    projs = []
    for p in qnet.projections:
        if p.name in plastic and p.params.sign_mode != "mixed":
            p = dataclasses.replace(p, params=dataclasses.replace(p.params, sign_mode="mixed"))
        projs.append(p)
    return dataclasses.replace(qnet, projections=tuple(projs))


def learning_config(
    specs, qnet: QuantizedNetwork, gap: int = DEFAULT_GAP, seed: int = 0
) -> LearningConfig:
    if qnet.arithmetic != "loihi":
        raise UnsupportedError(f"--plastic: arithmetic {qnet.arithmetic!r} has no learning engine")
    entries, seen = [], set()
    for i, spec in enumerate(specs):
        e = build_entry(spec, qnet, seed + i)
        if e.projection in seen:
            raise InputFileError(f"--plastic: projection '{e.projection}' named twice")
        seen.add(e.projection)
        entries.append(e)
    gaps = [int(v) for s in specs for k, v in s.params if k == "gap"]
    return LearningConfig(tuple(entries), max([int(gap), *gaps]))


def sample_period(qnet: QuantizedNetwork, config: LearningConfig, steps: int) -> int:
    """Chip steps per sample: the input's steps, the deepest layer's shift, the gap."""
    return int(steps) + max((p.shift_steps for p in qnet.populations), default=0) + config.gap


def _uniform(values, what: str, pop: str) -> int:
    vals = np.unique(np.asarray(values))
    if vals.size != 1:
        raise UnsupportedError(
            f"population '{pop}': {what} differs between neurons; the plastic view holds one "
            "per population (Lava LIF)"
        )
    return int(vals[0])


def plastic_view(
    qnet: QuantizedNetwork,
    config: LearningConfig,
    period: int,
    weights: dict | None = None,
    learn: bool = True,
) -> PlasticNetwork:
    """The Lava processes the chip runs for ``qnet`` with ``config``'s plastic projections:
    sources for the inputs and third factors, LIF (three-factor where a plastic input needs a
    neuron program) populations reset at every sample's first step (``period`` steps apart),
    ``Dense`` and ``LearningDense`` connections. ``weights`` replaces projection weights
    (learned ones); ``learn=False`` keeps every connection static."""
    if qnet.arithmetic != "loihi":
        raise UnsupportedError(f"plastic view: arithmetic {qnet.arithmetic!r} is not Loihi")
    by_pop = {e.population: e for e in config.entries}
    by_proj = {e.projection: e for e in config.entries} if learn else {}
    sources = [Source(i.name, i.size) for i in qnet.inputs]
    pops, conns = [], []
    for p in qnet.populations:
        q, entry = p.params, by_pop.get(p.name)
        pops.append(
            Neurons(
                p.name,
                p.size,
                du=_uniform(q.du, "du", p.name),
                dv=_uniform(q.dv, "dv", p.name),
                vth=_uniform(q.vth, "vth", p.name) if p.spiking else NON_SPIKING_VTH,
                bias_mant=q.bias_mant,
                bias_exp=q.bias_exp,
                program=None if entry is None else entry.neuron,
                reset_interval=period,
                reset_offset=1 % period,
            )
        )
    for proj in qnet.projections:
        if proj.delay_steps != 1 or sp.issparse(proj.weight):
            raise UnsupportedError(
                f"plastic view: projection '{proj.name}' is sparse or delayed; not supported"
            )
        w = np.asarray(proj.weight if weights is None else weights.get(proj.name, proj.weight))
        params: LoihiSynapseParams = proj.params
        entry = by_proj.get(proj.name)
        conns.append(
            Connection(
                proj.name,
                proj.source,
                proj.target,
                w,
                weight_exp=int(params.weight_exp),
                num_weight_bits=int(params.num_weight_bits),
                sign_mode=params.sign_mode,
                rule=None if entry is None else entry.rule,
            )
        )
    for e in config.entries:
        if e.third_factor is None:
            continue
        size = qnet.size_of(e.population)
        sources.append(Source(e.source, size))
        conns.append(
            Connection(
                e.source,
                e.source,
                e.population,
                np.eye(size, dtype=np.int64),
                graded=True,
                target_port="a3",
            )
        )
    return PlasticNetwork(tuple(sources), tuple(pops), tuple(conns), name="compiled")


def sample_stream(
    qnet: QuantizedNetwork,
    config: LearningConfig,
    x: np.ndarray,
    labels: np.ndarray | None = None,
) -> dict:
    """Samples ``x`` (n, steps, size) back to back, :func:`sample_period` steps each; a constant
    input spikes every step from its shift on. With ``labels``, every ``label`` source carries
    ``1 + target`` during its population's window (``target_level`` for the labelled neuron, 0
    for the others), one step early: the graded synapse delivers it a step later."""
    n, steps = x.shape[0], x.shape[1]
    period = sample_period(qnet, config, steps)
    spikes = [i for i in qnet.inputs if i.kind == "spikes"]
    out = {}
    for i in qnet.inputs:
        a = np.zeros((n, period, i.size), np.int64)
        if i.kind == "spikes":
            a[:, :steps] = x if len(spikes) == 1 else 0
        else:
            a[:, i.shift_steps :] = 1
        out[i.name] = a.reshape(n * period, i.size)
    for e in config.entries:
        if e.third_factor is None:
            continue
        size = qnet.size_of(e.population)
        a = np.zeros((n, period, size), np.int64)
        if e.third_factor == "label" and labels is not None:
            shift = next(p.shift_steps for p in qnet.populations if p.name == e.population)
            lo, hi = max(0, shift - 1), min(period, steps + shift - 1)
            a[:, lo:hi] = 1
            a[np.arange(n), lo:hi, labels] += e.target_level
        out[e.source] = a.reshape(n * period, size)
    return out


def save_config(config: LearningConfig, path) -> None:
    from pathlib import Path

    Path(path).write_text(json.dumps(config.to_dict(), indent=2) + "\n")


def load_config(path, qnet: QuantizedNetwork) -> LearningConfig:
    """The configuration written by ``compile --plastic``, rebuilt from its options and checked
    against the stored rule strings."""
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: unreadable learning configuration ({exc})") from None
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise InputFileError(f"{path}: not a learning configuration of this snn-deploy")
    specs = [parse_plastic(p["option"]) for p in data["plastic"]]
    seeds = [int(p["rule"]["rng_seed"]) for p in data["plastic"]]
    entries = []
    for spec, seed, stored in zip(specs, seeds, data["plastic"], strict=True):
        if not any(k == "seed" for k, _ in spec.params):
            spec_seeded = dataclasses.replace(spec, params=(*spec.params, ("seed", str(seed))))
        else:
            spec_seeded = spec
        e = build_entry(spec_seeded, qnet, seed)
        e = dataclasses.replace(e, spec=spec)
        if json.loads(json.dumps(e.rule.to_dict())) != stored["rule"]:
            raise InputFileError(
                f"{path}: the rule of '{e.projection}' does not match its option",
                hint="the artifact was edited; compile the model again",
            )
        entries.append(e)
    return LearningConfig(tuple(entries), int(data["gap"]), tuple(data.get("notes", ())))


# -- the report's learning section ---------------------------------------------------------------

_READS = {
    "x0": "pre spike in the epoch",
    "x1": "pre trace x1",
    "x2": "pre trace x2",
    "y0": "post spike in the epoch",
    "w": "own weight",
    "t": "own tag t",
    "d": "own tag d",
}
NARROWED = (
    "trace_bits",
    "weight_bits",
    "tag_bits",
    "constant_bits",
    "scale_mantissa_bits",
    "accumulator_bits",
    "epoch_bits",
)


def _reads(var: str, rule: LearningRule) -> str:
    if var in _READS:
        return _READS[var]
    if var.startswith("u"):
        return "every epoch"
    post = {p.trace: p for p in rule.post_traces}
    if var in post:
        return f"post {var}: {post[var].meaning or post[var].expr}"
    return f"post trace {var}" if var.startswith("y") else var


def small_profile(profile, learning):
    return dataclasses.replace(profile, learning=learning)


def _semantic_changes(rule: LearningRule, wide, narrow) -> list[str]:
    """What the checks pass but the rule would compute differently on ``narrow``: a coarser
    MAC shift (updates rounded to a larger step) or a signed factor whose offset no longer
    fits the trace range."""
    out = []
    for target, prog in rule.programs.items():
        for k, prod in enumerate(prog.products, 1):
            a = product_shift(sum(wide.factor_width(f.var) for f in prod.factors), wide)
            b = product_shift(sum(narrow.factor_width(f.var) for f in prod.factors), narrow)
            if a != b:
                out.append(f"{target} product {k} '{prod.text()}': MAC shift {a} -> {b}")
            for f in prod.factors:
                traced = f.var in ("x1", "x2", "y1", "y2", "y3")
                if traced and f.const is not None and -f.const > narrow.trace_max:
                    out.append(
                        f"{target} product {k}: offset {-f.const} of '{f.text()}' is outside "
                        f"the trace range 0..{narrow.trace_max}: the signed factor is lost"
                    )
    for target, var in (("dw", "w"), ("dt", "t"), ("dd", "d")):
        if target in rule.programs and wide.variable_range(var) != narrow.variable_range(var):
            lo, hi = narrow.variable_range(var)
            out.append(f"{var} saturates at {lo}..{hi} (was {wide.variable_range(var)})")
    return list(dict.fromkeys(out))


def learning_report(config: LearningConfig, profile) -> dict:
    """Rule, what each product reads, the engine widths used and what breaks one bit narrower."""
    from snn_deploy.learning.check import check_rule
    from snn_deploy.learning.engine import engine_of

    engine = engine_of(profile)
    layers = []
    for e in config.entries:
        products = []
        for target, prog in e.rule.programs.items():
            for prod in prog.products:
                widths = sum(engine.factor_width(f.var) for f in prod.factors if f.is_engine)
                products.append(
                    {
                        "target": target,
                        "product": prod.text(),
                        "reads": [_reads(prod.dependency_text, e.rule)]
                        + [_reads(f.var, e.rule) for f in prod.factors],
                        "factor_bits": widths,
                        "mac_shift": product_shift(widths, engine),
                    }
                )
        narrower = []
        for key in NARROWED:
            width = getattr(engine, key)
            small = dataclasses.replace(profile.learning, **{key: width - 1})
            vs = check_rule(e.rule, dataclasses.replace(profile, learning=small), neuron=e.neuron)
            breaks = [f"{v.what} {v.value} {v.relation} {v.limit}" for v in vs]
            breaks += _semantic_changes(e.rule, engine, engine_of(small_profile(profile, small)))
            narrower.append(
                {
                    "key": profile.key("learning", key),
                    "width": width,
                    "narrower": width - 1,
                    "breaks": breaks,
                }
            )
        layers.append(
            {
                "projection": e.projection,
                "population": e.population,
                "option": e.spec.text(),
                "rule": e.rule.name,
                "mode": "three-factor" if e.rule.three_factor else "two-factor",
                "programs": e.rule.strings(),
                "products": products,
                "neuron_program": None if e.neuron is None else e.neuron.name,
                "narrower": narrower,
                "third_factor": None
                if e.third_factor is None
                else {
                    "signal": e.third_factor,
                    "source": e.source,
                    "route": f"graded synapses {e.source} -> {e.population}.a3 (one per neuron)",
                },
            }
        )
    used = {k: getattr(engine, k) for k in NARROWED}
    return {"engine": used, "layers": layers, "gap_steps": config.gap}
