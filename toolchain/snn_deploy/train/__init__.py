"""Training: surrogate gradients, CubaLIF layers, the SpikingMLP and its checkpoint, BPTT.

The product is an snn-deploy checkpoint (``.pt``, format in :mod:`snn_deploy.train.models`)
that :mod:`snn_deploy.frontend` turns into a NIR graph; ``SpikingMLP.to_nir`` gives the graph
directly. :func:`train_digits` is the ready-made recipe behind ``examples/digits/train.py``.
"""

from snn_deploy.train.bptt import evaluate, train_bptt
from snn_deploy.train.models import LayerSpec, SpikingMLP, default_layer_names
from snn_deploy.train.neurons import CubaLIF, LayerTrace
from snn_deploy.train.recipes import save_checkpoint_atomic, train_digits
from snn_deploy.train.surrogate import SURROGATES, FastSigmoid, get_spike_fn, spike_fn

__all__ = [
    "SURROGATES",
    "CubaLIF",
    "FastSigmoid",
    "LayerSpec",
    "LayerTrace",
    "SpikingMLP",
    "default_layer_names",
    "evaluate",
    "get_spike_fn",
    "save_checkpoint_atomic",
    "spike_fn",
    "train_bptt",
    "train_digits",
]
