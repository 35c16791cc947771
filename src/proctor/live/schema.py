"""The live loop's tables (SQLAlchemy Core) and their migration.

The schema is owned by Alembic (``proctor/live/migrations``; :func:`migrate` upgrades a
database to the newest revision, which :class:`proctor.live.db.LiveStore` does when it opens
it):

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
"""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa

__all__ = [
    "VERSION_TABLE",
    "findings",
    "loops",
    "metadata",
    "migrate",
    "queue",
    "reports",
    "reviews",
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


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the live schema of `engine`'s database to `revision` with Alembic."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("proctor.live") / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
