from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def xylo_ready():
    from snn_deploy.backends.xylo.bridge import xylosim_unavailable_reason

    reason = xylosim_unavailable_reason()
    if reason:
        pytest.skip(reason)
