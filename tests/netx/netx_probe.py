"""Runs in .venv-netx: lava-dl 0.6.0's own reading of weight matrices, for tests/netx/test_netx.py.

    python netx_probe.py matrices.npz result.npz

For each matrix ``w{i}``: netx's ``optimize_weight_bits`` (its shift, or the exception it raises)
and the weights Lava's ``Dense`` then holds after its first-step preparation (sign mode from the
shifted weights, as netx passes none; ``clip_weights``; ``truncate_weights``), the code path of
``netx.blocks.process.Dense`` and ``lava.proc.dense.models``. Pairs ``r{i}_fwd``, ``r{i}_rec``
go through a recurrent block's path (``RecurrentDense``): one ``optimize_weight_bits`` on both.
"""

import sys

import numpy as np


def main(argv):
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    out = {}
    with np.load(argv[1], allow_pickle=False) as z:
        mats = {k: z[k] for k in z.files}
    for key in [k for k in mats if k.endswith("_fwd")]:
        # a recurrent block (netx hdf5.py create_dense, rec=True): one optimize_weight_bits on
        # both matrices side by side, then one Lava Dense each, each picking its sign mode
        fwd, rec = mats.pop(key), mats.pop(key[: -len("_fwd")] + "_rec")
        base = key[: -len("_fwd")]
        try:
            both, bits, exp, _ = optimize_weight_bits(np.hstack([fwd, rec]).astype(np.int64))
        except Exception as exc:
            out[f"{base}_error"] = np.array(type(exc).__name__)
            continue
        out[f"{base}_shift"] = np.array(-exp)
        for part, w in (("fwd", both[:, : fwd.shape[1]]), ("rec", both[:, fwd.shape[1] :])):
            mode = determine_sign_mode(w)
            prepared = truncate_weights(clip_weights(w, mode, num_bits=8), mode, bits)
            out[f"{base}_loaded_{part}"] = np.asarray(prepared, dtype=np.int64)
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
