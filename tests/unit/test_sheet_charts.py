"""The handoff sheet's charts (il2_tox.sheets.charts): units in every panel title, the legend
and the target SBP, dose marks, and no text drawn over the plotted data."""

from __future__ import annotations

from datetime import UTC, timedelta

from reportlab.graphics.shapes import Drawing, Rect, String
from reportlab.pdfbase.pdfmetrics import stringWidth

from il2_tox.assess import assess
from il2_tox.rules.base import HR, SBP, TEMP, WEIGHT, fmt
from il2_tox.services.ward import summarize
from il2_tox.sheets.charts import GRID, trend_chart
from il2_tox.sheets.handoff import PatientHandoff, patient_handoff
from tests.builders import ADMITTED, CourseBuilder

NOW = ADMITTED + timedelta(hours=19)
WIDTH = 500.0


def handoff() -> PatientHandoff:
    """Return a handoff whose values reach the top of every panel (39.9 °C, HR 139)."""
    builder = (
        CourseBuilder(usual_sbp=118)
        .dose(1, 1, at=0)
        .dose(1, 2, at=10, status="held", reason="SBP 82")
    )
    for hour in range(1, 19, 3):
        builder.obs(SBP, 139 - hour, "mm[Hg]", at=hour).obs(HR, 139, "/min", at=hour)
        builder.obs(TEMP, 39.9, "Cel", at=hour)
    builder.obs(WEIGHT, 77.9, "kg", at=12)
    c = builder.build()
    a = assess(c)
    return patient_handoff(c, a, summarize(c, a, NOW), {}, NOW)


def strings(drawing: Drawing) -> list[String]:
    return [s for s in drawing.contents if isinstance(s, String)]


def frames(drawing: Drawing) -> list[Rect]:
    return [r for r in drawing.contents if isinstance(r, Rect) and r.strokeColor == GRID]


def extent(s: String) -> tuple[float, float, float, float]:
    """Return the box (x0, y0, x1, y1) a string covers (descenders ignored)."""
    w = stringWidth(s.text, s.fontName, s.fontSize)
    x0 = {"start": s.x, "middle": s.x - w / 2, "end": s.x - w}[s.textAnchor]
    return (x0, s.y, x0 + w, s.y + s.fontSize * 0.75)


def test_every_panel_is_titled_with_its_unit_and_the_target_sbp_is_in_the_legend() -> None:
    sheet = handoff()
    texts = [s.text for s in strings(trend_chart(sheet, WIDTH, UTC))]
    for title in ("SBP (mmHg) · HR (/min)", "Temp (°C)", "Weight (% over baseline)"):
        assert title in texts
    assert {"SBP", "HR"} <= set(texts)
    assert f"- - target SBP {fmt(sheet.row.target_sbp)}" in texts


def test_no_title_legend_or_dose_label_is_drawn_over_a_plot_area() -> None:
    drawing = trend_chart(handoff(), WIDTH, UTC)
    boxes = [(r.x, r.y, r.x + r.width, r.y + r.height) for r in frames(drawing)]
    assert len(boxes) == 3
    for s in strings(drawing):
        x0, y0, x1, y1 = extent(s)
        for fx0, fy0, fx1, fy1 in boxes:
            overlaps = x0 < fx1 and x1 > fx0 and y0 < fy1 and y1 > fy0
            assert not overlaps, s.text


def test_doses_are_marked_along_the_top_and_stay_over_the_time_axis() -> None:
    drawing = trend_chart(handoff(), WIDTH, UTC)
    left = min(r.x for r in frames(drawing))
    right = max(r.x + r.width for r in frames(drawing))
    labels = {s.text: extent(s) for s in strings(drawing)}
    for text in ("1", "2 held", "next 3"):
        x0, _, x1, _ = labels[text]
        assert left <= x0 and x1 <= right + 0.01, text


def test_a_patient_admitted_two_hours_ago_has_a_labelled_time_axis() -> None:
    now = ADMITTED + timedelta(hours=2, minutes=10)
    c = CourseBuilder().obs(SBP, 120, "mm[Hg]", at=0.5).obs(HR, 80, "/min", at=1.5).build()
    a = assess(c)
    sheet = patient_handoff(c, a, summarize(c, a, now), {}, now)
    texts = [s.text for s in strings(trend_chart(sheet, WIDTH, UTC))]
    assert [t for t in texts if t.endswith(":00")] == ["06:00", "07:00", "08:00"]  # from 06:00


def test_a_19_hour_window_is_labelled_every_6_hours() -> None:
    texts = [s.text for s in strings(trend_chart(handoff(), WIDTH, UTC))]
    assert [t for t in texts if t.endswith(":00")] == ["06:00", "12:00", "18:00", "00:00"]


def test_a_48_hour_window_is_labelled_every_12_hours() -> None:
    now = ADMITTED + timedelta(hours=60)
    c = CourseBuilder().obs(SBP, 120, "mm[Hg]", at=30).build()
    a = assess(c)
    sheet = patient_handoff(c, a, summarize(c, a, now), {}, now)
    texts = [s.text for s in strings(trend_chart(sheet, WIDTH, UTC))]
    assert [t for t in texts if t.endswith(":00")] == ["00:00", "12:00", "00:00", "12:00"]
