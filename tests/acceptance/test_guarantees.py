"""Acceptance: every row of the "Minimum guarantees" table, both directions (conventional units).

Written from /work/shared/spec/assessment-format.md, course-format.md and clinical/REFERENCE.md
only. Times are hours after admission (2026-11-20T06:00Z). Patient 72 kg, usual SBP 118 (target
SBP T = 85) unless a case says otherwise.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.acceptance.support import CourseBuilder, advice, flags, result, same_time

Obs = tuple[Any, ...]  # (code, value, unit | None, {extra fields})


def o(code: str, value: float | str, unit: str | None = None, **extra: Any) -> Obs:
    return (code, value, unit, extra)


def add(b: CourseBuilder, at: float | str, *items: Obs) -> CourseBuilder:
    for code, value, unit, extra in items:
        b.obs(code, value, unit, at=at, **extra)
    return b


# --------------------------------------------------------------------------------------------
# capillary_leak
# --------------------------------------------------------------------------------------------

CLS_SIGNS: dict[str, list[tuple[str, Obs]]] = {
    "pressure": [
        ("sbp_below_target", o("8480-6", 84, "mm[Hg]")),
        ("phenylephrine", o("il2tox:phenylephrine", 0.2, "ug/kg/min")),
    ],
    "weight": [("weight_10pct", o("29463-7", 79.2, "kg"))],
    "urine": [("urine_159", o("9187-6", 159, "mL", period_h=8))],
    "albumin": [("albumin_2.9", o("1751-7", 2.9, "g/dL"))],
    "lung": [
        ("rales_third", o("il2tox:rales", "third")),
        ("rales_half", o("il2tox:rales", "half")),
        ("o2_3", o("3151-8", 3, "L/min")),
    ],
}


def _cls_pairs() -> list[Any]:
    groups = list(CLS_SIGNS)
    cases = []
    for i, g1 in enumerate(groups):
        for g2 in groups[i + 1 :]:
            for n1, s1 in CLS_SIGNS[g1]:
                for n2, s2 in CLS_SIGNS[g2]:
                    cases.append(pytest.param(s1, s2, id=f"{n1}+{n2}"))
    return cases


@pytest.mark.parametrize(("sign1", "sign2"), _cls_pairs())
def test_cls_present_when_two_signs_at_the_same_time(sign1: Obs, sign2: Obs) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 10, sign1, sign2)
    assert flags(result(b), "capillary_leak"), "two CLS signs measured together must flag"


@pytest.mark.parametrize(("sign1", "sign2"), _cls_pairs()[:6])
def test_cls_present_when_two_signs_exactly_12h_apart(sign1: Obs, sign2: Obs) -> None:
    """Measured together = observation times at most 12 h apart (12 h itself included)."""
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 10, sign1)
    add(b, 22, sign2)
    assert flags(result(b), "capillary_leak")


def test_cls_present_before_first_dose_too() -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    add(b, 1, o("8480-6", 84, "mm[Hg]"), o("1751-7", 2.9, "g/dL"))
    assert flags(result(b), "capillary_leak")


@pytest.mark.parametrize(
    ("usual_sbp", "sbp"),
    [(99, 79), (100, 84), (120, 84), (121, 89), (None, 89)],
    ids=["usual99-T80", "usual100-T85", "usual120-T85", "usual121-T90", "usual_missing-T90"],
)
def test_cls_sbp_sign_uses_individual_target(usual_sbp: float | None, sbp: float) -> None:
    b = CourseBuilder(usual_sbp=usual_sbp).dose(1, 1, at=2)
    add(b, 10, o("8480-6", sbp, "mm[Hg]"), o("9187-6", 150, "mL", period_h=8))
    assert flags(result(b), "capillary_leak")


def _normal_course(usual_sbp: float | None = 118) -> CourseBuilder:
    """A course where none of the CLS signs ever appears (values at the non-sign boundary)."""
    b = CourseBuilder(usual_sbp=usual_sbp)
    for n, t in enumerate((2, 10, 18, 26, 34), start=1):
        b.dose(1, n, at=t)
    targets: dict[float | None, int] = {None: 90, 99: 80, 118: 85, 130: 90}
    sbp_at_target = targets[usual_sbp]
    for t in (0, 9, 17, 25, 33):
        add(
            b,
            t,
            o("8480-6", sbp_at_target, "mm[Hg]"),
            o("29463-7", 79.1, "kg"),
            o("9187-6", 160, "mL", period_h=8),
            o("1751-7", 3.0, "g/dL"),
            o("il2tox:rales", "bases"),
            o("3151-8", 2.9, "L/min"),
            o("8867-4", 125, "/min"),
            o("8310-5", 39.4, "Cel"),
        )
    return b


@pytest.mark.parametrize("usual_sbp", [None, 99, 118, 130])
def test_cls_absent_when_no_sign_in_whole_course(usual_sbp: float | None) -> None:
    res = result(_normal_course(usual_sbp))
    assert flags(res, "capillary_leak") == []


def test_cls_absent_in_a_course_with_no_observations() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    assert flags(result(b), "capillary_leak") == []


# --------------------------------------------------------------------------------------------
# hepatitis
# --------------------------------------------------------------------------------------------

LIVER_NORMAL = (
    o("1742-6", 30, "U/L"),
    o("1920-8", 30, "U/L"),
    o("6768-6", 100, "U/L"),
    o("1975-2", 0.8, "mg/dL"),
)


@pytest.mark.parametrize(
    "later",
    [
        pytest.param([o("1742-6", 121, "U/L")], id="alt_g2"),
        pytest.param([o("1920-8", 121, "U/L")], id="ast_g2"),
        pytest.param([o("1742-6", 900, "U/L")], id="alt_g4"),
        pytest.param([o("1975-2", 1.81, "mg/dL")], id="bilirubin_g2"),
        pytest.param([o("1975-2", 4.0, "mg/dL")], id="bilirubin_g3"),
    ],
)
def test_hepatitis_present_on_grade_2(later: list[Obs]) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, *LIVER_NORMAL)
    add(b, 14, *later)
    assert flags(result(b), "hepatitis")


def test_hepatitis_present_on_grade_2_by_the_lab_uln() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 15, "U/L", ref_high=20))
    add(b, 14, o("1742-6", 61, "U/L", ref_high=20))
    assert flags(result(b), "hepatitis")


def test_hepatitis_present_on_abnormal_baseline_grade_2() -> None:
    """ALT baseline 100 (> ULN 40): 301 is > 3.0 x baseline, grade 2."""
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 100, "U/L"))
    add(b, 14, o("1742-6", 301, "U/L"))
    assert flags(result(b), "hepatitis")


def test_hepatitis_present_on_hys_law_alone() -> None:
    """Bilirubin baseline 2.0 (abnormal) so 2.5 is grade 1; ALT 120 = 3 x ULN is grade 1;
    but ALT >= 3 x ULN, bilirubin 2.5 > 2 x 1.2 and ALP 100 < 2 x 130 together = Hy's law."""
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 30, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 2.0, "mg/dL"))
    add(b, 14, o("1742-6", 120, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 2.5, "mg/dL"))
    res = result(b)
    assert any(row["hys_law"] for row in res["liver"])
    assert flags(res, "hepatitis")


def test_hepatitis_absent_when_every_liver_test_within_limits() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    for t in (0, 8, 16):
        add(
            b,
            t,
            o("1742-6", 40, "U/L"),
            o("1920-8", 40, "U/L"),
            o("6768-6", 130, "U/L"),
            o("1975-2", 1.2, "mg/dL"),
        )
    add(b, 20, o("1742-6", 55, "U/L", ref_high=56), o("1975-2", 1.9, "mg/dL", ref_high=2.0))
    assert flags(result(b), "hepatitis") == []


# --------------------------------------------------------------------------------------------
# ici_recurrence
# --------------------------------------------------------------------------------------------

# (signal observations as (hour, obs) pairs)
ICI_SIGNALS: dict[str, list[tuple[str, list[tuple[float, Obs]]]]] = {
    "hepatitis": [
        ("alt_g2", [(0, o("1742-6", 30, "U/L")), (14, o("1742-6", 200, "U/L"))]),
        ("bilirubin_g2", [(0, o("1975-2", 0.8, "mg/dL")), (14, o("1975-2", 2.0, "mg/dL"))]),
    ],
    "colitis": [
        ("stool_1000", [(14, o("il2tox:stool-volume", 1000, "mL", period_h=8))]),
        ("stool_500_in_4h", [(14, o("il2tox:stool-volume", 500, "mL", period_h=4))]),
    ],
    "pneumonitis": [
        ("spo2_91.9", [(14, o("59408-5", 91.9, "%"))]),
        ("spo2_2708_91", [(14, o("2708-6", 91, "%"))]),
        ("o2_3", [(14, o("3151-8", 3, "L/min"))]),
    ],
    "thyroiditis": [
        ("tsh_high", [(14, o("3016-3", 4.1, "m[IU]/L"))]),
        ("tsh_low", [(14, o("3016-3", 0.39, "m[IU]/L"))]),
    ],
    "hypophysitis": [
        ("na129_sbp84", [(14, o("2951-2", 129, "mmol/L")), (14, o("8480-6", 84, "mm[Hg]"))]),
        (
            "na129.9_sbp_11h_later",
            [(3, o("2951-2", 129.9, "meq/L")), (14, o("8480-6", 80, "mm[Hg]"))],
        ),
    ],
    "adrenal_insufficiency": [
        ("na129_sbp84", [(14, o("2951-2", 129, "mmol/L")), (14, o("8480-6", 84, "mm[Hg]"))]),
        (
            "na125_sbp_12h_earlier",
            [(2, o("8480-6", 84, "mm[Hg]")), (14, o("2951-2", 125, "mmol/L"))],
        ),
    ],
    "nephritis": [
        ("creat_g2_by_uln", [(0, o("2160-0", 0.8, "mg/dL")), (14, o("2160-0", 1.9, "mg/dL"))]),
        ("creat_g2_by_baseline", [(0, o("2160-0", 0.8, "mg/dL")), (14, o("2160-0", 1.3, "mg/dL"))]),
    ],
    "myocarditis": [
        ("troponin_0.05", [(14, o("10839-9", 0.05, "ng/mL"))]),
        ("hs_troponin_27", [(14, o("89579-7", 27, "ng/L"))]),
        ("rhythm_af", [(14, o("il2tox:rhythm", "af"))]),
        ("rhythm_vt", [(14, o("il2tox:rhythm", "vt"))]),
    ],
    "dermatitis": [
        ("moist_desquamation", [(14, o("il2tox:skin", "moist_desquamation"))]),
        ("bullous", [(14, o("il2tox:skin", "bullous"))]),
    ],
}

# Values at the edge that are NOT the organ's signal.
ICI_NON_SIGNALS: dict[str, list[tuple[float, Obs]]] = {
    "hepatitis": [(0, o("1742-6", 30, "U/L")), (14, o("1742-6", 120, "U/L"))],
    "colitis": [
        (6, o("il2tox:stool-volume", 999, "mL", period_h=8)),
        (14, o("il2tox:stool-volume", 999, "mL", period_h=8)),
    ],
    "pneumonitis": [(14, o("59408-5", 92, "%")), (14, o("3151-8", 2.9, "L/min"))],
    "thyroiditis": [(0, o("3016-3", 0.4, "m[IU]/L")), (14, o("3016-3", 4.0, "m[IU]/L"))],
    "hypophysitis": [
        (0, o("2951-2", 129, "mmol/L")),
        (13, o("8480-6", 84, "mm[Hg]")),
        (20, o("2951-2", 130, "mmol/L")),
        (40, o("2951-2", 126, "mmol/L")),
        (40, o("8480-6", 85, "mm[Hg]")),
    ],
    "nephritis": [(0, o("2160-0", 1.0, "mg/dL")), (14, o("2160-0", 1.5, "mg/dL"))],
    "myocarditis": [(14, o("10839-9", 0.04, "ng/mL")), (14, o("il2tox:rhythm", "sinus"))],
    "dermatitis": [(14, o("il2tox:skin", "erythema"))],
}
ICI_NON_SIGNALS["adrenal_insufficiency"] = ICI_NON_SIGNALS["hypophysitis"]


def _ici_course(organ_prior: str | None, obs: list[tuple[float, Obs]]) -> CourseBuilder:
    b = CourseBuilder().dose(1, 1, at=12).dose(1, 2, at=20)
    if organ_prior is not None:
        b.prior(organ_prior, grade=2, resolved="2026-06-01")
    for t, item in obs:
        add(b, t, item)
    return b


def _ici_present_cases() -> list[Any]:
    return [
        pytest.param(organ, obs, id=f"{organ}-{name}")
        for organ, variants in ICI_SIGNALS.items()
        for name, obs in variants
    ]


@pytest.mark.parametrize(("organ", "signal"), _ici_present_cases())
def test_ici_recurrence_present_with_prior_and_signal(
    organ: str, signal: list[tuple[float, Obs]]
) -> None:
    res = result(_ici_course(organ, signal))
    found = flags(res, "ici_recurrence", irae=organ)
    assert found, f"expected ici_recurrence with irae {organ}: {res['flags']}"
    for flag in found:
        diff = flag["differential"]
        assert isinstance(diff, dict)
        assert isinstance(diff["favors_ici"], list)
        assert isinstance(diff["favors_il2"], list)
        assert all(isinstance(s, str) and s for s in diff["favors_ici"] + diff["favors_il2"])


@pytest.mark.parametrize("organ", list(ICI_SIGNALS))
def test_ici_recurrence_signal_before_first_dose_counts(organ: str) -> None:
    """'During the admission' includes the time before the first dose."""
    signal = ICI_SIGNALS[organ][0][1]
    b = CourseBuilder().dose(1, 1, at=30)
    b.prior(organ, grade=2, resolved="2026-06-01")
    for t, item in signal:
        add(b, t, item)
    assert flags(result(b), "ici_recurrence", irae=organ)


@pytest.mark.parametrize(("organ", "signal"), _ici_present_cases())
@pytest.mark.parametrize("other_prior", [None, "arthritis", "other"])
def test_ici_recurrence_absent_without_prior_toxicity_of_that_organ(
    organ: str, signal: list[tuple[float, Obs]], other_prior: str | None
) -> None:
    res = result(_ici_course(other_prior, signal))
    assert flags(res, "ici_recurrence", irae=organ) == []


@pytest.mark.parametrize("organ", list(ICI_NON_SIGNALS))
def test_ici_recurrence_absent_without_signal(organ: str) -> None:
    res = result(_ici_course(organ, ICI_NON_SIGNALS[organ]))
    assert flags(res, "ici_recurrence", irae=organ) == []


@pytest.mark.parametrize("organ", list(ICI_SIGNALS))
def test_ici_recurrence_absent_with_prior_and_no_observations(organ: str) -> None:
    res = result(_ici_course(organ, []))
    assert flags(res, "ici_recurrence") == []


def test_ici_recurrence_one_flag_organ_per_prior() -> None:
    """Two priors, only one organ's signal: only that organ gets a flag."""
    b = _ici_course("colitis", [(14, o("il2tox:skin", "bullous"))])
    b.prior("dermatitis", grade=2, resolved="2026-06-01")
    res = result(b)
    assert flags(res, "ici_recurrence", irae="dermatitis")
    assert flags(res, "ici_recurrence", irae="colitis") == []


# --------------------------------------------------------------------------------------------
# eligibility
# --------------------------------------------------------------------------------------------

BASELINE_NORMAL = (
    o("1742-6", 30, "U/L"),
    o("1920-8", 30, "U/L"),
    o("6768-6", 100, "U/L"),
    o("1975-2", 0.8, "mg/dL"),
    o("2160-0", 1.0, "mg/dL"),
    o("1751-7", 3.8, "g/dL"),
    o("777-3", 220, "10*3/uL"),
    o("2951-2", 139, "mmol/L"),
    o("2823-3", 4.2, "mmol/L"),
    o("3016-3", 1.5, "m[IU]/L"),
    o("10839-9", 0.01, "ng/mL"),
    o("718-7", 13.5, "g/dL"),
    o("6690-2", 6.0, "10*3/uL"),
    o("8867-4", 78, "/min"),
    o("8480-6", 122, "mm[Hg]"),
    o("9279-1", 14, "/min"),
    o("59408-5", 98, "%"),
    o("8310-5", 36.8, "Cel"),
    o("il2tox:acvpu", "A"),
)

GOOD_HISTORY = {"brain_metastases": "none", "systemic_steroids": False, "ecog": 0}


def _eligibility_course(**history: Any) -> CourseBuilder:
    b = CourseBuilder(history={**GOOD_HISTORY, **history}).dose(1, 1, at=4)
    add(b, 0, *BASELINE_NORMAL)
    return b


@pytest.mark.parametrize(
    "history",
    [
        pytest.param({"brain_metastases": "untreated_or_active"}, id="brain_mets_active"),
        pytest.param({"systemic_steroids": True}, id="steroids"),
    ],
)
def test_eligibility_critical_from_history(history: dict[str, Any]) -> None:
    res = result(_eligibility_course(**history))
    assert flags(res, "eligibility", severity="critical")


def test_eligibility_critical_for_unresolved_prior_toxicity() -> None:
    b = _eligibility_course().prior("colitis", grade=3, resolved=None)
    assert flags(result(b), "eligibility", severity="critical")


@pytest.mark.parametrize("ecog", [2, 3, 4])
def test_eligibility_any_severity_for_ecog_2_or_more(ecog: int) -> None:
    assert flags(result(_eligibility_course(ecog=ecog)), "eligibility")


@pytest.mark.parametrize(
    "history",
    [
        pytest.param({}, id="ecog0"),
        pytest.param({"ecog": 1}, id="ecog1"),
        pytest.param({"brain_metastases": "treated_stable", "ecog": 1}, id="treated_stable"),
        pytest.param({"prior_therapies": ["pembrolizumab"]}, id="prior_therapy"),
    ],
)
def test_eligibility_absent_when_nothing_applies(history: dict[str, Any]) -> None:
    b = _eligibility_course(**history)
    b.prior("hepatitis", grade=3, resolved="2026-05-10")
    # Abnormal values AFTER the first dose must not make an eligibility flag.
    add(
        b,
        10,
        o("2160-0", 3.5, "mg/dL"),
        o("1742-6", 300, "U/L"),
        o("777-3", 20, "10*3/uL"),
        o("8480-6", 70, "mm[Hg]"),
        o("il2tox:acvpu", "V"),
    )
    assert flags(result(b), "eligibility") == []


# --------------------------------------------------------------------------------------------
# renal
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "items",
    [
        pytest.param(
            [(0, o("2160-0", 1.0, "mg/dL")), (14, o("2160-0", 2.5, "mg/dL"))], id="creat_2.5"
        ),
        pytest.param([(14, o("2160-0", 2.5, "mg/dL"))], id="creat_2.5_only_value"),
        pytest.param([(14, o("2160-0", 4.0, "mg/dL"))], id="creat_4"),
        pytest.param([(14, o("9187-6", 159.9, "mL", period_h=8))], id="urine_159.9"),
        pytest.param([(14, o("9187-6", 79.9, "mL", period_h=4))], id="urine_79.9_in_4h"),
        pytest.param([(14, o("9187-6", 239, "mL", period_h=12))], id="urine_239_in_12h"),
        pytest.param([(14, o("9187-6", 0, "mL", period_h=8))], id="anuria"),
    ],
)
def test_renal_present(items: list[tuple[float, Obs]]) -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    for t, item in items:
        add(b, t, item)
    assert flags(result(b), "renal")


def test_renal_absent_when_creatinine_normal_and_urine_at_least_half_ml_per_kg_h() -> None:
    """72 kg: 0.5 mL/kg/h = 288 mL/8 h. Per kg uses patient.weight_kg, not the day's weight."""
    b = CourseBuilder(weight_kg=72).dose(1, 1, at=2).dose(1, 2, at=10).dose(1, 3, at=18)
    add(b, 0, o("2160-0", 1.0, "mg/dL"), o("9187-6", 300, "mL", period_h=8))
    add(b, 8, o("2160-0", 1.2, "mg/dL"), o("9187-6", 288, "mL", period_h=8))
    add(b, 12, o("9187-6", 144, "mL", period_h=4), o("29463-7", 76, "kg"))
    add(b, 24, o("2160-0", 1.1, "mg/dL"), o("9187-6", 432, "mL", period_h=12))
    assert flags(result(b), "renal") == []


# --------------------------------------------------------------------------------------------
# dose_advice
# --------------------------------------------------------------------------------------------

DOSE_AT = 12.0
OBS_AT = 11.0

NORMAL_DOSE_ITEMS: dict[str, list[Obs]] = {
    "hr": [o("8867-4", 80, "/min")],
    "sbp": [o("8480-6", 120, "mm[Hg]")],
    "spo2": [o("59408-5", 97, "%")],
    "o2": [o("3151-8", 0, "L/min")],
    "rales": [o("il2tox:rales", "none")],
    "urine": [o("9187-6", 400, "mL", period_h=8)],
    "creatinine": [o("2160-0", 1.0, "mg/dL")],
    "platelets": [o("777-3", 200, "10*3/uL")],
    "bilirubin": [o("1975-2", 0.8, "mg/dL")],
    "weight": [o("29463-7", 72, "kg")],
    "acvpu": [o("il2tox:acvpu", "A")],
    "cognition": [o("il2tox:cognition", "pass")],
    "rhythm": [o("il2tox:rhythm", "sinus")],
    "troponin": [o("10839-9", 0.01, "ng/mL")],
    "skin": [o("il2tox:skin", "normal")],
    "stool": [o("il2tox:stool-volume", 0, "mL", period_h=8)],
    "phenylephrine": [],
    "fio2": [],
}


def dose_result(
    overrides: dict[str, list[Obs]] | None = None,
    *,
    usual_sbp: float | None = 118,
    weight_kg: float = 72.0,
    extra: list[tuple[float, Obs]] | None = None,
) -> dict[str, Any]:
    b = CourseBuilder(usual_sbp=usual_sbp, weight_kg=weight_kg).dose(1, 1, at=DOSE_AT)
    items = {**NORMAL_DOSE_ITEMS, **(overrides or {})}
    for key, obs in items.items():
        if key == "weight" and obs == NORMAL_DOSE_ITEMS["weight"]:
            add(b, OBS_AT, o("29463-7", weight_kg, "kg"))
        else:
            add(b, OBS_AT, *obs)
    for t, item in extra or []:
        add(b, t, item)
    return advice(result(b), 1, 1)


def _check(row: dict[str, Any], expected: str) -> None:
    assert row["advice"] == expected, row
    if expected == "give":
        assert row["criteria"] == []
    else:
        assert row["criteria"], row


def test_give_with_everything_normal() -> None:
    _check(dose_result(), "give")


def test_give_with_no_observations_at_all() -> None:
    b = CourseBuilder().dose(1, 1, at=DOSE_AT)
    _check(advice(result(b), 1, 1), "give")


SINGLE_ITEM_CASES = [
    # heart rate: caution > 100 and <= 130; hold > 130
    ("hr", o("8867-4", 100, "/min"), "give"),
    ("hr", o("8867-4", 101, "/min"), "caution"),
    ("hr", o("8867-4", 130, "/min"), "caution"),
    ("hr", o("8867-4", 131, "/min"), "hold"),
    # phenylephrine at dosing: caution > 0.5 and <= 0.8; hold > 0.8
    ("phenylephrine", o("il2tox:phenylephrine", 0.5, "ug/kg/min"), "give"),
    ("phenylephrine", o("il2tox:phenylephrine", 0.51, "ug/kg/min"), "caution"),
    ("phenylephrine", o("il2tox:phenylephrine", 0.8, "ug/kg/min"), "caution"),
    ("phenylephrine", o("il2tox:phenylephrine", 0.81, "ug/kg/min"), "hold"),
    # SpO2 < 90 hold (both codes)
    ("spo2", o("59408-5", 89.9, "%"), "hold"),
    ("spo2", o("59408-5", 90, "%"), "give"),
    ("spo2", o("2708-6", 89, "%"), "hold"),
    ("spo2", o("2708-6", 90, "%"), "give"),
    # O2 flow: caution 3-4; hold > 4
    ("o2", o("3151-8", 2.9, "L/min"), "give"),
    ("o2", o("3151-8", 3, "L/min"), "caution"),
    ("o2", o("3151-8", 4, "L/min"), "caution"),
    ("o2", o("3151-8", 4.1, "L/min"), "hold"),
    # FiO2 >= 40 hold
    ("fio2", o("3150-0", 39, "%"), "give"),
    ("fio2", o("3150-0", 40, "%"), "hold"),
    # rales
    ("rales", o("il2tox:rales", "bases"), "give"),
    ("rales", o("il2tox:rales", "third"), "caution"),
    ("rales", o("il2tox:rales", "half"), "hold"),
    # urine pro-rated to 8 h: hold < 80; caution 80-160; give above
    ("urine", o("9187-6", 79.9, "mL", period_h=8), "hold"),
    ("urine", o("9187-6", 80, "mL", period_h=8), "caution"),
    ("urine", o("9187-6", 160, "mL", period_h=8), "caution"),
    ("urine", o("9187-6", 160.1, "mL", period_h=8), "give"),
    ("urine", o("9187-6", 40, "mL", period_h=4), "caution"),
    ("urine", o("9187-6", 39.9, "mL", period_h=4), "hold"),
    ("urine", o("9187-6", 240, "mL", period_h=12), "caution"),
    ("urine", o("9187-6", 241, "mL", period_h=12), "give"),
    # creatinine: caution 2.5 <= x < 3.0; hold >= 3.0
    ("creatinine", o("2160-0", 2.49, "mg/dL"), "give"),
    ("creatinine", o("2160-0", 2.5, "mg/dL"), "caution"),
    ("creatinine", o("2160-0", 2.99, "mg/dL"), "caution"),
    ("creatinine", o("2160-0", 3.0, "mg/dL"), "hold"),
    # platelets: hold < 30; caution 30-50
    ("platelets", o("777-3", 29.9, "10*3/uL"), "hold"),
    ("platelets", o("777-3", 30, "10*3/uL"), "caution"),
    ("platelets", o("777-3", 50, "10*3/uL"), "caution"),
    ("platelets", o("777-3", 50.1, "10*3/uL"), "give"),
    # bilirubin > 7 caution
    ("bilirubin", o("1975-2", 7, "mg/dL"), "give"),
    ("bilirubin", o("1975-2", 7.01, "mg/dL"), "caution"),
    # weight > 15 % over patient.weight_kg (72 kg): 82.8 = 15 %, 82.872 = 15.1 %
    ("weight", o("29463-7", 82.8, "kg"), "give"),
    ("weight", o("29463-7", 82.872, "kg"), "caution"),
    # nursing / cardiac / skin
    ("acvpu", o("il2tox:acvpu", "C"), "hold"),
    ("acvpu", o("il2tox:acvpu", "V"), "hold"),
    ("acvpu", o("il2tox:acvpu", "P"), "hold"),
    ("acvpu", o("il2tox:acvpu", "U"), "hold"),
    ("cognition", o("il2tox:cognition", "fail"), "hold"),
    ("rhythm", o("il2tox:rhythm", "af"), "hold"),
    ("rhythm", o("il2tox:rhythm", "svt"), "hold"),
    ("rhythm", o("il2tox:rhythm", "vt"), "hold"),
    ("rhythm", o("il2tox:rhythm", "ischemic_changes"), "hold"),
    ("troponin", o("10839-9", 0.04, "ng/mL"), "give"),
    ("troponin", o("10839-9", 0.041, "ng/mL"), "hold"),
    ("troponin", o("10839-9", 0.08, "ng/mL", ref_high=0.1), "give"),
    ("troponin", o("89579-7", 26, "ng/L"), "give"),
    ("troponin", o("89579-7", 27, "ng/L"), "hold"),
    ("skin", o("il2tox:skin", "erythema"), "give"),
    ("skin", o("il2tox:skin", "moist_desquamation"), "hold"),
    ("skin", o("il2tox:skin", "bullous"), "hold"),
    # stool, latest period only
    ("stool", o("il2tox:stool-volume", 999, "mL", period_h=8), "give"),
    ("stool", o("il2tox:stool-volume", 1000, "mL", period_h=8), "caution"),
]


@pytest.mark.parametrize(
    ("key", "item", "expected"),
    [
        pytest.param(k, i, e, id=f"{k}-{i[1]}{'' if not i[3] else '-' + str(i[3])}-{e}")
        for k, i, e in SINGLE_ITEM_CASES
    ],
)
def test_dose_advice_single_item(key: str, item: Obs, expected: str) -> None:
    _check(dose_result({key: [item]}), expected)


SBP_BANDS = [(99, 80), (100, 85), (118, 85), (120, 85), (121, 90), (None, 90)]


@pytest.mark.parametrize(("usual_sbp", "target"), SBP_BANDS)
@pytest.mark.parametrize(("delta", "expected"), [(-1, "hold"), (-0.5, "hold"), (0, "give")])
def test_dose_advice_sbp_against_target(
    usual_sbp: float | None, target: int, delta: float, expected: str
) -> None:
    row = dose_result({"sbp": [o("8480-6", target + delta, "mm[Hg]")]}, usual_sbp=usual_sbp)
    _check(row, expected)


def _stool(v1: float, v2: float) -> list[tuple[float, Obs]]:
    return [
        (3, o("il2tox:stool-volume", v1, "mL", period_h=8)),
        (11, o("il2tox:stool-volume", v2, "mL", period_h=8)),
    ]


@pytest.mark.parametrize(
    ("earlier", "latest", "expected"),
    [
        (999, 999, "give"),
        (999, 1000, "caution"),
        (1000, 999, "give"),
        (1000, 1000, "hold"),
        (1500, 1200, "hold"),
    ],
)
def test_dose_advice_stool_two_periods(earlier: float, latest: float, expected: str) -> None:
    row = dose_result({"stool": []}, extra=_stool(earlier, latest))
    _check(row, expected)


def test_dose_advice_two_cautions_is_caution() -> None:
    row = dose_result({"hr": [o("8867-4", 110, "/min")], "rales": [o("il2tox:rales", "third")]})
    _check(row, "caution")
    assert len(row["criteria"]) == 2


@pytest.mark.parametrize(
    "cautions",
    [
        pytest.param(("hr", "rales", "platelets"), id="hr+rales+platelets"),
        pytest.param(("urine", "creatinine", "bilirubin"), id="urine+creatinine+bilirubin"),
        pytest.param(("weight", "o2", "stool", "phenylephrine"), id="four"),
    ],
)
def test_dose_advice_three_cautions_is_hold(cautions: tuple[str, ...]) -> None:
    caution_items = {
        "hr": o("8867-4", 110, "/min"),
        "rales": o("il2tox:rales", "third"),
        "platelets": o("777-3", 40, "10*3/uL"),
        "urine": o("9187-6", 120, "mL", period_h=8),
        "creatinine": o("2160-0", 2.7, "mg/dL"),
        "bilirubin": o("1975-2", 8, "mg/dL"),
        "weight": o("29463-7", 85, "kg"),
        "o2": o("3151-8", 3.5, "L/min"),
        "stool": o("il2tox:stool-volume", 1200, "mL", period_h=8),
        "phenylephrine": o("il2tox:phenylephrine", 0.6, "ug/kg/min"),
    }
    row = dose_result({k: [caution_items[k]] for k in cautions})
    _check(row, "hold")
    assert len(row["criteria"]) >= 3


def test_dose_advice_hold_and_caution_together_is_hold() -> None:
    row = dose_result({"hr": [o("8867-4", 110, "/min")], "skin": [o("il2tox:skin", "bullous")]})
    _check(row, "hold")


# Look-back windows: vitals/oxygen/nursing 12 h; weight and labs 24 h; latest value wins.


@pytest.mark.parametrize(
    ("item", "hours_before", "expected"),
    [
        (o("8867-4", 140, "/min"), 11.9, "hold"),
        (o("8867-4", 140, "/min"), 12.1, "give"),
        (o("il2tox:rales", "half"), 11.9, "hold"),
        (o("il2tox:rales", "half"), 12.1, "give"),
        (o("3151-8", 5, "L/min"), 11.9, "hold"),
        (o("3151-8", 5, "L/min"), 12.1, "give"),
        (o("2160-0", 3.2, "mg/dL"), 23.9, "hold"),
        (o("2160-0", 3.2, "mg/dL"), 24.1, "give"),
        (o("777-3", 20, "10*3/uL"), 23.9, "hold"),
        (o("777-3", 20, "10*3/uL"), 24.1, "give"),
        (o("29463-7", 90, "kg"), 23.9, "caution"),
        (o("29463-7", 90, "kg"), 24.1, "give"),
    ],
)
def test_dose_advice_look_back(item: Obs, hours_before: float, expected: str) -> None:
    b = CourseBuilder().dose(1, 1, at=30)
    add(b, 30 - hours_before, item)
    _check(advice(result(b), 1, 1), expected)


def test_dose_advice_uses_latest_value_at_or_before_dose() -> None:
    b = CourseBuilder().dose(1, 1, at=12)
    add(b, 5, o("8867-4", 140, "/min"), o("2160-0", 3.5, "mg/dL"))
    add(b, 11, o("8867-4", 90, "/min"), o("2160-0", 1.5, "mg/dL"))
    add(b, 12.5, o("8867-4", 150, "/min"), o("il2tox:rhythm", "vt"))  # after the dose
    _check(advice(result(b), 1, 1), "give")


def test_dose_advice_observation_at_dose_time_counts() -> None:
    b = CourseBuilder().dose(1, 1, at=12)
    add(b, 12, o("8867-4", 140, "/min"))
    _check(advice(result(b), 1, 1), "hold")


def test_dose_advice_urine_period_ending_more_than_12h_before_is_not_used() -> None:
    b = CourseBuilder().dose(1, 1, at=30)
    add(b, 17.5, o("9187-6", 20, "mL", period_h=8))
    _check(advice(result(b), 1, 1), "give")


# --------------------------------------------------------------------------------------------
# Further edges read from the spec
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "superseding", "second"),
    [
        pytest.param(
            o("29463-7", 80, "kg"),
            o("29463-7", 73, "kg"),
            o("9187-6", 150, "mL", period_h=8),
            id="weight",
        ),
        pytest.param(
            o("8480-6", 80, "mm[Hg]"),
            o("8480-6", 110, "mm[Hg]"),
            o("il2tox:rales", "third"),
            id="sbp",
        ),
        pytest.param(
            o("1751-7", 2.8, "g/dL"),
            o("1751-7", 3.4, "g/dL"),
            o("3151-8", 3, "L/min"),
            id="albumin",
        ),
    ],
)
def test_cls_signs_measured_together_even_if_one_is_later_superseded(
    first: Obs, superseding: Obs, second: Obs
) -> None:
    """Sign A at 0 h (normal again at 5 h), sign B at 11 h: A and B were measured <= 12 h apart."""
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, first)
    add(b, 5, superseding)
    add(b, 11, second)
    assert flags(result(b), "capillary_leak")


def test_cls_weight_sign_is_against_patient_weight_not_first_measured() -> None:
    b = CourseBuilder(weight_kg=72).dose(1, 1, at=2)
    add(b, 0, o("29463-7", 76, "kg"))
    add(b, 10, o("29463-7", 79.5, "kg"), o("1751-7", 2.9, "g/dL"))
    assert flags(result(b), "capillary_leak")


def test_cls_urine_sign_pro_rated() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 10, o("9187-6", 79, "mL", period_h=4), o("1751-7", 2.9, "g/dL"))
    assert flags(result(b), "capillary_leak")


def test_cls_absent_with_phenylephrine_recorded_as_zero() -> None:
    """Reading: "any phenylephrine" means a rate above 0; a recorded 0 is no pressor."""
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    for t in (1, 9):
        add(b, t, o("il2tox:phenylephrine", 0, "ug/kg/min"), o("8480-6", 100, "mm[Hg]"))
    assert flags(result(b), "capillary_leak") == []


def test_ici_hepatitis_signal_by_hys_law_alone() -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior("hepatitis", resolved="2026-06-01")
    add(b, 0, o("1742-6", 30, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 2.0, "mg/dL"))
    add(b, 14, o("1742-6", 120, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 2.5, "mg/dL"))
    assert flags(result(b), "ici_recurrence", irae="hepatitis")


@pytest.mark.parametrize("organ", ["hypophysitis", "adrenal_insufficiency"])
@pytest.mark.parametrize(
    ("usual_sbp", "sbp", "present"),
    [
        (99, 79, True),
        (99, 82, False),
        (118, 84, True),
        (118, 85, False),
        (None, 89, True),
        (130, 90, False),
    ],
)
def test_ici_sodium_signal_uses_individual_target(
    organ: str, usual_sbp: float | None, sbp: float, present: bool
) -> None:
    b = CourseBuilder(usual_sbp=usual_sbp).dose(1, 1, at=2).prior(organ, resolved="2026-06-01")
    add(b, 14, o("2951-2", 128, "mmol/L"), o("8480-6", sbp, "mm[Hg]"))
    assert bool(flags(result(b), "ici_recurrence", irae=organ)) is present


@pytest.mark.parametrize(
    ("organ", "item"),
    [
        ("thyroiditis", o("3016-3", 4.5, "m[IU]/L", ref_high=5.0)),
        ("thyroiditis", o("3016-3", 0.3, "m[IU]/L", ref_low=0.27)),
        ("myocarditis", o("10839-9", 0.05, "ng/mL", ref_high=0.06)),
        ("myocarditis", o("89579-7", 30, "ng/L", ref_high=34)),
    ],
)
def test_ici_signal_limits_are_the_lab_limits(organ: str, item: Obs) -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior(organ, resolved="2026-06-01")
    add(b, 14, item)
    assert flags(result(b), "ici_recurrence", irae=organ) == []


@pytest.mark.parametrize(
    ("organ", "item"),
    [
        ("thyroiditis", o("3016-3", 3.8, "m[IU]/L", ref_high=3.5)),
        ("myocarditis", o("10839-9", 0.03, "ng/mL", ref_high=0.02)),
    ],
)
def test_ici_signal_above_a_tighter_lab_limit(organ: str, item: Obs) -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior(organ, resolved="2026-06-01")
    add(b, 14, item)
    assert flags(result(b), "ici_recurrence", irae=organ)


def test_ici_unresolved_prior_also_gets_recurrence_flag() -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior("dermatitis", resolved=None)
    add(b, 14, o("il2tox:skin", "bullous"))
    res = result(b)
    assert flags(res, "ici_recurrence", irae="dermatitis")
    assert flags(res, "eligibility", severity="critical")


def test_dose_advice_weight_against_patient_weight_not_first_measured() -> None:
    row = dose_result({"weight": [o("29463-7", 84, "kg")]}, extra=[(0, o("29463-7", 80, "kg"))])
    _check(row, "caution")


def test_dose_advice_stool_pro_rated() -> None:
    row = dose_result({"stool": [o("il2tox:stool-volume", 500, "mL", period_h=4)]})
    _check(row, "caution")


def test_dose_advice_urine_period_ending_at_dose_time_counts() -> None:
    b = CourseBuilder().dose(1, 1, at=12)
    add(b, 12, o("9187-6", 60, "mL", period_h=8))
    _check(advice(result(b), 1, 1), "hold")


@pytest.mark.parametrize(
    ("item", "hours_before", "expected"),
    [
        (o("10839-9", 0.1, "ng/mL"), 23.9, "hold"),
        (o("1975-2", 8, "mg/dL"), 23.9, "caution"),
        (o("il2tox:skin", "bullous"), 11.9, "hold"),
        (o("il2tox:rhythm", "af"), 11.9, "hold"),
        (o("il2tox:cognition", "fail"), 11.9, "hold"),
        (o("il2tox:phenylephrine", 0.9, "ug/kg/min"), 11.9, "hold"),
        (o("59408-5", 85, "%"), 11.9, "hold"),
        (o("8480-6", 70, "mm[Hg]"), 11.9, "hold"),
        (o("8480-6", 70, "mm[Hg]"), 12.1, "give"),
    ],
)
def test_dose_advice_look_back_more(item: Obs, hours_before: float, expected: str) -> None:
    b = CourseBuilder().dose(1, 1, at=30)
    add(b, 30 - hours_before, item)
    _check(advice(result(b), 1, 1), expected)


def test_eligibility_absent_without_history_block_needs_ecog() -> None:
    """ECOG 1 given, steroid/brain keys absent (= nothing known): none of the criteria holds."""
    b = CourseBuilder(history={"ecog": 1}).dose(1, 1, at=4)
    add(b, 0, *BASELINE_NORMAL)
    assert flags(result(b), "eligibility") == []


def test_cls_flag_time_is_when_the_second_sign_appears() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10)
    add(b, 3, o("1751-7", 2.8, "g/dL"))
    add(b, 12, o("9187-6", 120, "mL", period_h=8))
    found = flags(result(b), "capillary_leak")
    assert found
    first = min(found, key=lambda f: f["time"])
    assert same_time(first["time"], 12)
    assert first["after_dose"] == 2


def test_ici_pair_signal_time_is_when_the_pair_is_complete() -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior("hypophysitis", resolved="2026-06-01")
    add(b, 3, o("2951-2", 128, "mmol/L"))
    add(b, 14, o("8480-6", 80, "mm[Hg]"))
    found = flags(result(b), "ici_recurrence", irae="hypophysitis")
    assert found
    assert same_time(found[0]["time"], 14)
    assert found[0]["after_dose"] == 1


@pytest.mark.parametrize(
    ("hr", "expected"), [(100.0, "give"), (100.1, "caution"), (130.0, "caution"), (130.1, "hold")]
)
def test_dose_advice_heart_rate_decimals(hr: float, expected: str) -> None:
    """Reference: caution > 100 and <= 130; hold > 130 (decimals fall by the operators)."""
    _check(dose_result({"hr": [o("8867-4", hr, "/min")]}), expected)


def _combination_cases() -> list[Any]:
    """Seeded combinations of the single-item cases: the counting rule of the table."""
    import random

    by_key: dict[str, list[tuple[Obs, str]]] = {}
    for key, item, expected in SINGLE_ITEM_CASES:
        by_key.setdefault(key, []).append((item, expected))
    rng = random.Random(20261120)
    cases = []
    keys = sorted(by_key)
    for i in range(120):
        chosen = rng.sample(keys, rng.randint(1, 7))
        combo = {k: rng.choice(by_key[k]) for k in chosen}
        holds = sum(1 for _, e in combo.values() if e == "hold")
        cautions = sum(1 for _, e in combo.values() if e == "caution")
        expected = "hold" if holds or cautions >= 3 else "caution" if cautions else "give"
        cases.append(
            pytest.param({k: [item] for k, (item, _) in combo.items()}, expected, id=f"combo{i}")
        )
    return cases


@pytest.mark.parametrize(("overrides", "expected"), _combination_cases())
def test_dose_advice_combinations(overrides: dict[str, list[Obs]], expected: str) -> None:
    _check(dose_result(overrides), expected)
