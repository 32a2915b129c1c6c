"""Sign-ins at the start of a shift do not queue behind one another's password hashing.

The argon2 check is slow on purpose; it used to run inside the sign-in's write transaction,
so on SQLite every other writer (and sign-in) waited for it, and a handful of people signing in
at once timed out with "database is locked".
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from il2_tox.services import users
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.store import Database, engine, migrate
from il2_tox.store import models as m

PASSWORD = "shift-start-password"


@pytest.fixture
def impatient_sqlite(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated SQLite file whose connections wait only 20 ms for a lock before failing."""
    migrate(sqlite_url)
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 20)
    db = Database(sqlite_url)
    yield db
    db.dispose()


def test_the_password_is_checked_without_holding_the_write_lock(
    impatient_sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = impatient_sqlite
    add_user(db, "ada", "nurse", PASSWORD, "Ada", actor=SystemActor("test"))
    assert db.url.database is not None
    path = db.url.database
    free_while_hashing: list[bool] = []

    class ProbingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            other = sqlite3.connect(path, isolation_level=None, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")  # fails at once if the sign-in holds the lock
                other.execute("ROLLBACK")
                free_while_hashing.append(True)
            except sqlite3.OperationalError:
                free_while_hashing.append(False)
            finally:
                other.close()
            return super().verify(hash, password)

    monkeypatch.setattr(users, "HASHER", ProbingHasher(time_cost=1, memory_cost=1024))
    assert authenticate(db, "ada", PASSWORD) is not None
    assert authenticate(db, "ada", "wrong password!") is None
    assert free_while_hashing == [True, True]


def test_many_people_sign_in_at_once_and_none_sees_an_error(
    impatient_sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = impatient_sqlite
    people = [f"nurse{i}" for i in range(8)]
    for name in people:
        add_user(db, name, "nurse", PASSWORD, name, actor=SystemActor("test"))
    # A cost that takes tens of milliseconds: longer than the 20 ms SQLite waits for a lock.
    monkeypatch.setattr(users, "HASHER", PasswordHasher(time_cost=3, memory_cost=16384))
    results: dict[str, SignedIn | BaseException | None] = {}
    start = threading.Barrier(len(people))

    def sign_in(name: str) -> None:
        start.wait()
        try:
            results[name] = authenticate(db, name, PASSWORD)
        except BaseException as error:  # the failure this test is about
            results[name] = error

    threads = [threading.Thread(target=sign_in, args=(name,)) for name in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(isinstance(results[name], SignedIn) for name in people), results


def test_a_password_reset_between_the_check_and_the_write_fails_the_sign_in(
    impatient_sqlite: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = impatient_sqlite
    add_user(db, "ada", "nurse", PASSWORD, "Ada", actor=SystemActor("test"))

    class ResettingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            ok = super().verify(hash, password)
            with db.write_session() as session:  # an admin resets it meanwhile
                user = session.scalars(select(m.User).where(m.User.username == "ada")).one()
                user.password_hash = self.hash("a brand new password")
            return ok

    monkeypatch.setattr(users, "HASHER", ResettingHasher(time_cost=1, memory_cost=1024))
    assert authenticate(db, "ada", PASSWORD) is None
