"""Organ flags: renal (with the CTCAE creatinine grade), cardiac, pulmonary, neurologic,
gastrointestinal and hematologic, from the hold (critical) and caution (warning) criteria.

The patient weighs 72 kg (0.5 mL/kg/h = 288 mL/8 h). Readings at hour 11 unless stated.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.rules.bedside import (
    BILI_UMOL,
    CREAT_UMOL,
    Reading,
    acvpu,
    bilirubin,
    by_code,
    cognition,
    course,
    creatinine,
    fio2,
    hr,
    hs_troponin,
    o2_flow,
    organ_flags,
    platelets,
    rales,
    rhythm,
    severity_of,
    spo2,
    stool,
    troponin,
    urine,
)


def severity(code: str, *readings: Reading, **builder: Any) -> str | None:
    return severity_of(organ_flags(course(*readings, **builder)), code)


def message(code: str, *readings: Reading, **builder: Any) -> str:
    flag = by_code(organ_flags(course(*readings, **builder)), code)
    assert flag is not None
    return flag.message


# -- renal ---------------------------------------------------------------------------------------

RENAL = "renal.injury"


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (2.49, "mg/dL", None),
        (2.5, "mg/dL", "warning"),
        (2.99, "mg/dL", "warning"),
        (3.0, "mg/dL", "critical"),
        (220.9, "umol/L", None),
        (221.0, "umol/L", "warning"),
        (265.0, "umol/L", "warning"),
        (265.2, "umol/L", "critical"),
    ],
)
def test_the_renal_flag_is_present_from_creatinine_2_5_mg_dl(
    value: float, unit: str, expected: str | None
) -> None:
    assert severity(RENAL, creatinine(value, unit)) == expected


@pytest.mark.parametrize(
    ("ml", "expected"),
    [(79.9, "critical"), (80, "warning"), (159.9, "warning"), (160, None), (160.1, None)],
)
def test_the_renal_flag_is_present_for_urine_below_160_ml_per_8_h(
    ml: float, expected: str | None
) -> None:
    assert severity(RENAL, urine(ml)) == expected


def test_a_short_urine_record_is_pro_rated_for_the_renal_flag() -> None:
    assert severity(RENAL, urine(70, period_h=4)) == "warning"  # 140 mL/8 h


def test_the_renal_flag_is_absent_while_creatinine_is_normal_and_urine_clears_0_5_ml_kg_h() -> None:
    readings = [creatinine(1.2, at=2), urine(288, at=3), creatinine(0.9, at=20), urine(300, at=22)]
    assert severity(RENAL, *readings) is None


def test_urine_between_160_and_0_5_ml_kg_h_raises_no_renal_flag() -> None:
    assert severity(RENAL, urine(200), creatinine(1.0)) is None  # 0.35 mL/kg/h at 72 kg


def test_a_light_patient_clearing_0_5_ml_kg_h_has_no_renal_flag() -> None:
    # 30 kg: 0.5 mL/kg/h = 120 mL/8 h; 130 mL/8 h clears it although below 160.
    assert severity(RENAL, urine(130), weight_kg=30) is None


def test_the_renal_message_gives_the_ctcae_grade_against_uln() -> None:
    # 2.5 / 1.2 = 2.08 x ULN: grade 2; 3.7 / 1.2 = 3.08 x ULN: grade 3
    assert (message(RENAL, creatinine(2.5)), message(RENAL, creatinine(3.7))) == (
        "Renal: creatinine 2.5 mg/dL ≥ 2.5 (CTCAE grade 2)",
        "Renal: creatinine 3.7 mg/dL ≥ 2.5 (CTCAE grade 3)",
    )


def test_the_ctcae_grade_uses_the_baseline_when_that_is_higher() -> None:
    # baseline 0.6: 2.5 = 4.2 x baseline, grade 3 (against ULN it would be 2)
    text = message(RENAL, creatinine(0.6, at=1), creatinine(2.5, at=11))
    assert text.endswith("(CTCAE grade 3)")


def test_the_ctcae_grade_uses_the_labs_own_limit() -> None:
    # 2.5 / 2.0 = 1.25 x ULN: grade 1
    assert message(RENAL, creatinine(2.5, ref_high=2.0)).endswith("(CTCAE grade 1)")


def test_the_renal_urine_message_gives_the_rate_per_kg() -> None:
    assert message(RENAL, urine(144)) == "Renal: urine 144 mL/8 h < 160 (0.25 mL/kg/h)"


def test_the_renal_flag_keeps_its_highest_severity_and_first_time() -> None:
    flag = by_code(
        organ_flags(course(creatinine(2.6, at=2), creatinine(3.4, at=20), creatinine(1.1, at=40))),
        RENAL,
    )
    assert flag is not None
    assert (flag.severity, flag.time.hour, flag.active) == ("critical", 8, False)


# -- cardiac -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"), [(130, None), (130.5, "critical"), (131, "critical")]
)
def test_the_cardiac_flag_is_present_for_heart_rate_above_130(
    rate: float, expected: str | None
) -> None:
    assert severity("cardiac.tachycardia", hr(rate)) == expected


def test_heart_rate_in_the_caution_band_raises_no_cardiac_flag() -> None:
    assert organ_flags(course(hr(120))) == []


@pytest.mark.parametrize("found", ["af", "svt", "vt", "ischemic_changes"])
def test_the_cardiac_flag_is_critical_for_a_rhythm_other_than_sinus(found: str) -> None:
    assert severity("cardiac.rhythm", rhythm(found)) == "critical"


def test_sinus_rhythm_raises_no_cardiac_flag() -> None:
    assert severity("cardiac.rhythm", rhythm("sinus")) is None


def test_the_cardiac_rhythm_message_says_permanently_discontinue_for_vt() -> None:
    assert "permanently discontinue" in message("cardiac.rhythm", rhythm("vt"))


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (troponin(0.04), None),
        (troponin(0.041), "critical"),
        (hs_troponin(26), None),
        (hs_troponin(26.1), "critical"),
    ],
)
def test_the_cardiac_flag_is_critical_for_troponin_above_its_limit(
    reading: Reading, expected: str | None
) -> None:
    assert severity("cardiac.troponin", reading) == expected


# -- pulmonary -----------------------------------------------------------------------------------

HYPOXIA = "pulmonary.hypoxia"


@pytest.mark.parametrize(
    ("reading", "expected"),
    [
        (spo2(89.9), "critical"),
        (spo2(90), None),
        (spo2(89, code="2708-6"), "critical"),
        (o2_flow(2.9), None),
        (o2_flow(3), "warning"),
        (o2_flow(4), "warning"),
        (o2_flow(4.1), "critical"),
        (fio2(39.9), None),
        (fio2(40), "critical"),
    ],
)
def test_the_pulmonary_flag_follows_the_oxygen_criteria(
    reading: Reading, expected: str | None
) -> None:
    assert severity(HYPOXIA, reading) == expected


@pytest.mark.parametrize(
    ("extent", "expected"),
    [("none", None), ("bases", None), ("third", "warning"), ("half", "critical")],
)
def test_the_pulmonary_flag_follows_the_rales_criteria(extent: str, expected: str | None) -> None:
    assert severity("pulmonary.rales", rales(extent)) == expected


# -- neurologic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [("A", None), ("C", "critical"), ("V", "critical"), ("P", "critical"), ("U", "critical")],
)
def test_the_neurologic_flag_is_critical_when_not_alert(level: str, expected: str | None) -> None:
    assert severity("neurologic.consciousness", acvpu(level)) == expected


@pytest.mark.parametrize(("result", "expected"), [("pass", None), ("fail", "critical")])
def test_the_neurologic_flag_is_critical_when_cognition_fails(
    result: str, expected: str | None
) -> None:
    assert severity("neurologic.cognition", cognition(result)) == expected


# -- gastrointestinal ----------------------------------------------------------------------------

DIARRHEA = "gastrointestinal.diarrhea"


@pytest.mark.parametrize(("ml", "expected"), [(999, None), (1000, "warning"), (1500, "warning")])
def test_the_gi_flag_warns_for_1000_ml_stool_in_one_8_h_period(
    ml: float, expected: str | None
) -> None:
    assert severity(DIARRHEA, stool(ml)) == expected


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [(999, 1000, "warning"), (1000, 1000, "critical"), (1000, 999, "warning")],
)
def test_the_gi_flag_is_critical_for_1000_ml_in_two_consecutive_periods(
    earlier: float, later: float, expected: str
) -> None:
    assert severity(DIARRHEA, stool(earlier, at=3), stool(later, at=11)) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (7, "mg/dL", None),
        (7.01, "mg/dL", "warning"),
        (7 * BILI_UMOL, "umol/L", None),
        (119.8, "umol/L", "warning"),
    ],
)
def test_the_gi_flag_warns_for_bilirubin_above_7_mg_dl(
    value: float, unit: str, expected: str | None
) -> None:
    assert severity("gastrointestinal.bilirubin", bilirubin(value, unit)) == expected


# -- hematologic ---------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["10*3/uL", "10*9/L"])
@pytest.mark.parametrize(
    ("count", "expected"),
    [(29.9, "critical"), (30, "warning"), (50, "warning"), (50.1, None)],
)
def test_the_hematologic_flag_follows_the_platelet_criteria(
    count: float, unit: str, expected: str | None
) -> None:
    assert severity("hematologic.platelets", platelets(count, unit)) == expected


# -- every flag ----------------------------------------------------------------------------------


def test_a_normal_course_raises_no_organ_flag() -> None:
    normal = [
        hr(95),
        spo2(97),
        o2_flow(0),
        rales("bases"),
        urine(400),
        creatinine(1.0),
        platelets(180),
        bilirubin(1.0),
        acvpu("A"),
        cognition("pass"),
        rhythm("sinus"),
        stool(200),
    ]
    assert organ_flags(course(*normal)) == []


def test_there_is_one_flag_per_code() -> None:
    flags = organ_flags(course(spo2(88, at=2), o2_flow(5, at=3), fio2(50, at=4)))
    assert [f.code for f in flags] == [HYPOXIA]


def test_each_flag_cites_its_source_from_the_rules_file() -> None:
    flag = by_code(organ_flags(course(platelets(20))), "hematologic.platelets")
    assert flag is not None
    assert flag.source == "Dutcher 2014 Table 3"


def test_si_units_give_the_same_organ_flags() -> None:
    conventional = organ_flags(course(creatinine(2.7), platelets(40), bilirubin(8)))
    si = organ_flags(
        course(
            creatinine(2.7 * CREAT_UMOL, "umol/L"),
            platelets(40, "10*9/L"),
            bilirubin(8 * BILI_UMOL, "umol/L"),
        )
    )
    assert [f.to_dict() for f in si] == [f.to_dict() for f in conventional]
