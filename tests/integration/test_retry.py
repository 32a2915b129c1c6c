"""A database that is only briefly busy is waited for inside the service, never shown.

SQLite: another connection really holds the write lock (with the busy timeout cut to a few
milliseconds so the test does not wait ten seconds); PostgreSQL: a real serialization failure.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from il2_tox.services.bedside import Entry, record_dose, record_observations
from il2_tox.services.course_io import import_course
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.store import Database, engine, migrate
from il2_tox.store import models as m
from il2_tox.store.retry import ATTEMPTS, connection_lost, retrying, rolled_back
from tests.builders import CourseBuilder

SET = [Entry("8867-4", 96, "/min"), Entry("8480-6", 110, "mm[Hg]")]


@pytest.fixture
def impatient_sqlite(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A migrated SQLite file whose connections wait only 20 ms for a lock before failing."""
    migrate(sqlite_url)
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 20)
    db = Database(sqlite_url)
    yield db
    db.dispose()


def nurse(db: Database) -> SignedIn:
    add_user(db, "ada", "nurse", "ada-password", "Ada", actor=SystemActor("test"))
    signed_in = authenticate(db, "ada", "ada-password")
    assert signed_in is not None
    return signed_in


def admitted(db: Database) -> int:
    course = CourseBuilder(patient_id="MRN-RETRY").build()
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    course = replace(course, admission=replace(course.admission, admitted_at=three_hours_ago))
    result = import_course(db, course)
    assert result.admission_id is not None
    return result.admission_id


def hold_write_lock(path: str, seconds: float) -> threading.Thread:
    """Take SQLite's write lock from another connection for `seconds`; return the thread."""
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    locked.wait(5)
    return thread


def observation_count(db: Database) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(m.Observation)) or 0


def test_a_save_waits_out_a_lock_held_longer_than_sqlite_waits(
    impatient_sqlite: Database,
) -> None:
    db = impatient_sqlite
    ada, admission_id = nurse(db), admitted(db)
    assert db.url.database is not None
    holder = hold_write_lock(db.url.database, 0.15)  # 20 ms busy timeout: SQLite alone fails
    result = record_observations(db, admission_id, SET, datetime.now(UTC), ada, "k-locked")
    holder.join()
    assert len(result.observation_ids) == 2 and not result.replayed
    assert observation_count(db) == 2


def test_a_dose_waits_out_a_lock_too(impatient_sqlite: Database) -> None:
    db = impatient_sqlite
    ada, admission_id = nurse(db), admitted(db)
    assert db.url.database is not None
    holder = hold_write_lock(db.url.database, 0.15)
    result = record_dose(
        db, admission_id, status="held", time=datetime.now(UTC), reason="SBP low",
        actor=ada, idempotency_key="dose-locked",
    )  # fmt: skip
    holder.join()
    assert result.status == "held" and not result.replayed


def test_a_lock_that_outlasts_every_retry_is_raised_and_nothing_is_written(
    impatient_sqlite: Database,
) -> None:
    db = impatient_sqlite
    ada, admission_id = nurse(db), admitted(db)
    assert db.url.database is not None
    holder = hold_write_lock(db.url.database, 2.0)
    with pytest.raises(OperationalError, match="locked"):
        record_observations(db, admission_id, SET, datetime.now(UTC), ada, "k-too-long")
    holder.join()
    assert observation_count(db) == 0
    # Once the lock is gone the same submission (same key) is saved, once.
    again = record_observations(db, admission_id, SET, datetime.now(UTC), ada, "k-too-long")
    assert len(again.observation_ids) == 2 and not again.replayed
    assert observation_count(db) == 2


def test_it_tries_a_bounded_number_of_times() -> None:
    calls = []

    def busy() -> None:
        calls.append(1)
        raise OperationalError(
            "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
        )

    with pytest.raises(OperationalError):
        retrying(busy, idempotent=True, first_pause_s=0.001)
    assert len(calls) == ATTEMPTS


def test_it_never_retries_a_refusal_of_the_data(sqlite_db: Database) -> None:
    calls = []

    def duplicate() -> None:
        calls.append(1)
        with sqlite_db.write_session() as session:
            session.add_all([m.Patient(mrn="DUP"), m.Patient(mrn="DUP")])
            session.flush()

    with pytest.raises(IntegrityError):
        retrying(duplicate, idempotent=True, first_pause_s=0.001)
    assert calls == [1]


def test_a_lost_connection_is_retried_only_when_running_twice_is_safe() -> None:
    lost = DBAPIError("COMMIT", {}, Exception("server closed the connection"))
    lost.connection_invalidated = True
    assert connection_lost(lost) and not rolled_back(lost)
    for idempotent, expected_calls in ((True, ATTEMPTS), (False, 1)):
        calls = []

        def commit() -> None:
            calls.append(1)  # noqa: B023 - read at once, within this loop turn
            raise lost

        with pytest.raises(DBAPIError):
            retrying(commit, idempotent=idempotent, first_pause_s=0.001)
        assert len(calls) == expected_calls


@pytest.mark.postgres
def test_a_postgresql_serialization_failure_is_run_again(postgres_schema_url: str) -> None:
    migrate(postgres_schema_url)
    db = Database(postgres_schema_url)
    try:
        with db.write_session() as session:
            session.add(m.Patient(mrn="MRN-SER", name="before"))
        attempts: list[int] = []

        def rename() -> None:
            attempts.append(1)
            with db.write_engine.connect() as first:
                first.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                first.execute(text("SELECT name FROM patients WHERE mrn = 'MRN-SER'")).all()
                if len(attempts) == 1:  # someone else changes the row in between, once
                    with db.write_engine.connect() as other:
                        other.execute(
                            text("UPDATE patients SET name = 'other' WHERE mrn = 'MRN-SER'")
                        )
                        other.commit()
                first.execute(text("UPDATE patients SET name = 'mine' WHERE mrn = 'MRN-SER'"))
                first.commit()

        retrying(rename, idempotent=False, first_pause_s=0.001)
        assert len(attempts) == 2
        with db.read_session() as session:
            assert session.scalar(select(m.Patient.name).where(m.Patient.mrn == "MRN-SER")) == (
                "mine"
            )
    finally:
        db.dispose()
