"""FHIR R4 import and export of courses (never imports Streamlit).

    from il2_tox.fhir import bundle_to_course, course_to_bundle, validate_bundle

Import maps a Bundle to a course document and reads it with `parse_course`, so a bundle gets
every check a course file gets; export builds the Bundle from the course-file document, so
values and units go out as entered. The mapping is described field by field in docs/fhir.md.
"""

from __future__ import annotations

from il2_tox.fhir.export import course_to_bundle
from il2_tox.fhir.importing import FhirImport, bundle_to_course, is_bundle, parse_bundle_text
from il2_tox.fhir.validate import validate_bundle, validate_resource

__all__ = [
    "FhirImport",
    "bundle_to_course",
    "course_to_bundle",
    "is_bundle",
    "parse_bundle_text",
    "validate_bundle",
    "validate_resource",
]
