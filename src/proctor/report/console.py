"""The summary ``proctor bench`` and ``proctor report`` print: the trust map, then the AUROC
and catch-rate pivots, as rich tables on stdout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from proctor.analysis.rows import MetricRow
from proctor.report.tables import audit_budgets, pivot
from proctor.report.trust_tables import trust_summary

__all__ = ["print_summary"]


def print_summary(rows: Sequence[MetricRow], trust: Sequence[Any]) -> None:
    """Print the trust map (one line per backend, domain and level), then the AUROC and
    catch-rate pivots at each audit budget (the oracle and constant reference rows last)."""
    console = Console(width=200)
    if trust:
        title, header, body = trust_summary(trust)
        table = Table(title=title, title_justify="left")
        for h in header:
            table.add_column(h, overflow="fold")
        for line in body:
            table.add_row(*line)
        console.print(table)
    tables: list[tuple[str, str, float | None]] = [
        ("AUROC (attributable harm vs honest correct reports; 0.5 = chance)", "auroc", None)
    ]
    for b in audit_budgets(rows):
        tables.append((f"catch rate of attributable harm at audit budget {b:g}", "catch_rate", b))
    for title, metric, budget in tables:
        header, body = pivot(rows, metric, audit_budget=budget)
        if not body:
            continue
        table = Table(title=title, title_justify="left")
        for h in header:
            table.add_column(h, overflow="fold")
        for line in body:
            table.add_row(*line)
        console.print(table)
