"""SQLite writers take turns in a queue before BEGIN IMMEDIATE, across threads and processes.

Most cases cut SQLite's own busy wait to a few milliseconds: a write that succeeds while another
process held the write lock far longer than that was queued by `writer_queue` (woken at the
release), not saved by SQLite's sleeping busy handler. Child processes are forked.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest
from sqlalchemy import func, select

from il2_tox.store import Database, engine, migrate, writer_queue
from il2_tox.store.models import Patient

FORK = multiprocessing.get_context("fork")


@pytest.fixture
def impatient_sqlite(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file whose connections wait only 5 ms in SQLite's busy handler."""
    migrate(sqlite_url)
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 5)
    yield sqlite_url


def patients(url: str) -> int:
    db = Database(url)
    try:
        with db.read_session() as session:
            return session.scalar(select(func.count()).select_from(Patient)) or 0
    finally:
        db.dispose()


def hold_a_write(url: str, mrn: str, inside: Event, seconds: float) -> None:
    """In a child: insert a patient, signal, keep the write open `seconds`, then commit."""
    db = Database(url)
    with db.write_session() as session:
        session.add(Patient(mrn=mrn))
        session.flush()
        inside.set()
        time.sleep(seconds)
    db.dispose()


def write_many(url: str, prefix: str, count: int, failures: multiprocessing.Queue[str]) -> None:
    """In a child: `count` one-row write transactions, each reporting a failure if it has one."""
    db = Database(url)
    for i in range(count):
        try:
            with db.write_session() as session:
                session.add(Patient(mrn=f"{prefix}-{i}"))
        except Exception as error:
            failures.put(f"{prefix}-{i}: {error}")
    db.dispose()


def test_it_keeps_a_lock_file_beside_the_database(sqlite_url: str) -> None:
    migrate(sqlite_url)
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    assert (path.parent / (path.name + writer_queue.LOCK_SUFFIX)).exists()


def test_a_writer_waits_in_the_queue_while_another_process_writes(impatient_sqlite: str) -> None:
    inside = FORK.Event()
    holder = FORK.Process(target=hold_a_write, args=(impatient_sqlite, "MRN-FIRST", inside, 0.5))
    holder.start()
    try:
        assert inside.wait(30)
        began = time.monotonic()
        db = Database(impatient_sqlite)
        try:
            with db.write_session() as session:  # SQLite alone would give up after 5 ms
                session.add(Patient(mrn="MRN-SECOND"))
        finally:
            db.dispose()
        waited = time.monotonic() - began
    finally:
        holder.join(30)
    assert holder.exitcode == 0
    assert waited > 0.2  # it did wait for the first writer's commit
    assert patients(impatient_sqlite) == 2


def test_two_processes_are_never_inside_a_write_at_once(impatient_sqlite: str) -> None:
    failures: multiprocessing.Queue[str] = FORK.Queue()
    writers = [
        FORK.Process(target=write_many, args=(impatient_sqlite, f"P{n}", 40, failures))
        for n in range(3)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    assert failures.empty()  # no "database is locked": every write had its turn
    assert patients(impatient_sqlite) == 120


def test_threads_of_one_process_take_turns(impatient_sqlite: str) -> None:
    db = Database(impatient_sqlite)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        for i in range(15):
            try:
                with db.write_session() as session:
                    session.add(Patient(mrn=f"T{n}-{i}"))
            except Exception as error:
                errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    db.dispose()
    assert errors == []
    assert patients(impatient_sqlite) == 90


def test_a_killed_writer_gives_up_its_turn(impatient_sqlite: str) -> None:
    inside = FORK.Event()
    holder = FORK.Process(target=hold_a_write, args=(impatient_sqlite, "MRN-KILLED", inside, 600))
    holder.start()
    assert inside.wait(30)
    path = impatient_sqlite.removeprefix("sqlite:///")
    queue = writer_queue.for_database(path)
    assert queue.wait_turn(0.2) is None  # the child holds the turn
    assert holder.pid is not None
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(30)
    assert holder.exitcode == -signal.SIGKILL
    turn = queue.wait_turn(5)  # the kernel released the dead process's lock
    assert turn is not None
    turn.end()
    db = Database(impatient_sqlite)
    try:
        with db.write_session() as session:
            session.add(Patient(mrn="MRN-AFTER"))
    finally:
        db.dispose()
    assert patients(impatient_sqlite) == 1  # the killed write was rolled back, the next stored


def test_a_waiting_writer_is_woken_when_the_turn_ends(tmp_path: Path) -> None:
    """The kernel wakes the waiter at the release: no polling, so well under SQLite's
    100 ms back-off steps (a generous bound for a shared machine)."""
    lock_path = str(tmp_path / "x.db")
    inside, release = FORK.Event(), FORK.Event()
    released_at = FORK.Value("d", 0.0)

    def hold() -> None:
        turn = writer_queue.for_database(lock_path).wait_turn(5)
        assert turn is not None
        inside.set()
        release.wait(30)
        released_at.value = time.monotonic()
        turn.end()
        time.sleep(1)

    holder = FORK.Process(target=hold)
    holder.start()
    try:
        assert inside.wait(30)
        timer = threading.Timer(0.3, release.set)
        timer.start()
        turn = writer_queue.for_database(lock_path).wait_turn(10)
        woken_at = time.monotonic()
        assert turn is not None
        turn.end()
    finally:
        holder.join(30)
    assert 0 <= woken_at - released_at.value < 0.5


def test_a_turn_not_granted_in_time_is_given_up_and_not_kept(tmp_path: Path) -> None:
    lock_path = str(tmp_path / "y.db")
    queue = writer_queue.for_database(lock_path)
    inside, release = FORK.Event(), FORK.Event()

    def hold() -> None:
        turn = writer_queue.for_database(lock_path).wait_turn(5)
        assert turn is not None
        inside.set()
        release.wait(30)
        turn.end()

    holder = FORK.Process(target=hold)
    holder.start()
    try:
        assert inside.wait(30)
        began = time.monotonic()
        assert queue.wait_turn(0.1) is None
        assert time.monotonic() - began < 5
        assert queue.wait_turn(0.1) is None  # the threads' lock was given back
    finally:
        release.set()
        holder.join(30)
    # The abandoned waiters do not keep the lock they were granted after giving up.
    turn = queue.wait_turn(5)
    assert turn is not None
    turn.end()


def test_a_rolled_back_write_ends_its_turn(sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError), sqlite_db.write_session() as session:
        session.add(Patient(mrn="MRN-UNDONE"))
        session.flush()
        raise RuntimeError("refused")
    assert sqlite_db.url.database is not None
    turn = writer_queue.for_database(sqlite_db.url.database).wait_turn(0)
    assert turn is not None
    turn.end()


def test_in_memory_sqlite_has_no_queue() -> None:
    db = Database("sqlite://")
    try:
        with db.write_session() as session:
            session.execute(select(1))
            raw = session.connection().connection.dbapi_connection
            assert raw is not None and not isinstance(raw, engine._QueuedConnection)
    finally:
        db.dispose()


def test_a_writer_outside_the_queue_is_still_kept_out_by_sqlite(sqlite_db: Database) -> None:
    """The queue orders writers; SQLite's lock still guards the data (the `sqlite3` shell)."""
    assert sqlite_db.url.database is not None
    with sqlite_db.write_session() as session:
        session.add(Patient(mrn="MRN-QUEUED"))
        session.flush()
        outsider = sqlite3.connect(sqlite_db.url.database, isolation_level=None, timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                outsider.execute("BEGIN IMMEDIATE")
        finally:
            outsider.close()
