"""report.json / report.md / report.html: complete, self-contained, re-renderable; activity and
estimates come from emulation runs and say what they are."""

import json
import re

import pytest
import torch

from snn_deploy import api
from snn_deploy.train.models import SpikingMLP


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rep")
    torch.manual_seed(0)
    model = SpikingMLP.from_sizes([64, 20, 10], alpha=0.5, beta=0.875)
    with torch.no_grad():
        for layer in model.layers:
            layer.fc.weight.mul_(3.0)
    torch.save(model.to_checkpoint(), tmp / "m.pt")
    return tmp / "m.pt"


def test_html_report_has_the_plots_and_nothing_external(model_pt, tmp_path):
    api.compile(model_pt, "loihi2", tmp_path / "a", calibrate="digits")
    folder = tmp_path / "a"
    html = (folder / "report.html").read_text()
    labels = re.findall(r'aria-label="([^"]+)"', html)
    assert any(x.startswith("Weight quantization error") for x in labels)
    assert any(x.startswith("Per-core utilization") for x in labels)
    assert any(x.startswith("Spikes per sample, float vs integer") for x in labels)
    assert any(x.startswith("Spike raster, sample 0") for x in labels)
    assert not re.search(r"(https?:|<script|\bsrc=)", html), "report.html must be self-contained"
    record = json.loads((folder / "emulation.json").read_text())
    assert record["format"] == "snn-deploy/emulation" and record["samples"] == 64
    assert "Energy estimate" in html and "pre-silicon" in html and "not a measurement" in html
    md = (folder / "report.md").read_text()
    assert "## Activity (emulation)" in md and "state overflow measured on digits" in md


def test_report_command_rerenders_the_same_files(model_pt, tmp_path):
    api.compile(model_pt, "loihi2", tmp_path / "a")
    folder = tmp_path / "a"
    assert "No emulation yet" in (folder / "report.html").read_text()
    api.emulate(folder, data="digits", samples=30)
    first = (folder / "report.html").read_text(), (folder / "report.md").read_text()
    assert "Spike raster" in first[0]
    (folder / "report.html").unlink()
    api.rerender_report(folder)
    assert ((folder / "report.html").read_text(), (folder / "report.md").read_text()) == first


def test_profiles_without_published_energy_give_no_estimate(model_pt, tmp_path):
    api.compile(model_pt, "fixedpoint", tmp_path / "f")
    s = api.emulate(tmp_path / "f", data="digits", samples=20)
    assert s.estimates is None and s.activity["synaptic_ops_per_inference"] > 0
    assert "Energy estimate" not in (tmp_path / "f" / "report.html").read_text()
