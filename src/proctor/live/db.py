"""The live loop's database, through SQLAlchemy Core: SQLite file by default, any URL by config.

Tables (the schema is owned by Alembic: ``proctor/live/migrations``; :class:`LiveStore`
upgrades a database to the newest revision when it opens it):

* ``loops`` — one row per loop (its name, its config as JSON, the bench run its gate was
  calibrated on);
* ``queue`` — the work queue: one row per (loop, item key), a task and a researcher, with its
  attempt number and the reviewer's note when a report was sent back;
* ``reports`` — one row per processed queue item: the report, the researcher's lab log, every
  verdict, the gate's score, threshold, decision and reason, and its status (``accepted``,
  ``rejected``, ``escalated``, ``sent_back``). The whole episode record, with the grade, sits
  in the ``episode`` column, which only the metrics read: reviewers never see it;
* ``findings`` — accepted claims, by the gate or by a human;
* ``reviews`` — human decisions, with who and when.

Each queue item is processed in **one transaction** that inserts its report (and findings) and
marks the item done; ``(loop_id, item_key)`` is unique in ``reports``, so a loop killed at any
point and restarted neither loses a report nor records one twice.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from proctor.bench.records import EpisodeRecord
from proctor.bench.store import store_url
from proctor.core import LabCall, Report
from proctor.researchers import ResearcherSpec

__all__ = [
    "HumanDecision",
    "LiveMetrics",
    "LiveStore",
    "LiveStoreError",
    "QueueItem",
    "ReportRow",
    "ReviewRow",
    "metadata",
]

VERSION_TABLE = "proctor_live_version"
"""Alembic's version table for the live schema (named apart from the bench store's tables)."""

metadata = sa.MetaData()
loops = sa.Table(
    "loops",
    metadata,
    sa.Column("loop_id", sa.String(80), primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("bench_run", sa.String(80), nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
)
queue = sa.Table(
    "queue",
    metadata,
    sa.Column("loop_id", sa.String(80), primary_key=True),
    sa.Column("item_key", sa.String(80), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("domain", sa.String(40), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("researcher", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
)
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("loop_id", sa.String(80), nullable=False),
    sa.Column("item_key", sa.String(80), nullable=False),
    sa.Column("task_id", sa.String(80), nullable=False),
    sa.Column("domain", sa.String(40), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("backend", sa.String(200), nullable=False),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("lab_log", sa.Text, nullable=False),
    sa.Column("verdicts", sa.Text, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("episode", sa.Text, nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
    sa.Column("decided", sa.String(40), nullable=True),
    sa.UniqueConstraint("loop_id", "item_key", name="uq_reports_item"),
)
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
    sa.Column("claim_id", sa.String(40), nullable=False),
    sa.Column("claim", sa.Text, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
)
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("report_id", sa.Integer, sa.ForeignKey("reports.id"), nullable=False),
    sa.Column("reviewer", sa.String(80), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
)

HumanDecision = Literal["accept", "reject", "send_back"]
HUMAN_DECISIONS: tuple[str, ...] = ("accept", "reject", "send_back")
_STATUS_AFTER = {"accept": "accepted", "reject": "rejected", "send_back": "sent_back"}


class LiveStoreError(RuntimeError):
    """The live database cannot be opened, or a write was refused (e.g. a decision on a
    report that is not waiting for one)."""


def now() -> str:
    """The current time in UTC, ISO 8601 to the microsecond (stored as text everywhere)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the live schema of `engine`'s database to `revision` with Alembic."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("proctor.live") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


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


class LiveStore:
    """Read and write the live loop's database."""

    def __init__(self, target: str | Path) -> None:
        url = store_url(target)
        try:
            self.engine = sa.create_engine(url)
            self.url = self.engine.url.render_as_string(hide_password=True)
            migrate(self.engine)
        except (ArgumentError, OperationalError, ImportError) as err:
            shown = sa.engine.make_url(url).render_as_string(hide_password=True)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise LiveStoreError(f"cannot open database {shown!r}: {first}") from None

    # --- loops and the queue -------------------------------------------------------------

    def begin_loop(self, loop_id: str, name: str, config: str, bench_run: str) -> None:
        """Record a loop (once)."""
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(loops.c.loop_id).where(loops.c.loop_id == loop_id))
            if found.first() is None:
                conn.execute(
                    loops.insert().values(
                        loop_id=loop_id,
                        name=name,
                        config=config,
                        bench_run=bench_run,
                        created=now(),
                    )
                )

    def loops(self) -> list[tuple[str, str, str]]:
        """(loop_id, name, created) of every loop, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(loops.c.loop_id, loops.c.name, loops.c.created).order_by(
                    loops.c.created.desc()
                )
            )
            return [(r[0], r[1], r[2]) for r in rows]

    def enqueue(self, items: Iterable[QueueItem]) -> int:
        """Add the items not yet queued (by key); returns how many were new."""
        items = list(items)
        if not items:
            return 0
        loop_ids = {i.loop_id for i in items}
        with self.engine.begin() as conn:
            have = {
                (r[0], r[1])
                for r in conn.execute(
                    sa.select(queue.c.loop_id, queue.c.item_key).where(
                        queue.c.loop_id.in_(loop_ids)
                    )
                )
            }
            rows = [_queue_row(i) for i in items if (i.loop_id, i.item_key) not in have]
            if rows:
                conn.execute(queue.insert(), rows)
        return len(rows)

    def pending(self, loop_id: str) -> list[QueueItem]:
        """Queued items not yet processed, in queue order."""
        return self._items(loop_id, queue.c.status == "queued")

    def items(self, loop_id: str) -> list[QueueItem]:
        """Every item of a loop, in queue order."""
        return self._items(loop_id, sa.true())

    def _items(self, loop_id: str, where: Any) -> list[QueueItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(queue)
                .where(queue.c.loop_id == loop_id, where)
                .order_by(queue.c.position, queue.c.item_key)
            )
            return [_queue_item(r._mapping) for r in rows]

    def record(
        self,
        item: QueueItem,
        episode: EpisodeRecord,
        lab_log: Sequence[LabCall],
        score: float | None,
        threshold: float | None,
        decision: str,
        reason: str,
    ) -> int:
        """Store one processed item in one transaction and return the report's id.

        Inserts the report (and, when the gate accepted it, its claims as findings) and marks
        the queue item done. Raises :class:`LiveStoreError` if the item was already recorded.
        """
        status = {"accept": "accepted", "reject": "rejected", "escalate": "escalated"}.get(
            decision, "rejected"
        )
        report = episode.report
        shown = report.without_private() if report is not None else None
        verdicts = [
            {
                "protocol": v.protocol,
                "budget": v.budget,
                "suspicion": v.suspicion,
                "cost": v.cost,
                "error": v.error,
                "rationale": v.verdict.rationale if v.verdict is not None else "",
                "findings": [f.model_dump(mode="json") for f in v.verdict.findings]
                if v.verdict is not None
                else [],
            }
            for v in episode.verdicts
        ]
        stamp = now()
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    reports.insert().values(
                        loop_id=item.loop_id,
                        item_key=item.item_key,
                        task_id=episode.task_id,
                        domain=episode.domain,
                        level=episode.level,
                        backend=episode.researcher.backend,
                        report=shown.model_dump_json() if shown is not None else None,
                        lab_log=json.dumps([c.model_dump(mode="json") for c in lab_log]),
                        verdicts=json.dumps(verdicts),
                        score=score,
                        threshold=threshold,
                        decision=decision,
                        reason=reason,
                        status=status,
                        cost=episode.researcher_spend + sum(v.cost for v in episode.verdicts),
                        episode=episode.model_dump_json(),
                        created=stamp,
                        decided=stamp if status != "escalated" else None,
                    )
                )
                report_id = _new_id(result)
                if status == "accepted" and shown is not None:
                    _insert_findings(conn, report_id, shown, "gate", stamp)
                conn.execute(
                    queue.update()
                    .where(queue.c.loop_id == item.loop_id, queue.c.item_key == item.item_key)
                    .values(status="done")
                )
        except IntegrityError:
            raise LiveStoreError(
                f"queue item {item.item_key!r} of loop {item.loop_id!r} is already recorded"
            ) from None
        return report_id

    # --- reports and human review --------------------------------------------------------

    def report(self, report_id: int) -> ReportRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).first()
        return None if row is None else _report_row(row._mapping)

    def reports(self, loop_id: str | None = None, status: str | None = None) -> list[ReportRow]:
        """Reports, oldest first, optionally of one loop and one status."""
        query = sa.select(reports).order_by(reports.c.id)
        if loop_id is not None:
            query = query.where(reports.c.loop_id == loop_id)
        if status is not None:
            query = query.where(reports.c.status == status)
        with self.engine.connect() as conn:
            return [_report_row(r._mapping) for r in conn.execute(query)]

    def escalations(self, loop_id: str | None = None) -> list[ReportRow]:
        """The review queue: escalated reports awaiting a human decision, oldest first."""
        return self.reports(loop_id, "escalated")

    def reviews(self, report_id: int) -> list[ReviewRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(reviews).where(reviews.c.report_id == report_id).order_by(reviews.c.id)
            )
            return [ReviewRow.model_validate(dict(r._mapping)) for r in rows]

    def findings(self, loop_id: str | None = None) -> list[dict[str, Any]]:
        """Accepted claims: report id, task, claim, source (``gate`` or ``human``), when."""
        query = (
            sa.select(findings, reports.c.task_id, reports.c.loop_id)
            .join(reports, findings.c.report_id == reports.c.id)
            .order_by(findings.c.id)
        )
        if loop_id is not None:
            query = query.where(reports.c.loop_id == loop_id)
        with self.engine.connect() as conn:
            return [
                {**dict(r._mapping), "claim": json.loads(r._mapping["claim"])}
                for r in conn.execute(query)
            ]

    def decide(self, report_id: int, reviewer: str, decision: str, note: str = "") -> ReviewRow:
        """Record a human decision on an escalated report.

        ``accept`` puts its claims into the findings; ``reject`` keeps it with the note as its
        reason; ``send_back`` queues the task again for the same researcher (next attempt),
        carrying the note. Refused (LiveStoreError) unless the report is awaiting review.
        """
        if decision not in HUMAN_DECISIONS:
            raise LiveStoreError(
                f"decision must be one of {', '.join(HUMAN_DECISIONS)}, got {decision!r}"
            )
        if not reviewer.strip():
            raise LiveStoreError("a decision needs a reviewer")
        stamp = now()
        with self.engine.begin() as conn:
            updated = conn.execute(
                reports.update()
                .where(reports.c.id == report_id, reports.c.status == "escalated")
                .values(status=_STATUS_AFTER[decision], decided=stamp)
            )
            if updated.rowcount != 1:
                raise LiveStoreError(f"report {report_id} is not awaiting review")
            row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).one()
            found = conn.execute(
                reviews.insert().values(
                    report_id=report_id,
                    reviewer=reviewer,
                    decision=decision,
                    note=note,
                    created=stamp,
                )
            )
            review_id = _new_id(found)
            if decision == "accept" and row.report is not None:
                _insert_findings(
                    conn, report_id, Report.model_validate_json(row.report), "human", stamp
                )
            if decision == "send_back":
                item = conn.execute(
                    sa.select(queue).where(
                        queue.c.loop_id == row.loop_id, queue.c.item_key == row.item_key
                    )
                ).one()
                old = _queue_item(item._mapping)
                attempt = old.attempt + 1
                base = old.item_key.split("#", 1)[0]
                again = old.model_copy(
                    update={
                        "item_key": f"{base}#{attempt}",
                        "attempt": attempt,
                        "note": note,
                        "status": "queued",
                    }
                )
                conn.execute(queue.insert(), [_queue_row(again)])
        return ReviewRow(
            id=review_id,
            report_id=report_id,
            reviewer=reviewer,
            decision=decision,  # type: ignore[arg-type]
            note=note,
            created=stamp,
        )

    # --- metrics -------------------------------------------------------------------------

    def gate_counts(self, loop_id: str) -> dict[str, tuple[int, float]]:
        """Reports and their cost by the gate's decision (``accept``, ``reject``, ``escalate``,
        ``failed``), whatever humans decided later."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(reports.c.decision, sa.func.count(), sa.func.sum(reports.c.cost))
                .where(reports.c.loop_id == loop_id)
                .group_by(reports.c.decision)
            )
            return {r[0]: (int(r[1]), float(r[2] or 0.0)) for r in rows}

    def metrics(self, loop_id: str | None = None) -> LiveMetrics:
        """Counts and human-review figures, computed from the stored rows (see LiveMetrics)."""
        rows = self._metric_rows(loop_id)
        status = [r["status"] for r in rows]
        reviewed = [r for r in rows if r["review"] is not None]
        harmful_rev = [r for r in reviewed if r["harmful"]]
        honest_rev = [r for r in reviewed if r["honest"]]
        waits = [(_parse(r["review_at"]) - _parse(r["created"])).total_seconds() for r in reviewed]
        with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(
                findings.join(reports, findings.c.report_id == reports.c.id)
            )
            if loop_id is not None:
                query = query.where(reports.c.loop_id == loop_id)
            n_findings = int(conn.execute(query).scalar_one())
        return LiveMetrics(
            processed=len(rows),
            accepted=status.count("accepted"),
            rejected=status.count("rejected"),
            escalated=sum(1 for r in rows if r["decision"] == "escalate"),
            sent_back=status.count("sent_back"),
            failed=sum(1 for r in rows if r["decision"] == "failed"),
            awaiting_review=status.count("escalated"),
            reviewed=len(reviewed),
            harmful_escalated_reviewed=len(harmful_rev),
            human_catch_rate=_share(r["review"] != "accept" for r in harmful_rev),
            honest_escalated_reviewed=len(honest_rev),
            human_false_rejections=_share(r["review"] == "reject" for r in honest_rev),
            harmful_accepted=sum(1 for r in rows if r["harmful"] and r["status"] == "accepted"),
            harmful=sum(1 for r in rows if r["harmful"]),
            median_seconds_to_decision=statistics.median(waits) if waits else None,
            findings=n_findings,
            cost=float(sum(r["cost"] for r in rows)),
        )

    def _metric_rows(self, loop_id: str | None) -> list[dict[str, Any]]:
        last = (
            sa.select(reviews.c.report_id, sa.func.max(reviews.c.id).label("rid"))
            .group_by(reviews.c.report_id)
            .subquery()
        )
        query = (
            sa.select(
                reports.c.id,
                reports.c.status,
                reports.c.decision,
                reports.c.cost,
                reports.c.created,
                reports.c.episode,
                reviews.c.decision.label("review"),
                reviews.c.created.label("review_at"),
            )
            .outerjoin(last, last.c.report_id == reports.c.id)
            .outerjoin(reviews, reviews.c.id == last.c.rid)
            .order_by(reports.c.id)
        )
        if loop_id is not None:
            query = query.where(reports.c.loop_id == loop_id)
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                m = dict(r._mapping)
                ep = EpisodeRecord.model_validate_json(m.pop("episode"))
                m["harmful"] = ep.harmful
                m["honest"] = ep.honest
                out.append(m)
        return out


def _insert_findings(
    conn: sa.Connection, report_id: int, report: Report, source: str, stamp: str
) -> None:
    rows = [
        {
            "report_id": report_id,
            "claim_id": c.id,
            "claim": c.model_dump_json(),
            "source": source,
            "created": stamp,
        }
        for c in report.claims
    ]
    if rows:
        conn.execute(findings.insert(), rows)


def _queue_row(item: QueueItem) -> dict[str, Any]:
    row = item.model_dump(mode="json")
    row["researcher"] = item.researcher.model_dump_json()
    row["created"] = now()
    return row


def _queue_item(m: Any) -> QueueItem:
    data = {k: m[k] for k in QueueItem.model_fields}
    data["researcher"] = ResearcherSpec.model_validate_json(m["researcher"])
    return QueueItem.model_validate(data)


def _report_row(m: Any) -> ReportRow:
    data = {k: m[k] for k in ReportRow.model_fields}
    data["report"] = Report.model_validate_json(m["report"]) if m["report"] else None
    data["lab_log"] = json.loads(m["lab_log"])
    data["verdicts"] = json.loads(m["verdicts"])
    return ReportRow.model_validate(data)


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    if key is None:
        raise LiveStoreError("the database returned no id for a new row")
    return int(key[0])
