"""Plotly figures of one course: the patient chart and the flags timeline.

Pure functions (no Streamlit): a Course, its Assessment and the Rules in, a plotly Figure out,
so they are unit-tested on the figure objects without a browser.

- One figure, one column, one row per panel; every panel's x axis `matches` the first, so
  zooming time on one panel zooms them all (the shared time axis). Y axes are fixed: a drag
  zooms time, never a value scale.
- Values are the engine's canonical units (the course reader converted them once); every axis
  title and every hover names its unit.
- Thresholds drawn (target SBP, urine 80/160 mL/8 h, weight 10/15 %, CTCAE liver grade bands)
  are read from the rules in force, never typed here.
- Times: the builders take the ward's time zone `tz` and plot naive wall-clock times in it
  (plotly.js ignores UTC offsets in date strings, so aware times would be drawn in UTC or
  shifted by the browser). The bottom axis title names the zone.
- Free text (dose reasons, flag messages) goes into hover labels HTML-escaped: plotly renders a
  subset of HTML there, and a reason is text, never markup.
- `layout.meta["panels"]` maps each panel key (`"hr"`, `"bp"`...) to its axes
  (`{"x": "x3", "y": "y3", "y2": None}`), so pages, tests and browser checks find a panel
  without counting rows.
- The figure is assembled as plain dicts and validated once at the end: plotly's incremental
  `update_*` calls cost a few hundred milliseconds on a chart this size.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import plotly.graph_objects as go

from il2_tox import units
from il2_tox.assess import Assessment
from il2_tox.course import Course, Dose, Observation
from il2_tox.rules.base import (
    ALBUMIN,
    ALP,
    ALT,
    AST,
    BILIRUBIN,
    CATEGORIES,
    CREATININE,
    DBP,
    HR,
    MAP,
    O2_FLOW,
    PLATELETS,
    RR,
    SBP,
    SPO2,
    TEMP,
    URINE,
    WEIGHT,
    DoseAdvice,
    Flag,
    fmt,
    target_sbp,
)
from il2_tox.rules.config import Rules

# Panel groups a page can show or hide; the dose strip is always drawn.
VITALS = "vitals"
FLUIDS = "fluids"
LABS = "labs"
GROUPS = (VITALS, FLUIDS, LABS)
GROUP_LABELS = {VITALS: "Vital signs", FLUIDS: "Weight and urine", LABS: "Labs"}

FONT_SIZE = 13
TIME_FORMAT = "%d %b %H:%M"
TICK_FORMAT = "%d %b\n%H:%M"
GRID = "#eceff1"

# Dose marker styles: given and held must never be mistaken for each other, in colour or dash.
DOSE_STYLE: dict[str, dict[str, str]] = {
    "given": {"color": "#2e7d32", "dash": "solid", "symbol": "triangle-down", "label": "given"},
    "held": {"color": "#c62828", "dash": "dash", "symbol": "x", "label": "held"},
    "not_given": {"color": "#757575", "dash": "dot", "symbol": "circle-open", "label": "not given"},
    "next": {"color": "#455a64", "dash": "dot", "symbol": "diamond-open", "label": "next"},
}
ADVICE_COLOUR = {"give": "#2e7d32", "caution": "#e65100", "hold": "#c62828"}
SEVERITY_STYLE: dict[str, dict[str, Any]] = {
    "critical": {"color": "#c62828", "symbol": "diamond", "size": 14},
    "warning": {"color": "#ef6c00", "symbol": "triangle-up", "size": 13},
    "info": {"color": "#546e7a", "symbol": "circle", "size": 11},
}
QUIET_COLOUR = "#b0bec5"
HOLD_COLOUR = "#c62828"
CAUTION_COLOUR = "#ef6c00"
TARGET_FILL = "#ffcdd2"
GRADE_FILL = ("#fff8e1", "#ffe0b2", "#ffcdd2", "#ef9a9a")  # CTCAE grade 1..4

CATEGORY_LABELS = {
    "capillary_leak": "Capillary leak",
    "hepatitis": "Hepatitis",
    "ici_recurrence": "ICI recurrence",
    "renal": "Renal",
    "cardiac": "Cardiac",
    "pulmonary": "Pulmonary",
    "neurologic": "Neurologic",
    "gastrointestinal": "Gastrointestinal",
    "hematologic": "Hematologic",
    "early_warning": "Early warning",
    "eligibility": "Eligibility",
}

# Platelets are stored canonical as 10*3/uL; ×10⁹/L is the same number and the unit the engine's
# own messages use, so the chart and the flags list show that.
_UNIT_SHOWN = {"10*3/uL": "10*9/L"}


def unit_label(ucum: str | None) -> str:
    """Return a canonical unit as the chart and the flags list print it (mm[Hg] -> mmHg)."""
    if ucum is None:
        return ""
    return units.display_unit(_UNIT_SHOWN.get(ucum, ucum))


def code_unit(code: str) -> str:
    """Return the printed canonical unit of an observation code ("" for coded items)."""
    spec = units.spec_for(code)
    return unit_label(spec.canonical_unit if spec is not None else None)


def short_name(code: str) -> str:
    """Return an observation code's short name (8867-4 -> HR)."""
    spec = units.spec_for(code)
    return spec.short if spec is not None else code


URINE_UNIT = f"{units.display_unit('mL')}/8 h"
WEIGHT_UNIT = "% over baseline"
ULN_UNIT = "× ULN"


@dataclass(frozen=True)
class Panel:
    """One row of the patient chart: its key, title (which names the unit) and y axis unit."""

    key: str
    title: str
    unit: str
    group: str
    height: int  # pixels
    secondary_unit: str | None = None


PANELS: tuple[Panel, ...] = (
    Panel("hr", f"Heart rate ({code_unit(HR)})", code_unit(HR), VITALS, 120),
    Panel("bp", f"Blood pressure ({code_unit(SBP)})", code_unit(SBP), VITALS, 170),
    Panel("temp", f"Temperature ({code_unit(TEMP)})", code_unit(TEMP), VITALS, 110),
    Panel(
        "spo2",
        f"SpO₂ ({code_unit(SPO2)}) and O₂ flow ({code_unit(O2_FLOW)})",
        code_unit(SPO2),
        VITALS,
        120,
        secondary_unit=code_unit(O2_FLOW),
    ),
    Panel("rr", f"Respiratory rate ({code_unit(RR)})", code_unit(RR), VITALS, 100),
    Panel("weight", f"Weight gain ({WEIGHT_UNIT})", "%", FLUIDS, 120),
    Panel("urine", f"Urine output ({URINE_UNIT}, pro-rated)", URINE_UNIT, FLUIDS, 130),
    Panel("aminotransferases", f"ALT and AST ({ULN_UNIT})", ULN_UNIT, LABS, 130),
    Panel("alp", f"Alkaline phosphatase ({ULN_UNIT})", ULN_UNIT, LABS, 100),
    Panel("bilirubin", f"Total bilirubin ({ULN_UNIT})", ULN_UNIT, LABS, 100),
    Panel("creatinine", f"Creatinine ({code_unit(CREATININE)})", code_unit(CREATININE), LABS, 100),
    Panel("platelets", f"Platelets ({code_unit(PLATELETS)})", code_unit(PLATELETS), LABS, 100),
    Panel("albumin", f"Albumin ({code_unit(ALBUMIN)})", code_unit(ALBUMIN), LABS, 100),
)
DOSE_STRIP = Panel("doses", "Doses", "", "", 44)
PANEL_GAP_PX = 42
# The flags timeline uses the same left and right margins, so at the same width its time axis
# lines up with the chart's. The bottom holds the two-line time labels and the axis title.
MARGIN = {"l": 120, "r": 116, "t": 56, "b": 84}
# The patient chart's margins are fixed: Streamlit's theme turns on plotly's `automargin` for
# every axis, which measures every tick label of the chart's 13 axes and draws the figure again
# when a margin moves, about half of plotly's first drawing (152 -> 82 ms; docs/benchmarks.md).
NO_AUTOMARGIN = {"automargin": False}

# Series colours; titles carry a colour key, so the figure needs no legend.
COLOURS = {
    HR: "#b71c1c",
    SBP: "#0d47a1",
    DBP: "#42a5f5",
    MAP: "#6a1b9a",
    TEMP: "#e65100",
    SPO2: "#00838f",
    O2_FLOW: "#7b1fa2",
    RR: "#2e7d32",
    WEIGHT: "#5d4037",
    URINE: "#b8860b",
    ALT: "#d84315",
    AST: "#6a1b9a",
    ALP: "#00695c",
    BILIRUBIN: "#9e7c00",
    CREATININE: "#4527a0",
    PLATELETS: "#ad1457",
    ALBUMIN: "#00796b",
}


# ---------------------------------------------------------------------------------------------
# Small helpers


def _wall(moment: datetime, tz: tzinfo) -> datetime:
    """Return an aware time as a naive wall-clock time in the ward's zone (what plotly draws)."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime(TIME_FORMAT)


def _text(value: str) -> str:
    """Return free text safe for a plotly label: HTML-escaped (plotly decodes the entities)."""
    return html.escape(value, quote=False)


def _wrapped(value: str, width: int = 70) -> str:
    return "<br>".join(_text(line) for line in textwrap.wrap(value, width) or [""])


def _swatch(label: str, colour: str, dash: str = "solid") -> str:
    mark = "┅" if dash != "solid" else "━"
    return f"<span style='color:{colour}'>{mark} {label}</span>"


def _series(course: Course, concept: str) -> list[Observation]:
    """Return the numeric observations of a concept (aliases folded), in time order."""
    found = [
        o for o in course.observations if o.concept == concept and not isinstance(o.value, str)
    ]
    found.sort(key=lambda o: o.time)
    return found


def tz_name(tz: tzinfo) -> str:
    """Return a time zone's name as the axis titles print it (e.g. "Europe/Berlin")."""
    key = getattr(tz, "key", None)
    return str(key) if key else str(tz.tzname(None) or "UTC")


def _padded(values: Sequence[float], *, floor: float | None = None) -> tuple[float, float]:
    """Return a y range around the values with 10 % room (at least ±1), clipped at `floor`."""
    low, high = min(values), max(values)
    room = max((high - low) * 0.1, 1.0 if high > 5 else 0.1)
    low, high = low - room, high + room
    if floor is not None:
        low = max(floor, low)
    return low, high


def chart_range(
    course: Course, assessment: Assessment, tz: tzinfo = UTC
) -> tuple[datetime, datetime]:
    """Return the x range every figure of one course shares, as wall-clock times in `tz`.

    Starts an hour before the admission or the first observation, whichever is earlier; ends
    two hours after the later of `as_of` and the next dose's time.
    """
    times = [course.admission.admitted_at, *(o.time for o in course.observations)]
    start = min(times) - timedelta(hours=1)
    end = assessment.as_of
    nxt = assessment.next_dose
    if nxt is not None and nxt.time > end:
        end = nxt.time
    return _wall(start, tz), _wall(end + timedelta(hours=2), tz)


def _dose_label(cycle: int, number: int, cycles: int) -> str:
    return f"C{cycle}·{number}" if cycles > 1 else str(number)


@dataclass(frozen=True)
class _DoseMark:
    time: datetime
    status: str  # given | held | not_given | next
    label: str
    hover: str


@dataclass
class _Row:
    """One panel while it is drawn: axis names, y range, and its pieces."""

    panel: Panel
    x: str
    y: str
    y2: str | None
    domain: tuple[float, float]
    y_range: tuple[float, float] = (0.0, 1.0)
    y2_range: tuple[float, float] | None = None
    title_key: str = ""
    empty: bool = False


class _Chart:
    """The patient chart while it is built: plain dicts, turned into one Figure at the end."""

    def __init__(
        self,
        course: Course,
        assessment: Assessment,
        rules: Rules,
        tz: tzinfo,
        panels: Sequence[Panel],
        late: Collection[tuple[str, datetime]],
    ) -> None:
        self.course = course
        self.assessment = assessment
        self.rules = rules
        self.tz = tz
        self.late = set(late)
        self.data: list[dict[str, Any]] = []
        self.shapes: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        panels = [DOSE_STRIP, *panels]
        self.plot_height = sum(p.height for p in panels) + PANEL_GAP_PX * (len(panels) - 1)
        self.rows: dict[str, _Row] = {}
        top = 1.0
        y_number = 0
        for number, panel in enumerate(panels, start=1):
            bottom = top - panel.height / self.plot_height
            y_number += 1
            y = f"y{y_number}" if y_number > 1 else "y"
            y2 = None
            if panel.secondary_unit is not None:
                y_number += 1
                y2 = f"y{y_number}"
            x = f"x{number}" if number > 1 else "x"
            self.rows[panel.key] = _Row(panel, x, y, y2, (max(bottom, 0.0), top))
            top = bottom - PANEL_GAP_PX / self.plot_height
        self.x_range = chart_range(course, assessment, tz)

    # -- pieces ----------------------------------------------------------------------------

    def trace(self, key: str, trace: dict[str, Any], *, secondary: bool = False) -> None:
        row = self.rows[key]
        trace["xaxis"] = row.x
        trace["yaxis"] = row.y2 if secondary and row.y2 else row.y
        trace.setdefault("meta", {})["panel"] = key
        self.data.append(trace)

    def series(
        self,
        key: str,
        observations: Sequence[Observation],
        name: str,
        colour: str,
        *,
        values: Sequence[float] | None = None,
        hover: Sequence[str] | None = None,
        secondary: bool = False,
        dash: str = "solid",
        shape: str = "linear",
    ) -> None:
        """Add one series to a panel; late entries are drawn as open rings and say so."""
        ys = list(values) if values is not None else [float(o.value) for o in observations]
        unit = code_unit(observations[0].concept) if observations else ""
        labels = []
        symbols = []
        sizes = []
        for i, obs in enumerate(observations):
            text = hover[i] if hover is not None else f"{name} {fmt(ys[i])} {unit}"
            text += f"<br>{_when(obs.time, self.tz)}"
            if (obs.concept, obs.time) in self.late:
                text += "<br><b>entered late</b>"
                symbols.append("circle-open")
                sizes.append(11)
            else:
                symbols.append("circle")
                sizes.append(6)
            labels.append(text)
        self.trace(
            key,
            {
                "type": "scatter",
                "x": [_wall(o.time, self.tz) for o in observations],
                "y": ys,
                "mode": "lines+markers",
                "name": name,
                "line": {"color": colour, "width": 2, "dash": dash, "shape": shape},
                "marker": {
                    "color": colour,
                    "size": sizes,
                    "symbol": symbols,
                    "line": {"width": 2, "color": colour},
                },
                "text": labels,
                "hovertemplate": "%{text}<extra></extra>",
            },
            secondary=secondary,
        )

    def hline(
        self,
        key: str,
        y: float,
        colour: str,
        text: str,
        *,
        name: str,
        dash: str = "dash",
        label: str = "middle",
    ) -> None:
        """Draw a threshold line across a panel, over the data, labelled in the right margin."""
        row = self.rows[key]
        self.shapes.append(
            {
                "type": "line",
                "xref": f"{row.x} domain",
                "yref": row.y,
                "x0": 0,
                "x1": 1,
                "y0": y,
                "y1": y,
                "line": {"color": colour, "width": 1.5, "dash": dash},
                "layer": "above",
                "name": name,
            }
        )
        anchor = {"above": "bottom", "below": "top"}.get(label, "middle")
        self.margin_note(key, y, text, colour, anchor=anchor)

    def band(
        self, key: str, y0: float, y1: float, fill: str, label: str | None, *, name: str
    ) -> None:
        """Shade a horizontal band of a panel (under the data), labelled in the right margin."""
        row = self.rows[key]
        self.shapes.append(
            {
                "type": "rect",
                "xref": f"{row.x} domain",
                "yref": row.y,
                "x0": 0,
                "x1": 1,
                "y0": y0,
                "y1": y1,
                "fillcolor": fill,
                "opacity": 0.6,
                "line": {"width": 0},
                "layer": "below",
                "name": name,
            }
        )
        if label:
            self.margin_note(key, (y0 + y1) / 2, label, "#6d4c41", anchor="middle")

    def margin_note(
        self, key: str, y: float, label: str, colour: str, *, anchor: str = "middle"
    ) -> None:
        """Write a short label just right of a panel, at height `y`: never over the data."""
        row = self.rows[key]
        self.notes.append(
            {
                "xref": f"{row.x} domain",
                "yref": row.y,
                "x": 1.005,
                "y": y,
                "text": _text(label),
                "showarrow": False,
                "xanchor": "left",
                "yanchor": anchor,
                "font": {"size": 11, "color": colour},
            }
        )

    def mark_empty(self, key: str) -> None:
        row = self.rows[key]
        row.empty = True
        self.notes.append(
            {
                "xref": f"{row.x} domain",
                "yref": f"{row.y} domain",
                "x": 0.5,
                "y": 0.5,
                "text": "no values recorded",
                "showarrow": False,
                "font": {"size": 12, "color": "#9e9e9e"},
            }
        )

    def colour_key(self, key: str, parts: Sequence[tuple[str, str, str]]) -> None:
        """Add a colour key (each series name in its colour) after a panel's title."""
        self.rows[key].title_key = "   " + "  ".join(_swatch(n, c, d) for n, c, d in parts)

    # -- the figure ------------------------------------------------------------------------

    def figure(self) -> go.Figure:
        layout: dict[str, Any] = {
            "height": self.plot_height + MARGIN["t"] + MARGIN["b"],
            "margin": MARGIN,
            "showlegend": False,
            "hovermode": "closest",
            "plot_bgcolor": "white",
            "paper_bgcolor": "white",
            "font": {"size": FONT_SIZE},
            "bargap": 0,
            "dragmode": "zoom",
        }
        annotations: list[dict[str, Any]] = []
        rows = list(self.rows.values())
        for index, row in enumerate(rows):
            last = index == len(rows) - 1
            first = index == 0
            xaxis: dict[str, Any] = {
                "domain": [0, 1],
                "anchor": row.y,
                "type": "date",
                "range": list(self.x_range),
                "showgrid": True,
                "gridcolor": GRID,
                "tickformat": TICK_FORMAT,
                "showticklabels": first or last,
                "side": "top" if first else "bottom",
                "showspikes": False,
                **NO_AUTOMARGIN,
            }
            if not first:
                xaxis["matches"] = "x"
            if last:
                xaxis["title"] = {"text": f"Time ({tz_name(self.tz)})"}
            layout[_layout_name(row.x)] = xaxis
            layout[_layout_name(row.y)] = {
                "domain": list(row.domain),
                "anchor": row.x,
                "range": list(row.y_range),
                "fixedrange": True,
                "gridcolor": GRID,
                "zeroline": False,
                "title": {"text": row.panel.unit, "font": {"size": 12}},
                "visible": row.panel.key != DOSE_STRIP.key,
                **NO_AUTOMARGIN,
            }
            if row.y2 is not None:
                layout[_layout_name(row.y2)] = {
                    "overlaying": row.y,
                    "anchor": row.x,
                    "side": "right",
                    "range": list(row.y2_range or (0.0, 1.0)),
                    "fixedrange": True,
                    "showgrid": False,
                    "zeroline": False,
                    "title": {"text": row.panel.secondary_unit, "font": {"size": 12}},
                    "tickmode": "linear",
                    "tick0": 0,
                    "dtick": _nice_step((row.y2_range or (0.0, 1.0))[1]),
                    **NO_AUTOMARGIN,
                }
            annotations.append(
                {
                    "text": f"<b>{row.panel.title}</b>{row.title_key}",
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0,
                    "y": row.domain[1],
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": FONT_SIZE + 1, "color": "#263238"},
                    "name": f"title.{row.panel.key}",
                }
            )
        strip = self.rows[DOSE_STRIP.key]
        annotations[0] = {
            "text": "<b>Doses</b>",
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "y": sum(strip.domain) / 2,
            "xanchor": "right",
            "yanchor": "middle",
            "xshift": -8,
            "showarrow": False,
            "font": {"size": FONT_SIZE + 1, "color": "#263238"},
            "name": f"title.{DOSE_STRIP.key}",
        }
        layout["annotations"] = annotations + self.notes
        layout["shapes"] = self.shapes
        layout["meta"] = {
            "panels": {key: {"x": r.x, "y": r.y, "y2": r.y2} for key, r in self.rows.items()},
            "tz": tz_name(self.tz),
        }
        # Keeps the reader's zoom when a live page redraws the same patient's chart.
        layout["uirevision"] = self.course.patient.id
        return go.Figure({"data": self.data, "layout": layout})


def _nice_step(top: float) -> float:
    """Return a tick step giving 3-6 round ticks from 0 to `top` (1, 2, 5, 10...)."""
    for step in (1.0, 2.0, 5.0, 10.0, 20.0, 50.0):
        if top / step <= 6:
            return step
    return 100.0


def _layout_name(ref: str) -> str:
    """Return the layout key of an axis reference ('y4' -> 'yaxis4', 'x' -> 'xaxis')."""
    return ref[0] + "axis" + ref[1:]


# ---------------------------------------------------------------------------------------------
# Doses


def _dose_marks(chart: _Chart) -> list[_DoseMark]:
    doses = sorted(chart.course.doses, key=lambda d: (d.time, d.cycle, d.number))
    cycles = len({d.cycle for d in doses})
    judged = {(a.cycle, a.number): a for a in chart.assessment.dose_advice}
    marks = [
        _DoseMark(
            d.time,
            d.status,
            _dose_label(d.cycle, d.number, cycles),
            _dose_hover(d, judged.get((d.cycle, d.number)), chart.tz),
        )
        for d in doses
    ]
    nxt = chart.assessment.next_dose
    if nxt is not None:
        marks.append(
            _DoseMark(
                nxt.time,
                "next",
                _dose_label(nxt.cycle, nxt.number, cycles),
                _next_hover(nxt, chart.tz),
            )
        )
    return marks


def _draw_doses(chart: _Chart) -> None:
    """Draw the dose strip (hoverable, labelled markers) and each dose's line on every panel."""
    marks = _dose_marks(chart)
    nxt = chart.assessment.next_dose
    for status, style in DOSE_STYLE.items():
        chosen = [m for m in marks if m.status == status]
        if not chosen:
            continue
        colour = style["color"]
        if status == "next" and nxt is not None:
            colour = ADVICE_COLOUR.get(nxt.advice, colour)
        chart.trace(
            DOSE_STRIP.key,
            {
                "type": "scatter",
                "x": [_wall(m.time, chart.tz) for m in chosen],
                "y": [0.3] * len(chosen),
                "mode": "markers+text",
                "name": f"dose {style['label']}",
                "marker": {
                    "symbol": style["symbol"],
                    "size": 13,
                    "color": colour,
                    "line": {"width": 2, "color": colour},
                },
                "text": [m.label for m in chosen],
                "textposition": "top center",
                "textfont": {"size": 11, "color": colour},
                "hovertext": [m.hover for m in chosen],
                "hovertemplate": "%{hovertext}<extra></extra>",
                "meta": {"dose_status": status},
            },
        )
    # One path per dose status carries every dose's line on every panel: a few shapes instead
    # of one trace or shape per panel and dose, which would slow the browser's drawing.
    panels = [r for key, r in chart.rows.items() if key != DOSE_STRIP.key]
    for status, style in DOSE_STYLE.items():
        times = [_wall(m.time, chart.tz) for m in marks if m.status == status]
        if not times:
            continue
        chart.shapes.append(
            {
                "type": "path",
                "xref": "x",
                "yref": "paper",
                "path": dose_path(times, [r.domain for r in panels]),
                "line": {"color": style["color"], "width": 1.2, "dash": style["dash"]},
                "opacity": 0.6,
                "layer": "below",
                "name": f"dose.{status}",
            }
        )


def dose_path(times: Sequence[datetime], spans: Sequence[tuple[float, float]]) -> str:
    """Return an SVG path of vertical lines: at each time, across each (bottom, top) span.

    x is a date on the shared time axis (plotly reads a date in a path with `_` for the space),
    y a fraction of the plot's height.
    """
    parts: list[str] = []
    for when in times:
        x = when.strftime("%Y-%m-%d_%H:%M:%S")
        parts.extend(f"M{x},{bottom:.5f}L{x},{top:.5f}" for bottom, top in spans)
    return "".join(parts)


def _dose_hover(dose: Dose, judged: DoseAdvice | None, tz: tzinfo) -> str:
    lines = [
        f"<b>Dose {dose.number}, cycle {dose.cycle}: {DOSE_STYLE[dose.status]['label']}</b>",
        _when(dose.time, tz),
    ]
    if dose.reason:
        lines.append("Reason: " + _wrapped(dose.reason))
    if judged is not None:
        lines.append(f"Advice for this dose: {judged.advice}")
    return "<br>".join(lines)


def _next_hover(nxt: DoseAdvice, tz: tzinfo) -> str:
    lines = [
        f"<b>Next: dose {nxt.number}, cycle {nxt.cycle}</b>",
        f"due {_when(nxt.time, tz)}",
        f"Advice: <b>{nxt.advice.upper()}</b>",
    ]
    lines.extend("· " + _wrapped(c.message) for c in nxt.criteria)
    return "<br>".join(lines)


# ---------------------------------------------------------------------------------------------
# Panels


def _draw_simple(chart: _Chart, key: str, concept: str) -> None:
    obs = _series(chart.course, concept)
    if not obs:
        chart.mark_empty(key)
        return
    chart.rows[key].y_range = _padded([float(o.value) for o in obs], floor=0.0)
    chart.series(key, obs, short_name(concept), COLOURS[concept])


def _draw_bp(chart: _Chart) -> None:
    """SBP, DBP and MAP, with the band below the patient's target SBP T shaded."""
    key = "bp"
    target = target_sbp(chart.course.admission.usual_sbp_mmhg, chart.rules)
    drawn = []
    values: list[float] = [target]
    for concept, name, dash in ((SBP, "SBP", "solid"), (DBP, "DBP", "solid"), (MAP, "MAP", "dot")):
        obs = _series(chart.course, concept)
        if obs:
            chart.series(key, obs, name, COLOURS[concept], dash=dash)
            drawn.append((name, COLOURS[concept], dash))
            values.extend(float(o.value) for o in obs)
    low, high = _padded(values, floor=0.0)
    chart.rows[key].y_range = (low, high)
    chart.band(
        key,
        low,
        target,
        TARGET_FILL,
        None,
        name="target_sbp",
    )
    chart.margin_note(key, (low + target) / 2, f"hold < {fmt(target)}", HOLD_COLOUR)
    if drawn:
        chart.colour_key(key, drawn)
        chart.rows[key].title_key += (
            f"   <span style='color:{HOLD_COLOUR}'>shaded: SBP below target "
            f"{fmt(target)} {code_unit(SBP)}</span>"
        )
    else:
        chart.mark_empty(key)


def _draw_spo2(chart: _Chart) -> None:
    key = "spo2"
    spo2 = _series(chart.course, SPO2)
    flow = _series(chart.course, O2_FLOW)
    row = chart.rows[key]
    low = min([float(o.value) for o in spo2] + [88.0]) - 2
    row.y_range = (low, 101.0)
    top_flow = max([float(o.value) for o in flow] + [5.0]) * 1.15
    # Room below 0 so that a flow of 0 (room air) is a visible line, not the panel's edge.
    row.y2_range = (-top_flow * 0.06, top_flow)
    if spo2:
        chart.series(key, spo2, "SpO₂", COLOURS[SPO2])
    if flow:
        chart.series(key, flow, "O₂ flow", COLOURS[O2_FLOW], secondary=True, shape="hv")
    if spo2 or flow:
        chart.colour_key(
            key,
            [
                (f"SpO₂ ({code_unit(SPO2)}, left)", COLOURS[SPO2], "solid"),
                (f"O₂ flow ({code_unit(O2_FLOW)}, right)", COLOURS[O2_FLOW], "solid"),
            ],
        )
    else:
        chart.mark_empty(key)


def _draw_weight(chart: _Chart) -> None:
    """Weight as % over the pre-treatment weight, with the capillary-leak and caution lines."""
    key = "weight"
    baseline = chart.course.patient.weight_kg
    obs = _series(chart.course, WEIGHT)
    sign = chart.rules.rule("cls.sign.weight_gain").num("at_least_pct")
    caution = chart.rules.rule("caution.weight_gain").num("above_pct")
    gains = [(float(o.value) / baseline - 1.0) * 100.0 for o in obs]
    hover = [
        f"Weight {fmt(float(o.value))} {code_unit(WEIGHT)}: {g:+.1f} % over "
        f"{fmt(baseline)} {code_unit(WEIGHT)}"
        for o, g in zip(obs, gains, strict=True)
    ]
    chart.rows[key].y_range = (min([*gains, 0.0]) - 2, max([*gains, caution]) + 3)
    if obs:
        chart.series(key, obs, "Weight gain", COLOURS[WEIGHT], values=gains, hover=hover)
    else:
        chart.mark_empty(key)
    chart.hline(
        key,
        sign,
        CAUTION_COLOUR,
        f"≥ {fmt(sign)} %: leak sign",
        dash="dot",
        name="cls.sign.weight_gain",
    )
    chart.hline(
        key, caution, HOLD_COLOUR, f"> {fmt(caution)} %: caution", name="caution.weight_gain"
    )


def _draw_urine(chart: _Chart) -> None:
    """Urine per 8 h, each record pro-rated over its own collection period, against 80/160."""
    key = "urine"
    obs = _series(chart.course, URINE)
    hold = chart.rules.rule("hold.urine_output").num("below")
    caution = chart.rules.rule("caution.urine_output").num("at_most")
    periods = [o.period_h or 8.0 for o in obs]
    per_8h = [float(o.value) * 8.0 / p for o, p in zip(obs, periods, strict=True)]
    chart.rows[key].y_range = (0.0, max([*per_8h, caution]) * 1.15)
    if obs:
        labels = []
        for o, rate, period in zip(obs, per_8h, periods, strict=True):
            start = o.time - timedelta(hours=period)
            text = (
                f"Urine {fmt(rate)} {URINE_UNIT}<br>{fmt(float(o.value))} "
                f"{code_unit(URINE)} over {fmt(period)} h, "
                f"{_when(start, chart.tz)}–{_when(o.time, chart.tz)}"
            )
            if (o.concept, o.time) in chart.late:
                text += "<br><b>entered late</b>"
            labels.append(text)
        colours = [
            HOLD_COLOUR if r < hold else CAUTION_COLOUR if r <= caution else COLOURS[URINE]
            for r in per_8h
        ]
        chart.trace(
            key,
            {
                "type": "bar",
                # A bar spans its collection period, ending at the record's time.
                "x": [
                    _wall(o.time - timedelta(hours=p / 2), chart.tz)
                    for o, p in zip(obs, periods, strict=True)
                ],
                "y": per_8h,
                "width": [p * 3_600_000 * 0.94 for p in periods],
                "name": "Urine",
                "marker": {"color": colours, "opacity": 0.55},
                "text": labels,
                "textposition": "none",
                "hovertemplate": "%{text}<extra></extra>",
            },
        )
    else:
        chart.mark_empty(key)
    # The two lines can sit a few pixels apart: hold's label goes under its line.
    chart.hline(
        key, hold, HOLD_COLOUR, f"< {fmt(hold)}: hold", name="hold.urine_output", label="below"
    )
    chart.hline(
        key,
        caution,
        CAUTION_COLOUR,
        f"≤ {fmt(caution)}: caution",
        name="caution.urine_output",
        label="above",
    )


LIVER_TESTS = {
    "aminotransferases": (
        "liver.grade.aminotransferase",
        ((ALT, "alt_x_uln", "alt_grade"), (AST, "ast_x_uln", "ast_grade")),
    ),
    "alp": ("liver.grade.alp", ((ALP, "alp_x_uln", "alp_grade"),)),
    "bilirubin": ("liver.grade.bilirubin", ((BILIRUBIN, "bilirubin_x_uln", "bilirubin_grade"),)),
}


def _liver_points(
    chart: _Chart, concept: str, attr: str, grade_attr: str
) -> tuple[list[Observation], list[float], list[str]]:
    """Return the observations, × ULN values and hovers of one liver test, from the engine."""
    by_time = {o.time: o for o in _series(chart.course, concept)}
    obs, values, hover = [], [], []
    for row in chart.assessment.liver:
        multiple = getattr(row, attr)
        found = by_time.get(row.time)
        if multiple is None or found is None:
            continue
        grade = getattr(row, grade_attr)
        obs.append(found)
        values.append(float(multiple))
        hover.append(
            f"{short_name(concept)} {fmt(float(found.value))} {code_unit(concept)} = "
            f"{fmt(float(multiple))} {ULN_UNIT}<br>CTCAE grade "
            f"{grade if grade is not None else '–'}"
        )
    return obs, values, hover


def _draw_liver(chart: _Chart, key: str) -> None:
    """Liver tests as multiples of the ULN over the CTCAE grade bands of their rule.

    The axis always reaches past the grade-2 bound so the reader sees where grade 2 begins.
    The bands are in × ULN; a test graded against an abnormal baseline shows its engine grade
    in the hover, which is the grade that counts.
    """
    rule_code, tests = LIVER_TESTS[key]
    bounds = chart.rules.rule(rule_code).nums("uln_bounds")
    drawn = []
    found: list[float] = []
    for concept, attr, grade_attr in tests:
        obs, values, hover = _liver_points(chart, concept, attr, grade_attr)
        if obs:
            name = short_name(concept)
            chart.series(key, obs, name, COLOURS[concept], values=values, hover=hover)
            drawn.append((name, COLOURS[concept], "solid"))
            found.extend(values)
    top = max([*found, bounds[0] * 1.3]) * 1.1
    chart.rows[key].y_range = (0.0, top)
    edges = [1.0, *bounds, float("inf")]
    for grade in range(1, 5):
        low, high = edges[grade - 1], min(edges[grade], top)
        if low >= top:
            break
        chart.band(key, low, high, GRADE_FILL[grade - 1], f"G{grade}", name=f"{rule_code}.{grade}")
    if not drawn:
        chart.mark_empty(key)
    elif len(tests) > 1:
        chart.colour_key(key, drawn)


def _draw_panel(chart: _Chart, key: str) -> None:
    simple = {"hr": HR, "temp": TEMP, "rr": RR, "creatinine": CREATININE}
    simple |= {"platelets": PLATELETS, "albumin": ALBUMIN}
    if key in simple:
        _draw_simple(chart, key, simple[key])
    elif key in LIVER_TESTS:
        _draw_liver(chart, key)
    elif key == "bp":
        _draw_bp(chart)
    elif key == "spo2":
        _draw_spo2(chart)
    elif key == "weight":
        _draw_weight(chart)
    elif key == "urine":
        _draw_urine(chart)


# ---------------------------------------------------------------------------------------------
# Figures


def patient_chart(
    course: Course,
    assessment: Assessment,
    rules: Rules,
    *,
    tz: tzinfo = UTC,
    groups: Collection[str] = GROUPS,
    late: Collection[tuple[str, datetime]] = (),
) -> go.Figure:
    """Return the patient chart: time-aligned panels on one shared time axis, doses on each.

    `groups` picks the panel groups (`VITALS`, `FLUIDS`, `LABS`); the dose strip is always on
    top. `late` holds (concept code, observed time) of entries recorded late: drawn as open
    rings and named so in the hover. A panel without values says so instead of drawing an
    empty grid. Given doses are solid green lines, held ones dashed red, the next dose dotted.
    """
    panels = [p for p in PANELS if p.group in groups]
    chart = _Chart(course, assessment, rules, tz, panels, late)
    for panel in panels:
        _draw_panel(chart, panel.key)
    _draw_doses(chart)
    return chart.figure()


def flags_timeline(
    course: Course,
    assessment: Assessment,
    *,
    tz: tzinfo = UTC,
    quiet: Callable[[Flag], bool] | None = None,
) -> go.Figure:
    """Return the flags by category against time: a marker at onset, a bar while it lasted.

    Severity sets colour and symbol; the hover gives the message and its source. A flag for
    which `quiet(flag)` is true (acknowledged) is drawn grey and faint, still hoverable.
    Same hours as the patient chart (`chart_range`), with the same dose lines.
    """
    flags = list(assessment.flags)
    present = [c for c in CATEGORIES if any(f.category == c for f in flags)]
    labels = [CATEGORY_LABELS.get(c, c) for c in present]
    # Drawn quiet first and critical last, so the most severe marker is on top.
    groups: dict[str, list[Flag]] = {s: [] for s in ("quiet", "info", "warning", "critical")}
    for flag in flags:
        if quiet is not None and quiet(flag):
            groups["quiet"].append(flag)
        else:
            groups[flag.severity if flag.severity in SEVERITY_STYLE else "info"].append(flag)
    data: list[dict[str, Any]] = []
    for group, members in groups.items():
        if not members:
            continue
        style = SEVERITY_STYLE.get(group, SEVERITY_STYLE["info"])
        colour = QUIET_COLOUR if group == "quiet" else style["color"]
        xs: list[datetime | None] = []
        ys: list[str | None] = []
        for flag in members:
            end = flag.last_seen or flag.time
            if flag.active:
                end = max(end, assessment.as_of)
            if end > flag.time:
                label = CATEGORY_LABELS.get(flag.category, flag.category)
                xs.extend([_wall(flag.time, tz), _wall(end, tz), None])
                ys.extend([label, label, None])
        if xs:
            data.append(
                {
                    "type": "scatter",
                    "x": xs,
                    "y": ys,
                    "mode": "lines",
                    "line": {"color": colour, "width": 5},
                    "opacity": 0.3 if group == "quiet" else 0.45,
                    "hoverinfo": "skip",
                    "showlegend": False,
                    "name": f"{group} duration",
                }
            )
        data.append(
            {
                "type": "scatter",
                "x": [_wall(f.time, tz) for f in members],
                "y": [CATEGORY_LABELS.get(f.category, f.category) for f in members],
                "mode": "markers",
                "name": "Acknowledged" if group == "quiet" else group.capitalize(),
                "marker": {
                    "color": colour,
                    "symbol": [SEVERITY_STYLE.get(f.severity, style)["symbol"] for f in members],
                    "size": style["size"],
                    "line": {"width": 1, "color": "white"},
                },
                "opacity": 0.6 if group == "quiet" else 1.0,
                "text": [_flag_hover(f, tz, quiet=group == "quiet") for f in members],
                "hovertemplate": "%{text}<extra></extra>",
                "meta": {"severity": group},
            }
        )
    layout: dict[str, Any] = {
        "height": 130 + 40 * max(len(present), 1),
        # Plotly's automargin stays on here: the flag labels on the left vary in length.
        "margin": {"l": MARGIN["l"], "r": MARGIN["r"], "t": 40, "b": 56},
        "plot_bgcolor": "white",
        "paper_bgcolor": "white",
        "font": {"size": FONT_SIZE},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "hovermode": "closest",
        "uirevision": course.patient.id,
        "xaxis": {
            "type": "date",
            "title": {"text": f"Time ({tz_name(tz)})"},
            "tickformat": TICK_FORMAT,
            "gridcolor": GRID,
        },
        "yaxis": {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(labels)),
            "gridcolor": GRID,
            "fixedrange": True,
        },
    }
    layout["annotations"] = [
        {
            "text": "<b>Flags over time</b> (hover a marker for the message and its source)",
            "xref": "paper",
            "yref": "paper",
            "x": 0,
            "y": 1.02,
            "xanchor": "left",
            "yanchor": "bottom",
            "showarrow": False,
            "font": {"size": FONT_SIZE + 1, "color": "#263238"},
        }
    ]
    x_range = chart_range(course, assessment, tz)
    layout["xaxis"]["range"] = list(x_range)
    doses = [(d.time, d.status) for d in course.doses]
    if assessment.next_dose is not None:
        doses.append((assessment.next_dose.time, "next"))
    layout["shapes"] = [
        {
            "type": "line",
            "xref": "x",
            "yref": "y domain",
            "x0": _wall(when, tz),
            "x1": _wall(when, tz),
            "y0": 0,
            "y1": 1,
            "line": {
                "color": DOSE_STYLE[status]["color"],
                "width": 1,
                "dash": DOSE_STYLE[status]["dash"],
            },
            "opacity": 0.5,
            "layer": "below",
            "name": f"dose.{status}",
        }
        for when, status in doses
    ]
    if not flags:
        layout["annotations"].append(
            {
                "text": "No flags",
                "x": 0.5,
                "y": 0.5,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "font": {"size": 13, "color": "#9e9e9e"},
            }
        )
        layout["yaxis"]["visible"] = False
    return go.Figure({"data": data, "layout": layout})


def _flag_hover(flag: Flag, tz: tzinfo, *, quiet: bool) -> str:
    lines = [
        f"<b>{flag.severity.capitalize()} · {CATEGORY_LABELS.get(flag.category, flag.category)}"
        f"</b> ({_text(flag.code)})",
        f"since {_when(flag.time, tz)} · cycle {flag.cycle}, after dose {flag.after_dose}",
        _wrapped(flag.message),
        "Source: " + _wrapped(flag.source),
    ]
    if not flag.active:
        lines.append("no longer present")
    if quiet:
        lines.append("acknowledged")
    return "<br>".join(lines)


def evidence_text(flag: Flag, tz: tzinfo = UTC) -> str:
    """Return a flag's evidence as one line, each value with its unit and time."""
    parts = []
    for item in flag.evidence:
        value = item.value if isinstance(item.value, str) else fmt(item.value)
        unit = f" {unit_label(item.unit)}" if item.unit else ""
        parts.append(f"{short_name(item.code)} {value}{unit} ({_when(item.time, tz)})")
    return "; ".join(parts)
