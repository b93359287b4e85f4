"""The integer network: the product of ``quantize``, the input of checks, mapping and backends.

Values are exactly what the chip is given (Lava's ``LIF``/``Dense`` arguments for the Loihi
family): integer arrays, read-only. ``scale`` records how a population's integer state relates
to the float model (``V_int ~= scale * V_float``), for reports and dequantization only.

Serialization: one ``.npz`` holding the arrays plus a JSON header (``save``/``load``); no pickle.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from snn_deploy.errors import InputFileError
from snn_deploy.ir.contract import DiscretizationContract
from snn_deploy.ir.network import GraphQueries, frozen
from snn_deploy.quantize.params import (
    PARAMS,
    FixedLifParams,
    FixedSynapseParams,
    LoihiLifParams,
    LoihiSynapseParams,
)

FORMAT = "snn-deploy/quantized-network"
FORMAT_VERSION = 1


def _int_array(a):
    return frozen(a, dtype=np.int64)


__all__ = [
    "FixedLifParams",
    "FixedSynapseParams",
    "LoihiLifParams",
    "LoihiSynapseParams",
    "QInput",
    "QPopulation",
    "QProjection",
    "QuantizedNetwork",
]


@dataclass(frozen=True)
class QInput:
    """An input port: ``spikes`` from outside, or ``constant`` (spikes every step from chip step
    ``shift_steps`` on; it carries biases into neurons with a synaptic current)."""

    name: str
    size: int
    kind: str = "spikes"
    shift_steps: int = 0


@dataclass(frozen=True)
class QPopulation:
    name: str
    size: int
    model: str
    params: object  # a per-neuron params dataclass of the arithmetic (quantize/params.py)
    scale: float  # integer state units per float unit
    shift_steps: int = 0  # chip step = model step + shift_steps
    spiking: bool = True
    # Per neuron, the group (0..k-1) whose Lava process it runs in, where the chip holds one
    # decay or threshold per process and this population's neurons differ (quantize/groups.py);
    # None: the whole population is one process.
    groups: np.ndarray | None = None

    def __post_init__(self):
        if self.groups is not None:
            g = _int_array(self.groups)
            if g.shape != (self.size,) or not np.array_equal(np.unique(g), np.arange(g.max() + 1)):
                raise ValueError(f"population {self.name!r}: groups must number 0..k-1 per neuron")
            object.__setattr__(self, "groups", g)


@dataclass(frozen=True)
class QProjection:
    """``weight`` (target, source) as given to the chip, dense or CSR (a ``Sparse`` connection);
    ``delay_steps`` >= the chip's synapse delay (1 on Loihi: a plain ``Dense``; more needs
    ``DelayDense``)."""

    name: str
    source: str
    target: str
    weight: np.ndarray | sp.csr_matrix
    params: object  # a per-projection params dataclass of the arithmetic
    delay_steps: int = 1

    def __post_init__(self):
        object.__setattr__(self, "weight", _int_array(self.weight))


@dataclass(frozen=True)
class QuantizedNetwork(GraphQueries):
    target: str
    arithmetic: str
    inputs: tuple[QInput, ...]
    populations: tuple[QPopulation, ...]
    projections: tuple[QProjection, ...]
    outputs: tuple[str, ...]
    contract: DiscretizationContract
    notes: tuple[str, ...] = field(default=())

    @property
    def split_populations(self) -> dict[str, int]:
        """Populations that run as several Lava processes (groups), with their group counts.
        Such a network is no longer a chain of one process per layer (quantize/groups.py)."""
        return {p.name: int(p.groups.max()) + 1 for p in self.populations if p.groups is not None}

    # ------------------------------------------------------------------ serialization
    def save(self, path: str | Path) -> None:
        arrays, header = (
            {},
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "target": self.target,
                "arithmetic": self.arithmetic,
                "inputs": [dataclasses.asdict(i) for i in self.inputs],
                "outputs": list(self.outputs),
                "contract": self.contract.to_metadata(),
                "notes": list(self.notes),
                "populations": [],
                "projections": [],
            },
        )
        for i, p in enumerate(self.populations):
            entry = {
                k: getattr(p, k)
                for k in ("name", "size", "model", "scale", "shift_steps", "spiking")
            }
            entry["params_type"] = type(p.params).__name__
            for f in dataclasses.fields(p.params):
                arrays[f"pop{i}_{f.name}"] = getattr(p.params, f.name)
            if p.groups is not None:
                arrays[f"pop{i}_groups"] = p.groups
            header["populations"].append(entry)
        for i, p in enumerate(self.projections):
            entry = {k: getattr(p, k) for k in ("name", "source", "target", "delay_steps")}
            entry["params"] = dataclasses.asdict(p.params)
            entry["params_type"] = type(p.params).__name__
            if sp.issparse(p.weight):
                entry["sparse_shape"] = list(p.weight.shape)
                arrays[f"proj{i}_data"] = p.weight.data
                arrays[f"proj{i}_indices"] = p.weight.indices
                arrays[f"proj{i}_indptr"] = p.weight.indptr
            else:
                arrays[f"proj{i}_weight"] = p.weight
            header["projections"].append(entry)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> QuantizedNetwork:
        """Read ``save``'s file; a file that is not one is refused with ``InputFileError``."""
        from snn_deploy.frontend.sizes import ZIP_ERRORS, npz_arrays, require_memory

        hint = "compile the model again with `snn-deploy compile`"
        require_memory(Path(path), npz_arrays(Path(path)))
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode())
                arrays = {k: z[k] for k in z.files if k != "header"}
        except (*ZIP_ERRORS, KeyError, TypeError) as exc:
            reason = " ".join(str(exc).split())[:160]
            raise InputFileError(
                f"{path}: not an snn-deploy integer network ({type(exc).__name__}: {reason})",
                hint=hint,
            ) from None
        if not isinstance(header, dict):
            header = {}
        if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
            raise InputFileError(
                f"{path}: integer network format {header.get('format')!r} version "
                f"{header.get('version')!r} is not readable by this snn-deploy",
                hint="compile the model again with this version of snn-deploy",
            )
        try:
            return cls._from_parts(header, arrays)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise InputFileError(
                f"{path}: not an snn-deploy integer network (damaged header: "
                f"{type(exc).__name__} {' '.join(str(exc).split())[:120]})",
                hint=hint,
            ) from None

    @classmethod
    def _from_parts(cls, header: dict, arrays: dict) -> QuantizedNetwork:
        pops = []
        for i, e in enumerate(header["populations"]):
            e = dict(e)
            kind = PARAMS[e.pop("params_type", "LoihiLifParams")]
            params = kind(**{f.name: arrays[f"pop{i}_{f.name}"] for f in dataclasses.fields(kind)})
            pops.append(QPopulation(params=params, groups=arrays.get(f"pop{i}_groups"), **e))
        projs = []
        for i, e in enumerate(header["projections"]):
            e = dict(e)
            params = PARAMS[e.pop("params_type", "LoihiSynapseParams")](**e.pop("params"))
            shape = e.pop("sparse_shape", None)
            if shape is None:
                weight = arrays[f"proj{i}_weight"]
            else:
                parts = (arrays[f"proj{i}_{k}"] for k in ("data", "indices", "indptr"))
                weight = sp.csr_matrix(tuple(parts), shape=tuple(shape))
            projs.append(QProjection(weight=weight, params=params, **e))
        return cls(
            target=header["target"],
            arithmetic=header["arithmetic"],
            inputs=tuple(QInput(**i) for i in header["inputs"]),
            populations=tuple(pops),
            projections=tuple(projs),
            outputs=tuple(header["outputs"]),
            contract=DiscretizationContract.from_metadata(header["contract"]),
            notes=tuple(header["notes"]),
        )
