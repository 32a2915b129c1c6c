"""Queries and writes shared by the use cases: current records, corrections, the audit log.

A record's current version is the row that no other row supersedes; it counts only when its
status is not `entered_in_error`. Corrections are new rows (see `il2_tox.store.models`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, select
from sqlalchemy.orm import Session, aliased

from il2_tox.store.models import AuditEvent, Dose, Observation, User


def observation_is_current() -> ColumnElement[bool]:
    """Return the condition that an observation row is current (not corrected, not an error)."""
    successor = aliased(Observation)
    return and_(
        Observation.status != "entered_in_error",
        ~exists().where(successor.supersedes_id == Observation.id),
    )


def dose_is_current() -> ColumnElement[bool]:
    """Return the condition that a dose row is current (not corrected, not an error)."""
    successor = aliased(Dose)
    return and_(
        Dose.record_status != "entered_in_error",
        ~exists().where(successor.supersedes_id == Dose.id),
    )


def current_observations(admission_id: int) -> Select[Observation]:
    """Return a query for an admission's current observations, by observed time then entry."""
    return (
        select(Observation)
        .where(Observation.admission_id == admission_id, observation_is_current())
        .order_by(Observation.observed_at, Observation.id)
    )


def current_doses(admission_id: int) -> Select[Dose]:
    """Return a query for an admission's current dose records, by cycle and number."""
    return (
        select(Dose)
        .where(Dose.admission_id == admission_id, dose_is_current())
        .order_by(Dose.cycle, Dose.number, Dose.id)
    )


_OBSERVATION_FACTS = (
    "admission_id",
    "observed_at",
    "code",
    "value",
    "value_text",
    "unit",
    "entered_value",
    "entered_unit",
    "ref_low",
    "ref_high",
    "period_h",
)


def correct_observation(
    session: Session,
    original: Observation,
    *,
    by: User,
    reason: str,
    entered_in_error: bool = False,
    idempotency_key: str | None = None,
    **changes: Any,
) -> Observation:
    """Add the row that corrects `original` and return it; `original` is left as it was.

    `changes` are new values of the measured facts (`value`, `entered_value`, `observed_at`...);
    with `entered_in_error=True` there must be none: the row repeats the original's facts and
    withdraws them. A blank reason is refused. Correcting a row that is already corrected fails
    at flush with an IntegrityError (unique `supersedes_id`): re-read the current row first.
    `idempotency_key` (unique) marks the form submission that made it.
    """
    if not reason.strip():
        raise ValueError("a correction needs a reason")
    unknown = set(changes) - set(_OBSERVATION_FACTS)
    if unknown:
        raise ValueError(f"not a fact of an observation: {', '.join(sorted(unknown))}")
    if entered_in_error and changes:
        raise ValueError("an entered-in-error mark repeats the original; give no new values")
    facts = {name: getattr(original, name) for name in _OBSERVATION_FACTS} | changes
    correction = Observation(
        **facts,
        recorded_by=by.id,
        status="entered_in_error" if entered_in_error else "amended",
        supersedes_id=original.id,
        correction_reason=reason,
        idempotency_key=idempotency_key,
    )
    session.add(correction)
    session.flush()
    return correction


_DOSE_FACTS = ("admission_id", "cycle", "number", "time", "status", "reason")


def correct_dose(
    session: Session,
    original: Dose,
    *,
    by: User,
    correction_reason: str,
    entered_in_error: bool = False,
    idempotency_key: str | None = None,
    **changes: Any,
) -> Dose:
    """Add the row that corrects the dose record `original` and return it (as
    `correct_observation`: `changes` are new `status`, `time` or `reason` (why it was held);
    none with `entered_in_error=True`; a blank `correction_reason` refused; a second correction
    of one row fails at flush with an IntegrityError)."""
    if not correction_reason.strip():
        raise ValueError("a correction needs a reason")
    unknown = set(changes) - set(_DOSE_FACTS)
    if unknown:
        raise ValueError(f"not a fact of a dose: {', '.join(sorted(unknown))}")
    if entered_in_error and changes:
        raise ValueError("an entered-in-error mark repeats the original; give no new values")
    facts = {name: getattr(original, name) for name in _DOSE_FACTS} | changes
    correction = Dose(
        **facts,
        recorded_by=by.id,
        record_status="entered_in_error" if entered_in_error else "amended",
        supersedes_id=original.id,
        correction_reason=correction_reason,
        idempotency_key=idempotency_key,
    )
    session.add(correction)
    session.flush()
    return correction


def record_event(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one entry to the audit log, in the caller's transaction."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    return event
