"""Compiled (numba) emulation engines; the numpy kernels one folder up are their reference."""
