"""Acceptance: the shape and meaning of `il2-tox-assessment/1`, and the `assess` CLI contract."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from il2_tox.course import parse_course
from tests.acceptance.support import CourseBuilder, advice, at_hours, flags, iso, result, same_time
from tests.acceptance.test_guarantees import add, o

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():  # pragma: no cover - fall back to the running interpreter
    PYTHON = Path(sys.executable)

TOP_KEYS = {"format", "patient_id", "as_of", "flags", "dose_advice", "liver", "news2"}
FLAG_KEYS = {
    "category",
    "severity",
    "code",
    "time",
    "cycle",
    "after_dose",
    "message",
    "evidence",
    "source",
}
CATEGORIES = {
    "capillary_leak",
    "hepatitis",
    "ici_recurrence",
    "renal",
    "cardiac",
    "pulmonary",
    "neurologic",
    "gastrointestinal",
    "hematologic",
    "early_warning",
    "eligibility",
}
LIVER_KEYS = {
    "time",
    "alt_grade",
    "ast_grade",
    "alp_grade",
    "bilirubin_grade",
    "r_ratio",
    "pattern",
    "hys_law",
}
NEWS2_KEYS = {"time", "score", "red_single_parameter", "response", "complete"}


def busy_course() -> CourseBuilder:
    """A course that produces flags of several kinds, liver rows and NEWS2 rows."""
    b = CourseBuilder(history={"brain_metastases": "none", "systemic_steroids": False, "ecog": 2})
    b.prior("hepatitis", grade=3, resolved="2026-05-10")
    for n, t in enumerate((2, 10, 18, 26), start=1):
        b.dose(1, n, at=t, status="held" if n == 3 else "given")
    add(b, 0, o("1742-6", 30, "U/L"), o("6768-6", 100, "U/L"), o("1975-2", 0.8, "mg/dL"))
    add(
        b,
        25,
        o("8480-6", 82, "mm[Hg]"),
        o("9187-6", 70, "mL", period_h=8),
        o("29463-7", 81, "kg"),
        o("8867-4", 125, "/min"),
        o("9279-1", 24, "/min"),
        o("59408-5", 93, "%"),
        o("3151-8", 2, "L/min"),
        o("8310-5", 39.2, "Cel"),
        o("il2tox:acvpu", "A"),
        o("1742-6", 260, "U/L"),
        o("6768-6", 140, "U/L"),
        o("1975-2", 2.0, "mg/dL"),
    )
    return b


# ---- top level ----------------------------------------------------------------------------


def test_top_level_shape() -> None:
    res = result(busy_course())
    assert set(res) == TOP_KEYS
    assert res["format"] == "il2-tox-assessment/1"
    assert res["patient_id"] == "TEST-001"
    for key in ("flags", "dose_advice", "liver", "news2"):
        assert isinstance(res[key], list)


def test_flag_entries_shape() -> None:
    res = result(busy_course())
    assert res["flags"]
    for f in res["flags"]:
        assert set(f) >= FLAG_KEYS, f
        assert f["category"] in CATEGORIES
        assert f["severity"] in {"info", "warning", "critical"}
        assert isinstance(f["code"], str) and f["code"]
        assert isinstance(f["message"], str) and f["message"]
        assert isinstance(f["source"], str)
        iso(f["time"])
        assert isinstance(f["cycle"], int)
        assert isinstance(f["after_dose"], int) and f["after_dose"] >= 0
        assert isinstance(f["evidence"], list)
        for ev in f["evidence"]:
            assert {"code", "time", "value"} <= set(ev)
            iso(ev["time"])
        if f["category"] == "ici_recurrence":
            assert f["irae"] == "hepatitis"
            assert set(f["differential"]) == {"favors_ici", "favors_il2"}
        else:
            assert "irae" not in f and "differential" not in f
    cats = {f["category"] for f in res["flags"]}
    assert {"capillary_leak", "hepatitis", "ici_recurrence", "renal", "eligibility"} <= cats


def test_times_have_an_offset() -> None:
    res = result(busy_course())
    times = [res["as_of"]]
    times += [f["time"] for f in res["flags"]]
    times += [d["time"] for d in res["dose_advice"]]
    times += [r["time"] for r in res["liver"]] + [r["time"] for r in res["news2"]]
    for t in times:
        assert iso(t).utcoffset() is not None, t


def test_flag_codes_are_stable_between_runs() -> None:
    a = result(busy_course())
    b = result(busy_course())
    assert a == b
    assert json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


# ---- as_of --------------------------------------------------------------------------------


def test_as_of_is_latest_observation() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 5, o("8867-4", 80, "/min"))
    add(b, 3, o("8867-4", 80, "/min"))
    assert same_time(result(b)["as_of"], 5)


def test_as_of_is_latest_dose_when_later_than_observations() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10, status="held")
    add(b, 5, o("8867-4", 80, "/min"))
    res = result(b)
    assert same_time(res["as_of"], 10)
    # not the scheduled next dose
    assert not same_time(res["as_of"], 18)


def test_as_of_with_mixed_offsets() -> None:
    b = CourseBuilder().dose(1, 1, at="2026-11-20T10:00:00+02:00")  # 08:00Z
    add(b, "2026-11-20T09:00:00Z", o("8867-4", 80, "/min"))  # later instant
    assert iso(result(b)["as_of"]) == iso("2026-11-20T09:00:00+00:00")


def test_as_of_for_old_course_is_not_wall_clock() -> None:
    b = CourseBuilder().dose(1, 1, at="2020-01-01T08:00:00Z")
    add(b, "2020-01-01T07:00:00Z", o("8867-4", 80, "/min"))
    assert iso(result(b)["as_of"]) == iso("2020-01-01T08:00:00Z")


# ---- dose_advice list ---------------------------------------------------------------------


def test_one_advice_per_dose_plus_next() -> None:
    b = CourseBuilder()
    for n in range(1, 4):
        b.dose(1, n, at=2 + 8 * (n - 1))
    res = result(b)
    rows = res["dose_advice"]
    assert [(d["cycle"], d["number"]) for d in rows] == [(1, 1), (1, 2), (1, 3), (1, 4)]
    assert same_time(advice(res, 1, 4)["time"], 26)
    for d in rows:
        assert {"cycle", "number", "time", "advice", "criteria"} <= set(d)
        assert d["advice"] in {"give", "caution", "hold"}


def test_recorded_dose_times_are_kept() -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=11.5)
    res = result(b)
    assert same_time(advice(res, 1, 1)["time"], 2)
    assert same_time(advice(res, 1, 2)["time"], 11.5)
    assert same_time(advice(res, 1, 3)["time"], 19.5)


@pytest.mark.parametrize("status", ["given", "held", "not_given"])
def test_next_dose_is_last_plus_8h_whatever_its_status(status: str) -> None:
    b = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=13, status=status)
    res = result(b)
    assert len(res["dose_advice"]) == 3
    nxt = advice(res, 1, 3)
    assert same_time(nxt["time"], 21)


def test_no_next_dose_after_14() -> None:
    b = CourseBuilder()
    for n in range(1, 15):
        b.dose(1, n, at=2 + 8 * (n - 1))
    rows = result(b)["dose_advice"]
    assert len(rows) == 14
    assert max(d["number"] for d in rows) == 14


def test_next_dose_with_13_doses() -> None:
    b = CourseBuilder()
    for n in range(1, 14):
        b.dose(1, n, at=2 + 8 * (n - 1), status="held" if n == 13 else "given")
    res = result(b)
    assert len(res["dose_advice"]) == 14
    assert same_time(advice(res, 1, 14)["time"], 2 + 8 * 12 + 8)


def test_next_dose_follows_latest_cycle() -> None:
    b = CourseBuilder()
    for n in range(1, 15):
        b.dose(1, n, at=2 + 8 * (n - 1))
    start2 = 2 + 24 * 14
    b.dose(2, 1, at=start2).dose(2, 2, at=start2 + 8)
    res = result(b)
    assert len(res["dose_advice"]) == 17
    nxt = advice(res, 2, 3)
    assert same_time(nxt["time"], start2 + 16)
    assert [d for d in res["dose_advice"] if d["cycle"] == 1 and d["number"] == 15] == []


def test_no_next_dose_when_latest_cycle_complete() -> None:
    b = CourseBuilder()
    for n in range(1, 11):
        b.dose(1, n, at=2 + 8 * (n - 1))
    start2 = 2 + 24 * 14
    for n in range(1, 15):
        b.dose(2, n, at=start2 + 8 * (n - 1))
    rows = result(b)["dose_advice"]
    assert len(rows) == 24


def test_next_dose_number_when_doses_out_of_file_order() -> None:
    b = CourseBuilder().dose(1, 3, at=18).dose(1, 1, at=2).dose(1, 2, at=10)
    res = result(b)
    assert len(res["dose_advice"]) == 4
    assert same_time(advice(res, 1, 4)["time"], 26)


def test_no_doses_at_most_a_first_dose_entry() -> None:
    """Spec gap: with no dose recorded there is no "last recorded dose". The engine (by a
    documented choice) judges cycle 1 dose 1 at `as_of`; the spec only rules out anything more."""
    b = CourseBuilder()
    add(b, 1, o("8867-4", 80, "/min"))
    rows = result(b)["dose_advice"]
    assert len(rows) <= 1
    for row in rows:
        assert (row["cycle"], row["number"]) == (1, 1)


def test_next_dose_is_judged_on_data_before_it() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 9, o("il2tox:rhythm", "af"))
    res = result(b)
    assert advice(res, 1, 1)["advice"] == "give"
    assert advice(res, 1, 2)["advice"] == "hold"


def test_criteria_entries_shape() -> None:
    b = CourseBuilder().dose(1, 1, at=12)
    add(b, 11, o("9187-6", 70, "mL", period_h=8), o("8867-4", 110, "/min"))
    row = advice(result(b), 1, 1)
    assert row["advice"] == "hold"
    for c in row["criteria"]:
        assert {"code", "kind", "message"} <= set(c)
        assert isinstance(c["message"], str) and c["message"]
    kinds = {c["kind"] for c in row["criteria"]}
    assert len(kinds) == 2  # one absolute (urine), one relative (HR)
    assert any(c["code"] == "hold.urine_output" for c in row["criteria"])


# ---- after_dose and flag time -------------------------------------------------------------


def _renal_flag_time(res: dict[str, Any]) -> dict[str, Any]:
    found = flags(res, "renal")
    assert found
    return min(found, key=lambda f: iso(f["time"]))


@pytest.mark.parametrize(
    ("finding_at", "expected"),
    [(1, 0), (2, 1), (9, 1), (10, 1), (17.9, 1), (18, 2), (30, 3)],
)
def test_after_dose_counts_given_doses_at_or_before(finding_at: float, expected: int) -> None:
    b = CourseBuilder()
    b.dose(1, 1, at=2).dose(1, 2, at=10, status="held").dose(1, 3, at=18)
    b.dose(1, 4, at=26, status="not_given").dose(1, 5, at=28)
    add(b, finding_at, o("2160-0", 2.8, "mg/dL"))
    f = _renal_flag_time(result(b))
    assert same_time(f["time"], finding_at)
    assert f["cycle"] == 1
    assert f["after_dose"] == expected


def test_after_dose_counts_only_that_cycle() -> None:
    b = CourseBuilder()
    for n in range(1, 6):
        b.dose(1, n, at=2 + 8 * (n - 1))
    start2 = 2 + 24 * 14
    b.dose(2, 1, at=start2).dose(2, 2, at=start2 + 8, status="held").dose(2, 3, at=start2 + 16)
    add(b, start2 + 9, o("2160-0", 2.8, "mg/dL"))
    f = _renal_flag_time(result(b))
    assert f["cycle"] == 2
    assert f["after_dose"] == 1


def test_flag_time_is_first_time_present() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 30, "U/L"))
    add(b, 10, o("1742-6", 150, "U/L"))
    add(b, 20, o("1742-6", 300, "U/L"))
    found = flags(result(b), "hepatitis")
    assert found
    assert min(iso(f["time"]) for f in found) == iso(at_hours(10))


def test_ici_flag_fields() -> None:
    b = CourseBuilder().dose(1, 1, at=2).prior("colitis", grade=3, resolved="2026-06-01")
    add(b, 12, o("il2tox:stool-volume", 1100, "mL", period_h=8))
    found = flags(result(b), "ici_recurrence")
    assert [f["irae"] for f in found] == ["colitis"]
    f = found[0]
    assert same_time(f["time"], 12)
    assert f["after_dose"] == 1
    assert isinstance(f["differential"]["favors_ici"], list)
    assert isinstance(f["differential"]["favors_il2"], list)


# ---- liver rows ---------------------------------------------------------------------------


def liver(b: CourseBuilder) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = result(b)["liver"]
    for r in rows:
        assert set(r) == LIVER_KEYS
    return rows


def test_liver_one_row_per_time_and_null_when_not_measured() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 30, "U/L"), o("1920-8", 30, "U/L"))
    add(b, 4, o("6768-6", 100, "U/L"))
    add(b, 8, o("1975-2", 0.9, "mg/dL"), o("1742-6", 35, "U/L"))
    add(b, 3, o("8867-4", 90, "/min"))  # not a liver test: no row
    rows = liver(b)
    assert [iso(r["time"]) for r in rows] == [iso(at_hours(t)) for t in (0, 4, 8)]
    assert rows[0]["alt_grade"] == 0 and rows[0]["ast_grade"] == 0
    assert rows[0]["alp_grade"] is None and rows[0]["bilirubin_grade"] is None
    assert rows[1]["alt_grade"] is None and rows[1]["alp_grade"] == 0
    assert rows[2]["bilirubin_grade"] == 0 and rows[2]["alt_grade"] == 0
    assert rows[2]["ast_grade"] is None and rows[2]["alp_grade"] is None
    assert all(r["hys_law"] is False for r in rows)


def test_liver_no_rows_without_liver_tests() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 1, o("2160-0", 1.0, "mg/dL"))
    assert liver(b) == []


@pytest.mark.parametrize(
    ("code", "uln", "values_grades"),
    [
        (
            "1742-6",
            40,
            [(40, 0), (41, 1), (120, 1), (121, 2), (200, 2), (201, 3), (800, 3), (801, 4)],
        ),
        ("1920-8", 40, [(40, 0), (40.5, 1), (120, 1), (120.5, 2), (800.5, 4)]),
        ("6768-6", 130, [(130, 0), (131, 1), (325, 1), (326, 2), (650, 2), (651, 3), (2601, 4)]),
    ],
)
def test_liver_enzyme_grades_normal_baseline(
    code: str, uln: float, values_grades: list[tuple[float, int]]
) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o(code, uln / 2, "U/L"))
    for i, (value, _) in enumerate(values_grades, start=1):
        add(b, 2 * i, o(code, value, "U/L"))
    key = {"1742-6": "alt_grade", "1920-8": "ast_grade", "6768-6": "alp_grade"}[code]
    got = [r[key] for r in liver(b)]
    assert got == [0] + [g for _, g in values_grades]


def test_bilirubin_grades_normal_baseline() -> None:
    values_grades = [
        (1.2, 0),
        (1.21, 1),
        (1.8, 1),
        (1.81, 2),
        (3.6, 2),
        (3.61, 3),
        (12, 3),
        (12.1, 4),
    ]
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1975-2", 0.6, "mg/dL"))
    for i, (value, _) in enumerate(values_grades, start=1):
        add(b, 2 * i, o("1975-2", value, "mg/dL"))
    got = [r["bilirubin_grade"] for r in liver(b)]
    assert got == [0] + [g for _, g in values_grades]


def test_grade_uses_the_lab_ref_high() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 20, "U/L", ref_high=25))
    add(b, 2, o("1742-6", 30, "U/L", ref_high=25))  # > ULN: grade 1 (default ULN 40 would say 0)
    add(b, 4, o("1742-6", 76, "U/L", ref_high=25))  # > 3 x 25: grade 2
    assert [r["alt_grade"] for r in liver(b)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("code", "unit", "baseline", "values_grades"),
    [
        # ALT/AST abnormal baseline: G1 from 1.5x baseline, G2 > 3x, G3 > 5x, G4 > 20x
        (
            "1742-6",
            "U/L",
            100,
            [(149, 0), (150, 1), (300, 1), (301, 2), (500, 2), (501, 3), (2001, 4)],
        ),
        ("1920-8", "U/L", 80, [(119, 0), (120, 1), (241, 2)]),
        # ALP abnormal baseline: G1 from 2.0x baseline, G2 > 2.5x
        ("6768-6", "U/L", 200, [(399, 0), (400, 1), (500, 1), (501, 2), (1001, 3)]),
        # bilirubin abnormal baseline: G1 above 1.0x baseline, G2 > 1.5x
        (
            "1975-2",
            "mg/dL",
            2.0,
            [(1.5, 0), (2.0, 0), (2.01, 1), (3.0, 1), (3.01, 2), (6.01, 3), (20.01, 4)],
        ),
    ],
)
def test_liver_grades_abnormal_baseline(
    code: str, unit: str, baseline: float, values_grades: list[tuple[float, int]]
) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o(code, baseline, unit))
    for i, (value, _) in enumerate(values_grades, start=1):
        add(b, 2 * i, o(code, value, unit))
    key = {
        "1742-6": "alt_grade",
        "1920-8": "ast_grade",
        "6768-6": "alp_grade",
        "1975-2": "bilirubin_grade",
    }[code]
    got = [r[key] for r in liver(b)]
    # the baseline itself is graded against itself: 0
    assert got == [0] + [g for _, g in values_grades]


def test_single_high_value_is_its_own_baseline() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 1, o("1742-6", 250, "U/L"))
    rows = liver(b)
    assert rows[0]["alt_grade"] == 0


@pytest.mark.parametrize(
    ("alt", "alp", "r", "pattern"),
    [
        (200, 130, 5.0, "hepatocellular"),  # R = 5
        (199, 130, 4.975, "mixed"),
        (80, 130, 2.0, "cholestatic"),  # R = 2
        (84, 130, 2.1, "mixed"),
        (60, 390, 0.5, "cholestatic"),
        (40, 130, 1.0, None),  # both within limits
        (30, 100, 0.975, None),
        (50, 130, 1.25, "cholestatic"),  # ALT above, ALP within
        (40, 260, 0.5, "cholestatic"),  # ALP above, ALT within
    ],
)
def test_r_ratio_and_pattern_same_time(
    alt: float, alp: float, r: float, pattern: str | None
) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 20, "U/L"), o("6768-6", 65, "U/L"))
    add(b, 10, o("1742-6", alt, "U/L"), o("6768-6", alp, "U/L"))
    row = liver(b)[-1]
    assert row["r_ratio"] == pytest.approx(r, abs=0.05)
    assert row["pattern"] == pattern


def test_r_ratio_uses_nearest_alp_within_12h() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("6768-6", 130, "U/L"))
    add(b, 8, o("6768-6", 260, "U/L"))
    add(b, 10, o("1742-6", 200, "U/L"))  # nearest ALP 260 (2 h before): R = 5 / 2 = 2.5
    add(b, 25, o("1742-6", 200, "U/L"))  # ALP 17 h away: none
    rows = liver(b)
    row10 = next(r for r in rows if same_time(r["time"], 10))
    row25 = next(r for r in rows if same_time(r["time"], 25))
    assert row10["r_ratio"] == pytest.approx(2.5, abs=0.05)
    assert row10["pattern"] == "mixed"
    assert row25["r_ratio"] is None
    assert row25["pattern"] is None


def test_r_ratio_nearest_alp_can_be_after_alt() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 10, o("1742-6", 400, "U/L"))
    add(b, 0, o("6768-6", 260, "U/L"))  # 10 h before
    add(b, 19, o("6768-6", 130, "U/L"))  # 9 h after: nearer
    row10 = next(r for r in liver(b) if same_time(r["time"], 10))
    assert row10["r_ratio"] == pytest.approx(10.0, abs=0.05)
    assert row10["pattern"] == "hepatocellular"


def test_r_ratio_alp_exactly_12h_away_counts() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("6768-6", 130, "U/L"))
    add(b, 12, o("1742-6", 200, "U/L"))
    row = next(r for r in liver(b) if same_time(r["time"], 12))
    assert row["r_ratio"] == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize(
    ("alt", "ast", "bili", "alp", "hys"),
    [
        (120, None, 2.41, 259, True),
        (None, 120, 2.41, 259, True),
        (119, 119, 2.41, 259, False),
        (120, None, 2.4, 259, False),
        (120, None, 2.41, 260, False),
        (120, None, 2.41, None, False),
        (600, 600, 10, 100, True),
    ],
)
def test_hys_law(
    alt: float | None, ast: float | None, bili: float, alp: float | None, hys: bool
) -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(
        b,
        0,
        o("1742-6", 20, "U/L"),
        o("1920-8", 20, "U/L"),
        o("1975-2", 0.5, "mg/dL"),
        o("6768-6", 80, "U/L"),
    )
    items = [o("1975-2", bili, "mg/dL")]
    if alt is not None:
        items.append(o("1742-6", alt, "U/L"))
    if ast is not None:
        items.append(o("1920-8", ast, "U/L"))
    if alp is not None:
        items.append(o("6768-6", alp, "U/L"))
    add(b, 30, *items)
    row = liver(b)[-1]
    assert same_time(row["time"], 30)
    assert row["hys_law"] is hys


def test_hys_law_measured_together_within_12h() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 20, "U/L"), o("1975-2", 0.5, "mg/dL"), o("6768-6", 80, "U/L"))
    add(b, 20, o("1742-6", 150, "U/L"), o("6768-6", 100, "U/L"))
    add(b, 30, o("1975-2", 3.0, "mg/dL"))
    rows = liver(b)
    assert any(r["hys_law"] for r in rows)


def test_hys_law_not_when_more_than_12h_apart() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 20, "U/L"), o("1975-2", 0.5, "mg/dL"), o("6768-6", 80, "U/L"))
    add(b, 20, o("1742-6", 150, "U/L"), o("6768-6", 100, "U/L"))
    add(b, 20, o("1742-6", 20, "U/L"))
    add(b, 33, o("1975-2", 3.0, "mg/dL"), o("6768-6", 100, "U/L"), o("1742-6", 30, "U/L"))
    assert not any(r["hys_law"] for r in liver(b))


# ---- NEWS2 rows ---------------------------------------------------------------------------


def normal_set(**override: Any) -> list[tuple[Any, ...]]:
    base = {
        "rr": o("9279-1", 16, "/min"),
        "spo2": o("59408-5", 97, "%"),
        "air": o("3151-8", 0, "L/min"),
        "sbp": o("8480-6", 120, "mm[Hg]"),
        "hr": o("8867-4", 70, "/min"),
        "acvpu": o("il2tox:acvpu", "A"),
        "temp": o("8310-5", 37.0, "Cel"),
    }
    for k, v in override.items():
        if v is None:
            base.pop(k)
        else:
            base[k] = v
    return list(base.values())


def news2(b: CourseBuilder) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = result(b)["news2"]
    for r in rows:
        assert set(r) == NEWS2_KEYS
    return rows


def one_set(spo2_target: str | None = None, **override: Any) -> dict[str, Any]:
    b = CourseBuilder(spo2_target=spo2_target).dose(1, 1, at=20)
    add(b, 10, *normal_set(**override))
    rows = news2(b)
    assert len(rows) == 1
    assert same_time(rows[0]["time"], 10)
    return rows[0]


def test_news2_complete_normal_set() -> None:
    row = one_set()
    assert row == {
        "time": row["time"],
        "score": 0,
        "red_single_parameter": False,
        "response": "low",
        "complete": True,
    }


@pytest.mark.parametrize(
    ("override", "score"),
    [
        ({"rr": o("9279-1", 8, "/min")}, 3),
        ({"rr": o("9279-1", 9, "/min")}, 1),
        ({"rr": o("9279-1", 11, "/min")}, 1),
        ({"rr": o("9279-1", 12, "/min")}, 0),
        ({"rr": o("9279-1", 20, "/min")}, 0),
        ({"rr": o("9279-1", 21, "/min")}, 2),
        ({"rr": o("9279-1", 24, "/min")}, 2),
        ({"rr": o("9279-1", 25, "/min")}, 3),
        ({"spo2": o("59408-5", 91, "%")}, 3),
        ({"spo2": o("59408-5", 92, "%")}, 2),
        ({"spo2": o("59408-5", 93, "%")}, 2),
        ({"spo2": o("59408-5", 94, "%")}, 1),
        ({"spo2": o("59408-5", 95, "%")}, 1),
        ({"spo2": o("59408-5", 95.5, "%")}, 0),
        ({"spo2": o("2708-6", 96, "%")}, 0),
        ({"air": o("3151-8", 2, "L/min")}, 2),
        ({"air": o("3150-0", 21, "%")}, 0),
        ({"air": o("3150-0", 28, "%")}, 2),
        ({"sbp": o("8480-6", 90, "mm[Hg]")}, 3),
        ({"sbp": o("8480-6", 90.5, "mm[Hg]")}, 2),
        ({"sbp": o("8480-6", 100, "mm[Hg]")}, 2),
        ({"sbp": o("8480-6", 101, "mm[Hg]")}, 1),
        ({"sbp": o("8480-6", 110, "mm[Hg]")}, 1),
        ({"sbp": o("8480-6", 111, "mm[Hg]")}, 0),
        ({"sbp": o("8480-6", 219, "mm[Hg]")}, 0),
        ({"sbp": o("8480-6", 220, "mm[Hg]")}, 3),
        ({"hr": o("8867-4", 40, "/min")}, 3),
        ({"hr": o("8867-4", 41, "/min")}, 1),
        ({"hr": o("8867-4", 50, "/min")}, 1),
        ({"hr": o("8867-4", 51, "/min")}, 0),
        ({"hr": o("8867-4", 90, "/min")}, 0),
        ({"hr": o("8867-4", 91, "/min")}, 1),
        ({"hr": o("8867-4", 110, "/min")}, 1),
        ({"hr": o("8867-4", 111, "/min")}, 2),
        ({"hr": o("8867-4", 130, "/min")}, 2),
        ({"hr": o("8867-4", 131, "/min")}, 3),
        ({"acvpu": o("il2tox:acvpu", "C")}, 3),
        ({"acvpu": o("il2tox:acvpu", "V")}, 3),
        ({"acvpu": o("il2tox:acvpu", "U")}, 3),
        ({"temp": o("8310-5", 35.0, "Cel")}, 3),
        ({"temp": o("8310-5", 35.05, "Cel")}, 1),
        ({"temp": o("8310-5", 36.0, "Cel")}, 1),
        ({"temp": o("8310-5", 36.05, "Cel")}, 0),
        ({"temp": o("8310-5", 38.0, "Cel")}, 0),
        ({"temp": o("8310-5", 38.05, "Cel")}, 1),
        ({"temp": o("8310-5", 39.0, "Cel")}, 1),
        ({"temp": o("8310-5", 39.05, "Cel")}, 2),
        ({"temp": o("8310-5", 100.49, "[degF]")}, 1),
        ({"temp": o("8310-5", 102.5, "[degF]")}, 2),
    ],
)
def test_news2_parameter_bands(override: dict[str, Any], score: int) -> None:
    row = one_set(**override)
    assert row["complete"] is True
    assert row["score"] == score
    assert row["red_single_parameter"] is (score == 3)


@pytest.mark.parametrize(
    ("target", "spo2", "oxygen", "score"),
    [
        ("88-92", 83, False, 3),
        ("88-92", 84, False, 2),
        ("88-92", 86, False, 1),
        ("88-92", 88, False, 0),
        ("88-92", 92, False, 0),
        ("88-92", 97, False, 0),  # >= 93 on air
        ("88-92", 90, True, 2),  # 88-92 on oxygen: 0 for SpO2, 2 for oxygen
        ("88-92", 93, True, 3),  # 93-94 on O2: 1 + oxygen 2
        ("88-92", 95, True, 4),
        ("88-92", 97, True, 5),
        ("94-98", 90, False, 3),
        ("94-98", 97, True, 2),
        (None, 90, False, 3),
        (None, 97, True, 2),
    ],
)
def test_news2_scale_2_only_for_88_92(
    target: str | None, spo2: float, oxygen: bool, score: int
) -> None:
    row = one_set(
        target,
        spo2=o("59408-5", spo2, "%"),
        air=o("3151-8", 2 if oxygen else 0, "L/min"),
    )
    assert row["score"] == score


@pytest.mark.parametrize(
    ("override", "score", "red", "response"),
    [
        ({"hr": o("8867-4", 100, "/min")}, 1, False, "low"),
        (
            {"hr": o("8867-4", 120, "/min"), "sbp": o("8480-6", 95, "mm[Hg]")},
            4,
            False,
            "low",
        ),
        ({"rr": o("9279-1", 26, "/min")}, 3, True, "low-medium"),
        ({"rr": o("9279-1", 26, "/min"), "hr": o("8867-4", 95, "/min")}, 4, True, "low-medium"),
        ({"rr": o("9279-1", 26, "/min"), "hr": o("8867-4", 120, "/min")}, 5, True, "medium"),
        (
            {
                "hr": o("8867-4", 120, "/min"),
                "sbp": o("8480-6", 95, "mm[Hg]"),
                "temp": o("8310-5", 38.5, "Cel"),
            },
            5,
            False,
            "medium",
        ),
        (
            {
                "hr": o("8867-4", 120, "/min"),
                "sbp": o("8480-6", 95, "mm[Hg]"),
                "temp": o("8310-5", 39.5, "Cel"),
            },
            6,
            False,
            "medium",
        ),
        (
            {
                "hr": o("8867-4", 120, "/min"),
                "sbp": o("8480-6", 95, "mm[Hg]"),
                "temp": o("8310-5", 39.5, "Cel"),
                "air": o("3151-8", 2, "L/min"),
            },
            8,
            False,
            "high",
        ),
        (
            {
                "acvpu": o("il2tox:acvpu", "P"),
                "sbp": o("8480-6", 85, "mm[Hg]"),
                "hr": o("8867-4", 95, "/min"),
            },
            7,
            True,
            "high",
        ),
    ],
)
def test_news2_response(override: dict[str, Any], score: int, red: bool, response: str) -> None:
    row = one_set(**override)
    assert (row["score"], row["red_single_parameter"], row["response"]) == (score, red, response)


def test_news2_incomplete_set_scores_what_is_there() -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    add(b, 10, o("8867-4", 135, "/min"), o("8310-5", 38.5, "Cel"))
    rows = news2(b)
    assert len(rows) == 1
    assert rows[0]["complete"] is False
    assert rows[0]["score"] == 4


@pytest.mark.parametrize("missing", ["rr", "spo2", "air", "sbp", "hr", "acvpu", "temp"])
def test_news2_six_of_seven_is_incomplete(missing: str) -> None:
    row = one_set(**{missing: None})
    assert row["complete"] is False
    assert row["score"] == 0


def test_news2_fio2_counts_as_air_or_oxygen_recorded() -> None:
    row = one_set(air=o("3150-0", 21, "%"))
    assert row["complete"] is True


def test_news2_one_row_per_time_with_60_minute_sets() -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    t0 = 10.0
    add(b, t0, *normal_set(hr=o("8867-4", 135, "/min")))  # full set, HR scores 3
    add(b, t0 + 1.0, o("9279-1", 16, "/min"))  # exactly 60 min later: the HR still counts
    add(b, t0 + 1.0 + 1 / 60, o("8310-5", 37, "Cel"))  # 61 min after HR 135
    add(b, t0 + 0.5, o("8867-4", 80, "/min"))  # newer HR replaces 135 in later sets
    rows = news2(b)
    times = [iso(r["time"]) for r in rows]
    assert times == sorted(times)
    assert len(rows) == 4
    by_offset = {round((iso(r["time"]) - iso(at_hours(t0))).total_seconds() / 60): r for r in rows}
    assert by_offset[0]["score"] == 3 and by_offset[0]["complete"] is True
    assert by_offset[30]["score"] == 0 and by_offset[30]["complete"] is True
    assert by_offset[60]["score"] == 0
    assert by_offset[61]["score"] == 0


def test_news2_60_minute_window_inclusive() -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    add(b, 10, o("8867-4", 135, "/min"))
    add(b, 11, o("9279-1", 16, "/min"))
    add(b, 11 + 1 / 60, o("8310-5", 37, "Cel"))
    rows = news2(b)
    assert [r["score"] for r in rows] == [3, 3, 0]
    assert all(r["complete"] is False for r in rows)


def test_news2_no_rows_without_parameters() -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    add(b, 10, o("2160-0", 1.0, "mg/dL"), o("8462-4", 70, "mm[Hg]"))
    assert news2(b) == []


# ---- CLI ----------------------------------------------------------------------------------
#
# Every CLI scenario is a real subprocess (`.venv/bin/python -m il2_tox assess FILE...`); they
# are started together once per module so the suite stays quick.


def write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc, encoding="utf-8")
    return path


def _good_doc() -> dict[str, Any]:
    return CourseBuilder().dose(1, 1, at=2).obs("8867-4", 80, "/min", at=1).document()


def _mutated(fn: Any) -> dict[str, Any]:
    doc = _good_doc()
    fn(doc)
    return doc


BAD_DOCS: dict[str, tuple[Any, str | None]] = {
    "no_weight": (_mutated(lambda d: d["patient"].pop("weight_kg")), "weight_kg"),
    "bad_unit": (_mutated(lambda d: d["observations"][0].update(unit="bpm")), "unit"),
    "no_unit": (_mutated(lambda d: d["observations"][0].pop("unit")), "unit"),
    "naive_time": (
        _mutated(lambda d: d["observations"][0].update(time="2026-11-20T07:00:00")),
        "time",
    ),
    "bad_status": (_mutated(lambda d: d["doses"][0].update(status="maybe")), "status"),
    "no_observations": (_mutated(lambda d: d.pop("observations")), "observations"),
    "bad_format": (_mutated(lambda d: d.update(format="il2-tox-course/9")), "format"),
    "urine_without_period": (
        _mutated(
            lambda d: d["observations"].append(
                {"time": "2026-11-20T07:00:00Z", "code": "9187-6", "value": 100, "unit": "mL"}
            )
        ),
        "period_h",
    ),
    "prior_without_resolved": (
        _mutated(
            lambda d: d.update(prior_toxicities=[{"agent": "x", "irae": "colitis", "grade": 2}])
        ),
        "resolved",
    ),
    "not_json": ("{not json", None),
}


CLI_BAD = ("no_weight", "bad_unit", "naive_time", "not_json")


def _z_doc() -> dict[str, Any]:
    doc = CourseBuilder(patient_id="Z-1").document()
    doc["doses"] = [{"cycle": 1, "number": 1, "time": "2026-11-20T08:00:00Z", "status": "given"}]
    doc["observations"] = [
        {"time": "2026-11-20T07:30:00Z", "code": "8867-4", "value": 90, "unit": "/min"}
    ]
    return doc


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[bytes]]:
    tmp = tmp_path_factory.mktemp("cli")
    busy = write(tmp, "busy.json", busy_course().document())
    several = []
    for i in range(3):
        b = CourseBuilder(patient_id=f"P-{i}").dose(1, 1, at=2 + i)
        add(b, 1, o("8867-4", 80 + i, "/min"))
        several.append(write(tmp, f"c{i}.json", b.document()))
    several.reverse()
    several.insert(1, write(tmp, "z.json", _z_doc()))
    scenarios: dict[str, list[Path]] = {
        "single": [busy],
        "single_again": [busy],
        "several": several,
        "good_then_bad": [several[0], write(tmp, "bad_gb.json", BAD_DOCS["no_weight"][0])],
    }
    for name in CLI_BAD:
        doc = BAD_DOCS[name][0]
        scenarios[f"bad:{name}"] = [write(tmp, f"bad_{name}.json", doc)]
    procs = {
        name: subprocess.Popen(
            [str(PYTHON), "-m", "il2_tox", "assess", *map(str, files)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
        for name, files in scenarios.items()
    }
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


def test_cli_single_file(cli: dict[str, subprocess.CompletedProcess[bytes]]) -> None:
    proc = cli["single"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    out = json.loads(proc.stdout)
    assert out == result(busy_course())
    assert out["format"] == "il2-tox-assessment/1"


def test_cli_several_files_one_line_each_in_order(
    cli: dict[str, subprocess.CompletedProcess[bytes]],
) -> None:
    proc = cli["several"]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 4
    assert [json.loads(line)["patient_id"] for line in lines] == ["P-2", "Z-1", "P-1", "P-0"]


def test_cli_deterministic_bytes(cli: dict[str, subprocess.CompletedProcess[bytes]]) -> None:
    assert cli["single"].returncode == 0
    assert cli["single"].stdout == cli["single_again"].stdout


@pytest.mark.parametrize("name", CLI_BAD)
def test_cli_bad_file(name: str, cli: dict[str, subprocess.CompletedProcess[bytes]]) -> None:
    proc = cli[f"bad:{name}"]
    field = BAD_DOCS[name][1]
    assert proc.returncode == 2
    assert proc.stdout == b""
    err = proc.stderr.decode()
    assert err.endswith("\n")
    assert len(err.splitlines()) == 1, err
    if field is not None:
        assert field in err


@pytest.mark.parametrize("name", [n for n in BAD_DOCS if n != "not_json"])
def test_bad_course_error_names_the_field(name: str) -> None:
    """The same validation the CLI reports, in process (the CLI itself is run for CLI_BAD)."""
    doc, field = BAD_DOCS[name]
    with pytest.raises(ValueError) as err:
        parse_course(doc)
    assert field is not None and field in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_cli_bad_file_among_good_prints_nothing(
    cli: dict[str, subprocess.CompletedProcess[bytes]],
) -> None:
    """Reading: a bad file anywhere in the list makes the command print nothing on stdout."""
    proc = cli["good_then_bad"]
    assert proc.returncode == 2
    assert proc.stdout == b""
    assert len(proc.stderr.decode().splitlines()) == 1
    assert "weight_kg" in proc.stderr.decode()


def test_cli_accepts_z_times(cli: dict[str, subprocess.CompletedProcess[bytes]]) -> None:
    proc = cli["several"]
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.splitlines()[1])
    assert iso(out["as_of"]) == iso("2026-11-20T08:00:00+00:00")
    nxt = iso(out["dose_advice"][1]["time"])
    assert nxt == iso("2026-11-20T08:00:00+00:00") + timedelta(hours=8)


# ---- further spec edges -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "score"),
    [
        ({"spo2": o("59408-5", 91.5, "%")}, 2),
        ({"spo2": o("59408-5", 93.5, "%")}, 1),
        ({"rr": o("9279-1", 20.5, "/min")}, 2),
        ({"rr": o("9279-1", 8.5, "/min")}, 1),
        ({"rr": o("9279-1", 24.5, "/min")}, 3),
        ({"hr": o("8867-4", 90.5, "/min")}, 1),
        ({"hr": o("8867-4", 130.5, "/min")}, 3),
        ({"hr": o("8867-4", 40.5, "/min")}, 1),
        ({"sbp": o("8480-6", 110.5, "mm[Hg]")}, 0),
        ({"sbp": o("8480-6", 219.5, "mm[Hg]")}, 3),
    ],
)
def test_news2_contiguous_bands_upper_end_inclusive(override: dict[str, Any], score: int) -> None:
    assert one_set(**override)["score"] == score


@pytest.mark.parametrize(
    ("spo2", "score"),
    [(85.5, 3), (87.5, 2), (92.5, 3), (94.5, 4), (96.5, 5)],
)
def test_news2_scale_2_contiguous_on_oxygen(spo2: float, score: int) -> None:
    row = one_set("88-92", spo2=o("59408-5", spo2, "%"), air=o("3151-8", 2, "L/min"))
    assert row["score"] == score


@pytest.mark.parametrize(
    "item",
    [o("3150-0", 28, "%"), o("3151-8", 0, "L/min"), o("2708-6", 97, "%"), o("il2tox:acvpu", "A")],
)
def test_news2_row_for_any_single_parameter(item: tuple[Any, ...]) -> None:
    b = CourseBuilder().dose(1, 1, at=20)
    add(b, 10, item)
    rows = news2(b)
    assert len(rows) == 1 and rows[0]["complete"] is False


def test_abnormal_baseline_needs_baseline_above_uln() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 40, "U/L"))  # at ULN: normal baseline
    add(b, 2, o("1742-6", 41, "U/L"))
    assert [r["alt_grade"] for r in liver(b)] == [0, 1]
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 41, "U/L"))  # above ULN: abnormal baseline
    add(b, 2, o("1742-6", 61, "U/L"))  # 1.49 x baseline
    add(b, 4, o("1742-6", 61.5, "U/L"))  # 1.5 x baseline
    assert [r["alt_grade"] for r in liver(b)] == [0, 0, 1]


def test_r_ratio_uses_each_lab_uln() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 100, "U/L", ref_high=50), o("6768-6", 100, "U/L", ref_high=100))
    row = liver(b)[0]
    assert row["r_ratio"] == pytest.approx(2.0, abs=0.05)
    assert row["pattern"] == "cholestatic"


def test_hys_law_uses_uln_not_abnormal_baseline() -> None:
    b = CourseBuilder().dose(1, 1, at=2)
    add(b, 0, o("1742-6", 100, "U/L"), o("1975-2", 0.5, "mg/dL"), o("6768-6", 80, "U/L"))
    add(b, 10, o("1742-6", 125, "U/L"), o("1975-2", 2.5, "mg/dL"), o("6768-6", 80, "U/L"))
    row = liver(b)[-1]
    assert row["alt_grade"] == 0  # 1.25 x the abnormal baseline
    assert row["hys_law"] is True


@pytest.mark.parametrize(("finding_at", "cycle", "after"), [(1, 1, 0), (100, 1, 5), (301, 2, 1)])
def test_flag_before_first_dose_and_between_cycles(
    finding_at: float, cycle: int, after: int
) -> None:
    b = CourseBuilder()
    for n in range(1, 6):
        b.dose(1, n, at=2 + 8 * (n - 1))
    b.dose(2, 1, at=300)
    add(b, finding_at, o("2160-0", 2.8, "mg/dL"))
    f = _renal_flag_time(result(b))
    assert same_time(f["time"], finding_at)
    assert (f["cycle"], f["after_dose"]) == (cycle, after)
