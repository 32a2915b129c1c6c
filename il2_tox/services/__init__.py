"""Use cases: each takes a `il2_tox.store.Database`, opens its own session and returns results.

from il2_tox.services import import_files, export_course, list_admissions
"""

from __future__ import annotations

from il2_tox.services.course_io import (
    AdmissionSummary,
    ImportResult,
    NotFound,
    export_course,
    import_course,
    import_files,
    iter_courses,
    list_admissions,
    load_course_from_db,
)

__all__ = [
    "AdmissionSummary",
    "ImportResult",
    "NotFound",
    "export_course",
    "import_course",
    "import_files",
    "iter_courses",
    "list_admissions",
    "load_course_from_db",
]
