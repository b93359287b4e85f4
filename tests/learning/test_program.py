"""Rule strings: the round trip string -> program -> string is the identity for every library
rule, our parser reads every string as Lava 0.10.0's does (checked in ``.venv-lava``), and the
forms Lava misreads or rejects are refused with a message."""

from __future__ import annotations

import json
import subprocess

import pytest

from snn_deploy.errors import ModelError
from snn_deploy.learning import library, parse_program
from snn_deploy.learning.library import (
    decolle,
    eprop_alif,
    eprop_lif,
    pair_stdp,
    r_stdp,
    readout_delta,
    superspike,
)

#: library rules with their defaults and with other parameters (scalings, decimation, centering)
VARIANTS = {
    **{name: lib for name, lib in library().items()},
    "pair_stdp_scaled": pair_stdp(a_plus=(3, -2), a_minus=(5, 1), t_epoch=2),
    "r_stdp_scaled": r_stdp(a_plus=(7, -1), a_minus=(6, 0), tag_decay_exp=-3, eta=(5, -2)),
    "eprop_lif_slow": eprop_lif(elig_scale_exp=-4, kappa_exp=-5, eta_exp=-6),
    "eprop_alif_fast": eprop_alif(rho_exp=-4, beta_exp=-1),
    "superspike_slow": superspike(alpha_exp=-5, eta_exp=-4),
    "decolle_fast": decolle(eta_exp=-2),
    "readout_centered": readout_delta(centered=True, mantissa=7, decimation=2),
}

EXTRA = [
    "16*x0*y1",
    "-3*2^-2*y0*x1*(255-w) + 2^3*x0*y2",
    "u3*sgn(t-5)*(y3-64) - 7*2^8*u3*d",
    "x0*y1*y0 - (3-w)*y0*x2",
]


def _strings():
    out = []
    for name, lib in VARIANTS.items():
        for target, prog in lib.rule.programs.items():
            out.append((name, target, prog.to_string()))
    return out


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_round_trip_is_the_identity_for_every_library_rule(name):
    rule = VARIANTS[name].rule
    assert rule.programs, name
    for target, prog in rule.programs.items():
        text = prog.to_string()
        again = parse_program(target, text)
        assert again == prog, f"{name} {target}: '{text}' parses to {again}"
        assert again.to_string() == text
    rebuilt = type(rule).from_strings(
        rule.name, **rule.strings(), **{k: getattr(rule, k) for k in ("x1", "x2", "t_epoch")}
    )
    assert rebuilt.strings() == rule.strings()


def test_non_canonical_strings_reach_a_fixed_point():
    for text in EXTRA:
        prog = parse_program("dw", text)
        canon = prog.to_string()
        assert parse_program("dw", canon) == prog
        assert parse_program("dw", canon).to_string() == canon
    assert parse_program("dw", "16*x0*y1").to_string() == "4*2^2*x0*y1"


def _lava_parse(strings):
    from snn_deploy.backends.lava.bridge import lava_python

    code = (
        "import json, sys\n"
        "from lava.magma.core.learning.symbolic_equation import SymbolicEquation\n"
        "from lava.magma.core.learning.product_series import ProductSeries\n"
        "out = []\n"
        "for target, text in json.load(sys.stdin):\n"
        "    ps = ProductSeries(SymbolicEquation(target, text))\n"
        "    out.append([[p.dependency, p.decimate_exponent, int(p.s_mantissa), int(p.s_exp),\n"
        "                 [[f.state_var, f.const, bool(f.is_sgn)] for f in p.factors]]\n"
        "                for p in ps.products])\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [str(lava_python()), "-c", code],
        input=json.dumps(strings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout)


@pytest.mark.lava
def test_parser_reads_every_string_as_lava_does(lava_ready):
    cases = [(t, s) for _, t, s in _strings()] + [("dw", s) for s in EXTRA]
    lava = _lava_parse(cases)
    for (target, text), theirs in zip(cases, lava, strict=True):
        ours = [
            [
                p.dependency,
                p.decimation,
                p.mantissa,
                p.exponent + 7,
                [[f.var, f.const, f.sgn] for f in p.factors],
            ]
            for p in parse_program(target, text).products
        ]
        assert ours == theirs, f"{target} = '{text}'"


@pytest.mark.parametrize(
    "text, message",
    [
        ("x1*y1", "has no dependency"),
        ("x0*y1 + 5", "has no dependency"),
        ("u0*t + u1*w", "u0 and u1 in one rule"),
        ("x0*(-y1)", "read differently by Lava"),
        ("x0*(y1+x1)", "not of the form"),
        ("0.5*x0*y1", "unexpected"),
        ("x0*(y1*2)", "no products inside brackets"),
        ("x0*y1)", "unexpected"),
        ("x0*(y1", "without a closing"),
    ],
)
def test_malformed_strings_are_refused(text, message):
    with pytest.raises(ModelError, match=message):
        parse_program("dw", text)
