"""Lava-side process models for learning runs (Python 3.10, lava-nc 0.10.0, no snn_deploy).

Lava's model discovery executes every ``.py`` file in the directory of a custom Process
(loihi2-lava.md section 4.1): this package holds only side-effect-free modules.
"""
