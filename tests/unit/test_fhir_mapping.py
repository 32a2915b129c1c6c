"""The FHIR mapping, both ways: codes, units, doses, toxicities, refusals and the report."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from il2_tox import units
from il2_tox.course import CourseError
from il2_tox.fhir import bundle_to_course, course_to_bundle, validate_bundle
from il2_tox.fhir import codes as fc
from il2_tox.services.fhir_io import read_course_file
from tests.builders import CourseBuilder


def bundle_of(builder: CourseBuilder) -> dict[str, Any]:
    """Return the exported bundle of a built course, as a file would carry it."""
    return json.loads(json.dumps(course_to_bundle(builder.build())))


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def measurements(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the Observations that are course observations (not weight, height, history)."""
    local = {fc.PRE_TREATMENT_WEIGHT, fc.PRE_TREATMENT_HISTORY}
    return [
        r
        for r in resources(bundle, "Observation")
        if not any(c["code"] in local or c["code"] == fc.BODY_HEIGHT for c in r["code"]["coding"])
    ]


def refusal(bundle: dict[str, Any]) -> str:
    with pytest.raises(CourseError) as caught:
        bundle_to_course(bundle)
    return str(caught.value)


def one_obs(code: str, value: float | str, unit: str | None = None, **fields: Any) -> CourseBuilder:
    return CourseBuilder().obs(code, value, unit, at=1, **fields)


# -- the code tables ----------


@pytest.mark.parametrize("code", sorted(units.CODES))
def test_every_course_code_maps_to_a_coding_and_back(code: str) -> None:
    codings = fc.codings_of(code)
    assert fc.course_code_of(codings[0]["system"], codings[0]["code"]) == code


def test_loinc_codes_go_out_as_loinc_and_il2tox_items_as_the_local_system() -> None:
    assert fc.codings_of("8480-6")[0]["system"] == fc.LOINC
    assert fc.codings_of("il2tox:acvpu")[0] == {
        "system": fc.ITEMS,
        "code": "acvpu",
        "display": "consciousness (ACVPU)",
    }


def test_a_code_in_the_wrong_system_is_not_a_course_code() -> None:
    assert fc.course_code_of(fc.ITEMS, "8480-6") is None
    assert fc.course_code_of(fc.LOINC, "acvpu") is None
    assert fc.course_code_of("http://snomed.info/sct", "271649006") is None


@pytest.mark.parametrize("entered", ["59408-5", "2708-6"])
def test_spo2_is_coded_59408_5_plus_2708_6_and_keeps_the_code_entered(entered: str) -> None:
    bundle = bundle_of(one_obs(entered, 95, "%"))
    (spo2,) = measurements(bundle)
    assert [c["code"] for c in spo2["code"]["coding"]] == [
        entered,
        "2708-6" if entered == "59408-5" else "59408-5",
    ]
    assert bundle_to_course(bundle).course.observations[0].code == entered


def test_a_quantity_carries_the_value_and_ucum_unit_as_entered() -> None:
    (temp,) = measurements(bundle_of(one_obs("8310-5", 101.3, "[degF]")))
    assert temp["valueQuantity"] == {
        "value": 101.3,
        "unit": "°F",
        "system": fc.UCUM,
        "code": "[degF]",
    }


def test_a_coded_item_carries_its_answer_in_the_values_system() -> None:
    (acvpu,) = measurements(bundle_of(one_obs("il2tox:acvpu", "C")))
    assert acvpu["valueCodeableConcept"] == {"coding": [{"system": fc.VALUES, "code": "C"}]}


def test_a_volume_keeps_its_collection_period_exactly() -> None:
    bundle = bundle_of(one_obs("9187-6", 240, "mL", period_h=7.75))
    (urine,) = measurements(bundle)
    assert fc.extension(urine, fc.EXT_PERIOD) == {
        "url": fc.EXT_PERIOD,
        "valueQuantity": {"value": 7.75, "unit": "h", "system": fc.UCUM, "code": "h"},
    }
    assert bundle_to_course(bundle).course.observations[0].period_h == 7.75


def test_a_volume_given_as_an_effective_period_takes_its_length_and_end() -> None:
    bundle = bundle_of(one_obs("9187-6", 240, "mL", period_h=8))
    (urine,) = measurements(bundle)
    urine.pop("extension")
    end = urine.pop("effectiveDateTime")
    urine["effectivePeriod"] = {"start": "2026-11-19T23:00:00+00:00", "end": end}
    (obs,) = bundle_to_course(bundle).course.observations
    assert (obs.period_h, obs.time.isoformat()) == (8.0, end)


def test_reference_limits_in_a_converted_unit_come_back_exactly() -> None:
    course = one_obs("2160-0", 97, "umol/L", ref_low=1 / 3, ref_high=115).build()
    bundle = json.loads(json.dumps(course_to_bundle(course)))
    (creatinine,) = measurements(bundle)
    assert creatinine["referenceRange"][0]["high"]["value"] == 115
    assert bundle_to_course(bundle).course.observations == course.observations


# -- unit boundaries ----------


def test_a_pre_treatment_weight_in_pounds_is_converted_to_kg() -> None:
    bundle = bundle_of(CourseBuilder())
    (weight,) = [
        r
        for r in resources(bundle, "Observation")
        if fc.has_coding(r["code"], fc.ITEMS, fc.PRE_TREATMENT_WEIGHT)
    ]
    weight["valueQuantity"] = fc.quantity(100, "[lb_av]")
    assert bundle_to_course(bundle).course.patient.weight_kg == pytest.approx(45.359237)


def test_a_body_height_in_inches_is_converted_to_cm() -> None:
    bundle = bundle_of(CourseBuilder())
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:height",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": fc.LOINC, "code": fc.BODY_HEIGHT}]},
                "effectiveDateTime": "2026-11-20T06:00:00Z",
                "valueQuantity": fc.quantity(70, "[in_i]"),
            },
        }
    )
    assert bundle_to_course(bundle).course.patient.height_cm == pytest.approx(177.8)


def test_the_highest_possible_value_in_a_converted_unit_is_accepted() -> None:
    # Creatinine's hard limit is 40 mg/dL = 3536 umol/L, inclusive.
    bundle = bundle_of(one_obs("2160-0", 3536, "umol/L"))
    assert bundle_to_course(bundle).course.observations[0].value == pytest.approx(40)


def test_a_value_just_above_the_possible_range_is_refused_naming_the_observation() -> None:
    bundle = bundle_of(one_obs("2160-0", 3536, "umol/L"))
    (creatinine,) = measurements(bundle)
    creatinine["valueQuantity"]["value"] = 3537
    message = refusal(bundle)
    assert message.startswith(f"Observation/{creatinine['id']} (urn:uuid:{creatinine['id']})")
    assert ".valueQuantity.value: 3537 µmol/L is outside the possible range" in message


def test_an_unknown_ucum_unit_is_refused_naming_the_resource_and_field() -> None:
    bundle = bundle_of(one_obs("1742-6", 28, "U/L"))
    (alt,) = measurements(bundle)
    alt["valueQuantity"]["code"] = "ukat/L"
    assert refusal(bundle) == (
        f"Observation/{alt['id']} (urn:uuid:{alt['id']}).valueQuantity.code: 'ukat/L' is not "
        "accepted for ALT (1742-6); use U/L"
    )


def test_a_unit_that_is_not_ucum_is_refused() -> None:
    bundle = bundle_of(one_obs("1742-6", 28, "U/L"))
    (alt,) = measurements(bundle)
    alt["valueQuantity"]["system"] = "http://example.org/units"
    assert "valueQuantity.system: the unit must be UCUM" in refusal(bundle)


def test_a_value_with_a_comparator_is_refused() -> None:
    bundle = bundle_of(one_obs("10839-9", 0.01, "ng/mL"))
    (troponin,) = measurements(bundle)
    troponin["valueQuantity"]["comparator"] = "<"
    assert "valueQuantity.comparator: '<': a value given as a bound" in refusal(bundle)


# -- codes ----------


def test_an_observation_with_an_unknown_code_is_refused_with_its_codings() -> None:
    bundle = bundle_of(one_obs("1742-6", 28, "U/L"))
    (alt,) = measurements(bundle)
    alt["code"] = {"coding": [{"system": fc.LOINC, "code": "1234-5"}]}
    assert refusal(bundle) == (
        f"Observation/{alt['id']} (urn:uuid:{alt['id']}).code: no code il2-tox knows "
        "(codings: http://loinc.org|1234-5)"
    )


def test_an_observation_coded_as_two_different_measurements_is_refused() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["code"]["coding"].append({"system": fc.LOINC, "code": "8462-4"})
    assert "code: codes of different measurements: 8480-6, 8462-4" in refusal(bundle)


def test_an_extra_coding_of_another_system_is_allowed() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["code"]["coding"].insert(0, {"system": "http://snomed.info/sct", "code": "271649006"})
    assert bundle_to_course(bundle).course.observations[0].code == "8480-6"


def test_a_blood_pressure_panel_is_read_component_by_component() -> None:
    bundle = bundle_of(CourseBuilder())
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:bp",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": fc.LOINC, "code": "85354-9"}]},
                "effectiveDateTime": "2026-11-20T08:00:00Z",
                "component": [
                    {
                        "code": {"coding": [{"system": fc.LOINC, "code": "8480-6"}]},
                        "valueQuantity": fc.quantity(84, "mm[Hg]"),
                    },
                    {
                        "code": {"coding": [{"system": fc.LOINC, "code": "8462-4"}]},
                        "valueQuantity": fc.quantity(50, "mm[Hg]"),
                    },
                ],
            },
        }
    )
    observations = bundle_to_course(bundle).course.observations
    assert [(o.code, o.value) for o in observations] == [("8480-6", 84.0), ("8462-4", 50.0)]


def test_a_coded_item_with_an_unknown_answer_is_refused() -> None:
    bundle = bundle_of(one_obs("il2tox:rales", "bases"))
    (rales,) = measurements(bundle)
    rales["valueCodeableConcept"]["coding"][0]["code"] = "everywhere"
    assert refusal(bundle) == (
        f"Observation/{rales['id']} (urn:uuid:{rales['id']}).valueCodeableConcept: "
        '"everywhere" is not one of none, bases, third, half for crackles extent'
    )


def test_an_entered_in_error_observation_is_left_out_and_reported() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["status"] = "entered-in-error"
    imported = bundle_to_course(bundle)
    assert imported.course.observations == ()
    assert imported.not_imported == (
        f"Observation/{sbp['id']} (urn:uuid:{sbp['id']}): entered-in-error, not imported",
    )


def test_a_preliminary_result_is_refused() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["status"] = "preliminary"
    assert ".status: 'preliminary': only results that are final" in refusal(bundle)


# -- doses ----------


def test_a_given_dose_is_completed_and_a_held_one_not_done_with_its_reason() -> None:
    bundle = bundle_of(
        CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10, status="held", reason="SBP 82")
    )
    given, held = resources(bundle, "MedicationAdministration")
    assert (given["status"], "statusReason" in given) == ("completed", False)
    assert held["status"] == "not-done"
    assert held["statusReason"] == [
        {"coding": [{"system": fc.DOSE_STATUS, "code": "held"}], "text": "SBP 82"}
    ]
    assert fc.has_coding(given["medicationCodeableConcept"], fc.ATC, fc.ALDESLEUKIN)


def test_a_not_done_dose_without_an_il2tox_status_reads_as_held() -> None:
    bundle = bundle_of(CourseBuilder().dose(1, 1, at=2, status="not_given", reason="asleep"))
    (dose,) = resources(bundle, "MedicationAdministration")
    dose["statusReason"] = [{"text": "patient refused"}]
    (read,) = bundle_to_course(bundle).course.doses
    assert (read.status, read.reason) == ("held", "patient refused")


def test_an_il2_dose_without_its_cycle_and_number_is_refused() -> None:
    bundle = bundle_of(CourseBuilder().dose(1, 1, at=2))
    (dose,) = resources(bundle, "MedicationAdministration")
    dose.pop("extension")
    assert refusal(bundle).endswith(
        ".extension(il2-dose): is required: the cycle and the dose number of an IL-2 dose"
    )


def test_a_dose_with_a_status_other_than_completed_or_not_done_is_refused() -> None:
    bundle = bundle_of(CourseBuilder().dose(1, 1, at=2))
    (dose,) = resources(bundle, "MedicationAdministration")
    dose["status"] = "in-progress"
    assert ".status: 'in-progress': an IL-2 dose must be completed" in refusal(bundle)


def test_a_dose_number_15_is_refused_at_the_dose_extension() -> None:
    bundle = bundle_of(CourseBuilder().dose(1, 14, at=2))
    (dose,) = resources(bundle, "MedicationAdministration")
    dose["extension"][0]["extension"][1]["valuePositiveInt"] = 15
    assert ".extension(il2-dose).number: 15 must be at most 14" in refusal(bundle)


def test_another_medication_is_listed_as_not_imported() -> None:
    bundle = bundle_of(CourseBuilder())
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:paracetamol",
            "resource": {
                "resourceType": "MedicationAdministration",
                "id": "paracetamol",
                "status": "completed",
                "medicationCodeableConcept": {"text": "paracetamol 650 mg"},
                "subject": {"reference": bundle["entry"][0]["fullUrl"]},
                "effectiveDateTime": "2026-11-20T08:00:00Z",
            },
        }
    )
    assert bundle_to_course(bundle).not_imported == (
        "MedicationAdministration/paracetamol (urn:uuid:paracetamol): not an IL-2 (aldesleukin) "
        "dose; not imported",
    )


# -- prior toxicities, history, patient, encounter ----------


def test_a_prior_toxicity_is_a_condition_with_grade_agent_and_dates() -> None:
    bundle = bundle_of(
        CourseBuilder().prior(
            "hepatitis", grade=3, agent="ipilimumab+nivolumab", onset="2026-03-01", steroids=True
        )
    )
    (condition,) = resources(bundle, "Condition")
    assert condition["code"]["coding"] == [{"system": fc.IRAE, "code": "hepatitis"}]
    assert condition["stage"][0]["summary"]["coding"][0]["code"] == "3"
    assert condition["onsetDateTime"] == "2026-03-01"
    assert condition["abatementDateTime"] == "2026-06-01"
    assert condition["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert fc.extension(condition, fc.CONDITION_DUE_TO) == {
        "url": fc.CONDITION_DUE_TO,
        "valueCodeableConcept": {"text": "ipilimumab+nivolumab"},
    }


def test_an_unresolved_toxicity_is_active_without_an_abatement() -> None:
    bundle = bundle_of(CourseBuilder().prior("colitis", resolved=None))
    (condition,) = resources(bundle, "Condition")
    assert condition["clinicalStatus"]["coding"][0]["code"] == "active"
    assert "abatementDateTime" not in condition
    assert bundle_to_course(bundle).course.prior_toxicities[0].resolved is None


def test_a_resolved_condition_without_its_date_is_refused() -> None:
    bundle = bundle_of(CourseBuilder().prior("colitis"))
    (condition,) = resources(bundle, "Condition")
    condition.pop("abatementDateTime")
    assert ".abatementDateTime: is required when clinicalStatus is resolved" in refusal(bundle)


@pytest.mark.parametrize("status", ["refuted", "entered-in-error"])
def test_a_refuted_or_mistaken_toxicity_is_left_out_and_reported(status: str) -> None:
    bundle = bundle_of(CourseBuilder().prior("colitis"))
    (condition,) = resources(bundle, "Condition")
    condition["verificationStatus"]["coding"][0]["code"] = status
    read = bundle_to_course(bundle)
    assert read.course.prior_toxicities == ()
    (note,) = read.not_imported
    assert note.startswith("Condition/") and note.endswith(
        f": verificationStatus {status}; not imported"
    )


@pytest.mark.parametrize("status", ["unconfirmed", "provisional", "differential"])
def test_an_unconfirmed_toxicity_is_kept_and_its_doubt_reported(status: str) -> None:
    bundle = bundle_of(CourseBuilder().prior("colitis"))
    (condition,) = resources(bundle, "Condition")
    condition["verificationStatus"]["coding"][0]["code"] = status
    read = bundle_to_course(bundle)
    assert [t.irae for t in read.course.prior_toxicities] == ["colitis"]
    assert read.not_imported == (f"elements not imported: Condition.verificationStatus ({status})",)


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error"])
def test_an_admission_that_did_not_take_place_is_refused(status: str) -> None:
    bundle = bundle_of(CourseBuilder())
    (encounter,) = resources(bundle, "Encounter")
    encounter["status"] = status
    assert f".status: '{status}': this admission did not take place" in refusal(bundle)


def test_an_admission_status_other_than_in_progress_is_reported() -> None:
    bundle = bundle_of(CourseBuilder())
    (encounter,) = resources(bundle, "Encounter")
    encounter["status"] = "finished"
    read = bundle_to_course(bundle)
    assert read.not_imported == ("elements not imported: Encounter.status (finished)",)


def test_a_condition_that_is_not_an_irae_is_listed_as_not_imported() -> None:
    bundle = bundle_of(CourseBuilder())
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:melanoma",
            "resource": {
                "resourceType": "Condition",
                "code": {"text": "metastatic melanoma"},
                "subject": {"reference": bundle["entry"][0]["fullUrl"]},
            },
        }
    )
    (note,) = bundle_to_course(bundle).not_imported
    assert note.startswith("Condition entry[")
    assert "not a prior immune-related toxicity" in note


def test_history_known_but_empty_differs_from_no_history() -> None:
    empty = bundle_of(CourseBuilder(history={}))
    none = bundle_of(CourseBuilder())
    assert bundle_to_course(empty).course.history is not None
    assert bundle_to_course(none).course.history is None


def test_a_patient_without_a_medical_record_number_is_refused() -> None:
    bundle = bundle_of(CourseBuilder())
    (patient,) = resources(bundle, "Patient")
    patient["identifier"] = [{"system": "urn:oid:1.2.3", "value": "X"}]
    assert ".identifier: no medical record number" in refusal(bundle)


def test_a_name_in_family_and_given_parts_is_read_as_family_comma_given() -> None:
    bundle = bundle_of(CourseBuilder())
    (patient,) = resources(bundle, "Patient")
    patient["name"] = [{"family": "Lovelace", "given": ["Ada", "King"]}]
    assert bundle_to_course(bundle).course.patient.name == "Lovelace, Ada King"


def test_texts_fhir_cannot_hold_travel_exactly_in_an_extension() -> None:
    doc = CourseBuilder().document()
    doc["patient"]["name"] = ""
    doc["admission"]["ward"] = "\u2003"
    from il2_tox.course import parse_course

    course = parse_course(doc)
    bundle = json.loads(json.dumps(course_to_bundle(course)))
    validate_bundle(bundle)
    (patient,) = resources(bundle, "Patient")
    assert "text" not in patient["name"][0]
    back = bundle_to_course(bundle).course
    assert (back.patient.name, back.admission.ward) == ("", "\u2003")


def test_a_second_patient_is_refused() -> None:
    bundle = bundle_of(CourseBuilder())
    second = copy.deepcopy(bundle["entry"][0])
    second["fullUrl"] = "urn:uuid:other"
    second["resource"]["id"] = "other"
    bundle["entry"].append(second)
    assert refusal(bundle) == (
        "Patient/other (urn:uuid:other).(resource): a second Patient; one patient per bundle"
    )


def test_an_observation_of_another_patient_is_refused() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["subject"] = {"reference": "Patient/someone-else"}
    assert ".subject.reference: 'Patient/someone-else' is not this bundle's Patient" in refusal(
        bundle
    )


def test_a_bundle_without_a_pre_treatment_weight_is_refused() -> None:
    bundle = bundle_of(CourseBuilder())
    bundle["entry"] = [
        e
        for e in bundle["entry"]
        if not fc.has_coding(e["resource"].get("code"), fc.ITEMS, fc.PRE_TREATMENT_WEIGHT)
    ]
    assert refusal(bundle).startswith("Bundle: holds no pre-treatment weight")


def test_a_modifier_extension_is_refused() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["modifierExtension"] = [{"url": "https://example.org/negated", "valueBoolean": True}]
    assert ".modifierExtension: changes the meaning of the resource" in refusal(bundle)


def test_unmapped_resources_and_elements_are_listed_in_the_report() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["performer"] = [{"display": "Nurse Ada"}]
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:pr1",
            "resource": {"resourceType": "Practitioner", "id": "pr1", "name": [{"text": "Ada"}]},
        }
    )
    assert bundle_to_course(bundle).not_imported == (
        "Practitioner/pr1 (urn:uuid:pr1): Practitioner is not used by il2-tox",
        "elements not imported: Observation.performer",
    )


def test_clinical_elements_the_course_cannot_hold_are_reported_not_dropped() -> None:
    bundle = bundle_of(
        one_obs("1742-6", 80, "U/L", ref_high=40)
        .dose(1, 1, at=2)
        .dose(1, 2, at=10, status="held", reason="SBP 82")
    )
    (alt,) = measurements(bundle)
    alt["interpretation"] = [{"text": "critical high"}]
    alt["referenceRange"][0]["text"] = "adult male"
    given, held = resources(bundle, "MedicationAdministration")
    given["dosage"] = {"dose": {"value": 300000, "unit": "[iU]/kg"}}
    given["statusReason"] = [{"text": "given late"}]
    held["statusReason"].append({"text": "also febrile"})
    (patient,) = resources(bundle, "Patient")
    patient["identifier"].append({"system": "https://example.org/nhs", "value": "943 476 5919"})
    read = bundle_to_course(bundle)
    assert read.not_imported == (
        "elements not imported: MedicationAdministration.dosage, "
        "MedicationAdministration.statusReason (after the first), "
        "MedicationAdministration.statusReason (of a dose given), "
        "Observation.interpretation, Observation.referenceRange.text, "
        "Patient.identifier (other than the MRN)",
    )
    assert [d.reason for d in read.course.doses] == [None, "SBP 82"]


def test_an_exported_bundle_reports_nothing_left_out() -> None:
    bundle = bundle_of(
        one_obs("1742-6", 80, "U/L", ref_low=7, ref_high=40)
        .dose(1, 1, at=2)
        .dose(1, 2, at=10, status="held", reason="SBP 82")
    )
    assert bundle_to_course(bundle).not_imported == ()


def test_invalid_fhir_is_refused_by_fhir_resources_naming_the_element() -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    (sbp,) = measurements(bundle)
    sbp["effectiveDateTime"] = "2026-11-20T08:00:00"  # no offset: not a FHIR dateTime
    message = refusal(bundle)
    assert message.startswith(f"Observation/{sbp['id']} (urn:uuid:{sbp['id']}).effectiveDateTime")
    assert "is not valid FHIR" in message


def test_a_resource_fhir_does_not_define_is_refused() -> None:
    bundle = bundle_of(CourseBuilder())
    bundle["entry"].append({"fullUrl": "urn:uuid:x", "resource": {"resourceType": "Vitals"}})
    assert (
        refusal(bundle)
        == "Vitals entry[3] (urn:uuid:x).resourceType: 'Vitals' is not a FHIR R4 resource"
    )


def test_a_fault_in_the_last_resource_of_a_large_bundle_is_found_and_named() -> None:
    builder = CourseBuilder()
    for i in range(200):
        builder.obs("8480-6", 120, "mm[Hg]", at=1 + i / 4)
    bundle = bundle_of(builder)
    last = measurements(bundle)[-1]
    last["effectiveDateTime"] = "2026-11-22T08:00:00"  # no offset: not a FHIR dateTime
    message = refusal(bundle)
    assert message.startswith(f"Observation/{last['id']} (urn:uuid:{last['id']}).effectiveDate")
    assert "is not valid FHIR" in message


def test_a_bundle_file_is_decoded_once_and_read_as_fhir(tmp_path: Path) -> None:
    bundle = bundle_of(one_obs("8480-6", 120, "mm[Hg]"))
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    course, not_imported = read_course_file(path)
    expected = bundle_to_course(bundle)
    assert (course, not_imported) == (expected.course, expected.not_imported)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"resourceType": "Bundle", ', "(document): not valid JSON at line 1 column 28"),
        (
            '{"resourceType": "Bundle", "type": "collection", "total": NaN}',
            "(document): NaN is not a number JSON allows",
        ),
        ('[{"resourceType": "Bundle"}]', "(document): a course file must hold one JSON object"),
    ],
)
def test_a_file_naming_a_resource_type_that_is_not_a_bundle_object_is_refused_as_json(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        read_course_file(path)
    assert str(caught.value).startswith(message)
