"""FHIR R4 Bundle -> Course, through the same checks as a course file.

The bundle is validated with `fhir.resources` first; then its resources are mapped to an
`il2-tox-course/1` document, which `parse_course` checks and converts exactly as it does a
course file (units, hard limits, duplicate doses...). Values are read from the JSON as sent
(Python's exact number parsing), so the value and unit as entered are kept.

Refused (CourseError, nothing imported), with the resource (type/id and fullUrl) and the
element named: what cannot be mapped without guessing (an observation code or UCUM unit
il2-tox does not know, a comparator such as `<5`, an IL-2 dose without its cycle and number, a
second patient or admission, a reference to another patient). Not refused but listed in the
report: resources il2-tox has no use for (a Practitioner, a non-IL-2 medication, a Condition
that is not a prior immune-related toxicity, assessment flags it recomputes) and elements of
mapped resources it does not keep (e.g. Observation.performer), counted by element.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from il2_tox import units
from il2_tox.course import Course, CourseError, decode_json, gc_paused, parse_course
from il2_tox.fhir import codes as fc
from il2_tox.fhir.validate import label, validate_bundle

OBSERVATION_STATUSES = ("final", "amended", "corrected")

# Elements of each mapped resource that import reads or that carry nothing for the course
# (ids, metadata, narrative, categories, the references import checks). Anything else present
# is counted in the report as not imported: e.g. a dose's `dosage` (the amount given, which the
# course does not hold) or a result's `interpretation` are clinical statements, never dropped
# silently.
_READ: dict[str, frozenset[str]] = {
    "common": frozenset({"resourceType", "id", "meta", "text", "language", "implicitRules"}),
    "Patient": frozenset({"identifier", "name", "gender", "birthDate", "active"}),
    "Encounter": frozenset({"extension", "status", "class", "subject", "period", "location"}),
    "Observation": frozenset(
        {
            "extension",
            "status",
            "category",
            "code",
            "subject",
            "encounter",
            "effectiveDateTime",
            "effectivePeriod",
            "valueQuantity",
            "valueCodeableConcept",
            "valueString",
            "referenceRange",
            "component",
            "issued",
        }
    ),
    "MedicationAdministration": frozenset(
        {
            "extension",
            "status",
            "statusReason",
            "medicationCodeableConcept",
            "subject",
            "context",
            "effectiveDateTime",
            "effectivePeriod",
            "note",
        }
    ),
    "Condition": frozenset(
        {
            "extension",
            "clinicalStatus",
            "verificationStatus",
            "category",
            "code",
            "subject",
            "stage",
            "onsetDateTime",
            "abatementDateTime",
            "note",
            "recordedDate",
        }
    ),
}


@dataclass(frozen=True)
class FhirImport:
    """A course read from a bundle, and what of the bundle was not imported (for the report)."""

    course: Course
    not_imported: tuple[str, ...] = field(default=())


def is_bundle(data: object) -> bool:
    """Return True when a decoded JSON document is a FHIR resource (it has `resourceType`)."""
    return isinstance(data, dict) and "resourceType" in data


class _Entry:
    def __init__(self, index: int, entry: dict[str, Any]) -> None:
        self.index = index
        self.resource: dict[str, Any] = entry["resource"]
        self.kind: str = self.resource["resourceType"]
        self.full_url: str | None = entry.get("fullUrl")
        self.name = label(entry, index)

    def refs(self) -> set[str]:
        """Return the strings a reference to this resource may use."""
        out = set()
        if self.full_url:
            out.add(self.full_url)
        rid = self.resource.get("id")
        if rid:
            out.add(f"{self.kind}/{rid}")
            if self.full_url and self.full_url.endswith(f"/{self.kind}/{rid}"):
                out.add(self.full_url)
        return out

    def error(self, element: str, message: str) -> CourseError:
        return CourseError(f"{self.name}.{element}", message)


def bundle_to_course(bundle: dict[str, Any]) -> FhirImport:
    """Return the course a FHIR Bundle holds; raise CourseError naming resource and element."""
    validate_bundle(bundle)
    entries = [_Entry(i, e) for i, e in enumerate(bundle.get("entry") or ())]
    reader = _Reader(entries)
    doc = reader.document()
    try:
        course = parse_course(doc)
    except CourseError as error:
        raise reader.translate(error) from None
    return FhirImport(course, tuple(reader.report()))


def parse_bundle_text(text: str) -> FhirImport:
    """Parse bundle JSON text (exact numbers) and return the course; raise CourseError."""
    with gc_paused():
        data = decode_json(text)
        if not isinstance(data, dict):
            raise CourseError("(document)", "a FHIR bundle must be one JSON object")
        return bundle_to_course(data)


# Where each course field comes from, to word parse_course's errors in FHIR terms.
_OBSERVATION_FIELDS = {
    "time": "effectiveDateTime",
    "value": "valueQuantity.value",
    "unit": "valueQuantity.code",
    "ref_low": "referenceRange[0].low",
    "ref_high": "referenceRange[0].high",
    "period_h": "extension(collection-period)",
    "code": "code",
}
_DOSE_FIELDS = {
    "time": "effectiveDateTime",
    "status": "status",
    "reason": "statusReason.text",
    "cycle": "extension(il2-dose).cycle",
    "number": "extension(il2-dose).number",
}
_TOXICITY_FIELDS = {
    "agent": "extension(condition-dueTo)",
    "irae": "code",
    "grade": "stage.summary",
    "onset": "onsetDateTime",
    "resolved": "abatementDateTime",
    "note": "note",
    "steroids": "extension(treated-with-steroids)",
}
_PATIENT_FIELDS = {"id": "identifier", "name": "name", "sex": "gender", "birth_date": "birthDate"}
_ADMISSION_FIELDS = {
    "admitted_at": "period.start",
    "ward": "location(ward)",
    "bed": "location(bed)",
    "regimen_iu_per_kg": "extension(regimen-iu-per-kg)",
    "usual_sbp_mmhg": "extension(usual-sbp)",
    "spo2_target": "extension(spo2-target)",
}
_HISTORY_FIELDS = {
    "brain_metastases": "component(brain-metastases)",
    "systemic_steroids": "component(systemic-steroids)",
    "ecog": "component(89247-1)",
    "prior_therapies": "component(prior-therapy)",
}


class _Reader:
    """Map one bundle's entries to a course document, remembering where each part came from."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.origins: dict[str, str] = {}
        self.skipped: list[str] = []
        self.unread: Counter[str] = Counter()
        self.patient: _Entry | None = None
        self.encounter: _Entry | None = None

    # -- the document ---------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        patients = [e for e in self.entries if e.kind == "Patient"]
        encounters = [e for e in self.entries if e.kind == "Encounter"]
        if not patients:
            raise CourseError("Bundle", "holds no Patient; one patient per bundle is required")
        if len(patients) > 1:
            raise patients[1].error("(resource)", "a second Patient; one patient per bundle")
        if not encounters:
            raise CourseError("Bundle", "holds no Encounter (the admission); one is required")
        if len(encounters) > 1:
            raise encounters[1].error(
                "(resource)", "a second Encounter; one admission (Encounter) per bundle"
            )
        self.patient, self.encounter = patients[0], encounters[0]
        doc: dict[str, Any] = {
            "format": "il2-tox-course/1",
            "patient": self._patient(self.patient),
            "admission": self._admission(self.encounter),
        }
        self._check_subject(self.encounter, "subject")
        self._note_unread(self.patient)
        self._note_unread(self.encounter)
        doses: list[dict[str, Any]] = []
        observations: list[dict[str, Any]] = []
        toxicities: list[dict[str, Any]] = []
        weight: _Entry | None = None
        height: _Entry | None = None
        flags = 0
        for entry in self.entries:
            r = entry.resource
            if entry.kind == "Observation":
                if fc.has_coding(r.get("code"), fc.ITEMS, fc.PRE_TREATMENT_WEIGHT):
                    if weight is not None:
                        raise entry.error("code", "a second pre-treatment weight")
                    weight = entry
                    doc["patient"]["weight_kg"] = self._weight(entry)
                elif fc.has_coding(r.get("code"), fc.LOINC, fc.BODY_HEIGHT):
                    if height is not None:
                        raise entry.error("code", "a second body height (8302-2)")
                    height = entry
                    doc["patient"]["height_cm"] = self._height(entry)
                elif fc.has_coding(r.get("code"), fc.ITEMS, fc.PRE_TREATMENT_HISTORY):
                    if "history" in doc:
                        raise entry.error("code", "a second pre-treatment history")
                    doc["history"] = self._history(entry)
                else:
                    if r.get("status") == "entered-in-error":
                        self.skipped.append(f"{entry.name}: entered-in-error, not imported")
                        continue
                    for item, where in self._observations(entry):
                        head = f"observations[{len(observations)}]"
                        self.origins[head] = where
                        if isinstance(item["value"], str):
                            self.origins[f"{head}.value"] = f"{where}.valueCodeableConcept"
                        observations.append(item)
                self._check_context(entry, "encounter")
                self._note_unread(entry)
            elif entry.kind == "MedicationAdministration":
                dose = self._dose(entry)
                if dose is not None:
                    self.origins[f"doses[{len(doses)}]"] = entry.name
                    doses.append(dose)
                    self._note_unread(entry)
            elif entry.kind == "Condition":
                toxicity = self._toxicity(entry)
                if toxicity is not None:
                    self.origins[f"prior_toxicities[{len(toxicities)}]"] = entry.name
                    toxicities.append(toxicity)
                    self._note_unread(entry)
            elif entry.kind == "DetectedIssue":
                flags += 1
            elif entry.kind not in ("Patient", "Encounter"):
                self.skipped.append(f"{entry.name}: {entry.kind} is not used by il2-tox")
        if flags:
            self.skipped.append(
                f"{flags} DetectedIssue (assessment flags): il2-tox recomputes its flags"
            )
        if weight is None:
            raise CourseError(
                "Bundle",
                "holds no pre-treatment weight: an Observation coded "
                f"{fc.ITEMS}|{fc.PRE_TREATMENT_WEIGHT} is required",
            )
        self.origins["patient.weight_kg"] = f"{weight.name}.valueQuantity"
        if height is not None:
            self.origins["patient.height_cm"] = f"{height.name}.valueQuantity"
        if toxicities:
            doc["prior_toxicities"] = toxicities
        doc["doses"] = doses
        doc["observations"] = observations
        return doc

    def report(self) -> Iterable[str]:
        """Yield one line per resource not imported, then the elements not imported."""
        yield from self.skipped
        if self.unread:
            counted = ", ".join(
                f"{name} ×{count}" if count > 1 else name
                for name, count in sorted(self.unread.items())
            )
            yield f"elements not imported: {counted}"

    def translate(self, error: CourseError) -> CourseError:
        """Return a course-format error reworded with the FHIR resource and element."""
        path = error.field
        head, _, rest = path.partition(".")
        tables = {
            "observations": _OBSERVATION_FIELDS,
            "doses": _DOSE_FIELDS,
            "prior_toxicities": _TOXICITY_FIELDS,
        }
        kind = head.split("[")[0]
        if path in self.origins:
            return CourseError(self.origins[path], error.message)
        if kind in tables and head in self.origins:
            element = tables[kind].get(rest.split(".")[0], rest) if rest else "(resource)"
            return CourseError(f"{self.origins[head]}.{element}", error.message)
        assert self.patient is not None and self.encounter is not None
        if kind == "patient":
            return CourseError(
                f"{self.patient.name}.{_PATIENT_FIELDS.get(rest, rest)}", error.message
            )
        if kind == "admission":
            return CourseError(
                f"{self.encounter.name}.{_ADMISSION_FIELDS.get(rest, rest)}", error.message
            )
        if kind == "history" and "history" in self.origins:
            field_name = rest.split("[")[0]
            return CourseError(
                f"{self.origins['history']}.{_HISTORY_FIELDS.get(field_name, rest)}",
                error.message,
            )
        return error

    # -- references -------------------------------------------------------------------------

    def _check_subject(self, entry: _Entry, key: str) -> None:
        """Refuse a resource that refers to a patient other than the bundle's Patient."""
        assert self.patient is not None
        reference = (entry.resource.get(key) or {}).get("reference")
        if reference is not None and reference not in self.patient.refs():
            raise entry.error(
                f"{key}.reference",
                f"{reference!r} is not this bundle's Patient ({self.patient.name})",
            )

    def _check_context(self, entry: _Entry, key: str) -> None:
        """Refuse a resource of another patient or another admission."""
        assert self.encounter is not None
        self._check_subject(entry, "subject")
        reference = (entry.resource.get(key) or {}).get("reference")
        if reference is not None and reference not in self.encounter.refs():
            raise entry.error(
                f"{key}.reference",
                f"{reference!r} is not this bundle's Encounter ({self.encounter.name})",
            )

    def _note_unread(self, entry: _Entry) -> None:
        if entry.resource.get("modifierExtension"):
            raise entry.error(
                "modifierExtension", "changes the meaning of the resource; il2-tox cannot read it"
            )
        known = _READ["common"] | _READ.get(entry.kind, frozenset())
        for ext in entry.resource.get("extension") or ():
            url = ext.get("url") if isinstance(ext, dict) else None
            if url not in fc.KNOWN_EXTENSIONS:
                self.unread[f"{entry.kind}.extension({url})"] += 1
        for key in entry.resource:
            name = key.removeprefix("_")
            if name not in known and key not in known:
                self.unread[f"{entry.kind}.{name}"] += 1

    # -- Patient and Encounter ---------------------------------------------------------------

    def _patient(self, entry: _Entry) -> dict[str, Any]:
        r = entry.resource
        identifiers = [i for i in r.get("identifier") or () if isinstance(i, dict)]
        mrn = next((i for i in identifiers if i.get("system") == fc.MRN_SYSTEM), None)
        if mrn is None:
            mrn = next(
                (
                    i
                    for i in identifiers
                    if fc.has_coding(i.get("type"), fc.V2_IDENTIFIER_TYPE, "MR")
                ),
                None,
            )
        mrn_value = fc.get_text(mrn, "value") if mrn is not None else None
        if mrn_value is None:
            raise entry.error(
                "identifier",
                f"no medical record number (an identifier with system {fc.MRN_SYSTEM} or type MR)",
            )
        out: dict[str, Any] = {"id": mrn_value}
        if len(identifiers) > 1:
            self.unread["Patient.identifier (other than the MRN)"] += len(identifiers) - 1
        names = [n for n in r.get("name") or () if isinstance(n, dict)]
        if names:
            name = next((n for n in names if n.get("use") == "official"), names[0])
            text = fc.get_text(name, "text")
            if text is None:
                family = name.get("family")
                given = " ".join(g for g in name.get("given") or () if isinstance(g, str))
                text = ", ".join(part for part in (family, given) if part) or None
            if text is not None:
                out["name"] = text
            if len(names) > 1:
                self.unread["Patient.name (other names)"] += len(names) - 1
        if "gender" in r:
            out["sex"] = r["gender"]
        if "birthDate" in r:
            out["birth_date"] = r["birthDate"]
        return out

    def _admission(self, entry: _Entry) -> dict[str, Any]:
        r = entry.resource
        status = r.get("status")
        if status in ("cancelled", "entered-in-error"):
            raise entry.error("status", f"{status!r}: this admission did not take place")
        if status != "in-progress":
            # The course has no discharge or planned state; the status is not kept.
            self.unread[f"Encounter.status ({status})"] += 1
        start = (r.get("period") or {}).get("start")
        if start is None:
            raise entry.error("period.start", "is required: the time of admission")
        out: dict[str, Any] = {"admitted_at": start}
        for location in r.get("location") or ():
            types = fc.codes_in(location.get("physicalType"), fc.LOCATION_TYPE)
            key = "ward" if "wa" in types else "bed" if "bd" in types else None
            text = fc.get_text(location.get("location"), "display")
            if key is None or text is None:
                self.unread["Encounter.location (not a ward or bed name)"] += 1
                continue
            if key in out:
                raise entry.error("location", f"a second {key}")
            out[key] = text
        regimen = fc.extension(r, fc.EXT_REGIMEN)
        if regimen is not None:
            q = regimen.get("valueQuantity") or {}
            if q.get("code") != "[iU]/kg" or q.get("system") != fc.UCUM:
                raise entry.error(
                    "extension(regimen-iu-per-kg).valueQuantity.code", "must be UCUM [iU]/kg"
                )
            out["regimen_iu_per_kg"] = q.get("value")
        usual = fc.extension(r, fc.EXT_USUAL_SBP)
        if usual is not None:
            q = usual.get("valueQuantity") or {}
            if q.get("code") != "mm[Hg]" or q.get("system") != fc.UCUM:
                raise entry.error("extension(usual-sbp).valueQuantity.code", "must be UCUM mm[Hg]")
            out["usual_sbp_mmhg"] = q.get("value")
        target = fc.extension(r, fc.EXT_SPO2_TARGET)
        if target is not None:
            out["spo2_target"] = target.get("valueCode")
        return out

    def _weight(self, entry: _Entry) -> float:
        q = self._quantity(entry.resource, entry, "valueQuantity")
        spec = units.CODES[units.WEIGHT]
        unit = spec.unit(q["code"])
        if unit is None:
            raise entry.error(
                "valueQuantity.code",
                f"{q['code']!r} is not accepted for the pre-treatment weight; use kg, [lb_av]",
            )
        value: float = q["value"]  # as sent (a JSON int stays an int)
        return unit.to_canonical(value) if unit.ucum != "kg" else value

    def _height(self, entry: _Entry) -> float:
        q = self._quantity(entry.resource, entry, "valueQuantity")
        factor = fc.HEIGHT_UNITS.get(q["code"])
        if factor is None:
            raise entry.error(
                "valueQuantity.code",
                f"{q['code']!r} is not accepted for body height; use {', '.join(fc.HEIGHT_UNITS)}",
            )
        value: float = q["value"]  # as sent (a JSON int stays an int)
        return value if factor == 1.0 else value * factor

    def _quantity(self, fields: dict[str, Any], entry: _Entry, where: str) -> dict[str, Any]:
        q = fields.get("valueQuantity")
        if not isinstance(q, dict):
            raise entry.error(where, "is required (a UCUM quantity)")
        if "comparator" in q:
            raise entry.error(
                f"{where}.comparator",
                f"{q['comparator']!r}: a value given as a bound is not an exact measurement",
            )
        if q.get("value") is None:
            raise entry.error(f"{where}.value", "is missing")
        if q.get("system") != fc.UCUM or not isinstance(q.get("code"), str):
            raise entry.error(f"{where}.system", f"the unit must be UCUM ({fc.UCUM}) with a code")
        return q

    # -- history -----------------------------------------------------------------------------

    def _history(self, entry: _Entry) -> dict[str, Any]:
        self.origins["history"] = entry.name
        out: dict[str, Any] = {}
        therapies: list[str] = []
        for i, component in enumerate(entry.resource.get("component") or ()):
            where = f"component[{i}]"
            code = component.get("code")
            if fc.has_coding(code, fc.ITEMS, fc.BRAIN_METASTASES):
                answer = fc.codes_in(component.get("valueCodeableConcept"), fc.VALUES)
                if not answer:
                    raise entry.error(f"{where}.valueCodeableConcept", "has no il2-tox answer code")
                out["brain_metastases"] = answer[0]
            elif fc.has_coding(code, fc.ITEMS, fc.SYSTEMIC_STEROIDS):
                if not isinstance(component.get("valueBoolean"), bool):
                    raise entry.error(f"{where}.valueBoolean", "is required")
                out["systemic_steroids"] = component["valueBoolean"]
            elif fc.has_coding(code, fc.LOINC, fc.ECOG):
                if not isinstance(component.get("valueInteger"), int):
                    raise entry.error(f"{where}.valueInteger", "is required (ECOG 0-5)")
                out["ecog"] = component["valueInteger"]
            elif fc.has_coding(code, fc.ITEMS, fc.PRIOR_THERAPY):
                therapy = fc.get_text(component, "valueString")
                if therapy is None:
                    raise entry.error(f"{where}.valueString", "is required (the therapy)")
                therapies.append(therapy)
            else:
                raise entry.error(f"{where}.code", "is not an item of the pre-treatment history")
        out["prior_therapies"] = therapies
        return out

    # -- observations ------------------------------------------------------------------------

    def _observations(self, entry: _Entry) -> list[tuple[dict[str, Any], str]]:
        r = entry.resource
        status = r.get("status")
        if status not in OBSERVATION_STATUSES:
            raise entry.error(
                "status",
                f"{status!r}: only results that are final, amended or corrected are imported",
            )
        time, period_h = self._observation_time(entry)
        if "component" in r and not any(k.startswith("value") for k in r):
            panel = fc.codes_in(r.get("code"), fc.LOINC)
            if not any(code in fc.PANELS for code in panel):
                raise entry.error(
                    "code", "components are imported only from a blood pressure panel (85354-9)"
                )
            return [
                (
                    self._observation_item(component, entry, f"component[{i}]", time, period_h),
                    f"{entry.name}.component[{i}]",
                )
                for i, component in enumerate(r["component"])
            ]
        if "component" in r:
            self.unread["Observation.component"] += 1
        return [(self._observation_item(r, entry, "", time, period_h), entry.name)]

    def _observation_time(self, entry: _Entry) -> tuple[str, Any]:
        r = entry.resource
        period = fc.extension(r, fc.EXT_PERIOD)
        period_h = None
        if period is not None:
            q = period.get("valueQuantity") or {}
            if q.get("code") != "h" or q.get("system") != fc.UCUM:
                raise entry.error(
                    "extension(collection-period).valueQuantity.code", "must be UCUM h"
                )
            period_h = q.get("value")
        if "effectiveDateTime" in r:
            return r["effectiveDateTime"], period_h
        if "effectivePeriod" in r:
            from il2_tox.course import parse_time

            span = r["effectivePeriod"]
            if "end" not in span:
                raise entry.error("effectivePeriod.end", "is required (the end of the collection)")
            if "start" in span and period_h is None:
                start = parse_time(span["start"], f"{entry.name}.effectivePeriod.start")
                end = parse_time(span["end"], f"{entry.name}.effectivePeriod.end")
                period_h = (end - start).total_seconds() / 3600
            return span["end"], period_h
        raise entry.error("effective[x]", "is required: when the observation was made")

    def _observation_item(
        self, fields: dict[str, Any], entry: _Entry, prefix: str, time: str, period_h: Any
    ) -> dict[str, Any]:
        where = f"{prefix}." if prefix else ""
        codings = (fields.get("code") or {}).get("coding") or ()
        known = [
            code
            for code in (fc.course_code_of(c.get("system"), c.get("code")) for c in codings)
            if code is not None
        ]
        if not known:
            shown = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings) or "none"
            raise entry.error(f"{where}code", f"no code il2-tox knows (codings: {shown})")
        if len({units.concept_of(code) for code in known}) > 1:
            raise entry.error(
                f"{where}code", f"codes of different measurements: {', '.join(known)}"
            )
        code = known[0]
        spec = units.CODES[code]
        item: dict[str, Any] = {"time": time, "code": code}
        if period_h is not None:
            item["period_h"] = period_h
        if spec.kind == "coded":
            answers = fc.codes_in(fields.get("valueCodeableConcept"), fc.VALUES)
            if answers:
                item["value"] = answers[0]
            elif isinstance(fields.get("valueString"), str):
                item["value"] = fields["valueString"]
            else:
                raise entry.error(
                    f"{where}value[x]",
                    f"{spec.name} needs a valueCodeableConcept from {fc.VALUES}: "
                    f"{', '.join(spec.values)}",
                )
            return item
        q = self._quantity(fields, entry, f"{where}valueQuantity")
        if spec.unit(q["code"]) is None:
            raise entry.error(
                f"{where}valueQuantity.code",
                f"{q['code']!r} is not accepted for {spec.name} ({code}); use "
                f"{', '.join(u.ucum for u in spec.units)}",
            )
        item["value"] = q["value"]
        item["unit"] = q["code"]
        ranges = fields.get("referenceRange") or ()
        if len(ranges) > 1:
            raise entry.error(f"{where}referenceRange", "more than one reference range")
        for limits in ranges:
            for extra in sorted(set(limits) - {"low", "high"}):
                self.unread[f"Observation.referenceRange.{extra.removeprefix('_')}"] += 1
            for side, key in (("low", "ref_low"), ("high", "ref_high")):
                limit = limits.get(side)
                if limit is None:
                    continue
                if limit.get("code") != q["code"] or limit.get("system") != fc.UCUM:
                    raise entry.error(
                        f"{where}referenceRange[0].{side}.code",
                        f"{limit.get('code')!r} differs from the value's unit {q['code']!r}",
                    )
                item[key] = limit.get("value")
        return item

    # -- doses -------------------------------------------------------------------------------

    def _dose(self, entry: _Entry) -> dict[str, Any] | None:
        r = entry.resource
        numbering = fc.extension(r, fc.EXT_DOSE)
        is_il2 = fc.has_coding(r.get("medicationCodeableConcept"), fc.ATC, fc.ALDESLEUKIN)
        if numbering is None and not is_il2:
            self.skipped.append(f"{entry.name}: not an IL-2 (aldesleukin) dose; not imported")
            return None
        if numbering is None:
            raise entry.error(
                "extension(il2-dose)", "is required: the cycle and the dose number of an IL-2 dose"
            )
        self._check_context(entry, "context")
        parts = {
            e.get("url"): e.get("valuePositiveInt")
            for e in numbering.get("extension") or ()
            if isinstance(e, dict)
        }
        for key in ("cycle", "number"):
            if not isinstance(parts.get(key), int):
                raise entry.error(f"extension(il2-dose).{key}", "is required (a positive integer)")
        status = r.get("status")
        if status == "completed":
            course_status = "given"
            notes = [fc.get_text(n, "text") for n in r.get("note") or ()]
            texts = [n for n in notes if n is not None]
            reason = "\n\n".join(texts) if texts else None
            if r.get("statusReason"):
                self.unread["MedicationAdministration.statusReason (of a dose given)"] += 1
        elif status == "not-done":
            reasons = r.get("statusReason") or [{}]
            if len(reasons) > 1:
                self.unread["MedicationAdministration.statusReason (after the first)"] += (
                    len(reasons) - 1
                )
            coded = fc.codes_in(reasons[0], fc.DOSE_STATUS)
            course_status = coded[0] if coded else "held"
            reason = fc.get_text(reasons[0], "text")
            if reason is None:
                displays = [
                    c.get("display") for c in reasons[0].get("coding") or () if c.get("display")
                ]
                reason = displays[0] if displays else None
            if r.get("note"):
                self.unread["MedicationAdministration.note (of a dose not given)"] += 1
        else:
            raise entry.error(
                "status", f"{status!r}: an IL-2 dose must be completed (given) or not-done (held)"
            )
        if "effectiveDateTime" in r:
            time = r["effectiveDateTime"]
        else:
            start = (r.get("effectivePeriod") or {}).get("start")
            if start is None:
                raise entry.error("effectivePeriod.start", "is required: when the dose started")
            time = start
        out: dict[str, Any] = {
            "cycle": parts["cycle"],
            "number": parts["number"],
            "time": time,
            "status": course_status,
        }
        if reason is not None:
            out["reason"] = reason
        return out

    # -- prior toxicities ------------------------------------------------------------------

    def _toxicity(self, entry: _Entry) -> dict[str, Any] | None:
        r = entry.resource
        organs = fc.codes_in(r.get("code"), fc.IRAE)
        if not organs:
            self.skipped.append(
                f"{entry.name}: not a prior immune-related toxicity (no {fc.IRAE} code); "
                "not imported"
            )
            return None
        self._check_subject(entry, "subject")
        verification = fc.codes_in(r.get("verificationStatus"), fc.CONDITION_VERIFICATION)
        if verification and verification[0] in ("refuted", "entered-in-error"):
            # Not a toxicity the patient had: it must not count as a prior one.
            self.skipped.append(f"{entry.name}: verificationStatus {verification[0]}; not imported")
            return None
        if verification and verification[0] != "confirmed":
            # The course holds no certainty: the toxicity is kept, the doubt is reported.
            self.unread[f"Condition.verificationStatus ({verification[0]})"] += 1
        due_to = fc.extension(r, fc.CONDITION_DUE_TO)
        agent = fc.get_text((due_to or {}).get("valueCodeableConcept"), "text")
        if agent is None:
            raise entry.error(
                "extension(condition-dueTo)", "is required: the checkpoint inhibitor (as text)"
            )
        grades = [
            code
            for stage in r.get("stage") or ()
            for code in fc.codes_in(stage.get("summary"), fc.CTCAE_GRADE)
        ]
        if not grades or grades[0] not in {"1", "2", "3", "4", "5"}:
            raise entry.error("stage.summary", f"needs a CTCAE grade 1-5 from {fc.CTCAE_GRADE}")
        clinical = fc.codes_in(r.get("clinicalStatus"), fc.CONDITION_CLINICAL)
        resolved = r.get("abatementDateTime")
        if resolved is None and clinical and clinical[0] in ("resolved", "inactive", "remission"):
            raise entry.error(
                "abatementDateTime", f"is required when clinicalStatus is {clinical[0]}"
            )
        out: dict[str, Any] = {
            "agent": agent,
            "irae": organs[0],
            "grade": int(grades[0]),
            "resolved": _date_part(resolved),
        }
        if "onsetDateTime" in r:
            out["onset"] = _date_part(r["onsetDateTime"])
        steroids = fc.extension(r, fc.EXT_STEROIDS)
        if steroids is not None:
            out["steroids"] = steroids.get("valueBoolean")
        notes = [fc.get_text(n, "text") for n in r.get("note") or ()]
        texts = [n for n in notes if n is not None]
        if texts:
            out["note"] = "\n\n".join(texts)
        return out


def _date_part(value: str | None) -> str | None:
    """Return the date of a FHIR date or dateTime as written (its first ten characters)."""
    return None if value is None else value[:10]
