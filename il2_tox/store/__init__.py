"""Storage: the database schema, its migrations, engines and sessions.

from il2_tox.store import Database, migrate
migrate()                      # alembic upgrade head on database_url()
db = Database()                # cache this (engines), never a session
with db.write_session() as session: ...   # one write transaction, committed on exit
with db.read_session() as session: ...    # a read-only snapshot
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from il2_tox.store.engine import Database, database_url, display_url, make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

__all__ = [
    "Database",
    "current_revision",
    "database_url",
    "display_url",
    "head_revision",
    "make_engine",
    "migrate",
]


def alembic_config() -> Config:
    """Return an Alembic configuration for this package's migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(url: str | URL | None = None) -> str:
    """Upgrade the database (default `database_url()`) to the newest revision; return it.

    Safe to run again (nothing to do) and from two processes at once (they take turns).
    """
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
    finally:
        engine.dispose()
    return head_revision()


def head_revision() -> str:
    """Return the newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head


def current_revision(db: Database) -> str | None:
    """Return the revision the database is at (None: never migrated)."""
    with db.read_engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
