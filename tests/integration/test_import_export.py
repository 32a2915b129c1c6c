"""Import and export of course files: lossless, idempotent, all-or-nothing, on both backends."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select

from il2_tox.course import Course, CourseError, dump_course, load_course
from il2_tox.services import (
    NotFound,
    course_io,
    export_course,
    import_course,
    import_files,
    list_admissions,
    load_course_from_db,
)
from il2_tox.services.users import SystemActor
from il2_tox.store import Database
from il2_tox.store.models import Admission, AuditEvent, Dose, Observation, Patient, User
from tests.builders import ADMITTED, CourseBuilder
from tests.strategies import courses

TESTER = SystemActor("test")  # exports name who makes them

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "example-course.json"


def in_stored_order(course: Course) -> Course:
    """Return the course as export orders it: observations by time, doses by cycle and number."""
    return dataclasses.replace(
        course,
        observations=tuple(sorted(course.observations, key=lambda o: o.time)),
        doses=tuple(sorted(course.doses, key=lambda d: (d.cycle, d.number))),
    )


def row_counts(db: Database) -> dict[str, int]:
    with db.read_session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Patient, Admission, Dose, Observation, AuditEvent)
        }


def si_course(patient_id: str = "MRN-SI") -> Course:
    """Return a course typed in SI units, °F and lb, with a coded value and a volume."""
    return (
        CourseBuilder(patient_id=patient_id)
        .obs("2160-0", 97, "umol/L", at=1, ref_high=106)
        .obs("1975-2", 20.5, "umol/L", at=1)
        .obs("1751-7", 31, "g/L", at=1, ref_low=34)
        .obs("8310-5", 101.3, "[degF]", at=3)
        .obs("29463-7", 160.5, "[lb_av]", at=3)
        .obs("9187-6", 240, "mL", at=8, period_h=8)
        .obs("il2tox:rales", "bases", at=8)
        .prior("colitis", grade=3, resolved=None, note="infliximab ×2")
        .history(brain_metastases="treated_stable", ecog=1, prior_therapies=["nivolumab"])
        .dose(1, 2, at=10, status="held", reason="SBP 82 on phenylephrine")
        .dose(1, 1, at=2)
        .build()
    )


def test_it_exports_the_example_course_as_it_was_imported(db: Database) -> None:
    course = load_course(EXAMPLE)
    assert import_course(db, course).status == "loaded"
    assert export_course(db, "MRN-0001", actor=TESTER) == in_stored_order(course)


def test_it_keeps_values_and_units_as_entered(db: Database) -> None:
    course = si_course()
    import_course(db, course)
    exported = export_course(db, "MRN-SI", actor=TESTER)
    assert dump_course(exported) == dump_course(in_stored_order(course))
    creatinine = next(o for o in exported.observations if o.code == "2160-0")
    assert (creatinine.entered_value, creatinine.entered_unit) == (97, "umol/L")
    assert creatinine.value == pytest.approx(97 / 88.4)
    assert creatinine.unit == "mg/dL"


def test_it_round_trips_any_valid_course(db: Database, backend: str) -> None:
    unique = itertools.count()

    @settings(
        max_examples=100 if backend == "sqlite" else 30,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(courses())
    def round_trip(course: Course) -> None:
        # One database for all examples: give each its own MRN.
        patient = dataclasses.replace(course.patient, id=f"{next(unique)}~{course.patient.id}"[:64])
        course = dataclasses.replace(course, patient=patient)
        assert import_course(db, course).status == "loaded"
        exported = export_course(db, patient.id, actor=TESTER)
        assert exported == in_stored_order(course)
        assert dump_course(exported) == dump_course(in_stored_order(course))

    round_trip()


def test_it_reports_a_reimport_as_already_loaded_and_changes_nothing(db: Database) -> None:
    course = si_course()
    first = import_course(db, course)
    before = row_counts(db)
    again = import_course(db, course)
    assert (again.status, again.admission_id) == ("already_loaded", first.admission_id)
    assert row_counts(db) == before


def test_it_loads_a_course_once_when_two_imports_race(db: Database) -> None:
    for attempt in range(3):
        course = si_course(f"MRN-RACE-{attempt}")
        start = threading.Barrier(2)

        def import_at_start(course: Course = course, start: threading.Barrier = start) -> str:
            start.wait()
            return import_course(db, course).status

        with ThreadPoolExecutor(max_workers=2) as pool:
            statuses = sorted(pool.map(lambda _: import_at_start(), range(2)))
        assert statuses == ["already_loaded", "loaded"]
    assert row_counts(db)["admissions"] == 3


def test_it_refuses_a_reimport_whose_content_differs(db: Database) -> None:
    import_course(db, si_course())
    before = row_counts(db)
    changed = CourseBuilder(patient_id="MRN-SI").obs("8480-6", 90, "mm[Hg]", at=4).build()
    changed = dataclasses.replace(changed, patient=si_course().patient)
    with pytest.raises(CourseError, match="already stored with different content") as refused:
        import_course(db, changed)
    assert refused.value.field == "admission.admitted_at"
    assert row_counts(db) == before


def test_it_refuses_a_known_mrn_with_other_demographics(db: Database) -> None:
    import_course(db, si_course())
    other = si_course()
    other = dataclasses.replace(
        other,
        patient=dataclasses.replace(other.patient, name="Someone, Else"),
        admission=dataclasses.replace(other.admission, admitted_at=ADMITTED.replace(month=12)),
    )
    before = row_counts(db)
    with pytest.raises(CourseError, match="differs from") as refused:
        import_course(db, other)
    assert refused.value.field == "patient.name"
    assert row_counts(db) == before


def test_it_refuses_a_nul_character_on_every_backend(db: Database) -> None:
    course = CourseBuilder(patient_id="MRN-NUL").dose(1, 1, at=1, reason="held\x00").build()
    with pytest.raises(CourseError, match="NUL") as refused:
        import_course(db, course)
    assert refused.value.field == "doses[0].reason"
    assert row_counts(db)["patients"] == 0


def test_it_writes_nothing_when_a_course_fails_halfway(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_at_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(course_io, "record_event", fail_at_audit)
    with pytest.raises(RuntimeError, match="disk full"):
        import_course(db, si_course())
    assert row_counts(db) == dict.fromkeys(row_counts(db), 0)


def test_it_refuses_a_bad_file_and_still_loads_the_others(
    db: Database, course_file: Callable[..., Path]
) -> None:
    good = course_file(si_course("MRN-GOOD-1"), "a.json")
    bad_doc = CourseBuilder(patient_id="MRN-BAD").obs("8480-6", 120, "mm[Hg]", at=1).document()
    bad_doc["observations"].append(
        {"time": "2026-11-20T09:00:00Z", "code": "8867-4", "value": 400, "unit": "/min"}
    )
    bad = course_file(bad_doc, "b.json")
    other = course_file(si_course("MRN-GOOD-2"), "c.json")
    results = import_files(db, [good, bad, other], progress=False)
    assert [r.status for r in results] == ["loaded", "refused", "loaded"]
    assert results[1].error is not None and results[1].error.field == "observations[1].value"
    assert results[1].describe().startswith(f"{bad}: observations[1].value: 400")
    assert {a.patient_id for a in list_admissions(db)} == {"MRN-GOOD-1", "MRN-GOOD-2"}


def test_it_reports_a_missing_file_as_refused(db: Database, tmp_path: Path) -> None:
    (result,) = import_files(db, [tmp_path / "missing.json"], progress=False)
    assert result.refused
    assert (
        result.describe()
        == f"{tmp_path / 'missing.json'}: file: {tmp_path / 'missing.json'} does not exist"
    )


def test_it_records_the_import_in_the_audit_log(db: Database) -> None:
    result = import_course(db, si_course(), source="ward-7b.json")
    with db.read_session() as session:
        (event,) = session.scalars(select(AuditEvent)).all()
    assert (event.actor, event.action, event.entity, event.entity_id) == (
        "import",
        "import",
        "admission",
        str(result.admission_id),
    )
    assert event.after == {
        "patient": "MRN-SI",
        "admitted_at": "2026-11-20T06:00:00+00:00",
        "observations": 7,
        "doses": 2,
        "prior_toxicities": 1,
        "source": "ward-7b.json",
    }


def test_it_records_who_imported_as_a_system_user_that_cannot_sign_in(db: Database) -> None:
    import_course(db, si_course("MRN-1"), recorded_by="lab-feed")
    import_course(db, si_course("MRN-2"), recorded_by="lab-feed")
    with db.read_session() as session:
        (user,) = session.scalars(select(User)).all()
        recorders = set(session.scalars(select(Observation.recorded_by)))
    assert (user.username, user.role, user.active, user.password_hash) == (
        "lab-feed",
        "system",
        False,
        None,
    )
    assert recorders == {user.id}


def test_it_exports_the_latest_admission_unless_told_which(db: Database) -> None:
    first = si_course("MRN-TWICE")
    second = dataclasses.replace(
        first,
        patient=dataclasses.replace(first.patient, weight_kg=68.5),
        admission=dataclasses.replace(first.admission, admitted_at=ADMITTED.replace(month=12)),
        observations=first.observations[:2],
    )
    import_course(db, second)
    import_course(db, first)
    assert export_course(db, "MRN-TWICE", actor=TESTER) == in_stored_order(second)
    earlier = export_course(db, "MRN-TWICE", admitted_at=ADMITTED, actor=TESTER)
    assert earlier == in_stored_order(first)
    assert earlier.patient.weight_kg == first.patient.weight_kg  # each admission its own dry weight


def test_it_says_which_patient_or_admission_it_cannot_find(db: Database) -> None:
    import_course(db, si_course())
    with pytest.raises(NotFound, match="no patient MRN-NOBODY"):
        export_course(db, "MRN-NOBODY", actor=TESTER)
    with pytest.raises(
        NotFound, match="no admission of MRN-SI admitted 2026-01-01T00:00:00\\+00:00"
    ):
        export_course(
            db, "MRN-SI", admitted_at=ADMITTED.replace(month=1, day=1, hour=0), actor=TESTER
        )
    with pytest.raises(NotFound, match="no admission 999"):
        load_course_from_db(db, 999)


def test_it_loads_a_course_by_admission_id(db: Database) -> None:
    result = import_course(db, si_course())
    assert result.admission_id is not None
    assert load_course_from_db(db, result.admission_id) == in_stored_order(si_course())


def test_it_lists_current_admissions_with_latest_dose_and_observation_count(db: Database) -> None:
    import_course(db, si_course("MRN-A"))
    import_course(db, CourseBuilder(patient_id="MRN-B").obs("8480-6", 120, "mm[Hg]", at=1).build())
    a, b = list_admissions(db)  # same ward 7B, bed 1: by admission time, then as stored
    assert (a.patient_id, a.ward, a.bed, a.admitted_at, a.name) == (
        "MRN-A",
        "7B",
        "1",
        ADMITTED,
        "Test, Pat",
    )
    assert (a.latest_dose_cycle, a.latest_dose_number, a.latest_dose_status, a.observations) == (
        1,
        2,
        "held",
        7,
    )
    assert (b.patient_id, b.latest_dose_cycle, b.latest_dose_number, b.observations) == (
        "MRN-B",
        None,
        None,
        1,
    )


def test_it_leaves_discharged_admissions_off_the_ward_list(db: Database) -> None:
    import_course(db, si_course("MRN-HOME"))
    import_course(db, si_course("MRN-STAYS"))
    with db.write_session() as session:
        admission = session.scalars(
            select(Admission).join(Patient).where(Patient.mrn == "MRN-HOME")
        ).one()
        admission.discharged_at = ADMITTED.replace(day=25)
    assert [a.patient_id for a in list_admissions(db)] == ["MRN-STAYS"]
