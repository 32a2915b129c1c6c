"""Course -> FHIR R4 Bundle -> course gives back the same course: values, units, times, texts."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings

from il2_tox.course import Course, course_to_dict
from il2_tox.fhir import bundle_to_course, course_to_bundle, validate_bundle
from tests.strategies import courses


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(courses())
def test_a_course_survives_a_fhir_round_trip_unchanged(course: Course) -> None:
    bundle = course_to_bundle(course)
    validate_bundle(bundle)
    sent = json.loads(json.dumps(bundle))  # as a file carries it

    back = bundle_to_course(sent).course

    assert back == course
    # The document form also keeps what == cannot see: an int stays an int, as entered.
    assert json.dumps(course_to_dict(back)) == json.dumps(course_to_dict(course))


@settings(max_examples=30, deadline=None)
@given(courses())
def test_a_bundle_survives_a_second_round_trip_byte_for_byte(course: Course) -> None:
    bundle = course_to_bundle(course)
    assert course_to_bundle(bundle_to_course(json.loads(json.dumps(bundle))).course) == bundle
