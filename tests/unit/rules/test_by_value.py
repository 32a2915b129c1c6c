"""Checks declared `by_value` are judged once per value per course (CourseIndex.criterion).

A value that met nothing for one reading stands for every reading of that value in the course,
so a `by_value` check must depend on the value alone (and on the course and rules). These tests
hold the declaration to that, and hold the reuse to giving, reading by reading, exactly what the
check gives when asked afresh.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from il2_tox.course import Course, Observation
from il2_tox.rules import capillary_leak, criteria, dose_advice, organs
from il2_tox.rules.base import _BY_VALUE, Check, CourseIndex, Criterion
from il2_tox.rules.config import load_rules
from il2_tox.simulate import SCENARIOS, simulate_course
from tests.strategies import courses

START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)

# Every (concept, check) that dose advice or the organ flags ask CourseIndex.criterion about.
ASKED: tuple[tuple[str, Check], ...] = (
    *dose_advice.VITAL_CHECKS,
    *dose_advice.LAB_CHECKS,
    (dose_advice.O2_FLOW, criteria.oxygen_flow),
    (dose_advice.FIO2, criteria.oxygen_fio2),
    *((concept, check) for organ in organs.ORGANS for concept, check in organ.checks),
)


def _answers(index: CourseIndex) -> list[tuple[str, int, Check, Criterion | None]]:
    return [
        (concept, position, check, index.criterion(check, obs))
        for concept, check in ASKED
        for position, obs in enumerate(index.get(concept))
    ]


def _fresh(course: Course, check: Check, position: int, concept: str) -> Criterion | None:
    index = CourseIndex(course, load_rules())  # nothing judged before
    return check(index, index.get(concept)[position])


def test_the_declared_checks_are_those_of_a_value_alone() -> None:
    assert set(_BY_VALUE) == {
        criteria.heart_rate,
        criteria.heart_rate_hold,
        criteria.sbp,
        criteria.phenylephrine,
        criteria.spo2,
        criteria.oxygen_flow,
        criteria.oxygen_fio2,
        criteria.rales,
        criteria.consciousness,
        criteria.cognition,
        criteria.rhythm,
        criteria.skin,
        criteria.creatinine,
        criteria.platelets,
        criteria.bilirubin,
        criteria.weight_gain,
    }


def test_troponin_is_not_judged_by_value_its_limit_is_the_labs() -> None:
    assert criteria.troponin not in _BY_VALUE


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_reading_of_a_simulated_course_gets_what_the_check_gives_afresh(
    scenario: str,
) -> None:
    course = simulate_course(
        replace(SCENARIOS[scenario], cycles=2), seed=3, start=START, patient_id="MRN-1"
    )
    index = CourseIndex(course, load_rules())
    answers = _answers(index)
    assert answers
    for concept, position, check, answer in answers:
        assert answer == _fresh(course, check, position, concept)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(course=courses(max_observations=20))
def test_every_reading_of_a_generated_course_gets_what_the_check_gives_afresh(
    course: Course,
) -> None:
    index = CourseIndex(course, load_rules())
    for concept, position, check, answer in _answers(index):
        assert answer == _fresh(course, check, position, concept)


def _other_reading(obs: Observation) -> Observation:
    """Return a reading of the same value that differs in everything else a check could read."""
    return replace(
        obs,
        time=obs.time + timedelta(hours=5),
        entered_value=None,
        entered_unit=None,
        ref_low=None if obs.ref_low is not None else 1.0,
        ref_high=None if obs.ref_high is not None else 2.0,
        period_h=None if obs.period_h is not None else 4.0,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(course=courses(max_observations=20), data=st.data())
def test_a_by_value_check_gives_the_same_answer_for_the_same_value(
    course: Course, data: st.DataObject
) -> None:
    rules = load_rules()
    for concept, check in ASKED:
        if check not in _BY_VALUE:
            continue
        for obs in CourseIndex(course, rules).get(concept):
            other = _other_reading(obs)
            if isinstance(obs.value, float) and data.draw(st.booleans()):
                other = replace(other, value=int(obs.value)) if obs.value.is_integer() else other
            first = check(CourseIndex(course, rules), obs)
            second = check(CourseIndex(course, rules), other)
            assert (first is None) == (second is None)
            if first is not None and second is not None:
                assert (first.code, first.kind, first.message) == (
                    second.code,
                    second.kind,
                    second.message,
                )


def test_clear_values_holds_the_values_found_to_meet_nothing_and_only_those() -> None:
    course = simulate_course(SCENARIOS["uneventful"], seed=1, start=START, patient_id="MRN-1")
    index = CourseIndex(course, load_rules())
    rates = index.get(dose_advice.HR)
    for obs in rates:
        index.criterion(criteria.heart_rate_hold, obs)
    clear = index.clear_values(criteria.heart_rate_hold)
    assert clear == {o.value for o in rates if criteria.heart_rate_hold(index, o) is None}
    assert not index.clear_values(criteria.troponin)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(course=courses(max_observations=20))
def test_a_capillary_leak_sign_but_urine_reads_the_same_for_the_same_value(
    course: Course,
) -> None:
    # _abnormal_readings reads each value once per sign item, except a urine record's.
    index = CourseIndex(course, load_rules())
    judge = capillary_leak._Judge(index)
    for concept in capillary_leak.SIGN_OF:
        if concept == capillary_leak.URINE:
            continue
        for obs in index.get(concept):
            assert judge.read(concept, obs) == judge.read(concept, _other_reading(obs))


def test_a_urine_record_reads_by_its_period_too() -> None:
    index = CourseIndex(
        simulate_course(SCENARIOS["capillary_leak"], seed=1, start=START, patient_id="MRN-1"),
        load_rules(),
    )
    judge = capillary_leak._Judge(index)
    record = index.get(capillary_leak.URINE)[0]
    short, long = (
        replace(record, value=100.0, period_h=2.0),
        replace(record, value=100.0, period_h=8.0),
    )
    assert judge.read(capillary_leak.URINE, short) != judge.read(capillary_leak.URINE, long)
