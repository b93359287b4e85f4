"""Input data for a network, by name: ``digits`` (encoded as the model was trained) or an
``.npz`` file with ``x`` (samples, steps, inputs) spikes and optional ``y`` labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snn_deploy.errors import InputFileError, ModelError


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
    try:
        with np.load(path, allow_pickle=False) as z:
            x = z["x"]
            y = z["y"] if "y" in z.files else None
    except (OSError, ValueError, KeyError) as exc:
        raise InputFileError(
            f"{path}: not an .npz file with an array 'x' ({exc})",
            hint="save inputs with np.savez(path, x=spikes, y=labels)",
        ) from None
    if x.ndim != 3 or x.shape[2] != port.size:
        raise ModelError(f"{path}: x must have shape (samples, steps, {port.size}), got {x.shape}")
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
