"""Corrections: amend an observation or a dose record, or mark it entered in error, with a reason.

Nothing is overwritten: a correction is a new row naming the row it corrects (see
`il2_tox.store.models`), so the original stays, with who recorded it and when, beside who
corrected it, when and why. The course, the engine and the charts read only the current
version (`il2_tox.store.records`).

Who may correct (`CORRECTING_ROLES`, checked against the users table in the write
transaction): a physician always; a nurse only a record she entered herself (the first
version's author), and only within the site's correction window after it was first recorded
(`IL2TOX_CORRECTION_WINDOW_HOURS`, default 24 h). Imported records have a system author: only
physicians correct them.

Two people correcting the same record: each form names the version it showed; the second save
finds that version already corrected and is refused with `Changed` ("changed by X at hh:mm:
reload"), and what it carried is not stored. Each form submission carries an idempotency key:
the same key again (a double click, a reconnect) returns the first result and stores nothing
twice. Each correction and its audit entry (before, after, reason) are one transaction.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from il2_tox import course as c
from il2_tox import units
from il2_tox.course import DOSE_STATUSES, CourseError, format_time
from il2_tox.services.bedside import (
    PERIOD_REFUSAL,
    _check_time,
    _checked_key,
    _is_period,
    _number,
)
from il2_tox.services.errors import PermissionDenied, Refused
from il2_tox.services.users import SignedIn, acting_user
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import correct_dose, correct_observation, record_event

CORRECTION_WINDOW_ENV = "IL2TOX_CORRECTION_WINDOW_HOURS"
DEFAULT_CORRECTION_WINDOW = timedelta(hours=24)
# A window longer than a course (two cycles and the rest between them) is no window at all.
MAX_CORRECTION_WINDOW = timedelta(days=60)
CORRECTING_ROLES = ("nurse", "physician")
ALWAYS_MAY_CORRECT = "physician"
MAX_REASON = 2000

_Row = TypeVar("_Row", m.Observation, m.Dose)


def correction_window() -> timedelta:
    """Return the site's correction window: `IL2TOX_CORRECTION_WINDOW_HOURS`, default 24 h.

    Hours as a number above 0, at most 60 days (1440 h). Anything else raises ValueError with
    one line naming the variable: a typo must not silently open or close the window.
    """
    raw = os.environ.get(CORRECTION_WINDOW_ENV, "").strip()
    if not raw:
        return DEFAULT_CORRECTION_WINDOW
    try:
        hours = float(raw)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours) or hours <= 0 or timedelta(hours=hours) > MAX_CORRECTION_WINDOW:
        limit = MAX_CORRECTION_WINDOW.total_seconds() / 3600
        raise ValueError(
            f"{CORRECTION_WINDOW_ENV}={raw!r}: must be a number of hours above 0 and at most "
            f"{limit:g}"
        )
    return timedelta(hours=hours)


class Changed(Refused):
    """The version a form showed was corrected by someone else since: reload and look again.

    `what` happened, `by` whom (display name) and `at` (UTC) when, for the page to show in ward
    time.
    """

    def __init__(self, field: str, by: str, at: datetime, what: str) -> None:
        self.what = what  # e.g. "This observation was changed"
        self.by = by
        self.at = at
        super().__init__(
            {field: f"{what} by {by} at {at:%H:%M} UTC since you opened it: reload and check"}
        )


# ---------------------------------------------------------------------------------------------
# Reading: each record with its versions


@dataclass(frozen=True)
class ObservationVersion:
    """One version (row) of an observation, as entered, with who recorded it and why."""

    observation_id: int
    observed_at: datetime
    code: str
    value: float | str  # canonical
    unit: str | None  # canonical
    entered_value: float | str | None  # as typed
    entered_unit: str | None
    period_h: float | None
    status: str  # final, amended, entered_in_error
    recorded_at: datetime
    recorded_by: str  # username
    recorded_by_name: str
    correction_reason: str | None


@dataclass(frozen=True)
class DoseVersion:
    """One version (row) of a dose record, with who recorded it and why."""

    dose_id: int
    cycle: int
    number: int
    time: datetime
    status: str  # given, held, not_given
    reason: str | None  # why held or not given
    record_status: str  # final, amended, entered_in_error
    recorded_at: datetime
    recorded_by: str
    recorded_by_name: str
    correction_reason: str | None


_V = TypeVar("_V", ObservationVersion, DoseVersion)


@dataclass(frozen=True)
class Record(Generic[_V]):
    """A record and its history: `versions` oldest first; the last is the current one."""

    versions: tuple[_V, ...]

    @property
    def original(self) -> _V:
        return self.versions[0]

    @property
    def current(self) -> _V:
        return self.versions[-1]

    @property
    def withdrawn(self) -> bool:
        """True when the record was marked entered in error (it no longer counts)."""
        last = self.current
        status = last.status if isinstance(last, ObservationVersion) else last.record_status
        return status == "entered_in_error"

    @property
    def corrected(self) -> bool:
        return len(self.versions) > 1


def observation_records(
    db: Database,
    admission_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Record[ObservationVersion]]:
    """Return an admission's observations, each with its versions, by current observed time.

    `since` (exclusive) and `until` (inclusive) select by the current version's observed time.
    Withdrawn records are included (the chart of corrections shows them, struck through).
    """
    with db.read_session() as session:
        rows = session.execute(
            select(m.Observation, m.User.username, m.User.display_name)
            .join(m.User, m.User.id == m.Observation.recorded_by)
            .where(m.Observation.admission_id == admission_id)
            .order_by(m.Observation.id)
        ).all()
    versions = {row.id: _observation_version(row, name, shown) for row, name, shown in rows}
    chains = _chains({row.id: row.supersedes_id for row, _, _ in rows}, versions)
    records = [Record(versions=chain) for chain in chains]
    records = [
        r
        for r in records
        if (since is None or r.current.observed_at > since)
        and (until is None or r.current.observed_at <= until)
    ]
    return sorted(records, key=lambda r: (r.current.observed_at, r.original.observation_id))


def dose_records(db: Database, admission_id: int) -> list[Record[DoseVersion]]:
    """Return an admission's dose records, each with its versions, by cycle, number and entry."""
    with db.read_session() as session:
        rows = session.execute(
            select(m.Dose, m.User.username, m.User.display_name)
            .join(m.User, m.User.id == m.Dose.recorded_by)
            .where(m.Dose.admission_id == admission_id)
            .order_by(m.Dose.id)
        ).all()
    versions = {row.id: _dose_version(row, name, shown) for row, name, shown in rows}
    chains = _chains({row.id: row.supersedes_id for row, _, _ in rows}, versions)
    records = [Record(versions=chain) for chain in chains]
    return sorted(records, key=lambda r: (r.current.cycle, r.current.number, r.original.dose_id))


def _chains(supersedes: dict[int, int | None], versions: dict[int, _V]) -> list[tuple[_V, ...]]:
    """Return each chain of versions (original first), from row id -> id it supersedes."""
    successor = {old: new for new, old in supersedes.items() if old is not None}
    chains = []
    for row_id, old in supersedes.items():
        if old is not None:
            continue  # not an original
        chain = [versions[row_id]]
        at = row_id
        while at in successor:
            at = successor[at]
            chain.append(versions[at])
        chains.append(tuple(chain))
    return chains


def _observation_version(row: m.Observation, username: str, name: str) -> ObservationVersion:
    value: float | str = row.value if row.value is not None else (row.value_text or "")
    return ObservationVersion(
        observation_id=row.id,
        observed_at=row.observed_at,
        code=row.code,
        value=value,
        unit=row.unit,
        entered_value=_entered(row.entered_value),
        entered_unit=row.entered_unit,
        period_h=row.period_h,
        status=row.status,
        recorded_at=row.recorded_at,
        recorded_by=username,
        recorded_by_name=name,
        correction_reason=row.correction_reason,
    )


def _dose_version(row: m.Dose, username: str, name: str) -> DoseVersion:
    return DoseVersion(
        dose_id=row.id,
        cycle=row.cycle,
        number=row.number,
        time=row.time,
        status=row.status,
        reason=row.reason,
        record_status=row.record_status,
        recorded_at=row.recorded_at,
        recorded_by=username,
        recorded_by_name=name,
        correction_reason=row.correction_reason,
    )


def _entered(text: str | None) -> float | str | None:
    if text is None:
        return None
    value: float | str = json.loads(text)
    return value


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class Correction:
    """What a correction stored: the row it corrects and the new row."""

    entity: str  # observation or dose
    corrected_id: int  # the version the form showed
    correction_id: int  # the new, current version
    status: str  # amended or entered_in_error
    recorded_at: datetime
    replayed: bool = False  # the key was used before: nothing stored this time


def amend_observation(
    db: Database,
    observation_id: int,
    *,
    value: object,
    reason: str,
    actor: SignedIn | None,
    idempotency_key: str,
    unit: str | None = None,
    observed_at: datetime | None = None,
    period_h: float | None = None,
) -> Correction:
    """Correct the value (and unit, observed time or collection period) of an observation.

    `observation_id` is the version the form showed; if it was corrected since, `Changed`.
    Omitted `unit`, `observed_at` and `period_h` keep the shown version's. The new value is
    checked like a bedside entry (field `value`, `unit`, `period_h`, `observed_at`; a period
    above 0 and at most 24 h, only for a volume); refused also: a blank reason (`reason`), the
    same value, unit, time and period as recorded (`value`), a record marked entered in error
    (`record`). Permission: see the module docstring.
    """

    def change(session: Session, row: m.Observation, user: m.User, now: datetime) -> None:
        errors: dict[str, str] = {}
        text = _reason(errors, reason)
        admission = session.get_one(m.Admission, row.admission_id)
        when = observed_at if observed_at is not None else row.observed_at
        _check_time(errors, "observed_at", when, now, admission)
        facts = _amended_observation(errors, row, value, unit, when, period_h)
        if facts is not None and not errors and _same_observation(row, facts):
            errors["value"] = "is the same as recorded: nothing to correct"
        if errors or facts is None:
            raise Refused(errors or {"value": "is required"})
        new = correct_observation(
            session, row, by=user, reason=text, idempotency_key=idempotency_key, **facts
        )
        _audit(session, user, "amend_observation", "observation", row, new, text)

    return _correct(db, m.Observation, observation_id, actor, idempotency_key, change)


def withdraw_observation(
    db: Database,
    observation_id: int,
    *,
    reason: str,
    actor: SignedIn | None,
    idempotency_key: str,
) -> Correction:
    """Mark an observation entered in error (it stays, shown struck through, and no longer
    counts); as `amend_observation` for the version shown, the reason and permission."""
    return _withdraw(db, m.Observation, observation_id, reason, actor, idempotency_key)


def amend_dose(
    db: Database,
    dose_id: int,
    *,
    status: str,
    time: datetime,
    dose_reason: str | None,
    reason: str,
    actor: SignedIn | None,
    idempotency_key: str,
) -> Correction:
    """Correct a dose record's status (given, held, not given), time or reason held.

    The cycle and number stay (a dose recorded in the wrong slot is marked entered in error
    and recorded again). Refused, naming the field: a status not of DOSE_STATUSES (`status`),
    held or not given without `dose_reason`, a time in the future or outside the admission
    (`time`), nothing changed (`status`), a blank `reason`. As `amend_observation` otherwise.
    """

    def change(session: Session, row: m.Dose, user: m.User, now: datetime) -> None:
        errors: dict[str, str] = {}
        text = _reason(errors, reason)
        if status not in DOSE_STATUSES:
            errors["status"] = f"{status!r} is not one of {', '.join(DOSE_STATUSES)}"
        why = (dose_reason or "").strip() or None
        if status in ("held", "not_given") and why is None:
            errors["dose_reason"] = "is required when a dose is held or not given"
        elif why is not None and "\x00" in why:
            errors["dose_reason"] = "contains a NUL character, which cannot be stored"
        admission = session.get_one(m.Admission, row.admission_id)
        _check_time(errors, "time", time, now, admission)
        if not errors and (status, time, why) == (row.status, row.time, row.reason):
            errors["status"] = "status, time and reason are as recorded: nothing to correct"
        if errors:
            raise Refused(errors)
        new = correct_dose(
            session,
            row,
            by=user,
            correction_reason=text,
            idempotency_key=idempotency_key,
            status=status,
            time=time,
            reason=why,
        )
        _audit(session, user, "amend_dose", "dose", row, new, text)

    return _correct(db, m.Dose, dose_id, actor, idempotency_key, change)


def withdraw_dose(
    db: Database,
    dose_id: int,
    *,
    reason: str,
    actor: SignedIn | None,
    idempotency_key: str,
) -> Correction:
    """Mark a dose record entered in error (the slot is free to record again); as
    `withdraw_observation` otherwise."""
    return _withdraw(db, m.Dose, dose_id, reason, actor, idempotency_key)


# ---------------------------------------------------------------------------------------------
# The shared steps: who, which version, once


def _withdraw(
    db: Database,
    model: type[_Row],
    row_id: int,
    reason: str,
    actor: SignedIn | None,
    idempotency_key: str,
) -> Correction:
    """Mark an observation or a dose entered in error: a new version that no longer counts."""

    def change(session: Session, row: _Row, user: m.User, now: datetime) -> None:
        errors: dict[str, str] = {}
        text = _reason(errors, reason)
        if errors:
            raise Refused(errors)
        if isinstance(row, m.Observation):
            new: m.Observation | m.Dose = correct_observation(
                session,
                row,
                by=user,
                reason=text,
                entered_in_error=True,
                idempotency_key=idempotency_key,
            )
            _audit(session, user, "mark_observation_in_error", "observation", row, new, text)
        else:
            new = correct_dose(
                session,
                row,
                by=user,
                correction_reason=text,
                entered_in_error=True,
                idempotency_key=idempotency_key,
            )
            _audit(session, user, "mark_dose_in_error", "dose", row, new, text)

    return _correct(db, model, row_id, actor, idempotency_key, change)


def _correct(
    db: Database,
    model: type[_Row],
    row_id: int,
    actor: SignedIn | None,
    idempotency_key: str,
    change: Callable[[Session, _Row, m.User, datetime], None],
) -> Correction:
    key = _checked_key(idempotency_key)
    try:
        return _correct_once(db, model, row_id, actor, key, change)
    except IntegrityError:
        # Someone corrected the same version (unique supersedes_id), or this key was stored
        # by a concurrent submission, between our look and our insert (PostgreSQL runs them
        # side by side): look again, which finds the key (replay) or the successor (Changed).
        return _correct_once(db, model, row_id, actor, key, change)


def _correct_once(
    db: Database,
    model: type[_Row],
    row_id: int,
    actor: SignedIn | None,
    key: str,
    change: Callable[[Session, _Row, m.User, datetime], None],
) -> Correction:
    entity = "observation" if model is m.Observation else "dose"
    with db.write_session() as session:
        user = acting_user(session, actor, CORRECTING_ROLES, f"correct {entity}s")
        earlier = session.scalars(select(model).where(model.idempotency_key == key)).first()
        if earlier is not None:
            if earlier.supersedes_id != row_id:
                raise Refused({"idempotency_key": f"was already used for another {entity}"})
            return _result(entity, earlier, replayed=True)
        row = session.get(model, row_id)
        if row is None:
            raise Refused({"record": f"there is no {entity} {row_id}"})
        successor = session.scalars(select(model).where(model.supersedes_id == row_id)).first()
        if successor is not None and successor.idempotency_key == key:
            # The same submission, committed by a twin request between our two reads (under
            # PostgreSQL's READ COMMITTED each statement sees the newest commits): a replay.
            return _result(entity, successor, replayed=True)
        if successor is not None:
            by = session.get_one(m.User, successor.recorded_by).display_name
            withdrawn = _status(successor) == "entered_in_error"
            what = "marked entered in error" if withdrawn else "changed"
            raise Changed("record", by, successor.recorded_at, f"This {entity} was {what}")
        if _status(row) == "entered_in_error":
            raise Refused(
                {"record": f"this {entity} is marked entered in error: nothing to correct"}
            )
        now = m.utcnow()
        _check_may_correct(session, model, row, user, now, entity)
        change(session, row, user, now)
        new = session.scalars(select(model).where(model.supersedes_id == row_id)).one()
        return _result(entity, new, replayed=False)


def _check_may_correct(
    session: Session, model: type[_Row], row: _Row, user: m.User, now: datetime, entity: str
) -> None:
    """Raise PermissionDenied unless the user may correct this record now."""
    if user.role == ALWAYS_MAY_CORRECT:
        return
    original: _Row = row
    while original.supersedes_id is not None:
        original = session.get_one(model, original.supersedes_id)
    if original.recorded_by != user.id:
        author = session.get_one(m.User, original.recorded_by)
        by = "an import" if author.role == "system" else author.display_name
        raise PermissionDenied(
            f"This {entity} was recorded by {by}: only they (within "
            f"{_hours(correction_window())}) or a physician may correct it."
        )
    window = correction_window()
    if now - original.recorded_at > window:
        raise PermissionDenied(
            f"This {entity} was recorded more than {_hours(window)} ago "
            f"({format_time(original.recorded_at)}): only a physician may correct it now."
        )


def _hours(window: timedelta) -> str:
    return f"{window.total_seconds() / 3600:g} h"


def _status(row: m.Observation | m.Dose) -> str:
    return row.status if isinstance(row, m.Observation) else row.record_status


def _result(entity: str, row: m.Observation | m.Dose, *, replayed: bool) -> Correction:
    assert row.supersedes_id is not None
    return Correction(
        entity=entity,
        corrected_id=row.supersedes_id,
        correction_id=row.id,
        status=_status(row),
        recorded_at=row.recorded_at,
        replayed=replayed,
    )


def _reason(errors: dict[str, str], reason: str) -> str:
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        errors["reason"] = "is required: say why the record is corrected"
    elif "\x00" in text:
        errors["reason"] = "contains a NUL character, which cannot be stored"
    elif len(text) > MAX_REASON:
        errors["reason"] = f"must be at most {MAX_REASON} characters"
    return text


def _amended_observation(
    errors: dict[str, str],
    row: m.Observation,
    value: object,
    unit: str | None,
    when: datetime,
    period_h: float | None,
) -> dict[str, Any] | None:
    """Return the new facts of an amended observation, checked as a bedside entry; or None."""
    spec = units.spec_for(row.code)
    if spec is None:  # stored rows have known codes; kept for a code retired since
        errors["record"] = f"{row.code} is no longer a code of this format"
        return None
    if value is None or (isinstance(value, str) and not value.strip()):
        errors["value"] = "is required (to withdraw the value, mark it entered in error)"
        return None
    typed = _number(value) if spec.kind == "quantity" and isinstance(value, str) else value
    if isinstance(typed, float) and typed.is_integer() and not isinstance(value, str):
        typed = int(typed)  # 94.0 from a number box is stored as typed, 94
    item: dict[str, Any] = {
        "time": format_time(when) if when.utcoffset() is not None else "2000-01-01T00:00:00Z",
        "code": row.code,
        "value": typed,
    }
    if spec.kind == "quantity":
        item["unit"] = unit or row.entered_unit or row.unit
    if period_h is not None and not _is_period(period_h):
        # The course check only asks that a volume has a period: its range is the entry's.
        errors["period_h"] = PERIOD_REFUSAL
        return None
    period = period_h if period_h is not None else row.period_h
    if period is not None:
        item["period_h"] = period
    try:
        parsed = c.parse_observation(item, row.code)
    except CourseError as error:
        errors[error.field.rpartition(".")[2]] = error.message
        return None
    return {
        "observed_at": when,
        "value": None if isinstance(parsed.value, str) else float(parsed.value),
        "value_text": parsed.value if isinstance(parsed.value, str) else None,
        "unit": parsed.unit,
        "entered_value": None if parsed.entered_value is None else json.dumps(parsed.entered_value),
        "entered_unit": parsed.entered_unit,
        "period_h": parsed.period_h,
    }


def _same_observation(row: m.Observation, facts: dict[str, Any]) -> bool:
    return all(getattr(row, name) == value for name, value in facts.items())


def _facts(row: m.Observation | m.Dose) -> dict[str, Any]:
    if isinstance(row, m.Observation):
        return {
            "observation_id": row.id,
            "observed_at": format_time(row.observed_at),
            "code": row.code,
            "value": _entered(row.entered_value),
            "unit": row.entered_unit,
            "period_h": row.period_h,
            "status": row.status,
        }
    return {
        "dose_id": row.id,
        "cycle": row.cycle,
        "number": row.number,
        "time": format_time(row.time),
        "status": row.status,
        "reason": row.reason,
        "record_status": row.record_status,
    }


def _audit(
    session: Session,
    user: m.User,
    action: str,
    entity: str,
    before: m.Observation | m.Dose,
    after: m.Observation | m.Dose,
    reason: str,
) -> None:
    record_event(
        session,
        actor=user.username,
        action=action,
        entity=entity,
        entity_id=before.id,
        before=_facts(before),
        after=_facts(after),
        reason=reason,
    )


def current_versions(records: Sequence[Record[_V]]) -> list[_V]:
    """Return the current version of each record that still counts (not withdrawn)."""
    return [r.current for r in records if not r.withdrawn]


__all__ = [
    "CORRECTING_ROLES",
    "CORRECTION_WINDOW_ENV",
    "DEFAULT_CORRECTION_WINDOW",
    "Changed",
    "Correction",
    "DoseVersion",
    "ObservationVersion",
    "PermissionDenied",
    "Record",
    "Refused",
    "amend_dose",
    "amend_observation",
    "correction_window",
    "dose_records",
    "observation_records",
    "withdraw_dose",
    "withdraw_observation",
]
