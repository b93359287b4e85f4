"""snn-deploy checkpoints (``.pt``): safe loading and conversion to NIR.

Loaded with ``torch.load(path, weights_only=True)``: a pickle that would run code, or any object
other than plain containers and tensors, is refused before anything executes. The checkpoint
envelope is defined by :mod:`snn_deploy.train.models`; ``model.kind`` selects the class that
reads the rest (:data:`snn_deploy.train.network.MODEL_KINDS`: ``spiking_mlp`` for
:class:`~snn_deploy.train.models.SpikingMLP`, ``spiking_network`` for
:class:`~snn_deploy.train.network.SpikingNetwork`).
"""

from __future__ import annotations

from pathlib import Path

from snn_deploy.errors import InputFileError, ModelError
from snn_deploy.frontend.load import ImportedModel

FORMAT = "snn-deploy/checkpoint"


def load_torch_file(path: Path):
    """Whatever the file holds, loaded safely (``weights_only=True``).

    ``weights_only=True`` runs no code, so any exception while loading means the file is not a
    checkpoint this loader can read: the unpickler of a text file raises ``KeyError`` or
    ``IndexError``, a damaged zip ``RuntimeError``, an unknown global ``UnpicklingError``."""
    import torch

    if path.stat().st_size == 0:
        raise InputFileError(
            f"{path.name}: the file is empty, not a PyTorch checkpoint",
            hint="save models with `snn-deploy train` or torch.save(model.to_checkpoint(), path)",
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as exc:
        raise InputFileError(
            f"{path.name}: not a PyTorch checkpoint that can be loaded safely "
            f"(weights_only=True refused it: {_load_failure(exc)})",
            hint="save models with `snn-deploy train` or torch.save(model.to_checkpoint(), path); "
            "snn-deploy never unpickles code",
        ) from None
    return obj


def _load_failure(exc: Exception) -> str:
    """The informative part of a ``torch.load`` failure, on one line."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1].split("Check the documentation", 1)[0]
    text = " ".join(text.split())
    if len(text) > 160:
        text = text.split(". ")[0]
    if not text or isinstance(exc, (KeyError, IndexError)):
        text = f"{type(exc).__name__} {text}".strip()
    return text[:160]


def load_checkpoint_dict(path: Path) -> dict:
    obj = load_torch_file(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        what = (
            "a dict without the snn-deploy 'format' key"
            if isinstance(obj, dict)
            else type(obj).__name__
        )
        raise ModelError(
            f"{path.name}: is a PyTorch file but not an snn-deploy checkpoint ({what})",
            hint="for a bare state dict pass --arch ARCH.json describing its layers "
            "(docs/nir-interop.md); or save models with SpikingMLP.to_checkpoint()",
        )
    return obj


def read_checkpoint(path: Path) -> ImportedModel:
    """The model of an snn-deploy checkpoint as a NIR graph.

    The checkpoint's classes check its envelope and name what is wrong; a value of a type they
    do not expect (a tensor where a size or a dict belongs) still makes them raise ``TypeError``
    or ``RuntimeError``, which is refused here as a damaged checkpoint."""
    ckpt = load_checkpoint_dict(path)
    try:
        graph = _checkpoint_graph(ckpt, path)
        data = dict(ckpt.get("data") or {}) or None
        if data is not None and data.get("dataset") == "digits":
            from snn_deploy.data.digits import EncodingSpec

            EncodingSpec.from_dict(data)
        calibration = {k: dict(v) for k, v in (ckpt.get("calibration") or {}).items()} or None
        training = dict(ckpt.get("training") or {}) or None
    except ModelError as exc:
        message = exc.message
        message = message if message.startswith(path.name) else f"{path.name}: {message}"
        raise ModelError(message, hint=exc.hint) from None
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError, IndexError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise ModelError(
            f"{path.name}: damaged snn-deploy checkpoint ({type(exc).__name__}: {reason})",
            hint="re-save the model with to_checkpoint()",
        ) from None
    return ImportedModel(
        graph=graph,
        source=str(path),
        kind="snn-deploy checkpoint",
        data=data,
        calibration=calibration,
        training=training,
    )


def _checkpoint_graph(ckpt: dict, path: Path):
    from snn_deploy.ir.contract import DiscretizationContract
    from snn_deploy.train.network import model_from_checkpoint

    model = model_from_checkpoint(ckpt, source=path.name)
    return model.to_nir(DiscretizationContract.from_metadata(dict(ckpt["contract"])))
