"""The live loop's database, through SQLAlchemy Core: SQLite file by default, any URL by config.

The tables are in :mod:`proctor.live.schema` (``loops``, ``queue``, ``reports``,
``findings``, ``reviews``; owned by Alembic), what the store hands out in
:mod:`proctor.live.records`.

Each queue item is processed in **one transaction** that inserts its report (and findings) and
marks the item done; ``(loop_id, item_key)`` is unique in ``reports``, so a loop killed at any
point and restarted neither loses a report nor records one twice.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from proctor.bench.records import EpisodeRecord
from proctor.bench.store import store_url
from proctor.core import LabCall, Report
from proctor.live.records import HUMAN_DECISIONS, LiveMetrics, QueueItem, ReportRow, ReviewRow
from proctor.live.schema import findings, loops, migrate, queue, reports, reviews
from proctor.researchers import ResearcherSpec

__all__ = ["LiveStore", "LiveStoreError"]

_STATUS_AFTER = {"accept": "accepted", "reject": "rejected", "send_back": "sent_back"}


class LiveStoreError(RuntimeError):
    """The live database cannot be opened, or a write was refused (e.g. a decision on a
    report that is not waiting for one)."""


def now() -> str:
    """The current time in UTC, ISO 8601 to the microsecond (stored as text everywhere)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


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
