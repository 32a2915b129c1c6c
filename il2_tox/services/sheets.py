"""Exporting the printable sheets: the handoff (one patient or the whole ward) and the vitals
sheet (one patient, one cycle; CSV or PDF).

Every export is an export of patient data: it is allowed to nurses, physicians and admins
signed in (checked against the users table, as every use case does), or to the command line
(`SystemActor`, someone with direct access to the database), and it writes one audit entry
(`export_handoff` / `export_vitals`) naming the patients, the format, the page size and the
SHA-256 of the document handed out. The document is made first and returned only once its
audit entry is committed: no sheet leaves without its entry.

The content comes from the existing services, never re-derived: the courses from
`course_io` (`iter_courses`, and its reading of one stored course), flags and advice from
`assess`, the ward line from `ward.summarize`, acknowledgements from
`bedside.active_acknowledgements`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from il2_tox.assess import assess
from il2_tox.course import Course, format_time
from il2_tox.rules.config import Rules, load_rules
from il2_tox.services.bedside import active_acknowledgements
from il2_tox.services.course_io import (
    NotFound,
    _course_of,
    _find_admission,
    iter_courses,
    list_admissions,
)
from il2_tox.services.errors import Refused
from il2_tox.services.users import SignedIn, SystemActor, acting_user
from il2_tox.services.ward import summarize
from il2_tox.sheets import pdf
from il2_tox.sheets.handoff import (
    FlagAcknowledged,
    PatientHandoff,
    patient_handoff,
    severity_order,
)
from il2_tox.sheets.vitals import VitalsSheet, vitals_csv, vitals_sheet
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event

EXPORT_ROLES = ("nurse", "physician", "admin")
# None (signed out) is refused with PermissionDenied, like any use case.
Actor = SignedIn | SystemActor | None
VitalsFormat = Literal["csv", "pdf"]


@dataclass(frozen=True)
class Export:
    """A document handed out: its bytes, a file name, its media type and whose data it holds."""

    data: bytes
    filename: str
    media_type: str
    patients: tuple[str, ...]
    audit_id: int


def _actor_name(db: Database, actor: Actor, action: str) -> str:
    """Return the audit name of the actor, refusing one who may not export (PermissionDenied)."""
    if isinstance(actor, SystemActor):
        return actor.name
    with db.read_session() as session:
        return acting_user(session, actor, EXPORT_ROLES, action).username


def _display_name(actor: Actor) -> str:
    if isinstance(actor, SystemActor):
        return actor.name
    return actor.display_name if actor is not None else ""


def _audit(
    db: Database,
    actor: Actor,
    action: str,
    what: str,
    entity: str,
    entity_id: object,
    data: bytes,
    details: dict[str, Any],
) -> int:
    """Write the export's audit entry in its own transaction (the actor checked again there)."""
    with db.write_session() as session:
        if isinstance(actor, SystemActor):
            name = actor.name
        else:
            name = acting_user(session, actor, EXPORT_ROLES, what).username
        event = record_event(
            session,
            actor=name,
            action=action,
            entity=entity,
            entity_id=entity_id,
            after={**details, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        )
        session.flush()
        return event.id


def _acknowledged(
    db: Database, admission_id: int, now: datetime
) -> dict[tuple[str, datetime], FlagAcknowledged]:
    return {
        key: FlagAcknowledged(ack.by_name, ack.at, ack.reason, ack.snooze_until)
        for key, ack in active_acknowledgements(db, admission_id, now).items()
    }


def _stored_course(db: Database, patient_id: str) -> Course:
    """Return the patient's latest course, read only: the sheet's own entry is the audit of the
    export (`export_course` would write a second one, by the command line's name, and write it
    even when the request is then refused). Raise NotFound for an unknown MRN."""
    with db.read_session() as session:
        return _course_of(session, _find_admission(session, patient_id, None))


def build_handoffs(
    db: Database, now: datetime, rules: Rules, patient_id: str | None = None
) -> list[PatientHandoff]:
    """Return the handoff content of one patient (the current admission) or of the whole ward
    (every current admission), most unstable first. Raise NotFound for an unknown or
    discharged patient."""
    admissions = list_admissions(db)
    if patient_id is not None:
        admissions = [a for a in admissions if a.patient_id == patient_id]
        if not admissions:
            _stored_course(db, patient_id)  # NotFound names an unknown MRN
            raise NotFound(f"{patient_id} has no current admission (discharged)")
    ids = [a.admission_id for a in admissions]
    courses: Sequence[Course] = list(iter_courses(db, admissions=ids)) if ids else []
    handoffs = []
    for admission_id, course in zip(ids, courses, strict=True):
        assessment = assess(course, rules)
        row = summarize(course, assessment, now, rules)
        handoffs.append(
            patient_handoff(
                course, assessment, row, _acknowledged(db, admission_id, now), now, rules
            )
        )
    handoffs.sort(key=severity_order)
    return handoffs


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%MZ")


def export_handoff(
    db: Database,
    actor: Actor,
    *,
    patient_id: str | None = None,
    now: datetime | None = None,
    page_size: str = pdf.DEFAULT_PAGE_SIZE,
    tz: tzinfo,
    rules: Rules | None = None,
) -> Export:
    """Return the handoff PDF of one patient or (patient_id None) the ward, audited.

    Raise PermissionDenied for an actor who may not export, Refused naming `page_size` for a
    size other than A4 or letter and `patient` for an unknown or discharged MRN; nothing is
    written then.
    """
    now = now if now is not None else m.utcnow()
    rules = rules if rules is not None else load_rules()
    what = "export handoff sheets"
    _actor_name(db, actor, what)
    try:
        page_size = pdf.page_size_name(page_size)
    except pdf.PageSizeError as error:
        raise Refused({"page_size": str(error)}) from None
    try:
        handoffs = build_handoffs(db, now, rules, patient_id)
    except NotFound as error:
        raise Refused({"patient": str(error)}) from None
    data = pdf.handoff_pdf(
        handoffs,
        printed=pdf.Printed(now, _display_name(actor), tz),
        size=page_size,
        ward=patient_id is None,
    )
    patients = tuple(h.patient_id for h in handoffs)
    audit_id = _audit(
        db,
        actor,
        "export_handoff",
        what,
        "patient" if patient_id is not None else "ward",
        patient_id,
        data,
        {
            "format": "pdf",
            "page_size": page_size,
            "patients": list(patients),
            "as_of": format_time(now),
        },
    )
    scope = patient_id or "ward"
    return Export(data, f"handoff-{scope}-{_stamp(now)}.pdf", "application/pdf", patients, audit_id)


def build_vitals_sheet(
    db: Database, patient_id: str, rules: Rules, cycle: int | None = None
) -> VitalsSheet:
    """Return one patient's vitals sheet (latest admission; latest cycle unless `cycle`).

    Raise NotFound for an unknown MRN, ValueError naming the cycles for a cycle not in it.
    """
    course = _stored_course(db, patient_id)
    return vitals_sheet(course, assess(course, rules), cycle)


def export_vitals(
    db: Database,
    actor: Actor,
    *,
    patient_id: str,
    cycle: int | None = None,
    fmt: VitalsFormat = "pdf",
    now: datetime | None = None,
    page_size: str = pdf.DEFAULT_PAGE_SIZE,
    tz: tzinfo,
    rules: Rules | None = None,
) -> Export:
    """Return one patient's vitals sheet for one cycle as CSV or PDF, audited.

    Raise PermissionDenied for an actor who may not export; Refused naming the field for an
    unknown patient, a cycle the course does not have, a format other than csv or pdf or a
    page size other than A4 or letter. Nothing is written then.
    """
    now = now if now is not None else m.utcnow()
    rules = rules if rules is not None else load_rules()
    what = "export vitals sheets"
    _actor_name(db, actor, what)
    errors: dict[str, str] = {}
    if fmt not in ("csv", "pdf"):
        errors["format"] = f"{fmt!r} is not csv or pdf"
    try:
        page_size = pdf.page_size_name(page_size)
    except pdf.PageSizeError as error:
        errors["page_size"] = str(error)
    if errors:
        raise Refused(errors)
    try:
        sheet = build_vitals_sheet(db, patient_id, rules, cycle)
    except NotFound as error:
        raise Refused({"patient": str(error)}) from None
    except ValueError as error:
        raise Refused({"cycle": str(error)}) from None
    if fmt == "csv":
        data = vitals_csv(sheet, tz).encode("utf-8")
        media_type = "text/csv"
    else:
        data = pdf.vitals_pdf(
            sheet, printed=pdf.Printed(now, _display_name(actor), tz), size=page_size
        )
        media_type = "application/pdf"
    audit_id = _audit(
        db,
        actor,
        "export_vitals",
        what,
        "patient",
        patient_id,
        data,
        {
            "format": fmt,
            "cycle": sheet.cycle,
            "page_size": page_size if fmt == "pdf" else None,
            "patients": [patient_id],
            "rows": len(sheet.rows),
            "as_of": format_time(now),
        },
    )
    filename = f"vitals-{patient_id}-C{sheet.cycle}-{_stamp(now)}.{fmt}"
    return Export(data, filename, media_type, (patient_id,), audit_id)
