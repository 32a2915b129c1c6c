"""Bedside imports: a CSV of observations for one admission (all rows or none), and a course
file, by a signed-in nurse. Persona: Ada (nurse). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from il2_tox import course as c
from il2_tox.services import import_course
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.observation_import import (
    import_course_text,
    import_observation_csv,
    parse_observation_csv,
)
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.store import Database
from il2_tox.store.models import Observation
from tests.builders import CourseBuilder

HEADER = "time,code,value,unit,period_h,ref_low,ref_high"
LABS = "\n".join(
    [
        HEADER,
        "2026-11-21T06:00:00+00:00,1742-6,88,U/L,,,40",
        "2026-11-21T06:00:00+00:00,2160-0,132,umol/L,,,",
        "2026-11-21T08:00:00Z,9187-6,240,mL,8,,",
        "2026-11-21T08:00:00Z,il2tox:acvpu,A,,,,",
    ]
)


@pytest.fixture
def ada(db: Database) -> SignedIn:
    add_user(db, "ada", "nurse", "ada-password", "Ada", actor=SystemActor("test"))
    signed_in = authenticate(db, "ada", "ada-password")
    assert signed_in is not None
    return signed_in


@pytest.fixture
def admission_id(db: Database) -> int:
    result = import_course(db, CourseBuilder(patient_id="MRN-CSV").build())
    assert result.admission_id is not None
    return result.admission_id


def observations(db: Database) -> int:
    with db.read_session() as session:
        return int(session.scalar(select(func.count()).select_from(Observation)) or 0)


def test_it_stores_every_row_in_sets_by_time_with_units_and_limits(
    db: Database, ada: SignedIn, admission_id: int
) -> None:
    result = import_observation_csv(db, admission_id, LABS, ada, "csv-1")
    assert len(result.observation_ids) == 4
    assert [n for _, n in result.sets] == [2, 2]
    assert result.backdated  # observed days before it was imported
    with db.read_session() as session:
        creatinine = session.scalars(select(Observation).where(Observation.code == "2160-0")).one()
        alt = session.scalars(select(Observation).where(Observation.code == "1742-6")).one()
    assert creatinine.unit == "mg/dL" and creatinine.entered_unit == "umol/L"
    assert creatinine.value == pytest.approx(132 / 88.4)
    assert alt.ref_high == 40


def test_the_same_file_sent_twice_stores_nothing_twice(
    db: Database, ada: SignedIn, admission_id: int
) -> None:
    first = import_observation_csv(db, admission_id, LABS, ada, "csv-1")
    again = import_observation_csv(db, admission_id, LABS, ada, "csv-1")
    assert again.replayed
    assert again.observation_ids == first.observation_ids
    assert observations(db) == 4


def test_one_bad_row_refuses_the_whole_file_naming_each_row_and_field(
    db: Database, ada: SignedIn, admission_id: int
) -> None:
    text = (
        LABS + "\n2026-11-21T09:00:00Z,8867-4,400,/min,,,\n2026-11-21T09:00:00,8480-6,x,mm[Hg],,,"
    )
    with pytest.raises(Refused) as refused:
        import_observation_csv(db, admission_id, text, ada, "csv-2")
    assert set(refused.value.errors) == {"row 6.value", "row 7.time"}
    assert observations(db) == 0


def test_it_refuses_a_row_in_the_future_or_a_code_twice_at_one_time(
    db: Database, ada: SignedIn, admission_id: int
) -> None:
    text = "\n".join(
        [
            HEADER,
            "2099-01-01T00:00:00Z,8867-4,80,/min,,,",
            "2026-11-21T06:00:00Z,8867-4,80,/min,,,",
            "2026-11-21T06:00:00Z,8867-4,82,/min,,,",
        ]
    )
    with pytest.raises(Refused) as refused:
        import_observation_csv(db, admission_id, text, ada, "csv-3")
    assert "is in the future" in refused.value.errors["row 2.time"]
    assert refused.value.errors["row 4.code"] == "8867-4 is already in row 3 at the same time"
    assert observations(db) == 0


def test_it_names_missing_and_unknown_columns() -> None:
    with pytest.raises(Refused) as refused:
        parse_observation_csv("time,code,amount\n")
    assert refused.value.errors["row 1"].startswith(
        "missing column(s) value, unit; unknown column(s) amount"
    )


def test_a_signed_out_import_is_refused(db: Database, admission_id: int) -> None:
    with pytest.raises(PermissionDenied):
        import_observation_csv(db, admission_id, LABS, None, "csv-4")
    assert observations(db) == 0


def test_a_nurse_imports_a_course_file_recorded_as_hers(db: Database, ada: SignedIn) -> None:
    text = json.dumps(c.course_to_dict(CourseBuilder(patient_id="MRN-FILE").build()))
    result = import_course_text(db, text, ada, "MRN-FILE.json")
    assert result.status == "loaded"
    assert import_course_text(db, text, ada, "MRN-FILE.json").status == "already_loaded"


def test_an_invalid_course_file_is_refused_naming_the_field(db: Database, ada: SignedIn) -> None:
    document = c.course_to_dict(CourseBuilder(patient_id="MRN-BAD").build())
    document["patient"]["weight_kg"] = -1
    with pytest.raises(Refused) as refused:
        import_course_text(db, json.dumps(document), ada)
    assert refused.value.field == "patient.weight_kg"
