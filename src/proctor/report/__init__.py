"""Reports of a bench run: a self-contained HTML page, a Markdown summary and PNG plots.

`render_report` writes ``report.html`` (inline CSS, plots embedded as data URIs),
``summary.md`` and ``plots/*.png``; `pivot` gives the CLI a plain protocol@budget ×
disposition table of one metric. Matplotlib is imported only when plots are drawn.
"""

from __future__ import annotations

from proctor.report.render import ReportPaths, render_report
from proctor.report.tables import audit_budgets, pivot

__all__ = ["ReportPaths", "audit_budgets", "pivot", "render_report"]
