"""Backends: one folder per target family (emulator/, lava/)."""
