"""The bench's store, through SQLAlchemy Core: SQLite file by default, any URL by ``--store``.

Each episode is one row keyed by (run, configuration hash). Rows are written in batches as
work finishes, so a killed sweep keeps what it finished and a rerun skips it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import ArgumentError, OperationalError

from proctor.bench.records import EpisodeRecord
from proctor.bench.spec import SweepSpec
from proctor.models.meter import Transcript

metadata = sa.MetaData()
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(80), primary_key=True),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("created", sa.String(40), nullable=False),
)
episodes = sa.Table(
    "episodes",
    metadata,
    sa.Column("run_id", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("domain", sa.String(40), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("backend", sa.String(200), nullable=False),
    sa.Column("disposition", sa.String(80), nullable=False),
    sa.Column("failed", sa.Boolean, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
)
transcripts = sa.Table(
    "transcripts",
    metadata,
    sa.Column("run_id", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
"""Model transcripts of model-backed episodes, zlib-compressed JSON, kept apart from the
episode rows so that summarising a run never loads them (:meth:`Store.transcripts`)."""


class StoreError(RuntimeError):
    """The store URL cannot be opened."""


def store_url(target: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a plain file path (taken as SQLite)."""
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def _shown(text: str) -> str:
    """`text` with the password of any URL in it replaced by ``***`` (errors are printed)."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]*@", r"\1***@", text)


class Store:
    """Read and write runs and episodes."""

    def __init__(self, target: str | Path) -> None:
        url = store_url(target)
        try:
            self.engine = sa.create_engine(url)
            metadata.create_all(self.engine)
        except (ArgumentError, OperationalError, ImportError) as err:
            shown = _shown(url)
            if isinstance(err, ImportError) and url.startswith("postgresql"):
                raise StoreError(
                    f"cannot open store {shown!r}: no PostgreSQL driver ({err}); install "
                    "`proctor[postgres]` and use postgresql+psycopg://"
                ) from None
            raise StoreError(f"cannot open store {shown!r}: {_shown(str(err))}") from None

    def begin_run(self, spec: SweepSpec) -> str:
        """Record a run (once); return its id."""
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(runs.c.run_id).where(runs.c.run_id == spec.run_id))
            if found.first() is None:
                conn.execute(
                    runs.insert().values(
                        run_id=spec.run_id,
                        name=spec.name,
                        spec=spec.model_dump_json(),
                        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    )
                )
        return spec.run_id

    def done_keys(self, run_id: str) -> set[str]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(episodes.c.key).where(episodes.c.run_id == run_id))
            return {r[0] for r in rows}

    def write(self, records: Iterable[EpisodeRecord]) -> int:
        """Insert a batch of episodes in one transaction; returns how many.

        Model transcripts go to their own table; the episode row keeps the usage."""
        records = list(records)
        talks = []
        for i, r in enumerate(records):
            if r.models is not None and r.models.transcripts:
                data = json.dumps([t.model_dump(mode="json") for t in r.models.transcripts])
                talks.append(
                    {"run_id": r.run_id, "key": r.key, "data": zlib.compress(data.encode())}
                )
                kept = r.models.model_copy(update={"transcripts": []})
                records[i] = r.model_copy(update={"models": kept})
        rows = [
            {
                "run_id": r.run_id,
                "key": r.key,
                "domain": r.domain,
                "level": r.level,
                "seed": r.seed,
                "role": r.role,
                "backend": r.researcher.backend,
                "disposition": r.researcher.organism,
                "failed": r.error is not None,
                "record": r.model_dump_json(),
            }
            for r in records
        ]
        if rows:
            with self.engine.begin() as conn:
                conn.execute(episodes.insert(), rows)
                if talks:
                    conn.execute(transcripts.insert(), talks)
        return len(rows)

    def transcripts(self, run_id: str) -> Iterator[tuple[str, list[Transcript]]]:
        """(episode key, its model transcripts) for every model-backed episode of a run."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(transcripts.c.key, transcripts.c.data)
                .where(transcripts.c.run_id == run_id)
                .order_by(transcripts.c.key)
            )
            for key, data in rows:
                items = json.loads(zlib.decompress(data))
                yield key, [Transcript.model_validate(t) for t in items]

    def episodes(self, run_id: str) -> list[EpisodeRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(episodes.c.record)
                .where(episodes.c.run_id == run_id)
                .order_by(episodes.c.key)
            )
            return [EpisodeRecord.model_validate_json(r[0]) for r in rows]

    def runs(self) -> list[tuple[str, str, str]]:
        """(run_id, name, created) of every run, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs.c.run_id, runs.c.name, runs.c.created).order_by(
                    runs.c.created.desc()
                )
            )
            return [(r[0], r[1], r[2]) for r in rows]

    def spec(self, run_id: str) -> SweepSpec | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(runs.c.spec).where(runs.c.run_id == run_id)).first()
        return None if row is None else SweepSpec.model_validate_json(row[0])
