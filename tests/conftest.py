"""Shared fixtures: the loihi2 profile, random integer networks, and skips with reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.profiles import load_profile
from snn_deploy.quantize.network import (
    LoihiLifParams,
    LoihiSynapseParams,
    QInput,
    QPopulation,
    QProjection,
    QuantizedNetwork,
)

NIR_PAPER = Path(__file__).resolve().parents[2] / "shared" / "nir-paper"


@pytest.fixture(scope="session")
def loihi2():
    return load_profile("loihi2")


@pytest.fixture(scope="session")
def nir_paper() -> Path:
    if not NIR_PAPER.is_dir():
        pytest.skip(f"NIR paper fixtures not found at {NIR_PAPER} (../shared/nir-paper)")
    return NIR_PAPER


@pytest.fixture(scope="session")
def lava_ready():
    from snn_deploy.backends.lava.bridge import lava_unavailable_reason

    reason = lava_unavailable_reason()
    if reason:
        pytest.skip(reason)


def random_qnet(
    rng: np.random.Generator, sizes=(24, 32, 24, 10), sign_mode=None
) -> QuantizedNetwork:
    """A layered integer network with parameters spread over the chip's whole ranges, so that
    runs exercise u wrap-around, v saturation, every sign mode and weight exponents -3..+3."""
    names = ["in"] + [f"l{i}" for i in range(1, len(sizes))]
    pops, projs = [], []
    for i in range(1, len(sizes)):
        n = sizes[i]
        du = int(rng.integers(0, 64) if rng.random() < 0.5 else rng.integers(0, 4096))
        dv = int(rng.integers(0, 64) if rng.random() < 0.5 else rng.integers(0, 4096))
        vth = int(rng.integers(0, 2000) if rng.random() < 0.5 else rng.integers(0, 131072))
        bias_on = rng.random() < 0.5
        pops.append(
            QPopulation(
                name=names[i],
                size=n,
                model="cuba_lif",
                scale=1.0,
                params=LoihiLifParams(
                    du=np.full(n, du),
                    dv=np.full(n, dv),
                    vth=np.full(n, vth),
                    bias_mant=rng.integers(-4096, 4096, n) * bias_on,
                    bias_exp=rng.integers(0, 8, n),
                ),
            )
        )
        mode = sign_mode or str(
            rng.choice(["mixed", "excitatory", "inhibitory"], p=[0.6, 0.2, 0.2])
        )
        projs.append(
            QProjection(
                name=f"w{i}",
                source=names[i - 1],
                target=names[i],
                weight=rng.integers(-300, 301, (n, sizes[i - 1])),
                params=LoihiSynapseParams(
                    weight_exp=int(rng.integers(-3, 4)),
                    num_weight_bits=int(rng.integers(5, 9)),
                    sign_mode=mode,
                ),
            )
        )
    return QuantizedNetwork(
        target="loihi2",
        arithmetic="loihi",
        inputs=(QInput("in", sizes[0]),),
        populations=tuple(pops),
        projections=tuple(projs),
        outputs=(names[-1],),
        contract=DiscretizationContract(),
    )


def assert_ints_equal(actual, expected, what: str):
    """Exact integer comparison whose failure gives the mismatch count and first entries."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    diff = np.argwhere(actual != expected)
    if diff.size:
        first = [
            (tuple(int(i) for i in d), actual[tuple(d)].item(), expected[tuple(d)].item())
            for d in diff[:5]
        ]
        pytest.fail(
            f"{what}: {len(diff)} of {actual.size} entries differ; first (index, got, "
            f"expected): {first}"
        )
