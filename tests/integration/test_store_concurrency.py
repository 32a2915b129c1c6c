"""Several processes share one SQLite file: concurrent imports both succeed, none is "locked"."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from il2_tox.services import export_course, list_admissions
from il2_tox.services.users import SystemActor
from il2_tox.store import Database
from tests.builders import CourseBuilder
from tests.integration.conftest import REPO_ROOT

FILES_PER_PROCESS = 5
OBSERVATIONS_PER_FILE = 1500
TESTER = SystemActor("test")  # exports name who makes them

# `python -m il2_tox import FILE...`, held at a start line until both processes are up, so that
# their write transactions really collide (Python start-up alone takes longer than an import).
IMPORT_AT_START_SIGNAL = """
import sys, time, pathlib
from il2_tox.__main__ import main
ready, start = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
while not start.exists():
    time.sleep(0.002)
sys.exit(main(["import", *sys.argv[3:]]))
"""


def busy_course(patient_id: str) -> dict[str, Any]:
    """Return a course document with many observations (four-hourly vitals over weeks)."""
    course = CourseBuilder(patient_id=patient_id).dose(1, 1, at=2)
    for i in range(OBSERVATIONS_PER_FILE // 3):
        hour = i * 0.5
        course.obs("8480-6", 100 + i % 30, "mm[Hg]", at=hour)
        course.obs("8867-4", 80 + i % 40, "/min", at=hour)
        course.obs("8310-5", 98.6 + (i % 5) / 2, "[degF]", at=hour)
    return course.document()


def test_it_lets_two_processes_import_into_one_sqlite_file_at_once(
    sqlite_db: Database, course_file: Callable[..., Path], tmp_path: Path
) -> None:
    batches = [
        [
            course_file(busy_course(f"MRN-{p}{n}"), f"p{p}-{n}.json")
            for n in range(FILES_PER_PROCESS)
        ]
        for p in "AB"
    ]
    env = {**os.environ, "IL2TOX_DATABASE_URL": str(sqlite_db.url), "PYTHONPATH": str(REPO_ROOT)}
    start = tmp_path / "start"
    ready = [tmp_path / f"ready-{p}" for p in "AB"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", IMPORT_AT_START_SIGNAL, str(flag), str(start), *map(str, batch)],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag, batch in zip(ready, batches, strict=True)
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    start.touch()
    outcomes = [(*p.communicate(timeout=180), p.returncode) for p in processes]

    for out, err, returncode in outcomes:
        assert returncode == 0, err
        assert "locked" not in err
        assert out.count(": loaded MRN-") == FILES_PER_PROCESS
    assert len(list_admissions(sqlite_db)) == 2 * FILES_PER_PROCESS
    assert (
        len(export_course(sqlite_db, "MRN-B2", actor=TESTER).observations) == OBSERVATIONS_PER_FILE
    )
