"""Training: neuron layers, surrogate gradients, losses, BPTT / TBPTT / FPTT, checkpoints.

- :mod:`~snn_deploy.train.neurons`: ``LIF``, ``CubaLIF``, ``IF``, ``ALIF``, ``LTC`` and the
  non-spiking ``LI`` readout, each optionally recurrent; time-major ``[T, B, features]``.
- :mod:`~snn_deploy.train.surrogate`: eight surrogate derivatives with a scale each.
- :mod:`~snn_deploy.train.kernels`: the fused LIF sequence kernel and the event-driven input
  projection that make training fast.
- :mod:`~snn_deploy.train.losses`: spike-count, membrane, time-to-first-spike, van Rossum and
  rate losses; classification readouts.
- :mod:`~snn_deploy.train.algorithms`: :func:`fit` with ``bptt``, ``tbptt`` or ``fptt``
  (:class:`FPTT`).
- :class:`SpikingNetwork` (any layers) and :class:`SpikingMLP` (CubaLIF stack, the digits
  demo): checkpoints (``.pt``, formats in :mod:`~snn_deploy.train.network` and
  :mod:`~snn_deploy.train.models`) that :mod:`snn_deploy.frontend` compiles, and ``to_nir``.
- :func:`train_digits` is the ready-made recipe behind ``snn-deploy train digits``;
  :mod:`~snn_deploy.train.recipes` also has the sequential-digits recipe.
"""

from snn_deploy.train.algorithms import FPTT, evaluate, fit
from snn_deploy.train.bptt import train_bptt
from snn_deploy.train.losses import (
    READOUTS,
    ce_count_loss,
    ce_last_membrane_loss,
    ce_max_membrane_loss,
    firing_rate_regularizer,
    first_spike_times,
    mse_membrane_loss,
    mse_rate_loss,
    ttfs_ce_loss,
    van_rossum_distance,
)
from snn_deploy.train.models import LayerSpec, SpikingMLP, default_layer_names
from snn_deploy.train.network import MODEL_KINDS, SpikingNetwork, model_from_checkpoint
from snn_deploy.train.neurons import ALIF, IF, LI, LIF, LTC, CubaLIF, LayerTrace
from snn_deploy.train.recipes import save_checkpoint_atomic, train_digits
from snn_deploy.train.surrogate import SURROGATES, FastSigmoid, get_spike_fn, spike_fn

__all__ = [
    "ALIF",
    "FPTT",
    "IF",
    "LI",
    "LIF",
    "LTC",
    "MODEL_KINDS",
    "READOUTS",
    "SURROGATES",
    "CubaLIF",
    "FastSigmoid",
    "LayerSpec",
    "LayerTrace",
    "SpikingMLP",
    "SpikingNetwork",
    "ce_count_loss",
    "ce_last_membrane_loss",
    "ce_max_membrane_loss",
    "default_layer_names",
    "evaluate",
    "firing_rate_regularizer",
    "first_spike_times",
    "fit",
    "get_spike_fn",
    "model_from_checkpoint",
    "mse_membrane_loss",
    "mse_rate_loss",
    "save_checkpoint_atomic",
    "spike_fn",
    "train_bptt",
    "train_digits",
    "ttfs_ce_loss",
    "van_rossum_distance",
]
