"""Capillary leak: two or more signs measured together (within 12 h) raise `cls.syndrome`.

Signs: SBP below target (T = 85 for usual SBP 118) or any phenylephrine; weight >= 10 % over
72 kg (79.2 kg); urine < 160 mL/8 h per record; albumin < 3.0 g/dL; rales third/half or O2 >= 3
L/min. Readings at hour 11 unless a test says otherwise.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest

from tests.unit.rules.bedside import (
    LB,
    Reading,
    albumin,
    cls_flags,
    course,
    hr,
    o2_flow,
    phenylephrine,
    rales,
    sbp,
    severity_of,
    urine,
    weight,
)

CODE = "cls.syndrome"

# One mild (non-absolute) reading per sign, and a normal reading of the same item.
MILD_SIGNS: dict[str, Reading] = {
    "pressor": phenylephrine(0.3),
    "weight": weight(80),
    "urine": urine(150),
    "albumin": albumin(2.8),
    "lung": rales("third"),
}


def severity(*readings: Reading, **builder: Any) -> str | None:
    return severity_of(cls_flags(course(*readings, **builder)), CODE)


# -- presence ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("first", "second"), list(combinations(MILD_SIGNS, 2)))
def test_it_flags_any_two_signs_measured_together(first: str, second: str) -> None:
    assert severity(MILD_SIGNS[first], MILD_SIGNS[second]) is not None


def test_it_flags_two_signs_measured_exactly_12_h_apart() -> None:
    assert severity(weight(80, at=0), albumin(2.8, at=12)) is not None


def test_it_does_not_flag_two_signs_more_than_12_h_apart() -> None:
    assert severity(weight(80, at=0), albumin(2.8, at=12.1)) is None


def test_it_does_not_flag_one_sign_however_often_it_is_seen() -> None:
    assert severity(urine(100, at=2), urine(90, at=6), urine(80, at=10)) is None


def test_it_does_not_flag_a_course_without_any_sign() -> None:
    normal = (sbp(110), phenylephrine(0), weight(75), urine(400), albumin(3.5), rales("bases"))
    assert severity(*normal, o2_flow(2)) is None


def test_two_channels_of_one_sign_are_one_sign() -> None:
    assert severity(sbp(80), phenylephrine(0.2)) is None


# -- each sign at its boundary -------------------------------------------------------------------

PARTNER = albumin(2.5, at=10)  # a second sign that is never absolute


@pytest.mark.parametrize(
    ("reading", "is_sign"),
    [
        (sbp(84.9), True),
        (sbp(85), False),  # SBP = T meets the target
        (phenylephrine(0.01), True),
        (phenylephrine(0), False),
        (weight(79.2), True),  # exactly 10 %
        (weight(79.19), False),
        (weight(176, "[lb_av]"), True),  # 10 % over 160 lb
        (weight(175.9, "[lb_av]"), False),
        (urine(159.9), True),
        (urine(160), False),
        (urine(79, period_h=4), True),  # 158 mL/8 h
        (urine(80, period_h=4), False),  # 160 mL/8 h
        (rales("third"), True),
        (rales("half"), True),
        (rales("bases"), False),
        (o2_flow(3), True),
        (o2_flow(2.9), False),
    ],
)
def test_each_sign_starts_exactly_at_its_threshold(reading: Reading, is_sign: bool) -> None:
    baseline = 160 * LB if reading[2] == "[lb_av]" else 72.0
    assert (severity(reading, PARTNER, weight_kg=baseline) is not None) is is_sign


@pytest.mark.parametrize(
    ("value", "unit", "is_sign"),
    [(2.9, "g/dL", True), (3.0, "g/dL", False), (29, "g/L", True), (30, "g/L", False)],
)
def test_albumin_below_3_g_dl_is_a_sign_in_either_unit(
    value: float, unit: str, is_sign: bool
) -> None:
    assert (severity(albumin(value, unit), weight(80)) is not None) is is_sign


# -- grading -------------------------------------------------------------------------------------


def test_two_mild_signs_are_a_warning() -> None:
    assert severity(weight(80), albumin(2.8)) == "warning"


def test_three_mild_signs_are_a_warning() -> None:
    assert severity(weight(80), albumin(2.8), urine(150)) == "warning"


def test_four_signs_are_critical() -> None:
    assert severity(weight(80), albumin(2.8), urine(150), rales("third")) == "critical"


@pytest.mark.parametrize(
    "absolute",
    [sbp(84), phenylephrine(0.81), urine(79), rales("half"), o2_flow(4.1)],
)
def test_a_sign_that_is_itself_a_hold_criterion_makes_it_critical(absolute: Reading) -> None:
    assert severity(absolute, weight(80)) == "critical"


@pytest.mark.parametrize("mild", [phenylephrine(0.8), urine(80), o2_flow(4)])
def test_a_sign_just_short_of_its_hold_criterion_stays_a_warning(mild: Reading) -> None:
    assert severity(mild, weight(80)) == "warning"


# -- one flag, its time, message and evidence ----------------------------------------------------


def spec_example() -> list[Reading]:
    return [
        weight(80.1, at=20),
        sbp(84, at=24),
        phenylephrine(0.6, at=24),
        urine(70, at=24),
    ]


def test_the_message_names_each_sign_with_its_value_and_unit() -> None:
    flag = cls_flags(course(*spec_example()))[0]
    assert flag.message == (
        "Capillary leak: weight +11.2% from baseline, SBP 84 on phenylephrine 0.6 ug/kg/min, "
        "urine 70 mL/8 h"
    )


def test_the_evidence_is_the_observations_named() -> None:
    flag = cls_flags(course(*spec_example()))[0]
    assert [e.code for e in flag.evidence] == [
        "29463-7",
        "8480-6",
        "il2tox:phenylephrine",
        "9187-6",
    ]


def test_there_is_one_flag_per_course() -> None:
    readings = [weight(80, at=2), albumin(2.8, at=3), weight(81, at=40), urine(100, at=41)]
    assert len(cls_flags(course(*readings))) == 1


def test_the_time_is_when_the_syndrome_was_first_present() -> None:
    flag = cls_flags(course(weight(80, at=2), albumin(2.8, at=5), sbp(80, at=30)))[0]
    assert flag.time.hour == 11  # hour 5 after admission at 06:00


def test_the_severity_is_the_highest_reached_with_that_moments_message() -> None:
    flag = cls_flags(course(weight(80, at=2), albumin(2.8, at=5), sbp(80, at=9)))[0]
    assert (flag.severity, flag.message) == (
        "critical",
        "Capillary leak: weight +11.1% from baseline, SBP 80 < target 85, albumin 2.8 g/dL",
    )


def test_it_records_cycle_and_doses_given_before_it() -> None:
    flag = cls_flags(course(weight(80, at=13), albumin(2.8, at=14)))[0]
    assert (flag.cycle, flag.after_dose) == (1, 1)


def test_it_is_active_while_the_latest_values_still_show_two_signs() -> None:
    assert cls_flags(course(weight(80), albumin(2.8)))[0].active is True


def test_it_is_no_longer_active_once_a_sign_has_resolved() -> None:
    flag = cls_flags(course(weight(80, at=2), albumin(2.8, at=3), albumin(3.4, at=20)))[0]
    assert (flag.active, flag.last_seen is not None) == (False, True)


def test_a_heart_rate_is_not_a_capillary_leak_sign() -> None:
    assert severity(hr(140), weight(80)) is None


def test_si_units_give_the_same_flag() -> None:
    conventional = cls_flags(course(albumin(2.8), weight(80)))
    si = cls_flags(course(albumin(28, "g/L"), weight(80 / LB, "[lb_av]")))
    assert [f.to_dict() for f in si] == [f.to_dict() for f in conventional]
