"""Mapping: integer network + profile -> :class:`MappedNetwork` (populations placed on cores)."""

from snn_deploy.mapping.cores import CoreAssignment, MappedNetwork, Slice, plan_cores

__all__ = ["CoreAssignment", "MappedNetwork", "Slice", "plan_cores"]
