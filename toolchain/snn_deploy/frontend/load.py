"""Dispatch from a model file to the reader for its type."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nir

from snn_deploy.errors import InputFileError


@dataclass(frozen=True)
class ImportedModel:
    """A float NIR graph plus what the source file says beyond NIR.

    ``data`` is the input encoding the model was trained with (checkpoint ``"data"``),
    ``calibration`` the float state ranges measured on training data, per population.
    """

    graph: nir.NIRGraph
    source: str
    kind: str
    data: dict | None = None
    calibration: dict | None = None
    training: dict | None = None
    notes: tuple[str, ...] = field(default=())


def import_model(
    path: str | Path,
    data: str | None = None,
    steps: int | None = None,
    arch: str | Path | None = None,
) -> ImportedModel:
    """Read a model file. ``data`` ('digits' or an .npz file) and ``steps`` are needed only to
    convert an ONNX ANN (its weights are normalized on that data; inputs last ``steps``);
    ``arch`` describes the layers of a ``.pt`` file that holds a bare state dict."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(
            f"model file {path} does not exist",
            hint="give the path of a .pt checkpoint (snn-deploy train) or a .nir graph",
        )
    if path.is_dir():
        raise InputFileError(
            f"{path} is a directory, not a model file",
            hint="give the path of a .pt checkpoint or a .nir graph",
        )
    if path.stat().st_size == 0:
        raise InputFileError(
            f"{path.name}: the file is empty",
            hint="give the path of a .pt checkpoint, a .nir graph or an .onnx model",
        )
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        from snn_deploy.frontend.checkpoint import load_torch_file, read_checkpoint

        if arch:
            from snn_deploy.frontend.state_dict import read_state_dict

            state = load_torch_file(path)
            if not isinstance(state, dict):
                raise InputFileError(
                    f"{path.name}: holds a {type(state).__name__}, not a state dict",
                    hint="save model.state_dict()",
                )
            return read_state_dict(path, Path(arch), state)
        return read_checkpoint(path)
    if suffix == ".nir":
        from snn_deploy.frontend.nir_file import read_nir

        return read_nir(path)
    if suffix == ".onnx":
        return _import_onnx(path, data, steps)
    raise InputFileError(
        f"{path}: unknown model file type {suffix or '(no suffix)'!r}",
        hint="snn-deploy reads .pt/.pth checkpoints, .nir graphs and .onnx ANNs",
    )


ONNX_STEPS = 100


def _import_onnx(path: Path, data: str | None, steps: int | None) -> ImportedModel:
    from snn_deploy.data.digits import EncodingSpec
    from snn_deploy.data.loader import load_inputs
    from snn_deploy.frontend.onnx_model import convert, rates_of, read_onnx
    from snn_deploy.ir.network import InputPort

    layers, shape = read_onnx(path)
    if not data:
        raise InputFileError(
            f"{path.name}: converting an ANN to spikes needs data to normalize its weights",
            hint="pass --calibrate digits (or an .npz file with x) to compile",
        )
    import math

    spec = EncodingSpec(num_steps=steps or ONNX_STEPS)

    class _Port:  # what load_inputs needs: the network's spike input
        inputs = (InputPort("input", math.prod(shape)),)

    inputs, _, desc = load_inputs(data, _Port, spec.to_dict(), "train")
    graph, info = convert(layers, shape, rates_of(inputs["input"]))
    lam = ", ".join(f"{x:.3g}" for x in info["lambdas"])
    return ImportedModel(
        graph=graph,
        source=str(path),
        kind="ONNX ANN converted to a rate-coded IF SNN",
        data=spec.to_dict() if data == "digits" else None,
        notes=(
            f"weights normalized on {desc}: {info['percentile']}th percentile of each "
            f"layer's ReLU activations = {lam} (Rueckauer et al. 2017)",
        ),
    )
