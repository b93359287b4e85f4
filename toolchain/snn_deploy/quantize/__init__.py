"""Quantization: float :class:`DiscreteNetwork` + profile -> :class:`QuantizedNetwork`."""
