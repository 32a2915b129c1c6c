"""Use cases that move whole courses in and out of the database: import, export, the ward list.

A course is identified by its patient's MRN (`patient.id`) and its `admission.admitted_at`.
Each course is imported in one write transaction, with its audit entry: it is stored whole or
not at all. Importing a course that is already stored, identical, changes nothing ("already
loaded"); one that differs from what is stored is refused (nothing is overwritten: corrections
go through the ward, as new rows). Export gives back the current version of every record, with
values and units as they were entered, so `export_course` of an imported course gives the same
course.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.types import NullType
from tqdm import tqdm

from il2_tox import course as c
from il2_tox.course import Course, CourseError, format_time
from il2_tox.services.fhir_io import read_course_file
from il2_tox.services.users import PERSON_ROLES, SignedIn, SystemActor, acting_user
from il2_tox.store import models as m
from il2_tox.store.engine import Database
from il2_tox.store.records import (
    current_doses,
    current_observations,
    dose_is_current,
    observation_is_current,
    record_event,
)
from il2_tox.store.retry import retrying

ImportStatus = Literal["loaded", "already_loaded", "refused"]
# The audit actor of an export whose caller names no one (prefer naming the operator).


class NotFound(LookupError):
    """No such patient or admission; `str()` is one line saying which."""


@dataclass(frozen=True)
class ImportResult:
    """What happened to one course (or file): loaded, already loaded, or refused and why."""

    status: ImportStatus
    source: str | None = None
    patient_id: str | None = None
    admitted_at: datetime | None = None
    admission_id: int | None = None
    observations: int = 0
    doses: int = 0
    error: CourseError | None = None
    not_imported: tuple[str, ...] = ()  # what of a FHIR bundle was left out, for the report

    @property
    def refused(self) -> bool:
        return self.status == "refused"

    def describe(self) -> str:
        """Return one line for a person: `FILE: loaded MRN-1 admitted ... (n observations...)`."""
        where = f"{self.source}: " if self.source else ""
        if self.error is not None:
            return f"{where}{self.error}"
        admitted = format_time(self.admitted_at) if self.admitted_at else "?"
        if self.status == "already_loaded":
            line = f"{where}already loaded ({self.patient_id} admitted {admitted}); nothing changed"
        else:
            line = (
                f"{where}loaded {self.patient_id} admitted {admitted} "
                f"({self.observations} observations, {self.doses} doses)"
            )
        return "".join([line, *(f"\n  not imported: {note}" for note in self.not_imported)])


@dataclass(frozen=True)
class AdmissionSummary:
    """One line of the ward list: a current (not discharged) admission."""

    admission_id: int
    patient_id: str
    name: str | None
    ward: str | None
    bed: str | None
    admitted_at: datetime
    latest_dose_cycle: int | None
    latest_dose_number: int | None
    latest_dose_status: str | None
    observations: int


# ---------------------------------------------------------------------------------------------
# Import


def import_course(
    db: Database, course: Course, recorded_by: str = "import", source: str | None = None
) -> ImportResult:
    """Store one course in one write transaction, with an audit entry; return what happened.

    Already stored and identical: nothing changes, status `already_loaded`. Raise CourseError
    (nothing written) when the MRN is stored with other demographics, when the admission is
    stored with different content, or when a text cannot be stored (a NUL character). The user
    `recorded_by` is created as a system user (no password, cannot sign in) if missing. Two
    imports of the same new course racing on PostgreSQL: the loser retries once and reports
    `already_loaded`.
    """
    _refuse_unstorable_text(course)

    def store() -> ImportResult:
        try:
            with db.write_session() as session:
                return _import(session, course, recorded_by, source)
        except IntegrityError:
            # Another import stored this patient or admission since we looked (PostgreSQL
            # runs imports side by side): look again; a second failure is a real fault.
            with db.write_session() as session:
                return _import(session, course, recorded_by, source)

    # Safe to run twice: a course already stored, identical, is "already loaded".
    return retrying(store, idempotent=True)


def import_files(
    db: Database,
    paths: Iterable[str | Path],
    progress: bool = True,
    recorded_by: str = "import",
) -> list[ImportResult]:
    """Import course files, one transaction each; return one result per file, in order.

    A file is a course file or a FHIR R4 Bundle (il2_tox.fhir). A bad file (CourseError:
    unreadable, invalid, conflicting) changes nothing and comes back
    `refused` with its error; the other files still load. With `progress`, a tqdm bar is shown
    on stderr when stderr is a terminal.
    """
    paths = list(paths)
    results = []
    bar = tqdm(
        paths, desc="import", unit="file", file=sys.stderr, disable=None if progress else True
    )
    for path in bar:
        source = str(path)
        try:
            course, not_imported = read_course_file(path)  # a course file or a FHIR bundle
            result = import_course(db, course, recorded_by, source)
            if not_imported:
                result = dataclasses.replace(result, not_imported=not_imported)
        except CourseError as error:
            result = ImportResult(status="refused", source=source, error=error)
        results.append(result)
    return results


def _import(session: Session, course: Course, recorded_by: str, source: str | None) -> ImportResult:
    user_id = _ensure_system_user(session, recorded_by)
    patient = _find_or_add_patient(session, course.patient)
    a = course.admission
    admission = session.scalars(
        select(m.Admission).where(
            m.Admission.patient_id == patient.id, m.Admission.admitted_at == a.admitted_at
        )
    ).one_or_none()
    if admission is not None:
        if _fingerprint(_course_of(session, admission)) != _fingerprint(course):
            raise CourseError(
                "admission.admitted_at",
                f"{course.patient.id} admitted {format_time(a.admitted_at)} is already stored "
                "with different content; nothing was changed",
            )
        return _result("already_loaded", course, admission.id, source)

    h = course.history
    admission = m.Admission(
        patient_id=patient.id,
        admitted_at=a.admitted_at,
        ward=a.ward,
        bed=a.bed,
        weight_kg=course.patient.weight_kg,
        height_cm=course.patient.height_cm,
        regimen_iu_per_kg=a.regimen_iu_per_kg,
        usual_sbp_mmhg=a.usual_sbp_mmhg,
        spo2_target=a.spo2_target,
        brain_metastases=h.brain_metastases if h else None,
        systemic_steroids=h.systemic_steroids if h else None,
        ecog=h.ecog if h else None,
        prior_therapies=list(h.prior_therapies) if h else None,
    )
    session.add(admission)
    session.flush()
    session.add_all(
        m.PriorToxicity(
            admission_id=admission.id,
            agent=t.agent,
            irae=t.irae,
            grade=t.grade,
            onset=t.onset,
            resolved=t.resolved,
            steroids=t.steroids,
            note=t.note,
        )
        for t in course.prior_toxicities
    )
    recorded_at = m.utcnow()
    if course.doses:
        session.execute(
            insert(m.Dose),
            [
                {
                    "admission_id": admission.id,
                    "cycle": d.cycle,
                    "number": d.number,
                    "time": d.time,
                    "status": d.status,
                    "reason": d.reason,
                    "recorded_at": recorded_at,
                    "recorded_by": user_id,
                    "record_status": "final",
                }
                for d in course.doses
            ],
        )
    if course.observations:
        session.execute(
            insert(m.Observation),
            [_observation_row(o, admission.id, user_id, recorded_at) for o in course.observations],
        )
    record_event(
        session,
        actor=recorded_by,
        action="import",
        entity="admission",
        entity_id=admission.id,
        after={
            "patient": course.patient.id,
            "admitted_at": format_time(a.admitted_at),
            "observations": len(course.observations),
            "doses": len(course.doses),
            "prior_toxicities": len(course.prior_toxicities),
            "source": source,
        },
    )
    return _result("loaded", course, admission.id, source)


def _result(
    status: ImportStatus, course: Course, admission_id: int, source: str | None
) -> ImportResult:
    return ImportResult(
        status=status,
        source=source,
        patient_id=course.patient.id,
        admitted_at=course.admission.admitted_at,
        admission_id=admission_id,
        observations=len(course.observations),
        doses=len(course.doses),
    )


def _ensure_system_user(session: Session, username: str) -> int:
    """Return the id of the user, adding it as an inactive system user if missing (race-safe)."""
    dialect = session.get_bind().dialect.name
    insert_user = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(m.User)
    session.execute(
        insert_user.values(
            username=username,
            display_name=username,
            role="system",
            active=False,
            created_at=m.utcnow(),
            version=1,
        ).on_conflict_do_nothing(index_elements=["username"])
    )
    return session.scalars(select(m.User.id).where(m.User.username == username)).one()


def _find_or_add_patient(session: Session, patient: c.Patient) -> m.Patient:
    """Return the stored patient of this MRN, or add it; refuse other demographics for it."""
    stored = session.scalars(select(m.Patient).where(m.Patient.mrn == patient.id)).one_or_none()
    if stored is None:
        stored = m.Patient(
            mrn=patient.id, name=patient.name, sex=patient.sex, birth_date=patient.birth_date
        )
        session.add(stored)
        session.flush()
        return stored
    for name in ("name", "sex", "birth_date"):
        given, known = getattr(patient, name), getattr(stored, name)
        if given != known:
            raise CourseError(
                f"patient.{name}",
                f"{_text(given)} differs from {_text(known)} stored for {patient.id}; "
                "nothing was changed (is this the right MRN?)",
            )
    return stored


def _text(value: object) -> str:
    return "(absent)" if value is None else json.dumps(str(value), ensure_ascii=False)


def _observation_row(
    o: c.Observation, admission_id: int, user_id: int, recorded_at: datetime
) -> dict[str, Any]:
    coded = isinstance(o.value, str)
    return {
        "admission_id": admission_id,
        "observed_at": o.time,
        "recorded_at": recorded_at,
        "recorded_by": user_id,
        "code": o.code,
        "value": None if coded else float(o.value),
        "value_text": o.value if coded else None,
        "unit": o.unit,
        "entered_value": None if o.entered_value is None else json.dumps(o.entered_value),
        "entered_unit": o.entered_unit,
        "ref_low": o.ref_low,
        "ref_high": o.ref_high,
        "period_h": o.period_h,
        "status": "final",
    }


def _texts(course: Course) -> Iterator[tuple[str, str | None]]:
    """Yield (field, text) for every free text of a course."""
    yield "patient.id", course.patient.id
    yield "patient.name", course.patient.name
    yield "admission.ward", course.admission.ward
    yield "admission.bed", course.admission.bed
    if course.history is not None:
        for i, therapy in enumerate(course.history.prior_therapies):
            yield f"history.prior_therapies[{i}]", therapy
    for i, t in enumerate(course.prior_toxicities):
        yield f"prior_toxicities[{i}].agent", t.agent
        yield f"prior_toxicities[{i}].note", t.note
    for i, d in enumerate(course.doses):
        yield f"doses[{i}].reason", d.reason


def _refuse_unstorable_text(course: Course) -> None:
    """Raise CourseError for a text PostgreSQL cannot store (NUL); refused on SQLite alike."""
    for field_path, text in _texts(course):
        if text is not None and "\x00" in text:
            raise CourseError(
                field_path, "contains a NUL character (\\u0000), which cannot be stored"
            )


def _fingerprint(course: Course) -> str:
    """Return the course as canonical JSON text, record lists in a fixed order."""
    doc = c.course_to_dict(course)
    for key in ("prior_toxicities", "doses", "observations"):
        doc[key] = sorted(json.dumps(item, sort_keys=True) for item in doc.get(key, ()))
    return json.dumps(doc, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# Export and reading


def export_course(
    db: Database,
    patient_id: str,
    admitted_at: datetime | None = None,
    *,
    actor: SignedIn | SystemActor,
    destination: str | None = None,
) -> Course:
    """Return the stored course of a patient: the latest admission, or the one admitted then.

    Only current records (not corrected, not entered in error), values and units as entered.
    Raise NotFound for an unknown MRN or admission time (nothing written). The course is read
    and its `export` audit entry (who: `actor`, the command line's operator or a signed-in
    person; what; `destination` if given) written in one transaction: an export that is not
    recorded does not happen. A signed-in actor must be an active nurse, physician or admin.
    """
    with db.write_session() as session:
        who = _exporter(session, actor, "export a course")
        admission = _find_admission(session, patient_id, admitted_at)
        course = _course_of(session, admission)
        record_event(
            session,
            actor=who,
            action="export",
            entity="admission",
            entity_id=admission.id,
            after={
                "patient": course.patient.id,
                "admitted_at": format_time(course.admission.admitted_at),
                "observations": len(course.observations),
                "doses": len(course.doses),
                "format": "il2-tox-course/1",
                "destination": destination,
            },
        )
        return course


def cohort_export_ids(
    db: Database,
    *,
    actor: SignedIn | SystemActor,
    what: str = "cohort assessment",
    destination: str | None = None,
) -> list[int]:
    """Return `admission_ids(db)` for a whole-database export, and audit that export.

    The ids are read and the `export` entry (entity `cohort`, the number of admissions, `what`,
    `destination`) written in one transaction, before any row leaves: the export is on record
    even if it is stopped half-way.
    """
    with db.write_session() as session:
        who = _exporter(session, actor, "export the cohort")
        ids = list(session.scalars(_admissions_in_order()))
        record_event(
            session,
            actor=who,
            action="export",
            entity="cohort",
            after={"admissions": len(ids), "format": what, "destination": destination},
        )
        return ids


def _exporter(session: Session, actor: SignedIn | SystemActor, action: str) -> str:
    if isinstance(actor, SystemActor):
        return actor.name
    return acting_user(session, actor, PERSON_ROLES, action).username


def load_course_from_db(db: Database, admission_id: int) -> Course:
    """Return the current course of one admission by its database id; raise NotFound."""
    with db.read_session() as session:
        admission = session.get(m.Admission, admission_id)
        if admission is None:
            raise NotFound(f"no admission {admission_id} in the database")
        return _course_of(session, admission)


def _find_admission(session: Session, patient_id: str, admitted_at: datetime | None) -> m.Admission:
    patient = session.scalars(select(m.Patient).where(m.Patient.mrn == patient_id)).one_or_none()
    if patient is None:
        raise NotFound(f"no patient {patient_id} in the database")
    query = select(m.Admission).where(m.Admission.patient_id == patient.id)
    if admitted_at is not None:
        query = query.where(m.Admission.admitted_at == admitted_at)
    admission = session.scalars(query.order_by(m.Admission.admitted_at.desc()).limit(1)).first()
    if admission is None:
        when = f" admitted {format_time(admitted_at)}" if admitted_at is not None else ""
        raise NotFound(f"no admission of {patient_id}{when} in the database")
    return admission


def _course_of(session: Session, admission: m.Admission) -> Course:
    doses = tuple(_dose_of(d) for d in session.scalars(current_doses(admission.id)))
    observations = tuple(
        _observation_of(o) for o in session.scalars(current_observations(admission.id))
    )
    return _assemble(session, admission, doses, observations)


def _assemble(
    session: Session,
    admission: m.Admission,
    doses: tuple[c.Dose, ...],
    observations: tuple[c.Observation, ...],
) -> Course:
    """Return the Course of an admission row, given its current doses and observations."""
    patient = session.get_one(m.Patient, admission.patient_id)
    toxicities = session.scalars(
        select(m.PriorToxicity)
        .where(m.PriorToxicity.admission_id == admission.id)
        .order_by(m.PriorToxicity.id)
    )
    return _course(
        admission, patient, [_prior_toxicity_of(t) for t in toxicities], doses, observations
    )


def _course(
    admission: m.Admission,
    patient: m.Patient,
    prior_toxicities: Iterable[c.PriorToxicity],
    doses: tuple[c.Dose, ...],
    observations: tuple[c.Observation, ...],
) -> Course:
    """Return the Course of an admission and patient row and its current records."""
    history = None
    if admission.prior_therapies is not None:
        history = c.History(
            brain_metastases=admission.brain_metastases,
            systemic_steroids=admission.systemic_steroids,
            ecog=admission.ecog,
            prior_therapies=tuple(admission.prior_therapies),
        )
    return Course(
        patient=c.Patient(
            id=patient.mrn,
            weight_kg=admission.weight_kg,
            name=patient.name,
            sex=patient.sex,
            birth_date=patient.birth_date,
            height_cm=admission.height_cm,
        ),
        admission=c.Admission(
            admitted_at=admission.admitted_at,
            ward=admission.ward,
            bed=admission.bed,
            regimen_iu_per_kg=admission.regimen_iu_per_kg,
            usual_sbp_mmhg=admission.usual_sbp_mmhg,
            spo2_target=admission.spo2_target,
        ),
        history=history,
        prior_toxicities=tuple(prior_toxicities),
        doses=doses,
        observations=observations,
    )


def _prior_toxicity_of(t: m.PriorToxicity) -> c.PriorToxicity:
    return c.PriorToxicity(
        agent=t.agent,
        irae=t.irae,
        grade=t.grade,
        resolved=t.resolved,
        onset=t.onset,
        steroids=t.steroids,
        note=t.note,
    )


def _dose_of(d: m.Dose) -> c.Dose:
    return c.Dose(cycle=d.cycle, number=d.number, time=d.time, status=d.status, reason=d.reason)


def admission_ids(db: Database) -> list[int]:
    """Return the id of every admission (discharged ones too), oldest admission first.

    Admissions admitted at the same moment come in the order they were stored (by id), so the
    order is the same on every call.
    """
    with db.read_session() as session:
        return list(session.scalars(_admissions_in_order()))


def _admissions_in_order() -> Select[int]:
    return select(m.Admission.id).order_by(m.Admission.admitted_at, m.Admission.id)


def iter_courses(
    db: Database, batch_size: int = 50, admissions: Iterable[int] | None = None
) -> Iterator[Course]:
    """Yield the course of every admission (discharged ones too), oldest admission first.

    With `admissions` (database ids, as `admission_ids` gives them), yield those courses only,
    in that order; raise NotFound for an id that is not stored. For cohort review: reads
    admissions in batches, each batch's admissions, prior toxicities, doses and observations in
    one query each (on SQLite, observations one prepared query per admission), so the number
    of queries grows with admissions at most, never with rows. Doses and observations are read
    as plain columns (no ORM objects: a cohort has millions of rows).
    """
    with db.read_session() as session:
        if admissions is None:
            ids = list(session.scalars(_admissions_in_order()))
        else:
            ids = list(admissions)
        for start in range(0, len(ids), batch_size):
            with c.gc_paused():
                courses = _courses_of_batch(session, ids[start : start + batch_size])
            yield from courses
            session.expunge_all()  # keep memory flat across a large cohort


# The columns of a stored observation that make a course observation, after its time.
_OBSERVATION_VALUES = (
    m.Observation.code,
    m.Observation.value,
    m.Observation.value_text,
    m.Observation.unit,
    m.Observation.entered_value,
    m.Observation.entered_unit,
    m.Observation.ref_low,
    m.Observation.ref_high,
    m.Observation.period_h,
)


def _courses_of_batch(session: Session, batch: list[int]) -> list[Course]:
    """Return the current courses of a batch of admissions, in the batch's order."""
    rows = {
        admission.id: (admission, patient)
        for admission, patient in session.execute(
            select(m.Admission, m.Patient)
            .join(m.Patient, m.Patient.id == m.Admission.patient_id)
            .where(m.Admission.id.in_(batch))
        )
    }
    missing = [admission_id for admission_id in batch if admission_id not in rows]
    if missing:
        raise NotFound(f"no admission {missing[0]} in the database")
    toxicities: dict[int, list[c.PriorToxicity]] = {i: [] for i in batch}
    for t in session.scalars(
        select(m.PriorToxicity)
        .where(m.PriorToxicity.admission_id.in_(batch))
        .order_by(m.PriorToxicity.admission_id, m.PriorToxicity.id)
    ):
        toxicities[t.admission_id].append(_prior_toxicity_of(t))
    # Doses and observations are plain rows: executed on the connection, without the ORM's
    # result handling (a third of the reading time of a course).
    connection = session.connection()
    dialect = connection.dialect.name
    doses: dict[int, list[c.Dose]] = {i: [] for i in batch}
    for admission_id, cycle, number, time, status, reason in connection.execute(
        select(
            m.Dose.admission_id,
            m.Dose.cycle,
            m.Dose.number,
            m.Dose.time,
            m.Dose.status,
            m.Dose.reason,
        )
        .where(m.Dose.admission_id.in_(batch), _is_current(m.Dose, m.Dose.record_status, dialect))
        .order_by(m.Dose.admission_id, m.Dose.time, m.Dose.id)
    ):
        doses[admission_id].append(
            c.Dose(cycle=cycle, number=number, time=time, status=status, reason=reason)
        )
    # Observation times come raw and are converted once per distinct value (a chart repeats
    # its times, one per item of a set), by the same function SQLAlchemy would apply.
    read_time = _result_processor(connection, m.Observation.observed_at)
    times: dict[object, datetime] = {}
    observations: dict[int, tuple[c.Observation, ...]] = {}
    # `_observation`, inlined (positional, in field order): this loop runs once per stored
    # observation of the cohort, and the call layers were a third of its time.
    observation, entered_value_of = c.Observation, _entered_value
    for admission_id, stored in _observation_rows(connection, batch):
        built: list[c.Observation] = []
        append = built.append
        for (
            raw_time,
            code,
            reading,
            unit,
            entered_value,
            entered_unit,
            ref_low,
            ref_high,
            period_h,
        ) in stored:
            observed_at = times.get(raw_time)
            if observed_at is None:
                observed_at = times[raw_time] = read_time(raw_time)
            append(
                observation(
                    observed_at,
                    code,
                    reading,
                    unit,
                    None if entered_value is None else entered_value_of(entered_value),
                    entered_unit,
                    ref_low,
                    ref_high,
                    period_h,
                )
            )
        observations[admission_id] = tuple(built)
    return [
        _course(
            *rows[admission_id],
            toxicities[admission_id],
            tuple(doses[admission_id]),
            observations[admission_id],
        )
        for admission_id in batch
    ]


# One stored observation as `_observation_rows` gives it: raw time, code, the reading
# (`value_text` if stored, else `value`), then `_OBSERVATION_VALUES` after the two value columns.
ObservationRow = tuple[
    object,
    str,
    float | str,
    str | None,
    str | None,
    str | None,
    float | None,
    float | None,
    float | None,
]


def _observation_rows(
    connection: Connection, batch: list[int]
) -> Iterator[tuple[int, Sequence[ObservationRow]]]:
    """Yield (admission id, its current observations as `ObservationRow`s) for each admission
    of a batch, in the batch's order; observations by time, then id (stored order, for ties).

    On SQLite, the observations of each admission are one query, run on the driver's own
    cursor with the statement prepared once: rows come as plain tuples (SQLAlchemy would wrap
    each in a Row), without an admission id column, and with `COALESCE(value_text, value)`,
    one column instead of two (the one_value check constraint: exactly one is stored; COALESCE
    keeps its type). The driver's fetch costs about the same for every column of every row,
    and is most of the cost of reading a course. On PostgreSQL, one query for the batch.
    """
    dialect = connection.dialect.name
    current = _is_current(m.Observation, m.Observation.status, dialect)
    in_order = (m.Observation.observed_at, m.Observation.id)
    raw_time = type_coerce(m.Observation.observed_at, NullType())
    if dialect != "sqlite":
        grouped: dict[int, list[ObservationRow]] = {i: [] for i in batch}
        for a, t, code, value, text, u, ev, eu, lo, hi, h in connection.execute(
            select(m.Observation.admission_id, raw_time, *_OBSERVATION_VALUES)
            .where(m.Observation.admission_id.in_(batch), current)
            .order_by(m.Observation.admission_id, *in_order)
        ).all():
            # The one_value check constraint: exactly one of the two is stored.
            grouped[a].append(
                (t, code, cast(float, value) if text is None else text, u, ev, eu, lo, hi, h)
            )
        yield from grouped.items()
        return
    reading = func.coalesce(m.Observation.value_text, m.Observation.value)
    query = (
        select(raw_time, m.Observation.code, reading, *_OBSERVATION_VALUES[3:])
        .where(m.Observation.admission_id == bindparam("admission"), current)
        .order_by(*in_order)
    )
    compiled = query.compile(dialect=connection.dialect)
    assert compiled.positiontup is not None  # SQLite's parameters are positional
    sql, names, defaults = str(compiled), compiled.positiontup, compiled.params
    cursor = connection.connection.cursor()
    try:
        for admission_id in batch:
            parameters = [admission_id if n == "admission" else defaults[n] for n in names]
            cursor.execute(sql, parameters)  # the driver keeps the statement prepared
            yield admission_id, cast(list[ObservationRow], cursor.fetchall())  # one call
    finally:
        cursor.close()


def _is_current(
    record: type[m.Observation] | type[m.Dose],
    status: InstrumentedAttribute[str],
    dialect: str = "postgresql",
) -> ColumnElement[bool]:
    """Return `observation_is_current()` / `dose_is_current()` (il2_tox.store.records), worded
    for reading many admissions at once on the given database (`connection.dialect.name`).

    `successor.supersedes_id IS NOT NULL`, implied by the match, lets PostgreSQL read the few
    correcting rows from the supersedes_id index; without it, it scans the whole table for
    them once per batch. SQLite runs a correlated EXISTS as one index probe per row read (about
    a fifth of the query's time); worded `id NOT IN (superseded ids)`, it reads the few
    superseded ids once per query. The same rows either way: the list holds no NULL.
    """
    successor = aliased(record)
    if dialect == "sqlite":
        superseded = select(successor.supersedes_id).where(successor.supersedes_id.is_not(None))
        return and_(status != "entered_in_error", record.id.not_in(superseded))
    return and_(
        status != "entered_in_error",
        ~exists().where(successor.supersedes_id.is_not(None), successor.supersedes_id == record.id),
    )


def _result_processor(
    connection: Connection, column: InstrumentedAttribute[Any]
) -> Callable[[Any], Any]:
    """Return the function that turns a column's raw database value into its Python value."""
    dialect = connection.dialect
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else _unchanged


def _unchanged(value: object) -> object:
    return value


def _observation_of(row: m.Observation) -> c.Observation:
    return _observation(row.observed_at, *(getattr(row, v.key) for v in _OBSERVATION_VALUES))


def _observation(
    observed_at: datetime,
    code: str,
    value: float | None,
    value_text: str | None,
    unit: str | None,
    entered_value: str | None,
    entered_unit: str | None,
    ref_low: float | None,
    ref_high: float | None,
    period_h: float | None,
) -> c.Observation:
    """Return the course observation of a stored row: its time and `_OBSERVATION_VALUES`."""
    reading: float | str
    if value_text is not None:
        reading = value_text
    else:
        assert value is not None  # the one_value check constraint
        reading = value
    return c.Observation(
        time=observed_at,
        code=code,
        value=reading,
        unit=unit,
        entered_value=None if entered_value is None else _entered_value(entered_value),
        entered_unit=entered_unit,
        ref_low=ref_low,
        ref_high=ref_high,
        period_h=period_h,
    )


@lru_cache(maxsize=65_536)
def _entered_value(text: str) -> float | str:
    """Return a stored `entered_value` (JSON text) decoded; cached, a chart repeats its values."""
    decoded: float | str = json.loads(text)
    return decoded


def list_admissions(db: Database) -> list[AdmissionSummary]:
    """Return the current (not discharged) admissions, by ward and bed, for the ward list.

    Three queries whatever the number of patients. `latest_dose_*` is the highest cycle and
    number recorded (given, held or not given), None before the first dose.
    """
    with db.read_session() as session:
        admissions = session.execute(
            select(m.Admission, m.Patient)
            .join(m.Patient, m.Patient.id == m.Admission.patient_id)
            .where(m.Admission.discharged_at.is_(None))
            .order_by(m.Admission.ward, m.Admission.bed, m.Admission.admitted_at, m.Admission.id)
        ).all()
        current = select(m.Admission.id).where(m.Admission.discharged_at.is_(None))
        counts: dict[int, int] = {
            admission_id: count
            for admission_id, count in session.execute(
                select(m.Observation.admission_id, func.count())
                .where(m.Observation.admission_id.in_(current), observation_is_current())
                .group_by(m.Observation.admission_id)
            )
        }
        ranked = (
            select(
                m.Dose.admission_id,
                m.Dose.cycle,
                m.Dose.number,
                m.Dose.status,
                func.row_number()
                .over(
                    partition_by=m.Dose.admission_id,
                    order_by=(m.Dose.cycle.desc(), m.Dose.number.desc(), m.Dose.id.desc()),
                )
                .label("rank"),
            )
            .where(m.Dose.admission_id.in_(current), dose_is_current())
            .subquery()
        )
        latest: dict[int, tuple[int, int, str]] = {
            admission_id: (cycle, number, status)
            for admission_id, cycle, number, status in session.execute(
                select(
                    ranked.c.admission_id, ranked.c.cycle, ranked.c.number, ranked.c.status
                ).where(ranked.c.rank == 1)
            )
        }
    summaries = []
    for admission, patient in admissions:
        cycle, number, status = latest.get(admission.id, (None, None, None))
        summaries.append(
            AdmissionSummary(
                admission_id=admission.id,
                patient_id=patient.mrn,
                name=patient.name,
                ward=admission.ward,
                bed=admission.bed,
                admitted_at=admission.admitted_at,
                latest_dose_cycle=cycle,
                latest_dose_number=number,
                latest_dose_status=status,
                observations=counts.get(admission.id, 0),
            )
        )
    return summaries
