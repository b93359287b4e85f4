"""THE integer arithmetic: shifts, decays, rounding, wrap-around and saturation.

The quantizers and the emulator kernels import these functions, so the value a quantizer
predicts and the value the emulator computes cannot disagree. Every function works on numpy
integer arrays (int64 inside) and returns new arrays; nothing is modified in place.
"""

from __future__ import annotations

import numpy as np

INT32 = 32


def as_int64(x) -> np.ndarray:
    """Integers as int64; refuses floats so a float never turns into an int silently."""
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"integer array expected, got dtype {a.dtype}")
    return a.astype(np.int64)


def shift(x, e) -> np.ndarray:
    """``x << e`` for ``e >= 0``, else ``x >> -e`` (arithmetic, i.e. floor: ``-7 >> 1 == -4``).

    ``e`` may be an array (per-element exponents)."""
    x = as_int64(x)
    e = np.asarray(e, dtype=np.int64)
    return np.where(e >= 0, x << np.maximum(e, 0), x >> np.maximum(-e, 0))


def decay_toward_zero(x, keep, shift_bits: int) -> np.ndarray:
    """``sign(p) * (|p| >> shift_bits)`` with ``p = x * keep``: multiply, then round toward zero.

    Loihi's decays (lava/proc/lif/models.py, ``subthr_dynamics``): ``keep = 4096 - decay``."""
    p = as_int64(x) * np.int64(keep)
    return np.sign(p) * (np.abs(p) >> shift_bits)


def wrap_once(x, bits: int) -> np.ndarray:
    """One wrap into a signed ``bits``-bit range, as Lava's LIF current: ``x - 2**bits`` if
    ``x > 2**(bits-1)``, ``x + 2**bits`` if ``x <= -2**(bits-1)``, else ``x``.

    Not modular: ``2**(bits-1)`` itself survives, and a value more than one range away stays
    out of range (loihi2-lava.md section 1.3, reproduced against Lava)."""
    x = as_int64(x)
    half = np.int64(1) << (bits - 1)
    full = np.int64(1) << bits
    return np.where(x > half, x - full, np.where(x <= -half, x + full, x))


def wrap(x, bits: int) -> np.ndarray:
    """Two's-complement wrap-around into a signed ``bits``-bit integer (modular)."""
    x = as_int64(x)
    full = np.int64(1) << bits
    half = np.int64(1) << (bits - 1)
    return ((x + half) % full) - half


def wrap_int32(x) -> np.ndarray:
    """What numpy int32 storage does to an int64 value: modular wrap to 32 bits."""
    return wrap(x, INT32)


def saturate_symmetric(x, bits: int) -> np.ndarray:
    """Clip to ``±(2**(bits-1) - 1)`` (Lava's LIF voltage: the most negative code is unused)."""
    lim = (np.int64(1) << (bits - 1)) - 1
    return np.clip(as_int64(x), -lim, lim)


def saturate(x, lo: int, hi: int) -> np.ndarray:
    return np.clip(as_int64(x), lo, hi)


def round_nearest(x) -> np.ndarray:
    """Float to nearest integer, ties to even (numpy ``rint``); the quantizers' one rounding."""
    return np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)
