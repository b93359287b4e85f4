"""Reports: :class:`CompileReport` -> ``report.json`` and ``report.md``."""

from snn_deploy.reports.compile_report import CompileReport, render_markdown

__all__ = ["CompileReport", "render_markdown"]
