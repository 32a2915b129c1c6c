"""Fuzz the course reader, the bedside entry checks, the entry and admission forms and the CSV
import: no exception but the documented refusal escapes, and every refusal names a field.

A couple of hundred generated inputs per target here; benchmarks/fuzz.py runs 10,000 and more.
The targets and what each asserts are in tests/fuzzing.py. The regression cases below are
defects the fuzzer found, kept as plain examples.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from dashboard import admission_form
from il2_tox.course import CourseError, parse_course_text
from il2_tox.services.errors import Refused
from il2_tox.services.observation_import import parse_observation_csv
from tests import fuzzing
from tests.builders import CourseBuilder

EXAMPLES = 150
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(fuzzing.course_texts())
def test_the_course_reader_refuses_any_text_naming_a_field(text: str) -> None:
    fuzzing.check_course_text(text)


@FUZZ
@given(fuzzing.course_bytes())
def test_an_uploaded_course_file_of_any_bytes_is_refused_naming_a_field(data: bytes) -> None:
    fuzzing.check_course_bytes(data)


@FUZZ
@given(fuzzing.JSON_VALUES)
def test_the_course_reader_refuses_any_json_value_naming_a_field(document: Any) -> None:
    fuzzing.check_course_document(document)


@FUZZ
@given(fuzzing.mutated_documents())
def test_a_course_with_faults_is_refused_naming_a_field_it_has(document: Any) -> None:
    fuzzing.check_course_document(document)


@FUZZ
@given(fuzzing.entry_sets())
def test_bedside_entries_of_any_value_are_refused_naming_the_code_and_part(
    entries: list[tuple[Any, Any, Any, Any]],
) -> None:
    fuzzing.check_entries(entries)


@FUZZ
@given(fuzzing.form_values())
def test_the_entry_form_places_every_refusal_beside_a_field(
    sample: tuple[dict[str, object], str, str],
) -> None:
    fuzzing.check_entry_form(sample)


@FUZZ
@given(fuzzing.csv_texts())
def test_a_csv_of_anything_is_refused_naming_its_row_and_column(text: str) -> None:
    fuzzing.check_csv(text)


@FUZZ
@given(fuzzing.admission_forms())
def test_the_admission_form_refuses_odd_values_naming_the_field(
    sample: tuple[dict[str, object], list[dict[str, object]]],
) -> None:
    fuzzing.check_admission_form(sample)


def test_every_target_is_tested_here() -> None:
    assert set(fuzzing.TARGETS) == {
        "course_text", "course_bytes", "course_json", "course_mutated",
        "entry_values", "entry_form", "csv_import", "admission_form",
    }  # fmt: skip


# -- defects the fuzzer found ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "key", "field"),
    [
        ("patient", "", 'patient[""]'),
        ("patient", "a.b", 'patient["a.b"]'),
        (None, "x y", '["x y"]'),
    ],
)
def test_a_key_that_is_not_a_plain_name_is_quoted_in_the_field(
    where: str | None, key: str, field: str
) -> None:
    """It was `patient.` (an empty key) or `patient.a.b` (a dotted key): no field at all, or
    one that reads as a path that does not exist."""
    document = CourseBuilder().document()
    (document[where] if where else document)[key] = 1
    with pytest.raises(CourseError) as refused:
        parse_course_text(json.dumps(document))
    assert refused.value.field == field


def test_an_unreadable_date_in_the_toxicity_table_is_refused_naming_its_row() -> None:
    """It raised ValueError ("day is out of range for month") and the page crashed."""
    values: dict[str, object] = {
        "patient.id": "MRN-1",
        "patient.weight_kg": 70.0,
        "admission.admitted_at": datetime(2026, 11, 20, 6, tzinfo=UTC),
    }
    table: list[dict[str, object]] = [{}, {"agent": "nivolumab", "onset": "2025-02-30"}]
    with pytest.raises(Refused) as refused:
        admission_form.new_admission(values, table)
    assert refused.value.errors == {
        "prior_toxicities[0].onset": "'2025-02-30' is not a date (YYYY-MM-DD)"
    }
    field, label = admission_form.field_of(
        "prior_toxicities[0].onset", admission_form.toxicity_rows(table)
    )
    assert (field, label) == ("prior_toxicities", "Prior toxicity row 2, onset")


def test_an_unreadable_birth_date_is_refused_naming_it() -> None:
    values: dict[str, object] = {
        "patient.id": "MRN-1",
        "patient.weight_kg": 70.0,
        "admission.admitted_at": datetime(2026, 11, 20, 6, tzinfo=UTC),
        "patient.birth_date": "1970-13-40",
    }
    with pytest.raises(Refused) as refused:
        admission_form.new_admission(values, [])
    assert refused.value.field == "patient.birth_date"


def test_a_csv_with_a_carriage_return_inside_a_row_is_read_or_refused_never_a_crash() -> None:
    """It raised `_csv.Error: new-line character seen in unquoted field`."""
    text = "time,code,value,unit\n2026-11-20T06:00:00Z,8867-4,9\r0,/min\n"
    with pytest.raises(Refused) as refused:
        parse_observation_csv(text)
    assert set(refused.value.errors) == {"row 2.unit", "row 3.code"}


def test_old_mac_line_endings_are_rows() -> None:
    rows = parse_observation_csv("time,code,value,unit\r2026-11-20T06:00:00Z,8867-4,90,/min\r")
    assert [row.observation.value for row in rows] == [90]


def test_a_csv_the_csv_module_cannot_read_is_refused_naming_the_file() -> None:
    text = 'time,code,value,unit\n"' + "x" * 200_000 + '",8867-4,90,/min\n'
    with pytest.raises(Refused) as refused:
        parse_observation_csv(text)
    assert refused.value.field == "file"
