"""The engine switch, the kernels' on-disk cache (read-only installs) and the first-run notice."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import random_qnet
from snn_deploy.backends.emulator import run
from snn_deploy.backends.emulator.compiled import common
from snn_deploy.errors import InputFileError


def test_an_unknown_engine_is_refused(loihi2):
    qnet = random_qnet(np.random.default_rng(0), sizes=(4, 3))
    with pytest.raises(InputFileError, match="unknown engine 'fast'"):
        run(qnet, loihi2.numerics, {"in": np.zeros((1, 2, 4), bool)}, engine="fast")


def test_the_cache_falls_back_to_writable_folders(monkeypatch, tmp_path):
    """A read-only $NUMBA_CACHE_DIR and user cache: the temporary folder; none: no cache."""
    writable = {tmp_path / "tmp"}
    monkeypatch.setattr(common, "_writable", lambda p: p in writable or p.parent in writable)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "ro-numba"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "ro-home"))
    monkeypatch.setattr(common.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    assert common.cache_dir().parent == tmp_path / "tmp"
    writable.add(tmp_path / "ro-numba")
    assert common.cache_dir() == tmp_path / "ro-numba" / "snn-deploy"
    writable.clear()
    assert common.cache_dir() is None


def test_kernels_run_without_any_cache_folder(monkeypatch, loihi2, caplog):
    """No writable folder at all (a read-only system): compiled afresh (and said so), same
    results."""
    monkeypatch.setattr(common, "cache_dir", lambda: None)
    monkeypatch.setattr(common._CompileNotice, "announced", False)
    kernel = common.Kernel(common.compact.py_func)  # a fresh dispatcher, never cached
    disp = kernel.dispatcher(False)
    assert isinstance(disp._cache, type(common.numba.njit(lambda: 0)._cache))
    flags = np.array([0, 1, 1, 0, 1], np.uint8)
    out = np.zeros(5, np.int64)
    assert kernel(flags, 0, 5, out, 0) == 3
    np.testing.assert_array_equal(out[:3], [1, 2, 4])
    assert "compiling the emulator kernels" in caplog.text


def test_the_notice_ignores_other_numba_users(monkeypatch, caplog):
    monkeypatch.setattr(common._CompileNotice, "announced", False)
    assert common.numba.njit(lambda v: v + 1)(1) == 2
    assert "compiling" not in caplog.text


def test_the_first_compilation_is_announced_once(monkeypatch, caplog):
    monkeypatch.setattr(common._CompileNotice, "announced", False)
    common._NOTICE.on_start(None)
    common._NOTICE.on_start(None)
    assert caplog.text.count("compiling the emulator kernels") == 1


def test_the_serial_and_parallel_variants_have_their_own_cache_names():
    """numba's cache ignores jit options (numba #6845): the variants need distinct names."""
    from snn_deploy.backends.emulator.compiled import loihi

    serial, parallel = loihi._batch.dispatcher(False), loihi._batch.dispatcher(True)
    assert serial.py_func.__qualname__ != parallel.py_func.__qualname__
    assert parallel.targetoptions.get("parallel")


def test_a_network_whose_sums_could_leave_int32_runs_on_the_reference():
    """The ring words are int32 only where no spike pattern can overflow them (prepare time)."""
    import dataclasses

    from snn_deploy.backends.emulator.compiled import run_compiled
    from snn_deploy.ir.contract import DiscretizationContract
    from snn_deploy.profiles import load_profile
    from snn_deploy.quantize.network import QInput, QPopulation, QProjection, QuantizedNetwork
    from snn_deploy.quantize.params import FixedLifParams, FixedSynapseParams

    num = dataclasses.replace(load_profile("fixedpoint").numerics, state_bits=48)
    n_in, n = 4096, 3
    params = FixedLifParams(a=[2048] * n, b=[2048] * n, threshold=[2**40] * n, bias=[0] * n)
    w = np.full((n, n_in), 2**20)
    qnet = QuantizedNetwork(
        "fixedpoint",
        "fixedpoint",
        (QInput("in", n_in),),
        (QPopulation("p", n, "cuba_lif", params, scale=1.0),),
        (QProjection("w", "in", "p", w, FixedSynapseParams(0)),),
        ("p",),
        DiscretizationContract(),
    )
    x = {"in": np.ones((1, 3, n_in), bool)}
    with pytest.raises(common.NotExact, match="int32"):
        run_compiled(qnet, num, x, 3)
    got = run(qnet, num, x, 3, ("p",))
    ref = run(qnet, num, x, 3, ("p",), engine="reference")
    np.testing.assert_array_equal(got.voltage["p"], ref.voltage["p"])
    assert got.voltage["p"].max() > 2**31
