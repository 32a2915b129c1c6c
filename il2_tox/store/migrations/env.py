"""Alembic environment: run the migrations on the connection `il2_tox.store.migrate` hands in.

Run by `il2_tox.store.migrate(url)` (the app, the command line and the tests). With plain
`alembic` and no connection given, the database is `il2_tox.store.engine.database_url()`.
One transaction for the whole upgrade: on SQLite it begins IMMEDIATE (two processes migrating
at once take turns); on PostgreSQL an advisory lock does the same.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from il2_tox.store.engine import make_engine
from il2_tox.store.models import Base

# Any constant shared by every migrating process; the value means nothing else.
MIGRATION_LOCK_KEY = 0x11271A2


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations() -> None:
    """Migrate the given connection, or open the configured database and migrate it."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or None)
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("il2-tox migrations run online only: use `python -m il2_tox migrate`")
run_migrations()
