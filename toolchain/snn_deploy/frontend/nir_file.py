"""NIR files (``.nir``, HDF5): reading with one clear error per failure.

Declared array sizes are checked against available memory before anything is read
(:mod:`snn_deploy.frontend.sizes`). A graph that NIR's type check refuses is read without it and
its shapes inferred (:mod:`snn_deploy.frontend.tolerant`); what was inferred goes into the model's
notes."""

from __future__ import annotations

from pathlib import Path

from snn_deploy.errors import InputFileError, ModelError
from snn_deploy.frontend.load import ImportedModel
from snn_deploy.frontend.sizes import HDF5_ERRORS, hdf5_arrays, require_memory
from snn_deploy.frontend.tolerant import read_graph


def read_nir(path: Path) -> ImportedModel:
    try:
        declared = hdf5_arrays(path)
    except HDF5_ERRORS as exc:
        raise _damaged(path, exc) from None
    require_memory(path, declared)
    try:
        graph, notes = read_graph(path)
    except (OSError, RuntimeError) as exc:
        raise _damaged(path, exc) from None
    except (
        KeyError,
        ValueError,
        TypeError,
        AssertionError,
        NotImplementedError,
        AttributeError,
        IndexError,
    ) as exc:
        raise ModelError(
            f"{path.name}: NIR graph could not be read ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160] if str(exc) else 'no detail'})",
            hint="check that the file was written by nir 1.0.x and that node shapes agree",
        ) from None
    return ImportedModel(graph=graph, source=str(path), kind="NIR file", notes=notes)


def _damaged(path: Path, exc: Exception) -> InputFileError:
    reason = " ".join(str(exc).split())[:120] or type(exc).__name__
    return InputFileError(
        f"{path.name}: not a readable NIR file (HDF5 error: {reason})",
        hint="the file is truncated, damaged or not HDF5; export it again with nir.write",
    )
