"""The parts every table of a bench report is made of: the :class:`Table` and :class:`Section`
it renders, the text of one figure with its interval and n, and the metric names the sections
sort rows by."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from proctor.analysis.rows import MetricRow
from proctor.report.tables import DASH, fmt_budget, fmt_cell, fmt_num, has_value

__all__ = [
    "CALIBRATION_PREFIX",
    "COMPUTE_METRIC",
    "COST_METRIC",
    "EVAL_AUROC",
    "EVAL_METRICS",
    "HONEST",
    "MODEL_METRICS",
    "STACK_METRIC",
    "WORST_CASE_METRIC",
    "Section",
    "Table",
    "as_mapping",
    "brief",
    "domain_label",
    "estimate_text",
    "field_text",
    "key_text",
    "opt_num",
    "with_interval",
    "words",
    "worst_case_status",
]


COST_METRIC = "cost_fraction"
COMPUTE_METRIC = "compute_fraction"
MODEL_METRICS = frozenset({"model_tokens", "model_cost"})
WORST_CASE_METRIC = "worst_case"
STACK_METRIC = "stack_keys"
EVAL_METRICS: tuple[tuple[str, str], ...] = (
    ("eval_catch_rate", "catch"),
    ("eval_false_alarm", "false alarm"),
    ("false_alarm", "honest false alarm"),
    ("usefulness", "usefulness"),
)
"""Evaluation figures at an audit budget, in column order, with their column names."""
EVAL_AUROC = "eval_auroc"
CALIBRATION_PREFIX = "calib_"
"""Rows the trust map chooses by: kept in summary.json, not shown in the report."""
HONEST = "honest"


@dataclass(frozen=True)
class Table:
    """One rendered table: a heading (may be empty), a header row and body rows of strings."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Section:
    """One section of the report: heading, how-to-read caption and its tables."""

    id: str
    heading: str
    caption: str
    tables: list[Table]
    empty: str = "No figures of this kind in this run."


def as_mapping(row: Any) -> Mapping[str, Any]:
    if isinstance(row, Mapping):
        return row
    dump = getattr(row, "model_dump", None)
    if callable(dump):
        dumped = dump()
        if isinstance(dumped, Mapping):
            return dumped
    raise TypeError(f"trust rows must be mappings, got {type(row).__name__}")


def words(value: Any) -> str:
    if value is None:
        return DASH
    return str(value).replace("_", " ")


def opt_num(value: Any) -> str:
    return fmt_num(None if value is None else float(value))


def estimate_text(value: Any, lo: Any = None, hi: Any = None, n: Any = None) -> str:
    """'value [lo, hi] n=N' (interval and n where known), or a dash without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    text = opt_num(value)
    if lo is not None and hi is not None:
        text += f" [{opt_num(lo)}, {opt_num(hi)}]"
    if n is not None:
        text += f" n={int(n)}"
    return text


def field_text(t: Mapping[str, Any], name: str, n_name: str | None = None) -> str:
    """A trust-row figure with its interval (``name_lo``, ``name_hi``) and n (`n_name`)."""
    n = t.get(n_name) if n_name else None
    return estimate_text(t.get(name), t.get(f"{name}_lo"), t.get(f"{name}_hi"), n)


def brief(row: MetricRow) -> str:
    """'value [lo, hi] n=N' without the row's note; '— (note)' when it has no value."""
    if not has_value(row):
        return fmt_cell(row)
    return estimate_text(row.value, row.lo, row.hi, row.n)


def key_text(protocol: str | None, budget: float | None) -> str:
    if protocol is None:
        return ""
    return protocol if budget is None else f"{protocol}@{fmt_budget(budget)}"


def with_interval(row: MetricRow) -> str:
    """'value [lo, hi] n=N' without the row's note (the table's title says where it is from)."""
    text = fmt_num(row.value)
    if has_value(row) and row.lo is not None and row.hi is not None:
        text += f" [{fmt_num(row.lo)}, {fmt_num(row.hi)}]"
    return f"{text} n={row.n}"


def worst_case_status(rows: Iterable[MetricRow]) -> dict[tuple[str, str, str], MetricRow]:
    """``worst_case`` rows by (backend, domain, organism)."""
    return {
        (r.backend, r.domain, r.disposition): r
        for r in rows
        if r.metric == WORST_CASE_METRIC and r.disposition is not None
    }


def domain_label(backend: str, evaluability: str, domain: str) -> str:
    return f"{domain} ({evaluability.replace('_', ' ')}) · {backend} researchers"
