"""Cohort mode: `assess --db` assesses every admission in the database, one CSV row per flag."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from il2_tox.__main__ import main
from il2_tox.assess import assess
from il2_tox.course import Course, load_course
from il2_tox.services import import_course, iter_courses
from il2_tox.store import Database
from tests.integration.conftest import REPO_ROOT

DEMO = sorted((REPO_ROOT / "data" / "demo").glob("*.json"))
CHOSEN = [DEMO[2], DEMO[4], DEMO[8]]  # leak, ICI hepatitis, SI units


def test_iter_courses_gives_back_every_admission_as_imported(db: Database) -> None:
    courses = [load_course(path) for path in CHOSEN]
    for course in courses:
        import_course(db, course)
    loaded = {c.patient.id: c for c in iter_courses(db, batch_size=2)}
    assert loaded == {c.patient.id: c for c in courses}


def test_it_writes_one_row_per_flag_the_engine_raises(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    courses = [load_course(path) for path in CHOSEN]
    for course in courses:
        import_course(db, course)
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    out = tmp_path / "cohort.csv"
    assert main(["assess", "--db", "--out", str(out)]) == 0
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = sorted(
        (c.patient.id, f.code, f.time.isoformat()) for c in courses for f in assess(c).flags
    )
    assert expected, "the chosen demo courses raise flags"
    assert sorted((r["patient_id"], r["code"], r["time"]) for r in rows) == expected
    assert all(r["source"] for r in rows)


def test_an_empty_database_gives_a_header_only(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IL2TOX_DATABASE_URL", database_url)
    out = tmp_path / "cohort.csv"
    assert main(["assess", "--db", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        "patient_id,admitted_at,category,severity,code,time,cycle,after_dose,active,message,source"
    ]


def test_it_refuses_files_and_db_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "--db", str(DEMO[0])]) == 2
    assert "not both" in capsys.readouterr().err


def test_iter_courses_gives_numbers_back_as_floats_and_coded_readings_as_text(
    db: Database,
) -> None:
    course = load_course(CHOSEN[0])
    import_course(db, course)
    (back,) = iter_courses(db)

    def readings(c: Course) -> list[tuple[object, ...]]:
        return sorted(
            (o.time, o.code, str(o.value), isinstance(o.value, str)) for o in c.observations
        )

    assert readings(back) == readings(course)
    assert all(type(o.value) in (float, str) for o in back.observations)
    whole = [o for o in back.observations if isinstance(o.value, float) and o.value.is_integer()]
    assert whole  # a whole number read back (98.0, not 98): SQLite's COALESCE keeps REAL
