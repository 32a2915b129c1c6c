"""Bedside use cases: admit, record an observation set, record a dose, acknowledge a flag.

Each takes the signed-in user (`SignedIn`) as its actor and checks it itself, against the
users table, inside its one write transaction, together with its audit entry (see
`il2_tox.services.users.acting_user`): the dashboard hiding a button is not the check. Bad input
raises `Refused` naming every field at fault and writes nothing; a wrong or missing actor
raises `PermissionDenied` and writes nothing.

A form submission carries an idempotency key (one per rendered form): sending the same key
again (a double click, a reconnect) stores nothing twice and returns the first result.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from il2_tox import course as c
from il2_tox import units
from il2_tox.assess import assess
from il2_tox.course import DOSE_STATUSES, MAX_DOSES_PER_CYCLE, CourseError, format_time
from il2_tox.rules.base import DoseAdvice, Flag
from il2_tox.rules.config import Rules
from il2_tox.services.course_io import _import, _refuse_unstorable_text, load_course_from_db
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn, acting_user
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import current_doses, record_event
from il2_tox.store.retry import retrying

# An entry observed more than this long before it was recorded is a late (backdated) entry:
# vitals are due every 2-4 h, so a set written up an hour or more after it was taken was not
# there for anyone looking at the chart in between; the chart marks it so readers know.
BACKDATED_AFTER = timedelta(hours=1)
# Bedside devices' clocks drift a little from the server's: a time this far ahead is "now".
FUTURE_TOLERANCE = timedelta(minutes=2)
# A snooze quiets a flag for a while, then it comes back; longer than a day is not a snooze
# but an acknowledgement, and should say so.
MAX_SNOOZE_HOURS = 24.0
# The key columns hold 100 characters; an observation row adds "/<index in the set>".
MAX_IDEMPOTENCY_KEY = 80
# A volume's collection period, refused outside (0, 24] h: at the bedside and in a correction.
PERIOD_REFUSAL = "must be a number of hours above 0 and at most 24"

RECORDING_ROLES = ("nurse", "physician")
ADMITTING_ROLES = ("nurse", "physician")
ACKNOWLEDGING_ROLES = ("physician",)


class Entry(NamedTuple):
    """One value of an observation set as typed: code, value, unit, collection period (hours).

    A plain tuple `(code, value, unit, period_h)` is as good.
    """

    code: str
    value: object
    unit: str | None = None
    period_h: float | None = None


@dataclass(frozen=True)
class RecordResult:
    """What `record_observations` stored, and the advice for the next dose now."""

    admission_id: int
    observation_ids: tuple[int, ...]
    observed_at: datetime
    recorded_at: datetime
    backdated: bool  # observed more than BACKDATED_AFTER before it was recorded
    next_dose: DoseAdvice | None  # None once the cycle has all its doses
    replayed: bool = False  # the key was used before: nothing stored this time


@dataclass(frozen=True)
class DoseResult:
    """What `record_dose` stored, and the advice for the dose after it."""

    admission_id: int
    dose_id: int
    cycle: int
    number: int
    time: datetime
    status: str
    reason: str | None
    next_dose: DoseAdvice | None
    replayed: bool = False


@dataclass(frozen=True)
class Acknowledgement:
    """A physician's acknowledgement of one flag (code and time), possibly only a snooze."""

    acknowledgement_id: int
    admission_id: int
    flag_code: str
    flag_time: datetime
    by: str  # username
    by_name: str
    at: datetime
    reason: str
    snooze_until: datetime | None  # None: acknowledged for good

    @property
    def snoozed(self) -> bool:
        return self.snooze_until is not None


@dataclass(frozen=True)
class Admitted:
    """A new admission, and the eligibility flags a physician must acknowledge before dose 1."""

    admission_id: int
    eligibility_flags: tuple[Flag, ...]


_PLACEHOLDER_TIME = datetime(2000, 1, 1, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------
# Observation sets


def record_observations(
    db: Database,
    admission_id: int,
    entries: Iterable[tuple[str, object, str | None, float | None]],
    observed_at: datetime,
    actor: SignedIn | None,
    idempotency_key: str,
    *,
    rules: Rules | None = None,
) -> RecordResult:
    """Store one set of observations taken at `observed_at`; return it with the next advice.

    Every entry is checked like a course file's observation (code, unit, hard limits, coded
    values; numbers typed as text are read as numbers) and all faults are collected before
    anything is written: Refused maps each field (`<code>.value`, `<code>.unit`,
    `<code>.period_h`, `observed_at`, ...) to its message. An entry whose value is None or blank
    is left out (a set need not be complete); a set with nothing in it is refused, and so is a
    code entered twice. `observed_at` may not be more than FUTURE_TOLERANCE ahead of now, nor
    before the admission. Nurses and physicians only. Values are stored canonical with the
    value and unit as entered, recorded now by the actor.
    """
    key = _checked_key(idempotency_key)
    items = list(entries)

    def store() -> _StoredSet:
        try:
            return _store_observations(db, admission_id, items, observed_at, actor, key)
        except IntegrityError:
            # A concurrent submission with the same key won (PostgreSQL): this time the key
            # is found and its result returned. Any other integrity fault raises again.
            return _store_observations(db, admission_id, items, observed_at, actor, key)

    # A busy database is waited for here, not shown to the nurse; the key makes a rerun safe.
    stored = retrying(store, idempotent=True)
    return RecordResult(
        admission_id=admission_id,
        observation_ids=stored.ids,
        observed_at=stored.observed_at,
        recorded_at=stored.recorded_at,
        backdated=stored.observed_at < stored.recorded_at - BACKDATED_AFTER,
        next_dose=_next_dose(db, admission_id, rules),
        replayed=stored.replayed,
    )


class _StoredSet(NamedTuple):
    ids: tuple[int, ...]
    observed_at: datetime
    recorded_at: datetime
    replayed: bool


def _store_observations(
    db: Database,
    admission_id: int,
    entries: list[tuple[str, object, str | None, float | None]],
    observed_at: datetime,
    actor: SignedIn | None,
    key: str,
) -> _StoredSet:
    with db.write_session() as session:
        user = acting_user(session, actor, RECORDING_ROLES, "record observations")
        earlier = session.scalars(
            select(m.Observation)
            .where(m.Observation.idempotency_key.startswith(f"{key}/", autoescape=True))
            .order_by(m.Observation.id)
        ).all()
        if earlier:
            if any(row.admission_id != admission_id for row in earlier):
                raise Refused({"idempotency_key": "was already used for another patient"})
            return _StoredSet(
                tuple(row.id for row in earlier),
                earlier[0].observed_at,
                earlier[0].recorded_at,
                replayed=True,
            )
        admission = _admission(session, admission_id)
        now = m.utcnow()
        errors: dict[str, str] = {}
        _check_time(errors, "observed_at", observed_at, now, admission)
        observations = _parse_entries(errors, entries, observed_at)
        if errors:
            raise Refused(errors)
        rows = [
            m.Observation(
                admission_id=admission_id,
                observed_at=o.time,
                recorded_at=now,
                recorded_by=user.id,
                code=o.code,
                value=None if isinstance(o.value, str) else float(o.value),
                value_text=o.value if isinstance(o.value, str) else None,
                unit=o.unit,
                entered_value=None if o.entered_value is None else _json(o.entered_value),
                entered_unit=o.entered_unit,
                period_h=o.period_h,
                status="final",
                idempotency_key=f"{key}/{i}",
            )
            for i, o in enumerate(observations)
        ]
        session.add_all(rows)
        session.flush()
        backdated = observed_at < now - BACKDATED_AFTER
        record_event(
            session,
            actor=user.username,
            action="record_observations",
            entity="admission",
            entity_id=admission_id,
            after={
                "observed_at": format_time(observed_at),
                "backdated": backdated,
                "observation_ids": [row.id for row in rows],
                "entries": [_entry_summary(o) for o in observations],
            },
        )
        return _StoredSet(tuple(row.id for row in rows), observed_at, now, replayed=False)


def _parse_entries(
    errors: dict[str, str],
    entries: list[tuple[str, object, str | None, float | None]],
    observed_at: datetime,
) -> list[c.Observation]:
    """Return the checked, canonical observations; add each fault to `errors`."""
    out: list[c.Observation] = []
    seen: set[str] = set()
    # A bad `observed_at` is reported once, on its own field; the values are still checked.
    time_text = format_time(observed_at if _is_aware(observed_at) else _PLACEHOLDER_TIME)
    for code, typed, unit, period_h in entries:
        value = typed
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        where = str(code)
        if where in seen:
            errors[f"{where}.value"] = "is entered twice in one set"
            continue
        seen.add(where)
        spec = units.spec_for(code) if isinstance(code, str) else None
        if spec is None:
            errors[f"{where}.code"] = "is not an observation code of this format"
            continue
        if spec.kind == "quantity" and isinstance(value, str):
            value = _number(value)
        if period_h is not None and not _is_period(period_h):
            errors[f"{where}.period_h"] = PERIOD_REFUSAL
            continue
        item: dict[str, Any] = {"time": time_text, "code": code, "value": value}
        if unit not in (None, ""):
            item["unit"] = unit
        if period_h is not None:
            item["period_h"] = period_h
        try:
            parsed = c.parse_observation(item, where)
        except CourseError as error:
            errors[error.field] = error.message
            continue
        out.append(parsed)
    if not out and not errors:
        errors["entries"] = "nothing to record: enter at least one value"
    return out


def _number(text: str) -> object:
    """Return typed text as a number if it reads as one (comma decimals too), else the text."""
    try:
        number = float(text.strip().replace(",", "."))
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "," not in text else number


def _is_period(period_h: object) -> bool:
    return (
        isinstance(period_h, int | float)
        and not isinstance(period_h, bool)
        and math.isfinite(period_h)
        and 0 < period_h <= 24
    )


def _entry_summary(o: c.Observation) -> dict[str, Any]:
    out: dict[str, Any] = {"code": o.code, "value": o.entered_value}
    if o.entered_unit is not None:
        out["unit"] = o.entered_unit
    if o.period_h is not None:
        out["period_h"] = o.period_h
    return out


def _json(value: float | str) -> str:
    return json.dumps(value)


# ---------------------------------------------------------------------------------------------
# Doses


def record_dose(
    db: Database,
    admission_id: int,
    *,
    status: str,
    time: datetime,
    reason: str | None,
    actor: SignedIn | None,
    idempotency_key: str,
    cycle: int | None = None,
    number: int | None = None,
    rules: Rules | None = None,
) -> DoseResult:
    """Record one dose: given at `time`, or held / not given (when it was due) with a reason.

    `cycle` defaults to the latest cycle recorded (1 before any dose); `number` to the next in
    that cycle (so cycle 2, asked for explicitly, starts at 1). Refused, naming the field: a
    status other than given / held / not_given; no reason for held or not_given; a 15th dose in
    a cycle or a number outside 1-14; a number already recorded in the cycle; a time in the
    future, before the admission, before the first dose of its cycle, or (cycle 2's first
    dose) before the end of cycle 1; cycle 2 before cycle 1 has a dose. The first dose given
    (field `eligibility`) until a physician has acknowledged every eligibility flag; a first
    dose held or not given may be recorded (that is what happens while waiting for review).
    Nurses and physicians only.
    """
    key = _checked_key(idempotency_key)
    # Eligibility needs the engine, which reads the course: done before the write transaction.
    with db.read_session() as session:
        first_dose = session.scalars(current_doses(admission_id).limit(1)).first() is None
    pending: list[Flag] = []
    if first_dose and status == "given":
        # No such admission: refused in the transaction, once the actor is checked.
        with contextlib.suppress(Refused):
            pending = pending_eligibility_flags(db, admission_id, m.utcnow(), rules=rules)

    def store() -> tuple[m.Dose, bool]:
        try:
            with db.write_session() as session:
                return _store_dose(
                    session, admission_id, status, time, reason, actor, key, cycle, number, pending
                )
        except IntegrityError:
            with db.write_session() as session:
                return _store_dose(
                    session, admission_id, status, time, reason, actor, key, cycle, number, pending
                )

    dose, replayed = retrying(store, idempotent=True)
    return DoseResult(
        admission_id=admission_id,
        dose_id=dose.id,
        cycle=dose.cycle,
        number=dose.number,
        time=dose.time,
        status=dose.status,
        reason=dose.reason,
        next_dose=_next_dose(db, admission_id, rules),
        replayed=replayed,
    )


def _store_dose(
    session: Session,
    admission_id: int,
    status: str,
    time: datetime,
    reason: str | None,
    actor: SignedIn | None,
    key: str,
    cycle: int | None,
    number: int | None,
    pending: list[Flag],
) -> tuple[m.Dose, bool]:
    user = acting_user(session, actor, RECORDING_ROLES, "record doses")
    earlier = session.scalars(select(m.Dose).where(m.Dose.idempotency_key == key)).first()
    if earlier is not None:
        if earlier.admission_id != admission_id:
            raise Refused({"idempotency_key": "was already used for another patient"})
        return earlier, True
    admission = _admission(session, admission_id)
    doses = list(session.scalars(current_doses(admission_id)))
    twin = next((d for d in doses if d.idempotency_key == key), None)
    if twin is not None:
        # The same submission, committed by a twin request between our two reads (under
        # PostgreSQL's READ COMMITTED each statement sees the newest commits): a replay.
        return twin, True
    now = m.utcnow()
    errors: dict[str, str] = {}
    if status not in DOSE_STATUSES:
        errors["status"] = f"{status!r} is not one of {', '.join(DOSE_STATUSES)}"
    text = (reason or "").strip() or None
    if status in ("held", "not_given") and text is None:
        errors["reason"] = "is required when a dose is held or not given"
    elif text is not None and "\x00" in text:
        errors["reason"] = "contains a NUL character, which cannot be stored"
    _check_time(errors, "time", time, now, admission)

    latest_cycle = max((d.cycle for d in doses), default=1)
    chosen_cycle = latest_cycle if cycle is None else cycle
    in_cycle = [d for d in doses if d.cycle == chosen_cycle]
    if chosen_cycle not in (1, 2):
        errors["cycle"] = f"{chosen_cycle!r} is not a cycle (1 or 2)"
    elif chosen_cycle == 2 and not any(d.cycle == 1 for d in doses):
        errors["cycle"] = "cycle 2 cannot start before cycle 1 has a dose"
    next_number = max((d.number for d in in_cycle), default=0) + 1
    chosen_number = number if number is not None else next_number
    if len(in_cycle) >= MAX_DOSES_PER_CYCLE:
        errors["number"] = (
            f"cycle {chosen_cycle} already has {MAX_DOSES_PER_CYCLE} doses; no more can be recorded"
        )
    elif (
        not isinstance(chosen_number, int)
        or isinstance(chosen_number, bool)
        or not 1 <= chosen_number <= MAX_DOSES_PER_CYCLE
    ):
        errors["number"] = f"{chosen_number!r} is not a dose number (1-{MAX_DOSES_PER_CYCLE})"
    elif any(d.number == chosen_number for d in in_cycle):
        errors["number"] = f"dose {chosen_number} of cycle {chosen_cycle} is already recorded"
    if "time" not in errors and "cycle" not in errors:
        _check_cycle_start(errors, time, chosen_cycle, doses)
    if pending:
        errors["eligibility"] = (
            "the first dose cannot be recorded as given until a physician has acknowledged "
            f"the eligibility flags: {'; '.join(flag.message for flag in pending)}"
        )
    if errors:
        raise Refused(errors)
    dose = m.Dose(
        admission_id=admission_id,
        cycle=chosen_cycle,
        number=chosen_number,
        time=time,
        status=status,
        reason=text,
        recorded_at=now,
        recorded_by=user.id,
        record_status="final",
        idempotency_key=key,
    )
    session.add(dose)
    session.flush()
    record_event(
        session,
        actor=user.username,
        action="record_dose",
        entity="dose",
        entity_id=dose.id,
        after={
            "admission_id": admission_id,
            "cycle": chosen_cycle,
            "number": chosen_number,
            "time": format_time(time),
            "status": status,
            "reason": text,
        },
    )
    return dose, False


def _check_cycle_start(
    errors: dict[str, str], time: datetime, cycle: int, doses: Sequence[m.Dose]
) -> None:
    """Refuse a dose before its cycle started, or a first dose of cycle 2 inside cycle 1."""
    in_cycle = [d.time for d in doses if d.cycle == cycle]
    if in_cycle and time < min(in_cycle):
        errors["time"] = (
            f"is before the start of cycle {cycle} (its first dose, {format_time(min(in_cycle))})"
        )
    earlier_cycle = [d.time for d in doses if d.cycle < cycle]
    if not in_cycle and earlier_cycle and time <= max(earlier_cycle):
        errors["time"] = (
            f"is not after the last dose of cycle {cycle - 1} ({format_time(max(earlier_cycle))})"
        )


# ---------------------------------------------------------------------------------------------
# Flags


def acknowledge_flag(
    db: Database,
    admission_id: int,
    flag_code: str,
    flag_time: datetime,
    actor: SignedIn | None,
    reason: str,
    snooze_hours: float | None = None,
    *,
    rules: Rules | None = None,
) -> Acknowledgement:
    """Acknowledge one flag of the admission (its code and time), for good or for a while.

    With `snooze_hours` (above 0, at most MAX_SNOOZE_HOURS) the acknowledgement lapses then and
    the flag comes back. Physicians only. Refused, naming the field: a blank reason; a snooze
    out of range; a flag the engine does not raise for this admission at that time.
    """
    now = m.utcnow()
    errors: dict[str, str] = {}
    text = (reason or "").strip()
    if not text:
        errors["reason"] = "is required: say why this flag needs no action now"
    elif "\x00" in text:
        errors["reason"] = "contains a NUL character, which cannot be stored"
    if snooze_hours is not None and not (
        isinstance(snooze_hours, int | float)
        and math.isfinite(snooze_hours)
        and 0 < snooze_hours <= MAX_SNOOZE_HOURS
    ):
        errors["snooze_hours"] = f"must be above 0 and at most {MAX_SNOOZE_HOURS:g} hours"
    try:
        flags = _assessed_flags(db, admission_id, rules)
    except Refused as refusal:
        errors.update(refusal.errors)  # reported after the actor is checked
    else:
        if not any(flag.code == flag_code and flag.time == flag_time for flag in flags):
            errors["flag_code"] = (
                f"{flag_code!r} at {_time_text(flag_time)} is not a flag of this admission"
            )
    with db.write_session() as session:
        user = acting_user(session, actor, ACKNOWLEDGING_ROLES, "acknowledge flags")
        if errors:
            raise Refused(errors)
        snooze_until = None if snooze_hours is None else now + timedelta(hours=snooze_hours)
        row = m.FlagAcknowledgement(
            admission_id=admission_id,
            flag_code=flag_code,
            flag_time=flag_time,
            acknowledged_by=user.id,
            acknowledged_at=now,
            reason=text,
            snooze_until=snooze_until,
        )
        session.add(row)
        session.flush()
        record_event(
            session,
            actor=user.username,
            action="snooze_flag" if snooze_until is not None else "acknowledge_flag",
            entity="flag_acknowledgement",
            entity_id=row.id,
            after={
                "admission_id": admission_id,
                "flag_code": flag_code,
                "flag_time": format_time(flag_time),
                "snooze_until": None if snooze_until is None else format_time(snooze_until),
            },
            reason=text,
        )
        return _acknowledgement(row, user)


def active_acknowledgements(
    db: Database, admission_id: int, now: datetime
) -> dict[tuple[str, datetime], Acknowledgement]:
    """Return the acknowledgements in force at `now`, by (flag code, flag time).

    The latest acknowledgement of a flag decides: for good, or a snooze until its end (at
    `snooze_until` it is no longer in force and the flag comes back).
    """
    with db.read_session() as session:
        rows = session.execute(
            select(m.FlagAcknowledgement, m.User)
            .join(m.User, m.User.id == m.FlagAcknowledgement.acknowledged_by)
            .where(m.FlagAcknowledgement.admission_id == admission_id)
            .order_by(m.FlagAcknowledgement.acknowledged_at, m.FlagAcknowledgement.id)
        ).all()
    latest = {(row.flag_code, row.flag_time): (row, user) for row, user in rows}
    return {
        key: _acknowledgement(row, user)
        for key, (row, user) in latest.items()
        if row.snooze_until is None or row.snooze_until > now
    }


def pending_eligibility_flags(
    db: Database, admission_id: int, now: datetime | None = None, *, rules: Rules | None = None
) -> list[Flag]:
    """Return the eligibility flags not yet acknowledged for good (a snooze does not count:
    "remind me later" is not "reviewed, safe to start")."""
    now = now if now is not None else m.utcnow()
    in_force = active_acknowledgements(db, admission_id, now)
    acknowledged = {key for key, ack in in_force.items() if not ack.snoozed}
    return [
        flag
        for flag in _assessed_flags(db, admission_id, rules)
        if flag.category == "eligibility" and (flag.code, flag.time) not in acknowledged
    ]


def eligibility_acknowledged(db: Database, admission_id: int) -> bool:
    """Return True when a physician has acknowledged every eligibility flag (or there is none)."""
    return not pending_eligibility_flags(db, admission_id)


def _acknowledgement(row: m.FlagAcknowledgement, user: m.User) -> Acknowledgement:
    return Acknowledgement(
        acknowledgement_id=row.id,
        admission_id=row.admission_id,
        flag_code=row.flag_code,
        flag_time=row.flag_time,
        by=user.username,
        by_name=user.display_name,
        at=row.acknowledged_at,
        reason=row.reason or "",
        snooze_until=row.snooze_until,
    )


# ---------------------------------------------------------------------------------------------
# Admission


def admit_patient(
    db: Database,
    *,
    patient: c.Patient,
    admission: c.Admission,
    history: c.History | None,
    prior_toxicities: Sequence[c.PriorToxicity] = (),
    actor: SignedIn | None,
    rules: Rules | None = None,
) -> Admitted:
    """Admit a patient for a course: identity, baselines, history and prior ICI toxicities.

    Checked exactly as a course file is (Refused names the field, e.g. `patient.weight_kg`,
    `prior_toxicities[0].resolved`); also refused: an admission time in the future, a patient
    (MRN) already admitted and not discharged, an MRN stored with other demographics. Nurses
    and physicians. Returns the eligibility flags a physician must acknowledge before the first
    dose is given.
    """
    checked: c.Course | None = None
    refusal: Refused | None = None
    try:
        checked = checked_admission(patient, admission, history, prior_toxicities)
    except Refused as error:
        refusal = error  # raised once the actor is checked: a stranger learns nothing
    now = m.utcnow()
    try:
        with db.write_session() as session:
            user = acting_user(session, actor, ADMITTING_ROLES, "admit patients")
            if refusal is not None or checked is None:
                raise refusal or Refused({"patient": "is required"})
            if checked.admission.admitted_at > now + FUTURE_TOLERANCE:
                raise Refused({"admission.admitted_at": "is in the future"})
            current = session.execute(
                select(m.Admission.bed, m.Admission.admitted_at)
                .join(m.Patient, m.Patient.id == m.Admission.patient_id)
                .where(m.Patient.mrn == checked.patient.id, m.Admission.discharged_at.is_(None))
            ).first()
            if current is not None:
                raise Refused(
                    {
                        "patient.id": f"{checked.patient.id} is already admitted "
                        f"(bed {current.bed or '?'}, since {format_time(current.admitted_at)})"
                    }
                )
            result = _import(session, checked, user.username, "admission form")
    except CourseError as error:
        raise Refused({error.field: error.message}) from None
    except IntegrityError:
        raise Refused(
            {"patient.id": "was admitted by someone else at the same moment: reload and check"}
        ) from None
    assert result.admission_id is not None
    flags = pending_eligibility_flags(db, result.admission_id, now, rules=rules)
    return Admitted(admission_id=result.admission_id, eligibility_flags=tuple(flags))


def checked_admission(
    patient: c.Patient,
    admission: c.Admission,
    history: c.History | None,
    prior_toxicities: Sequence[c.PriorToxicity] = (),
) -> c.Course:
    """Return the new admission as a course, checked exactly as a course file is; raise
    Refused naming the field (`patient.weight_kg`, `prior_toxicities[0].resolved`, ...).

    The values may be of any type (they come from a form): a wrong type is refused, not a crash.
    """
    new_course = c.Course(
        patient=patient,
        admission=admission,
        history=history,
        prior_toxicities=tuple(prior_toxicities),
    )
    try:
        checked = c.parse_course(c.course_to_dict(new_course))
        _refuse_unstorable_text(checked)
    except CourseError as error:
        raise Refused({error.field: error.message}) from None
    return checked


# ---------------------------------------------------------------------------------------------
# Shared


def _checked_key(key: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise Refused({"idempotency_key": "is required (one per form submission)"})
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise Refused({"idempotency_key": f"must be at most {MAX_IDEMPOTENCY_KEY} characters"})
    return key


def _admission(session: Session, admission_id: int) -> m.Admission:
    admission = session.get(m.Admission, admission_id)
    if admission is None:
        raise Refused({"admission_id": f"there is no admission {admission_id}"})
    return admission


def _is_aware(moment: object) -> bool:
    return isinstance(moment, datetime) and moment.utcoffset() is not None


def _check_time(
    errors: dict[str, str], field: str, moment: datetime, now: datetime, admission: m.Admission
) -> None:
    """Refuse a time that is naive, in the future, before the admission or after discharge."""
    if not _is_aware(moment):
        errors[field] = "must be a date and time with its time zone"
    elif moment > now + FUTURE_TOLERANCE:
        errors[field] = f"{_time_text(moment)} is in the future"
    elif moment < admission.admitted_at:
        errors[field] = (
            f"{_time_text(moment)} is before the admission ({_time_text(admission.admitted_at)})"
        )
    elif admission.discharged_at is not None and moment > admission.discharged_at:
        errors[field] = (
            f"{_time_text(moment)} is after the discharge ({_time_text(admission.discharged_at)})"
        )


def _time_text(moment: datetime) -> str:
    return format_time(moment) if _is_aware(moment) else str(moment)


def _assessed_flags(db: Database, admission_id: int, rules: Rules | None) -> tuple[Flag, ...]:
    try:
        course = load_course_from_db(db, admission_id)
    except LookupError:
        raise Refused({"admission_id": f"there is no admission {admission_id}"}) from None
    return assess(course, rules).flags


def _next_dose(db: Database, admission_id: int, rules: Rules | None) -> DoseAdvice | None:
    return assess(load_course_from_db(db, admission_id), rules).next_dose


__all__ = [
    "ACKNOWLEDGING_ROLES",
    "ADMITTING_ROLES",
    "BACKDATED_AFTER",
    "FUTURE_TOLERANCE",
    "MAX_SNOOZE_HOURS",
    "RECORDING_ROLES",
    "Acknowledgement",
    "Admitted",
    "DoseResult",
    "Entry",
    "PermissionDenied",
    "RecordResult",
    "Refused",
    "acknowledge_flag",
    "active_acknowledgements",
    "admit_patient",
    "checked_admission",
    "eligibility_acknowledged",
    "pending_eligibility_flags",
    "record_dose",
    "record_observations",
]
