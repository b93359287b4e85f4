"""Can this rule run on the chip? Locality and width checks, every violation collected.

Locality (what a plastic synapse may read): its own ``w``, ``d``, ``t``; its pre neuron's
traces ``x0 x1 x2``; its post neuron's ``y0 y1 y2 y3``; and, in three-factor mode, what the
post neuron's own program writes into ``y1..y3`` from its own state and from the third factor
delivered to it (graded spikes into its third-factor input). Anything else (another neuron's
voltage, a weight matrix, a global loss) is a violation whose hint says what must be computed
where and routed how.

Widths (the profile's ``[learning]`` table): scaling mantissa and exponent, additive
constants, the 32-bit product MAC (worst case over the factors' ranges), the epoch length, trace
impulses, the ``u_k`` decimation, and the product and factor counts where a limit is published.

``check_rule`` returns the violations; ``require_runnable`` raises them together as one
:class:`~snn_deploy.errors.ResourceError`.
"""

from __future__ import annotations

import math
import re

from snn_deploy.errors import ResourceError, Violation
from snn_deploy.learning.engine import (
    DEFAULT_LOIHI2,
    LearningEngine,
    engine_of,
    factor_value_range,
)
from snn_deploy.learning.microcode import NeuronProgram
from snn_deploy.learning.program import Product, Program
from snn_deploy.learning.rule import LearningRule

LOCALITY_KEY = "learning-engine locality (docs/learning.md)"

_VOLTAGE = re.compile(r"^(v|u|vm|voltage|membrane|current|i_syn|u_\w+|v_\w+|vmem\w*)$", re.I)
_WEIGHT = re.compile(r"^(w_\w+|w\d+|weights?|W\w*|B|G|B_\w+|G_\w+)$")
_GLOBAL = re.compile(
    r"^(loss|l|err|error|errors|e|reward|r|target|targets|label|labels|grad\w*|delta|"
    r"acc|accuracy|cost|signal|learning_signal|dopamine)$",
    re.I,
)
#: what a neuron program may put into a y trace from its own state
LOCAL_POST = {"psi(v)", "sigma'(v)", "spike_trace", "v", "u", "s", "a3", "own_error", "dither"}

_FIX_VOLTAGE_RULE = (
    "the engine sees neurons only through traces: use a three-factor rule and let the post "
    "neuron's program write f(v) into y2; another neuron's state must reach this neuron as a "
    "graded spike into its third-factor input (then read y3)"
)
_FIX_WEIGHT = (
    "a synapse reads only its own w, d and t: send errors through feedback synapses that hold "
    "the other weights (e.g. B = W_out^T) into the post neuron's third-factor input, read as y3"
)
_FIX_GLOBAL = (
    "compute it in error (or reward) neurons and deliver it through synapses into the post "
    "neuron's third-factor input; the neuron program writes it into y3 (e-prop's learning "
    "signal needs error neurons and feedback synapses into y3)"
)


class _Ctx:
    def __init__(self, engine: LearningEngine, profile, layer: str):
        self.engine, self.profile, self.layer = engine, profile, layer
        self.out: list[Violation] = []

    def key(self, name: str) -> str:
        if self.profile is not None:
            return self.profile.key("learning", name)
        return f"[learning].{name} (Lava 0.10.0 defaults)"

    def add(self, what, value, limit, key, fix, relation="exceeds"):
        self.out.append(Violation(self.layer, what, value, limit, key, fix, relation=relation))


def _classify(name: str) -> tuple[str, str]:
    """(what it is, fix) for a non-engine identifier."""
    base = re.split(r"[.\[]", name)[0]
    if "." in name or "[" in name:
        if name.endswith((".v", ".u")) or _VOLTAGE.match(base):
            return "another neuron's voltage", _FIX_VOLTAGE_RULE
        if _WEIGHT.match(base) or base.lower() in ("w", "weights"):
            return "another synapse's weight (a weight matrix)", _FIX_WEIGHT
        return "state of another neuron or synapse", _FIX_VOLTAGE_RULE
    if _VOLTAGE.match(name):
        return "a neuron's voltage", _FIX_VOLTAGE_RULE
    if _WEIGHT.match(name):
        return "a weight matrix", _FIX_WEIGHT
    if _GLOBAL.match(name):
        return "a global signal, not synapse-local state", _FIX_GLOBAL
    return (
        "not a learning-engine variable (x0 x1 x2 y0 y1 y2 y3 w d t u_k)",
        "write the rule over engine variables only (docs/learning.md, grammar)",
    )


def _check_product(ctx: _Ctx, target: str, i: int, p: Product) -> None:
    eng = ctx.engine
    term = f"{target} term {i + 1} '{p.text()}'"
    lo, hi = eng.scale_mantissa_range
    if not lo <= p.mantissa <= hi:
        ctx.add(
            f"{term}: scaling mantissa",
            p.mantissa,
            f"{lo}..{hi}",
            ctx.key("scale_mantissa_bits"),
            "write the scale as m*2^e with a 4-bit signed mantissa m (e.g. 9 -> 5*2^1 "
            "is not exact: use 8*2^0 = 2^3 or 5*2^1)",
            relation="is outside",
        )
    if not eng.scale_exp_min <= p.exponent <= eng.scale_exp_max:
        ctx.add(
            f"{term}: scaling exponent",
            p.exponent,
            f"{eng.scale_exp_min}..{eng.scale_exp_max}",
            ctx.key("scale_exp_min"),
            "move part of the scale into the trace impulses or the neuron program's shifts",
            relation="is outside",
        )
    if p.dependency == "u" and p.decimation is not None and p.decimation > eng.max_decimation_exp:
        ctx.add(
            f"{term}: decimation k of u_k",
            p.decimation,
            eng.max_decimation_exp,
            ctx.key("max_decimation_exp"),
            "use u0..u9, or a longer t_epoch",
        )
    if eng.max_factors is not None and len(p.factors) > eng.max_factors:
        ctx.add(
            f"{term}: factors",
            len(p.factors),
            eng.max_factors,
            ctx.key("max_factors"),
            "split the product or fold factors into traces",
        )
    bound = abs(p.mantissa)
    for f in p.factors:
        if not f.is_engine:
            what, fix = _classify(f.var)
            ctx.add(
                f"{term} reads",
                f"'{f.var}'",
                what,
                LOCALITY_KEY,
                fix,
                relation="which is",
            )
            bound = None
            continue
        if f.const is not None:
            c_lo, c_hi = -(1 << eng.constant_bits), (1 << eng.constant_bits) - 1
            if not c_lo <= f.const <= c_hi:
                ctx.add(
                    f"{term}: constant in '{f.text()}'",
                    f.const,
                    f"{c_lo}..{c_hi}",
                    ctx.key("constant_bits"),
                    "constants are 8-bit: rescale the variable (e.g. with the trace impulse)",
                    relation="is outside",
                )
        if bound is not None:
            flo, fhi = factor_value_range(f, eng)
            bound *= max(abs(flo), abs(fhi))
    mac_max = (1 << (eng.mac_bits - 1)) - 1
    if bound is not None and bound > mac_max:
        ctx.add(
            f"{term}: worst-case product |dep * S * factors|",
            bound,
            mac_max,
            ctx.key("mac_bits"),
            f"the {eng.mac_bits}-bit MAC would wrap silently: use fewer wide factors "
            "(traces and variables are 7 to 9 bits each)",
        )


def check_program(ctx: _Ctx, prog: Program) -> None:
    eng = ctx.engine
    if eng.max_products is not None and len(prog.products) > eng.max_products:
        ctx.add(
            f"{prog.target}: products",
            len(prog.products),
            eng.max_products,
            ctx.key("max_products"),
            "merge products or move terms to another synaptic variable",
        )
    for i, p in enumerate(prog.products):
        _check_product(ctx, prog.target, i, p)


def _post_identifiers(expr: str) -> list[str]:
    return re.findall(r"[A-Za-z_][\w']*(?:\.[A-Za-z_]\w*)*(?:\[[^\]]*\])?(?:\(\w*\))?", expr)


def check_rule(
    rule: LearningRule,
    profile=None,
    *,
    neuron: NeuronProgram | None = None,
    layer: str | None = None,
) -> list[Violation]:
    """Every locality and width violation of ``rule`` (and of its post neuron's program)."""
    engine = DEFAULT_LOIHI2 if profile is None else engine_of(profile)
    ctx = _Ctx(engine, profile, layer or rule.name)
    programs = rule.programs
    if not programs:
        ctx.add(
            "rule",
            "no dw, dd or dt",
            "at least one",
            LOCALITY_KEY,
            "give a rule string",
            relation="has",
        )
    ks = {}
    for prog in programs.values():
        check_program(ctx, prog)
        if prog.decimation is not None:
            ks[prog.target] = prog.decimation
    if len(set(ks.values())) > 1:
        detail = ", ".join(f"{t}: u{k}" for t, k in ks.items())
        ctx.add(
            "u_k decimation",
            detail,
            "one k for dw, dd and dt",
            ctx.key("max_decimation_exp"),
            "use the same u_k in every rule string",
            relation="differs;",
        )
    if not 1 <= rule.t_epoch <= engine.max_epoch:
        ctx.add(
            "t_epoch",
            rule.t_epoch,
            f"1..{engine.max_epoch}",
            ctx.key("epoch_bits"),
            f"the within-epoch spike time has {engine.epoch_bits} bits",
            relation="is outside",
        )
    for name, spec in rule.traces().items():
        if not 0 <= spec.impulse < (1 << engine.trace_bits):
            ctx.add(
                f"trace {name} impulse",
                spec.impulse,
                f"0..{(1 << engine.trace_bits) - 2**-engine.impulse_frac_bits:g}",
                ctx.key("trace_bits"),
                "traces are 7-bit unsigned; impulses have 8 fractional bits",
                relation="is outside",
            )
        if spec.tau < 0 or not math.isfinite(spec.tau):
            ctx.add(
                f"trace {name} tau",
                spec.tau,
                ">= 0",
                ctx.key("trace_bits"),
                "a trace decays by exp(-1/tau) per step; tau 0 keeps only the spike's impulse",
                relation="is not",
            )
    used_y = {
        f.var
        for p in programs.values()
        for prod in p.products
        for f in prod.factors
        if f.var in ("y1", "y2", "y3")
    }
    declared = {pt.trace: pt for pt in rule.post_traces}
    if rule.three_factor:
        for y in sorted(used_y - set(declared)):
            ctx.add(
                f"post trace {y}",
                "read by the rule",
                "written by no neuron quantity",
                LOCALITY_KEY,
                f"declare what the post neuron writes into {y} (PostTrace) and give it a "
                "neuron program",
                relation="is",
            )
    elif declared:
        ctx.add(
            "post traces " + ", ".join(sorted(declared)),
            "written by the neuron",
            "a two-factor rule (the engine keeps y1..y3 itself)",
            LOCALITY_KEY,
            "set three_factor=True so that the neuron program writes y1..y3",
            relation="in",
        )
    routed = {r.signal for r in rule.routes}
    for pt in rule.post_traces:
        if pt.expr in LOCAL_POST or pt.expr in routed:
            continue
        for ident in _post_identifiers(pt.expr):
            if ident in LOCAL_POST or ident in routed or ident.split("(")[0] in ("psi", "sigma'"):
                continue
            what, fix = _classify(ident.split("(")[0])
            if what.startswith("not a learning-engine"):
                what = "not delivered to the post neuron (no route)"
                fix = _FIX_GLOBAL
            ctx.add(
                f"{pt.trace} = '{pt.expr}' reads",
                f"'{ident}'",
                what,
                LOCALITY_KEY,
                fix,
                relation="which is",
            )
    if neuron is not None:
        for problem in neuron.validate():
            ctx.add(
                problem,
                "",
                "",
                LOCALITY_KEY,
                "a neuron program reads only u, v, s, a3, vth and its own registers",
                relation="",
            )
    return ctx.out


def require_runnable(rule: LearningRule, profile=None, *, neuron=None, layer=None) -> LearningRule:
    """``rule`` if it can run on the target, else one :class:`ResourceError` with every
    violation."""
    violations = check_rule(rule, profile, neuron=neuron, layer=layer)
    if violations:
        target = "the learning engine" if profile is None else profile.chip.title
        raise ResourceError(
            violations,
            summary=f"learning rule '{rule.name}' cannot run on {target}: "
            f"{len(violations)} problem(s)",
        )
    return rule
