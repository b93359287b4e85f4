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


def import_model(path: str | Path) -> ImportedModel:
    path = Path(path)
    if not path.exists():
        raise InputFileError(
            f"model file {path} does not exist",
            hint="give the path of a .pt checkpoint (snn-deploy train) or a .nir graph",
        )
    if path.is_dir():
        raise InputFileError(f"{path} is a directory, not a model file",
                             hint="give the path of a .pt checkpoint or a .nir graph")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        from snn_deploy.frontend.checkpoint import read_checkpoint

        return read_checkpoint(path)
    if suffix == ".nir":
        from snn_deploy.frontend.nir_file import read_nir

        return read_nir(path)
    raise InputFileError(
        f"{path}: unknown model file type {suffix or '(no suffix)'!r}",
        hint="snn-deploy reads .pt/.pth checkpoints and .nir graphs",
    )
