"""The report's sections in reading order: which section each metric row is shown in, and
the tables of each (:func:`build_sections`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from proctor.analysis.rows import MetricRow
from proctor.analysis.trust import COVERAGE_METRIC
from proctor.report.captions import CAPTIONS
from proctor.report.cells import (
    CALIBRATION_PREFIX,
    COMPUTE_METRIC,
    COST_METRIC,
    EVAL_AUROC,
    EVAL_METRICS,
    MODEL_METRICS,
    STACK_METRIC,
    WORST_CASE_METRIC,
    Section,
)
from proctor.report.figures import (
    backtest_tables,
    claim_tables,
    evaluation_tables,
    giveaway_tables,
    other_table,
    protocol_tables,
    scheming_tables,
    stack_tables,
)
from proctor.report.frontier import control_tables, is_control, is_transfer, transfer_tables
from proctor.report.tables import GIVEAWAY_METRIC
from proctor.report.trust_tables import (
    coverage_tables,
    excluded_table,
    oracle_tables,
    trust_items,
    trust_table,
)

__all__ = [
    "build_sections",
]


def _bucket(row: MetricRow) -> str:
    """Which section a row is shown in ("" for calibration rows, which are not shown)."""
    metric = row.metric
    if metric.startswith(CALIBRATION_PREFIX):
        return ""
    if metric == COVERAGE_METRIC:
        return "coverage"
    if is_control(row):
        return "control"
    if is_transfer(row):
        return "transfer"
    if metric == "catch_rate":
        return "catch"
    if row.protocol is not None and (metric == EVAL_AUROC or metric in dict(EVAL_METRICS)):
        return "evaluation"
    if metric == "auroc":
        return "auroc"
    if metric == STACK_METRIC:
        return "stacks"
    if metric in (GIVEAWAY_METRIC, WORST_CASE_METRIC):
        return "giveaway"
    if metric in (COST_METRIC, COMPUTE_METRIC):
        return "cost"
    if metric in MODEL_METRICS:
        return "models"
    if row.protocol is None and row.audit_budget is None:
        return "claims"
    return "other"


def build_sections(rows: Sequence[MetricRow], trust: Sequence[Mapping[str, Any]]) -> list[Section]:
    """All table sections of the report, in reading order (trust map first).

    Every row appears in some table except the calibration rows the trust map chooses by
    (``calib_*``, kept in summary.json): rows that fit none of the named sections go to
    "Other figures", so nothing else is silently dropped.

    Args:
        rows: Metric rows of the run.
        trust: Trust-map rows (mappings or :class:`proctor.analysis.trust.TrustRow`).

    Returns:
        The sections.

    Raises:
        ValueError: If two rows claim the same table cell.
    """
    buckets: dict[str, list[MetricRow]] = {}
    for r in rows:
        buckets.setdefault(_bucket(r), []).append(r)

    def got(name: str) -> list[MetricRow]:
        return buckets.get(name, [])

    items = trust_items(trust)
    sections = _headline_sections(rows, items, got)
    cost = got("cost")
    claims = got("claims")
    if got("stacks"):
        sections.append(
            Section(
                "stacks",
                "What the stacks combine",
                CAPTIONS["stacks"],
                stack_tables(got("stacks")),
            )
        )
    sections.append(Section("claim-quality", "Claims", CAPTIONS["claims"], claim_tables(claims)))
    backtest = backtest_tables(claims)
    if backtest:
        sections.append(
            Section("backtest", "Back-test vs true skill", CAPTIONS["backtest"], backtest)
        )
    sections.append(
        Section(
            "giveaway-audit",
            "Giveaway audit and worst cases",
            CAPTIONS["giveaway"],
            giveaway_tables(got("giveaway")),
        )
    )
    if got("transfer"):
        sections.append(
            Section("transfer", "Transfer", CAPTIONS["transfer"], transfer_tables(got("transfer")))
        )
    sections.append(
        Section(
            "cost",
            "Cost",
            CAPTIONS["cost"],
            protocol_tables([r for r in cost if r.metric == COST_METRIC], "Lab spend · ")
            + protocol_tables(
                [r for r in cost if r.metric == COMPUTE_METRIC],
                "Forward passes (white-box protocols) · ",
            ),
        )
    )
    if got("models"):
        sections.append(
            Section("model-use", "Model use", CAPTIONS["models"], other_table(got("models")))
        )
    if got("other"):
        sections.append(
            Section("other", "Other figures", CAPTIONS["other"], other_table(got("other")))
        )
    return sections


def _headline_sections(
    rows: Sequence[MetricRow],
    items: Sequence[Mapping[str, Any]],
    got: Callable[[str], list[MetricRow]],
) -> list[Section]:
    """The sections always shown, in order: the trust map, the oracle ceiling, coverage, the
    frontier, scheming catch, evaluation and AUROC (`got`: the rows of a bucket)."""
    trust_tables = [trust_table(items), excluded_table(items)] if items else []
    return [
        Section("trust-map", "Trust map", CAPTIONS["trust"], trust_tables),
        Section(
            "oracle-ceiling",
            "Oracle ceiling",
            CAPTIONS["oracle"],
            oracle_tables(rows, items),
            empty="No reference rows in this run.",
        ),
        Section(
            "coverage",
            "Coverage",
            CAPTIONS["coverage"],
            coverage_tables(got("coverage")),
            empty="No coverage rows in this run (no organism counts in worst cases, or none "
            "was measured).",
        ),
        Section(
            "safety-usefulness",
            "Safety and usefulness",
            CAPTIONS["control"],
            control_tables(got("control")),
            empty="No frontier in this run (the auditor reviewed no test episode).",
        ),
        Section(
            "catch-rate", "Scheming: catch rate", CAPTIONS["catch"], scheming_tables(got("catch"))
        ),
        Section(
            "evaluation",
            "Evaluation: catch and false alarm",
            CAPTIONS["evaluation"],
            evaluation_tables(got("evaluation")),
        ),
        Section("auroc", "AUROC", CAPTIONS["auroc"], protocol_tables(got("auroc"))),
    ]
