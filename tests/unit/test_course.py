"""The course reader: what a valid file gives, and one clear line for every kind of bad file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from il2_tox.course import (
    CourseError,
    course_to_dict,
    load_course,
    parse_course,
    parse_course_text,
    save_course,
)
from tests.builders import CourseBuilder

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "example-course.json"


def example() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return loaded


def refusal(doc: object) -> CourseError:
    with pytest.raises(CourseError) as caught:
        parse_course(doc)
    return caught.value


# -- what a valid file gives ---------------------------------------------------------------


def test_it_reads_the_spec_example() -> None:
    course = load_course(EXAMPLE)
    assert course.patient.id == "MRN-0001"
    assert course.patient.weight_kg == 72.0
    assert course.admission.usual_sbp_mmhg == 118
    assert [d.status for d in course.doses] == ["given", "held"]
    assert course.doses[1].reason == "SBP 82 on phenylephrine"
    assert course.prior_toxicities[0].irae == "hepatitis"
    assert len(course.observations) == 4


def test_it_reads_times_as_aware_utc() -> None:
    course = parse_course(
        CourseBuilder().obs("8867-4", 90, "/min", at="2026-11-20T09:30:00+02:00").document()
    )
    moment = course.observations[0].time
    assert moment.utcoffset() is not None
    assert moment.isoformat() == "2026-11-20T07:30:00+00:00"


@pytest.mark.parametrize(
    ("code", "value", "unit", "canonical", "canonical_unit"),
    [
        ("2160-0", 265.2, "umol/L", 3.0, "mg/dL"),
        ("1975-2", 119.7, "umol/L", 7.0, "mg/dL"),
        ("1751-7", 30, "g/L", 3.0, "g/dL"),
        ("777-3", 30, "10*9/L", 30.0, "10*3/uL"),
        ("8310-5", 100.4, "[degF]", 38.0, "Cel"),
        ("29463-7", 176.3698, "[lb_av]", 80.0, "kg"),
        ("2951-2", 128, "meq/L", 128.0, "mmol/L"),
    ],
)
def test_it_converts_to_the_canonical_unit_once_and_keeps_what_was_entered(
    code: str, value: float, unit: str, canonical: float, canonical_unit: str
) -> None:
    course = CourseBuilder().obs(code, value, unit, at=1).build()
    obs = course.observations[0]
    assert obs.value == pytest.approx(canonical, rel=1e-6)
    assert obs.unit == canonical_unit
    assert obs.entered_value == value
    assert obs.entered_unit == unit


def test_it_converts_reference_limits_with_the_value() -> None:
    course = CourseBuilder().obs("2160-0", 100, "umol/L", at=1, ref_high=106.08).build()
    assert course.observations[0].ref_high == pytest.approx(1.2)


def test_it_folds_the_spo2_alias_into_one_concept_but_keeps_the_code() -> None:
    course = CourseBuilder().obs("2708-6", 95, "%", at=1).build()
    assert course.observations[0].code == "2708-6"
    assert course.observations[0].concept == "59408-5"


def test_it_saves_what_it_read(tmp_path: Path) -> None:
    course = load_course(EXAMPLE)
    target = tmp_path / "out.json"
    save_course(course, target)
    assert load_course(target) == course
    assert not (tmp_path / "out.json.partial").exists()


def test_it_exports_values_in_the_units_they_were_entered_in() -> None:
    course = CourseBuilder().obs("2160-0", 265.2, "umol/L", at=1, ref_high=106).build()
    exported = course_to_dict(course)["observations"][0]
    assert exported["value"] == 265.2
    assert exported["unit"] == "umol/L"
    assert exported["ref_high"] == 106


def test_it_accepts_empty_dose_and_observation_lists() -> None:
    course = CourseBuilder().build()
    assert course.doses == ()
    assert course.observations == ()
    assert course.history is None


# -- every bad file gets one line naming the field -----------------------------------------


def test_it_refuses_a_document_that_is_not_an_object() -> None:
    assert refusal([1, 2]).field == "(document)"


def test_it_refuses_bad_json_with_the_position() -> None:
    with pytest.raises(CourseError) as caught:
        parse_course_text('{"format": ')
    assert "line 1" in str(caught.value)


def test_it_refuses_nan_which_json_does_not_allow() -> None:
    text = json.dumps(example()).replace('"value": 112', '"value": NaN')
    with pytest.raises(CourseError):
        parse_course_text(text)


def test_it_refuses_another_format() -> None:
    doc = example()
    doc["format"] = "il2-tox-course/2"
    assert refusal(doc).field == "format"


@pytest.mark.parametrize("key", ["format", "patient", "admission", "doses", "observations"])
def test_it_names_a_missing_required_section(key: str) -> None:
    doc = example()
    del doc[key]
    assert refusal(doc).field == key


def test_it_names_a_missing_weight() -> None:
    doc = example()
    del doc["patient"]["weight_kg"]
    assert refusal(doc).field == "patient.weight_kg"


def test_it_refuses_an_unknown_field_rather_than_dropping_it() -> None:
    doc = example()
    doc["observations"][0]["ref_hgih"] = 40
    error = refusal(doc)
    assert error.field == "observations[0].ref_hgih"


@pytest.mark.parametrize(
    "time",
    ["2026-11-20T07:30:00", "2026-11-20", "yesterday", "2026-13-20T07:30:00Z"],
)
def test_it_refuses_a_time_without_an_offset_or_not_a_time(time: str) -> None:
    doc = example()
    doc["observations"][0]["time"] = time
    error = refusal(doc)
    assert error.field == "observations[0].time"
    assert time in str(error)


def test_it_refuses_a_dose_time_without_offset() -> None:
    doc = example()
    doc["doses"][0]["time"] = "2026-11-20T08:00:00"
    assert refusal(doc).field == "doses[0].time"


def test_it_refuses_a_unit_the_code_does_not_accept() -> None:
    doc = example()
    doc["observations"][2]["unit"] = "IU/L"
    error = refusal(doc)
    assert error.field == "observations[2].unit"
    assert "IU/L" in str(error)
    assert "U/L" in str(error)


def test_it_refuses_a_number_without_a_unit() -> None:
    doc = example()
    del doc["observations"][0]["unit"]
    assert refusal(doc).field == "observations[0].unit"


def test_it_refuses_a_unit_on_a_coded_item() -> None:
    doc = example()
    doc["observations"][1]["unit"] = "{score}"
    assert refusal(doc).field == "observations[1].unit"


def test_it_refuses_a_coded_value_outside_its_list() -> None:
    doc = example()
    doc["observations"][1]["value"] = "alert"
    error = refusal(doc)
    assert error.field == "observations[1].value"
    assert "alert" in str(error)


def test_it_refuses_text_where_a_number_belongs() -> None:
    doc = example()
    doc["observations"][0]["value"] = "112"
    assert refusal(doc).field == "observations[0].value"


def test_it_refuses_true_as_a_number() -> None:
    doc = example()
    doc["observations"][0]["value"] = True
    assert refusal(doc).field == "observations[0].value"


def test_it_refuses_an_unknown_code() -> None:
    doc = example()
    doc["observations"][0]["code"] = "1234-5"
    assert refusal(doc).field == "observations[0].code"


def test_it_requires_a_period_for_volumes() -> None:
    doc = example()
    del doc["observations"][3]["period_h"]
    assert refusal(doc).field == "observations[3].period_h"


def test_it_refuses_a_period_on_a_non_volume() -> None:
    doc = example()
    doc["observations"][0]["period_h"] = 8
    assert refusal(doc).field == "observations[0].period_h"


@pytest.mark.parametrize("period", [0, -8, 25])
def test_it_refuses_an_impossible_period(period: float) -> None:
    doc = example()
    doc["observations"][3]["period_h"] = period
    assert refusal(doc).field == "observations[3].period_h"


@pytest.mark.parametrize("number", [0, 15])
def test_it_refuses_dose_numbers_outside_1_to_14(number: int) -> None:
    doc = example()
    doc["doses"][0]["number"] = number
    assert refusal(doc).field == "doses[0].number"


def test_it_accepts_dose_numbers_1_and_14() -> None:
    doc = CourseBuilder().dose(1, 1, at=1).dose(1, 14, at=105).document()
    assert len(parse_course(doc).doses) == 2


def test_it_refuses_a_dose_number_used_twice_in_a_cycle() -> None:
    doc = CourseBuilder().dose(1, 3, at=1).dose(1, 3, at=9).document()
    error = refusal(doc)
    assert error.field == "doses[1].number"


def test_it_allows_the_same_number_in_another_cycle() -> None:
    doc = CourseBuilder().dose(1, 1, at=1).dose(2, 1, at=300).document()
    assert len(parse_course(doc).doses) == 2


def test_it_refuses_an_unknown_dose_status() -> None:
    doc = example()
    doc["doses"][0]["status"] = "skipped"
    assert refusal(doc).field == "doses[0].status"


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("8867-4", 301, "/min"),
        ("8867-4", -1, "/min"),
        ("8310-5", 24.9, "Cel"),
        ("8310-5", 45.1, "Cel"),
        ("8310-5", 114, "[degF]"),
        ("59408-5", 100.5, "%"),
        ("3150-0", 20, "%"),
    ],
)
def test_it_refuses_values_outside_physiologic_hard_limits(
    code: str, value: float, unit: str
) -> None:
    doc = CourseBuilder().obs(code, value, unit, at=1).document()
    error = refusal(doc)
    assert error.field == "observations[0].value"
    assert str(value) in str(error)


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        ("8867-4", 0, "/min"),
        ("8867-4", 300, "/min"),
        ("8310-5", 25, "Cel"),
        ("8310-5", 45, "Cel"),
        ("59408-5", 100, "%"),
        ("3150-0", 21, "%"),
    ],
)
def test_it_accepts_values_at_the_hard_limits(code: str, value: float, unit: str) -> None:
    assert CourseBuilder().obs(code, value, unit, at=1).build().observations[0].value == value


def test_it_refuses_a_prior_toxicity_without_the_resolved_key() -> None:
    doc = example()
    del doc["prior_toxicities"][0]["resolved"]
    assert refusal(doc).field == "prior_toxicities[0].resolved"


def test_it_accepts_a_prior_toxicity_not_resolved() -> None:
    doc = example()
    doc["prior_toxicities"][0]["resolved"] = None
    assert parse_course(doc).prior_toxicities[0].resolved is None


def test_it_refuses_an_unknown_organ() -> None:
    doc = example()
    doc["prior_toxicities"][0]["irae"] = "liver"
    assert refusal(doc).field == "prior_toxicities[0].irae"


def test_it_refuses_a_resolution_before_the_onset() -> None:
    doc = example()
    doc["prior_toxicities"][0]["resolved"] = "2026-02-01"
    assert refusal(doc).field == "prior_toxicities[0].resolved"


def test_it_refuses_an_impossible_date() -> None:
    doc = example()
    doc["patient"]["birth_date"] = "1961-02-30"
    assert refusal(doc).field == "patient.birth_date"


def test_it_refuses_reference_limits_the_wrong_way_round() -> None:
    doc = CourseBuilder().obs("3016-3", 2, "m[IU]/L", at=1, ref_low=4, ref_high=0.4).document()
    assert refusal(doc).field == "observations[0].ref_low"


def test_it_reports_the_first_fault_in_document_order() -> None:
    doc = example()
    doc["observations"][3]["unit"] = "L"
    doc["observations"][1]["value"] = "drowsy"
    assert refusal(doc).field == "observations[1].value"


def test_every_refusal_is_one_line() -> None:
    doc = example()
    doc["observations"][0]["value"] = "a\nb"
    assert "\n" not in str(refusal(doc)).replace("\\n", "")


def test_it_reports_a_missing_file_without_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(CourseError) as caught:
        load_course(tmp_path / "nope.json")
    assert caught.value.field == "file"


# -- a lab's reference limits lie where the item's values can ---------------------------------


def _with_limit(code: str, value: float, unit: str, **limit: float) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "format": "il2-tox-course/1",
                "patient": {"id": "REF-1", "weight_kg": 70},
                "admission": {"admitted_at": "2026-11-20T06:00:00+00:00"},
                "doses": [],
                "observations": [
                    {"time": "2026-11-20T07:00:00+00:00", "code": code, "value": value,
                     "unit": unit, **limit}
                ],
            }
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("code", "unit", "key", "limit"),
    [
        ("8310-5", "Cel", "ref_high", 45),  # the highest temperature a value can have
        ("8310-5", "Cel", "ref_low", 25),
        ("8310-5", "[degF]", "ref_low", 77),  # 25 °C
        ("2951-2", "mmol/L", "ref_low", 70),
        ("1742-6", "U/L", "ref_low", 0),
    ],
)
def test_a_reference_limit_at_the_edge_of_the_possible_range_is_read(
    code: str, unit: str, key: str, limit: float
) -> None:
    value = 37 if code == "8310-5" and unit == "Cel" else 99 if code == "8310-5" else 140
    (obs,) = parse_course(_with_limit(code, value, unit, **{key: limit})).observations
    assert getattr(obs, key) == pytest.approx(
        limit if unit != "[degF]" else (limit - 32) * 5 / 9, abs=1e-9
    )


@pytest.mark.parametrize(
    ("code", "unit", "key", "limit", "range_text"),
    [
        ("8310-5", "Cel", "ref_high", 45.01, "25–45 °C"),
        ("8310-5", "Cel", "ref_low", 24.99, "25–45 °C"),
        ("8310-5", "[degF]", "ref_high", 2.2250738585e-313, "77–113 °F"),  # 0 °F: -17.8 °C
        ("2951-2", "mmol/L", "ref_low", 69.9, "70–220 mmol/L"),
    ],
)
def test_a_reference_limit_outside_the_possible_range_is_refused_naming_it(
    code: str, unit: str, key: str, limit: float, range_text: str
) -> None:
    value = 99 if unit == "[degF]" else 37 if code == "8310-5" else 140
    error = refusal(_with_limit(code, value, unit, **{key: limit}))
    assert error.field == f"observations[0].{key}"
    assert "is not a usable reference limit: outside the possible range" in str(error)
    assert range_text in str(error)
