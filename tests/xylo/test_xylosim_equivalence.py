"""Acceptance: the snn-deploy emulator (compiled engine, and the numpy reference) equals the
vendor's simulator xylosim 0.1.3 on every spike count, synaptic current and membrane potential of
every step, integer for integer, on 25 random recurrent networks with two synaptic currents and
biases; the corners (saturation, multi-spike steps, capped inputs, the dash-0 wrap) are asserted
to have been hit. Skipped, with the reason, where .venv-xylo (Python 3.10) does not exist."""

from __future__ import annotations

import numpy as np
import pytest

from snn_deploy.backends.emulator.compiled.xylo import run_xylo_compiled
from snn_deploy.backends.emulator.xylo import run_xylo_reference
from snn_deploy.backends.xylo.bridge import (
    run_xylosim,
    verify,
)
from snn_deploy.errors import VerificationError
from snn_deploy.profiles import load_profile
from xylo.networks import FLAVOURS, random_config, random_counts

NETWORKS = 25


@pytest.fixture(scope="module")
def num():
    return load_profile("xylo_audio2").numerics


def test_random_networks_agree_with_xylosim(xylo_ready, num):
    hit = {"saturated_additions": 0, "multi_spikes": 0, "capped_inputs": 0, "mem_wraps": 0}
    compared = 0
    for seed in range(NETWORKS):
        rng = np.random.default_rng(1000 + seed)
        flavour = FLAVOURS[seed % len(FLAVOURS)]
        n_syn = 1 if seed % 6 == 5 else 2
        cfg = random_config(rng, n_hidden=int(rng.integers(8, 48)), n_syn=n_syn, flavour=flavour)
        cfg.require_valid(num)
        x = random_counts(rng, batch=2, steps=40, n_in=cfg.n_in)
        ours = run_xylo_compiled(cfg, num, x)
        theirs, _ = run_xylosim(cfg, x)
        counts = verify(ours, theirs)
        verify(run_xylo_reference(cfg, num, x), theirs)
        assert counts["v"] == x.shape[0] * x.shape[1] * cfg.n_hidden
        compared += sum(counts.values())
        for k in hit:
            hit[k] += ours.events[k]
    assert all(v > 0 for v in hit.values()), hit
    assert compared > 100_000


def test_a_changed_weight_is_caught(xylo_ready, num):
    rng = np.random.default_rng(7)
    cfg = random_config(rng, n_hidden=20)
    x = random_counts(rng, batch=1, steps=30, n_in=cfg.n_in)
    theirs, _ = run_xylosim(cfg, x)
    w = cfg.w_in.copy()
    w[0, 0, 0] = 1 if w[0, 0, 0] != 1 else 2
    x[0, :, 0] = 1  # channel 0 spikes every step
    theirs, _ = run_xylosim(cfg, x)
    ours = run_xylo_compiled(cfg.replace(w_in=w), num, x)
    with pytest.raises(VerificationError, match="differ in"):
        verify(ours, theirs)


def test_exported_config_loads_into_xylosim(xylo_ready, num, tmp_path):
    """The export (npz + JSON) and examples/xylo/load_xylo_config.py, run in .venv-xylo, give
    the output spikes of our emulator."""
    import subprocess

    from snn_deploy.backends.xylo.bridge import repo_root, xylo_python
    from snn_deploy.backends.xylo.config import ARRAYS, XyloConfig

    rng = np.random.default_rng(11)
    cfg = random_config(rng, n_hidden=30)
    npz, js = cfg.export(tmp_path / "art")
    back = XyloConfig.load(npz)
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(cfg, name))
    assert (back.shift_in, back.shift_rec, back.shift_out) == (
        cfg.shift_in, cfg.shift_rec, cfg.shift_out,
    )  # fmt: skip
    x = random_counts(rng, batch=1, steps=40, n_in=cfg.n_in)
    np.savez(tmp_path / "in.npz", x=x[0])
    script = repo_root() / "examples" / "xylo" / "load_xylo_config.py"
    for path in (js, npz):
        proc = subprocess.run(
            [str(xylo_python()), str(script), str(path), str(tmp_path / "in.npz")],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        with np.load(tmp_path / "xylo_out.npz") as z:
            theirs = z["out_spikes"]
        np.testing.assert_array_equal(theirs, run_xylo_compiled(cfg, num, x).out_spikes[0])
