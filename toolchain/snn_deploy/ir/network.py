"""The normalized float network: chip-independent, discrete-time, the product of ``normalize``.

``DiscreteNetwork`` is what every NIR graph becomes once the discretization contract is applied
(``snn_deploy.ir.normalize``): input ports, neuron populations and weighted projections between
them, each with its delay in time steps. It is the golden model against which quantization is
measured (``snn_deploy.ir.simulate``), and the input of every quantizer.

All arrays are float64 and read-only; transformations return new networks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from snn_deploy.ir.contract import DiscretizationContract

NEURON_MODELS = ("cuba_lif",)


def frozen(a, dtype=np.float64):
    """A read-only copy: products of a stage are never modified underneath their consumer.

    Weight matrices may be scipy CSR matrices (convolutions and pooling lowered to synapses);
    their data, indices and index pointers are made read-only in the same way."""
    if sp.issparse(a):
        out = sp.csr_matrix(a, dtype=dtype, copy=True)
        out.sum_duplicates()
        for arr in (out.data, out.indices, out.indptr):
            arr.flags.writeable = False
        return out
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def project(weight, x: np.ndarray) -> np.ndarray:
    """``x @ weight.T`` for a batch ``x`` (batch, source), dense or sparse ``weight``."""
    if sp.issparse(weight):
        return np.asarray((weight @ x.T).T)
    return x @ weight.T


def nonzeros(weight) -> np.ndarray:
    """The stored values of a weight matrix: every entry if dense, the non-zeros if sparse."""
    return weight.data if sp.issparse(weight) else np.asarray(weight).ravel()


def weights_equal(a, b) -> bool:
    """Exact equality of two weight matrices, dense or sparse (same storage kind and shape)."""
    if sp.issparse(a) != sp.issparse(b) or a.shape != b.shape:
        return False
    if sp.issparse(a):
        return (a != b).nnz == 0
    return bool(np.array_equal(a, b))


def synapse_count(weight) -> int:
    """Synapses a weight matrix needs on a chip: every entry if dense, stored entries if sparse."""
    return int(weight.nnz) if sp.issparse(weight) else int(np.asarray(weight).size)


INPUT_KINDS = ("spikes", "constant")


@dataclass(frozen=True)
class InputPort:
    """A source of spikes from outside the network: one per NIR ``Input`` node (``spikes``),
    or a ``constant`` port that spikes at every step, which carries the bias of a weight layer
    into neurons with a synaptic current (``I[t] = alpha I[t-1] + W s[t] + b``: ``b`` is the
    weight of a synapse from an always-on source). Constant ports need no data."""

    name: str
    size: int
    kind: str = "spikes"


@dataclass(frozen=True)
class Population:
    """A population of discrete-time current-based LIF neurons.

    Update at step t, with ``x[t] = sum_p W_p s_p[t - d_p]`` summed over incoming projections::

        I[t] = alpha * I[t-1] + x[t]
        V[t] = beta * V[t-1] + I[t] + bias          (I[t-1] if current_drive = previous_step)
        s[t] = V[t] > threshold                      (only if spiking)
        V[t] = v_reset where s[t]                    (reset "zero")
        V[t] = V[t] - threshold where s[t]           (reset "subtract")

    ``alpha = 0`` is a plain LIF (no synaptic current); ``beta = 1`` an IF neuron; a population
    with ``spiking=False`` is a leaky integrator readout (NIR ``LI``/``CubaLI``) whose output is V.
    """

    name: str
    size: int
    alpha: np.ndarray
    beta: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    v_reset: np.ndarray
    reset: str = "zero"
    spiking: bool = True
    model: str = "cuba_lif"

    def __post_init__(self):
        for name in ("alpha", "beta", "threshold", "bias", "v_reset"):
            arr = np.broadcast_to(np.asarray(getattr(self, name), dtype=np.float64), (self.size,))
            object.__setattr__(self, name, frozen(arr))


@dataclass(frozen=True)
class Projection:
    """Weighted, delayed connection: ``x_target[t] += weight @ s_source[t - delay_steps]``.

    ``weight`` has shape (target size, source size): a dense array, or a CSR matrix where most
    entries are zero (lowered convolutions and pooling). ``delay_steps`` is in model time: 0 for a
    feedforward edge evaluated in the same step, ``recurrent_delay_steps`` for a back edge.
    """

    name: str
    source: str
    target: str
    weight: np.ndarray | sp.csr_matrix
    delay_steps: int = 0

    def __post_init__(self):
        object.__setattr__(self, "weight", frozen(self.weight))


class GraphQueries:
    """Look-ups shared by every network product (float and integer): they all have ``inputs``,
    ``populations`` and ``projections`` whose items carry ``name`` (and ``size``, ``target``)."""

    def population(self, name: str):
        for p in self.populations:
            if p.name == name:
                return p
        raise KeyError(name)

    def size_of(self, name: str) -> int:
        for p in (*self.inputs, *self.populations):
            if p.name == name:
                return p.size
        raise KeyError(name)

    def incoming(self, name: str) -> tuple:
        return tuple(p for p in self.projections if p.target == name)

    @property
    def num_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    @property
    def num_synapses(self) -> int:
        return sum(synapse_count(p.weight) for p in self.projections)


@dataclass(frozen=True)
class DiscreteNetwork(GraphQueries):
    """Inputs, populations (in evaluation order) and projections; ``outputs`` are read out."""

    inputs: tuple[InputPort, ...]
    populations: tuple[Population, ...]
    projections: tuple[Projection, ...]
    outputs: tuple[str, ...]
    contract: DiscretizationContract
    notes: tuple[str, ...] = field(default=())
