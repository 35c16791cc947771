"""What the review app's templates show: number, time and JSON formatting (the Jinja
filters), the template environment, and the view models of a report and of the metrics."""

import datetime as dt
import json
import math
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from proctor.core import ReasoningEvent
from proctor.live.records import LiveMetrics, ReportRow

__all__ = [
    "METRIC_ROWS",
    "environment",
    "fmt_age",
    "fmt_budget",
    "fmt_num",
    "fmt_score",
    "fmt_seconds",
    "fmt_share",
    "fmt_time",
    "metric_cells",
    "report_view",
    "short_json",
]

# --- formatting (Jinja filters) ---------------------------------------------------------

DASH = "—"


def fmt_num(x: Any, digits: int = 3) -> str:
    if x is None:
        return DASH
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def fmt_share(x: float | None, n: int | None = None) -> str:
    text = DASH if x is None else f"{100 * x:.0f}%"
    return text if n is None else f"{text} (n={n})"


def fmt_score(x: float | None) -> str:
    return DASH if x is None else f"{x:.3f}"


def fmt_budget(x: float) -> str:
    return f"{x:g}"


def _parse(stamp: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(stamp)
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def fmt_time(stamp: str | None) -> str:
    if not stamp:
        return DASH
    try:
        return _parse(stamp).astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return DASH
    if s < 10:
        return f"{s:.1f} s"
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.1f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def fmt_age(stamp: str | None) -> str:
    if not stamp:
        return DASH
    try:
        seconds = (dt.datetime.now(dt.UTC) - _parse(stamp)).total_seconds()
    except ValueError:
        return DASH
    return fmt_seconds(max(seconds, 0.0))


def short_json(value: Any, limit: int = 240) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} chars)"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("proctor.review", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        num=fmt_num,
        score=fmt_score,
        share=fmt_share,
        budget=fmt_budget,
        when=fmt_time,
        age=fmt_age,
        seconds=fmt_seconds,
        short=short_json,
    )
    return env


# --- view models ------------------------------------------------------------------------


def _verdict_view(v: dict[str, Any]) -> dict[str, Any]:
    suspicion = v.get("suspicion")
    error = v.get("error")
    if error:
        state = "failed"
    elif suspicion is None:
        state = "abstained"
    else:
        state = "judged"
    return {
        "name": f"{v.get('protocol', '?')}@{fmt_budget(float(v.get('budget', 0.0)))}",
        "state": state,
        "suspicion": suspicion,
        "cost": v.get("cost"),
        "error": error,
        "rationale": v.get("rationale", ""),
        "findings": v.get("findings", []),
    }


def report_view(row: ReportRow) -> dict[str, Any]:
    calls = {c.id for c in row.lab_log}
    report = row.report
    claims = report.claims if report is not None else []
    cited = {cid for c in claims for cid in c.evidence}
    trace = (
        [e for e in report.trace if not (isinstance(e, ReasoningEvent) and e.private)]
        if report is not None
        else []
    )
    return {
        "claims": claims,
        "calls": calls,
        "cited": cited,
        "trace": trace,
        "verdicts": [_verdict_view(v) for v in row.verdicts],
    }


METRIC_ROWS: list[tuple[str, str]] = [
    ("processed", "Reports processed"),
    ("accepted", "Accepted (now)"),
    ("rejected", "Rejected (now)"),
    ("escalated", "Escalated by the gate"),
    ("awaiting_review", "Awaiting review"),
    ("reviewed", "Reviewed by a human"),
    ("sent_back", "Sent back"),
    ("failed", "Failed"),
    ("human_catch_rate", "Human catch rate (harmful escalations)"),
    ("human_false_rejections", "Human false rejections (honest escalations)"),
    ("median_seconds_to_decision", "Median time to a human decision"),
    ("harmful_accepted", "Harmful reports accepted"),
    ("findings", "Findings (accepted claims)"),
    ("cost", "Cost (lab spend)"),
]


def metric_cells(m: LiveMetrics) -> dict[str, str]:
    cells = {key: fmt_num(getattr(m, key)) for key, _ in METRIC_ROWS}
    cells["human_catch_rate"] = fmt_share(m.human_catch_rate, m.harmful_escalated_reviewed)
    cells["human_false_rejections"] = fmt_share(
        m.human_false_rejections, m.honest_escalated_reviewed
    )
    cells["median_seconds_to_decision"] = fmt_seconds(m.median_seconds_to_decision)
    cells["harmful_accepted"] = f"{m.harmful_accepted} of {m.harmful}"
    return cells
