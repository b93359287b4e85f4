"""The NIR paper's subtractive-reset Braille graph (snnTorch export: 12 inputs, 40 recurrent,
7 outputs) on Xylo Audio 2, verified against xylosim on synthetic inputs. The graph does not say
how it resets (snnTorch writes no reset into NIR), so the reading is stated: ``--reset subtract
--spikes multi``, Xylo's own subtraction. Skipped where ../shared/nir-paper or .venv-xylo is
absent; the file is read in place, never copied."""

from __future__ import annotations

import numpy as np
import pytest

from snn_deploy import api
from snn_deploy.errors import ResourceError

GRAPH = "03_rnn/braille_noDelay_noBias_subtract.nir"


def test_without_a_stated_reset_it_is_refused_in_one_line(nir_paper, tmp_path):
    with pytest.raises(ResourceError, match=r"reset mode zero is not one of subtract"):
        api.compile(nir_paper / GRAPH, "xylo_audio2", tmp_path / "out")


def test_braille_on_xylo_agrees_with_xylosim(nir_paper, xylo_ready, tmp_path):
    out = tmp_path / "out"
    r = api.compile(nir_paper / GRAPH, "xylo_audio2", out, reset="subtract", spikes="multi")
    r = r.to_dict()
    assert not r["violations"] and r["mapping"]["cores_used"] == 1
    assert "subtract_recheck" not in r["contract"]["source"]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "x.npz", x=(rng.random((4, 200, 12)) < 0.1).astype(np.uint8))
    s = api.emulate(tmp_path / "out", str(tmp_path / "x.npz"), backend="xylosim", save=False)
    assert s.verification.startswith("verified: xylosim 0.1.3")
    assert {layer.population for layer in s.layers} == {"lif1.lif", "lif2"}
    assert all(layer.int_spikes_per_sample > 0 for layer in s.layers)
