"""snn-deploy: deploy spiking neural networks onto neuromorphic chips.

Pipeline (one sub-package per stage): ``frontend`` (models and NIR files in) -> ``ir``
(normalized discrete-time network) -> ``quantize`` (integer network) -> ``checks`` and
``mapping`` (fit onto cores) -> ``backends`` (emulator, Lava) -> ``reports``.
The functions users call are in :mod:`snn_deploy.api`.
"""

__version__ = "0.1.0"
