"""SynSense Xylo Audio 2 backend: the chip's configuration as plain arrays (:mod:`config`), its
export, and the bridge to the vendor's bit-accurate simulator ``xylosim`` 0.1.3.

xylosim ships wheels for CPython 3.7-3.10 only and publishes no licence file, so it lives in its
own environment (``.venv-xylo``, ``make xylo-env``), used for verification only: :mod:`bridge`
writes the configuration and the inputs to an ``.npz``, runs :mod:`runner` there as a subprocess
and reads every spike count and state back. See docs/xylo.md.
"""
