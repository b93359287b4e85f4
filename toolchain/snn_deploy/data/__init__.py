"""Offline data sets and spike encoders shared by training and emulation (nothing is downloaded)."""

from snn_deploy.data.digits import DigitsSplit, EncodingSpec, encode, load_digits_split

__all__ = ["DigitsSplit", "EncodingSpec", "encode", "load_digits_split"]
