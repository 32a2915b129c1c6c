"""The simulator and the demo ward: reproducible, valid course files, believable physiology."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from il2_tox import simulate
from il2_tox.course import Course, Observation, course_to_dict, parse_course
from il2_tox.simulate import SCENARIOS, Scenario, demo_ward, simulate_course

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
TARGET_SBP = {"low": 80, "mid": 85, "high": 90}

_WARD: dict[str, Course] = {}


def ward() -> dict[str, Course]:
    """Return the demo ward at NOW by patient id (built once: the tests only read it)."""
    if not _WARD:
        _WARD.update({course.patient.id: course for course in demo_ward(NOW)})
    return _WARD


def series(course: Course, code: str) -> list[Observation]:
    return [o for o in course.observations if o.code == code]


def values(course: Course, code: str) -> list[float]:
    return [float(o.value) for o in series(course, code)]


def latest(course: Course, code: str) -> Observation:
    return series(course, code)[-1]


def target_sbp(course: Course) -> int:
    usual = course.admission.usual_sbp_mmhg
    assert usual is not None
    return 80 if usual < 100 else 85 if usual <= 120 else 90


def one_cycle(seed: int = 1, **knobs: object) -> Course:
    scenario = replace(SCENARIOS["uneventful"], **knobs)  # type: ignore[arg-type]
    return simulate_course(scenario, seed=seed, start=START, patient_id="SIM-1")


def r_ratio(alt: Observation, alp: Observation) -> float:
    assert alt.ref_high is not None and alp.ref_high is not None
    return (float(alt.value) / alt.ref_high) / (float(alp.value) / alp.ref_high)


# -- reproducible and valid -------------------------------------------------------------------


def test_it_gives_the_same_course_for_the_same_seed() -> None:
    first = simulate_course("two_cycles", seed=7, start=START, patient_id="SIM-1")
    again = simulate_course("two_cycles", seed=7, start=START, patient_id="SIM-1")
    assert first == again


def test_it_gives_different_courses_for_different_seeds() -> None:
    first = simulate_course("uneventful", seed=1, start=START, patient_id="SIM-1")
    other = simulate_course("uneventful", seed=2, start=START, patient_id="SIM-1")
    assert values(first, simulate.HR) != values(other, simulate.HR)


def test_it_leaves_the_global_random_state_alone() -> None:
    import random

    random.seed(99)
    expected = random.random()
    random.seed(99)
    simulate_course("uneventful", seed=1, start=START, patient_id="SIM-1")
    assert random.random() == expected


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_writes_courses_that_round_trip_through_the_course_format(name: str, seed: int) -> None:
    course = simulate_course(name, seed=seed, start=START, patient_id="SIM-1")
    assert parse_course(course_to_dict(course)) == course


@pytest.mark.parametrize("patient_id", [f"DEMO-{n:03d}" for n in range(1, 11)])
def test_it_writes_demo_courses_that_round_trip_through_the_course_format(
    patient_id: str,
) -> None:
    course = ward()[patient_id]
    assert parse_course(course_to_dict(course)) == course


def test_it_writes_aware_utc_times_to_the_minute_in_order() -> None:
    course = simulate_course("two_cycles", seed=3, start=START, patient_id="SIM-1")
    times = [o.time for o in course.observations]
    dose_times = [d.time for d in course.doses]
    assert times == sorted(times)
    assert dose_times == sorted(dose_times)
    for moment in [*times, *dose_times, course.admission.admitted_at]:
        assert moment.utcoffset() == timedelta(0)
        assert moment.second == 0 and moment.microsecond == 0


def test_it_refuses_a_start_without_an_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate_course("uneventful", seed=1, start=datetime(2026, 11, 2, 6), patient_id="X")


def test_it_refuses_an_unknown_liver_pattern() -> None:
    with pytest.raises(ValueError, match="liver"):
        Scenario(liver="steatotic")


def test_it_cuts_the_chart_at_until() -> None:
    until = START + timedelta(hours=30)
    course = simulate_course("uneventful", seed=1, start=START, patient_id="SIM-1", until=until)
    full = simulate_course("uneventful", seed=1, start=START, patient_id="SIM-1")
    assert max(o.time for o in course.observations) <= until
    assert course.observations == tuple(o for o in full.observations if o.time <= until)


# -- the shape of a course ----------------------------------------------------------------------


def test_it_gives_a_full_two_cycle_course_28_doses_and_about_1500_observations() -> None:
    course = simulate_course("two_cycles", seed=5, start=START, patient_id="SIM-1")
    assert len(course.doses) == 28
    assert 1200 <= len(course.observations) <= 1800


def test_it_gives_doses_every_8_hours() -> None:
    course = one_cycle()
    gaps = [b.time - a.time for a, b in zip(course.doses, course.doses[1:], strict=False)]
    assert all(
        timedelta(hours=7, minutes=45) <= gap <= timedelta(hours=8, minutes=15) for gap in gaps
    )


def test_it_charts_vitals_30_minutes_before_each_dose() -> None:
    course = one_cycle()
    hr_times = [o.time for o in series(course, simulate.HR)]
    for dose in course.doses:
        assert any(
            timedelta(minutes=15) <= dose.time - t <= timedelta(minutes=45) for t in hr_times
        )


def test_it_charts_urine_with_its_collection_period() -> None:
    course = one_cycle()
    assert {o.period_h for o in series(course, simulate.URINE)} <= {4.0, 8.0}


# -- physiology ---------------------------------------------------------------------------------


def test_it_raises_weight_3_to_12_percent_over_a_cycle() -> None:
    course = one_cycle()
    gain = max(values(course, simulate.WEIGHT)) / course.patient.weight_kg - 1
    assert 0.03 <= gain <= 0.12


def test_it_lowers_albumin_over_a_cycle() -> None:
    albumin = values(one_cycle(), simulate.ALBUMIN)
    assert albumin[0] >= 3.6
    assert min(albumin) < 3.0
    assert min(albumin) <= albumin[0] - 0.8


def test_it_raises_creatinine_over_a_cycle() -> None:
    creatinine = values(one_cycle(), simulate.CREATININE)
    assert max(creatinine) > creatinine[0] * 1.2


def test_it_lowers_platelets_over_a_cycle() -> None:
    platelets = values(one_cycle(), simulate.PLATELETS)
    assert min(platelets) < platelets[0] * 0.8


def test_it_lowers_urine_output_as_the_leak_grows() -> None:
    course = one_cycle(leak=1.0)
    per_8h = [float(o.value) * 8 / (o.period_h or 8) for o in series(course, simulate.URINE)]
    assert min(per_8h) < 0.6 * max(per_8h[:3])


def test_it_brings_fever_2_to_4_hours_after_a_given_dose() -> None:
    course = one_cycle()
    given = [d.time for d in course.doses if d.status == "given"]
    after = [
        float(o.value)
        for o in series(course, simulate.TEMP)
        if any(timedelta(hours=1, minutes=45) <= o.time - t <= timedelta(hours=4) for t in given)
    ]
    before = [
        float(o.value)
        for o in series(course, simulate.TEMP)
        if any(timedelta(0) < t - o.time <= timedelta(minutes=45) for t in given)
    ]
    assert len(after) >= 10
    assert max(after) >= 38.5
    assert sum(after) / len(after) > sum(before) / len(before) + 0.8


def test_it_lets_systolic_pressure_drift_down_across_doses() -> None:
    course = one_cycle(leak=0.8)
    sbp = values(course, simulate.SBP)
    assert sum(sbp[-12:]) / 12 < sum(sbp[:4]) / 4 - 8


def test_it_starts_phenylephrine_only_after_a_systolic_pressure_below_target() -> None:
    course = one_cycle(seed=3, leak=1.4, usual_sbp_mmhg=104)
    rates = series(course, simulate.PHENYLEPHRINE)
    assert rates, "a severe leak needs a pressor"
    below = [o.time for o in series(course, simulate.SBP) if float(o.value) < target_sbp(course)]
    assert below and below[0] < rates[0].time


# -- the demo ward ------------------------------------------------------------------------------


def test_it_fills_the_demo_ward_with_at_least_nine_synthetic_patients_in_7b() -> None:
    courses = list(ward().values())
    assert len(courses) >= 9
    assert {c.admission.ward for c in courses} == {"7B"}
    assert len({c.admission.bed for c in courses}) == len(courses)
    assert all(c.patient.name and c.patient.name.startswith("Demo, ") for c in courses)


def test_it_gives_every_demo_patient_a_history_with_prior_therapies() -> None:
    for course in ward().values():
        assert course.history is not None
        assert course.history.prior_therapies
        assert course.history.systemic_steroids is False


def test_it_keeps_the_demo_ward_live_at_now() -> None:
    for course in ward().values():
        last = max(o.time for o in course.observations)
        assert NOW - timedelta(hours=2) <= last <= NOW, course.patient.id
        if course.doses:
            next_due = course.doses[-1].time + timedelta(hours=8)
            assert NOW - timedelta(minutes=15) <= next_due <= NOW + timedelta(hours=2)


def test_it_gives_the_same_demo_physiology_whatever_now_is() -> None:
    later = demo_ward(NOW + timedelta(days=40, minutes=7))
    for course, moved in zip(ward().values(), later, strict=True):
        assert values(course, simulate.SBP) == values(moved, simulate.SBP)
        assert [d.status for d in course.doses] == [d.status for d in moved.doses]


def test_it_shows_the_just_admitted_patient_with_baseline_data_only() -> None:
    course = ward()["DEMO-001"]
    assert course.doses == ()
    assert series(course, simulate.TSH)
    assert series(course, simulate.WEIGHT)


def test_it_gives_the_uneventful_patient_every_dose() -> None:
    course = ward()["DEMO-002"]
    assert len(course.doses) >= 5
    assert all(d.status == "given" for d in course.doses)


def test_it_shows_the_leak_patient_below_target_on_phenylephrine() -> None:
    course = ward()["DEMO-003"]
    sbp = latest(course, simulate.SBP)
    rate = latest(course, simulate.PHENYLEPHRINE)
    assert float(sbp.value) < target_sbp(course)
    assert rate.time == sbp.time and float(rate.value) > 0


def test_it_shows_the_leak_patient_with_the_other_capillary_leak_signs() -> None:
    course = ward()["DEMO-003"]
    urine = latest(course, simulate.URINE)
    urine_8h = sum(
        float(o.value)
        for o in series(course, simulate.URINE)
        if urine.time - o.time < timedelta(hours=7, minutes=30)
    )
    assert float(latest(course, simulate.WEIGHT).value) >= 1.10 * course.patient.weight_kg
    assert urine_8h < 160
    assert float(latest(course, simulate.ALBUMIN).value) < 3.0
    assert latest(course, simulate.RALES).value in ("third", "half")


def test_it_holds_doses_of_the_leak_patient_with_a_reason_naming_the_criterion() -> None:
    held = [d for d in ward()["DEMO-003"].doses if d.status == "held"]
    assert held and all(d.reason for d in held)
    assert any(d.reason and "SBP" in d.reason and "< target 85" in d.reason for d in held)


def test_it_shows_a_cholestatic_pattern_with_r_of_2_or_less_at_the_peak() -> None:
    course = ward()["DEMO-004"]
    alp = max(series(course, simulate.ALP), key=lambda o: float(o.value))
    alt = next(o for o in series(course, simulate.ALT) if o.time == alp.time)
    bilirubin = next(o for o in series(course, simulate.BILIRUBIN) if o.time == alp.time)
    assert alp.ref_high is not None and bilirubin.ref_high is not None
    assert float(alp.value) > 2 * alp.ref_high
    assert float(bilirubin.value) > 2 * bilirubin.ref_high
    assert r_ratio(alt, alp) <= 2


def test_it_shows_a_hepatocellular_alt_rise_with_r_of_5_or_more() -> None:
    course = ward()["DEMO-005"]
    alt = max(series(course, simulate.ALT), key=lambda o: float(o.value))
    alp = next(o for o in series(course, simulate.ALP) if o.time == alt.time)
    assert alt.ref_high is not None
    assert float(alt.value) > 3 * alt.ref_high
    assert r_ratio(alt, alp) >= 5


def test_it_gives_the_hepatocellular_patient_a_resolved_grade_3_ici_hepatitis() -> None:
    (prior,) = ward()["DEMO-005"].prior_toxicities
    assert (prior.irae, prior.grade, prior.agent) == ("hepatitis", 3, "ipilimumab+nivolumab")
    assert prior.resolved is not None and prior.steroids is True


def test_it_shows_the_colitis_patient_with_a_stool_of_1000_ml_in_8_hours() -> None:
    course = ward()["DEMO-006"]
    assert [t.irae for t in course.prior_toxicities] == ["colitis"]
    assert max(values(course, simulate.STOOL)) >= 1000


def test_it_shows_the_pneumonitis_patient_needing_3_to_5_litres_of_oxygen() -> None:
    course = ward()["DEMO-007"]
    assert [t.irae for t in course.prior_toxicities] == ["pneumonitis"]
    assert 3 <= float(latest(course, simulate.O2_FLOW).value) <= 5
    assert float(latest(course, simulate.SPO2).value) < 92


def test_it_numbers_the_cycle_2_doses_from_1() -> None:
    doses = ward()["DEMO-008"].doses
    cycle_1 = [d.number for d in doses if d.cycle == 1]
    cycle_2 = [d.number for d in doses if d.cycle == 2]
    assert cycle_1 == list(range(1, 15))
    assert cycle_2 and cycle_2 == list(range(1, len(cycle_2) + 1))


def test_it_rests_9_to_10_days_between_cycles() -> None:
    doses = ward()["DEMO-008"].doses
    last_of_1 = max(d.time for d in doses if d.cycle == 1)
    first_of_2 = min(d.time for d in doses if d.cycle == 2)
    assert timedelta(days=9) <= first_of_2 - last_of_1 <= timedelta(days=10, hours=12)


def test_it_reports_the_si_patient_in_si_units() -> None:
    course = ward()["DEMO-009"]
    assert {o.entered_unit for o in series(course, simulate.CREATININE)} == {"umol/L"}
    assert {o.entered_unit for o in series(course, simulate.BILIRUBIN)} == {"umol/L"}
    assert {o.entered_unit for o in series(course, simulate.ALBUMIN)} == {"g/L"}
    assert {o.entered_unit for o in series(course, simulate.PLATELETS)} == {"10*9/L"}
    creatinine = latest(course, simulate.CREATININE)
    assert creatinine.entered_value == pytest.approx(float(creatinine.value) * 88.4, abs=0.5)


def test_it_weighs_one_patient_in_pounds() -> None:
    course = ward()["DEMO-010"]
    assert {o.entered_unit for o in series(course, simulate.WEIGHT)} == {"[lb_av]"}
