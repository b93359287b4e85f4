"""Sum-of-products programs: one per synaptic variable, parsed from and printed to Lava's grammar.

A learning rule updates each synaptic variable ``Z`` (``w`` weight, ``t`` tag, ``d`` "delay" tag)
once per learning epoch by a sum of products::

    dZ = sum_i  D_i * S_i * prod_j F_ij          S_i = mantissa_i * 2**exponent_i

with a dependency ``D_i`` (``x0``: the pre neuron spiked in the epoch, ``y0``: the post neuron
spiked, ``u_k``: every ``2**k``-th epoch), a scaling constant ``S_i`` (4-bit signed mantissa,
exponent -7..8) and factors ``F_ij``: traces ``x1 x2`` (pre), ``y1 y2 y3`` (post), synaptic
variables ``w d t``, each optionally ``(var + C)``, ``sgn(w|d|t + C)``, or a later ``x0``/``y0``.

The grammar is Lava 0.10.0's (``lava/magma/core/learning/symbolic_equation.py`` and
``product_series.py``; ../shared/reference/loihi2-lava.md section 3.2), reimplemented here:
literals fold into the product's scaling (``16*x0*y1`` becomes ``4*2^2*x0*y1``), ``(C - var)``
flips the product's sign, ``*`` is optional. Three forms Lava accepts but silently misreads are
refused instead: ``(-var)`` (Lava drops the sign), ``(x0)`` (Lava drops the factor) and
brackets with more than one term after the constant (Lava ignores the rest).

Identifiers that are not engine variables (``v_post``, ``W_out``, ``loss``) are kept as factors
so that :mod:`snn_deploy.learning.check` can say what they would have to be routed as; a program
holding one is never emitted.

``Program.to_string`` prints the canonical form; parsing it gives the same program back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from snn_deploy.errors import ModelError

TARGETS = ("dw", "dd", "dt")
DEPENDENCIES = ("x0", "y0", "u")
TRACES = ("x1", "x2", "y1", "y2", "y3")
SYNAPTIC = ("w", "d", "t")
ENGINE_FACTORS = ("x0", "y0", *TRACES, *SYNAPTIC)


@dataclass(frozen=True)
class Factor:
    """``var``, ``(var + const)`` or ``sgn(var + const)``; ``const`` None means no bracket."""

    var: str
    const: int | None = None
    sgn: bool = False

    @property
    def is_engine(self) -> bool:
        return self.var in ENGINE_FACTORS

    def text(self) -> str:
        if self.const is None:
            inner = self.var
        else:
            inner = f"{self.var}{'+' if self.const >= 0 else '-'}{abs(self.const)}"
        if self.sgn:
            return f"sgn({inner})"
        return inner if self.const is None else f"({inner})"


@dataclass(frozen=True)
class Product:
    """``dependency * mantissa * 2**exponent * factors``; ``exponent`` is the true exponent
    (Lava stores ``exponent + 7``); ``decimation`` is ``k`` of a ``u_k`` dependency."""

    dependency: str
    mantissa: int = 1
    exponent: int = 0
    factors: tuple[Factor, ...] = ()
    decimation: int | None = None

    @property
    def dependency_text(self) -> str:
        return f"u{self.decimation}" if self.dependency == "u" else self.dependency

    def magnitude_text(self) -> str:
        """The product without its sign: ``[M*2^E*]dep*factors``."""
        m, e = abs(self.mantissa), self.exponent
        if m == 1 and e == 0:
            scale = []
        elif m == 1:
            scale = [f"2^{e}"]
        elif e == 0:
            scale = [f"{m}"]
        else:
            scale = [f"{m}*2^{e}"]
        return "*".join(scale + [self.dependency_text] + [f.text() for f in self.factors])

    def text(self) -> str:
        return ("-" if self.mantissa < 0 else "") + self.magnitude_text()


@dataclass(frozen=True)
class Program:
    """The sum of products that updates one synaptic variable (``target`` dw, dd or dt)."""

    target: str
    products: tuple[Product, ...] = field(default_factory=tuple)

    @property
    def variable(self) -> str:
        return self.target[1:]

    @property
    def decimation(self) -> int | None:
        ks = {p.decimation for p in self.products if p.dependency == "u"}
        return next(iter(ks)) if len(ks) == 1 else None

    def to_string(self) -> str:
        """Canonical Lava rule string: products joined by `` + `` / `` - ``."""
        out = ""
        for i, p in enumerate(self.products):
            if i == 0:
                out = p.text()
            else:
                out += (" - " if p.mantissa < 0 else " + ") + p.magnitude_text()
        return out

    def foreign_factors(self) -> list[tuple[int, Factor]]:
        return [(i, f) for i, p in enumerate(self.products) for f in p.factors if not f.is_engine]

    @classmethod
    def parse(cls, target: str, text: str) -> Program:
        return parse_program(target, text)

    def __str__(self) -> str:
        return f"{self.target} = {self.to_string()}"


# -- tokenizer ----------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?:\[[^\]]*\])?")
_ENGINE_TOKEN = re.compile(r"x0|y0|u\d|x[12]|y[123]|w|d|t")
_LIT_MANT_EXP = re.compile(r"\d+\*2\^[+-]?\d+")
_LIT_POW2 = re.compile(r"2\^[+-]?\d+")
_LIT_INT = re.compile(r"\d+")


@dataclass(frozen=True)
class _Tok:
    kind: str  # op, dep, var, lit, bracket, sgn, foreign
    text: str
    mantissa: int = 1
    exponent: int = 0
    sub: tuple = ()

    @property
    def value(self):
        return self.mantissa * 2**self.exponent


def _error(target: str, text: str, what: str, hint: str | None = None) -> ModelError:
    return ModelError(
        f"learning rule {target} = '{text}': {what}",
        hint=hint or "write products like '2^-2*x0*y1 - u0*t*(y3-64)' (docs/learning.md)",
    )


def _matching(expr: str, start: int, target: str, text: str) -> int:
    depth = 0
    for i in range(start, len(expr)):
        if expr[i] == "(":
            depth += 1
        elif expr[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise _error(target, text, "bracket '(' without a closing ')'")


def _split_engine_word(word: str) -> list[str] | None:
    """``x0y1`` -> [x0, y1] as Lava's tokenizer would read it; None if some part is not one."""
    out, i = [], 0
    while i < len(word):
        m = _ENGINE_TOKEN.match(word, i)
        if not m:
            return None
        out.append(m.group())
        i = m.end()
    return out


def _tokenize(expr: str, target: str, text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(expr):
        c = expr[i]
        if c in "+-*":
            toks.append(_Tok("op", c))
            i += 1
            continue
        if c == "(":
            j = _matching(expr, i, target, text)
            toks.append(
                _Tok(
                    "bracket", expr[i : j + 1], sub=tuple(_tokenize(expr[i + 1 : j], target, text))
                )
            )
            i = j + 1
            continue
        m = _IDENT.match(expr, i)
        if m:
            word = m.group()
            if word == "sgn" and expr[m.end() : m.end() + 1] == "(":
                j = _matching(expr, m.end(), target, text)
                sub = _tokenize(expr[m.end() + 1 : j], target, text)
                toks.append(_Tok("sgn", expr[i : j + 1], sub=tuple(sub)))
                i = j + 1
                continue
            parts = _split_engine_word(word)
            if parts is None:
                toks.append(_Tok("foreign", word))
            else:
                for p in parts:
                    kind = "dep" if p in ("x0", "y0") or p.startswith("u") else "var"
                    toks.append(_Tok(kind, p))
            i = m.end()
            continue
        for regex, kind in ((_LIT_MANT_EXP, 0), (_LIT_POW2, 1), (_LIT_INT, 2)):
            m = regex.match(expr, i)
            if m:
                lit = m.group()
                if kind == 0:
                    mant, exp = lit.split("*2^")
                    toks.append(_Tok("lit", lit, int(mant), int(exp)))
                elif kind == 1:
                    toks.append(_Tok("lit", lit, 1, int(lit[2:])))
                else:
                    toks.append(_Tok("lit", lit, int(lit), 0))
                i = m.end()
                break
        else:
            raise _error(target, text, f"unexpected '{expr[i:]}' at position {i + 1}")
    return toks


# -- products (product_series.py ProductSeries._generate_product) --------------------------------


def parse_program(target: str, text: str) -> Program:
    """Parse one rule string (``dw``, ``dd`` or ``dt``) into a :class:`Program`.

    Malformed strings raise :class:`ModelError` naming the problem. Out-of-range scaling
    constants and non-engine identifiers are kept: :func:`snn_deploy.learning.check.check_rule`
    reports them as violations with the rest."""
    if target not in TARGETS:
        raise ModelError(f"unknown learning rule target '{target}'; accepted: {', '.join(TARGETS)}")
    expr = re.sub(r"\s", "", text)
    if not expr:
        raise _error(target, text, "empty rule")
    toks = _tokenize(expr, target, text)
    groups: list[list[_Tok]] = [[]]
    for tok in toks:
        if tok.kind == "op" and tok.text in "+-" and groups[-1]:
            groups.append([tok])
        elif tok.kind == "op" and tok.text == "*":
            continue
        else:
            groups[-1].append(tok)
    products = []
    decimation = None
    for group in groups:
        p = _product(group, target, text)
        if p.dependency == "u":
            if decimation is not None and decimation != p.decimation:
                raise _error(
                    target,
                    text,
                    f"u{decimation} and u{p.decimation} in one rule",
                    hint="use one decimation k for every u_k product of a rule",
                )
            decimation = p.decimation
        products.append(p)
    return Program(target, tuple(products))


def _product(group: list[_Tok], target: str, text: str) -> Product:
    term = "".join(t.text for t in group)
    dep, decimation = None, None
    mant, exp = 1, 0
    factors: list[Factor] = []
    for tok in group:
        if tok.kind == "op":
            if tok.text == "-":
                mant = -mant
            continue
        if tok.kind == "dep":
            if tok.text.startswith("u"):
                if dep not in (None, "u"):
                    raise _error(
                        target,
                        text,
                        f"term '{term}' has dependency {dep} and {tok.text}",
                        hint="a product has one dependency: x0, y0 or u_k",
                    )
                dep, decimation = "u", int(tok.text[1:])
            elif dep is None:
                dep = tok.text
            else:
                factors.append(Factor(tok.text))
        elif tok.kind == "lit":
            mant, exp = mant * tok.mantissa, exp + tok.exponent
        elif tok.kind in ("var", "foreign"):
            factors.append(Factor(tok.text))
        elif tok.kind in ("bracket", "sgn"):
            m, f = _bracket(tok, term, target, text)
            mant *= m[0]
            exp += m[1]
            if f is not None:
                factors.append(f)
    while abs(mant) > 7 and mant % 2 == 0 and exp < 8:
        mant, exp = mant // 2, exp + 1
    if dep is None:
        raise _error(
            target,
            text,
            f"term '{term}' has no dependency",
            hint="every product needs x0 (pre spike), y0 (post spike) or u_k (every 2^k epochs)",
        )
    return Product(dep, mant, exp, tuple(factors), decimation)


def _bracket(tok: _Tok, term: str, target: str, text: str):
    """A bracket or sgn expression -> ((mantissa, exponent) folded into the scaling, Factor)."""
    sub = list(tok.sub)
    if not sub or sub[0].kind != "op":
        sub.insert(0, _Tok("op", "+"))
    if any(t.kind == "op" and t.text == "*" for t in sub):
        raise _error(target, text, f"'{tok.text}' in term '{term}': no products inside brackets")
    if len(sub) == 2:
        sign = -1 if sub[0].text == "-" else 1
        inner = sub[1]
        if inner.kind == "lit" and tok.kind == "bracket":
            return (sign * inner.mantissa, inner.exponent), None
        if inner.kind in ("var", "foreign") and sign == 1:
            return (1, 0), Factor(inner.text, None, tok.kind == "sgn")
        raise _error(
            target,
            text,
            f"'{tok.text}' in term '{term}' is read differently by Lava "
            "(it drops a sign or a dependency inside brackets)",
            hint="write the sign in front of the product and dependencies without brackets",
        )
    if len(sub) == 4 and sub[2].kind == "op":
        if sub[1].kind in ("var", "dep", "foreign") and sub[3].kind == "lit":
            var_sign, var, const_sign, lit = sub[0], sub[1], sub[2], sub[3]
        elif sub[3].kind in ("var", "dep", "foreign") and sub[1].kind == "lit":
            const_sign, lit, var_sign, var = sub[0], sub[1], sub[2], sub[3]
        else:
            var = None
        if var is not None and not var.text.startswith("u"):
            if lit.exponent < 0:
                raise _error(
                    target, text, f"constant '{lit.text}' in '{tok.text}' is not an integer"
                )
            const = lit.value * (-1 if const_sign.text == "-" else 1)
            mant = 1
            if var_sign.text == "-":
                if tok.kind == "sgn":
                    raise _error(
                        target, text, f"'{tok.text}': the variable in sgn() cannot be negated"
                    )
                mant, const = -1, -const
            if tok.kind == "sgn" and var.text not in SYNAPTIC and var.kind != "foreign":
                raise _error(target, text, f"'{tok.text}': sgn() applies to w, d or t only")
            return (mant, 0), Factor(var.text, const, tok.kind == "sgn")
    raise _error(
        target,
        text,
        f"'{tok.text}' in term '{term}' is not of the form (var + C) or (C - var)",
        hint="brackets hold one variable and one integer constant, e.g. (y3-64)",
    )
