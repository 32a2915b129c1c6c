"""Liver: CTCAE v5 grades at every band edge, R and pattern, Hy's law, and the hepatitis flag.

Site default ULNs: ALT 40, AST 40, ALP 130 U/L, bilirubin 1.2 mg/dL (20.52 µmol/L).
"""

from __future__ import annotations

import pytest

from il2_tox.rules.base import LiverRow
from tests.builders import CourseBuilder
from tests.unit.rules.helpers import (
    ALP,
    ALT,
    AST,
    BILI,
    BILI_UMOL,
    codes,
    liver_flags,
    liver_rows,
)

NORMAL = {ALT: 20.0, AST: 20.0, ALP: 80.0, BILI: 0.6}


def baseline(si: bool = False, at: float = 0) -> CourseBuilder:
    """Return a course whose first liver tests (the baselines) are all within limits.

    Needed because a first value above ULN becomes an abnormal baseline, graded 0 itself.
    """
    builder = CourseBuilder()
    for code, value in NORMAL.items():
        builder.obs(code, *_unit(code, value, si), at=at)
    return builder


def one_row(*tests: tuple[str, float], at: float = 2, si: bool = False) -> LiverRow:
    builder = baseline(si)
    for code, value in tests:
        builder.obs(code, *_unit(code, value, si), at=at)
    rows = liver_rows(builder)
    assert len(rows) == 2
    return rows[1]


def _unit(code: str, value: float, si: bool) -> tuple[float, str]:
    if code == BILI:
        return (value * BILI_UMOL, "umol/L") if si else (value, "mg/dL")
    return value, "U/L"


def with_baseline(code: str, baseline: float, value: float, si: bool = False) -> list[LiverRow]:
    builder = CourseBuilder()
    builder.obs(code, *_unit(code, baseline, si), at=1)
    builder.obs(code, *_unit(code, value, si), at=30)
    return liver_rows(builder)


# -- grades against ULN: every edge (just below / at / just above) -------------------------

AMINO_EDGES = [
    (40, 0),  # at ULN: not raised
    (40.4, 1),
    (120, 1),  # 3.0x ULN is grade 1 (upper bound inclusive)
    (120.4, 2),  # 3.01x
    (200, 2),
    (200.4, 3),
    (800, 3),
    (800.4, 4),
]


@pytest.mark.parametrize(("value", "grade"), AMINO_EDGES)
def test_it_grades_alt_at_each_uln_band_edge(value: float, grade: int) -> None:
    assert one_row((ALT, value)).alt_grade == grade


@pytest.mark.parametrize(("value", "grade"), AMINO_EDGES)
def test_it_grades_ast_at_each_uln_band_edge(value: float, grade: int) -> None:
    assert one_row((AST, value)).ast_grade == grade


def test_it_grades_alt_of_3x_uln_as_grade_1() -> None:
    assert one_row((ALT, 120)).alt_grade == 1


def test_it_grades_alt_of_3_01x_uln_as_grade_2() -> None:
    assert one_row((ALT, 120.4)).alt_grade == 2


ALP_EDGES = [(130, 0), (130.1, 1), (325, 1), (325.1, 2), (650, 2), (650.1, 3), (2600, 3), (2601, 4)]


@pytest.mark.parametrize(("value", "grade"), ALP_EDGES)
def test_it_grades_alp_at_each_uln_band_edge(value: float, grade: int) -> None:
    assert one_row((ALP, value)).alp_grade == grade


BILI_EDGES = [
    (1.2, 0),
    (1.21, 1),
    (1.8, 1),  # 1.5x
    (1.81, 2),
    (3.6, 2),  # 3.0x
    (3.61, 3),
    (12.0, 3),  # 10x
    (12.01, 4),
]


@pytest.mark.parametrize(("value", "grade"), BILI_EDGES)
def test_it_grades_bilirubin_at_each_uln_band_edge(value: float, grade: int) -> None:
    assert one_row((BILI, value)).bilirubin_grade == grade


@pytest.mark.parametrize(("value", "grade"), BILI_EDGES)
def test_it_grades_bilirubin_in_umol_per_l_the_same(value: float, grade: int) -> None:
    assert one_row((BILI, value), si=True).bilirubin_grade == grade


def test_it_uses_the_labs_upper_limit_over_the_site_default() -> None:
    course = baseline().obs(ALT, 100, "U/L", at=2, ref_high=33)  # 3.03x the lab's ULN
    assert liver_rows(course)[1].alt_grade == 2


def test_it_uses_the_labs_bilirubin_limit_given_in_umol_per_l() -> None:
    course = baseline().obs(BILI, 30.1, "umol/L", at=2, ref_high=21)  # 1.43x
    assert liver_rows(course)[1].bilirubin_grade == 1


# -- one row per time; None when not measured ---------------------------------------------


def test_it_gives_one_row_per_time_with_none_for_tests_not_measured() -> None:
    course = CourseBuilder().obs(ALT, 30, "U/L", at=1).obs(BILI, 0.8, "mg/dL", at=5)
    rows = liver_rows(course)
    assert [(r.alt_grade, r.bilirubin_grade, r.ast_grade) for r in rows] == [
        (0, None, None),
        (None, 0, None),
    ]


def test_it_gives_no_rows_without_liver_tests() -> None:
    assert liver_rows(CourseBuilder().obs("8480-6", 110, "mm[Hg]", at=1)) == []


def test_it_fills_multiples_of_uln_for_charts() -> None:
    row = one_row((ALT, 168), (ALP, 130), (BILI, 2.4), (AST, 20))
    assert (row.alt_x_uln, row.alp_x_uln, row.bilirubin_x_uln, row.ast_x_uln) == (
        4.2,
        1.0,
        2.0,
        0.5,
    )


# -- abnormal baseline (first value above ULN): graded against that baseline -------------------


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (119.9, 0),  # 1.499x baseline 80
        (120, 1),  # 1.5x: grade 1 from here (inclusive)
        (240, 1),  # 3.0x
        (240.8, 2),
        (400, 2),
        (400.8, 3),
        (1600, 3),
        (1600.8, 4),
    ],
)
def test_it_grades_alt_against_an_abnormal_baseline(value: float, grade: int) -> None:
    assert with_baseline(ALT, 80, value)[1].alt_grade == grade


def test_it_grades_the_abnormal_baseline_itself_as_grade_0() -> None:
    assert with_baseline(ALT, 80, 80)[0].alt_grade == 0


def test_it_grades_ast_against_an_abnormal_baseline_too() -> None:
    assert with_baseline(AST, 100, 150)[1].ast_grade == 1
    assert with_baseline(AST, 100, 149)[1].ast_grade == 0


def test_it_keeps_uln_grading_when_the_baseline_is_at_uln() -> None:
    assert with_baseline(ALT, 40, 59)[1].alt_grade == 1


@pytest.mark.parametrize(
    ("value", "grade"),
    [(399, 0), (400, 1), (500, 1), (501, 2), (1000, 2), (1001, 3), (4000, 3), (4001, 4)],
)
def test_it_grades_alp_against_an_abnormal_baseline(value: float, grade: int) -> None:
    assert with_baseline(ALP, 200, value)[1].alp_grade == grade


@pytest.mark.parametrize(
    ("value", "grade"),
    [(2.0, 0), (2.01, 1), (3.0, 1), (3.01, 2), (6.0, 2), (6.01, 3), (20.0, 3), (20.01, 4)],
)
@pytest.mark.parametrize("si", [False, True])
def test_it_grades_bilirubin_against_an_abnormal_baseline(
    value: float, grade: int, si: bool
) -> None:
    assert with_baseline(BILI, 2.0, value, si=si)[1].bilirubin_grade == grade


def test_it_grades_a_fall_below_an_abnormal_baseline_as_grade_0() -> None:
    assert with_baseline(BILI, 2.0, 1.5)[1].bilirubin_grade == 0


# -- R ratio and pattern --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alt", "alp", "pattern"),
    [
        (200, 260, "mixed"),  # R = 5x / 2x = 2.5
        (104, 260, "cholestatic"),  # R = 2.6 / 2 = 1.3
        (160, 260, "cholestatic"),  # R = 2.0 exactly
        (161, 260, "mixed"),  # R = 2.0125
        (399, 260, "mixed"),  # R = 4.99
        (400, 260, "hepatocellular"),  # R = 5.0 exactly
        (401, 260, "hepatocellular"),
    ],
)
def test_it_classifies_the_pattern_at_the_r_cut_offs(alt: float, alp: float, pattern: str) -> None:
    row = one_row((ALT, alt), (ALP, alp))
    assert row.pattern == pattern


def test_it_computes_r_from_multiples_of_each_uln() -> None:
    row = one_row((ALT, 168), (ALP, 85.3125))  # 4.2 / 0.65625
    assert row.r_ratio == pytest.approx(6.4)
    assert row.pattern == "hepatocellular"


def test_it_gives_no_pattern_when_alt_and_alp_are_both_within_limits() -> None:
    row = one_row((ALT, 40), (ALP, 20))
    assert row.r_ratio == pytest.approx(6.5)
    assert row.pattern is None


def test_it_pairs_alt_with_the_nearest_alp_within_12_hours() -> None:
    course = (
        CourseBuilder()
        .obs(ALP, 130, "U/L", at=0)
        .obs(ALP, 65, "U/L", at=20)
        .obs(ALT, 200, "U/L", at=14)  # 6 h before the second ALP, 14 h after the first
    )
    row = next(r for r in liver_rows(course) if r.alt_grade is not None)
    assert row.r_ratio == pytest.approx(10.0)


def test_it_pairs_alt_with_an_alp_exactly_12_hours_away() -> None:
    course = CourseBuilder().obs(ALP, 130, "U/L", at=0).obs(ALT, 200, "U/L", at=12)
    row = next(r for r in liver_rows(course) if r.alt_grade is not None)
    assert row.r_ratio == pytest.approx(5.0)


def test_it_gives_no_r_when_the_nearest_alp_is_over_12_hours_away() -> None:
    course = CourseBuilder().obs(ALP, 130, "U/L", at=0).obs(ALT, 200, "U/L", at=12.1)
    row = next(r for r in liver_rows(course) if r.alt_grade is not None)
    assert (row.r_ratio, row.pattern) == (None, None)


def test_it_gives_no_r_when_alp_is_zero() -> None:
    assert one_row((ALT, 200), (ALP, 0)).r_ratio is None


# -- Hy's law ---------------------------------------------------------------------------------


def hys(alt: float, bili: float, alp: float | None, *, alp_at: float = 2, si: bool = False) -> bool:
    builder = CourseBuilder().obs(ALT, alt, "U/L", at=2)
    builder.obs(BILI, *_unit(BILI, bili, si), at=2)
    if alp is not None:
        builder.obs(ALP, alp, "U/L", at=alp_at)
    return any(r.hys_law for r in liver_rows(builder))


def test_it_finds_hys_law_at_3x_alt_and_bilirubin_above_2x_with_normal_alp() -> None:
    assert hys(120, 2.41, 259)


def test_it_finds_hys_law_from_ast_as_well() -> None:
    course = (
        CourseBuilder()
        .obs(AST, 120, "U/L", at=2)
        .obs(BILI, 2.5, "mg/dL", at=2)
        .obs(ALP, 100, "U/L", at=2)
    )
    assert any(r.hys_law for r in liver_rows(course))


def test_it_needs_alt_at_least_3x_for_hys_law() -> None:
    assert not hys(119.9, 2.41, 100)


def test_it_needs_bilirubin_above_2x_for_hys_law() -> None:
    assert not hys(200, 2.4, 100)  # exactly 2x is not above


@pytest.mark.parametrize("si", [False, True])
def test_it_reads_hys_law_bilirubin_the_same_in_umol_per_l(si: bool) -> None:
    assert hys(200, 2.41, 100, si=si)
    assert not hys(200, 2.4, 100, si=si)


def test_it_needs_alp_below_2x_for_hys_law() -> None:
    assert not hys(200, 3.0, 260)  # exactly 2x is cholestasis, not Hy's law


def test_it_finds_no_hys_law_without_alp_measured_together() -> None:
    assert not hys(200, 3.0, None)


def test_it_pairs_hys_law_alp_within_12_hours() -> None:
    assert hys(200, 3.0, 100, alp_at=14)
    assert not hys(200, 3.0, 100, alp_at=14.1)


# -- the hepatitis flag ----------------------------------------------------------------------


def test_it_raises_no_hepatitis_flag_when_every_liver_test_is_within_limits() -> None:
    course = CourseBuilder()
    for hour in range(0, 120, 24):
        course.obs(ALT, 40, "U/L", at=hour).obs(AST, 40, "U/L", at=hour)
        course.obs(ALP, 130, "U/L", at=hour).obs(BILI, 1.2, "mg/dL", at=hour)
    assert liver_flags(course) == []


def test_it_raises_no_hepatitis_flag_for_grade_1_alone() -> None:
    course = baseline().obs(ALT, 120, "U/L", at=2).obs(BILI, 1.8, "mg/dL", at=2)
    assert liver_flags(course) == []


@pytest.mark.parametrize(("code", "value", "unit"), [(ALT, 120.4, "U/L"), (AST, 121, "U/L")])
def test_it_raises_a_hepatitis_warning_at_aminotransferase_grade_2(
    code: str, value: float, unit: str
) -> None:
    flags = liver_flags(baseline().obs(code, value, unit, at=2))
    assert [(f.code, f.severity) for f in flags] == [("hepatitis.grade", "warning")]


@pytest.mark.parametrize(("value", "unit"), [(1.81, "mg/dL"), (1.81 * BILI_UMOL, "umol/L")])
def test_it_raises_a_hepatitis_flag_at_bilirubin_grade_2(value: float, unit: str) -> None:
    assert codes(liver_flags(baseline().obs(BILI, value, unit, at=2))) == ["hepatitis.grade"]


@pytest.mark.parametrize(("value", "unit"), [(1.8, "mg/dL"), (30.78, "umol/L")])
def test_it_raises_no_hepatitis_flag_at_bilirubin_1_5x(value: float, unit: str) -> None:
    assert liver_flags(baseline().obs(BILI, value, unit, at=2)) == []


def test_it_makes_the_hepatitis_flag_critical_from_grade_3() -> None:
    flags = liver_flags(baseline().obs(ALT, 200.4, "U/L", at=2))
    assert flags[0].severity == "critical"


def test_it_keeps_the_hepatitis_flag_a_warning_at_5x() -> None:
    flags = liver_flags(baseline().obs(ALT, 200, "U/L", at=2))
    assert flags[0].severity == "warning"


def test_it_raises_hepatitis_and_a_separate_critical_hys_law_flag() -> None:
    course = (
        baseline()
        .obs(ALT, 120, "U/L", at=2)  # grade 1 only
        .obs(BILI, 2.41, "mg/dL", at=2)
        .obs(ALP, 100, "U/L", at=2)
    )
    flags = liver_flags(course)
    assert [(f.code, f.severity) for f in flags] == [
        ("hepatitis.grade", "critical"),
        ("hepatitis.hys_law", "critical"),
    ]
    assert "possible Hy's law" in flags[1].message


def test_it_writes_multiples_grade_r_and_pattern_in_the_message() -> None:
    course = baseline().obs(ALT, 168, "U/L", at=2).obs(ALP, 85.3125, "U/L", at=2)
    message = liver_flags(course)[0].message
    assert "ALT 4.2× ULN (grade 2), R 6.4 hepatocellular" in message


def test_it_times_the_flag_at_the_first_row_and_describes_the_worst() -> None:
    course = (
        CourseBuilder()
        .dose(1, 1, at=2)
        .obs(ALT, 30, "U/L", at=1)
        .obs(ALT, 130, "U/L", at=10)
        .obs(ALT, 500, "U/L", at=30)
    )
    flag = liver_flags(course)[0]
    assert flag.time == liver_rows(course)[1].time
    assert "grade 3" in flag.message
    assert flag.severity == "critical"
    assert flag.after_dose == 1


def test_it_flags_an_abnormal_baseline_only_on_a_rise_against_it() -> None:
    stable = CourseBuilder().obs(ALT, 100, "U/L", at=1).obs(ALT, 110, "U/L", at=30)
    assert liver_flags(stable) == []  # 2.75x ULN, but 1.1x its own baseline
    risen = CourseBuilder().obs(ALT, 100, "U/L", at=1).obs(ALT, 301, "U/L", at=30)
    flags = liver_flags(risen)
    assert codes(flags) == ["hepatitis.grade"]
    assert "abnormal baseline: ALT" in flags[0].message


def test_it_warns_of_a_baseline_already_at_grade_2_against_uln() -> None:
    course = CourseBuilder().obs(ALT, 150, "U/L", at=1).obs(ALT, 160, "U/L", at=30)
    flags = liver_flags(course)
    assert [(f.code, f.severity) for f in flags] == [("hepatitis.baseline", "warning")]
    assert "ALT 3.8× ULN at baseline" in flags[0].message


def test_it_does_not_warn_of_a_baseline_at_grade_1() -> None:
    assert liver_flags(CourseBuilder().obs(BILI, 1.8, "mg/dL", at=1)) == []


def test_it_notes_alt_rising_dose_after_dose() -> None:
    course = baseline()
    for n, alt in enumerate((50, 90, 130, 210), start=1):
        course.dose(1, n, at=8 * n).obs(ALT, alt, "U/L", at=8 * n + 1)
    assert "ALT rising over the last 4 doses" in liver_flags(course)[0].message


def test_it_names_every_hys_law_value_in_its_message() -> None:
    course = (
        baseline()
        .obs(BILI, 2.5, "mg/dL", at=2)
        .obs(ALT, 252, "U/L", at=8)
        .obs(ALP, 143, "U/L", at=9)
    )
    flag = next(f for f in liver_flags(course) if f.code == "hepatitis.hys_law")
    # From 8 h: the baseline ALP (0.62x, 8 h earlier) is measured together with ALT and bilirubin.
    assert flag.message.startswith(
        "possible Hy's law: ALT 6.3× ULN, AST 0.5× ULN, ALP 0.62× ULN, bilirubin 2.1× ULN"
    )


def test_it_shows_r_with_enough_digits_to_tell_2_from_2_04() -> None:
    row = one_row((ALT, 204), (ALP, 325))  # R = 5.1 / 2.5 = 2.04
    assert row.pattern == "mixed"
    message = liver_flags(baseline().obs(ALT, 204, "U/L", at=2).obs(ALP, 325, "U/L", at=2))[0]
    assert "R 2.04 mixed" in message.message
