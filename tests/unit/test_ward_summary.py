"""The ward row of one patient: what the overview shows, computed without a page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from il2_tox.assess import assess
from il2_tox.rules.config import load_rules
from il2_tox.services.ward import WardRow, summarize, ward_rows
from tests.builders import ADMITTED, CourseBuilder


def row_for(builder: CourseBuilder, now: datetime) -> WardRow:
    course = builder.build()
    return summarize(course, assess(course), now, load_rules())


def test_it_counts_the_next_dose_and_the_doses_given() -> None:
    builder = CourseBuilder().dose(1, 1, at=2).dose(1, 2, at=10, status="held", reason="SBP 80")
    row = row_for(builder, ADMITTED + timedelta(hours=11))
    assert row.dose_label == "C1 · dose 3/14"
    assert row.doses_given == 1
    assert row.next_dose_time == ADMITTED + timedelta(hours=18)


def test_it_says_how_long_until_the_next_dose() -> None:
    row = row_for(CourseBuilder().dose(1, 1, at=2), ADMITTED)
    assert row.next_dose_in(ADMITTED + timedelta(hours=8, minutes=55)) == "in 1 h 05"
    assert row.next_dose_in(ADMITTED + timedelta(hours=9, minutes=50)) == "in 10 min"
    assert row.next_dose_in(ADMITTED + timedelta(hours=10, minutes=20)) == "due 20 min ago"


def test_it_marks_vitals_overdue_after_4_hours() -> None:
    builder = CourseBuilder().obs("8480-6", 120, "mm[Hg]", at=1)
    at_4h = ADMITTED + timedelta(hours=5)
    assert not row_for(builder, at_4h).overdue
    assert row_for(builder, at_4h + timedelta(minutes=1)).overdue


def test_a_patient_without_vitals_is_overdue() -> None:
    assert row_for(CourseBuilder(), ADMITTED).overdue


def test_it_reports_weight_gain_against_the_pre_treatment_weight() -> None:
    builder = (
        CourseBuilder(weight_kg=80).obs("29463-7", 82, "kg", at=1).obs("29463-7", 88, "kg", at=25)
    )
    row = row_for(builder, ADMITTED + timedelta(hours=26))
    assert row.weight_trend == pytest.approx((2.5, 10.0))
    assert row.weight_gain_pct == pytest.approx(10.0)


def test_the_sbp_trend_covers_the_last_24_hours() -> None:
    builder = (
        CourseBuilder()
        .obs("8480-6", 130, "mm[Hg]", at=1)
        .obs("8480-6", 110, "mm[Hg]", at=20)
        .obs("8480-6", 95, "mm[Hg]", at=30)
    )
    row = row_for(builder, ADMITTED + timedelta(hours=30))
    assert row.sbp_trend == (110.0, 95.0)


def test_hold_comes_before_caution_before_give() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    give = CourseBuilder(patient_id="GIVE").dose(1, 1, at=2)
    caution = CourseBuilder(patient_id="CAUTION").dose(1, 1, at=2).obs("8867-4", 110, "/min", at=9)
    hold = CourseBuilder(patient_id="HOLD").dose(1, 1, at=2).obs("8867-4", 140, "/min", at=9)
    rows = ward_rows([b.build() for b in (give, caution, hold)], load_rules(), now)
    assert [r.patient_id for r in rows] == ["HOLD", "CAUTION", "GIVE"]
    assert [r.advice for r in rows] == ["hold", "caution", "give"]


def _row(
    patient_id: str, advice: str | None, critical: int = 0, warning: int = 0, **more: Any
) -> WardRow:
    fields: dict[str, Any] = {
        "patient_id": patient_id,
        "name": patient_id,
        "bed": "1",
        "cycle": 1,
        "doses_given": 1,
        "next_dose_number": 2,
        "next_dose_time": None,
        "advice": advice,
        "criteria": (),
        "critical": critical,
        "warning": warning,
        "flags": (),
        "news2": None,
        "news2_response": None,
        "weight_gain_pct": None,
        "last_vitals_at": None,
        "overdue": False,
    }
    fields.update(more)
    return WardRow(**fields)


def _ordered(*rows: WardRow) -> list[str]:
    return [r.patient_id for r in sorted(rows, key=WardRow.urgency)]


def test_a_critical_flag_comes_before_caution_advice_without_one() -> None:
    # The ward's first rows are hold advice and critical flags, whatever the next advice.
    assert _ordered(
        _row("CAUTION", "caution", warning=3),
        _row("GIVE-CRITICAL", "give", critical=1),
        _row("HOLD", "hold"),
    ) == ["HOLD", "GIVE-CRITICAL", "CAUTION"]


def test_hold_with_fewer_critical_flags_still_comes_before_any_other_advice() -> None:
    assert _ordered(_row("GIVE", "give", critical=3), _row("HOLD", "hold", critical=0)) == [
        "HOLD",
        "GIVE",
    ]


def test_among_equal_critical_flags_caution_comes_before_give() -> None:
    assert _ordered(
        _row("GIVE", "give", critical=2, warning=5), _row("CAUTION", "caution", critical=2)
    ) == ["CAUTION", "GIVE"]


def test_then_warnings_then_news2_then_the_bed_in_its_natural_order() -> None:
    assert _ordered(
        _row("BED-10", "give", bed="10"),
        _row("BED-2", "give", bed="2"),
        _row("NEWS-5", "give", news2=5, bed="9"),
        _row("WARN", "give", warning=1, bed="8"),
        _row("SIDE-ROOM", "give", bed="side room"),
    ) == ["WARN", "NEWS-5", "BED-2", "BED-10", "SIDE-ROOM"]


def test_a_finished_cycle_has_no_advice_and_sorts_as_give() -> None:
    assert _ordered(_row("DONE", None, bed="1"), _row("CAUTION", "caution", bed="2")) == [
        "CAUTION",
        "DONE",
    ]
