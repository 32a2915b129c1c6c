"""The handoff sheet's charts, drawn by ReportLab as vector graphics (no browser, no image
library): the last CHART_HOURS of SBP and HR with the target SBP, temperature, and weight gain
over the pre-treatment weight, with the doses (given, held, next) along the top."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase.pdfmetrics import stringWidth

from il2_tox.rules.base import fmt
from il2_tox.sheets.fonts import fonts
from il2_tox.sheets.handoff import PatientHandoff
from il2_tox.units import HR, SBP, TEMP, WEIGHT, display_unit

CHART_HOURS = 48  # the last two days (six doses)

GRID = colors.HexColor("#90a4ae")
ADVICE_COLOUR = {
    "hold": colors.HexColor("#b71c1c"),
    "caution": colors.HexColor("#e65100"),
    "give": colors.HexColor("#1b5e20"),
}
SBP_COLOUR = colors.HexColor("#1565c0")
HR_COLOUR = colors.HexColor("#6a1b9a")
TEMP_COLOUR = colors.HexColor("#ef6c00")
WEIGHT_COLOUR = colors.HexColor("#2e7d32")
TARGET_COLOUR = colors.HexColor("#c62828")


@dataclass(frozen=True)
class _Series:
    label: str
    points: list[tuple[datetime, float]]
    colour: colors.Color


def _points(handoff: PatientHandoff, code: str, since: datetime) -> list[tuple[datetime, float]]:
    return sorted(
        (o.time, float(o.value))
        for o in handoff.course.observations
        if o.code == code and o.time >= since and not isinstance(o.value, str)
    )


def _nice_range(
    values: Sequence[float], low: float, high: float, step: float
) -> tuple[float, float]:
    lo = min([low, *values])
    hi = max([high, *values])
    return (step * (lo // step), step * -(-hi // step))


def trend_chart(handoff: PatientHandoff, width: float, tz: tzinfo) -> Drawing:
    """Return the last CHART_HOURS of SBP and HR, temperature and weight gain, doses marked."""
    end = max(handoff.now, handoff.assessment.as_of)
    start = max(end - timedelta(hours=CHART_HOURS), handoff.course.admission.admitted_at)
    if end <= start:
        end = start + timedelta(hours=1)
    font = fonts()
    baseline = handoff.course.patient.weight_kg
    weight = [(t, (v / baseline - 1) * 100) for t, v in _points(handoff, WEIGHT, start)]
    panels: list[tuple[str, list[_Series], float, float, float, list[tuple[float, str]]]] = []
    sbp, hr = _points(handoff, SBP, start), _points(handoff, HR, start)
    target = handoff.row.target_sbp
    lo, hi = _nice_range([v for _, v in sbp + hr], 60, 140, 20)
    panels.append(
        (
            f"SBP ({display_unit('mm[Hg]')}) · HR (/min)",
            [_Series("SBP", sbp, SBP_COLOUR), _Series("HR", hr, HR_COLOUR)],
            lo,
            hi,
            20,
            [(target, f"target SBP {fmt(target)}")],
        )
    )
    temp = _points(handoff, TEMP, start)
    lo, hi = _nice_range([v for _, v in temp], 36, 39, 1)
    panels.append(("Temp (°C)", [_Series("Temp", temp, TEMP_COLOUR)], lo, hi, 1, []))
    lo, hi = _nice_range([v for _, v in weight], 0, 10, 5)
    panels.append(
        ("Weight (% over baseline)", [_Series("Weight", weight, WEIGHT_COLOUR)], lo, hi, 5, [])
    )

    # Each panel's title and legend sit in a strip above its frame, never over the data.
    left, right, doses_h, bottom = 46.0, 8.0, 12.0, 22.0
    panel_h, title_h = 54.0, 12.0
    top = doses_h + title_h
    gap = title_h + 2
    height = top + bottom + len(panels) * panel_h + (len(panels) - 1) * gap
    drawing = Drawing(width, height)
    plot_w = width - left - right
    span = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return left + plot_w * (moment - start).total_seconds() / span

    doses = [d for d in handoff.course.doses if start <= d.time <= end]
    plot_top = height - top
    plot_bottom = bottom
    label_top = plot_top + title_h  # the dose numbers, above the first panel's title strip

    def inside(x: float, text: str, size: float, anchor: str = "middle") -> float:
        """Return x moved so that a label anchored there stays over the plot, not the axis."""
        w = stringWidth(text, font.bold, size)
        lo, hi = left + (w / 2 if anchor == "middle" else w), left + plot_w
        hi -= w / 2 if anchor == "middle" else 0
        return min(max(x, lo), hi)

    for dose in doses:
        x = x_of(dose.time)
        given = dose.status == "given"
        mark = Line(x, plot_bottom, x, label_top)
        mark.strokeColor = colors.HexColor("#b0bec5") if given else TARGET_COLOUR
        mark.strokeWidth = 0.6 if given else 1.0
        if not given:
            mark.strokeDashArray = [3, 2]
        drawing.add(mark)
        label = f"{dose.number}" if given else f"{dose.number} held"
        drawing.add(
            String(
                inside(x, label, 6.5),
                label_top + 3,
                label,
                fontName=font.regular if given else font.bold,
                fontSize=6.5,
                fillColor=colors.black if given else TARGET_COLOUR,
                textAnchor="middle",
            )
        )
    nxt = handoff.next_dose
    if nxt is not None and start <= nxt.time:
        text = f"next {nxt.number}"
        drawing.add(
            String(
                inside(x_of(nxt.time), text, 6.5, "end"),
                label_top + 3,
                text,
                fontName=font.bold,
                fontSize=6.5,
                fillColor=ADVICE_COLOUR.get(nxt.advice, colors.black),
                textAnchor="end",
            )
        )

    for i, (title, series, lo, hi, step, refs) in enumerate(panels):
        y0 = plot_bottom + (len(panels) - 1 - i) * (panel_h + gap)

        def y_of(value: float, y0: float = y0, lo: float = lo, hi: float = hi) -> float:
            return y0 + panel_h * (value - lo) / (hi - lo)

        frame = Rect(left, y0, plot_w, panel_h)
        frame.fillColor, frame.strokeColor, frame.strokeWidth = None, GRID, 0.5
        drawing.add(frame)
        tick = lo
        while tick <= hi + 1e-9:
            y = y_of(tick)
            grid = Line(
                left, y, left + plot_w, y, strokeColor=colors.HexColor("#eceff1"), strokeWidth=0.4
            )
            drawing.add(grid)
            drawing.add(
                String(
                    left - 3,
                    y - 2.2,
                    fmt(tick),
                    fontName=font.regular,
                    fontSize=6.5,
                    textAnchor="end",
                )
            )
            tick += step
        strip = Rect(left, y0 + panel_h + 0.5, plot_w, title_h - 1)
        strip.fillColor, strip.strokeColor = colors.white, None  # hides the dose lines under it
        drawing.add(strip)
        drawing.add(String(left + 1, y0 + panel_h + 3, title, fontName=font.bold, fontSize=7))
        legend: list[tuple[str, colors.Color]] = [(s.label, s.colour) for s in series]
        if len(series) == 1:
            legend = []  # the title names the one line
        for value, text in refs:
            if lo <= value <= hi:
                ref = Line(
                    left,
                    y_of(value),
                    left + plot_w,
                    y_of(value),
                    strokeColor=TARGET_COLOUR,
                    strokeWidth=0.8,
                )
                ref.strokeDashArray = [4, 2]
                drawing.add(ref)
                legend.append((f"- - {text}", TARGET_COLOUR))
        legend_x = left + plot_w - 1
        for text, colour in reversed(legend):
            drawing.add(
                String(
                    legend_x,
                    y0 + panel_h + 3,
                    text,
                    fontName=font.bold,
                    fontSize=7,
                    fillColor=colour,
                    textAnchor="end",
                )
            )
            legend_x -= 6 + stringWidth(text, font.bold, 7)
        for s in reversed(series):  # SBP drawn last, on top
            coords: list[float] = []
            for moment, value in s.points:
                coords.extend((x_of(moment), y_of(min(max(value, lo), hi))))
            if len(coords) >= 4:
                drawing.add(PolyLine(coords, strokeColor=s.colour, strokeWidth=1.1))
            for j in range(0, len(coords), 2):
                drawing.add(
                    Circle(coords[j], coords[j + 1], 1.3, fillColor=s.colour, strokeColor=None)
                )
        if not any(s.points for s in series):
            drawing.add(
                String(
                    left + plot_w / 2,
                    y0 + panel_h / 2,
                    "not measured in this window",
                    fontName=font.regular,
                    fontSize=7,
                    fillColor=GRID,
                    textAnchor="middle",
                )
            )

    # Time axis: a tick every 6 h of ward time, labelled every 12 h; a short window (a patient
    # admitted a few hours ago) gets closer ticks, so that its axis is labelled at all.
    tick_h, label_h = _time_ticks(span / 3600)
    local_start = start.astimezone(tz)
    tick_time = local_start.replace(minute=0, second=0, microsecond=0)
    tick_time += timedelta(hours=(tick_h - tick_time.hour % tick_h) % tick_h)
    if tick_time < local_start:
        tick_time += timedelta(hours=tick_h)
    while tick_time <= end:
        x = x_of(tick_time)
        drawing.add(
            Line(x, plot_bottom, x, plot_bottom - 3, strokeColor=colors.black, strokeWidth=0.5)
        )
        if tick_time.hour % label_h == 0:
            drawing.add(
                String(
                    x,
                    plot_bottom - 10,
                    tick_time.strftime("%d %b"),
                    fontName=font.regular,
                    fontSize=6.5,
                    textAnchor="middle",
                )
            )
            drawing.add(
                String(
                    x,
                    plot_bottom - 18,
                    tick_time.strftime("%H:%M"),
                    fontName=font.regular,
                    fontSize=6.5,
                    textAnchor="middle",
                )
            )
        tick_time += timedelta(hours=tick_h)
    return drawing


def _time_ticks(hours: float) -> tuple[int, int]:
    """Return the hours between ticks and between labelled ticks for a window this long.

    Both divide 24, so ticks fall on the same clock hours every day.
    """
    if hours <= 4:
        return 1, 1
    if hours <= 8:
        return 1, 2
    if hours <= 24:
        return 3, 6
    return 6, 12
