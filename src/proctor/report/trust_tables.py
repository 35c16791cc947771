"""The report's first tables: the trust map (and its compact CLI form), the organisms left
out of its worst cases, the oracle ceiling beside the chosen key, and coverage by failure
mode."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from proctor.analysis.frame import CONSTANT, ORACLE, REFERENCES
from proctor.analysis.rows import MetricRow
from proctor.report.cells import (
    Table,
    as_mapping,
    brief,
    domain_label,
    field_text,
    key_text,
    opt_num,
    words,
    worst_case_status,
)
from proctor.report.tables import (
    DASH,
    Scope,
    disposition_key,
    disposition_label,
    evaluability_index,
    fmt_budget,
    has_value,
    key_label,
    level_label,
)

__all__ = [
    "coverage_tables",
    "excluded_table",
    "oracle_tables",
    "trust_items",
    "trust_summary",
    "trust_table",
]


def _chosen_label(t: Mapping[str, Any]) -> str:
    protocol = t.get("protocol")
    if not protocol:
        return DASH
    budget = t.get("budget")
    label = key_label(str(protocol), None if budget is None else float(budget))
    calib = t.get("calibration_catch")
    if calib is not None:
        label += f" (calibration catch {opt_num(calib)})"
    return label


def _cost_cell(t: Mapping[str, Any]) -> str:
    """Lab cost as a share of the researcher's spend, and a white-box protocol's forward
    passes as a multiple of the researcher's own."""
    cell = field_text(t, "cost_fraction")
    compute = t.get("compute_fraction")
    if compute is not None:
        cell += f" (forward passes {float(compute):.3g}x)"
    return cell


def _worst_cell(t: Mapping[str, Any]) -> str:
    """'value [lo, hi] n=N (organism)' for the trust row's worst scheming catch."""
    text = field_text(t, "worst_catch_rate", "worst_catch_n")
    who = t.get("worst_catch_disposition")
    return f"{text} ({who})" if who and text != DASH else text


def _ceiling_cell(t: Mapping[str, Any]) -> str:
    """The oracle's catch of the worst organism and the share of it recovered."""
    oracle = t.get("oracle_catch")
    if oracle is None:
        return DASH
    text = opt_num(oracle)
    recovered = t.get("recovered")
    if recovered is not None:
        text += f" ({float(recovered):.0%} recovered)"
    return text


def _trust_order(t: Mapping[str, Any]) -> tuple[int, str, int, str]:
    level = t.get("level")
    return (
        evaluability_index(str(t.get("evaluability", ""))),
        str(t.get("domain", "")),
        -1 if level is None else int(level),
        str(t.get("backend", "")),
    )


def trust_items(trust: Iterable[Any]) -> list[Mapping[str, Any]]:
    return sorted((as_mapping(t) for t in trust), key=_trust_order)


def trust_table(trust: Sequence[Mapping[str, Any]]) -> Table:
    """The trust map as a table, most checkable kind of research first.

    Args:
        trust: Trust rows (:class:`proctor.analysis.trust.TrustRow` as mappings or models): the
            chosen key (protocol, budget, calibration_catch), eval_catch and
            eval_false_alarm (each with _lo, _hi, _n), worst_catch_rate (with _lo, _hi,
            worst_catch_n and worst_catch_disposition), oracle_catch, recovered, usefulness,
            cost_fraction, compute_fraction, recommendation, note. Missing keys show as a dash.

    Returns:
        The table, titled with the audit budget(s) the figures are at.
    """
    header = [
        "evaluability",
        "domain",
        "level",
        "backend",
        "key (chosen on calibration)",
        "evaluation catch [95% CI] n",
        "false alarm [95% CI] n",
        "scheming worst catch [95% CI] n (organism)",
        "oracle ceiling (share recovered)",
        "usefulness [95% CI] n",
        "cost",
        "recommendation",
        "note",
    ]
    items = trust_items(trust)
    body: list[list[str]] = []
    for t in items:
        level = t.get("level")
        body.append(
            [
                words(t.get("evaluability")),
                str(t.get("domain", DASH)),
                DASH if level is None else level_label(int(level)),
                str(t.get("backend", DASH)),
                _chosen_label(t),
                field_text(t, "eval_catch", "eval_catch_n"),
                field_text(t, "eval_false_alarm", "eval_false_alarm_n"),
                _worst_cell(t),
                _ceiling_cell(t),
                field_text(t, "usefulness", "usefulness_n"),
                _cost_cell(t),
                str(t.get("recommendation") or DASH),
                str(t.get("note") or ""),
            ]
        )
    budgets = sorted({float(t["audit_budget"]) for t in items if t.get("audit_budget") is not None})
    title = f"At audit budget {', '.join(fmt_budget(b) for b in budgets)}" if budgets else ""
    return Table(title, header, body)


def excluded_table(trust: Sequence[Mapping[str, Any]]) -> Table:
    """The organisms left out of the trust map's worst cases, one line per (domain, backend).

    Args:
        trust: Trust rows as mappings or models (their ``excluded`` lists, 'variant: reason').

    Returns:
        The table; a domain with nothing left out reads "none".
    """
    seen: dict[tuple[str, str], list[str]] = {}
    for t in trust_items(trust):
        key = (str(t.get("domain", DASH)), str(t.get("backend", DASH)))
        listed = seen.setdefault(key, [])
        for item in t.get("excluded") or []:
            if str(item) not in listed:
                listed.append(str(item))
    body = [
        [domain, backend, "; ".join(items) or "none"] for (domain, backend), items in seen.items()
    ]
    return Table(
        "Organisms left out of the worst case",
        ["domain", "backend", "left out (reason)"],
        body,
    )


def trust_summary(trust: Sequence[Any]) -> tuple[str, list[str], list[list[str]]]:
    """A compact trust map for the CLI: (title, header, body), one line per (backend, domain,
    level) with the chosen key, evaluation catch, false alarm, scheming worst catch
    (organism), oracle ceiling, usefulness, cost and the recommendation."""
    items = trust_items(trust)
    header = [
        "domain",
        "level",
        "backend",
        "key",
        "eval catch",
        "false alarm",
        "scheming worst catch (organism)",
        "oracle ceiling",
        "usefulness",
        "cost",
        "recommendation",
    ]
    body = []
    for t in items:
        level = t.get("level")
        protocol = t.get("protocol")
        budget = t.get("budget")
        body.append(
            [
                str(t.get("domain", DASH)),
                DASH if level is None else str(level),
                str(t.get("backend", DASH)),
                key_label(str(protocol), None if budget is None else float(budget))
                if protocol
                else DASH,
                field_text(t, "eval_catch", "eval_catch_n"),
                field_text(t, "eval_false_alarm", "eval_false_alarm_n"),
                _worst_cell(t),
                _ceiling_cell(t),
                field_text(t, "usefulness", "usefulness_n"),
                _cost_cell(t),
                str(t.get("recommendation") or DASH),
            ]
        )
    budgets = sorted({float(t["audit_budget"]) for t in items if t.get("audit_budget") is not None})
    at = f" at audit budget {', '.join(fmt_budget(b) for b in budgets)}" if budgets else ""
    title = f"Trust map{at} (key chosen on calibration seeds; figures on test seeds)"
    return title, header, body


def oracle_tables(rows: Sequence[MetricRow], trust: Sequence[Mapping[str, Any]]) -> list[Table]:
    """Per (backend, domain): at each level and audit budget, the chosen key, the oracle and
    the constant row, with evaluation catch, false alarm and each organism's scheming catch."""
    wanted = {"catch_rate", "eval_catch_rate", "eval_false_alarm"}
    mine = [r for r in rows if r.metric in wanted and r.level is not None]
    if not any(r.protocol in REFERENCES and r.budget is None for r in mine):
        return []
    chosen: dict[tuple[str, str, int], tuple[str, float | None]] = {}
    for t in trust_items(trust):
        if t.get("protocol") and t.get("level") is not None:
            budget = t.get("budget")
            chosen[(str(t.get("backend")), str(t.get("domain")), int(t["level"]))] = (
                str(t["protocol"]),
                None if budget is None else float(budget),
            )
    status = worst_case_status(rows)
    cells: dict[tuple[str, str, int, float, str, str, str | None], MetricRow] = {}
    groups: dict[tuple[str, str, str], list[MetricRow]] = {}
    for r in mine:
        if r.audit_budget is None or r.level is None:
            continue
        cells[
            (
                r.backend,
                r.domain,
                r.level,
                r.audit_budget,
                key_text(r.protocol, r.budget),
                r.metric,
                r.disposition,
            )
        ] = r
        groups.setdefault((r.backend, r.evaluability, r.domain), []).append(r)
    tables = []
    for (backend, evaluability, domain), group in sorted(
        groups.items(), key=lambda kv: (evaluability_index(kv[0][1]), kv[0][2], kv[0][0])
    ):
        organisms = sorted(
            {r.disposition for r in group if r.metric == "catch_rate" and r.disposition},
            key=disposition_key,
        )
        header = ["level", "audit budget", "key", "evaluation catch", "false alarm"]
        for org in organisms:
            st = status.get((backend, domain, org))
            left_out = st is not None and st.value != 1.0
            header.append(f"{org} catch" + (" (not in worst case)" if left_out else ""))
        body = []
        levels = sorted({r.level for r in group if r.level is not None})
        budgets = sorted({r.audit_budget for r in group if r.audit_budget is not None})
        for level in levels:
            keys: list[tuple[str, str]] = []
            pick = chosen.get((backend, domain, level))
            if pick is not None:
                keys.append((key_text(*pick), key_label(*pick) + " (chosen)"))
            keys += [(ORACLE, key_label(ORACLE, None)), (CONSTANT, key_label(CONSTANT, None))]
            for b in budgets:
                for key, label in keys:
                    found = [
                        cells.get((backend, domain, level, b, key, metric, d))
                        for metric, d in (
                            ("eval_catch_rate", None),
                            ("eval_false_alarm", None),
                            *(("catch_rate", org) for org in organisms),
                        )
                    ]
                    if not any(found):
                        continue
                    body.append(
                        [
                            level_label(level),
                            fmt_budget(b),
                            label,
                            *["" if c is None else brief(c) for c in found],
                        ]
                    )
        if body:
            tables.append(Table(domain_label(backend, evaluability, domain), header, body))
    return tables


def coverage_tables(rows: Sequence[MetricRow]) -> list[Table]:
    """One line per (domain, level, backend, failure mode): the cheapest key covering it."""
    if not rows:
        return []
    ordered = sorted(
        rows,
        key=lambda r: (
            Scope.of(r).sort_key(),
            disposition_key(r.disposition),
            -math.inf if r.audit_budget is None else r.audit_budget,
        ),
    )
    body = []
    for r in ordered:
        found = r.protocol is not None
        body.append(
            [
                r.domain,
                level_label(r.level),
                r.backend,
                disposition_label(r.disposition),
                DASH if r.audit_budget is None else fmt_budget(r.audit_budget),
                key_label(r.protocol, r.budget) if found else "none found",
                brief(r) if has_value(r) else DASH,
                r.note,
            ]
        )
    header = [
        "domain",
        "level",
        "backend",
        "failure mode",
        "audit budget",
        "cheapest key with calibration catch ≥ 0.9",
        "worst test catch [95% CI] n",
        "how it was found",
    ]
    return [Table("", header, body)]
