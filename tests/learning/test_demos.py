"""The demos, in reduced but complete settings: R-STDP learns from reward which pattern each
output answers; on-chip e-prop (the emulator's fixed-point engine, from random weights) reaches
at least 85 % of the test accuracy that the same network reaches with BPTT in float on the same
task; the example scripts write the report with the learning curve and the program listings."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from snn_deploy.learning.demos import (
    EpropConfig,
    RstdpConfig,
    bptt_baseline,
    eprop_demo,
    rstdp_demo,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: the full demo (examples/eprop/run.py: 4 classes, 100 samples each, 64 hidden neurons,
#: 15 epochs) takes minutes on the reference engine; this keeps the task and the network but
#: shrinks them
REDUCED = dataclasses.replace(
    EpropConfig(), num_classes=3, samples_per_class=60, hidden=48, epochs=8
)


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rstdp_learns_which_pattern_to_answer():
    result = rstdp_demo(RstdpConfig())
    acc = [c["accuracy"] for c in result["curve"]]
    assert acc[0] <= 0.6, acc  # starts near chance
    assert np.mean(acc[-5:]) >= 0.95, acc
    assert result["mean_weight_assigned"] > result["mean_weight_other"] + 50


@pytest.mark.slow
def test_onchip_eprop_reaches_85_percent_of_bptt():
    """8 on-chip epochs of 144 samples (compiled engine: 0.85 s on a loaded 2-core machine),
    60 BPTT epochs (most of the test's 29 s there); measured on-chip 0.917, BPTT 0.944,
    ratio 0.97."""
    onchip = eprop_demo(REDUCED)
    bptt = bptt_baseline(REDUCED, epochs=60)
    curve = [c["test_accuracy"] for c in onchip["curve"]]
    assert curve[0] < 0.6, curve  # random initial weights: near chance (3 classes)
    ratio = onchip["final_test_accuracy"] / bptt["final_test_accuracy"]
    assert bptt["final_test_accuracy"] >= 0.8, bptt["curve"][-1]
    assert ratio >= 0.85, (onchip["final_test_accuracy"], bptt["final_test_accuracy"], curve)


def test_example_reports_show_the_learning_curve_and_the_programs(tmp_path):
    out = tmp_path / "rstdp"
    assert _example("rstdp").main(["--out", str(out), "--trials", "60"]) == 0
    md = (out / "learning.md").read_text()
    assert "## Learning curve" in md and "| trials | accuracy |" in md
    assert "dw = 2^-7*u0*t*(y2-64)" in md  # the listing of the rule that ran
    assert "post neuron program 'rstdp_lif'" in md
    assert (out / "learning_curve.svg").read_text().startswith("<svg")
    data = json.loads((out / "learning.json").read_text())
    assert len(data["curve"]) == 3
    assert {"r_stdp.txt", "rules.json", "lava_learning.py"} <= {
        p.name for p in (out / "learning").iterdir()
    }


def test_eprop_example_writes_both_curves_and_the_ratio(tmp_path):
    out = tmp_path / "eprop"
    args = ["--out", str(out), "--epochs", "1", "--bptt-epochs", "1", "--samples-per-class", "10"]
    assert _example("eprop").main(args) == 0
    md = (out / "learning.md").read_text()
    assert "Ratio on-chip / BPTT" in md
    assert "| epoch | on-chip test | on-chip train (online) | BPTT test |" in md
    assert "### hidden_eprop" in md and "u0*sgn(t)*y1" in md
    data = json.loads((out / "learning.json").read_text())
    assert set(data) == {"onchip", "bptt", "ratio_final"}
