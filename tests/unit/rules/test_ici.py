"""Possible recurrence of a prior ICI toxicity: each organ's signal, both ways, and the
differential findings computed from the course."""

from __future__ import annotations

import pytest

from il2_tox.rules.base import Flag
from tests.builders import CourseBuilder
from tests.unit.rules.helpers import ALP, ALT, BILI, CREAT_UMOL, ici_flags

STOOL, SPO2, FLOW, TSH, NA, SBP = (
    "il2tox:stool-volume",
    "59408-5",
    "3151-8",
    "3016-3",
    "2951-2",
    "8480-6",
)
CREAT, TNI, TNI_HS, RHYTHM, SKIN = "2160-0", "10839-9", "89579-7", "il2tox:rhythm", "il2tox:skin"


def prior(organ: str, **kw: object) -> CourseBuilder:
    return CourseBuilder(usual_sbp=118).prior(organ, **kw)  # type: ignore[arg-type]


def only(flags: list[Flag]) -> Flag:
    assert len(flags) == 1, [f.code for f in flags]
    return flags[0]


# -- no flag without a prior toxicity of the organ, or without its signal -----------------


def test_it_raises_nothing_without_prior_toxicities() -> None:
    course = CourseBuilder().obs(STOOL, 1500, "mL", at=8, period_h=8).obs(SPO2, 85, "%", at=9)
    assert ici_flags(course) == []


def test_it_raises_nothing_for_a_prior_organ_without_its_signal() -> None:
    course = prior("colitis").obs(SPO2, 85, "%", at=9).obs(ALT, 20, "U/L", at=1)
    assert ici_flags(course) == []


@pytest.mark.parametrize("organ", ["arthritis", "diabetes", "other"])
def test_it_never_flags_organs_without_a_signal_in_format_1(organ: str) -> None:
    course = prior(organ).obs(STOOL, 1500, "mL", at=8, period_h=8).obs(SPO2, 85, "%", at=9)
    assert ici_flags(course) == []


# -- hepatitis ------------------------------------------------------------------------------


def test_it_flags_prior_hepatitis_with_alt_grade_2() -> None:
    course = prior("hepatitis", grade=3, agent="ipilimumab+nivolumab", resolved="2026-05-10")
    course.obs(ALT, 20, "U/L", at=0).obs(ALT, 168, "U/L", at=30)
    flag = only(ici_flags(course))
    assert (flag.category, flag.code, flag.irae, flag.severity) == (
        "ici_recurrence",
        "ici.hepatitis",
        "hepatitis",
        "warning",
    )
    assert flag.message.startswith(
        "Possible recurrence of prior ICI hepatitis (grade 3, ipilimumab+nivolumab, "
        "resolved 2026-05-10): ALT 4.2× ULN"
    )
    assert flag.differential is not None
    assert "prior hepatitis grade 3" in flag.differential.favors_ici


def test_it_does_not_flag_prior_hepatitis_at_alt_grade_1() -> None:
    course = prior("hepatitis").obs(ALT, 20, "U/L", at=0).obs(ALT, 120, "U/L", at=30)
    assert ici_flags(course) == []


@pytest.mark.parametrize(("value", "unit"), [(1.81, "mg/dL"), (1.81 * 17.1, "umol/L")])
def test_it_flags_prior_hepatitis_on_bilirubin_grade_2(value: float, unit: str) -> None:
    course = prior("hepatitis").obs(BILI, 0.5, "mg/dL", at=0).obs(BILI, value, unit, at=30)
    assert only(ici_flags(course)).code == "ici.hepatitis"


@pytest.mark.parametrize(("value", "unit"), [(1.8, "mg/dL"), (30.78, "umol/L")])
def test_it_does_not_flag_prior_hepatitis_on_bilirubin_1_5x(value: float, unit: str) -> None:
    course = prior("hepatitis").obs(BILI, 0.5, "mg/dL", at=0).obs(BILI, value, unit, at=30)
    assert ici_flags(course) == []


def test_it_flags_prior_hepatitis_on_hys_law_as_critical() -> None:
    course = prior("hepatitis").obs(ALT, 120, "U/L", at=0).obs(BILI, 2.5, "mg/dL", at=0)
    course.obs(ALP, 100, "U/L", at=0)  # abnormal baselines: grade 0, but Hy's law by ULN
    assert only(ici_flags(course)).severity == "critical"


def test_it_makes_prior_hepatitis_critical_from_grade_3() -> None:
    course = prior("hepatitis").obs(ALT, 20, "U/L", at=0).obs(ALT, 201, "U/L", at=30)
    assert only(ici_flags(course)).severity == "critical"


def test_it_lists_a_hepatocellular_pattern_for_ici_and_cholestatic_for_il2() -> None:
    hepatocellular = prior("hepatitis").obs(ALT, 20, "U/L", at=0).obs(ALP, 80, "U/L", at=0)
    hepatocellular.obs(ALT, 240, "U/L", at=30).obs(ALP, 130, "U/L", at=30)
    d = only(ici_flags(hepatocellular)).differential
    assert d is not None
    assert "hepatocellular pattern (R 6)" in d.favors_ici
    cholestatic = prior("hepatitis").obs(BILI, 0.5, "mg/dL", at=0).obs(ALP, 80, "U/L", at=0)
    cholestatic.obs(ALT, 50, "U/L", at=30).obs(ALP, 400, "U/L", at=30)
    cholestatic.obs(BILI, 2.5, "mg/dL", at=30)
    d = only(ici_flags(cholestatic)).differential
    assert d is not None
    assert any(f.startswith("cholestatic pattern") for f in d.favors_il2)
    assert "bilirubin-led rise" in d.favors_il2


def test_it_lists_concurrent_leak_signs_and_dosing_onset_for_il2() -> None:
    course = prior("hepatitis").dose(1, 1, at=2).dose(1, 2, at=10)
    course.obs(ALT, 20, "U/L", at=0).obs(ALT, 130, "U/L", at=20)
    course.obs(SBP, 80, "mm[Hg]", at=18).obs("1751-7", 2.6, "g/dL", at=19)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert any(f.startswith("concurrent capillary-leak signs: SBP 80") for f in d.favors_il2)
    assert any("albumin 2.6" in f for f in d.favors_il2)
    assert any(f.startswith("onset during dosing") for f in d.favors_il2)
    assert d.favors_ici == ()


def test_it_lists_late_onset_and_no_leak_signs_for_ici() -> None:
    course = prior("hepatitis").dose(1, 1, at=2).obs(ALT, 20, "U/L", at=0)
    course.obs(ALT, 130, "U/L", at=60).obs(ALT, 170, "U/L", at=80)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert "onset 58 h after the last IL-2 dose" in d.favors_ici
    assert "aminotransferase rise without capillary-leak signs" in d.favors_ici
    assert "still rising more than 48 h after the last dose" in d.favors_ici
    assert d.favors_il2 == ()


def test_it_counts_a_signal_before_the_first_dose() -> None:
    course = prior("hepatitis").obs(ALT, 20, "U/L", at=0).obs(ALT, 130, "U/L", at=1)
    course.dose(1, 1, at=4)
    flag = only(ici_flags(course))
    assert flag.after_dose == 0
    assert flag.differential is not None
    assert "present before the first IL-2 dose" in flag.differential.favors_ici


def test_it_raises_one_flag_for_two_prior_toxicities_of_one_organ() -> None:
    course = prior("hepatitis", grade=2, agent="pembrolizumab")
    course.prior("hepatitis", grade=4, agent="ipilimumab")
    course.obs(ALT, 20, "U/L", at=0).obs(ALT, 130, "U/L", at=30)
    flag = only(ici_flags(course))
    assert "(grade 4, ipilimumab" in flag.message


# -- colitis --------------------------------------------------------------------------------


@pytest.mark.parametrize(("volume", "flagged"), [(999, False), (1000, True), (1001, True)])
def test_it_flags_prior_colitis_from_1000_ml_per_8_h(volume: float, flagged: bool) -> None:
    course = prior("colitis").obs(STOOL, volume, "mL", at=10, period_h=8)
    assert [f.irae for f in ici_flags(course)] == (["colitis"] if flagged else [])


def test_it_pro_rates_stool_to_8_hours() -> None:
    four_hours = prior("colitis").obs(STOOL, 500, "mL", at=10, period_h=4)
    assert only(ici_flags(four_hours)).code == "ici.colitis"
    twelve_hours = prior("colitis").obs(STOOL, 1400, "mL", at=10, period_h=12)  # 933 per 8 h
    assert ici_flags(twelve_hours) == []


def test_it_makes_colitis_critical_on_two_consecutive_periods() -> None:
    once = prior("colitis").obs(STOOL, 1200, "mL", at=10, period_h=8)
    assert only(ici_flags(once)).severity == "warning"
    twice = once.obs(STOOL, 1100, "mL", at=18, period_h=8)
    assert only(ici_flags(twice)).severity == "critical"


def test_it_lists_prior_ctla4_colitis_and_building_diarrhoea() -> None:
    course = prior("colitis", agent="ipilimumab+nivolumab")
    for n, volume in enumerate((300, 600, 1100), start=1):
        course.dose(1, n, at=8 * n - 6).obs(STOOL, volume, "mL", at=8 * n, period_h=8)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert "prior colitis on anti-CTLA-4 (ipilimumab+nivolumab)" in d.favors_ici
    assert "diarrhoea building with each dose (300→1100 mL/8 h)" in d.favors_il2


def test_it_lists_diarrhoea_persisting_after_the_last_dose() -> None:
    course = prior("colitis").dose(1, 1, at=2).obs(STOOL, 1200, "mL", at=10, period_h=8)
    course.obs(STOOL, 1000, "mL", at=70, period_h=8)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert "diarrhoea persisting 68 h after the last dose" in d.favors_ici


# -- pneumonitis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "flagged"),
    [
        (SPO2, 92, "%", False),
        (SPO2, 91.9, "%", True),
        ("2708-6", 91, "%", True),
        (FLOW, 2.9, "L/min", False),
        (FLOW, 3, "L/min", True),
    ],
)
def test_it_flags_prior_pneumonitis_on_spo2_below_92_or_o2_from_3(
    code: str, value: float, unit: str, flagged: bool
) -> None:
    course = prior("pneumonitis").obs(code, value, unit, at=5)
    assert [f.code for f in ici_flags(course)] == (["ici.pneumonitis"] if flagged else [])


def test_it_makes_pneumonitis_critical_below_90_or_above_4_l() -> None:
    assert only(ici_flags(prior("pneumonitis").obs(SPO2, 90, "%", at=5))).severity == "warning"
    assert only(ici_flags(prior("pneumonitis").obs(SPO2, 89, "%", at=5))).severity == "critical"
    high_flow = prior("pneumonitis").obs(FLOW, 5, "L/min", at=5)
    assert only(ici_flags(high_flow)).severity == "critical"


def test_it_weighs_hypoxia_against_leak_signs() -> None:
    bare = only(ici_flags(prior("pneumonitis").obs(SPO2, 91, "%", at=5))).differential
    assert bare is not None
    assert "hypoxia without weight gain, rales, low albumin or oliguria" in bare.favors_ici
    wet = prior("pneumonitis").obs(SPO2, 91, "%", at=5).obs("29463-7", 80, "kg", at=6)
    d = only(ici_flags(wet)).differential
    assert d is not None
    assert "concurrent capillary-leak signs: weight +11.1%" in d.favors_il2


# -- thyroiditis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flagged"), [(0.39, True), (0.4, False), (4.0, False), (4.01, True)]
)
def test_it_flags_prior_thyroiditis_on_tsh_outside_limits(value: float, flagged: bool) -> None:
    course = prior("thyroiditis").obs(TSH, value, "m[IU]/L", at=5)
    flags = ici_flags(course)
    assert [(f.code, f.severity) for f in flags] == (
        [("ici.thyroiditis", "warning")] if flagged else []
    )


def test_it_uses_the_labs_tsh_limits() -> None:
    course = prior("thyroiditis").obs(TSH, 4.5, "m[IU]/L", at=5, ref_low=0.3, ref_high=5.0)
    assert ici_flags(course) == []


# -- hypophysitis / adrenal insufficiency -----------------------------------------------------


@pytest.mark.parametrize("organ", ["hypophysitis", "adrenal_insufficiency"])
@pytest.mark.parametrize(
    ("sodium", "sbp", "sbp_at", "flagged"),
    [
        (129, 84, 5, True),
        (129.9, 84, 17, True),  # SBP 12 h later: measured together
        (129, 84, 17.1, False),  # 12.1 h apart
        (130, 84, 5, False),
        (129, 85, 5, False),  # at target 85 is not below
    ],
)
def test_it_flags_prior_endocrine_toxicity_on_low_sodium_with_sbp_below_target(
    organ: str, sodium: float, sbp: float, sbp_at: float, flagged: bool
) -> None:
    course = prior(organ).obs(NA, sodium, "mmol/L", at=5).obs(SBP, sbp, "mm[Hg]", at=sbp_at)
    flags = ici_flags(course)
    assert [(f.irae, f.severity) for f in flags] == ([(organ, "critical")] if flagged else [])


def test_it_times_the_endocrine_signal_when_both_are_known() -> None:
    course = prior("hypophysitis").obs(NA, 125, "meq/L", at=5).obs(SBP, 80, "mm[Hg]", at=9)
    flag = only(ici_flags(course))
    assert flag.time.hour == 15  # admitted 06:00 + 9 h


def test_it_raises_one_flag_each_for_hypophysitis_and_adrenal_insufficiency() -> None:
    course = prior("hypophysitis").prior("adrenal_insufficiency")
    course.obs(NA, 125, "mmol/L", at=5).obs(SBP, 80, "mm[Hg]", at=5)
    assert sorted(f.code for f in ici_flags(course)) == [
        "ici.adrenal_insufficiency",
        "ici.hypophysitis",
    ]


# -- nephritis --------------------------------------------------------------------------------


@pytest.mark.parametrize("si", [False, True])
@pytest.mark.parametrize(
    ("baseline", "value", "flagged"),
    [
        (1.0, 1.5, False),  # 1.25x ULN grade 1; 1.5x baseline is not above 1.5x
        (1.0, 1.51, True),  # > 1.5x baseline: grade 2
        (1.2, 1.8, False),  # 1.5x ULN and 1.5x baseline: grade 1
        (1.2, 1.81, True),  # > 1.5x ULN: grade 2
        (0.6, 0.91, True),  # within limits but > 1.5x baseline: grade 2 (REFERENCE §8)
        (0.6, 0.9, False),
    ],
)
def test_it_flags_prior_nephritis_on_creatinine_grade_2(
    baseline: float, value: float, flagged: bool, si: bool
) -> None:
    factor, unit = (CREAT_UMOL, "umol/L") if si else (1.0, "mg/dL")
    course = prior("nephritis").obs(CREAT, baseline * factor, unit, at=0)
    course.obs(CREAT, value * factor, unit, at=30)
    assert [f.code for f in ici_flags(course)] == (["ici.nephritis"] if flagged else [])


def test_it_makes_nephritis_critical_from_creatinine_3() -> None:
    course = prior("nephritis").obs(CREAT, 1.0, "mg/dL", at=0)
    assert only(ici_flags(course.obs(CREAT, 2.9, "mg/dL", at=30))).severity == "warning"
    assert only(ici_flags(course.obs(CREAT, 265.2, "umol/L", at=40))).severity == "critical"


def test_it_weighs_creatinine_against_oliguria() -> None:
    dry = prior("nephritis").obs(CREAT, 1.0, "mg/dL", at=0).obs(CREAT, 2.0, "mg/dL", at=30)
    d = only(ici_flags(dry)).differential
    assert d is not None
    assert "creatinine rising without oliguria or hypotension" in d.favors_ici
    oliguric = dry.obs("9187-6", 100, "mL", at=28, period_h=8)
    d = only(ici_flags(oliguric)).differential
    assert d is not None
    assert "oliguria or pressor need: urine 100 mL/8 h" in d.favors_il2


# -- myocarditis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "value", "unit", "flagged"),
    [
        (TNI, 0.04, "ng/mL", False),
        (TNI, 0.041, "ng/mL", True),
        (TNI_HS, 26, "ng/L", False),
        (TNI_HS, 27, "ng/L", True),
        (RHYTHM, "sinus", None, False),
        (RHYTHM, "af", None, True),
        (RHYTHM, "vt", None, True),
        (RHYTHM, "ischemic_changes", None, True),
    ],
)
def test_it_flags_prior_myocarditis_on_troponin_or_rhythm(
    code: str, value: float | str, unit: str | None, flagged: bool
) -> None:
    course = prior("myocarditis").obs(code, value, unit, at=5)
    flags = ici_flags(course)
    assert [(f.code, f.severity) for f in flags] == (
        [("ici.myocarditis", "critical")] if flagged else []
    )


def test_it_lists_af_with_tachycardia_and_hypotension_for_il2() -> None:
    course = prior("myocarditis").obs(RHYTHM, "af", at=5).obs("8867-4", 140, "/min", at=5)
    course.obs(SBP, 80, "mm[Hg]", at=5)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert "supraventricular rhythm (af) with tachycardia and hypotension" in d.favors_il2


def test_it_lists_rising_troponin_for_ici() -> None:
    course = prior("myocarditis").obs(TNI, 0.05, "ng/mL", at=5).obs(TNI, 0.2, "ng/mL", at=15)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert "troponin still rising" in d.favors_ici


# -- dermatitis -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "flagged"),
    [("normal", False), ("erythema", False), ("moist_desquamation", True), ("bullous", True)],
)
def test_it_flags_prior_dermatitis_on_moist_desquamation_or_bullae(
    value: str, flagged: bool
) -> None:
    course = prior("dermatitis").obs(SKIN, value, at=5)
    assert [f.code for f in ici_flags(course)] == (["ici.dermatitis"] if flagged else [])


def test_it_lists_erythema_moving_to_desquamation_during_dosing_for_il2() -> None:
    course = prior("dermatitis").dose(1, 1, at=1).obs(SKIN, "erythema", at=5)
    course.obs(SKIN, "moist_desquamation", at=20)
    d = only(ici_flags(course)).differential
    assert d is not None
    assert "erythema moving to desquamation during dosing" in d.favors_il2
