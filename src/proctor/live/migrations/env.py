"""Alembic environment for the live loop's schema (``proctor.live.schema``).

Run by :func:`proctor.live.schema.migrate`, which hands over an open connection; the version is
kept in ``proctor_live_version`` so that the live schema can share a database with the bench
store. ``alembic -c`` with a URL also works for operators: set ``sqlalchemy.url``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from proctor.live.schema import VERSION_TABLE, metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            _run(conn)
    else:
        _run(connection)


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
