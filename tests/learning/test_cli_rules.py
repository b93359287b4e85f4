"""`snn-deploy rules`: library listing, checked emission into an atomic artifact folder, and one
clear error line for a rule or target that cannot learn on chip."""

import json
import subprocess
import sys

from snn_deploy.cli import main


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "snn_deploy.cli", *args], capture_output=True, text=True
    )


def test_lists_the_library(capsys):
    assert main(["rules"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == [
        "pair_stdp", "r_stdp", "eprop_lif", "eprop_alif", "superspike", "decolle",
        "readout_delta",
    ]  # fmt: skip


def test_writes_listing_rules_and_lava_module(tmp_path, capsys):
    out = tmp_path / "rules"
    assert main(["rules", "eprop_lif", "r_stdp", "--target", "loihi2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "learning rule 'eprop_lif'" in text and "learning rule 'r_stdp'" in text
    files = sorted(p.name for p in (out / "learning").iterdir())
    assert files == ["eprop_lif.txt", "lava_learning.py", "r_stdp.txt", "rules.json"]
    rules = json.loads((out / "learning" / "rules.json").read_text())
    assert rules["r_stdp"]["dw"] == "u0*t*(y2-64)"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rules"] == ["eprop_lif", "r_stdp"] and manifest["target"] == "loihi2"
    compile(
        (out / "learning" / "lava_learning.py").read_text(), "lava_learning.py", "exec"
    )  # valid Python (it is run in .venv-lava by tests/learning/test_emit.py)


def test_refusals_are_one_line_and_write_nothing(tmp_path):
    out = tmp_path / "never"
    r = _run("rules", "--dw", "x0*y1 - y0*post.v", "-o", str(out))
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert "'post.v'" in r.stderr and "hint:" in r.stderr
    r = _run("rules", "pair_stdp", "--target", "spinnaker1", "-o", str(out))
    assert r.returncode == 3 and "has no on-chip learning engine" in r.stderr
    r = _run("rules", "no_such_rule")
    assert r.returncode == 2 and "library rules: decolle" in r.stderr
    assert not out.exists() and not any(p.name.startswith(".never") for p in tmp_path.iterdir())
