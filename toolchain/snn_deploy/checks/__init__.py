"""Checks: read-only analyses of an integer network against a profile -> list[Violation].

Every check returns its violations; ``check_all`` collects them from all checks and the flow
raises one :class:`ResourceError` listing every one of them.
"""

from snn_deploy.checks.formats import check_formats

__all__ = ["check_formats"]
