"""Bedside use cases: observation sets, doses, flag acknowledgements, admissions.

Personas: Ada (nurse), Grace (physician), Root (admin). Every case runs on SQLite and
PostgreSQL. Courses are admitted a week before the test's clock (tests.builders.ADMITTED).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from il2_tox import course as c
from il2_tox.services import bedside, import_course, load_course_from_db
from il2_tox.services.bedside import (
    BACKDATED_AFTER,
    Entry,
    acknowledge_flag,
    active_acknowledgements,
    admit_patient,
    eligibility_acknowledged,
    pending_eligibility_flags,
    record_dose,
    record_observations,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn, SystemActor, add_user, authenticate
from il2_tox.store import Database
from il2_tox.store.models import AuditEvent, Dose, FlagAcknowledgement, Observation, User
from tests.builders import ADMITTED, CourseBuilder
from tests.integration.interleave import twin_commits_after_key_lookup

HR, SBP, TEMP, URINE, ACVPU = "8867-4", "8480-6", "8310-5", "9187-6", "il2tox:acvpu"
STEROIDS = "eligibility.systemic_steroids"


def now() -> datetime:
    return datetime.now(UTC)


def sign_up(db: Database, username: str, role: str) -> SignedIn:
    password = f"{username}-password"
    add_user(db, username, role, password, username.title(), actor=SystemActor("test"))
    signed_in = authenticate(db, username, password)
    assert signed_in is not None
    return signed_in


@pytest.fixture
def ada(db: Database) -> SignedIn:
    return sign_up(db, "ada", "nurse")


@pytest.fixture
def grace(db: Database) -> SignedIn:
    return sign_up(db, "grace", "physician")


@pytest.fixture
def root(db: Database) -> SignedIn:
    return sign_up(db, "root", "admin")


def admit(db: Database, builder: CourseBuilder) -> int:
    result = import_course(db, builder.build())
    assert result.admission_id is not None
    return result.admission_id


@pytest.fixture
def admission_id(db: Database) -> int:
    """A patient (usual SBP 118: target 85) with an SBP of 112 on admission, no dose yet."""
    return admit(db, CourseBuilder(patient_id="MRN-BED").obs(SBP, 112, "mm[Hg]", at=1))


@pytest.fixture
def on_steroids(db: Database) -> int:
    """A patient on systemic steroids: one eligibility flag to acknowledge before dose 1."""
    return admit(db, CourseBuilder(patient_id="MRN-STER").history(systemic_steroids=True))


def with_doses(count: int, cycle: int = 1, start: float = 2) -> CourseBuilder:
    builder = CourseBuilder(patient_id=f"MRN-D{count}")
    for number in range(1, count + 1):
        builder.dose(cycle, number, at=start + 8 * (number - 1))
    return builder


def count(db: Database, model: type[Observation] | type[Dose] | type[AuditEvent]) -> int:
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def audit(db: Database, action: str) -> list[AuditEvent]:
    with db.read_session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.scalars(query))


def refused_fields(error: pytest.ExceptionInfo[Refused]) -> set[str]:
    return set(error.value.errors)


PRE_DOSE_SET = [
    Entry(HR, 96, "/min"),
    Entry(SBP, 84, "mm[Hg]"),
    Entry(TEMP, 101.3, "[degF]"),
    Entry(ACVPU, "A"),
    Entry(URINE, 150, "mL", 4),
]


# -- observation sets -----------------------------------------------------------------------------


def test_a_nurse_records_a_set_and_sees_the_next_dose_advice_at_once(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    observed = now() - timedelta(minutes=5)
    result = record_observations(db, admission_id, PRE_DOSE_SET, observed, ada, "form-1")
    assert len(result.observation_ids) == 5
    assert (result.observed_at, result.backdated, result.replayed) == (observed, False, False)
    assert result.next_dose is not None
    assert (result.next_dose.cycle, result.next_dose.number) == (1, 1)
    assert result.next_dose.advice == "hold"  # SBP 84 < target 85
    assert any(SBP in criterion.message for criterion in result.next_dose.criteria) or any(
        "SBP" in criterion.message for criterion in result.next_dose.criteria
    )


def test_values_are_stored_canonical_with_what_was_typed_by_the_signed_in_user(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    record_observations(db, admission_id, [Entry(TEMP, 101.3, "[degF]")], now(), ada, "form-1")
    with db.read_session() as session:
        row = session.scalars(select(Observation).where(Observation.code == TEMP)).one()
    assert row.unit == "Cel"
    assert row.value == pytest.approx(38.5)
    assert (row.entered_value, row.entered_unit) == ("101.3", "[degF]")
    assert row.recorded_by == ada.user_id
    assert abs(row.recorded_at - now()) < timedelta(minutes=1)


def test_it_collects_every_field_error_before_writing_anything(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    before = count(db, Observation)
    with pytest.raises(Refused) as refused:
        record_observations(
            db,
            admission_id,
            [
                Entry(HR, 400, "/min"),  # outside the hard limits
                Entry(SBP, 84, "mmHg"),  # not the UCUM unit
                Entry(ACVPU, "X"),  # not a coded value
                Entry(URINE, 150, "mL"),  # a volume needs its period
                Entry(TEMP, 37.2, "Cel"),  # fine, but not stored alone
            ],
            now(),
            ada,
            "form-1",
        )
    assert refused.value.errors.keys() == {
        f"{HR}.value",
        f"{SBP}.unit",
        f"{ACVPU}.value",
        f"{URINE}.period_h",
    }
    assert "outside the possible range" in refused.value.errors[f"{HR}.value"]
    assert "use mm[Hg]" in refused.value.errors[f"{SBP}.unit"]
    assert count(db, Observation) == before
    assert audit(db, "record_observations") == []


def test_a_bad_time_is_reported_beside_the_bad_values(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(
            db, admission_id, [Entry(HR, 400, "/min")], now() + timedelta(hours=1), ada, "k"
        )
    assert refused_fields(refused) == {"observed_at", f"{HR}.value"}


def test_it_refuses_an_observation_time_in_the_future(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(
            db, admission_id, [Entry(HR, 96, "/min")], now() + timedelta(minutes=10), ada, "k1"
        )
    assert refused.value.field == "observed_at"
    assert "is in the future" in refused.value.errors["observed_at"]
    # A bedside clock a minute fast is not "the future".
    ahead = now() + timedelta(minutes=1)
    assert record_observations(db, admission_id, [Entry(HR, 96, "/min")], ahead, ada, "k2")


def test_it_refuses_an_observation_time_before_the_admission(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(
            db, admission_id, [Entry(HR, 96, "/min")], ADMITTED - timedelta(hours=1), ada, "k"
        )
    assert refused.value.errors == {
        "observed_at": "2026-11-20T05:00:00+00:00 is before the admission "
        "(2026-11-20T06:00:00+00:00)"
    }


def test_it_refuses_a_time_without_a_time_zone(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    naive = datetime.now() - timedelta(hours=2)  # naive on purpose
    with pytest.raises(Refused) as refused:
        record_observations(db, admission_id, [Entry(HR, 96, "/min")], naive, ada, "k")
    assert refused.value.field == "observed_at"


def test_a_second_submission_with_the_same_key_stores_nothing_twice(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    observed = now() - timedelta(minutes=5)
    first = record_observations(db, admission_id, PRE_DOSE_SET, observed, ada, "form-1")
    rows = count(db, Observation)
    again = record_observations(db, admission_id, PRE_DOSE_SET, observed, ada, "form-1")
    assert again.replayed
    assert replace(again, replayed=False) == first
    assert count(db, Observation) == rows
    assert len(audit(db, "record_observations")) == 1


def at_once(submit: Callable[[], object], times: int = 2) -> list[object]:
    """Run `submit` in `times` threads released together; return their results."""
    barrier = threading.Barrier(times)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        results.append(submit())

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == times, "a submission raised (see the thread's traceback)"
    return results


def test_two_submissions_of_one_form_at_the_same_moment_store_one_set(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    observed = now() - timedelta(minutes=5)
    rows = count(db, Observation)
    results = at_once(
        lambda: record_observations(db, admission_id, PRE_DOSE_SET, observed, ada, "form-1")
    )
    assert count(db, Observation) == rows + len(PRE_DOSE_SET)
    assert [r.replayed for r in results if isinstance(r, bedside.RecordResult)].count(True) == 1
    assert len({r.observation_ids for r in results if isinstance(r, bedside.RecordResult)}) == 1


def test_a_key_already_used_for_another_patient_is_refused(
    db: Database, admission_id: int, on_steroids: int, ada: SignedIn
) -> None:
    record_observations(db, admission_id, [Entry(HR, 96, "/min")], now(), ada, "form-1")
    with pytest.raises(Refused) as refused:
        record_observations(db, on_steroids, [Entry(HR, 96, "/min")], now(), ada, "form-1")
    assert refused.value.field == "idempotency_key"


@pytest.mark.parametrize("key", ["", "   ", "k" * 81])
def test_it_refuses_a_missing_or_overlong_key(
    db: Database, admission_id: int, ada: SignedIn, key: str
) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(db, admission_id, [Entry(HR, 96, "/min")], now(), ada, key)
    assert refused.value.field == "idempotency_key"


def test_an_entry_observed_over_an_hour_before_recording_is_backdated(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    late = now() - BACKDATED_AFTER - timedelta(minutes=1)
    on_time = now() - BACKDATED_AFTER + timedelta(minutes=1)
    assert record_observations(db, admission_id, [Entry(HR, 96, "/min")], late, ada, "a").backdated
    result = record_observations(db, admission_id, [Entry(HR, 97, "/min")], on_time, ada, "b")
    assert not result.backdated
    (first_event, _) = audit(db, "record_observations")
    assert first_event.after is not None and first_event.after["backdated"] is True


def test_blank_values_are_left_out_and_a_set_with_nothing_is_refused(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    blanks = [Entry(HR, None, "/min"), Entry(SBP, "  ", "mm[Hg]")]
    with pytest.raises(Refused) as refused:
        record_observations(db, admission_id, blanks, now(), ada, "a")
    assert refused.value.field == "entries"
    result = record_observations(
        db, admission_id, [*blanks, Entry(TEMP, 37, "Cel")], now(), ada, "b"
    )
    assert len(result.observation_ids) == 1


def test_numbers_typed_as_text_are_read_as_numbers(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    result = record_observations(
        db, admission_id, [Entry(HR, "96", "/min"), Entry(TEMP, "37,5", "Cel")], now(), ada, "a"
    )
    assert len(result.observation_ids) == 2
    with pytest.raises(Refused) as refused:
        record_observations(db, admission_id, [Entry(HR, "ninety", "/min")], now(), ada, "b")
    assert refused.value.errors == {f"{HR}.value": '"ninety" must be a number for heart rate'}


def test_a_code_entered_twice_in_one_set_is_refused(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(
            db, admission_id, [Entry(HR, 96, "/min"), Entry(HR, 98, "/min")], now(), ada, "a"
        )
    assert refused.value.errors == {f"{HR}.value": "is entered twice in one set"}


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (Entry("not-a-code", 1, None), "not-a-code.code"),
        (Entry(URINE, 150, "mL", 0), f"{URINE}.period_h"),
        (Entry(URINE, 150, "mL", 48), f"{URINE}.period_h"),
        (Entry(HR, 96, "/min", 4), f"{HR}.period_h"),
        (Entry(ACVPU, "A", "/min"), f"{ACVPU}.unit"),
        (Entry(HR, float("nan"), "/min"), f"{HR}.value"),
        (Entry(HR, True, "/min"), f"{HR}.value"),
    ],
)
def test_every_refused_entry_names_its_field(
    db: Database, admission_id: int, ada: SignedIn, entry: Entry, field: str
) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(db, admission_id, [entry], now(), ada, "a")
    assert refused_fields(refused) == {field}


def test_an_unknown_admission_is_refused(db: Database, ada: SignedIn) -> None:
    with pytest.raises(Refused) as refused:
        record_observations(db, 999_999, [Entry(HR, 96, "/min")], now(), ada, "a")
    assert refused.value.field == "admission_id"


def test_only_nurses_and_physicians_record_observations(
    db: Database, admission_id: int, grace: SignedIn, root: SignedIn
) -> None:
    assert record_observations(db, admission_id, [Entry(HR, 96, "/min")], now(), grace, "a")
    with pytest.raises(PermissionDenied, match=r"root \(admin\) may not record observations"):
        record_observations(db, admission_id, [Entry(HR, 96, "/min")], now(), root, "b")


def test_a_signed_out_actor_is_refused_before_anything_is_checked(
    db: Database, admission_id: int
) -> None:
    with pytest.raises(PermissionDenied, match="Not signed in"):
        record_observations(db, admission_id, [Entry(HR, 400, "/min")], now(), None, "a")
    assert audit(db, "record_observations") == []


def test_a_deactivated_account_is_refused_even_with_its_old_sign_in(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with db.write_session() as session:
        session.get_one(User, ada.user_id).active = False
    with pytest.raises(PermissionDenied, match="not active"):
        record_observations(db, admission_id, [Entry(HR, 96, "/min")], now(), ada, "a")


def test_the_role_is_read_from_the_database_not_from_the_sign_in(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    forged = replace(ada, role="physician")
    with pytest.raises(PermissionDenied, match=r"ada \(nurse\) may not acknowledge flags"):
        acknowledge_flag(db, admission_id, "x", now(), forged, "because")


def test_a_set_is_audited_with_who_when_and_what(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    observed = now() - timedelta(minutes=5)
    result = record_observations(
        db,
        admission_id,
        [Entry(TEMP, 101.3, "[degF]"), Entry(URINE, 150, "mL", 4)],
        observed,
        ada,
        "k",
    )
    (event,) = audit(db, "record_observations")
    assert (event.actor, event.entity, event.entity_id) == ("ada", "admission", str(admission_id))
    assert event.after == {
        "observed_at": c.format_time(observed),
        "backdated": False,
        "observation_ids": list(result.observation_ids),
        "entries": [
            {"code": TEMP, "value": 101.3, "unit": "[degF]"},
            {"code": URINE, "value": 150, "unit": "mL", "period_h": 4.0},
        ],
    }


def test_the_set_and_its_audit_entry_are_written_together(
    db: Database, admission_id: int, ada: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_audit(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit log unavailable")

    before = count(db, Observation)
    monkeypatch.setattr(bedside, "record_event", broken_audit)
    with pytest.raises(RuntimeError):
        record_observations(db, admission_id, PRE_DOSE_SET, now(), ada, "k")
    assert count(db, Observation) == before


# -- doses ----------------------------------------------------------------------------------------


def test_a_given_dose_takes_the_next_number_in_the_current_cycle(
    db: Database, ada: SignedIn
) -> None:
    admission = admit(db, with_doses(3))
    result = record_dose(
        db, admission, status="given", time=now(), reason=None, actor=ada, idempotency_key="d"
    )
    assert (result.cycle, result.number, result.status) == (1, 4, "given")
    assert result.next_dose is not None
    assert result.next_dose.number == 5
    with db.read_session() as session:
        dose = session.get_one(Dose, result.dose_id)
    assert dose.recorded_by == ada.user_id


@pytest.mark.parametrize("status", ["held", "not_given"])
def test_a_dose_held_or_not_given_needs_a_reason(
    db: Database, admission_id: int, ada: SignedIn, status: str
) -> None:
    with pytest.raises(Refused) as refused:
        record_dose(
            db, admission_id, status=status, time=now(), reason="  ", actor=ada, idempotency_key="d"
        )
    assert refused.value.errors == {"reason": "is required when a dose is held or not given"}
    result = record_dose(
        db,
        admission_id,
        status=status,
        time=now(),
        reason="SBP 84 < target 85",
        actor=ada,
        idempotency_key="d",
    )
    assert (result.status, result.reason) == (status, "SBP 84 < target 85")


def test_it_refuses_a_status_that_is_not_a_dose_status(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission_id,
            status="skipped",
            time=now(),
            reason="x",
            actor=ada,
            idempotency_key="d",
        )
    assert refused.value.field == "status"


def test_cycle_2_starts_at_dose_1_when_asked_for(db: Database, ada: SignedIn) -> None:
    admission = admit(db, with_doses(14))
    result = record_dose(
        db,
        admission,
        status="given",
        time=now(),
        reason=None,
        actor=ada,
        idempotency_key="d",
        cycle=2,
    )
    assert (result.cycle, result.number) == (2, 1)
    following = record_dose(
        db, admission, status="given", time=now(), reason=None, actor=ada, idempotency_key="e"
    )
    assert (following.cycle, following.number) == (2, 2)


def test_a_15th_dose_in_a_cycle_is_refused(db: Database, ada: SignedIn) -> None:
    admission = admit(db, with_doses(14))
    with pytest.raises(Refused) as refused:
        record_dose(
            db, admission, status="given", time=now(), reason=None, actor=ada, idempotency_key="d"
        )
    assert refused.value.errors == {
        "number": "cycle 1 already has 14 doses; no more can be recorded"
    }


@pytest.mark.parametrize("number", [0, 15, -1])
def test_a_number_outside_1_to_14_is_refused(
    db: Database, admission_id: int, ada: SignedIn, number: int
) -> None:
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission_id,
            status="given",
            time=now(),
            reason=None,
            actor=ada,
            idempotency_key="d",
            number=number,
        )
    assert refused.value.field == "number"


def test_a_number_already_recorded_in_the_cycle_is_refused(db: Database, ada: SignedIn) -> None:
    admission = admit(db, with_doses(3))
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission,
            status="given",
            time=now(),
            reason=None,
            actor=ada,
            idempotency_key="d",
            number=2,
        )
    assert refused.value.errors == {"number": "dose 2 of cycle 1 is already recorded"}


def test_a_dose_before_its_cycle_started_is_refused(db: Database, ada: SignedIn) -> None:
    admission = admit(db, with_doses(3, start=10))  # dose 1 at admission + 10 h
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission,
            status="given",
            time=ADMITTED + timedelta(hours=9),
            reason=None,
            actor=ada,
            idempotency_key="d",
        )
    assert refused.value.errors == {
        "time": "is before the start of cycle 1 (its first dose, 2026-11-20T16:00:00+00:00)"
    }


def test_the_first_dose_of_cycle_2_must_follow_cycle_1(db: Database, ada: SignedIn) -> None:
    admission = admit(db, with_doses(14))
    last_of_cycle_1 = ADMITTED + timedelta(hours=2 + 8 * 13)
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission,
            status="given",
            time=last_of_cycle_1 - timedelta(hours=1),
            reason=None,
            actor=ada,
            idempotency_key="d",
            cycle=2,
        )
    assert refused.value.field == "time"


def test_cycle_2_cannot_start_before_cycle_1(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission_id,
            status="given",
            time=now(),
            reason=None,
            actor=ada,
            idempotency_key="d",
            cycle=2,
        )
    assert refused.value.errors == {"cycle": "cycle 2 cannot start before cycle 1 has a dose"}


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (timedelta(minutes=10), "is in the future"),
        (ADMITTED - timedelta(hours=1) - now(), "is before the admission"),
    ],
)
def test_a_dose_in_the_future_or_before_admission_is_refused(
    db: Database, admission_id: int, ada: SignedIn, when: timedelta, message: str
) -> None:
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            admission_id,
            status="given",
            time=now() + when,
            reason=None,
            actor=ada,
            idempotency_key="d",
        )
    assert refused.value.field == "time"
    assert message in refused.value.errors["time"]


def test_a_second_dose_submission_with_the_same_key_stores_one_dose(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    moment = now()
    first = record_dose(
        db, admission_id, status="given", time=moment, reason=None, actor=ada, idempotency_key="d"
    )
    again = record_dose(
        db, admission_id, status="given", time=moment, reason=None, actor=ada, idempotency_key="d"
    )
    assert again.replayed
    assert (again.dose_id, again.number) == (first.dose_id, 1)
    assert count(db, Dose) == 1
    assert len(audit(db, "record_dose")) == 1


def test_two_submissions_of_one_dose_at_the_same_moment_store_one_dose(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    moment = now()
    results = at_once(
        lambda: record_dose(
            db,
            admission_id,
            status="given",
            time=moment,
            reason=None,
            actor=ada,
            idempotency_key="d",
        )
    )
    assert count(db, Dose) == 1
    assert len({r.dose_id for r in results if isinstance(r, bedside.DoseResult)}) == 1


def test_only_nurses_and_physicians_record_doses(
    db: Database, admission_id: int, root: SignedIn
) -> None:
    for actor in (root, None):
        with pytest.raises(PermissionDenied):
            record_dose(
                db,
                admission_id,
                status="given",
                time=now(),
                reason=None,
                actor=actor,
                idempotency_key="d",
            )
    assert count(db, Dose) == 0


def test_a_dose_is_audited_with_its_reason(db: Database, admission_id: int, ada: SignedIn) -> None:
    moment = now()
    result = record_dose(
        db,
        admission_id,
        status="held",
        time=moment,
        reason="SBP 84",
        actor=ada,
        idempotency_key="d",
    )
    (event,) = audit(db, "record_dose")
    assert (event.actor, event.entity, event.entity_id) == ("ada", "dose", str(result.dose_id))
    assert event.after == {
        "admission_id": admission_id,
        "cycle": 1,
        "number": 1,
        "time": c.format_time(moment),
        "status": "held",
        "reason": "SBP 84",
    }


# -- eligibility and the first dose ---------------------------------------------------------------


def test_the_first_dose_is_not_given_until_a_physician_acknowledges_eligibility(
    db: Database, on_steroids: int, ada: SignedIn, grace: SignedIn
) -> None:
    assert not eligibility_acknowledged(db, on_steroids)
    with pytest.raises(Refused) as refused:
        record_dose(
            db,
            on_steroids,
            status="given",
            time=now(),
            reason=None,
            actor=ada,
            idempotency_key="d1",
        )
    assert refused.value.field == "eligibility"
    assert "On systemic corticosteroids" in refused.value.errors["eligibility"]
    assert count(db, Dose) == 0

    (flag,) = pending_eligibility_flags(db, on_steroids)
    acknowledge_flag(db, on_steroids, flag.code, flag.time, grace, "steroids stopped 2 weeks ago")
    assert eligibility_acknowledged(db, on_steroids)
    result = record_dose(
        db, on_steroids, status="given", time=now(), reason=None, actor=ada, idempotency_key="d2"
    )
    assert result.number == 1


def test_a_first_dose_may_be_recorded_as_held_while_eligibility_awaits_review(
    db: Database, on_steroids: int, ada: SignedIn
) -> None:
    result = record_dose(
        db,
        on_steroids,
        status="held",
        time=now(),
        reason="awaiting eligibility review",
        actor=ada,
        idempotency_key="d",
    )
    assert result.status == "held"


def test_a_snooze_is_not_an_acknowledgement_of_eligibility(
    db: Database, on_steroids: int, grace: SignedIn
) -> None:
    (flag,) = pending_eligibility_flags(db, on_steroids)
    acknowledge_flag(db, on_steroids, flag.code, flag.time, grace, "later", snooze_hours=2)
    assert not eligibility_acknowledged(db, on_steroids)


def test_a_patient_without_eligibility_flags_needs_no_acknowledgement(
    db: Database, admission_id: int
) -> None:
    assert eligibility_acknowledged(db, admission_id)


# -- flag acknowledgements ------------------------------------------------------------------------


def steroid_flag_time(db: Database, admission: int) -> datetime:
    (flag,) = pending_eligibility_flags(db, admission)
    assert flag.code == STEROIDS
    return flag.time


def test_a_physician_acknowledges_a_flag_with_a_reason(
    db: Database, on_steroids: int, grace: SignedIn
) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    ack = acknowledge_flag(db, on_steroids, STEROIDS, flag_time, grace, "  tapered off  ")
    assert (ack.by, ack.reason, ack.snoozed) == ("grace", "tapered off", False)
    in_force = active_acknowledgements(db, on_steroids, now() + timedelta(days=30))
    assert in_force[(STEROIDS, flag_time)].acknowledgement_id == ack.acknowledgement_id


def test_a_nurse_cannot_acknowledge_a_flag(db: Database, on_steroids: int, ada: SignedIn) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    with pytest.raises(PermissionDenied, match=r"ada \(nurse\) may not acknowledge flags"):
        acknowledge_flag(db, on_steroids, STEROIDS, flag_time, ada, "looks fine")
    with pytest.raises(PermissionDenied, match="Not signed in"):
        acknowledge_flag(db, on_steroids, STEROIDS, flag_time, None, "looks fine")
    assert active_acknowledgements(db, on_steroids, now()) == {}


def test_an_acknowledgement_needs_a_reason(db: Database, on_steroids: int, grace: SignedIn) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    with pytest.raises(Refused) as refused:
        acknowledge_flag(db, on_steroids, STEROIDS, flag_time, grace, "   ")
    assert refused.value.field == "reason"


def test_a_flag_the_engine_does_not_raise_cannot_be_acknowledged(
    db: Database, on_steroids: int, grace: SignedIn
) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    with pytest.raises(Refused) as refused:
        acknowledge_flag(db, on_steroids, "cls.syndrome", flag_time, grace, "reason")
    assert refused.value.field == "flag_code"
    with pytest.raises(Refused):
        acknowledge_flag(db, on_steroids, STEROIDS, flag_time + timedelta(hours=1), grace, "r")


@pytest.mark.parametrize("hours", [0, -1, 25, float("inf")])
def test_a_snooze_is_above_zero_and_at_most_a_day(
    db: Database, on_steroids: int, grace: SignedIn, hours: float
) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    with pytest.raises(Refused) as refused:
        acknowledge_flag(db, on_steroids, STEROIDS, flag_time, grace, "r", snooze_hours=hours)
    assert refused.value.field == "snooze_hours"


def test_a_snoozed_flag_comes_back_when_the_snooze_ends(
    db: Database, on_steroids: int, grace: SignedIn
) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    ack = acknowledge_flag(
        db, on_steroids, STEROIDS, flag_time, grace, "rechecking at noon", snooze_hours=2
    )
    assert ack.snoozed and ack.snooze_until is not None
    assert (STEROIDS, flag_time) in active_acknowledgements(db, on_steroids, now())
    assert (STEROIDS, flag_time) in active_acknowledgements(
        db, on_steroids, ack.snooze_until - timedelta(seconds=1)
    )
    assert active_acknowledgements(db, on_steroids, ack.snooze_until) == {}


def test_the_latest_decision_about_a_flag_is_the_one_in_force(
    db: Database, on_steroids: int, grace: SignedIn
) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    acknowledge_flag(db, on_steroids, STEROIDS, flag_time, grace, "first look", snooze_hours=1)
    acknowledge_flag(db, on_steroids, STEROIDS, flag_time, grace, "reviewed: safe")
    in_force = active_acknowledgements(db, on_steroids, now() + timedelta(hours=2))
    assert in_force[(STEROIDS, flag_time)].reason == "reviewed: safe"


def test_an_acknowledgement_is_audited_with_its_reason(
    db: Database, on_steroids: int, grace: SignedIn
) -> None:
    flag_time = steroid_flag_time(db, on_steroids)
    ack = acknowledge_flag(db, on_steroids, STEROIDS, flag_time, grace, "r1", snooze_hours=2)
    (event,) = audit(db, "snooze_flag")
    assert (event.actor, event.entity, event.entity_id, event.reason) == (
        "grace",
        "flag_acknowledgement",
        str(ack.acknowledgement_id),
        "r1",
    )
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(FlagAcknowledgement)) == 1


# -- admission ------------------------------------------------------------------------------------

PATIENT = c.Patient(id="MRN-NEW", weight_kg=80.0, name="New, Pat", sex="female", height_cm=170)
HISTORY = c.History(
    brain_metastases="none", systemic_steroids=False, ecog=0, prior_therapies=("pembrolizumab",)
)
COLITIS = c.PriorToxicity(
    agent="ipilimumab", irae="colitis", grade=3, resolved=None, onset=date(2026, 5, 1)
)


def admission_now(**changes: object) -> c.Admission:
    base = c.Admission(
        admitted_at=now() - timedelta(hours=1), ward="7B", bed="4", usual_sbp_mmhg=124
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_nurse_admits_a_patient_and_sees_the_eligibility_flags(
    db: Database, ada: SignedIn
) -> None:
    admitted = admit_patient(
        db,
        patient=PATIENT,
        admission=admission_now(),
        history=HISTORY,
        prior_toxicities=[COLITIS],
        actor=ada,
    )
    assert [flag.code for flag in admitted.eligibility_flags] == ["eligibility.unresolved_toxicity"]
    course = load_course_from_db(db, admitted.admission_id)
    assert course.patient == PATIENT
    assert course.history == HISTORY
    assert course.prior_toxicities == (COLITIS,)
    assert not eligibility_acknowledged(db, admitted.admission_id)
    (event,) = audit(db, "import")
    assert event.actor == "ada"


def test_an_admission_is_checked_like_a_course_file(db: Database, ada: SignedIn) -> None:
    with pytest.raises(Refused) as refused:
        admit_patient(
            db,
            patient=replace(PATIENT, weight_kg=5),
            admission=admission_now(),
            history=None,
            actor=ada,
        )
    assert refused.value.field == "patient.weight_kg"
    bad_toxicity = replace(COLITIS, onset=date(2026, 6, 1), resolved=date(2026, 5, 1))
    with pytest.raises(Refused) as refused:
        admit_patient(
            db,
            patient=PATIENT,
            admission=admission_now(),
            history=HISTORY,
            prior_toxicities=[bad_toxicity],
            actor=ada,
        )
    assert refused.value.field == "prior_toxicities[0].resolved"


def test_an_admission_in_the_future_is_refused(db: Database, ada: SignedIn) -> None:
    with pytest.raises(Refused) as refused:
        admit_patient(
            db,
            patient=PATIENT,
            admission=admission_now(admitted_at=now() + timedelta(hours=3)),
            history=None,
            actor=ada,
        )
    assert refused.value.field == "admission.admitted_at"


def test_a_patient_already_on_the_ward_is_not_admitted_twice(db: Database, ada: SignedIn) -> None:
    admit_patient(db, patient=PATIENT, admission=admission_now(), history=None, actor=ada)
    with pytest.raises(Refused) as refused:
        admit_patient(
            db,
            patient=PATIENT,
            admission=admission_now(admitted_at=now() - timedelta(minutes=5)),
            history=None,
            actor=ada,
        )
    assert refused.value.field == "patient.id"
    assert "already admitted (bed 4" in refused.value.errors["patient.id"]


def test_an_mrn_with_other_demographics_is_refused(db: Database, ada: SignedIn) -> None:
    admit(db, CourseBuilder(patient_id="MRN-NEW"))  # stored as "Test, Pat"
    with db.write_session() as session:
        from il2_tox.store.models import Admission

        for row in session.scalars(select(Admission)):
            row.discharged_at = now() - timedelta(days=1)
    with pytest.raises(Refused) as refused:
        admit_patient(db, patient=PATIENT, admission=admission_now(), history=None, actor=ada)
    assert refused.value.field == "patient.name"


def test_only_nurses_and_physicians_admit(db: Database, root: SignedIn) -> None:
    for actor in (root, None):
        with pytest.raises(PermissionDenied):
            admit_patient(db, patient=PATIENT, admission=admission_now(), history=None, actor=actor)
    assert audit(db, "import") == []


def test_a_dose_twin_committed_between_the_key_look_up_and_the_dose_read_is_a_replay(
    db: Database, admission_id: int, ada: SignedIn
) -> None:
    """A double click on 'given' on PostgreSQL: the twin commits after this request looked up
    its key and before it read the course's doses. The twin is found among the doses read (the
    unique key would otherwise stop a second copy numbered next, at the insert)."""
    if db.backend == "sqlite":
        pytest.skip("SQLite serializes writers from BEGIN IMMEDIATE: this window cannot open")
    given_at = now() - timedelta(minutes=1)

    def submit() -> bedside.DoseResult:
        return record_dose(
            db,
            admission_id,
            status="held",
            time=given_at,
            reason="SBP 84 < target 85",
            actor=ada,
            idempotency_key="dose-form-1",
        )

    with twin_commits_after_key_lookup(submit) as twin:
        result = submit()
    (first,) = twin
    assert isinstance(first, bedside.DoseResult) and not first.replayed
    assert result.replayed and result.dose_id == first.dose_id
    assert count(db, Dose) == 1
