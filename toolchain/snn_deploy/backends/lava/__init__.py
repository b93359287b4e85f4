"""Lava 0.10.0 backend: runs integer networks in Lava's bit-accurate models.

Lava runs only on Python 3.10 and needs no torch, so it lives in its own environment
(``.venv-lava``); :mod:`bridge` writes a job file, runs :mod:`runner` there as a subprocess and
reads the result file back. See docs/lava-bridge.md.
"""
