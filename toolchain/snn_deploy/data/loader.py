"""Input data for a network, by name: ``digits`` (encoded as the model was trained) or an
``.npz`` file with ``x`` (samples, steps, inputs) spikes and optional ``y`` labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_deploy.errors import InputFileError, ModelError, UsageError
from snn_deploy.frontend.sizes import ZIP_ERRORS, npz_arrays, require_memory


def load_inputs(
    data: str,
    network,
    encoding: dict | None = None,
    split: str = "test",
    samples: int | None = None,
):
    """``(inputs, labels, description)``: inputs maps the network's spike input port to a
    (samples, steps, size) bool array; labels may be None. ``split`` is ``train`` or ``test``
    (digits only; an .npz file is used whole)."""
    from snn_deploy.data.digits import EncodingSpec, encode, load_digits_split

    if samples is not None and samples < 1:
        raise UsageError(
            f"--samples must be at least 1, got {samples}", hint="omit it to use every sample"
        )
    ports = [p for p in network.inputs if p.kind == "spikes"]
    if len(ports) != 1:
        raise ModelError(f"the network has {len(ports)} spike inputs; data can feed exactly one")
    port = ports[0]
    if data == "digits":
        meta = encoding or {}
        spec = EncodingSpec.from_dict(meta) if meta.get("dataset") == "digits" else EncodingSpec()
        if port.size != 64:
            raise ModelError(
                f"data set 'digits' has 64 features per sample; the network's input "
                f"'{port.name}' has {port.size}",
                hint="pass an .npz file with arrays x (samples, steps, inputs) and y",
            )
        parts = load_digits_split(spec.split_seed, spec.test_fraction)
        x, y = (parts.x_train, parts.y_train) if split == "train" else (parts.x_test, parts.y_test)
        if samples:
            x, y = x[:samples], y[:samples]
        desc = f"digits {split} split (seed {spec.split_seed}), {spec.encoding} encoding" + (
            "" if meta else " (the model carries no encoding; defaults used)"
        )
        return {port.name: encode(x, spec)}, y, desc
    path = Path(data)
    if not path.is_file():
        raise InputFileError(
            f"data '{data}' is neither 'digits' nor an existing .npz file",
            hint="use digits or FILE.npz (arrays x and optionally y)",
        )
    require_memory(path, npz_arrays(path, ("x", "y")))
    hint = "save inputs with np.savez(path, x=spikes, y=labels)"
    with open(path, "rb") as fh:
        head = fh.read(6)
    if not head.startswith((b"PK", b"\x93NUMPY")):
        what = "the file is empty" if not head else "neither a zip archive nor a .npy array"
        raise InputFileError(f"{path}: not an .npz file with an array 'x' ({what})", hint=hint)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputFileError(
                f"{path}: not an .npz file with an array 'x' (a single .npy array)", hint=hint
            )
        with loaded as z:
            x = z["x"]
            y = z["y"] if "y" in z.files else None
    except (*ZIP_ERRORS, KeyError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise InputFileError(
            f"{path}: not an .npz file with an array 'x' ({reason})", hint=hint
        ) from None
    if not all(isinstance(a, np.ndarray) for a in (x, y) if a is not None):
        raise InputFileError(
            f"{path}: not an .npz file with an array 'x' (its members are not .npy arrays)",
            hint=hint,
        )
    if x.dtype.kind not in "biuf":
        raise InputFileError(
            f"{path}: x holds {x.dtype} values; spikes are numbers (0 or 1)",
            hint="save x as a bool or integer array of 0 and 1",
        )
    if x.ndim != 3 or x.shape[2] != port.size:
        raise ModelError(f"{path}: x must have shape (samples, steps, {port.size}), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise InputFileError(
            f"{path}: x of shape {x.shape} holds no "
            f"{'samples' if x.shape[0] == 0 else 'time steps'}",
            hint="save at least one sample of at least one time step",
        )
    if y is not None:
        _check_labels(path, x, y)
    if samples:
        x = x[:samples]
        y = None if y is None else y[:samples]
    if x.dtype != bool:
        bad = ~np.isin(x, (0, 1))
        if bad.any():
            sample, step, unit = (int(i[0]) for i in np.nonzero(bad))
            raise ModelError(
                f"{path}: x holds {int(bad.sum()):,} value(s) that are not spikes (0 or 1), "
                f"first x[{sample}, {step}, {unit}] = {x[sample, step, unit].item():g}; the chip's "
                "inputs are spikes and snn-deploy does not binarize analog data silently",
                hint="encode analog inputs as spikes (snn_deploy.data.rate_encode, "
                "delta_encode, latency_encode) and train the model on that encoding",
            )
    return {port.name: x.astype(bool)}, y, str(path)


def _check_labels(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """``y`` holds one non-negative integer class per sample of ``x``."""
    hint = "save y as an integer array of one class index per sample: np.savez(path, x=x, y=y)"
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise InputFileError(
            f"{path}: y of shape {y.shape} does not give one label per sample; x holds "
            f"{x.shape[0]:,} samples",
            hint=hint,
        )
    if y.dtype.kind not in "biuf":
        raise InputFileError(f"{path}: y holds {y.dtype} values, not class indices", hint=hint)
    bad = ~np.isfinite(y) | (y < 0) | (y != np.round(y)) if y.dtype.kind == "f" else y < 0
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise InputFileError(
            f"{path}: y[{first}] = {y[first].item():g} is not a class index (a non-negative "
            "integer)",
            hint=hint,
        )
