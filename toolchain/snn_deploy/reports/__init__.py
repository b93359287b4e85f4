"""Reports: :class:`CompileReport` -> ``report.json``, ``report.md`` and ``report.html``."""

from snn_deploy.reports.compile_report import CompileReport, render_markdown, write_reports
from snn_deploy.reports.html import render_html

__all__ = ["CompileReport", "render_html", "render_markdown", "write_reports"]
