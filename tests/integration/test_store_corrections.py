"""Append-only records: the database refuses to change the audit log, observations and doses;
a correction is a new row and the original stays as it was."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from il2_tox.services import export_course, import_course
from il2_tox.services.users import SystemActor
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent, Dose, Observation, User
from il2_tox.store.records import correct_observation, current_observations, record_event
from tests.builders import CourseBuilder

TESTER = SystemActor("test")  # exports name who makes them

SBP = "8480-6"


@pytest.fixture
def admission_id(db: Database) -> int:
    """Import a small course (SBP 112 and 84, ACVPU A, one dose) and return its admission id."""
    course = (
        CourseBuilder(patient_id="MRN-CORR")
        .obs(SBP, 112, "mm[Hg]", at=1)
        .obs(SBP, 84, "mm[Hg]", at=5)
        .obs("il2tox:acvpu", "A", at=5)
        .dose(1, 1, at=2)
        .build()
    )
    result = import_course(db, course)
    assert result.admission_id is not None
    return result.admission_id


@pytest.fixture
def nurse(db: Database) -> User:
    with db.write_session() as session:
        user = User(username="nurse.ada", display_name="Ada Nurse", role="nurse")
        session.add(user)
    return user


def _sbp_rows(db: Database) -> list[Observation]:
    with db.read_session() as session:
        query = select(Observation).where(Observation.code == SBP).order_by(Observation.id)
        return list(session.scalars(query))


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"]
)
def test_it_refuses_to_change_the_audit_log(
    db: Database, admission_id: int, statement: str
) -> None:
    with (
        pytest.raises(IntegrityError, match="audit_log is append-only"),
        db.write_session() as session,
    ):
        session.execute(text(statement))
    with db.read_session() as session:
        assert session.scalars(select(AuditEvent.actor)).all() == ["import"]


@pytest.mark.parametrize(
    "statement",
    ["UPDATE observations SET value = 200 WHERE code = '8480-6'", "DELETE FROM observations"],
)
def test_it_refuses_to_change_observations(db: Database, admission_id: int, statement: str) -> None:
    with (
        pytest.raises(IntegrityError, match="observations is append-only"),
        db.write_session() as session,
    ):
        session.execute(text(statement))
    assert [row.value for row in _sbp_rows(db)] == [112, 84]


@pytest.mark.parametrize("statement", ["UPDATE doses SET status = 'held'", "DELETE FROM doses"])
def test_it_refuses_to_change_doses(db: Database, admission_id: int, statement: str) -> None:
    with pytest.raises(IntegrityError, match="doses is append-only"), db.write_session() as session:
        session.execute(text(statement))
    with db.read_session() as session:
        assert session.scalars(select(Dose.status)).all() == ["given"]


def test_it_keeps_the_original_row_when_an_observation_is_amended(
    db: Database, admission_id: int, nurse: User
) -> None:
    original = _sbp_rows(db)[1]
    with db.write_session() as session:
        correct_observation(
            session, original, by=nurse, reason="typed 84 for 94", value=94.0, entered_value="94"
        )
    rows = _sbp_rows(db)
    assert [(r.value, r.status, r.supersedes_id) for r in rows] == [
        (112, "final", None),
        (84, "final", None),
        (94, "amended", original.id),
    ]
    assert rows[2].correction_reason == "typed 84 for 94"
    assert rows[2].recorded_by == nurse.id
    exported = export_course(db, "MRN-CORR", actor=TESTER)
    assert [o.value for o in exported.observations if o.code == SBP] == [112, 94]
    assert [o.entered_value for o in exported.observations if o.code == SBP] == [112, 94]


def test_it_keeps_an_observation_entered_in_error_but_no_longer_counts_it(
    db: Database, admission_id: int, nurse: User
) -> None:
    wrong = _sbp_rows(db)[1]
    with db.write_session() as session:
        correct_observation(
            session, wrong, by=nurse, reason="other patient's chart", entered_in_error=True
        )
    rows = _sbp_rows(db)
    assert [(r.value, r.status) for r in rows] == [
        (112, "final"),
        (84, "final"),
        (84, "entered_in_error"),
    ]
    with db.read_session() as session:
        current = session.scalars(current_observations(admission_id)).all()
    assert [o.value for o in current if o.code == SBP] == [112]


def test_it_refuses_a_second_correction_of_the_same_row(
    db: Database, admission_id: int, nurse: User
) -> None:
    original = _sbp_rows(db)[1]
    with db.write_session() as session:
        correct_observation(session, original, by=nurse, reason="first", value=94.0)
    with pytest.raises(IntegrityError), db.write_session() as session:
        correct_observation(
            session, original, by=nurse, reason="second, from a stale screen", value=95.0
        )
    assert [r.value for r in _sbp_rows(db)] == [112, 84, 94]


def test_it_refuses_a_correction_without_a_reason(
    db: Database, admission_id: int, nurse: User
) -> None:
    original = _sbp_rows(db)[1]
    with pytest.raises(ValueError, match="reason"), db.write_session() as session:
        correct_observation(session, original, by=nurse, reason="  ", value=94.0)
    assert len(_sbp_rows(db)) == 2


def test_it_refuses_an_amended_row_that_names_no_original(
    db: Database, admission_id: int, nurse: User
) -> None:
    with pytest.raises(IntegrityError, match="correction"), db.write_session() as session:
        session.add(
            Observation(
                admission_id=admission_id,
                observed_at=_sbp_rows(db)[0].observed_at,
                recorded_by=nurse.id,
                code=SBP,
                value=90.0,
                unit="mm[Hg]",
                status="amended",
                correction_reason="no original named",
            )
        )
        session.flush()


def test_it_appends_audit_entries_in_the_callers_transaction(
    db: Database, admission_id: int
) -> None:
    with pytest.raises(RuntimeError), db.write_session() as session:
        record_event(
            session, actor="nurse.ada", action="view", entity="admission", entity_id=admission_id
        )
        raise RuntimeError("the use case failed after auditing")
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 1  # the import's
