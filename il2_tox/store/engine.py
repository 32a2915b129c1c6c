"""Where the database is and how to connect to it: engines, and read and write sessions.

SQLite (the default, `data/il2_tox.db`) is shared by several processes: the Streamlit server, the
command line, a second import. Like Datasette, every connection runs in WAL mode with a busy
timeout and foreign keys on, write transactions begin `BEGIN IMMEDIATE` (so a writer waits for
the lock up front instead of failing with "database is locked" when it upgrades a read), and
reads go through a separate engine whose connections are `query_only` and begin a plain
deferred transaction, so a reader never takes the write lock. Writers to a SQLite file queue
for their turn before `BEGIN IMMEDIATE` and leave the queue after COMMIT or ROLLBACK
(`writer_queue`: woken at the release instead of sleeping in SQLite's busy handler).
PostgreSQL (psycopg 3) needs none of this; its read sessions run in read-only transactions.

Cache the `Database` (it holds engines and their pools), never a session.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from il2_tox.store import writer_queue

DATABASE_URL_ENV = "IL2TOX_DATABASE_URL"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = REPO_ROOT / "data" / "il2_tox.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITER_QUEUE_WAIT_S = 10.0  # then a writer goes on to BEGIN IMMEDIATE without its turn


def database_url() -> str:
    """Return the database URL: `IL2TOX_DATABASE_URL`, else SQLite at `<repo>/data/il2_tox.db`."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    return configured or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def display_url(url: str | URL) -> str:
    """Return a URL safe to print (the password, if any, masked)."""
    return make_url(url).render_as_string(hide_password=True)


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _sqlite_file(url: URL) -> str | None:
    """Return the path of a SQLite URL's file, or None (in memory, or a `file:` URI)."""
    if _is_sqlite_memory(url) or url.query.get("uri") in ("true", "1"):
        return None
    return url.database


class _QueuedConnection(sqlite3.Connection):
    """A SQLite connection that ends its writer's turn when its transaction ends.

    The turn is taken in the engine's `begin` event (before `BEGIN IMMEDIATE`); COMMIT,
    ROLLBACK (also the pool's reset when the connection is returned) and close end it, after
    SQLite has finished, so the next writer finds the write lock free.
    """

    queue: writer_queue.WriterQueue | None = None
    queue_wait_s: float = 0.0
    _turn: writer_queue.Turn | None = None

    def wait_turn(self) -> None:
        if self.queue is not None and self._turn is None:
            self._turn = self.queue.wait_turn(self.queue_wait_s)

    def end_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.end()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()


def make_engine(url: str | URL | None = None, *, read_only: bool = False) -> Engine:
    """Return an engine for the URL (default `database_url()`), set up for this project.

    With `read_only=True` the engine's transactions cannot write: SQLite connections are
    `query_only` and begin deferred; PostgreSQL transactions are READ ONLY. The directory of a
    SQLite file is created if missing. An in-memory SQLite URL gets one shared connection
    (StaticPool), fine for a single-threaded script, not for a server. Writers to a SQLite
    file take their turn in the file's `writer_queue` (none in memory or for a `file:` URI).
    """
    parsed = make_url(url if url is not None else database_url())
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, pool_pre_ping=True)
        return engine.execution_options(postgresql_readonly=True) if read_only else engine

    options: dict[str, Any] = {}
    path = _sqlite_file(parsed)
    queue = None
    if _is_sqlite_memory(parsed):
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if path is not None and not read_only:
        queue = writer_queue.for_database(path)
        options["connect_args"] = {"factory": _QueuedConnection}
    wait_s = WRITER_QUEUE_WAIT_S  # read at each call, like the busy timeout (tests change them)
    engine = create_engine(parsed, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver; `_on_begin` emits the kind we want.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # busy_timeout first: switching to WAL briefly needs the lock another process may hold.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        if read_only:
            cursor.execute("PRAGMA query_only = ON")
        cursor.close()
        if isinstance(dbapi_connection, _QueuedConnection):
            dbapi_connection.queue = queue
            dbapi_connection.queue_wait_s = wait_s

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if read_only:
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if not isinstance(dbapi_connection, _QueuedConnection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        dbapi_connection.wait_turn()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            dbapi_connection.end_turn()
            raise

    return engine


class Database:
    """One database: a write engine and a read engine, and sessions on them.

    On SQLite the two engines are separate pools (reads never queue behind BEGIN IMMEDIATE); on
    PostgreSQL and in-memory SQLite they share one pool.
    """

    def __init__(self, url: str | URL | None = None) -> None:
        self.url: URL = make_url(url if url is not None else database_url())
        self.write_engine: Engine = make_engine(self.url)
        if self.url.get_backend_name() == "sqlite" and not _is_sqlite_memory(self.url):
            self.read_engine: Engine = make_engine(self.url, read_only=True)
        elif self.url.get_backend_name() == "sqlite":
            self.read_engine = self.write_engine
        else:
            self.read_engine = self.write_engine.execution_options(postgresql_readonly=True)

    @property
    def backend(self) -> str:
        """Return `sqlite` or `postgresql`."""
        return self.url.get_backend_name()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """Yield a session in one write transaction: committed on exit, rolled back on error."""
        with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """Yield a session in one read-only transaction (a consistent snapshot); never commits."""
        with Session(self.read_engine) as session:
            yield session  # closing the session rolls the read transaction back

    def dispose(self) -> None:
        """Close every pooled connection (call before the process or a test ends)."""
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()

    def __repr__(self) -> str:
        return f"Database({display_url(self.url)!r})"
