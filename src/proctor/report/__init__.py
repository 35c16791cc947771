"""Reports of a bench run: a self-contained HTML page, a Markdown summary and PNG plots.

`render_report` writes ``report.html`` (inline CSS, plots embedded as data URIs),
``summary.md`` and ``plots/*.png``; `pivot` gives the CLI a plain protocol@budget ×
disposition table of one metric. Matplotlib is imported only when plots are drawn.
`report_run` summarises a stored run and writes all of it with ``summary.json``; `run_bench`
runs a sweep and then reports it, as ``proctor bench`` does.
"""

from __future__ import annotations

from proctor.report.render import ReportPaths, render_report
from proctor.report.run import BenchResult, report_run, run_bench
from proctor.report.tables import audit_budgets, pivot

__all__ = [
    "BenchResult",
    "ReportPaths",
    "audit_budgets",
    "pivot",
    "render_report",
    "report_run",
    "run_bench",
]
