"""The vitals sheet: rows by time, columns with units, doses and flags marked, one cycle at a
time, and its CSV (il2_tox.sheets.vitals)."""

from __future__ import annotations

import csv
import io
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from il2_tox.assess import assess
from il2_tox.course import Course
from il2_tox.rules.base import HR, SBP, TEMP, URINE, WEIGHT
from il2_tox.sheets.vitals import COLUMNS, CSV_FIXED, vitals_csv, vitals_sheet
from tests.builders import CourseBuilder


def two_cycles() -> Course:
    return (
        CourseBuilder(usual_sbp=118)
        .obs(HR, 78, "/min", at=1)  # baseline, before dose 1: cycle 1
        .obs(TEMP, 98.6, "[degF]", at=1)
        .dose(1, 1, at=2)
        .obs(SBP, 104, "mm[Hg]", at=6)
        .obs(URINE, 350, "mL", at=6, period_h=4)
        .dose(1, 2, at=10, status="held", reason="SBP 82 <b>on</b> phenylephrine")
        .obs(WEIGHT, 74.25, "kg", at=11)
        .dose(2, 1, at=200)
        .obs(HR, 101, "/min", at=203)
        .build()
    )


def test_every_column_header_names_its_unit() -> None:
    titles = {c.code: c.title for c in COLUMNS}
    assert titles[HR] == "HR (/min)"
    assert titles[SBP] == "SBP (mmHg)"
    assert titles[TEMP] == "Temp (°C)"
    assert titles[WEIGHT] == "Weight (kg)"
    assert titles["il2tox:acvpu"] == "ACVPU"  # coded: no unit


def test_rows_are_the_times_of_the_chosen_cycle_with_baseline_in_cycle_1() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course), cycle=1)
    assert sheet.cycles == (1, 2)
    assert [r.time.hour for r in sheet.rows] == [7, 8, 12, 16, 17]
    first = sheet.rows[0]
    assert first.values[HR] == "78"
    assert first.values[TEMP] == "37.0"  # 98.6 °F in the °C column, with its tenth
    assert first.doses == ()


def test_the_latest_cycle_is_the_default() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course))
    assert sheet.cycle == 2
    assert [r.values[HR] for r in sheet.rows if r.values[HR]] == ["101"]
    assert [d.number for r in sheet.rows for d in r.doses] == [1]


def test_a_cycle_not_in_the_course_is_refused_naming_the_cycles() -> None:
    course = two_cycles()
    with pytest.raises(ValueError, match=r"cycle 3 is not in TEST-001's course \(cycles: 1, 2\)"):
        vitals_sheet(course, assess(course), cycle=3)


def test_a_course_without_doses_has_cycle_1() -> None:
    course = CourseBuilder().obs(HR, 80, "/min", at=1).build()
    sheet = vitals_sheet(course, assess(course))
    assert (sheet.cycle, sheet.cycles, len(sheet.rows)) == (1, (1,), 1)


def test_held_doses_are_marked_with_their_reason_as_typed() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course), cycle=1)
    held = [r for r in sheet.rows if r.held]
    assert len(held) == 1
    assert held[0].dose_text() == "dose 2 HELD: SBP 82 <b>on</b> phenylephrine"
    given = [r for r in sheet.rows if r.doses and not r.held]
    assert given[0].dose_text() == "dose 1 given"


def test_urine_shows_its_collection_period_and_weight_as_typed() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course), cycle=1)
    assert [r.values[URINE] for r in sheet.rows if r.values[URINE]] == ["350 /4 h"]
    assert [r.values[WEIGHT] for r in sheet.rows if r.values[WEIGHT]] == ["74.25"]


def test_flags_are_marked_at_the_time_they_were_raised() -> None:
    course = (
        CourseBuilder(usual_sbp=118)
        .dose(1, 1, at=2)
        .obs(SBP, 78, "mm[Hg]", at=6)
        .obs(HR, 135, "/min", at=6)
        .build()
    )
    assessment = assess(course)
    sheet = vitals_sheet(course, assessment)
    raised = {f.time for f in assessment.flags}
    assert raised, "the course should raise flags"
    for row in sheet.rows:
        codes = {f.code for f in row.flags}
        assert codes == {f.code for f in assessment.flags if f.time == row.time}
    assert set(sheet.flags) == set(assessment.flags)


def test_printed_columns_are_the_core_vitals_and_anything_measured() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course), cycle=1)
    printed = [c.code for c in sheet.printed_columns()]
    assert URINE in printed and WEIGHT in printed
    assert "il2tox:rales" not in printed  # not measured in this cycle
    assert {"8867-4", "8480-6", "8310-5", "59408-5", "9279-1", "8462-4"} <= set(printed)


def test_the_csv_has_a_header_with_units_and_one_row_per_time() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course), cycle=1)
    rows = list(csv.reader(io.StringIO(vitals_csv(sheet, UTC))))
    assert rows[0] == [*CSV_FIXED, *(c.title for c in COLUMNS)]
    assert len(rows) == 1 + len(sheet.rows)
    assert all(len(row) == len(rows[0]) for row in rows)
    by_time = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    baseline = by_time["2026-11-20T07:00:00+00:00"]
    assert baseline["HR (/min)"] == "78"
    held = by_time["2026-11-20T16:00:00+00:00"]
    assert held["dose"] == "dose 2 HELD: SBP 82 <b>on</b> phenylephrine"


def test_csv_times_are_in_the_ward_zone_with_their_offset() -> None:
    course = two_cycles()
    sheet = vitals_sheet(course, assess(course), cycle=1)
    rows = list(csv.reader(io.StringIO(vitals_csv(sheet, ZoneInfo("America/New_York")))))
    assert rows[1][0] == "2026-11-20T02:00:00-05:00"


def test_no_csv_cell_starts_as_a_spreadsheet_formula() -> None:
    """A reason typed as a formula is kept as typed, after fixed words: never run by a
    spreadsheet (no cell starts with = + - @)."""
    course = (
        CourseBuilder()
        .obs(HR, 80, "/min", at=1)
        .dose(1, 1, at=2, status="held", reason='=HYPERLINK("http://x","y")')
        .build()
    )
    text = vitals_csv(vitals_sheet(course, assess(course), cycle=1), UTC)
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert 'dose 1 HELD: =HYPERLINK("http://x","y")' in cells
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")]


@pytest.mark.parametrize(
    ("entered", "unit", "shown"),
    [
        (38.0, "Cel", "38.0"),
        (38.85, "Cel", "38.9"),
        (100.4, "[degF]", "38.0"),
        (39.44, "Cel", "39.4"),
    ],
)
def test_a_temperature_cell_always_shows_its_tenth(entered: float, unit: str, shown: str) -> None:
    course = CourseBuilder().obs(TEMP, entered, unit, at=1).build()
    (row,) = vitals_sheet(course, assess(course), cycle=1).rows
    assert row.values[TEMP] == shown


def test_other_cells_keep_four_significant_digits_without_trailing_zeros() -> None:
    course = CourseBuilder().obs(WEIGHT, 74.0, "kg", at=1).obs(HR, 101, "/min", at=1).build()
    (row,) = vitals_sheet(course, assess(course), cycle=1).rows
    assert (row.values[WEIGHT], row.values[HR]) == ("74", "101")
