"""Dose advice: every hold and caution criterion at its boundaries, counting, look-back, doses.

Unless a test says otherwise: the patient weighs 72 kg with usual SBP 118 (target T = 85),
dose 1 is at hour 12 and each reading is taken at hour 11.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from il2_tox.__main__ import main
from il2_tox.course import dump_course
from tests.builders import ADMITTED, CourseBuilder
from tests.unit.rules.bedside import (
    CREAT_UMOL,
    LB,
    acvpu,
    advice_list,
    alt,
    bilirubin,
    cognition,
    course,
    creatinine,
    fio2,
    hr,
    hs_troponin,
    judged,
    o2_flow,
    phenylephrine,
    platelets,
    rales,
    rhythm,
    sbp,
    skin,
    spo2,
    stool,
    temperature,
    troponin,
    urine,
    verdict,
    weight,
)

GIVE: tuple[str, list[str]] = ("give", [])


def hold(code: str) -> tuple[str, list[str]]:
    return "hold", [code]


def caution(code: str) -> tuple[str, list[str]]:
    return "caution", [code]


# -- heart rate: hold > 130, caution > 100 and <= 130 --------------------------------------------


@pytest.mark.parametrize("rate", [130.5, 131, 160])
def test_it_holds_when_heart_rate_is_above_130(rate: float) -> None:
    assert verdict(judged(hr(rate))) == hold("hold.heart_rate")


@pytest.mark.parametrize("rate", [100.5, 101, 115, 129, 130])
def test_it_cautions_when_heart_rate_is_above_100_up_to_130(rate: float) -> None:
    assert verdict(judged(hr(rate))) == caution("caution.heart_rate")


@pytest.mark.parametrize("rate", [60, 99, 100])
def test_it_gives_when_heart_rate_is_100_or_less(rate: float) -> None:
    assert verdict(judged(hr(rate))) == GIVE


# -- SBP against the target T --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usual", "below_target", "at_target"),
    [
        (99, 79, 80),  # usual below 100 -> T 80
        (100, 84, 85),  # 100 to 120 -> T 85
        (118, 84.9, 85),
        (120, 84, 85),
        (121, 89, 90),  # above 120 -> T 90
        (None, 89, 90),  # not recorded -> T 90
    ],
)
def test_it_holds_when_sbp_is_below_the_target_and_not_at_it(
    usual: float | None, below_target: float, at_target: float
) -> None:
    outcomes = (
        verdict(judged(sbp(below_target), usual_sbp=usual)),
        verdict(judged(sbp(at_target), usual_sbp=usual)),
        verdict(judged(sbp(at_target + 1), usual_sbp=usual)),
    )
    assert outcomes == (hold("hold.sbp"), GIVE, GIVE)


def test_the_sbp_message_names_the_value_and_the_target() -> None:
    assert judged(sbp(84)).criteria[0].message == "SBP 84 mmHg < target 85"


# -- phenylephrine: hold > 0.8, caution > 0.5 and <= 0.8, lower is no criterion -------------------


@pytest.mark.parametrize("rate", [0.81, 1.0, 2.0])
def test_it_holds_when_phenylephrine_is_above_0_8(rate: float) -> None:
    assert verdict(judged(phenylephrine(rate))) == hold("hold.phenylephrine")


@pytest.mark.parametrize("rate", [0.51, 0.6, 0.8])
def test_it_cautions_when_phenylephrine_is_above_0_5_up_to_0_8(rate: float) -> None:
    assert verdict(judged(phenylephrine(rate))) == caution("caution.phenylephrine")


@pytest.mark.parametrize("rate", [0, 0.1, 0.49, 0.5])
def test_phenylephrine_of_0_5_or_less_is_not_a_dose_criterion(rate: float) -> None:
    assert verdict(judged(phenylephrine(rate))) == GIVE


# -- oxygenation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("saturation", [80, 89, 89.9])
@pytest.mark.parametrize("code", ["59408-5", "2708-6"])
def test_it_holds_when_spo2_is_below_90(saturation: float, code: str) -> None:
    assert verdict(judged(spo2(saturation, code=code))) == hold("hold.spo2")


@pytest.mark.parametrize("saturation", [90, 90.1, 95])
def test_it_gives_when_spo2_is_90_or_more(saturation: float) -> None:
    assert verdict(judged(spo2(saturation))) == GIVE


@pytest.mark.parametrize("flow", [4.1, 5, 10])
def test_it_holds_when_oxygen_flow_is_above_4(flow: float) -> None:
    assert verdict(judged(o2_flow(flow))) == hold("hold.oxygen")


@pytest.mark.parametrize("flow", [3, 3.5, 4])
def test_it_cautions_when_oxygen_flow_is_3_to_4(flow: float) -> None:
    assert verdict(judged(o2_flow(flow))) == caution("caution.oxygen")


@pytest.mark.parametrize("flow", [0, 2, 2.9])
def test_it_gives_when_oxygen_flow_is_below_3(flow: float) -> None:
    assert verdict(judged(o2_flow(flow))) == GIVE


@pytest.mark.parametrize("fraction", [40, 40.1, 60])
def test_it_holds_when_fio2_is_40_percent_or_more(fraction: float) -> None:
    assert verdict(judged(fio2(fraction))) == hold("hold.oxygen")


@pytest.mark.parametrize("fraction", [21, 35, 39.9])
def test_it_gives_when_fio2_is_below_40_percent(fraction: float) -> None:
    assert verdict(judged(fio2(fraction))) == GIVE


def test_a_mask_no_longer_counts_once_a_later_cannula_flow_is_charted() -> None:
    advice = judged(fio2(50, at=2), o2_flow(2, at=8))
    assert verdict(advice) == GIVE


def test_a_cannula_flow_no_longer_counts_once_a_later_mask_is_charted() -> None:
    advice = judged(o2_flow(3, at=2), fio2(45, at=8))
    assert verdict(advice) == hold("hold.oxygen")


def test_flow_and_fio2_charted_together_both_count() -> None:
    advice = judged(o2_flow(5), fio2(40))
    assert [len(c.evidence) for c in advice.criteria] == [2]


# -- rales ---------------------------------------------------------------------------------------


def test_it_holds_when_rales_are_half_way_up() -> None:
    assert verdict(judged(rales("half"))) == hold("hold.rales")


def test_it_cautions_when_rales_are_a_third_up() -> None:
    assert verdict(judged(rales("third"))) == caution("caution.rales")


@pytest.mark.parametrize("extent", ["none", "bases"])
def test_it_gives_when_rales_are_at_most_at_the_bases(extent: str) -> None:
    assert verdict(judged(rales(extent))) == GIVE


# -- urine output: hold < 80, caution 80-160 mL/8 h, pro-rated -----------------------------------


@pytest.mark.parametrize("ml", [0, 50, 79, 79.9])
def test_it_holds_when_urine_is_below_80_ml_per_8_h(ml: float) -> None:
    assert verdict(judged(urine(ml))) == hold("hold.urine_output")


@pytest.mark.parametrize("ml", [80, 80.1, 120, 159.9, 160])
def test_it_cautions_when_urine_is_80_to_160_ml_per_8_h(ml: float) -> None:
    assert verdict(judged(urine(ml))) == caution("caution.urine_output")


@pytest.mark.parametrize("ml", [160.1, 161, 288, 1000])
def test_it_gives_when_urine_is_above_160_ml_per_8_h(ml: float) -> None:
    assert verdict(judged(urine(ml))) == GIVE


def test_the_urine_message_shows_the_volume_per_8_h_and_the_limit() -> None:
    assert judged(urine(70)).criteria[0].message == "urine 70 mL/8 h < 80"


def test_a_4_h_record_is_pro_rated_to_8_h() -> None:
    # 39 mL in 4 h = 78 mL/8 h
    assert verdict(judged(urine(39, period_h=4))) == hold("hold.urine_output")


def test_a_12_h_record_is_pro_rated_to_8_h() -> None:
    # 240 mL in 12 h = 160 mL/8 h
    assert verdict(judged(urine(240, period_h=12))) == caution("caution.urine_output")


def test_short_records_are_added_up_to_8_h() -> None:
    # 4 h each: 30 + 45 mL = 75 mL/8 h
    advice = judged(urine(30, period_h=4, at=7), urine(45, period_h=4, at=11))
    assert verdict(advice) == hold("hold.urine_output")


def test_urine_collected_more_than_12_h_before_the_dose_is_not_judged() -> None:
    assert verdict(judged(urine(50, at=-0.5))) == GIVE


def test_urine_ending_12_h_before_the_dose_is_judged() -> None:
    assert verdict(judged(urine(50, at=0))) == hold("hold.urine_output")


def test_urine_recorded_after_the_dose_is_not_judged() -> None:
    assert verdict(judged(urine(50, at=12.5))) == GIVE


# -- creatinine: hold >= 3.0, caution 2.5 to < 3.0 mg/dL; SI units --------------------------------


@pytest.mark.parametrize(
    ("value", "unit"),
    [(3.0, "mg/dL"), (3.01, "mg/dL"), (5, "mg/dL"), (265.2, "umol/L"), (265.3, "umol/L")],
)
def test_it_holds_when_creatinine_is_3_mg_dl_or_more(value: float, unit: str) -> None:
    assert verdict(judged(creatinine(value, unit))) == hold("hold.creatinine")


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (2.5, "mg/dL"),
        (2.51, "mg/dL"),
        (2.99, "mg/dL"),
        (221.0, "umol/L"),
        (221.1, "umol/L"),
        (265.0, "umol/L"),  # 2.998 mg/dL: below 3.0, compared unrounded
        (265.1, "umol/L"),
    ],
)
def test_it_cautions_when_creatinine_is_2_5_to_below_3_mg_dl(value: float, unit: str) -> None:
    assert verdict(judged(creatinine(value, unit))) == caution("caution.creatinine")


@pytest.mark.parametrize(
    ("value", "unit"), [(1.0, "mg/dL"), (2.49, "mg/dL"), (220.9, "umol/L"), (88.4, "umol/L")]
)
def test_it_gives_when_creatinine_is_below_2_5_mg_dl(value: float, unit: str) -> None:
    assert verdict(judged(creatinine(value, unit))) == GIVE


def test_creatinine_in_umol_l_is_reported_in_mg_dl() -> None:
    assert judged(creatinine(265.0, "umol/L")).criteria[0].message == (
        "creatinine 2.998 mg/dL ≥ 2.5"
    )


def test_a_lab_taken_23_h_before_the_dose_is_judged() -> None:
    assert verdict(judged(creatinine(3.2, at=-11))) == hold("hold.creatinine")


def test_a_lab_taken_more_than_24_h_before_the_dose_is_not_judged() -> None:
    assert verdict(judged(creatinine(3.2, at=-12.5))) == GIVE


# -- platelets: hold < 30, caution 30-50 x10^9/L ---------------------------------------------------


@pytest.mark.parametrize("unit", ["10*3/uL", "10*9/L"])
@pytest.mark.parametrize("count", [5, 29, 29.9])
def test_it_holds_when_platelets_are_below_30(count: float, unit: str) -> None:
    assert verdict(judged(platelets(count, unit))) == hold("hold.platelets")


@pytest.mark.parametrize("unit", ["10*3/uL", "10*9/L"])
@pytest.mark.parametrize("count", [30, 30.1, 40, 49.9, 50])
def test_it_cautions_when_platelets_are_30_to_50(count: float, unit: str) -> None:
    assert verdict(judged(platelets(count, unit))) == caution("caution.platelets")


@pytest.mark.parametrize("unit", ["10*3/uL", "10*9/L"])
@pytest.mark.parametrize("count", [50.1, 51, 150])
def test_it_gives_when_platelets_are_above_50(count: float, unit: str) -> None:
    assert verdict(judged(platelets(count, unit))) == GIVE


# -- bilirubin: caution > 7 mg/dL (119.7 umol/L) --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit"), [(7.01, "mg/dL"), (10, "mg/dL"), (119.8, "umol/L"), (150, "umol/L")]
)
def test_it_cautions_when_bilirubin_is_above_7_mg_dl(value: float, unit: str) -> None:
    assert verdict(judged(bilirubin(value, unit))) == caution("caution.bilirubin")


@pytest.mark.parametrize(
    ("value", "unit"), [(6.99, "mg/dL"), (7, "mg/dL"), (119.6, "umol/L"), (119.7, "umol/L")]
)
def test_it_gives_when_bilirubin_is_7_mg_dl_or_less(value: float, unit: str) -> None:
    assert verdict(judged(bilirubin(value, unit))) == GIVE


# -- weight: caution > 15 % over patient.weight_kg ----------------------------------------------


@pytest.mark.parametrize("kg", [82.81, 83, 90])
def test_it_cautions_when_weight_is_more_than_15_percent_over_baseline(kg: float) -> None:
    assert verdict(judged(weight(kg))) == caution("caution.weight_gain")


@pytest.mark.parametrize("kg", [72, 80, 82.79, 82.8])
def test_it_gives_when_weight_is_at_most_15_percent_over_baseline(kg: float) -> None:
    assert verdict(judged(weight(kg))) == GIVE


@pytest.mark.parametrize(("lb", "expected"), [(183.9, "give"), (184, "give"), (184.1, "caution")])
def test_weight_in_pounds_is_judged_at_the_same_15_percent(lb: float, expected: str) -> None:
    # Baseline 160 lb (72.5747792 kg): 15 % over is exactly 184 lb.
    assert judged(weight(lb, "[lb_av]"), weight_kg=160 * LB).advice == expected


def test_the_weight_message_shows_the_gain_in_percent() -> None:
    assert judged(weight(83.7)).criteria[0].message == "weight +16.2% over baseline > 15%"


# -- stool: >= 1000 mL in the latest 8 h period caution, in each of the two latest hold -----------


@pytest.mark.parametrize("ml", [1000, 1500])
def test_it_cautions_when_stool_is_1000_ml_in_the_latest_8_h_period_only(ml: float) -> None:
    advice = judged(stool(400, at=3), stool(ml, at=11))
    assert verdict(advice) == caution("caution.stool")


def test_it_gives_when_the_latest_stool_period_is_999_ml() -> None:
    assert verdict(judged(stool(1000, at=3), stool(999, at=11))) == GIVE


@pytest.mark.parametrize(("earlier", "latest"), [(1000, 1000), (1200, 1500)])
def test_it_holds_when_stool_is_1000_ml_in_each_of_the_two_latest_8_h_periods(
    earlier: float, latest: float
) -> None:
    advice = judged(stool(earlier, at=3), stool(latest, at=11))
    assert verdict(advice) == hold("hold.stool")


def test_it_cautions_when_only_the_earlier_period_of_two_falls_short() -> None:
    assert verdict(judged(stool(999, at=3), stool(1000, at=11))) == caution("caution.stool")


def test_stool_periods_of_4_h_are_added_up_to_8_h_periods() -> None:
    advice = judged(
        stool(500, period_h=4, at=-1),
        stool(500, period_h=4, at=3),
        stool(500, period_h=4, at=7),
        stool(500, period_h=4, at=11),
    )
    assert verdict(advice) == hold("hold.stool")


# -- nursing items --------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["C", "V", "P", "U"])
def test_it_holds_when_consciousness_is_not_alert(level: str) -> None:
    assert verdict(judged(acvpu(level))) == hold("hold.consciousness")


def test_it_gives_when_the_patient_is_alert() -> None:
    assert verdict(judged(acvpu("A"))) == GIVE


def test_it_holds_when_cognition_fails() -> None:
    assert verdict(judged(cognition("fail"))) == hold("hold.cognition")


def test_it_gives_when_cognition_passes() -> None:
    assert verdict(judged(cognition("pass"))) == GIVE


@pytest.mark.parametrize("found", ["af", "svt", "vt", "ischemic_changes"])
def test_it_holds_when_the_rhythm_is_not_sinus(found: str) -> None:
    assert verdict(judged(rhythm(found))) == hold("hold.rhythm")


@pytest.mark.parametrize("found", ["vt", "ischemic_changes"])
def test_the_hold_message_says_permanently_discontinue_for_vt_or_ischaemia(found: str) -> None:
    assert "permanently discontinue" in judged(rhythm(found)).criteria[0].message


@pytest.mark.parametrize("found", ["af", "svt"])
def test_the_hold_message_does_not_say_discontinue_for_af_or_svt(found: str) -> None:
    assert "discontinue" not in judged(rhythm(found)).criteria[0].message


def test_it_gives_in_sinus_rhythm() -> None:
    assert verdict(judged(rhythm("sinus"))) == GIVE


@pytest.mark.parametrize("finding", ["moist_desquamation", "bullous"])
def test_it_holds_for_moist_desquamation_or_bullous_skin(finding: str) -> None:
    assert verdict(judged(skin(finding))) == hold("hold.skin")


@pytest.mark.parametrize("finding", ["normal", "erythema"])
def test_it_gives_for_normal_skin_or_erythema(finding: str) -> None:
    assert verdict(judged(skin(finding))) == GIVE


# -- troponin I: above the lab's limit, else the site default (0.04 ng/mL, hs 26 ng/L) -----------


@pytest.mark.parametrize("value", [0.041, 0.05, 1.2])
def test_it_holds_when_troponin_is_above_the_site_limit(value: float) -> None:
    assert verdict(judged(troponin(value))) == hold("hold.troponin")


@pytest.mark.parametrize("value", [0.01, 0.039, 0.04])
def test_it_gives_when_troponin_is_at_or_below_the_site_limit(value: float) -> None:
    assert verdict(judged(troponin(value))) == GIVE


def test_the_labs_own_troponin_limit_wins_over_the_site_default() -> None:
    outcomes = (
        verdict(judged(troponin(0.1, ref_high=0.1))),
        verdict(judged(troponin(0.11, ref_high=0.1))),
    )
    assert outcomes == (GIVE, hold("hold.troponin"))


@pytest.mark.parametrize("value", [26.1, 27, 40])
def test_it_holds_when_high_sensitivity_troponin_is_above_26_ng_l(value: float) -> None:
    assert verdict(judged(hs_troponin(value))) == hold("hold.troponin")


@pytest.mark.parametrize("value", [5, 25.9, 26])
def test_it_gives_when_high_sensitivity_troponin_is_26_ng_l_or_less(value: float) -> None:
    assert verdict(judged(hs_troponin(value))) == GIVE


# -- counting -----------------------------------------------------------------------------------


def test_one_caution_criterion_is_caution() -> None:
    assert judged(hr(110)).advice == "caution"


def test_two_caution_criteria_are_caution() -> None:
    assert judged(hr(110), urine(120)).advice == "caution"


def test_three_caution_criteria_make_a_hold() -> None:
    advice = judged(hr(110), urine(120), platelets(40))
    assert verdict(advice) == (
        "hold",
        ["caution.heart_rate", "caution.urine_output", "caution.platelets"],
    )


def test_absolute_criteria_are_listed_before_relative_ones() -> None:
    advice = judged(hr(110), sbp(80))
    assert [c.kind for c in advice.criteria] == ["absolute", "relative"]


def test_each_criterion_carries_its_evidence_and_source() -> None:
    criterion = judged(hr(135)).criteria[0]
    assert (criterion.evidence[0].value, criterion.source) == (135.0, "Dutcher 2014 Table 3")


def test_give_is_guaranteed_when_everything_is_within_limits() -> None:
    advice = judged(
        hr(100),
        sbp(85),
        phenylephrine(0),
        spo2(95),
        o2_flow(0),
        urine(288),  # 0.5 mL/kg/h at 72 kg
        creatinine(1.2),
        platelets(150),
        bilirubin(1.2),
        alt(40),
        acvpu("A"),
        rhythm("sinus"),
        temperature(39.5),
    )
    assert verdict(advice) == GIVE


def test_give_is_guaranteed_in_si_units_too() -> None:
    advice = judged(
        hr(100),
        sbp(85),
        spo2(95),
        fio2(21),
        urine(288),
        creatinine(1.2 * CREAT_UMOL, "umol/L"),
        platelets(150, "10*9/L"),
        bilirubin(20.5, "umol/L"),
        alt(40),
        acvpu("A"),
        rhythm("sinus"),
        temperature(103.1, "[degF]"),
        weight(72 / LB, "[lb_av]"),
    )
    assert verdict(advice) == GIVE


def test_fever_is_not_a_dose_criterion() -> None:
    assert verdict(judged(temperature(104, "[degF]"))) == GIVE


# -- look-back -----------------------------------------------------------------------------------


def test_the_latest_value_before_the_dose_is_the_one_judged() -> None:
    assert verdict(judged(hr(140, at=6), hr(90, at=11))) == GIVE


def test_a_vital_sign_12_h_before_the_dose_is_judged() -> None:
    assert verdict(judged(hr(140, at=0))) == hold("hold.heart_rate")


def test_a_vital_sign_more_than_12_h_before_the_dose_is_not_judged() -> None:
    assert verdict(judged(hr(140, at=-0.1))) == GIVE


def test_a_value_recorded_at_the_dose_time_is_judged() -> None:
    assert verdict(judged(hr(140, at=12))) == hold("hold.heart_rate")


def test_a_value_recorded_after_the_dose_is_not_judged() -> None:
    assert verdict(judged(hr(140, at=12.1))) == GIVE


def test_a_nursing_item_more_than_12_h_old_is_not_judged() -> None:
    assert verdict(judged(acvpu("V", at=-1))) == GIVE


# -- the doses listed ----------------------------------------------------------------------------


def _positions(b: CourseBuilder) -> list[tuple[int, int, float, str | None]]:
    return [
        (a.cycle, a.number, (a.time - ADMITTED) / timedelta(hours=1), a.status)
        for a in advice_list(b)
    ]


def test_it_lists_each_recorded_dose_in_time_order_then_the_next_dose() -> None:
    b = CourseBuilder().dose(1, 2, at=10, status="held").dose(1, 1, at=2)
    assert _positions(b) == [(1, 1, 2, "given"), (1, 2, 10, "held"), (1, 3, 18, None)]


def test_the_next_dose_follows_a_held_dose_by_8_h() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10, status="not_given")
    assert _positions(b)[-1] == (1, 3, 18, None)


def test_there_is_no_next_dose_once_the_cycle_has_14_doses() -> None:
    b = CourseBuilder()
    for n in range(1, 15):
        b.dose(1, n, at=2 + 8 * (n - 1))
    assert [p[3] for p in _positions(b)].count(None) == 0


def test_the_next_dose_is_in_the_latest_cycle() -> None:
    b = CourseBuilder()
    for n in range(1, 15):
        b.dose(1, n, at=2 + 8 * (n - 1))
    b.dose(2, 1, at=400)
    assert _positions(b)[-1] == (2, 2, 408, None)


def test_without_any_dose_the_next_is_cycle_1_dose_1_at_the_latest_entry() -> None:
    b = course(hr(135, at=5), dose=False)
    first = advice_list(b)
    assert [(a.cycle, a.number, a.time, a.advice) for a in first] == [
        (1, 1, ADMITTED + timedelta(hours=5), "hold")
    ]


def test_the_next_dose_is_judged_on_values_before_its_time() -> None:
    b = course(hr(135, at=14))  # after dose 1 (hour 12), before the next (hour 20)
    assert [a.advice for a in advice_list(b)] == ["give", "hold"]


# -- the command's output ------------------------------------------------------------------------


def test_the_assess_command_prints_dose_advice_with_its_criteria(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "course.json"
    path.write_text(dump_course(course(urine(70), hr(110)).build()), encoding="utf-8")
    assert main(["assess", str(path)]) == 0
    advice = json.loads(capsys.readouterr().out)["dose_advice"]
    first = {k: advice[0][k] for k in ("cycle", "number", "time", "advice", "status")}
    criteria = [{k: c[k] for k in ("code", "kind", "message")} for c in advice[0]["criteria"]]
    assert (first, criteria, advice[1]["status"]) == (
        {
            "cycle": 1,
            "number": 1,
            "time": "2026-11-20T18:00:00+00:00",
            "advice": "hold",
            "status": "given",
        },
        [
            {"code": "hold.urine_output", "kind": "absolute", "message": "urine 70 mL/8 h < 80"},
            {"code": "caution.heart_rate", "kind": "relative", "message": "HR 110/min > 100"},
        ],
        "next",
    )
