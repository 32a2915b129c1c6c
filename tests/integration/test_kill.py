"""A process killed (SIGKILL) in the middle of an import or a save leaves no partial record:
the database holds only whole courses and whole sets, and passes its integrity check. Real
processes, both backends. (benchmarks by h-proofs repeat the import kill 20 times.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from il2_tox.services.users import SystemActor, add_user
from il2_tox.store import Database, migrate
from il2_tox.store import models as m
from tests.integration.conftest import REPO_ROOT

DEMO = sorted((REPO_ROOT / "data" / "demo").glob("*.json"))

# The child imports the files given; inside the transaction of the course PAUSE_AT (its rows
# flushed, not committed) it writes the marker file and waits to be killed.
IMPORT_CHILD = """
import os, sys, time
from pathlib import Path
from il2_tox.services import course_io
from il2_tox.store import Database

marker, pause_at, files = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
original = course_io._import

def paused(session, course, recorded_by, source):
    result = original(session, course, recorded_by, source)
    if course.patient.id == pause_at:
        session.flush()
        marker.write_text("in the transaction")
        time.sleep(600)
    return result

course_io._import = paused
course_io.import_files(Database(os.environ["IL2TOX_DATABASE_URL"]), files, progress=False)
"""

# The child saves one observation set as the nurse; after its rows and audit entry are
# flushed (not committed) it writes the marker file and waits to be killed.
SAVE_CHILD = """
import os, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from il2_tox.services import bedside
from il2_tox.services.users import SignedIn
from il2_tox.store import Database

marker, admission_id, user_id = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
original = bedside.record_event

def paused(session, **event):
    original(session, **event)
    session.flush()
    marker.write_text("in the transaction")
    time.sleep(600)

bedside.record_event = paused
bedside.record_observations(
    Database(os.environ["IL2TOX_DATABASE_URL"]),
    admission_id,
    [("8867-4", 96, "/min", None), ("8480-6", 84, "mm[Hg]", None)],
    datetime.now(UTC) - timedelta(minutes=1),
    SignedIn(user_id, "ada", "Ada", "nurse"),
    "killed-save",
)
"""


@pytest.fixture
def migrated(database_url: str) -> Iterator[str]:
    migrate(database_url)
    yield database_url


def start(database_url: str, script: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "IL2TOX_DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], env=env)


def wait_for(condition: object, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the child ended early (exit {process.returncode})"
        assert time.monotonic() < deadline, "the child never got there"
        time.sleep(0.005)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def file_counts() -> dict[str, tuple[int, int]]:
    """Return (observations, doses) of each demo course, by MRN."""
    out = {}
    for path in DEMO:
        document = json.loads(path.read_text())
        out[document["patient"]["id"]] = (len(document["observations"]), len(document["doses"]))
    return out


def stored_courses(db: Database) -> dict[str, tuple[int, int]]:
    """Return (observations, doses) of each stored admission, by MRN; check no stray rows."""
    with db.read_session() as session:
        patients = session.scalar(select(func.count(m.Patient.id))) or 0
        admissions = session.execute(
            select(m.Patient.mrn, m.Admission.id).join(
                m.Admission, m.Admission.patient_id == m.Patient.id
            )
        ).all()
        assert patients == len(admissions), "a patient without an admission: a partial import"
        out = {}
        for mrn, admission_id in admissions:
            observations = session.scalar(
                select(func.count()).where(m.Observation.admission_id == admission_id)
            )
            doses = session.scalar(select(func.count()).where(m.Dose.admission_id == admission_id))
            out[mrn] = (observations or 0, doses or 0)
        imports = session.scalar(select(func.count()).where(m.AuditEvent.action == "import"))
        assert imports == len(admissions), "an import without its audit entry, or the reverse"
    return out


def integrity_ok(db: Database) -> None:
    if db.backend == "sqlite":
        with db.read_engine.connect() as connection:
            assert connection.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]


def test_an_import_killed_inside_a_course_leaves_only_the_whole_courses_before_it(
    migrated: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    pause_at = json.loads(DEMO[3].read_text())["patient"]["id"]
    child = start(migrated, IMPORT_CHILD, str(marker), pause_at, *map(str, DEMO))
    try:
        wait_for(marker.exists, child)
    finally:
        kill(child)
    db = Database(migrated)
    try:
        integrity_ok(db)
        stored = stored_courses(db)
        expected = file_counts()
        assert sorted(stored) == sorted(list(expected)[:3])  # the three before, whole
        assert all(stored[mrn] == expected[mrn] for mrn in stored)
    finally:
        db.dispose()


def test_the_import_command_killed_at_any_moment_leaves_only_whole_courses(
    migrated: str,
) -> None:
    db = Database(migrated)
    child = subprocess.Popen(
        [sys.executable, "-m", "il2_tox", "import", *map(str, DEMO)],
        env={**os.environ, "IL2TOX_DATABASE_URL": migrated, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def some_stored() -> bool:
            with db.read_session() as session:
                return (session.scalar(select(func.count(m.Admission.id))) or 0) >= 1

        wait_for(some_stored, child)
    finally:
        if child.poll() is None:
            kill(child)
    try:
        integrity_ok(db)
        stored = stored_courses(db)
        expected = file_counts()
        assert stored, "nothing was stored before the kill"
        assert all(stored[mrn] == expected[mrn] for mrn in stored)
    finally:
        db.dispose()


def test_a_save_killed_inside_its_transaction_stores_nothing(migrated: str, tmp_path: Path) -> None:
    db = Database(migrated)
    try:
        from il2_tox.course import load_course
        from il2_tox.services import import_course

        admission_id = import_course(db, load_course(DEMO[0])).admission_id
        assert admission_id is not None
        ada = add_user(db, "ada", "nurse", "ada-password", actor=SystemActor("test"))
        with db.read_session() as session:
            before = session.scalar(select(func.count(m.Observation.id)))
        marker = tmp_path / "marker"
        child = start(migrated, SAVE_CHILD, str(marker), str(admission_id), str(ada.user_id))
        try:
            wait_for(marker.exists, child)
        finally:
            kill(child)
        integrity_ok(db)
        with db.read_session() as session:
            assert session.scalar(select(func.count(m.Observation.id))) == before
            saved = session.scalar(
                select(func.count()).where(m.AuditEvent.action == "record_observations")
            )
            assert saved == 0
    finally:
        db.dispose()
