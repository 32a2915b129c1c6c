"""The schema: migrations to head on both backends, matching the models; times; connections."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError, StatementError

from il2_tox.store import Database, current_revision, head_revision, migrate
from il2_tox.store.models import Base, Patient


def test_it_migrates_an_empty_database_to_head(database_url: str) -> None:
    assert migrate(database_url) == head_revision()
    db = Database(database_url)
    try:
        assert current_revision(db) == head_revision()
        tables = set(inspect(db.write_engine).get_table_names())
    finally:
        db.dispose()
    assert set(Base.metadata.tables) <= tables


def test_it_migrates_again_without_error(db: Database) -> None:
    migrate(db.url)
    assert current_revision(db) == head_revision()


def test_it_reports_no_revision_for_a_database_never_migrated(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert current_revision(db) is None
    finally:
        db.dispose()


def test_it_has_migrations_that_build_exactly_the_models(db: Database) -> None:
    with db.write_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_it_gives_back_an_aware_utc_time_for_any_offset(db: Database) -> None:
    admitted = datetime(2026, 11, 20, 11, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5.5)))
    with db.write_session() as session:
        session.add(Patient(mrn="MRN-TZ", created_at=admitted))
    with db.read_session() as session:
        stored = session.scalars(select(Patient.created_at)).one()
    assert stored == admitted
    assert stored.tzinfo is UTC
    assert stored.hour == 6


def test_it_refuses_a_time_without_an_offset(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.write_session() as session:
        session.add(Patient(mrn="MRN-NAIVE", created_at=datetime(2026, 11, 20, 6, 0)))
        session.flush()


def test_it_refuses_writes_in_a_read_session(db: Database) -> None:
    with pytest.raises(DBAPIError, match=r"read-?only"), db.read_session() as session:
        session.execute(
            text("INSERT INTO patients (mrn, created_at, version) VALUES ('X', '2026-01-01', 1)")
        )


def test_it_runs_sqlite_in_wal_with_foreign_keys_and_a_busy_timeout(sqlite_db: Database) -> None:
    for engine in (sqlite_db.write_engine, sqlite_db.read_engine):
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_it_begins_sqlite_write_transactions_immediately(sqlite_db: Database) -> None:
    with sqlite_db.write_session() as session:
        session.execute(text("SELECT 1"))
        # Another writer is shut out at once: the write lock was taken by BEGIN, not later.
        other = sqlite_db.write_engine.raw_connection()
        try:
            other.execute("PRAGMA busy_timeout = 0")
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        finally:
            other.close()


def test_it_lets_sqlite_readers_read_while_a_writer_holds_the_lock(sqlite_db: Database) -> None:
    with sqlite_db.write_session() as session:
        session.add(Patient(mrn="MRN-UNCOMMITTED"))
        session.flush()
        with sqlite_db.read_session() as reader:
            seen = reader.scalars(select(Patient.mrn)).all()
    assert seen == []  # the reader did not wait, and saw only committed data
