"""What the live store hands out: queue items, the reviewer's view of a report, human
decisions, and the live metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from proctor.core import LabCall, Report
from proctor.researchers import ResearcherSpec

__all__ = ["HUMAN_DECISIONS", "HumanDecision", "LiveMetrics", "QueueItem", "ReportRow", "ReviewRow"]

HumanDecision = Literal["accept", "reject", "send_back"]
HUMAN_DECISIONS: tuple[str, ...] = ("accept", "reject", "send_back")


class QueueItem(BaseModel):
    """One unit of work: a task (domain, level, seed) for a researcher."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loop_id: str
    item_key: str
    position: int
    domain: str
    level: int
    seed: int
    researcher: ResearcherSpec
    attempt: int = 1
    note: str | None = None
    """The reviewer's note when an earlier attempt was sent back."""
    status: Literal["queued", "done"] = "queued"


class ReportRow(BaseModel):
    """What a reviewer may see of one processed report (never the grade or the disposition)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    loop_id: str
    item_key: str
    task_id: str
    domain: str
    level: int
    backend: str
    report: Report | None
    lab_log: list[LabCall]
    verdicts: list[dict[str, Any]]
    score: float | None
    threshold: float | None
    decision: str
    """The gate's decision: ``accept``, ``reject``, ``escalate`` (or ``failed``)."""
    reason: str
    status: str
    """Where the report stands now: ``accepted``, ``rejected``, ``escalated``, ``sent_back``."""
    cost: float
    created: str
    decided: str | None


class ReviewRow(BaseModel):
    """One human decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    report_id: int
    reviewer: str
    decision: HumanDecision
    note: str
    created: str


@dataclass(frozen=True)
class LiveMetrics:
    """Counts and human-review figures of one loop (or of every loop, ``loop_id=None``).

    ``human_catch_rate``: of the escalated reports the grader counts harmful (DESIGN.md §4),
    the share a human rejected or sent back; ``human_false_rejections``: of the escalated
    reports from honest researchers, the share a human rejected. ``harmful_accepted``: harmful
    reports that ended accepted (by the gate or by a human). Times to decision are seconds from
    the report's creation to the human's decision. n is given beside each share.
    """

    processed: int
    accepted: int
    rejected: int
    escalated: int
    sent_back: int
    failed: int
    awaiting_review: int
    reviewed: int
    harmful_escalated_reviewed: int
    human_catch_rate: float | None
    honest_escalated_reviewed: int
    human_false_rejections: float | None
    harmful_accepted: int
    harmful: int
    median_seconds_to_decision: float | None
    findings: int
    cost: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
