"""The code systems, extensions and mapping tables between the course format and FHIR R4.

Every FHIR system, code and extension URL that import and export use is defined here, once, and
both directions read the same tables (docs/fhir.md describes them field by field). The
observation codes themselves are those of `il2_tox.units.CODES`: a LOINC code is sent with the
LOINC system, an `il2tox:` item with the local code system below.
"""

from __future__ import annotations

import json
import re
from typing import Any

from il2_tox import units

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
LOCATION_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_DUE_TO = "http://hl7.org/fhir/StructureDefinition/condition-dueTo"

BASE = "https://il2-tox.example/fhir"
MRN_SYSTEM = f"{BASE}/sid/mrn"
# The `il2tox:` observation items (`il2tox:acvpu` -> code `acvpu`) and the local items below.
ITEMS = f"{BASE}/CodeSystem/il2tox"
# The answers of coded items (`A`, `bases`, `sinus`...) and of brain metastases.
VALUES = f"{BASE}/CodeSystem/il2tox-values"
DOSE_STATUS = f"{BASE}/CodeSystem/il2tox-dose-status"
IRAE = f"{BASE}/CodeSystem/il2tox-irae"
CTCAE_GRADE = f"{BASE}/CodeSystem/ctcae-grade"
FLAG_CODE = f"{BASE}/CodeSystem/il2tox-flag"
FLAG_CATEGORY = f"{BASE}/CodeSystem/il2tox-flag-category"

EXT_REGIMEN = f"{BASE}/StructureDefinition/regimen-iu-per-kg"
EXT_USUAL_SBP = f"{BASE}/StructureDefinition/usual-sbp"
EXT_SPO2_TARGET = f"{BASE}/StructureDefinition/spo2-target"
EXT_DOSE = f"{BASE}/StructureDefinition/il2-dose"
EXT_PERIOD = f"{BASE}/StructureDefinition/collection-period"
EXT_STEROIDS = f"{BASE}/StructureDefinition/treated-with-steroids"
EXT_FLAG_SOURCE = f"{BASE}/StructureDefinition/flag-source"
EXT_FLAG_DOSE = f"{BASE}/StructureDefinition/flag-after-dose"
EXT_FLAG_ACTIVE = f"{BASE}/StructureDefinition/flag-active"
EXT_EXACT_TEXT = f"{BASE}/StructureDefinition/exact-text"
KNOWN_EXTENSIONS = frozenset(
    {
        EXT_REGIMEN,
        EXT_USUAL_SBP,
        EXT_SPO2_TARGET,
        EXT_DOSE,
        EXT_PERIOD,
        EXT_STEROIDS,
        CONDITION_DUE_TO,
    }
)

# Local items that are not observation codes of the course format.
PRE_TREATMENT_WEIGHT = "pre-treatment-weight"
PRE_TREATMENT_HISTORY = "pre-treatment-history"
BRAIN_METASTASES = "brain-metastases"
SYSTEMIC_STEROIDS = "systemic-steroids"
PRIOR_THERAPY = "prior-therapy"
ECOG = "89247-1"  # LOINC: ECOG performance status score
BODY_HEIGHT = "8302-2"  # LOINC: body height
BODY_WEIGHT = units.WEIGHT
# Body height units accepted, as factors to centimetres (export always writes cm).
HEIGHT_UNITS = {"cm": 1.0, "m": 100.0, "[in_i]": 2.54}
# The panels whose components are imported one by one (the vital-signs blood pressure panel).
PANELS = {"85354-9": "blood pressure panel"}

ALDESLEUKIN = "L03AC01"  # ATC code of aldesleukin (IL-2)
ALDESLEUKIN_TEXT = "aldesleukin (high-dose IL-2)"

SPO2_CODES = (units.SPO2, "2708-6")

DOSE_STATUS_OF_FHIR = {"completed": "given", "not-done": None}  # not-done: held or not_given
NOT_DONE_STATUSES = ("held", "not_given")

SEVERITY_TO_FHIR = {"critical": "high", "warning": "moderate", "info": "low"}

VITAL_SIGNS = frozenset(
    {
        units.HR,
        units.SBP,
        units.DBP,
        units.MAP,
        units.RR,
        units.SPO2,
        "2708-6",
        units.O2_FLOW,
        units.FIO2,
        units.TEMP,
        units.WEIGHT,
    }
)


def category_of(code: str) -> str:
    """Return the FHIR observation category of a course code (vital-signs, laboratory, exam)."""
    if code in VITAL_SIGNS:
        return "vital-signs"
    if code.startswith("il2tox:") or code == units.URINE:
        return "exam"
    return "laboratory"


def codings_of(code: str) -> list[dict[str, str]]:
    """Return the FHIR codings of a course observation code.

    SpO2 is sent with both LOINC codes, the one the course used first, so that import gives
    back the code as entered.
    """
    spec = units.CODES[code]
    if code.startswith("il2tox:"):
        return [{"system": ITEMS, "code": code.removeprefix("il2tox:"), "display": spec.name}]
    if code in SPO2_CODES:
        other = SPO2_CODES[1] if code == SPO2_CODES[0] else SPO2_CODES[0]
        return [
            {"system": LOINC, "code": code, "display": spec.name},
            {"system": LOINC, "code": other, "display": spec.name},
        ]
    return [{"system": LOINC, "code": code, "display": spec.name}]


def course_code_of(system: str | None, code: str | None) -> str | None:
    """Return the course observation code of a FHIR coding, or None when it is not one."""
    if not isinstance(code, str):
        return None
    if system == LOINC and code in units.CODES and not code.startswith("il2tox:"):
        return code
    if system == ITEMS and f"il2tox:{code}" in units.CODES:
        return f"il2tox:{code}"
    return None


def has_coding(concept: Any, system: str, code: str) -> bool:
    """Return True when a CodeableConcept (a decoded dict) holds the coding system|code."""
    if not isinstance(concept, dict):
        return False
    return any(
        isinstance(c, dict) and c.get("system") == system and c.get("code") == code
        for c in concept.get("coding") or ()
    )


def codes_in(concept: Any, system: str) -> list[str]:
    """Return the codes of a CodeableConcept's codings in one system, in order."""
    if not isinstance(concept, dict):
        return []
    return [
        c["code"]
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and c.get("system") == system and isinstance(c.get("code"), str)
    ]


# ---------------------------------------------------------------------------------------------
# Free text. A FHIR string cannot be empty and must hold a character other than exotic
# whitespace; a text the course allows but FHIR does not is sent, exactly, as JSON text in an
# `exact-text` extension on the primitive (`_name`), so nothing typed is lost or changed.

_FHIR_STRING = re.compile(r"[ \r\n\t\S]+")


def is_fhir_string(text: str) -> bool:
    """Return True when FHIR accepts the text as a string value as it is."""
    return _FHIR_STRING.search(text) is not None


def put_text(target: dict[str, Any], key: str, text: str | None) -> None:
    """Set `target[key]` to a text, or its `_key` exact-text extension when FHIR refuses it."""
    if text is None:
        return
    if is_fhir_string(text):
        target[key] = text
    else:
        target[f"_{key}"] = {
            "extension": [{"url": EXT_EXACT_TEXT, "valueString": json.dumps(text)}]
        }


def get_text(source: Any, key: str) -> str | None:
    """Return the text `put_text` wrote (or a plain FHIR string), or None when absent."""
    if not isinstance(source, dict):
        return None
    value = source.get(key)
    if isinstance(value, str):
        return value
    for extension in (source.get(f"_{key}") or {}).get("extension") or ():
        if extension.get("url") == EXT_EXACT_TEXT and isinstance(extension.get("valueString"), str):
            try:
                decoded = json.loads(extension["valueString"])
            except json.JSONDecodeError:
                return None
            return decoded if isinstance(decoded, str) else None
    return None


def extension(resource: Any, url: str) -> dict[str, Any] | None:
    """Return the first extension of a resource or element with this URL, or None."""
    if not isinstance(resource, dict):
        return None
    for ext in resource.get("extension") or ():
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext
    return None


def quantity(value: float | int, ucum: str) -> dict[str, Any]:
    """Return a UCUM Quantity with the value and unit as given."""
    return {"value": value, "unit": units.display_unit(ucum), "system": UCUM, "code": ucum}
