"""NEWS2: every band edge of every parameter, Scale 2, sets and completeness, response, flags."""

from __future__ import annotations

import pytest

from il2_tox.rules.base import News2Row
from tests.builders import CourseBuilder
from tests.unit.rules.helpers import codes, news2_flags, news2_rows

RR, SPO2, SPO2_ART, FLOW, FIO2 = "9279-1", "59408-5", "2708-6", "3151-8", "3150-0"
SBP, HR, ACVPU, TEMP = "8480-6", "8867-4", "il2tox:acvpu", "8310-5"

NORMAL_SET: dict[str, tuple[float | str, str | None]] = {
    RR: (16, "/min"),
    SPO2: (97, "%"),
    FLOW: (0, "L/min"),
    SBP: (120, "mm[Hg]"),
    HR: (70, "/min"),
    ACVPU: ("A", None),
    TEMP: (37.0, "Cel"),
}


def full_set(
    builder: CourseBuilder, at: float, **changes: tuple[float | str, str | None]
) -> CourseBuilder:
    """Add a complete set scoring 0, with some parameters replaced (keyed by code)."""
    values = dict(NORMAL_SET)
    values.update(changes)
    for code, (value, unit) in values.items():
        builder.obs(code, value, unit, at=at)
    return builder


def score_with(code: str, value: float | str, unit: str | None, **kw: object) -> News2Row:
    values = dict(NORMAL_SET)
    values[code] = (value, unit)
    builder = CourseBuilder(**kw)  # type: ignore[arg-type]
    for c, (v, u) in values.items():
        builder.obs(c, v, u, at=2)
    rows = news2_rows(builder)
    assert len(rows) == 1 and rows[0].complete
    return rows[0]


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (8, 3),
        (8.5, 1),
        (9, 1),
        (11, 1),
        (11.5, 0),
        (12, 0),
        (20, 0),
        (20.5, 2),
        (21, 2),
        (24, 2),
        (24.5, 3),
        (25, 3),
    ],
)
def test_it_scores_respiration_at_each_band_edge(value: float, score: int) -> None:
    assert score_with(RR, value, "/min").score == score


@pytest.mark.parametrize(
    ("value", "score"),
    [(91, 3), (91.5, 2), (92, 2), (93, 2), (93.5, 1), (94, 1), (95, 1), (95.5, 0), (96, 0)],
)
def test_it_scores_spo2_scale_1_at_each_band_edge(value: float, score: int) -> None:
    assert score_with(SPO2, value, "%").score == score


def test_it_reads_arterial_saturation_2708_6_as_spo2() -> None:
    builder = CourseBuilder()
    full_set(builder, 2)
    builder.obs(SPO2_ART, 91, "%", at=2.5)
    assert news2_rows(builder)[-1].score == 3


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (90, 3),
        (90.5, 2),
        (91, 2),
        (100, 2),
        (100.5, 1),
        (101, 1),
        (110, 1),
        (110.5, 0),
        (111, 0),
        (219, 0),
        (219.5, 3),
        (220, 3),
    ],
)
def test_it_scores_systolic_pressure_at_each_band_edge(value: float, score: int) -> None:
    assert score_with(SBP, value, "mm[Hg]").score == score


@pytest.mark.parametrize(
    ("value", "score"),
    [(40, 3), (41, 1), (50, 1), (51, 0), (90, 0), (91, 1), (110, 1), (111, 2), (130, 2), (131, 3)],
)
def test_it_scores_pulse_at_each_band_edge(value: float, score: int) -> None:
    assert score_with(HR, value, "/min").score == score


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (35.0, 3),
        (35.01, 1),
        (35.1, 1),
        (36.0, 1),
        (36.01, 0),
        (36.1, 0),
        (38.0, 0),
        (38.05, 1),
        (38.1, 1),
        (39.0, 1),
        (39.05, 2),
        (39.1, 2),
    ],
)
def test_it_scores_temperature_at_each_band_edge_contiguously(value: float, score: int) -> None:
    assert score_with(TEMP, value, "Cel").score == score


@pytest.mark.parametrize(
    ("fahrenheit", "score"),
    [
        (95.0, 3),
        (95.02, 1),
        (96.8, 1),
        (96.82, 0),
        (100.4, 0),
        (100.49, 1),
        (102.2, 1),
        (102.21, 2),
    ],
)
def test_it_scores_temperature_given_in_fahrenheit_the_same(fahrenheit: float, score: int) -> None:
    assert score_with(TEMP, fahrenheit, "[degF]").score == score


def test_it_scores_38_05_celsius_as_38_1_to_39_0() -> None:
    row = score_with(TEMP, 38.05, "Cel")
    assert dict(row.parameters)["temperature"] == 1


@pytest.mark.parametrize(("value", "score"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)])
def test_it_scores_consciousness(value: str, score: int) -> None:
    assert score_with(ACVPU, value, None).score == score


@pytest.mark.parametrize(
    ("code", "value", "unit", "score"),
    [(FLOW, 0, "L/min", 0), (FLOW, 0.5, "L/min", 2), (FIO2, 21, "%", 0), (FIO2, 21.5, "%", 2)],
)
def test_it_scores_oxygen_by_flow_or_fio2(code: str, value: float, unit: str, score: int) -> None:
    builder = CourseBuilder()
    for c, (v, u) in NORMAL_SET.items():
        if c != FLOW:
            builder.obs(c, v, u, at=2)
    builder.obs(code, value, unit, at=2)
    row = news2_rows(builder)[0]
    assert row.complete
    assert row.score == score


# -- Scale 2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spo2", "score"),
    [(83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (99, 0)],
)
def test_it_scores_scale_2_on_air(spo2: float, score: int) -> None:
    assert score_with(SPO2, spo2, "%", spo2_target="88-92").score == score


@pytest.mark.parametrize(
    ("spo2", "score"),
    [(87, 1), (88, 0), (92, 0), (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3)],
)
def test_it_scores_scale_2_on_oxygen(spo2: float, score: int) -> None:
    values = dict(NORMAL_SET)
    values[SPO2] = (spo2, "%")
    values[FLOW] = (2, "L/min")
    builder = CourseBuilder(spo2_target="88-92")
    for c, (v, u) in values.items():
        builder.obs(c, v, u, at=2)
    row = news2_rows(builder)[0]
    assert dict(row.parameters)["spo2"] == score
    assert row.score == score + 2


def test_it_uses_scale_1_unless_the_target_is_88_92() -> None:
    assert score_with(SPO2, 90, "%", spo2_target="94-98").score == 3


# -- sets, completeness, response -----------------------------------------------------------


def test_it_gives_one_row_per_time_a_parameter_was_recorded() -> None:
    builder = full_set(CourseBuilder(), 2)
    builder.obs(HR, 120, "/min", at=2.5)
    builder.obs("1742-6", 30, "U/L", at=2.7)  # not a NEWS2 parameter
    assert [r.score for r in news2_rows(builder)] == [0, 2]


def test_it_keeps_values_exactly_60_minutes_old_in_the_set() -> None:
    builder = full_set(CourseBuilder(), 2).obs(HR, 120, "/min", at=3)
    assert news2_rows(builder)[-1].complete


def test_it_drops_values_older_than_60_minutes_from_the_set() -> None:
    builder = full_set(CourseBuilder(), 2).obs(HR, 120, "/min", at=3.01)
    row = news2_rows(builder)[-1]
    assert not row.complete
    assert row.parameters == (("pulse", 2),)


def test_it_scores_an_incomplete_set_on_what_is_there() -> None:
    row = news2_rows(CourseBuilder().obs(RR, 26, "/min", at=1).obs(HR, 135, "/min", at=1))[0]
    assert (row.score, row.complete, row.red_single_parameter) == (6, False, True)


def test_it_counts_fio2_as_the_air_or_oxygen_parameter() -> None:
    builder = CourseBuilder()
    for c, (v, u) in NORMAL_SET.items():
        if c != FLOW:
            builder.obs(c, v, u, at=2)
    builder.obs(FIO2, 21, "%", at=2)
    assert news2_rows(builder)[0].complete


@pytest.mark.parametrize(
    ("changes", "score", "response", "red"),
    [
        ({}, 0, "low", False),
        ({HR: (115, "/min"), SBP: (105, "mm[Hg]"), RR: (21, "/min")}, 5, "medium", False),
        ({HR: (115, "/min"), SBP: (105, "mm[Hg]")}, 3, "low", False),
        ({ACVPU: ("C", None)}, 3, "low-medium", True),
        ({ACVPU: ("C", None), SBP: (105, "mm[Hg]")}, 4, "low-medium", True),
        ({ACVPU: ("C", None), SBP: (95, "mm[Hg]")}, 5, "medium", True),
        ({HR: (115, "/min"), SBP: (95, "mm[Hg]"), TEMP: (39.2, "Cel")}, 6, "medium", False),
        (
            {HR: (115, "/min"), SBP: (95, "mm[Hg]"), TEMP: (39.2, "Cel"), FLOW: (2, "L/min")},
            8,
            "high",
            False,
        ),
        (
            {HR: (115, "/min"), SBP: (95, "mm[Hg]"), RR: (21, "/min"), TEMP: (38.5, "Cel")},
            7,
            "high",
            False,
        ),
    ],
)
def test_it_sets_the_response_band(
    changes: dict[str, tuple[float | str, str | None]], score: int, response: str, red: bool
) -> None:
    builder = CourseBuilder()
    values = dict(NORMAL_SET)
    values.update(changes)
    for c, (v, u) in values.items():
        builder.obs(c, v, u, at=2)
    row = news2_rows(builder)[0]
    assert (row.score, row.response, row.red_single_parameter) == (score, response, red)


# -- early-warning flags ----------------------------------------------------------------------


def il2_course() -> CourseBuilder:
    """A course with doses every 8 h and complete sets every 4 h scoring 5 (IL-2 physiology)."""
    builder = CourseBuilder()
    for n in range(1, 7):
        builder.dose(1, n, at=8 * n - 6)
    for hour in range(4, 44, 4):
        full_set(builder, hour, **{HR: (115, "/min"), SBP: (95, "mm[Hg]"), TEMP: (38.5, "Cel")})
    return builder


def test_it_raises_no_early_warning_for_steady_il2_physiology_in_the_medium_band() -> None:
    rows = news2_rows(il2_course())
    assert {r.response for r in rows} == {"medium"}
    assert news2_flags(il2_course()) == []


def test_it_flags_the_high_band() -> None:
    builder = CourseBuilder()
    full_set(builder, 2, **{HR: (135, "/min"), SBP: (95, "mm[Hg]"), TEMP: (39.5, "Cel")})
    flags = news2_flags(builder)
    assert [(f.code, f.severity, f.category) for f in flags] == [
        ("news2.high", "warning", "early_warning")
    ]


def test_it_flags_a_rise_of_3_over_the_patients_own_median() -> None:
    builder = il2_course()
    full_set(
        builder,
        45,
        **{HR: (115, "/min"), SBP: (95, "mm[Hg]"), TEMP: (38.5, "Cel"), RR: (21, "/min")},
    )  # 5 -> 7 is only +2, but high band
    builder2 = il2_course()
    full_set(
        builder2,
        45,
        **{HR: (135, "/min"), SBP: (95, "mm[Hg]"), TEMP: (38.5, "Cel"), RR: (21, "/min")},
    )  # 5 -> 8: +3 and high
    assert [(f.code, f.severity) for f in news2_flags(builder)] == [("news2.high", "warning")]
    assert sorted((f.code, f.severity) for f in news2_flags(builder2)) == [
        ("news2.high", "critical"),
        ("news2.rise", "warning"),
    ]


def test_it_flags_a_rise_below_the_high_band() -> None:
    builder = CourseBuilder()
    for n in range(1, 7):
        builder.dose(1, n, at=8 * n - 6)
    for hour in range(4, 44, 4):
        full_set(builder, hour, **{HR: (95, "/min")})  # 1
    full_set(builder, 45, **{HR: (115, "/min"), SBP: (105, "mm[Hg]")})  # 3: +2
    full_set(builder, 47, **{HR: (115, "/min"), SBP: (105, "mm[Hg]"), RR: (9, "/min")})  # 4: +3
    flags = news2_flags(builder)
    assert codes(flags) == ["news2.rise"]
    assert flags[0].time == news2_rows(builder)[-1].time


def test_it_measures_no_rise_against_pre_treatment_sets() -> None:
    builder = CourseBuilder()
    full_set(builder, 0)  # before the first dose: 0
    builder.dose(1, 1, at=1)
    full_set(builder, 4, **{HR: (115, "/min"), SBP: (95, "mm[Hg]")})  # 4
    assert news2_flags(builder) == []


def test_it_raises_one_flag_per_episode() -> None:
    builder = CourseBuilder()
    high = {HR: (135, "/min"), SBP: (95, "mm[Hg]"), TEMP: (39.5, "Cel")}
    full_set(builder, 2, **high)
    full_set(builder, 4, **high)
    full_set(builder, 6)
    full_set(builder, 8, **high)
    flags = news2_flags(builder)
    assert codes(flags) == ["news2.high", "news2.high"]
    assert flags[0].last_seen == news2_rows(builder)[1].time
    assert not flags[0].active and flags[1].active
