"""What the differential tests share: exact comparison of two emulation results and a CSR
version of a projection."""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sp

from conftest import assert_ints_equal


def _bits(a):
    """Floats by their bit patterns (float32 kernels must agree bit for bit)."""
    a = np.asarray(a)
    return a.view(np.int32) if a.dtype == np.float32 else a


def assert_same_result(got, ref):
    """Spikes, final states, voltage traces and event counters equal, entry for entry."""
    assert got is not None, "no compiled kernel for this arithmetic"
    assert got.num_steps == ref.num_steps
    assert set(got.spikes) == set(ref.spikes)
    for pop in ref.spikes:
        assert_ints_equal(got.spikes[pop], ref.spikes[pop], f"{pop} spikes")
        assert set(got.final_state[pop]) == set(ref.final_state[pop])
        for var, value in ref.final_state[pop].items():
            assert got.final_state[pop][var].dtype == value.dtype, f"{pop}.{var} dtype"
            assert_ints_equal(_bits(got.final_state[pop][var]), _bits(value), f"{pop} final {var}")
    assert set(got.voltage) == set(ref.voltage)
    for pop, trace in ref.voltage.items():
        assert got.voltage[pop].dtype == trace.dtype, f"{pop} voltage dtype"
        assert_ints_equal(_bits(got.voltage[pop]), _bits(trace), f"{pop} voltage")
    assert got.events == ref.events


def csr_version(rng, proj, density: float = 0.3):
    """``proj`` with a CSR weight keeping about ``density`` of its entries."""
    w = np.asarray(proj.weight)
    keep = rng.random(w.shape) < density
    return dataclasses.replace(proj, weight=sp.csr_matrix(np.where(keep, w, 0)))
