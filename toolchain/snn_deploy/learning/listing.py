"""Human-readable program listings ("microcode") of learning rules, and the learning artifact.

``render_listing`` prints what the learning engine executes for one rule: the traces with their
integer impulses, then every product with its dependency, scaling (as stored), factor widths,
the MAC's right shift and the resulting weight change in variable units, then the post neuron's
program line by line and the routes its third factor needs. The compile report can include the
text as it is; ``write_learning_artifact`` puts it (and, for Loihi 2, the emitted Lava module)
into an artifact folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from snn_deploy.learning.check import check_rule
from snn_deploy.learning.emit import lava_module_source
from snn_deploy.learning.engine import (
    DEFAULT_LOIHI2,
    decompose_impulse,
    factor_value_range,
    product_shift,
)
from snn_deploy.learning.microcode import NeuronProgram
from snn_deploy.learning.program import Program
from snn_deploy.learning.rule import LearningRule

_DEP = {"x0": "pre spiked in the epoch", "y0": "post spiked in the epoch"}


def _product_lines(prog: Program, engine) -> list[str]:
    lines = [f"{prog.target} = {prog.to_string()}"]
    for i, p in enumerate(prog.products):
        dep = (
            f"u{p.decimation} (every {2**p.decimation} epoch(s))"
            if p.dependency == "u"
            else f"{p.dependency} ({_DEP[p.dependency]})"
        )
        widths, known = [], True
        for f in p.factors:
            if f.is_engine:
                widths.append(f"{f.text()}[{engine.factor_width(f.var)}b]")
            else:
                widths.append(f"{f.text()}[not an engine variable]")
                known = False
        lines.append(
            f"  product {i + 1}: {dep}; scale {p.mantissa}*2^{p.exponent} "
            f"(mantissa {p.mantissa}, stored exponent {p.exponent + 7})"
        )
        lines.append("    factors: " + (", ".join(widths) if widths else "none"))
        if not known:
            continue
        wsum = sum(engine.factor_width(f.var) for f in p.factors)
        sh = product_shift(wsum, engine)
        net = p.exponent - sh
        lines.append(
            f"    MAC: width {wsum}+{engine.scale_mantissa_bits} -> >> {sh}, << {p.exponent + 7}; "
            f"d{prog.variable} = {p.mantissa} * prod(factors) * 2^{net} per epoch "
            "(stochastic rounding)"
        )
        bound = abs(p.mantissa)
        for f in p.factors:
            lo, hi = factor_value_range(f, engine)
            bound *= max(abs(lo), abs(hi))
        lines.append(
            f"    worst-case |MAC| {bound:,} (int{engine.mac_bits} limit "
            f"{(1 << (engine.mac_bits - 1)) - 1:,})"
        )
    return lines


def render_listing(
    rule: LearningRule,
    neuron: NeuronProgram | None = None,
    profile=None,
    *,
    decay_bits: int | None = None,
) -> str:
    """The program listing of ``rule`` (and of its post neuron's program) for ``profile``;
    the neuron program's decays use ``decay_bits`` (default: the profile's, else 12)."""
    if decay_bits is None:
        decay_bits = getattr(getattr(profile, "numerics", None), "decay_bits", None)
        decay_bits = 12 if decay_bits is None else decay_bits
    engine = DEFAULT_LOIHI2 if profile is None else getattr(profile, "learning", None)
    target = "Lava 0.10.0 learning engine" if profile is None else profile.chip.title
    mode = "three-factor" if rule.three_factor else "two-factor"
    out = [
        f"learning rule '{rule.name}' ({mode}; t_epoch {rule.t_epoch}; rng_seed {rule.rng_seed}) "
        f"for {target}"
    ]
    if engine is None:
        out.append(f"  {target} has no on-chip learning engine: this rule cannot run there.")
        out.append("  rule strings: " + json.dumps(rule.strings()))
        return "\n".join(out) + "\n"
    out.append(
        "traces (impulse = integer + fraction/256; decay exp(-1/tau) per step, "
        "stochastic rounding):"
    )
    for name, spec in rule.traces().items():
        i, f = decompose_impulse(spec.impulse, engine)
        out.append(f"  {name}: impulse {spec.impulse:g} ({i} + {f}/256), tau {spec.tau:g}")
    if rule.three_factor:
        for pt in rule.post_traces:
            out.append(
                f"  {pt.trace} <- neuron: {pt.expr}" + (f"  ({pt.meaning})" if pt.meaning else "")
            )
    out.append("programs (applied in this order, all reading the pre-update w, d, t):")
    for prog in rule.programs.values():
        out += ["  " + line for line in _product_lines(prog, engine)]
    if neuron is not None:
        out.append(
            f"post neuron program '{neuron.name}' (after the LIF update, every step"
            + ("; spike when v > vth + th" if neuron.adaptive else "")
            + "):"
        )
        out += ["  " + line for line in neuron.listing(decay_bits)]
        out.append("  sends: y1..y3 saturated to 0..127, aux (graded)")
    for r in rule.routes:
        out.append(f"route '{r.signal}': computed by {r.source}; carried by {r.synapses}")
    problems = check_rule(rule, profile, neuron=neuron)
    if problems:
        out.append(f"NOT RUNNABLE: {len(problems)} violation(s)")
        out += ["  " + v.format().replace("\n", "\n  ") for v in problems]
    return "\n".join(out) + "\n"


def write_learning_artifact(
    folder: str | Path,
    entries: dict[str, tuple[LearningRule, NeuronProgram | None]],
    profile,
) -> list[Path]:
    """``folder/learning/``: ``<name>.txt`` listings, ``rules.json`` and, for Loihi-family
    targets with a learning engine, ``lava_learning.py`` (the emitted Lava module)."""
    out_dir = Path(folder) / "learning"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (rule, neuron) in entries.items():
        p = out_dir / f"{name}.txt"
        p.write_text(render_listing(rule, neuron, profile))
        written.append(p)
    meta = {name: rule.to_dict() for name, (rule, _) in entries.items()}
    p = out_dir / "rules.json"
    p.write_text(json.dumps(meta, indent=2) + "\n")
    written.append(p)
    if profile.chip.arithmetic == "loihi" and getattr(profile, "learning", None) is not None:
        neurons = {name: n for name, (_, n) in entries.items() if n is not None}
        src = lava_module_source(
            {name: r for name, (r, _) in entries.items()},
            neurons,
            decay_bits=profile.numerics.decay_bits,
            trace_max=profile.learning.trace_max,
        )
        p = out_dir / "lava_learning.py"
        p.write_text(src)
        written.append(p)
    return written
