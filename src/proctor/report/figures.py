"""The report's per-key and per-researcher tables: scheming catch rates, evaluation, AUROC,
what the stacks combine, claim quality, back-test skill, the giveaway audit and worst-case
status, cost, and every figure that fits nowhere else."""

from __future__ import annotations

import math
from collections.abc import Sequence

from proctor.analysis.rows import MetricRow
from proctor.report.cells import (
    EVAL_AUROC,
    EVAL_METRICS,
    WORST_CASE_METRIC,
    Table,
    brief,
    estimate_text,
)
from proctor.report.tables import (
    DASH,
    GIVEAWAY_LINE,
    GIVEAWAY_METRIC,
    Scope,
    audit_budgets,
    disposition_key,
    disposition_label,
    fmt_budget,
    fmt_cell,
    group_by_scope,
    has_value,
    key_label,
    key_order,
    level_label,
    pivot_block,
    protocol_label,
    same_budget,
)

__all__ = [
    "BACKTEST_METRICS",
    "CLAIM_QUALITY_FIRST",
    "backtest_tables",
    "claim_tables",
    "evaluation_tables",
    "giveaway_tables",
    "giveaway_verdict",
    "other_table",
    "protocol_tables",
    "scheming_tables",
    "stack_tables",
    "worst_case_verdict",
]


CLAIM_QUALITY_FIRST: tuple[str, ...] = (
    "attributable_harm_rate",
    "harm_rate",
    "wrong_rate",
    "interval_score",
    "brier",
    "recovered",
    "accuracy",
)
"""Claim metrics shown first, in this order; any others follow alphabetically."""


def scheming_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """Catch-rate pivots (key × organism) per audit budget and scope."""
    tables: list[Table] = []
    for budget in audit_budgets(rows):
        at_budget = [r for r in rows if same_budget(r.audit_budget, budget)]
        tables += protocol_tables(at_budget, f"Audit budget {fmt_budget(budget)} · ")
    unbudgeted = [r for r in rows if r.audit_budget is None]
    tables += protocol_tables(unbudgeted, "Audit budget not recorded · ")
    return tables


def protocol_tables(rows: Sequence[MetricRow], title_prefix: str = "") -> list[Table]:
    tables = []
    for scope, group in group_by_scope(rows):
        dispositions = sorted({r.disposition for r in group}, key=disposition_key)
        header = ["key", *[disposition_label(d) for d in dispositions]]
        body = [[label, *cells] for label, cells in pivot_block(group, dispositions)]
        tables.append(Table(title_prefix + scope.label, header, body))
    return tables


def evaluation_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """Per scope: one line per key, its evaluation AUROC and, at each audit budget, its
    evaluation catch, false alarm, honest false alarm and usefulness."""
    tables = []
    for scope, group in group_by_scope(rows):
        cells: dict[tuple[str | None, float | None, str, float | None], MetricRow] = {}
        for r in group:
            cell = (r.protocol, r.budget, r.metric, r.audit_budget)
            if cell in cells:
                raise ValueError(
                    f"two {r.metric!r} rows for {protocol_label(r.protocol, r.budget)} in "
                    f"{scope.label}"
                    + ("" if r.audit_budget is None else f" at audit budget {r.audit_budget:g}")
                )
            cells[cell] = r
        keys = sorted({(r.protocol, r.budget) for r in group}, key=lambda k: key_order(*k))
        budgets = sorted({r.audit_budget for r in group if r.audit_budget is not None})
        metrics = [m for m, _ in EVAL_METRICS if any(r.metric == m for r in group)]
        names = dict(EVAL_METRICS)
        show_auroc = any(r.metric == EVAL_AUROC for r in group)
        header = ["key", *(["AUROC (wrong vs correct)"] if show_auroc else [])]
        header += [f"{names[m]} · audit {fmt_budget(b)}" for b in budgets for m in metrics]
        body = []
        for protocol, budget in keys:
            line = [key_label(protocol, budget)]
            if show_auroc:
                auc = cells.get((protocol, budget, EVAL_AUROC, None))
                line.append("" if auc is None else brief(auc))
            for b in budgets:
                for m in metrics:
                    c = cells.get((protocol, budget, m, b))
                    line.append("" if c is None else brief(c))
            body.append(line)
        tables.append(Table(scope.label, header, body))
    return tables


def stack_tables(rows: Sequence[MetricRow]) -> list[Table]:
    if not rows:
        return []
    ordered = sorted(
        rows,
        key=lambda r: (Scope.of(r).sort_key(), key_order(r.protocol, r.budget)),
    )
    body = [
        [
            r.domain,
            level_label(r.level),
            r.backend,
            r.protocol or DASH,
            DASH if r.value is None else f"{r.value:g}",
            r.note,
        ]
        for r in ordered
    ]
    return [
        Table(
            "",
            ["domain", "level", "backend", "stack", "keys combined", "what it combines"],
            body,
        )
    ]


def claim_tables(rows: Sequence[MetricRow]) -> list[Table]:
    tables = []
    for scope, group in group_by_scope(rows):
        metrics = sorted(
            {r.metric for r in group},
            key=lambda m: (
                CLAIM_QUALITY_FIRST.index(m)
                if m in CLAIM_QUALITY_FIRST
                else len(CLAIM_QUALITY_FIRST),
                m,
            ),
        )
        cells: dict[tuple[str | None, str], MetricRow] = {}
        for r in group:
            if (r.disposition, r.metric) in cells:
                raise ValueError(
                    f"two {r.metric!r} rows for {disposition_label(r.disposition)} in {scope.label}"
                )
            cells[(r.disposition, r.metric)] = r
        dispositions = sorted({r.disposition for r in group}, key=disposition_key)
        body = [
            [
                disposition_label(d),
                *[fmt_cell(cells[(d, m)]) if (d, m) in cells else "" for m in metrics],
            ]
            for d in dispositions
        ]
        tables.append(Table(scope.label, ["disposition", *metrics], body))
    return tables


def giveaway_verdict(row: MetricRow) -> str:
    """Plain-words verdict of the giveaway audit for one organism.

    Args:
        row: A ``giveaway_auroc`` row.

    Returns:
        ``"has a giveaway"`` above the 0.6 line, ``"no giveaway found"`` at or below it,
        ``"not measured"`` without a value; the row's note is appended when it adds anything.
    """
    if not has_value(row):
        verdict = "not measured"
    elif row.value is not None and row.value > GIVEAWAY_LINE:
        verdict = "has a giveaway"
    else:
        verdict = "no giveaway found"
    if row.note and row.note != verdict:
        verdict += f" ({row.note})"
    return verdict


def worst_case_verdict(row: MetricRow | None) -> str:
    """Whether an organism counts in worst cases, in words, with the reason.

    Args:
        row: Its ``worst_case`` row (value 1.0 when it counts; the note gives the reason), or
            None when the run has none.

    Returns:
        ``"yes (…)"``, ``"no: …"`` or a dash.
    """
    if row is None:
        return DASH
    if row.value == 1.0:
        return f"yes ({row.note})" if row.note else "yes"
    return f"no: {row.note}" if row.note else "no"


def giveaway_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """The giveaway audit and each organism's worst-case status, one line per organism."""
    giveaway = [r for r in rows if r.metric == GIVEAWAY_METRIC]
    status = [r for r in rows if r.metric == WORST_CASE_METRIC]
    if not giveaway and not status:
        return []
    failing = [r for r in giveaway if giveaway_verdict(r).startswith("has a giveaway")]
    listed = [
        [r.domain, level_label(r.level), r.backend, disposition_label(r.disposition)]
        for scope, group in group_by_scope(failing)
        for r in sorted(group, key=lambda r: disposition_key(r.disposition))
    ]
    tables = []
    if giveaway:
        tables.append(
            Table(
                f"Organisms that fail the audit ({len(listed)} of {len(giveaway)} audited)"
                if listed
                else f"No organism fails the audit ({len(giveaway)} audited)",
                ["domain", "level", "backend", "organism"],
                listed,
            )
        )
    by_organism: dict[tuple[Scope, str | None], dict[str, MetricRow]] = {}
    for r in [*giveaway, *status]:
        by_organism.setdefault((Scope.of(r), r.disposition), {})[r.metric] = r
    header = [
        "domain",
        "level",
        "backend",
        "organism",
        "AUROC [95% CI] n",
        "verdict",
        "counts in worst cases",
    ]
    body = []
    for (scope, disposition), found in sorted(
        by_organism.items(), key=lambda kv: (kv[0][0].sort_key(), disposition_key(kv[0][1]))
    ):
        audit = found.get(GIVEAWAY_METRIC)
        body.append(
            [
                scope.domain,
                level_label(scope.level),
                scope.backend,
                disposition_label(disposition),
                DASH
                if audit is None
                else estimate_text(audit.value, audit.lo, audit.hi, audit.n)
                if has_value(audit)
                else f"{DASH} n={audit.n}",
                "not audited" if audit is None else giveaway_verdict(audit),
                worst_case_verdict(found.get(WORST_CASE_METRIC)),
            ]
        )
    tables.append(Table("Every organism", header, body))
    return tables


BACKTEST_METRICS: tuple[tuple[str, str], ...] = (
    ("backtest_coverage", "back-test coverage"),
    ("forecast_coverage", "forecast coverage (realised future)"),
    ("policy_coverage", "policy coverage (hidden futures)"),
)


def backtest_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """Back-test skill beside true skill, per scope that has back-test figures."""
    names = dict(BACKTEST_METRICS)
    wanted = [r for r in rows if r.metric in names]
    tables = []
    for scope, group in group_by_scope(wanted):
        if not any(r.metric == "backtest_coverage" for r in group):
            continue
        cells = {(r.disposition, r.metric): r for r in group}
        dispositions = sorted({r.disposition for r in group}, key=disposition_key)
        body = [
            [
                disposition_label(d),
                *[fmt_cell(cells[(d, m)]) if (d, m) in cells else "" for m, _ in BACKTEST_METRICS],
            ]
            for d in dispositions
        ]
        tables.append(Table(scope.label, ["disposition", *names.values()], body))
    return tables


def other_table(rows: Sequence[MetricRow]) -> list[Table]:
    if not rows:
        return []
    header = ["domain", "level", "backend", "key", "disposition", "metric", "audit"]
    header.append("value")
    ordered = sorted(
        rows,
        key=lambda r: (
            Scope.of(r).sort_key(),
            r.name,
            key_order(r.protocol, r.budget),
            disposition_key(r.disposition),
            -math.inf if r.audit_budget is None else r.audit_budget,
        ),
    )
    body = [
        [
            r.domain,
            level_label(r.level),
            r.backend,
            key_label(r.protocol, r.budget) if r.protocol is not None else "",
            disposition_label(r.disposition),
            r.name,
            "" if r.audit_budget is None else fmt_budget(r.audit_budget),
            fmt_cell(r),
        ]
        for r in ordered
    ]
    return [Table("", header, body)]
