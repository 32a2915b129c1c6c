"""Acceptance: the decisive guarantee cases again, with results in the SI / alternative units
the course format accepts (creatinine umol/L x 88.4, bilirubin umol/L x 17.1, albumin g/L,
platelets 10*9/L, temperature [degF], weight [lb_av]). Values are compared unrounded.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.acceptance.support import CourseBuilder, advice, flags, result
from tests.acceptance.test_guarantees import _check, add, dose_result, o

LB = 0.45359237


# ---- dose advice --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "item", "expected"),
    [
        # creatinine: 2.5 mg/dL = 221.0 umol/L; 3.0 mg/dL = 265.2 umol/L; 265 = 2.998 mg/dL
        ("creatinine", o("2160-0", 220.9, "umol/L"), "give"),
        ("creatinine", o("2160-0", 221.0, "umol/L"), "caution"),
        ("creatinine", o("2160-0", 256.4, "umol/L"), "caution"),
        ("creatinine", o("2160-0", 265, "umol/L"), "caution"),
        ("creatinine", o("2160-0", 265.2, "umol/L"), "hold"),
        ("creatinine", o("2160-0", 300, "umol/L"), "hold"),
        # bilirubin > 7 mg/dL = > 119.7 umol/L
        ("bilirubin", o("1975-2", 119.7, "umol/L"), "give"),
        ("bilirubin", o("1975-2", 119.8, "umol/L"), "caution"),
        # platelets 10*9/L = 10*3/uL
        ("platelets", o("777-3", 29.9, "10*9/L"), "hold"),
        ("platelets", o("777-3", 30, "10*9/L"), "caution"),
        ("platelets", o("777-3", 50, "10*9/L"), "caution"),
        ("platelets", o("777-3", 50.1, "10*9/L"), "give"),
        # weight in lb vs patient.weight_kg 72: 15 % = 82.8 kg = 182.54 lb
        ("weight", o("29463-7", 182.5, "[lb_av]"), "give"),
        ("weight", o("29463-7", 183, "[lb_av]"), "caution"),
        ("weight", o("29463-7", 158.7, "[lb_av]"), "give"),
    ],
)
def test_dose_advice_si(key: str, item: tuple[Any, ...], expected: str) -> None:
    _check(dose_result({key: [item]}), expected)


def test_dose_advice_weight_exactly_15pct_in_lb_is_not_over() -> None:
    """82.8 kg expressed in lb (unrounded) is exactly 15 %: not > 15 %."""
    _check(dose_result({"weight": [o("29463-7", 82.8 / LB, "[lb_av]")]}), "give")


# ---- renal --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [221.0, 265, 265.2])
def test_renal_present_si(value: float) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("2160-0", 80, "umol/L"))
    add(b, 14, o("2160-0", value, "umol/L"))
    assert flags(result(b), "renal")


def test_renal_absent_si() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    add(b, 0, o("2160-0", 80, "umol/L"), o("9187-6", 300, "mL", period_h=8))
    add(b, 12, o("2160-0", 106, "umol/L"), o("9187-6", 288, "mL", period_h=8))
    add(b, 20, o("2160-0", 110, "umol/L", ref_high=110))
    assert flags(result(b), "renal") == []


# ---- capillary leak -----------------------------------------------------------------------


def test_cls_present_albumin_g_per_l_with_weight_lb() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 10, o("1751-7", 29.9, "g/L"), o("29463-7", 79.2 / LB, "[lb_av]"))
    assert flags(result(b), "capillary_leak")


def test_cls_present_weight_lb_with_urine() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 10, o("29463-7", 175, "[lb_av]"), o("9187-6", 150, "mL", period_h=8))
    assert flags(result(b), "capillary_leak")


def test_cls_absent_si_values_just_outside_signs() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    for t in (1, 9, 17):
        add(
            b,
            t,
            o("1751-7", 30, "g/L"),
            o("29463-7", 174.4, "[lb_av]"),  # 79.1 kg: < 10 % over 72
            o("8480-6", 85, "mm[Hg]"),
            o("9187-6", 200, "mL", period_h=8),
            o("8310-5", 103.0, "[degF]"),
        )
    assert flags(result(b), "capillary_leak") == []


# ---- hepatitis ----------------------------------------------------------------------------


def test_hepatitis_present_bilirubin_umol() -> None:
    """ULN 1.2 mg/dL = 20.52 umol/L; grade 2 is > 1.5 x ULN = 30.78 umol/L."""
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1975-2", 12, "umol/L"))
    add(b, 14, o("1975-2", 31, "umol/L"))
    assert flags(result(b), "hepatitis")


def test_hepatitis_present_bilirubin_umol_with_lab_uln() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1975-2", 10, "umol/L", ref_high=21))
    add(b, 14, o("1975-2", 32, "umol/L", ref_high=21))
    res = result(b)
    assert flags(res, "hepatitis")
    assert res["liver"][-1]["bilirubin_grade"] == 2


def test_hepatitis_absent_bilirubin_umol_within_limits() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1975-2", 12, "umol/L"))
    add(b, 14, o("1975-2", 20.5, "umol/L"))
    add(b, 20, o("1975-2", 21, "umol/L", ref_high=21))
    res = result(b)
    assert flags(res, "hepatitis") == []
    assert [r["bilirubin_grade"] for r in res["liver"]] == [0, 0, 0]


def test_hys_law_with_umol_bilirubin() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 30, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 12, "umol/L"))
    add(b, 14, o("1742-6", 130, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 42, "umol/L"))
    res = result(b)
    assert res["liver"][-1]["hys_law"] is True
    assert flags(res, "hepatitis")


# ---- ici recurrence / eligibility in SI ----------------------------------------------------


def test_ici_nephritis_signal_umol() -> None:
    """Creatinine 160 umol/L = 1.81 mg/dL > 1.5 x ULN 1.2: grade 2."""
    b = CourseBuilder().dose(1, 1, at=2).prior("nephritis", resolved="2026-06-01")
    add(b, 0, o("2160-0", 70, "umol/L"))
    add(b, 14, o("2160-0", 160, "umol/L"))
    assert flags(result(b), "ici_recurrence", irae="nephritis")


def test_ici_nephritis_no_signal_umol() -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior("nephritis", resolved="2026-06-01")
    add(b, 0, o("2160-0", 88.4, "umol/L"))
    add(b, 14, o("2160-0", 132.6, "umol/L"))  # 1.5 mg/dL: grade 1 by ULN and by baseline
    assert flags(result(b), "ici_recurrence", irae="nephritis") == []


def test_ici_adrenal_signal_meq() -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior("adrenal_insufficiency", resolved="2026-06-01")
    add(b, 14, o("2951-2", 128, "meq/L"), o("8480-6", 82, "mm[Hg]"))
    assert flags(result(b), "ici_recurrence", irae="adrenal_insufficiency")


def test_eligibility_absent_with_si_baseline() -> None:
    b = CourseBuilder(history={"brain_metastases": "none", "systemic_steroids": False, "ecog": 1})
    b.dose(1, 1, at=4)
    add(
        b,
        0,
        o("2160-0", 80, "umol/L"),
        o("1975-2", 15, "umol/L"),
        o("1751-7", 40, "g/L"),
        o("777-3", 250, "10*9/L"),
        o("718-7", 135, "g/L"),
        o("6690-2", 6, "10*9/L"),
        o("2951-2", 140, "meq/L"),
        o("8310-5", 98.6, "[degF]"),
        o("29463-7", 158.7, "[lb_av]"),
    )
    assert flags(result(b), "eligibility") == []


# ---- NEWS2 temperature in degF ------------------------------------------------------------


@pytest.mark.parametrize(
    ("temp_f", "score"),
    [
        (95.0, 3),  # 35.0 C
        (95.09, 1),  # 35.05 C
        (96.8, 1),  # 36.0 C
        (96.9, 0),  # 36.06 C
        (100.4, 0),  # 38.0 C
        (100.49, 1),  # 38.05 C
        (102.2, 1),  # 39.0 C
        (102.29, 2),  # 39.05 C
    ],
)
def test_news2_temperature_fahrenheit(temp_f: float, score: int) -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    add(b, 10, o("8310-5", temp_f, "[degF]"))
    rows = result(b)["news2"]
    assert len(rows) == 1
    assert rows[0]["score"] == score
    assert rows[0]["complete"] is False


def test_dose_advice_give_in_si_when_all_normal() -> None:
    b = CourseBuilder().dose(1, 1, at=12)
    add(
        b,
        11,
        o("2160-0", 90, "umol/L"),
        o("1975-2", 15, "umol/L"),
        o("777-3", 200, "10*9/L"),
        o("29463-7", 160, "[lb_av]"),
        o("8310-5", 99.5, "[degF]"),
    )
    _check(advice(result(b), 1, 1), "give")
