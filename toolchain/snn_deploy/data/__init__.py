"""Offline data sets and spike encoders shared by training and emulation (nothing is downloaded).

- :mod:`~snn_deploy.data.digits`: scikit-learn's digits as spike trains (the demo's data; its
  ``EncodingSpec`` travels with checkpoints and compiled artifacts).
- :mod:`~snn_deploy.data.sequences`: sequential digits (row by row, pixel by pixel), the
  random-manifold task, temporal XOR.
- :mod:`~snn_deploy.data.encoders`: rate, latency, delta (threshold crossing) and direct
  encoders; binning of event data given as ``(t, x, [y], p)`` arrays.
"""

from snn_deploy.data.digits import DigitsSplit, EncodingSpec, encode, load_digits_split
from snn_deploy.data.encoders import (
    bin_events,
    delta_encode,
    direct_encode,
    latency_encode,
    load_events,
    rate_encode,
)
from snn_deploy.data.sequences import SequenceSplit, randman, sequential_digits, temporal_xor

__all__ = [
    "DigitsSplit",
    "EncodingSpec",
    "SequenceSplit",
    "bin_events",
    "delta_encode",
    "direct_encode",
    "encode",
    "latency_encode",
    "load_digits_split",
    "load_events",
    "randman",
    "rate_encode",
    "sequential_digits",
    "temporal_xor",
]
