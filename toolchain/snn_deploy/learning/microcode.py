"""Neuron-side programs ("microcode") of three-factor neurons: what writes y1, y2, y3.

A three-factor neuron is Lava's bit-accurate LIF (``PyLifModelBitAcc``: the same ``u``, ``v``
arithmetic as :mod:`snn_deploy.backends.emulator.loihi`) followed, every step, by a short
integer program over the neuron's own registers:

- read-only each step: ``u``, ``v`` (the voltage compared with the threshold, before the reset),
  ``s`` (1 if the neuron spiked this step), ``a3`` (the sum of what its third-factor synapses
  deliver this step) and ``vth`` (the effective threshold ``vth << 6``);
- state, kept between steps, 0 at start: ``y1 y2 y3`` (sent to the plastic synapses as post
  traces, saturated to the trace width 0..127), ``r0..r3`` (scratch, e.g. a filtered error or an
  adaptation variable), ``th`` (added to the threshold on the next step when the program is
  ``adaptive``) and ``aux`` (a graded output other neurons' third-factor synapses can read, e.g.
  an error sent through feedback synapses).

Every instruction is ``dst <- op(args)`` with integer (int64) semantics given by one expression
template per op (``OPS``). The emulator evaluates these templates and the Lava model emitted by
:mod:`snn_deploy.learning.emit` contains the same expressions, so both compute the same integers.
There is no divider: surrogate derivatives are built from shifts, absolute values and clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_REGISTERS = ("u", "v", "s", "a3", "vth")
STATE_REGISTERS = ("y1", "y2", "y3", "r0", "r1", "r2", "r3", "th", "aux")

#: op -> (number of operands, expression template over {0}, {1}, ... and {decay_bits})
OPS = {
    "mov": (1, "{0}"),
    "add": (2, "{0} + {1}"),
    "sub": (2, "{0} - {1}"),
    "mul": (2, "{0} * {1}"),
    "min": (2, "np.minimum({0}, {1})"),
    "max": (2, "np.maximum({0}, {1})"),
    "shr": (2, "np.right_shift({0}, {1})"),
    "shl": (2, "np.left_shift({0}, {1})"),
    "abs": (1, "np.abs({0})"),
    "clip": (3, "np.clip({0}, {1}, {2})"),
    "decay": (2, "np.sign({0} * {1}) * np.right_shift(np.abs({0} * {1}), {decay_bits})"),
    "sel": (3, "np.where({0} != 0, {1}, {2})"),
    "gt": (2, "({0} > {1}).astype(np.int64)"),
}
#: operands that must be immediates (shift amounts, clip bounds, decay multipliers)
IMMEDIATE_ONLY = {"shr": (1,), "shl": (1,), "clip": (1, 2), "decay": (1,)}
#: human-readable forms for the listing
_PRETTY = {
    "mov": "{0}",
    "add": "{0} + {1}",
    "sub": "{0} - {1}",
    "mul": "{0} * {1}",
    "min": "min({0}, {1})",
    "max": "max({0}, {1})",
    "shr": "{0} >> {1}",
    "shl": "{0} << {1}",
    "abs": "|{0}|",
    "clip": "clip({0}, {1}, {2})",
    "decay": "round0({0} * {1} / 2^{decay_bits})",
    "sel": "{0} ? {1} : {2}",
    "gt": "{0} > {1}",
}


@dataclass(frozen=True)
class Instr:
    op: str
    dst: str
    args: tuple
    note: str = ""


def ins(op: str, dst: str, *args, note: str = "") -> Instr:
    return Instr(op, dst, tuple(args), note)


@dataclass(frozen=True)
class NeuronProgram:
    """A three-factor neuron's per-step program; ``adaptive`` adds ``th`` to the threshold."""

    name: str
    instructions: tuple[Instr, ...]
    adaptive: bool = False
    description: str = ""

    def validate(self) -> list[str]:
        """Problems with the program itself (unknown op or register, wrong operand count)."""
        problems = []
        for k, i in enumerate(self.instructions):
            where = f"neuron program '{self.name}' line {k + 1} ({i.op} {i.dst})"
            if i.op not in OPS:
                problems.append(f"{where}: unknown op '{i.op}'; accepted: {', '.join(OPS)}")
                continue
            if i.dst not in STATE_REGISTERS:
                problems.append(
                    f"{where}: can write only its own state registers {', '.join(STATE_REGISTERS)}"
                )
            n, _ = OPS[i.op]
            if len(i.args) != n:
                problems.append(f"{where}: takes {n} operand(s), got {len(i.args)}")
                continue
            for j, a in enumerate(i.args):
                if j in IMMEDIATE_ONLY.get(i.op, ()) and not isinstance(a, int):
                    problems.append(f"{where}: operand {j + 1} must be an integer constant")
                elif not isinstance(a, int) and a not in INPUT_REGISTERS + STATE_REGISTERS:
                    problems.append(
                        f"{where}: reads '{a}', which is not one of the neuron's own registers "
                        f"({', '.join(INPUT_REGISTERS + STATE_REGISTERS)})"
                    )
        return problems

    def expressions(self, decay_bits: int, reg=lambda r: r) -> list[tuple[str, str]]:
        """``(dst, numpy expression)`` per instruction; ``reg`` maps register names to code."""
        out = []
        for i in self.instructions:
            _, template = OPS[i.op]
            args = [f"np.int64({a})" if isinstance(a, int) else reg(a) for a in i.args]
            out.append((reg(i.dst), template.format(*args, decay_bits=decay_bits)))
        return out

    def listing(self, decay_bits: int = 12) -> list[str]:
        lines = []
        for k, i in enumerate(self.instructions):
            text = _PRETTY[i.op].format(*[str(a) for a in i.args], decay_bits=decay_bits)
            op = f"{i.op} {i.dst}, " + ", ".join(str(a) for a in i.args)
            line = f"{k:3d}  {op:<28s} ; {i.dst} = {text}"
            lines.append(line + (f"   ({i.note})" if i.note else ""))
        return lines


class ProgramRunner:
    """Evaluates a :class:`NeuronProgram` on int64 register arrays (one compiled code object)."""

    def __init__(self, program: NeuronProgram, decay_bits: int):
        problems = program.validate()
        if problems:
            from snn_deploy.errors import ModelError

            raise ModelError(problems[0])
        self.program = program
        lines = [f"{d} = {e}" for d, e in program.expressions(decay_bits, reg=lambda r: f"R_{r}")]
        self._code = compile("\n".join(lines) or "pass", f"<neuron program {program.name}>", "exec")

    def run(self, registers: dict) -> dict:
        """``registers``: name -> int64 array (inputs and state); returns the new state."""
        scope = {"np": np, **{f"R_{k}": v for k, v in registers.items()}}
        exec(self._code, scope)  # noqa: S102 - our own generated code, from OPS templates only
        return {k: np.asarray(scope[f"R_{k}"], dtype=np.int64) for k in STATE_REGISTERS}
