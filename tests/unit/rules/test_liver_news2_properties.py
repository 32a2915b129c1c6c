"""Properties of the liver, NEWS2, ICI and eligibility rules over generated courses.

Raising a liver value never lowers its grade; the same course in SI units (bilirubin µmol/L,
creatinine µmol/L, temperature °F) gives the same liver table, NEWS2 and flags; no valid course
makes these rules raise.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from il2_tox.course import parse_course
from il2_tox.units import celsius_to_fahrenheit
from tests.builders import CourseBuilder
from tests.unit.rules.helpers import (
    ALP,
    ALT,
    AST,
    BILI,
    BILI_UMOL,
    CREAT_UMOL,
    eligibility_flags,
    ici_flags,
    liver_flags,
    liver_rows,
    news2_flags,
    news2_rows,
)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GRADE_FIELD = {ALT: "alt_grade", AST: "ast_grade", ALP: "alp_grade", BILI: "bilirubin_grade"}
UNIT = {ALT: "U/L", AST: "U/L", ALP: "U/L", BILI: "mg/dL"}
HIGH = {ALT: 2000.0, AST: 2000.0, ALP: 3000.0, BILI: 40.0}
hours = st.floats(min_value=0, max_value=120, allow_nan=False).map(lambda h: round(h, 2))


@FAST
@given(
    code=st.sampled_from([ALT, AST, ALP, BILI]),
    baseline_frac=st.floats(min_value=0.01, max_value=0.5),
    value_frac=st.floats(min_value=0, max_value=1),
    extra_frac=st.floats(min_value=0, max_value=1),
)
def test_raising_a_liver_value_never_lowers_its_grade(
    code: str, baseline_frac: float, value_frac: float, extra_frac: float
) -> None:
    top = HIGH[code]
    value = round(value_frac * top, 2)
    raised = round(value + extra_frac * (top - value), 2)

    def grade(v: float) -> int:
        course = CourseBuilder().obs(code, round(baseline_frac * top, 2), UNIT[code], at=0)
        course.obs(code, v, UNIT[code], at=24)
        result: int = getattr(liver_rows(course)[1], GRADE_FIELD[code])
        return result

    assert grade(raised) >= grade(value)


# -- the same course in conventional and SI units ---------------------------------------------

NEWS2_VALUES = {
    "9279-1": (st.integers(4, 40), "/min"),
    "59408-5": (st.integers(80, 100), "%"),
    "3151-8": (st.sampled_from([0, 0.5, 2, 3, 5]), "L/min"),
    "8480-6": (st.integers(70, 230), "mm[Hg]"),
    "8867-4": (st.integers(35, 160), "/min"),
}


@st.composite
def courses(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return one course document twice: conventional units, and SI / °F units."""
    conventional = CourseBuilder(
        spo2_target=draw(st.sampled_from([None, "88-92"])),
        usual_sbp=draw(st.sampled_from([None, 95, 110, 130])),
    )
    organs = ["hepatitis", "nephritis", "colitis", "pneumonitis", "thyroiditis", "myocarditis"]
    for organ in draw(st.lists(st.sampled_from(organs), max_size=3)):
        conventional.prior(organ, grade=draw(st.integers(1, 4)))
    si = CourseBuilder()
    si.doc = conventional.document()
    for n in range(1, draw(st.integers(0, 6)) + 1):
        for b in (conventional, si):
            b.dose(1, n, at=8 * n - 6)
    for _ in range(draw(st.integers(0, 12))):
        at = draw(hours)
        code = draw(st.sampled_from([ALT, AST, ALP]))
        value = draw(st.integers(5, 1500))
        conventional.obs(code, value, "U/L", at=at)
        si.obs(code, value, "U/L", at=at)
    for _ in range(draw(st.integers(0, 8))):
        at, mg = draw(hours), round(draw(st.floats(0.1, 15)), 2)
        conventional.obs(BILI, mg, "mg/dL", at=at)
        si.obs(BILI, round(mg * BILI_UMOL, 6), "umol/L", at=at)
    for _ in range(draw(st.integers(0, 6))):
        at, mg = draw(hours), round(draw(st.floats(0.3, 6)), 2)
        conventional.obs("2160-0", mg, "mg/dL", at=at)
        si.obs("2160-0", round(mg * CREAT_UMOL, 6), "umol/L", at=at)
    for _ in range(draw(st.integers(0, 20))):
        at = draw(hours)
        code = draw(st.sampled_from([*NEWS2_VALUES, "8310-5", "il2tox:acvpu"]))
        if code == "8310-5":
            celsius = round(draw(st.floats(34, 41.5)), 2)
            conventional.obs(code, celsius, "Cel", at=at)
            si.obs(code, round(celsius_to_fahrenheit(celsius), 9), "[degF]", at=at)
            continue
        if code == "il2tox:acvpu":
            value: Any = draw(st.sampled_from(["A", "A", "C", "V"]))
            unit = None
        else:
            strategy, unit = NEWS2_VALUES[code]
            value = draw(strategy)
        conventional.obs(code, value, unit, at=at)
        si.obs(code, value, unit, at=at)
    return conventional.document(), si.document()


def _flags_summary(flags: list[Any]) -> list[tuple[str, str, str, str]]:
    return [(f.code, f.severity, f.time.isoformat(), f.message) for f in flags]


@FAST
@given(pair=courses())
def test_the_same_course_in_si_units_gives_the_same_liver_table_and_news2(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    conventional, si = (parse_course(doc) for doc in pair)
    assert [r.to_dict() for r in liver_rows(conventional)] == [r.to_dict() for r in liver_rows(si)]
    assert news2_rows(conventional) == news2_rows(si)
    assert _flags_summary(liver_flags(conventional)) == _flags_summary(liver_flags(si))
    assert _flags_summary(ici_flags(conventional)) == _flags_summary(ici_flags(si))
    assert _flags_summary(news2_flags(conventional)) == _flags_summary(news2_flags(si))


@FAST
@given(pair=courses(), ecog=st.sampled_from([None, 0, 1, 2, 4]))
def test_no_valid_course_makes_these_rules_raise(
    pair: tuple[dict[str, Any], dict[str, Any]], ecog: int | None
) -> None:
    doc = pair[1]
    if ecog is not None:
        doc["history"] = {"ecog": ecog, "systemic_steroids": False, "prior_therapies": []}
    course = parse_course(doc)
    rows = liver_rows(course)
    liver_flags(course)
    ici_flags(course)
    eligibility_flags(course)
    news2_flags(course)
    assert all(r.score >= 0 for r in news2_rows(course))
    assert all(g is None or 0 <= g <= 4 for r in rows for g in (r.alt_grade, r.alp_grade))
