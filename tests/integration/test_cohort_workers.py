"""Cohort mode in worker processes: the same CSV, row for row, whatever the number of workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from il2_tox.__main__ import main
from il2_tox.commands import assess as assess_command
from il2_tox.course import load_course
from il2_tox.services import import_course, iter_courses, load_course_from_db
from il2_tox.services.course_io import admission_ids
from il2_tox.store import Database
from il2_tox.store.models import Observation, User
from il2_tox.store.records import correct_observation
from tests.integration.conftest import REPO_ROOT

DEMO = sorted((REPO_ROOT / "data" / "demo").glob("*.json"))


def test_workers_write_the_same_file_as_one_process(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in DEMO:
        import_course(db, load_course(path))
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    monkeypatch.setattr(assess_command, "COHORT_BATCH", 2)  # several batches, out of step
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert main(["assess", "--db", "--out", str(one), "--workers", "1"]) == 0
    assert main(["assess", "--db", "--out", str(two), "--workers", "2"]) == 0
    lines = one.read_text(encoding="utf-8").splitlines()
    assert len(lines) > len(DEMO)
    assert two.read_text(encoding="utf-8").splitlines() == lines
    admitted = [line.split(",")[1] for line in lines[1:]]
    assert admitted == sorted(admitted), "rows come in admission order"


def test_iter_courses_of_chosen_admissions_keeps_their_order(db: Database) -> None:
    courses = {c.patient.id: c for c in (load_course(p) for p in DEMO[:4])}
    for course in courses.values():
        import_course(db, course)
    ids = admission_ids(db)
    chosen = [ids[2], ids[0], ids[3]]
    loaded = list(iter_courses(db, batch_size=2, admissions=chosen))
    expected = [c.patient.id for c in iter_courses(db)]
    assert [c.patient.id for c in loaded] == [expected[2], expected[0], expected[3]]
    assert all(c == courses[c.patient.id] for c in loaded)


def test_workers_must_be_a_positive_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["assess", "--db", "--workers", "0"])
    assert "positive" in capsys.readouterr().err


def test_iter_courses_reads_only_current_records_like_one_course_reads(db: Database) -> None:
    for path in DEMO[:3]:
        import_course(db, load_course(path))
    with db.write_session() as session:
        nurse = User(username="nurse.ada", display_name="Ada Nurse", role="nurse")
        session.add(nurse)
        session.flush()
        rows = list(session.scalars(select(Observation).order_by(Observation.id)))
        amended, withdrawn = rows[3], rows[-2]
        assert amended.value is not None
        correct_observation(
            session, amended, by=nurse, reason="typo", value=amended.value + 1, entered_value="7"
        )
        correct_observation(
            session, withdrawn, by=nurse, reason="wrong chart", entered_in_error=True
        )
    ids = admission_ids(db)
    cohort = list(iter_courses(db, batch_size=2))
    one_by_one = [load_course_from_db(db, admission_id) for admission_id in ids]
    assert cohort == one_by_one
    stored = sum(len(course.observations) for course in (load_course(p) for p in DEMO[:3]))
    assert sum(len(course.observations) for course in cohort) == stored - 1
    assert any(o.entered_value == 7 for course in cohort for o in course.observations)
