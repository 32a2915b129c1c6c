"""The handoff sheet's content: the illness-severity rule at its boundaries, the patient summary
and the open to-dos (il2_tox.sheets.handoff)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from il2_tox.assess import Assessment, assess
from il2_tox.course import Course
from il2_tox.rules.base import CREATININE, HR, SBP, WEIGHT, DoseAdvice, Flag
from il2_tox.rules.config import DEFAULT_RULES_PATH, Rules, load_rules
from il2_tox.services.ward import summarize, vitals_overdue_after
from il2_tox.sheets.handoff import (
    MONITORED,
    STABLE,
    UNSTABLE,
    WATCHER,
    FlagAcknowledged,
    dose_late_after,
    due_items,
    illness_severity,
    latest_vitals,
    open_todos,
    patient_handoff,
    vitals_line,
)
from il2_tox.units import DBP, O2_FLOW, RR, SPO2, TEMP
from tests.builders import ADMITTED, CourseBuilder

T0 = ADMITTED + timedelta(hours=10)
SHIPPED_TEXT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
SHIPPED = load_rules(DEFAULT_RULES_PATH)
VITALS_OVERDUE_AFTER = vitals_overdue_after(SHIPPED)
DOSE_LATE_AFTER = dose_late_after(SHIPPED)


def site_rules(tmp_path: Path, *changes: tuple[str, str]) -> Rules:
    """Return the shipped rules with each (old, new) text replaced once, as a site file."""
    text = SHIPPED_TEXT
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "site-rules.toml"
    path.write_text(text, encoding="utf-8")
    return load_rules(path)


def flag(
    severity: str, *, active: bool = True, code: str = "x.test", category: str = "renal"
) -> Flag:
    return Flag(
        category=category,
        severity=severity,
        code=code,
        time=T0,
        cycle=1,
        after_dose=1,
        message=f"a {severity} finding",
        evidence=(),
        source="test",
        active=active,
    )


# ---------------------------------------------------------------------------------------------
# Illness severity


@pytest.mark.parametrize(
    ("advice", "severities", "level"),
    [
        ("hold", [], UNSTABLE),
        ("give", ["critical"], UNSTABLE),
        (None, ["critical"], UNSTABLE),
        ("caution", ["critical"], UNSTABLE),
        ("caution", [], WATCHER),
        ("give", ["warning"], WATCHER),
        (None, ["warning", "info"], WATCHER),
        ("give", [], STABLE),
        ("give", ["info", "info"], STABLE),
        (None, [], STABLE),
    ],
)
def test_it_grades_severity_from_the_advice_and_the_active_flags(
    advice: str | None, severities: list[str], level: str
) -> None:
    assert illness_severity(advice, [flag(s) for s in severities]).level == level


def test_a_flag_no_longer_present_does_not_raise_the_severity() -> None:
    assert illness_severity("give", [flag("critical", active=False)]).level == STABLE
    assert illness_severity("give", [flag("warning", active=False)]).level == STABLE


def test_hold_with_a_critical_flag_says_both_reasons() -> None:
    severity = illness_severity("hold", [flag("critical"), flag("critical")])
    assert severity.reasons == ("next dose: HOLD advised", "2 active critical flags")


def test_caution_with_one_warning_says_both_reasons() -> None:
    severity = illness_severity("caution", [flag("warning")])
    assert severity.reasons == ("next dose: CAUTION advised", "1 active warning flag")


def test_a_real_hold_advice_makes_the_patient_unstable() -> None:
    course = (
        CourseBuilder(usual_sbp=118)
        .dose(1, 1, at=2)
        .obs(SBP, 78, "mm[Hg]", at=9)
        .obs(HR, 90, "/min", at=9)
        .build()
    )
    assessment = assess(course)
    assert assessment.next_dose is not None and assessment.next_dose.advice == "hold"
    now = ADMITTED + timedelta(hours=9, minutes=30)
    sheet = patient_handoff(course, assessment, summarize(course, assessment, now), {}, now)
    assert sheet.severity.level == UNSTABLE
    assert sheet.next_dose == assessment.next_dose


# ---------------------------------------------------------------------------------------------
# Patient summary


def test_the_summary_lists_held_doses_with_their_reasons_in_time_order() -> None:
    course = (
        CourseBuilder()
        .dose(1, 1, at=2)
        .dose(1, 2, at=10, status="held", reason="SBP 82 on phenylephrine")
        .dose(1, 3, at=18, status="not_given", reason="patient refused")
        .dose(1, 4, at=26)
        .obs(SBP, 110, "mm[Hg]", at=25)
        .build()
    )
    assessment = assess(course)
    now = ADMITTED + timedelta(hours=27)
    sheet = patient_handoff(course, assessment, summarize(course, assessment, now), {}, now)
    assert [(d.number, d.status, d.reason) for d in sheet.held] == [
        (2, "held", "SBP 82 on phenylephrine"),
        (3, "not_given", "patient refused"),
    ]
    assert sheet.row.cycle == 1
    assert sheet.row.doses_given == 2
    assert sheet.row.next_dose_number == 5


def test_the_flags_are_the_active_ones_most_severe_first() -> None:
    course = CourseBuilder().build()
    flags = (flag("info", code="a"), flag("critical", code="b"), flag("warning", code="c"))
    flags += (flag("critical", code="gone", active=False),)
    assessment = Assessment("TEST-001", T0, flags, (), (), ())
    sheet = patient_handoff(course, assessment, summarize(course, assessment, T0), {}, T0)
    assert [f.code for f in sheet.flags] == ["b", "c", "a"]


# ---------------------------------------------------------------------------------------------
# Open to-dos


def _next(time: datetime, number: int = 2) -> DoseAdvice:
    return DoseAdvice(cycle=1, number=number, time=time, advice="give", criteria=())


def _assessment(next_dose: DoseAdvice | None = None, flags: tuple[Flag, ...] = ()) -> Assessment:
    return Assessment("TEST-001", T0, flags, (next_dose,) if next_dose else (), (), ())


def _measured(at: datetime, *codes: str) -> Course:
    """A course with dose 1 given and each code measured at `at`."""
    builder = CourseBuilder().dose(1, 1, at=0.5)
    values = {HR: (80, "/min"), SBP: (110, "mm[Hg]"), CREATININE: (1.0, "mg/dL")}
    values[WEIGHT] = (72.0, "kg")
    for code in codes:
        value, unit = values.get(code, (20, "U/L"))
        if code == "777-3":
            value, unit = 200, "10*3/uL"
        if code == "1975-2":
            value, unit = 0.8, "mg/dL"
        builder.obs(code, value, unit, at=at.isoformat())
    return builder.build()


ALL_DUE = tuple(code for item in MONITORED for code in item.codes)


def test_vitals_are_due_only_after_four_hours_exactly() -> None:
    course = _measured(T0, *ALL_DUE)
    on_time = open_todos(
        course, _assessment(_next(T0 + timedelta(hours=8))), {}, T0 + VITALS_OVERDUE_AFTER
    )
    late = open_todos(
        course,
        _assessment(_next(T0 + timedelta(hours=8))),
        {},
        T0 + VITALS_OVERDUE_AFTER + timedelta(minutes=1),
    )
    assert [t.key for t in on_time] == []
    assert [t.key for t in late] == ["vitals"]
    assert "last 4 h 01 ago" in late[0].text


def test_creatinine_is_due_twice_daily_while_dosing() -> None:
    course = _measured(T0, *ALL_DUE)
    nxt = _assessment(_next(T0 + timedelta(hours=20)))
    at_12h = open_todos(course, nxt, {}, T0 + timedelta(hours=12))
    after_12h = open_todos(course, nxt, {}, T0 + timedelta(hours=12, minutes=1))
    assert "creatinine" not in [t.key for t in at_12h]
    assert "creatinine" in [t.key for t in after_12h]


def test_daily_labs_and_weight_are_due_after_24_hours() -> None:
    course = _measured(T0, *ALL_DUE)
    nxt = _assessment(_next(T0 + timedelta(hours=30)))
    keys = [t.key for t in open_todos(course, nxt, {}, T0 + timedelta(hours=24))]
    assert not {"alt", "ast", "bilirubin", "platelets", "weight"} & set(keys)
    keys = [t.key for t in open_todos(course, nxt, {}, T0 + timedelta(hours=24, seconds=1))]
    assert {"alt", "ast", "bilirubin", "platelets", "weight"} <= set(keys)


def test_an_item_never_measured_is_due() -> None:
    course = _measured(T0, HR, SBP)
    todos = open_todos(course, _assessment(_next(T0 + timedelta(hours=8))), {}, T0)
    creatinine = next(t for t in todos if t.key == "creatinine")
    assert creatinine.text == "creatinine: none recorded (due every 12 h)"


def test_labs_and_weight_are_not_due_once_the_cycle_has_no_next_dose() -> None:
    course = _measured(T0, HR, SBP)
    todos = open_todos(course, _assessment(None), {}, T0 + timedelta(hours=1))
    assert [t.key for t in todos] == []
    todos = open_todos(course, _assessment(None), {}, T0 + timedelta(hours=5))
    assert [t.key for t in todos] == ["vitals"]  # vitals stay due after the last dose


def test_a_next_dose_is_a_todo_only_more_than_an_hour_past_its_time() -> None:
    course = _measured(T0, *ALL_DUE)
    due = T0 + timedelta(minutes=30)
    at_hour = open_todos(course, _assessment(_next(due)), {}, due + DOSE_LATE_AFTER)
    past = open_todos(
        course, _assessment(_next(due)), {}, due + DOSE_LATE_AFTER + timedelta(minutes=1)
    )
    assert [t.kind for t in at_hour] == []
    assert [t.key for t in past] == ["C1 #2"]
    assert "record it given or held" in past[0].text


def test_the_first_dose_of_a_cycle_is_never_late() -> None:
    course = _measured(T0, *ALL_DUE)
    first = _assessment(_next(T0 - timedelta(hours=5), number=1))
    assert [t.kind for t in open_todos(course, first, {}, T0)] == []


def test_unacknowledged_warning_and_critical_flags_are_todos_info_is_not() -> None:
    course = _measured(T0, *ALL_DUE)
    flags = (
        flag("critical", code="c.one"),
        flag("warning", code="w.one"),
        flag("info", code="i.one"),
        flag("critical", code="c.gone", active=False),
    )
    todos = open_todos(course, _assessment(_next(T0 + timedelta(hours=8)), flags), {}, T0)
    assert [(t.kind, t.key) for t in todos] == [("flag", "c.one"), ("flag", "w.one")]
    assert todos[0].text == "critical flag c.one: not acknowledged"


def test_an_acknowledgement_in_force_closes_the_flag_todo() -> None:
    course = _measured(T0, *ALL_DUE)
    flags = (flag("critical", code="c.one"), flag("warning", code="w.one"))
    seen = {("c.one", T0): FlagAcknowledged("Dr Who", T0, "reviewed")}
    todos = open_todos(course, _assessment(_next(T0 + timedelta(hours=8)), flags), seen, T0)
    assert [t.key for t in todos] == ["w.one"]


def test_an_eligibility_flag_of_any_severity_is_a_todo_before_the_first_dose() -> None:
    before = CourseBuilder().obs(HR, 80, "/min", at=1).obs(SBP, 110, "mm[Hg]", at=1).build()
    info = flag("info", code="eligibility.steroids", category="eligibility")
    todos = open_todos(before, _assessment(None, (info,)), {}, ADMITTED + timedelta(hours=2))
    assert [t.key for t in todos] == ["eligibility.steroids"]
    assert "before dose 1" in todos[0].text
    after = replace(before, doses=_measured(T0).doses)
    todos = open_todos(after, _assessment(None, (info,)), {}, ADMITTED + timedelta(hours=2))
    assert [t.key for t in todos] == []


# ---------------------------------------------------------------------------------------------
# Properties of the severity rule

ADVICES = st.sampled_from([None, "give", "caution", "hold"])
FLAGS = st.lists(
    st.builds(
        lambda severity, active: flag(severity, active=active),
        st.sampled_from(["info", "warning", "critical"]),
        st.booleans(),
    ),
    max_size=6,
)
LEVEL_RANK = {STABLE: 0, WATCHER: 1, UNSTABLE: 2}


@given(ADVICES, FLAGS, st.sampled_from(["info", "warning", "critical"]))
def test_adding_an_active_flag_never_lowers_the_severity(
    advice: str | None, flags: list[Flag], severity: str
) -> None:
    before = illness_severity(advice, flags).level
    after = illness_severity(advice, [*flags, flag(severity)]).level
    assert LEVEL_RANK[after] >= LEVEL_RANK[before]


@given(ADVICES, FLAGS)
def test_the_level_is_exactly_the_rule(advice: str | None, flags: list[Flag]) -> None:
    active = {f.severity for f in flags if f.active}
    expected = (
        UNSTABLE
        if advice == "hold" or "critical" in active
        else WATCHER
        if advice == "caution" or "warning" in active
        else STABLE
    )
    severity = illness_severity(advice, flags)
    assert severity.level == expected
    assert severity.reasons  # always says why


# ---------------------------------------------------------------------------------------------
# The site rules file sets the intervals and the severity rule


def test_the_shipped_schedule_is_the_reference_schedule() -> None:
    schedule = {item.key: (item.every, item.while_dosing) for item in due_items(SHIPPED)}
    assert schedule == {
        "vitals": (timedelta(hours=4), False),
        "creatinine": (timedelta(hours=12), True),
        "alt": (timedelta(hours=24), True),
        "ast": (timedelta(hours=24), True),
        "bilirubin": (timedelta(hours=24), True),
        "platelets": (timedelta(hours=24), True),
        "weight": (timedelta(hours=24), True),
    }
    assert dose_late_after(SHIPPED) == timedelta(hours=1)
    assert next(i for i in due_items(SHIPPED) if i.key == "creatinine").source == (
        "JITC 2024 Table 2"
    )


def test_a_site_interval_decides_when_an_item_is_due(tmp_path: Path) -> None:
    rules = site_rules(
        tmp_path,
        (
            'every_h = 12\nwhile_dosing = true\nunit = "h"\nsource = ["TIL-T2"]',
            'every_h = 6\nwhile_dosing = true\nunit = "h"\nsource = ["TIL-T2"]',
        ),
    )
    course = _measured(T0, *ALL_DUE)
    nxt = _assessment(_next(T0 + timedelta(hours=20)))
    at_6h = open_todos(course, nxt, {}, T0 + timedelta(hours=6), rules)
    after_6h = open_todos(course, nxt, {}, T0 + timedelta(hours=6, seconds=1), rules)
    assert "creatinine" not in [t.key for t in at_6h]
    creatinine = next(t for t in after_6h if t.key == "creatinine")
    assert creatinine.text == "creatinine: last 6 h 00 ago (due every 6 h)"


def test_a_site_vitals_interval_is_the_ward_overdue_interval_too(tmp_path: Path) -> None:
    rules = site_rules(tmp_path, ("every_h = 4\n", "every_h = 2\n"))
    course = _measured(T0, *ALL_DUE)
    assessment = _assessment(_next(T0 + timedelta(hours=8)))
    at_2h, after_2h = T0 + timedelta(hours=2), T0 + timedelta(hours=2, seconds=1)
    assert [t.key for t in open_todos(course, assessment, {}, at_2h, rules)] == []
    assert [t.key for t in open_todos(course, assessment, {}, after_2h, rules)] == ["vitals"]
    assert not summarize(course, assessment, at_2h, rules).overdue
    assert summarize(course, assessment, after_2h, rules).overdue


def test_a_site_may_keep_labs_due_after_the_last_dose(tmp_path: Path) -> None:
    rules = site_rules(
        tmp_path,
        (
            'every_h = 12\nwhile_dosing = true\nunit = "h"\nsource = ["TIL-T2"]',
            'every_h = 12\nwhile_dosing = false\nunit = "h"\nsource = ["TIL-T2"]',
        ),
    )
    course = _measured(T0, HR, SBP)
    todos = open_todos(course, _assessment(None), {}, T0 + timedelta(hours=1), rules)
    assert [t.key for t in todos] == ["creatinine"]


def test_a_site_late_dose_delay_decides_when_the_dose_is_a_todo(tmp_path: Path) -> None:
    rules = site_rules(tmp_path, ("after_h = 1\n", "after_h = 0.5\n"))
    course = _measured(T0, *ALL_DUE)
    due = T0 + timedelta(minutes=30)
    at = open_todos(course, _assessment(_next(due)), {}, due + timedelta(minutes=30), rules)
    past = open_todos(
        course, _assessment(_next(due)), {}, due + timedelta(minutes=30, seconds=1), rules
    )
    assert [t.kind for t in at] == []
    assert [t.key for t in past] == ["C1 #2"]


def test_a_site_may_make_a_warning_flag_unstable(tmp_path: Path) -> None:
    rules = site_rules(tmp_path, ('unstable_flags = ["critical"]', 'unstable_flags = ["warning"]'))
    severity = illness_severity("give", [flag("warning")], rules)
    assert severity == illness_severity("give", [flag("warning"), flag("info")], rules)
    assert (severity.level, severity.reasons) == (UNSTABLE, ("1 active warning flag",))
    assert illness_severity("give", [flag("warning", active=False)], rules).level == STABLE


def test_a_site_may_make_caution_advice_unstable(tmp_path: Path) -> None:
    rules = site_rules(
        tmp_path,
        ('unstable_advice = ["hold"]', 'unstable_advice = ["hold", "caution"]'),
        ('watcher_advice = ["caution"]', "watcher_advice = []"),
    )
    severity = illness_severity("caution", [], rules)
    assert (severity.level, severity.reasons) == (UNSTABLE, ("next dose: CAUTION advised",))
    assert illness_severity("give", [flag("warning")], rules).level == WATCHER


def test_a_site_without_watcher_criteria_has_no_watcher_level(tmp_path: Path) -> None:
    rules = site_rules(
        tmp_path,
        ('watcher_advice = ["caution"]', "watcher_advice = []"),
        ('watcher_flags = ["warning"]', "watcher_flags = []"),
    )
    assert illness_severity("caution", [flag("warning")], rules).level == STABLE
    assert illness_severity("hold", [flag("warning")], rules).level == UNSTABLE


def test_the_handoff_uses_the_rules_it_is_given(tmp_path: Path) -> None:
    rules = site_rules(tmp_path, ('unstable_flags = ["critical"]', 'unstable_flags = ["warning"]'))
    course = _measured(T0, *ALL_DUE)
    assessment = _assessment(_next(T0 + timedelta(hours=8)), (flag("warning"),))
    row = summarize(course, assessment, T0, rules)
    assert patient_handoff(course, assessment, row, {}, T0, rules).severity.level == UNSTABLE
    assert patient_handoff(course, assessment, row, {}, T0, SHIPPED).severity.level == WATCHER


# ---------------------------------------------------------------------------------------------
# The latest vitals in the summary


def _hh_mm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


def test_the_latest_vitals_are_the_newest_reading_of_each_in_handover_order() -> None:
    course = (
        CourseBuilder()
        .obs(HR, 90, "/min", at=1)
        .obs(HR, 104, "/min", at=5)
        .obs(SBP, 88, "mm[Hg]", at=5)
        .obs(DBP, 52, "mm[Hg]", at=5)
        .obs(RR, 18, "/min", at=5)
        .obs(SPO2, 95, "%", at=5)
        .obs(O2_FLOW, 2, "L/min", at=5)
        .obs(TEMP, 101.3, "[degF]", at=5)  # 38.5 °C
        .build()
    )
    readings = latest_vitals(course)
    assert [r.concept for r in readings] == [HR, SBP, DBP, RR, SPO2, O2_FLOW, TEMP]
    assert vitals_line(readings, _hh_mm) == (
        "HR 104 /min · BP 88/52 mmHg · RR 18 /min · SpO2 95 % · O2 flow 2 L/min · Temp 38.5 °C"
    )


def test_an_older_reading_carries_its_own_time_and_a_lone_sbp_is_named() -> None:
    course = (
        CourseBuilder()
        .obs(TEMP, 37.0, "Cel", at=1)  # 07:00
        .obs(DBP, 50, "mm[Hg]", at=1)
        .obs(SBP, 92, "mm[Hg]", at=4)  # 10:00, the newest
        .build()
    )
    assert vitals_line(latest_vitals(course), _hh_mm) == (
        "SBP 92 mmHg · DBP 50 mmHg at 07:00 · Temp 37.0 °C at 07:00"
    )


def test_no_vitals_read_as_none_recorded() -> None:
    course = CourseBuilder().obs(WEIGHT, 70, "kg", at=1).build()
    assert latest_vitals(course) == ()
    assert vitals_line((), _hh_mm) == "none recorded"
