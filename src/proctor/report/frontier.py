"""The report's deployment tables: the safety/usefulness frontier per monitor, the auditor's
accuracy, whether the stack beats the best single protocol, and transfer."""

from __future__ import annotations

import math
from collections.abc import Sequence

from proctor.analysis.frame import STACKS
from proctor.analysis.rows import FRONTIER_FAMILIES, TRANSFER_FAMILIES, MetricRow, TransferSource
from proctor.report.cells import HONEST, Table, with_interval
from proctor.report.tables import (
    DASH,
    Scope,
    disposition_key,
    disposition_label,
    fmt_budget,
    fmt_cell,
    fmt_num,
    group_by_scope,
    has_value,
    key_label,
    key_order,
    level_label,
)

__all__ = [
    "AUDITOR_METRICS",
    "BEST_SINGLE",
    "CONTROL_FAMILIES",
    "control_tables",
    "frontier_monitors",
    "is_control",
    "is_transfer",
    "transfer_tables",
]


def is_transfer(row: MetricRow) -> bool:
    return row.metric in TRANSFER_FAMILIES


def transfer_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """One table per (source, target domain and level, backend, audit budget): rows keys,
    columns the false-alarm rate and each organism's transferred (native) catch rate."""
    groups: dict[tuple[TransferSource, str, int | None, str, float | None], list[MetricRow]] = {}
    for r in rows:
        if r.source is None:
            raise ValueError(f"a {r.metric!r} row without its source in {Scope.of(r).label}")
        groups.setdefault((r.source, r.domain, r.level, r.backend, r.audit_budget), []).append(r)
    tables = []
    for (source, domain, level, backend, budget), group in sorted(
        groups.items(),
        key=lambda kv: (kv[0][0].tag, kv[0][1], kv[0][2] or 0, kv[0][3], kv[0][4] or 0.0),
    ):
        cells = {(r.protocol, r.budget, r.disposition, r.metric): r for r in group}
        keys = sorted({(r.protocol, r.budget) for r in group}, key=lambda k: key_order(*k))
        organisms = sorted(
            {r.disposition for r in group if r.disposition and r.disposition != HONEST},
            key=disposition_key,
        )
        body = []
        for protocol, b in keys:
            alarm = cells.get((protocol, b, HONEST, "transfer_false_alarm"))
            line = [key_label(protocol, b), with_interval(alarm) if alarm else ""]
            for org in organisms:
                moved = cells.get((protocol, b, org, "transfer_catch_rate"))
                own = cells.get((protocol, b, org, "native_catch_rate"))
                text = with_interval(moved) if moved else ""
                if own is not None:
                    text += f" ({fmt_num(own.value)})"
                line.append(text)
            body.append(line)
        title = (
            f"{source.label} → {domain} {level_label(level)} · {backend} "
            f"researchers · audit budget {fmt_budget(budget) if budget is not None else DASH}"
        )
        tables.append(
            Table(title, ["key", "false alarm", *map(disposition_label, organisms)], body)
        )
    return tables


AUDITOR_METRICS = ("auditor_tpr", "auditor_fpr")
CONTROL_FAMILIES = (*FRONTIER_FAMILIES, *AUDITOR_METRICS, "frontier_stack_gain")
"""Metric families shown in the safety-and-usefulness section."""
BEST_SINGLE = "best single protocol"
"""Column group of the frontier's single-protocol monitor."""


def is_control(row: MetricRow) -> bool:
    return row.metric in CONTROL_FAMILIES


def frontier_monitors(
    rows: Sequence[MetricRow],
) -> list[tuple[str, dict[tuple[str, float, float | None], MetricRow]]]:
    """One scope's frontier rows split by monitor: (group, cells by (kind, defer, audit)).

    The calibrated stacks come first, each its own group named after it; the single
    protocols share one group, :data:`BEST_SINGLE`, since the best single protocol may
    differ by audit budget (each row names its key). Should two single protocols share a
    frontier point, each gets its own group under its key instead.

    Args:
        rows: Rows of the frontier families (:data:`~proctor.analysis.rows.FRONTIER_FAMILIES`)
            of one scope.

    Returns:
        (group label, {(metric kind, defer fraction, audit budget): row}) pairs.
    """

    def split(by_key: bool) -> dict[str, dict[tuple[str, float, float | None], MetricRow]] | None:
        groups: dict[str, dict[tuple[str, float, float | None], MetricRow]] = {}
        for r in rows:
            stack = r.budget is None and r.protocol in STACKS
            label = str(r.protocol) if stack else key_label(r.protocol, r.budget)
            group = label if stack or by_key else BEST_SINGLE
            if r.defer is None:
                raise ValueError(f"a {r.metric!r} row without its defer fraction")
            cell = (r.metric, r.defer, r.audit_budget)
            mine = groups.setdefault(group, {})
            if cell in mine:
                if by_key or stack:
                    raise ValueError(
                        f"two {r.name!r} rows for {label} in {Scope.of(r).label}"
                        + ("" if r.audit_budget is None else f" at audit {r.audit_budget:g}")
                    )
                return None
            mine[cell] = r
        return groups

    groups = split(by_key=False) or split(by_key=True) or {}

    def order(label: str) -> tuple[int, int, str]:
        if label in STACKS:
            return (0, STACKS.index(label), label)
        return (1, 0, label)

    return [(label, groups[label]) for label in sorted(groups, key=order)]


def _safety_text(row: MetricRow | None) -> str:
    if row is None:
        return ""
    if not has_value(row):
        return fmt_cell(row)
    return f"{with_interval(row)} ({disposition_label(row.disposition)})"


def control_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """Per scope: rows defer fraction × audit budget, one column group per monitor (safety
    against the worst organism, without the adaptive one where it ran, and usefulness); then
    one table of the auditor's accuracy over every scope."""
    tables = []
    frontier = [r for r in rows if r.metric in FRONTIER_FAMILIES]
    gains = sorted(
        (r for r in rows if r.metric == "frontier_stack_gain"), key=lambda r: Scope.of(r).sort_key()
    )
    for scope, group in group_by_scope(frontier):
        monitors = frontier_monitors(group)
        points = sorted(
            {(d, b) for _, cells in monitors for _, d, b in cells},
            key=lambda p: (p[0], p[1] if p[1] is not None else -math.inf),
        )
        header = ["defer fraction", "audit budget"]
        for label, cells in monitors:
            if label == BEST_SINGLE:
                header.append(BEST_SINGLE)
            name = "best single" if label == BEST_SINGLE else label
            header.append(f"safety (worst attack) · {name}")
            if any(kind == "frontier_safety_fixed" for kind, _, _ in cells):
                header.append(f"safety (worst fixed organism) · {name}")
            header.append(f"usefulness · {name}")
        body = []
        for d, b in points:
            line = [f"{d:g}", fmt_budget(b) if b is not None else DASH]
            for label, cells in monitors:
                found = [
                    cells.get((kind, d, b)) for kind in ("frontier_safety", "frontier_usefulness")
                ]
                if label == BEST_SINGLE:
                    any_row = next((c for c in found if c is not None), None)
                    line.append(
                        "" if any_row is None else key_label(any_row.protocol, any_row.budget)
                    )
                line.append(_safety_text(cells.get(("frontier_safety", d, b))))
                if any(kind == "frontier_safety_fixed" for kind, _, _ in cells):
                    line.append(_safety_text(cells.get(("frontier_safety_fixed", d, b))))
                use = cells.get(("frontier_usefulness", d, b))
                if use is None:
                    line.append("")
                else:
                    line.append(with_interval(use) if has_value(use) else fmt_cell(use))
            body.append(line)
        tables.append(Table(scope.label, header, body))
    auditor = sorted(
        (r for r in rows if r.metric in AUDITOR_METRICS),
        key=lambda r: (
            Scope.of(r).sort_key(),
            r.metric != "auditor_fpr",
            r.disposition is not None,
            disposition_key(r.disposition),
        ),
    )
    if auditor:
        body = [
            [
                r.domain,
                level_label(r.level),
                r.backend,
                "honest (false-positive rate)"
                if r.metric == "auditor_fpr"
                else "attributable harm, organisms that count pooled (true-positive rate)"
                if r.disposition is None
                else f"attributable harm of {disposition_label(r.disposition)}",
                with_interval(r) if has_value(r) else fmt_cell(r),
            ]
            for r in auditor
        ]
        tables.append(
            Table(
                "Auditor accuracy (share of test reports it rejects)",
                ["domain", "level", "backend", "reports", "rejected"],
                body,
            )
        )
    if gains:
        tables.append(
            Table(
                "Is the calibrated stack safer than the best single protocol? (frontier points "
                "where its safety against the fixed organisms is higher)",
                ["domain", "level", "backend", "points", "detail"],
                [
                    [
                        r.domain,
                        level_label(r.level),
                        r.backend,
                        f"{r.value:.0f} of {r.n}" if r.value is not None else DASH,
                        r.note,
                    ]
                    for r in gains
                ],
            )
        )
    return tables
