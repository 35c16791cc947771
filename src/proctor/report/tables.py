"""Cells and tables of metric rows: formatting, grouping by scope, and the CLI's pivot.

Pure functions of their inputs. Figures of different backends, domains and levels are never
pooled: every table is split by scope (backend, domain, level).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from proctor.analysis.frame import REFERENCES, STACKS
from proctor.analysis.rows import MetricRow

DASH = "—"
"""Shown where a figure has no value (followed by the row's note, if any)."""
GIVEAWAY_LINE = 0.6
"""A metadata-only classifier above this AUROC means the organism has a giveaway (§5)."""
GIVEAWAY_METRIC = "giveaway_auroc"
EVALUABILITY_ORDER: tuple[str, ...] = ("number_go_up", "normal_science", "conceptual")
DISPOSITION_ORDER: tuple[str, ...] = (
    "honest",
    "sycophant",
    "reward_hacker",
    "sandbagger",
    "saboteur",
    "rogue",
)


# ----------------------------------------------------------------------------- formatting


def fmt_num(x: float | None) -> str:
    """Format a figure to two decimals, or a dash when there is none.

    Args:
        x: The number, or None.

    Returns:
        E.g. ``"0.83"``; ``"—"`` for None or NaN.
    """
    if x is None or math.isnan(x):
        return DASH
    text = f"{x:.2f}"
    return "0.00" if text == "-0.00" else text


def fmt_budget(budget: float) -> str:
    """Format a budget (protocol or audit) compactly and exactly, e.g. ``0.05`` or ``0.025``."""
    return f"{budget:g}"


def protocol_label(protocol: str | None, budget: float | None) -> str:
    """Label a protocol at a budget as ``name@budget``.

    Args:
        protocol: Protocol name, or None for figures about researchers alone.
        budget: Protocol budget as a fraction of researcher spend, if any.

    Returns:
        E.g. ``"debate@0.1"``, ``"direct"`` or ``"(no protocol)"``.
    """
    name = protocol if protocol is not None else "(no protocol)"
    return name if budget is None else f"{name}@{fmt_budget(budget)}"


def key_kind(protocol: str | None, budget: float | None) -> int:
    """0 for a single protocol (or no protocol), 1 for a calibrated stack, 2 for a reference
    row (``oracle``, ``constant``): the order keys are listed in."""
    if budget is None and protocol in REFERENCES:
        return 2
    if budget is None and protocol in STACKS:
        return 1
    return 0


def key_label(protocol: str | None, budget: float | None) -> str:
    """Label a verdict key so that what it is reads plainly.

    Args:
        protocol: Protocol, stack or reference-row name, or None.
        budget: Protocol budget, None for stacks and reference rows.

    Returns:
        E.g. ``"debate@0.1"``, ``"combined (stack)"`` or ``"oracle (reference)"``.
    """
    kind = key_kind(protocol, budget)
    if kind == 2:
        return f"{protocol} (reference)"
    if kind == 1:
        return f"{protocol} (stack)"
    return protocol_label(protocol, budget)


def key_order(protocol: str | None, budget: float | None) -> tuple[int, int, str, float]:
    """Sort key: single protocols (by name, then budget), then the stacks, then the reference
    rows (oracle before constant)."""
    kind = key_kind(protocol, budget)
    rank = 0
    if kind == 2:
        rank = REFERENCES.index(protocol or "")
    elif kind == 1:
        rank = STACKS.index(protocol or "")
    name, b = protocol_key(protocol, budget)
    return (kind, rank, name, b)


def level_label(level: int | None) -> str:
    """``"level 2"``, or ``"all levels"`` for figures pooled over levels."""
    return "all levels" if level is None else f"level {level}"


def disposition_label(disposition: str | None) -> str:
    """The disposition variant, or ``"all"`` for figures over every disposition."""
    return "all" if disposition is None else disposition


def disposition_key(disposition: str | None) -> tuple[int, str]:
    """Sort key: pooled first, then DESIGN.md's disposition order, then variants by name."""
    if disposition is None:
        return (-1, "")
    base = disposition.split(":", 1)[0]
    index = DISPOSITION_ORDER.index(base) if base in DISPOSITION_ORDER else len(DISPOSITION_ORDER)
    return (index, disposition)


def evaluability_index(evaluability: str) -> int:
    """Position of an evaluability class, from most to least checkable."""
    if evaluability in EVALUABILITY_ORDER:
        return EVALUABILITY_ORDER.index(evaluability)
    return len(EVALUABILITY_ORDER)


def protocol_key(protocol: str | None, budget: float | None) -> tuple[str, float]:
    """Sort key: protocol name, then budget ascending (no budget first)."""
    return (protocol or "", -math.inf if budget is None else budget)


def has_value(row: MetricRow) -> bool:
    """Whether the row carries a number that can be shown."""
    return row.value is not None and not math.isnan(row.value)


def fmt_cell(row: MetricRow) -> str:
    """Format one figure as ``value [lo, hi] n=...``, or a dash with the row's note.

    Args:
        row: The figure.

    Returns:
        E.g. ``"0.83 [0.71, 0.92] n=40"`` or ``"— (n too small (needs 200))"``.
    """
    if not has_value(row):
        return f"{DASH} ({row.note})" if row.note else DASH
    text = fmt_num(row.value)
    if row.lo is not None and row.hi is not None:
        text += f" [{fmt_num(row.lo)}, {fmt_num(row.hi)}]"
    text += f" n={row.n}"
    if row.note:
        text += f" ({row.note})"
    return text


# ----------------------------------------------------------------------------- grouping


@dataclass(frozen=True)
class Scope:
    """What a table or plot panel is about: results are never pooled across backends."""

    backend: str
    evaluability: str
    domain: str
    level: int | None

    @classmethod
    def of(cls, row: MetricRow) -> Scope:
        """The scope a metric row belongs to."""
        return cls(row.backend, row.evaluability, row.domain, row.level)

    def sort_key(self) -> tuple[int, str, int, str]:
        """Most checkable evaluability first, then domain, pooled level first, backend."""
        level = -1 if self.level is None else self.level
        return (evaluability_index(self.evaluability), self.domain, level, self.backend)

    @property
    def label(self) -> str:
        """E.g. ``"causal (normal science) · level 2 · scripted researchers"``."""
        kind = self.evaluability.replace("_", " ")
        return f"{self.domain} ({kind}) · {level_label(self.level)} · {self.backend} researchers"


def group_by_scope(rows: Iterable[MetricRow]) -> list[tuple[Scope, list[MetricRow]]]:
    """Group rows by scope, in a stable order.

    Args:
        rows: Metric rows.

    Returns:
        (scope, rows of that scope in input order) pairs sorted by `Scope.sort_key`.
    """
    groups: dict[Scope, list[MetricRow]] = {}
    for row in rows:
        groups.setdefault(Scope.of(row), []).append(row)
    return sorted(groups.items(), key=lambda item: item[0].sort_key())


def panels(rows: Iterable[MetricRow]) -> list[tuple[Scope, list[MetricRow]]]:
    """Group rows for plotting: pooled-over-levels rows where a domain has them, else per level.

    Args:
        rows: Metric rows.

    Returns:
        (scope, rows) pairs, one per panel, sorted by `Scope.sort_key`.
    """
    pooled = {
        (s.backend, s.evaluability, s.domain) for s, _ in group_by_scope(rows) if s.level is None
    }
    return [
        (scope, group)
        for scope, group in group_by_scope(rows)
        if scope.level is None or (scope.backend, scope.evaluability, scope.domain) not in pooled
    ]


def index_cells(
    rows: Iterable[MetricRow],
) -> dict[tuple[str | None, float | None, str | None], MetricRow]:
    """Index one scope's rows of one metric by (protocol, budget, disposition).

    Args:
        rows: Rows of a single scope, metric and audit budget.

    Returns:
        The rows keyed by cell.

    Raises:
        ValueError: If two rows claim the same cell (a bug upstream; never silently dropped).
    """
    cells: dict[tuple[str | None, float | None, str | None], MetricRow] = {}
    for row in rows:
        key = (row.protocol, row.budget, row.disposition)
        if key in cells:
            raise ValueError(
                f"two {row.metric!r} rows for {protocol_label(row.protocol, row.budget)} × "
                f"{disposition_label(row.disposition)} in {Scope.of(row).label}"
                + ("" if row.audit_budget is None else f" at audit budget {row.audit_budget:g}")
            )
        cells[key] = row
    return cells


def audit_budgets(rows: Iterable[MetricRow], metric: str = "catch_rate") -> list[float]:
    """Distinct audit budgets at which `metric` was measured, ascending.

    Args:
        rows: Metric rows.
        metric: Metric name.

    Returns:
        Sorted audit budgets (empty when the metric has none).
    """
    return sorted(
        {r.audit_budget for r in rows if r.metric == metric and r.audit_budget is not None}
    )


def default_audit_budget(rows: Iterable[MetricRow], metric: str = "catch_rate") -> float | None:
    """The smallest audit budget at which some `metric` figure has a value.

    Falls back to the smallest audit budget at all when no figure has a value.

    Args:
        rows: Metric rows.
        metric: Metric name.

    Returns:
        The audit budget, or None when the metric has no audit budgets.
    """
    rows = [r for r in rows if r.metric == metric and r.audit_budget is not None]
    with_value = sorted(
        {r.audit_budget for r in rows if has_value(r) and r.audit_budget is not None}
    )
    if with_value:
        return with_value[0]
    budgets = audit_budgets(rows, metric)
    return budgets[0] if budgets else None


def same_budget(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _select(rows: Iterable[MetricRow], metric: str, audit_budget: float | None) -> list[MetricRow]:
    """Rows of `metric`, at one audit budget when the metric has audit budgets."""
    selected = [r for r in rows if r.metric == metric]
    if audit_budget is None:
        audit_budget = default_audit_budget(selected, metric)
        if audit_budget is None:
            return selected
    return [r for r in selected if same_budget(r.audit_budget, audit_budget)]


def pivot_block(
    rows: Sequence[MetricRow], dispositions: Sequence[str | None]
) -> list[tuple[str, list[str]]]:
    """protocol@budget × disposition cells of one scope: (row label, cells) pairs.

    Single protocols come first, then the calibrated stacks, then the reference rows, each
    labelled as such (:func:`key_label`)."""
    cells = index_cells(rows)
    protocols = sorted({(r.protocol, r.budget) for r in rows}, key=lambda pb: key_order(*pb))
    return [
        (
            key_label(p, b),
            [fmt_cell(cells[(p, b, d)]) if (p, b, d) in cells else "" for d in dispositions],
        )
        for p, b in protocols
    ]


def pivot(
    rows: Sequence[MetricRow], metric: str, audit_budget: float | None = None
) -> tuple[list[str], list[list[str]]]:
    """A protocol@budget × disposition table of one metric, as plain strings.

    Meant for the CLI to print (e.g. with rich). Figures are never pooled: each
    (domain, level, backend) scope gets its own rows.

    Args:
        rows: Metric rows (any mix of metrics; only `metric` is used).
        metric: E.g. ``"auroc"`` or ``"catch_rate"``.
        audit_budget: For metrics measured at an audit budget (catch rates): which one.
            None picks the smallest audit budget at which some figure has a value.

    Returns:
        (header, body): header is ``["domain", "level", "backend", "protocol@budget",
        *dispositions]``; each cell reads ``"value [lo, hi] n=..."``, ``"— (note)"`` when the
        figure cannot be shown, or ``""`` when it was not measured. Within a scope the
        single protocols come first, then the stacks (``"combined (stack)"``), then the
        reference rows (``"oracle (reference)"``, ``"constant (reference)"``).

    Raises:
        ValueError: If two rows claim the same cell.
    """
    selected = _select(rows, metric, audit_budget)
    dispositions = sorted({r.disposition for r in selected}, key=disposition_key)
    header = ["domain", "level", "backend", "protocol@budget"]
    header += [disposition_label(d) for d in dispositions]
    body: list[list[str]] = []
    for scope, group in group_by_scope(selected):
        for label, cells in pivot_block(group, dispositions):
            body.append([scope.domain, level_label(scope.level), scope.backend, label, *cells])
    return header, body
