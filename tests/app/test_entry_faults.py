"""The bedside entry page when the database is locked or unreachable: what was typed is kept,
the page says so (no traceback), and the same values save once the database is back.

SQLite: another connection holds the write lock (an open BEGIN IMMEDIATE). PostgreSQL: the
app reaches the server through a TCP proxy that the test drops (connections cut, port closed)
and brings back, as a ward network would.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy.engine import make_url

from il2_tox.course import load_course
from il2_tox.services.course_io import import_course
from il2_tox.store import Database, migrate
from il2_tox.store import engine as store_engine
from il2_tox.store.models import Observation
from tests.app.conftest import REPO, add_accounts
from tests.app.test_entry_page import SET, click, count, number, open_entry, type_values
from tests.integration.conftest import postgres_schema_url  # noqa: F401 - a fixture

FAILED = "The database cannot be reached or is busy"


def typed(app: object) -> dict[str, object]:
    return {label: number(app, label).value for label in SET}


def errors(app: object) -> str:
    return "\n".join(e.value for e in app.error)  # type: ignore[attr-defined]


@pytest.fixture
def quick_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wait 0.3 s (not 10 s) for a SQLite lock before giving up, so the test is quick."""
    monkeypatch.setattr(store_engine, "SQLITE_BUSY_TIMEOUT_MS", 300)
    st.cache_resource.clear()


def test_a_locked_database_keeps_the_set_as_typed_and_saves_it_once_free(
    ward_db: Database, quick_lock_timeout: None
) -> None:
    app = open_entry()
    type_values(app, SET)
    before = count(ward_db, Observation)
    path = make_url(ward_db.url).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        click(app, "Save set")
        assert FAILED in errors(app)
        assert "database is locked" in errors(app)
        assert typed(app) == SET  # kept as typed
        assert count(ward_db, Observation) == before
    finally:
        holder.rollback()
        holder.close()
    click(app, "Save set")
    assert FAILED not in errors(app)
    assert count(ward_db, Observation) == before + len(SET)
    assert any("Saved 3 value(s)" in s.value for s in app.success)


class Proxy:
    """A TCP proxy to a server: `drop()` cuts every connection and closes the port; `restore()`
    listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.port = 0
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # dropped
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        assert self.listener is not None
        # shutdown first: it wakes the thread blocked in accept(), so the port really closes.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()


@pytest.fixture
def proxied_ward(
    postgres_schema_url: str,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Database, Proxy]]:
    """A PostgreSQL ward (two demo patients and the accounts) the app reaches via a proxy."""
    migrate(postgres_schema_url)
    db = Database(postgres_schema_url)
    for path in sorted((REPO / "data" / "demo").glob("*.json"))[:2]:
        import_course(db, load_course(path), recorded_by="demo")
    add_accounts(db)
    url = make_url(postgres_schema_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    via_proxy = url.set(host="127.0.0.1", port=proxy.port)
    monkeypatch.setenv("IL2TOX_DATABASE_URL", via_proxy.render_as_string(hide_password=False))
    st.cache_resource.clear()
    yield db, proxy
    st.cache_resource.clear()
    proxy.drop()
    db.dispose()


@pytest.mark.postgres
def test_a_network_drop_keeps_the_page_and_the_set_and_saves_once_back(
    proxied_ward: tuple[Database, Proxy],
) -> None:
    db, proxy = proxied_ward
    app = open_entry()
    type_values(app, SET)
    before = count(db, Observation)
    proxy.drop()
    try:
        click(app, "Save set")  # the save and the page's reads all fail
        assert FAILED in errors(app)
        assert not app.exception
        assert any("as last read at" in w.value for w in app.warning)
        assert typed(app) == SET
        assert count(db, Observation) == before
    finally:
        proxy.restore()
    click(app, "Save set")
    assert FAILED not in errors(app)
    assert count(db, Observation) == before + len(SET)
    assert not any("as last read at" in w.value for w in app.warning)


def test_a_page_opened_while_the_database_is_down_says_so_without_a_traceback(
    ward_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = open_entry(confirm=False)
    # Now point the app at a server that is not there (a closed port) and reload the page.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("IL2TOX_DATABASE_URL", f"postgresql+psycopg://nobody@127.0.0.1:{closed}/x")
    st.cache_resource.clear()
    app.session_state["faults.last_read"] = {}  # a fresh session: nothing read before
    app.run()
    assert not app.exception
    assert "The database cannot be reached" in errors(app)
