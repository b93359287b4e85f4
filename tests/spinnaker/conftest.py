"""One digits model for every SpiNNaker test module (trained once per session, ~10 s)."""

from __future__ import annotations

import pytest

from snn_deploy import api


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("digits") / "model.pt"
    api.train_digits(path, epochs=15)
    return path


@pytest.fixture(scope="session")
def spinnaker1_artifacts(digits_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("s1") / "digits-spinnaker1"
    report = api.compile(digits_model, "spinnaker1", out)
    return out, report.to_dict()
