"""Use cases for FHIR R4: read a file that may be a Bundle, export a course as a Bundle.

A Bundle goes through the same import as a course file (`course_io.import_course`): the FHIR
mapping (il2_tox.fhir) only builds the Course. Export reads the current course, adds the
engine's flags as DetectedIssues, checks the Bundle with `fhir.resources`, and records the
export in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from il2_tox.course import (
    Course,
    CourseError,
    decode_json,
    format_time,
    gc_paused,
    parse_course,
)
from il2_tox.store.engine import Database
from il2_tox.store.records import record_event

if TYPE_CHECKING:
    from il2_tox.rules.config import Rules
    from il2_tox.services.users import SignedIn, SystemActor

FHIR_FORMAT = "FHIR R4 Bundle"


def read_course_file(path: str | Path) -> tuple[Course, tuple[str, ...]]:
    """Return the course of a course file or a FHIR Bundle file, and what was not imported.

    A document with `resourceType` is read as FHIR; anything else as `il2-tox-course/1`.
    Raise CourseError with one line naming the fault (for FHIR: the resource and element).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CourseError("file", f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CourseError("file", f"{path} cannot be read ({exc.__class__.__name__})") from None
    with gc_paused():
        data = decode_json(text)  # once: a 2 MB bundle is not decoded twice
        if _is_fhir(data):
            from il2_tox.fhir import bundle_to_course

            imported = bundle_to_course(data)
            return imported.course, imported.not_imported
        return parse_course(data), ()


def _is_fhir(data: object) -> TypeGuard[dict[str, Any]]:
    """Return True when a decoded document is read as FHIR: an object with `resourceType`."""
    return isinstance(data, dict) and "resourceType" in data


def export_bundle(
    db: Database,
    patient_id: str,
    admitted_at: datetime | None = None,
    *,
    actor: SignedIn | SystemActor,
    rules: Rules | None = None,
) -> dict[str, Any]:
    """Return a patient's course (latest admission, or the one admitted then) as a FHIR Bundle.

    The Bundle holds the course and the assessment's flags (DetectedIssue), and is validated
    before it is returned. The export is recorded in the audit log (action `export`), by
    `actor`: the command line's operator, or a signed-in person, who must be an active nurse,
    physician or admin (checked before the course is read, and again when the export is
    recorded). Raise NotFound for an unknown patient or admission, PermissionDenied for an
    actor who may not export.
    """
    from il2_tox.assess import assess  # here, so that importing a file does not load the rules
    from il2_tox.fhir import course_to_bundle, validate_bundle
    from il2_tox.services.course_io import _course_of, _exporter, _find_admission

    # Read, build and validate outside any write transaction (validation takes a while and
    # must not hold SQLite's write lock); the bundle is returned only once its one audit
    # entry is committed.
    with db.read_session() as session:
        _exporter(session, actor, "export a FHIR bundle")
        course = _course_of(session, _find_admission(session, patient_id, admitted_at))
    flags = assess(course, rules).flags
    bundle = course_to_bundle(course, flags)
    validate_bundle(bundle)
    with db.write_session() as session:
        who = _exporter(session, actor, "export a FHIR bundle")
        admission = _find_admission(session, patient_id, course.admission.admitted_at)
        record_event(
            session,
            actor=who,
            action="export",
            entity="admission",
            entity_id=admission.id,
            after={
                "patient": patient_id,
                "admitted_at": format_time(course.admission.admitted_at),
                "format": FHIR_FORMAT,
                "resources": len(bundle["entry"]),
                "flags": len(flags),
            },
        )
    return bundle
