"""Course -> FHIR R4 Bundle (type `collection`), and the assessment's flags as DetectedIssues.

The bundle is built from the course-file document (`course_to_dict`), so it carries each value
and unit exactly as entered, and `bundle_to_course` gives back the same course. Resource ids
are UUIDs derived from the patient, the admission and the record's place, so exporting the same
course twice gives the same bundle.
"""

from __future__ import annotations

import uuid
from typing import Any

from il2_tox import units
from il2_tox.course import Course, Observation, course_to_dict
from il2_tox.fhir import codes as fc
from il2_tox.rules.base import Flag

_NAMESPACE = uuid.UUID("6f1f4a8e-2a43-4b8e-9d35-0b1d7e6c2f10")


class _Ids:
    """Deterministic resource ids and fullUrls for one course."""

    def __init__(self, course: Course) -> None:
        self.seed = f"{course.patient.id}\x1f{course.admission.admitted_at.isoformat()}"

    def new(self, kind: str, index: int = 0) -> tuple[str, str]:
        value = str(uuid.uuid5(_NAMESPACE, f"{self.seed}\x1f{kind}\x1f{index}"))
        return value, f"urn:uuid:{value}"


def course_to_bundle(course: Course, flags: tuple[Flag, ...] = ()) -> dict[str, Any]:
    """Return the course as a FHIR R4 Bundle (a JSON-ready dict); `flags` become DetectedIssues."""
    doc = course_to_dict(course)
    ids = _Ids(course)
    entries: list[dict[str, Any]] = []

    def add(kind: str, index: int, resource: dict[str, Any]) -> str:
        rid, url = ids.new(kind, index)
        entries.append({"fullUrl": url, "resource": {"resourceType": kind, "id": rid, **resource}})
        return url

    patient_url = ids.new("Patient")[1]
    encounter_url = ids.new("Encounter")[1]
    subject = {"reference": patient_url}
    context = {"reference": encounter_url}
    add("Patient", 0, _patient(doc["patient"]))
    add("Encounter", 0, _encounter(doc["admission"], course.admission.usual_sbp_mmhg, subject))

    add(
        "Observation",
        0,
        _measurement(
            [
                {
                    "system": fc.ITEMS,
                    "code": fc.PRE_TREATMENT_WEIGHT,
                    "display": "pre-treatment weight",
                },
                {"system": fc.LOINC, "code": fc.BODY_WEIGHT, "display": "body weight"},
            ],
            doc["admission"]["admitted_at"],
            fc.quantity(course.patient.weight_kg, "kg"),
            subject,
            context,
        ),
    )
    if course.patient.height_cm is not None:
        add(
            "Observation",
            1,
            _measurement(
                [{"system": fc.LOINC, "code": fc.BODY_HEIGHT, "display": "body height"}],
                doc["admission"]["admitted_at"],
                fc.quantity(course.patient.height_cm, "cm"),
                subject,
                context,
            ),
        )
    if "history" in doc:
        add("Observation", 2, _history(doc["history"], doc["admission"], subject, context))
    for i, toxicity in enumerate(doc.get("prior_toxicities", ())):
        add("Condition", i, _condition(toxicity, subject))
    for i, dose in enumerate(doc["doses"]):
        add("MedicationAdministration", i, _dose(dose, subject, context))
    observation_urls: dict[tuple[str, object], str] = {}
    for i, (obs, item) in enumerate(zip(course.observations, doc["observations"], strict=True)):
        url = add("Observation", 100 + i, _observation(obs, item, subject, context))
        observation_urls.setdefault((obs.concept, obs.time), url)
    for i, flag in enumerate(flags):
        add("DetectedIssue", i, _detected_issue(flag, subject, observation_urls))
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _patient(p: dict[str, Any]) -> dict[str, Any]:
    identifier: dict[str, Any] = {
        "use": "usual",
        "type": {"coding": [{"system": fc.V2_IDENTIFIER_TYPE, "code": "MR"}]},
        "system": fc.MRN_SYSTEM,
    }
    fc.put_text(identifier, "value", p["id"])
    out: dict[str, Any] = {"identifier": [identifier]}
    if "name" in p:
        name: dict[str, Any] = {}
        fc.put_text(name, "text", p["name"])
        out["name"] = [name]
    if "sex" in p:
        out["gender"] = p["sex"]
    if "birth_date" in p:
        out["birthDate"] = p["birth_date"]
    return out


def _encounter(
    a: dict[str, Any], usual_sbp: float | None, subject: dict[str, str]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "extension": [
            {
                "url": fc.EXT_REGIMEN,
                "valueQuantity": {
                    "value": a["regimen_iu_per_kg"],
                    "unit": "IU/kg",
                    "system": fc.UCUM,
                    "code": "[iU]/kg",
                },
            },
            {"url": fc.EXT_SPO2_TARGET, "valueCode": a["spo2_target"]},
        ],
        "status": "in-progress",
        "class": {"system": fc.V3_ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": subject,
        "period": {"start": a["admitted_at"]},
    }
    if usual_sbp is not None:
        out["extension"].insert(
            1,
            {"url": fc.EXT_USUAL_SBP, "valueQuantity": fc.quantity(usual_sbp, "mm[Hg]")},
        )
    locations = []
    for key, code, display in (("ward", "wa", "Ward"), ("bed", "bd", "Bed")):
        if key in a:
            place: dict[str, Any] = {}
            fc.put_text(place, "display", a[key])
            locations.append(
                {
                    "location": place,
                    "physicalType": {
                        "coding": [{"system": fc.LOCATION_TYPE, "code": code, "display": display}]
                    },
                }
            )
    if locations:
        out["location"] = locations
    return out


def _measurement(
    coding: list[dict[str, str]],
    time: str,
    value: dict[str, Any],
    subject: dict[str, str],
    context: dict[str, str],
) -> dict[str, Any]:
    return {
        "status": "final",
        "category": [_category("vital-signs")],
        "code": {"coding": coding},
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": time,
        "valueQuantity": value,
    }


def _category(code: str) -> dict[str, Any]:
    return {"coding": [{"system": fc.OBSERVATION_CATEGORY, "code": code}]}


def _history(
    h: dict[str, Any], a: dict[str, Any], subject: dict[str, str], context: dict[str, str]
) -> dict[str, Any]:
    components: list[dict[str, Any]] = []

    def item(code: str, system: str = fc.ITEMS) -> dict[str, Any]:
        return {"code": {"coding": [{"system": system, "code": code}]}}

    if "brain_metastases" in h:
        components.append(
            item(fc.BRAIN_METASTASES)
            | {
                "valueCodeableConcept": {
                    "coding": [{"system": fc.VALUES, "code": h["brain_metastases"]}]
                }
            }
        )
    if "systemic_steroids" in h:
        components.append(item(fc.SYSTEMIC_STEROIDS) | {"valueBoolean": h["systemic_steroids"]})
    if "ecog" in h:
        components.append(item(fc.ECOG, fc.LOINC) | {"valueInteger": h["ecog"]})
    for therapy in h["prior_therapies"]:
        component = item(fc.PRIOR_THERAPY)
        fc.put_text(component, "valueString", therapy)
        components.append(component)
    out: dict[str, Any] = {
        "status": "final",
        "category": [_category("social-history")],
        "code": {
            "coding": [
                {
                    "system": fc.ITEMS,
                    "code": fc.PRE_TREATMENT_HISTORY,
                    "display": "history before high-dose IL-2",
                }
            ]
        },
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": a["admitted_at"],
    }
    if components:
        out["component"] = components
    return out


def _condition(t: dict[str, Any], subject: dict[str, str]) -> dict[str, Any]:
    resolved = t["resolved"]
    agent: dict[str, Any] = {}
    fc.put_text(agent, "text", t["agent"])
    extensions: list[dict[str, Any]] = [{"url": fc.CONDITION_DUE_TO, "valueCodeableConcept": agent}]
    if "steroids" in t:
        extensions.append({"url": fc.EXT_STEROIDS, "valueBoolean": t["steroids"]})
    out: dict[str, Any] = {
        "extension": extensions,
        "clinicalStatus": {
            "coding": [
                {"system": fc.CONDITION_CLINICAL, "code": "resolved" if resolved else "active"}
            ]
        },
        "verificationStatus": {
            "coding": [{"system": fc.CONDITION_VERIFICATION, "code": "confirmed"}]
        },
        "category": [{"coding": [{"system": fc.CONDITION_CATEGORY, "code": "problem-list-item"}]}],
        "code": {
            "coding": [{"system": fc.IRAE, "code": t["irae"]}],
            "text": f"immune-related {t['irae'].replace('_', ' ')} (checkpoint inhibitor)",
        },
        "subject": subject,
        "stage": [
            {
                "summary": {
                    "coding": [
                        {
                            "system": fc.CTCAE_GRADE,
                            "code": str(t["grade"]),
                            "display": f"CTCAE grade {t['grade']}",
                        }
                    ]
                }
            }
        ],
    }
    if "onset" in t:
        out["onsetDateTime"] = t["onset"]
    if resolved is not None:
        out["abatementDateTime"] = resolved
    if "note" in t:
        note: dict[str, Any] = {}
        fc.put_text(note, "text", t["note"])
        out["note"] = [note]
    return out


def _dose(d: dict[str, Any], subject: dict[str, str], context: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "extension": [
            {
                "url": fc.EXT_DOSE,
                "extension": [
                    {"url": "cycle", "valuePositiveInt": d["cycle"]},
                    {"url": "number", "valuePositiveInt": d["number"]},
                ],
            }
        ],
        "status": "completed" if d["status"] == "given" else "not-done",
        "medicationCodeableConcept": {
            "coding": [{"system": fc.ATC, "code": fc.ALDESLEUKIN, "display": "aldesleukin"}],
            "text": fc.ALDESLEUKIN_TEXT,
        },
        "subject": subject,
        "context": context,
        "effectiveDateTime": d["time"],
    }
    reason = d.get("reason")
    if d["status"] == "given":
        if reason is not None:
            note: dict[str, Any] = {}
            fc.put_text(note, "text", reason)
            out["note"] = [note]
    else:
        status_reason: dict[str, Any] = {
            "coding": [{"system": fc.DOSE_STATUS, "code": d["status"]}]
        }
        fc.put_text(status_reason, "text", reason)
        out["statusReason"] = [status_reason]
    return out


def _observation(
    obs: Observation, item: dict[str, Any], subject: dict[str, str], context: dict[str, str]
) -> dict[str, Any]:
    code = item["code"]
    spec = units.CODES[code]
    out: dict[str, Any] = {
        "status": "final",
        "category": [_category(fc.category_of(code))],
        "code": {"coding": fc.codings_of(code), "text": spec.name},
        "subject": subject,
        "encounter": context,
        "effectiveDateTime": item["time"],
    }
    if obs.period_h is not None:
        out["extension"] = [
            {
                "url": fc.EXT_PERIOD,
                "valueQuantity": {
                    "value": obs.period_h,
                    "unit": "h",
                    "system": fc.UCUM,
                    "code": "h",
                },
            }
        ]
    if spec.kind == "coded":
        out["valueCodeableConcept"] = {"coding": [{"system": fc.VALUES, "code": item["value"]}]}
        return out
    unit = item["unit"]
    out["valueQuantity"] = fc.quantity(item["value"], unit)
    limits = {
        side: fc.quantity(_in_unit(obs.code, limit, unit), unit)
        for side, limit in (("low", obs.ref_low), ("high", obs.ref_high))
        if limit is not None
    }
    if limits:
        out["referenceRange"] = [limits]
    return out


def _in_unit(code: str, canonical: float, unit: str) -> float:
    """Return a canonical reference limit in the unit as entered: the shortest decimal that
    converts back to exactly the stored limit (so import gives back the same number)."""
    spec = units.CODES[code]
    found = spec.unit(unit)
    assert found is not None
    value = found.from_canonical(canonical)
    for digits in range(6, 18):
        candidate = float(f"{value:.{digits}g}")
        if found.to_canonical(candidate) == canonical:
            return candidate
    return value


def _detected_issue(
    flag: Flag, subject: dict[str, str], observations: dict[tuple[str, object], str]
) -> dict[str, Any]:
    evidence: list[dict[str, Any]] = []
    for e in flag.evidence:
        url = observations.get((units.concept_of(e.code), e.time))
        if url is not None:
            evidence.append({"reference": url})
    extensions: list[dict[str, Any]] = [
        {"url": fc.EXT_FLAG_SOURCE, "valueString": flag.source},
        {
            "url": fc.EXT_FLAG_DOSE,
            "extension": [
                {"url": "cycle", "valuePositiveInt": flag.cycle},
                {"url": "after-dose", "valueUnsignedInt": flag.after_dose},
            ],
        },
        {"url": fc.EXT_FLAG_ACTIVE, "valueBoolean": flag.active},
    ]
    out: dict[str, Any] = {
        "extension": extensions,
        "status": "final",
        "code": {
            "coding": [
                {"system": fc.FLAG_CODE, "code": flag.code},
                {"system": fc.FLAG_CATEGORY, "code": flag.category},
            ],
        },
        "severity": fc.SEVERITY_TO_FHIR[flag.severity],
        "patient": subject,
        "identifiedDateTime": flag.time.isoformat(),
        "detail": flag.message,
    }
    if evidence:
        out["evidence"] = [{"detail": evidence}]
    if flag.source.startswith(("http://", "https://")):
        out["reference"] = flag.source
    return out
