"""Fixed-point types and the integer arithmetic shared by the quantizers and the emulator."""

from snn_deploy.numerics.formats import IntFormat, ManExpFormat
from snn_deploy.numerics.ops import (
    decay_toward_zero,
    round_nearest,
    saturate,
    saturate_symmetric,
    shift,
    wrap,
    wrap_int32,
    wrap_once,
)

__all__ = [
    "IntFormat",
    "ManExpFormat",
    "decay_toward_zero",
    "round_nearest",
    "saturate",
    "saturate_symmetric",
    "shift",
    "wrap",
    "wrap_int32",
    "wrap_once",
]
