"""Runs in .venv-netx: lava-dl 0.6.0's own reading of weight matrices, for tests/netx/test_netx.py.

    python netx_probe.py matrices.npz result.npz

For each matrix ``w{i}``: netx's ``optimize_weight_bits`` (its shift, or the exception it raises)
and the weights Lava's ``Dense`` then holds after its first-step preparation (sign mode from the
shifted weights, as netx passes none; ``clip_weights``; ``truncate_weights``), the code path of
``netx.blocks.process.Dense`` and ``lava.proc.dense.models``.
"""

import sys

import numpy as np


def main(argv):
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    out = {}
    with np.load(argv[1], allow_pickle=False) as z:
        mats = {k: z[k] for k in z.files}
    for key, w in mats.items():
        try:
            weight, bits, exp, _ = optimize_weight_bits(w.astype(np.int64))
        except Exception as exc:  # netx's own failure is the datum here
            out[f"{key}_error"] = np.array(type(exc).__name__)
            continue
        mode = determine_sign_mode(weight)
        prepared = truncate_weights(clip_weights(weight, mode, num_bits=8), mode, bits)
        out[f"{key}_shift"] = np.array(-exp)
        out[f"{key}_loaded"] = np.asarray(prepared, dtype=np.int64)
    np.savez(argv[2], **out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
