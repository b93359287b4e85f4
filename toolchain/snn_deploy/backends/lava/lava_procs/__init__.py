"""Custom Lava processes used by the runner (Python 3.10, lava-nc 0.10.0).

Lava's model discovery executes every ``.py`` file in the directory of a custom Process
(loihi2-lava.md section 4.1), so this package holds only side-effect-free modules.
"""
