"""Late entries: the chart's read of when each observation was observed and recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from il2_tox.services import import_course
from il2_tox.services.chart import LATE_ENTRY_AFTER, change_marker, entry_timings, late_entries
from il2_tox.store import Database
from il2_tox.store.models import Observation, User
from il2_tox.store.records import correct_observation
from tests.builders import ADMITTED, CourseBuilder

HR = "8867-4"
SBP = "8480-6"


@pytest.fixture
def admission_id(db: Database) -> int:
    """Import a course with one SBP at 2 h; the import is a bulk load, never late."""
    result = import_course(
        db, CourseBuilder(patient_id="MRN-LATE").obs(SBP, 112, "mm[Hg]", at=2).build()
    )
    assert result.admission_id is not None
    return result.admission_id


@pytest.fixture
def nurse(db: Database) -> User:
    with db.write_session() as session:
        user = User(username="nurse.ada", display_name="Ada Nurse", role="nurse")
        session.add(user)
    return user


def _type_hr(db: Database, admission_id: int, nurse: User, *, after: timedelta) -> None:
    """Record an HR observed at 4 h, typed `after` that by the nurse."""
    observed = ADMITTED + timedelta(hours=4)
    with db.write_session() as session:
        session.add(
            Observation(
                admission_id=admission_id,
                observed_at=observed,
                recorded_at=observed + after,
                recorded_by=nurse.id,
                code=HR,
                value=96.0,
                unit="/min",
                entered_value="96",
                entered_unit="/min",
            )
        )


def test_it_never_calls_an_imported_observation_late(db: Database, admission_id: int) -> None:
    (timing,) = entry_timings(db, admission_id)
    assert timing.bulk
    assert timing.delay > LATE_ENTRY_AFTER  # loaded days after it was observed...
    assert late_entries(db, admission_id) == []  # ...but an import is not a late entry


def test_it_marks_an_entry_typed_more_than_an_hour_after_observation(
    db: Database, admission_id: int, nurse: User
) -> None:
    _type_hr(db, admission_id, nurse, after=LATE_ENTRY_AFTER + timedelta(minutes=1))
    (late,) = late_entries(db, admission_id)
    assert late.code == HR
    assert late.recorded_by == "Ada Nurse"
    assert late.observed_at == ADMITTED + timedelta(hours=4)
    assert late.delay == timedelta(hours=1, minutes=1)


def test_it_does_not_mark_an_entry_typed_within_the_hour(
    db: Database, admission_id: int, nurse: User
) -> None:
    _type_hr(db, admission_id, nurse, after=LATE_ENTRY_AFTER)
    assert late_entries(db, admission_id) == []
    assert [t.code for t in entry_timings(db, admission_id)] == [SBP, HR]


def test_it_times_a_corrected_value_by_its_correction(
    db: Database, admission_id: int, nurse: User
) -> None:
    with db.write_session() as session:
        original = session.scalars(select(Observation).where(Observation.code == SBP)).one()
        user = session.get(User, nurse.id)
        assert user is not None
        correct_observation(session, original, by=user, reason="typo", value=118.0)
    (timing,) = entry_timings(db, admission_id)
    assert not timing.bulk
    assert timing.recorded_by == "Ada Nurse"
    assert timing.late  # typed now, for a value observed in 2026-11


def test_the_change_marker_moves_on_every_write_and_only_then(
    db: Database, admission_id: int, nurse: User
) -> None:
    before = change_marker(db, admission_id)
    ward_before = change_marker(db)
    assert change_marker(db, admission_id) == before
    _type_hr(db, admission_id, nurse, after=timedelta(minutes=5))
    assert change_marker(db, admission_id) != before
    assert change_marker(db) != ward_before


def test_the_ward_marker_moves_when_a_patient_is_admitted(db: Database, admission_id: int) -> None:
    before = change_marker(db)
    import_course(db, CourseBuilder(patient_id="MRN-NEW").build())
    assert change_marker(db) != before
    assert change_marker(db)[3] == before[3] + 1
