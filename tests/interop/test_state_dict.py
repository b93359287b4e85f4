"""A bare PyTorch state dict plus an architecture description: the NIR paper's Braille weights
(snnTorch state dicts) import to the same network as snnTorch's own NIR export of them."""

import json

import nir
import numpy as np
import pytest
import torch

from snn_deploy.errors import InputFileError, ModelError
from snn_deploy.frontend import import_model
from snn_deploy.ir.normalize import normalize

ARCH = {
    "format": "snn-deploy/architecture",
    "version": 1,
    "input_size": 12,
    "contract": {"dt_seconds": 1e-4, "reset": "zero"},
    "layers": [
        {
            "name": "lif1.lif",
            "neuron": "cuba_lif",
            "weight": "fc1.weight",
            "bias": "fc1.bias",
            "alpha": "lif1.alpha",
            "beta": "lif1.beta",
            "threshold": "lif1.threshold",
            "recurrent_weight": "lif1.recurrent.weight",
            "recurrent_bias": "lif1.recurrent.bias",
        },
        {
            "name": "lif2",
            "neuron": "cuba_lif",
            "weight": "fc2.weight",
            "bias": "fc2.bias",
            "alpha": "lif2.alpha",
            "beta": "lif2.beta",
            "threshold": "lif2.threshold",
        },
    ],
}


def test_braille_state_dict_equals_the_exported_graph(nir_paper, tmp_path):
    (tmp_path / "arch.json").write_text(json.dumps(ARCH))
    pt = nir_paper / "03_rnn" / "data" / "model_noDelay_bias_ref_zero.pt"
    a = normalize(import_model(pt, arch=tmp_path / "arch.json").graph)
    b = normalize(nir.read(nir_paper / "03_rnn" / "braille_noDelay_bias_zero.nir"))
    assert [p.name for p in a.populations] == [p.name for p in b.populations]
    for p, q in zip(a.populations, b.populations, strict=True):
        for f in ("alpha", "beta", "threshold", "bias"):
            np.testing.assert_allclose(getattr(p, f), getattr(q, f), rtol=2e-6, err_msg=f)
    wa = {(p.source, p.target, p.delay_steps): p.weight for p in a.projections}
    wb = {(p.source, p.target, p.delay_steps): p.weight for p in b.projections}
    assert set(wa) == set(wb)
    for k in wa:
        np.testing.assert_allclose(np.asarray(wa[k]), np.asarray(wb[k]), rtol=2e-6, atol=1e-9)


def test_architecture_errors_name_the_problem(tmp_path):
    torch.save({"fc.weight": torch.ones(2, 3)}, tmp_path / "sd.pt")
    bad = dict(ARCH, input_size=3, layers=[{"name": "l", "weight": "missing.weight"}])
    (tmp_path / "a.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="layer 'l': weight refers to 'missing.weight'"):
        import_model(tmp_path / "sd.pt", arch=tmp_path / "a.json")
    (tmp_path / "b.json").write_text('{"layers": []}')
    with pytest.raises(InputFileError, match="not an snn-deploy architecture description"):
        import_model(tmp_path / "sd.pt", arch=tmp_path / "b.json")
