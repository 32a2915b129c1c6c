"""Validate a FHIR Bundle and each of its resources with the `fhir.resources` models.

`fhir.resources` 8.3.0 ships no R4 (4.0.1) models, only R4B (4.3.0, `fhir.resources.R4B`);
R4B is the R4 technical correction and the resources used here (Patient, Encounter,
Observation, MedicationAdministration, Condition, DetectedIssue, Bundle) have the same
elements in both (docs/fhir.md says why this package and version). A Bundle model does not check
its entries' resources, so each resource is validated with its own model. Errors name the
resource (type/id and fullUrl) and the element.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from il2_tox.course import CourseError, gc_paused


def label(entry: Any, index: int) -> str:
    """Return how a message names a bundle entry: `Observation/abc (urn:uuid:...)`."""
    if not isinstance(entry, dict):
        return f"entry[{index}]"
    resource = entry.get("resource")
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    rid = resource.get("id") if isinstance(resource, dict) else None
    name = f"{kind or 'entry'}/{rid}" if rid else f"{kind or 'entry'} entry[{index}]"
    full_url = entry.get("fullUrl")
    return f"{name} ({full_url})" if isinstance(full_url, str) else name


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(resource)"


def _first_error(error: ValidationError) -> tuple[str, str]:
    """Return (element, message) of the first error pydantic found, in FHIR element names."""
    first = error.errors()[0]
    loc = tuple(
        str(p).replace("__ext", "").replace("__", "") if isinstance(p, str) else p
        for p in first["loc"]
    )
    message = first["msg"]
    if "input" in first and not isinstance(first["input"], (dict, list)):
        shown = repr(first["input"])
        message = f"{shown if len(shown) <= 60 else shown[:57] + '...'}: {message}"
    return _where(loc), message


def validate_resource(resource: dict[str, Any], where: str) -> None:
    """Validate one resource with its R4B model; raise CourseError naming `where` and the field."""
    from fhir.resources.R4B import get_fhir_model_class

    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        raise CourseError(f"{where}.resourceType", "is missing")
    try:
        model = get_fhir_model_class(kind)
    except (KeyError, ValueError, ImportError, AttributeError):
        raise CourseError(f"{where}.resourceType", f"{kind!r} is not a FHIR R4 resource") from None
    try:
        model.model_validate(resource)
    except ValidationError as error:
        element, message = _first_error(error)
        raise CourseError(f"{where}.{element}", f"is not valid FHIR: {message}") from None


def validate_bundle(bundle: dict[str, Any]) -> None:
    """Validate a Bundle and every entry's resource; raise CourseError at the first fault."""
    if bundle.get("resourceType") != "Bundle":
        raise CourseError("resourceType", f"{bundle.get('resourceType')!r} is not a Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise CourseError("Bundle.entry", "must be a list")
    shell = {key: value for key, value in bundle.items() if key != "entry"}
    shell["entry"] = [
        {k: v for k, v in entry.items() if k != "resource"} if isinstance(entry, dict) else entry
        for entry in entries
    ]
    with gc_paused():  # thousands of model objects, no cycles among them
        validate_resource(shell, "Bundle")
        for i, entry in enumerate(entries):
            resource = entry.get("resource")
            if not isinstance(resource, dict):
                raise CourseError(f"Bundle.entry[{i}].resource", "is missing")
            validate_resource(resource, label(entry, i))
