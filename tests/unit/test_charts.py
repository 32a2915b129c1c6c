"""The patient chart and flags timeline figures, checked on the plotly objects (no browser)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import pytest

from dashboard import charts
from il2_tox.assess import assess
from il2_tox.course import Course, load_course
from il2_tox.rules.base import (
    ALBUMIN,
    ALT,
    AST,
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
    target_sbp,
)
from il2_tox.rules.config import Rules, load_rules
from tests.builders import ADMITTED, CourseBuilder

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
HELD_REASON = "SBP 84 mmHg < target 85 on phenylephrine"


def full_course(usual_sbp: float = 118) -> Course:
    """A short course with every panel's items, two given doses and one held with its reason."""
    b = CourseBuilder(usual_sbp=usual_sbp, weight_kg=70.0)
    b.dose(1, 1, at=2).dose(1, 2, at=10, status="held", reason=HELD_REASON).dose(1, 3, at=18)
    for at in (1, 9, 17):
        b.obs(HR, 96 + at, "/min", at=at).obs(RR, 16, "/min", at=at)
        b.obs(SBP, 110 - at, "mm[Hg]", at=at).obs(DBP, 70, "mm[Hg]", at=at)
        b.obs(MAP, 83, "mm[Hg]", at=at).obs(TEMP, 37.5, "Cel", at=at)
        b.obs(SPO2, 96, "%", at=at).obs(O2_FLOW, 2, "L/min", at=at)
    b.obs(WEIGHT, 70.0, "kg", at=1).obs(WEIGHT, 77.7, "kg", at=17)
    b.obs(URINE, 120, "mL", at=9, period_h=4).obs(URINE, 300, "mL", at=17, period_h=8)
    b.obs(ALT, 30, "U/L", at=1, ref_high=40).obs(ALT, 130, "U/L", at=17, ref_high=40)
    b.obs(AST, 20, "U/L", at=1, ref_high=40).obs(AST, 60, "U/L", at=17, ref_high=40)
    b.obs("6768-6", 100, "U/L", at=1).obs("1975-2", 0.8, "mg/dL", at=1)
    b.obs(CREATININE, 1.0, "mg/dL", at=1).obs(PLATELETS, 210, "10*3/uL", at=1)
    b.obs(ALBUMIN, 3.6, "g/dL", at=1)
    return b.build()


def chart(course: Course, rules: Rules | None = None, **options: Any) -> go.Figure:
    rules = rules or load_rules()
    return charts.patient_chart(course, assess(course, rules), rules, **options)


def panel_axes(fig: go.Figure, key: str) -> dict[str, str | None]:
    axes: dict[str, str | None] = fig.layout.meta["panels"][key]
    return axes


def layout_axis(fig: go.Figure, ref: str) -> Any:
    return fig.layout[ref[0] + "axis" + ref[1:]]


def traces_in(fig: go.Figure, key: str) -> list[Any]:
    """Return the value traces of a panel."""
    return [t for t in fig.data if (t.meta or {}).get("panel") == key]


def dose_strip(fig: go.Figure) -> dict[str, Any]:
    """Return the dose strip's marker traces by dose status (given, held, next...)."""
    return {t.meta["dose_status"]: t for t in fig.data if (t.meta or {}).get("panel") == "doses"}


def dose_lines(fig: go.Figure, status: str) -> list[tuple[datetime, float, float]]:
    """Return the (time, bottom, top) segments of the dose lines of one status."""
    (shape,) = shapes_named(fig, f"dose.{status}")
    segments = []
    for move in shape.path.split("M")[1:]:
        start, end = move.split("L")
        x, bottom = start.split(",")
        _, top = end.split(",")
        segments.append((datetime.strptime(x, "%Y-%m-%d_%H:%M:%S"), float(bottom), float(top)))
    return segments


def panel_spans(fig: go.Figure) -> list[tuple[float, float]]:
    """Return the (bottom, top) of every panel under the dose strip, as fractions of the plot."""
    spans = []
    for key, axes in fig.layout.meta["panels"].items():
        if key != "doses":
            bottom, top = layout_axis(fig, str(axes["y"])).domain
            spans.append((round(bottom, 5), round(top, 5)))
    return spans


def shapes_named(fig: go.Figure, name: str) -> list[Any]:
    return [s for s in fig.layout.shapes if s.name == name]


def with_param(rules: Rules, code: str, **params: Any) -> Rules:
    """Return the rules with some parameters of one rule changed (a centre's own file)."""
    rule = rules.rule(code)
    changed = dataclasses.replace(rule, params={**rule.params, **params})
    return dataclasses.replace(rules, rules={**rules.rules, code: changed})


# -- layout -------------------------------------------------------------------------------------


def test_it_draws_one_panel_per_measurement_under_the_dose_strip() -> None:
    fig = chart(full_course())
    assert list(fig.layout.meta["panels"]) == ["doses", *(p.key for p in charts.PANELS)]


def test_its_margins_are_fixed_and_hold_the_time_axis_title() -> None:
    # Streamlit's theme asks plotly to grow margins to fit (automargin), which measures every
    # label of every axis and draws the chart twice; the chart's own margins are enough.
    fig = chart(full_course())
    axes = [name for name in fig.layout.to_plotly_json() if name.startswith(("xaxis", "yaxis"))]
    assert len(axes) >= 2 * len(charts.PANELS)
    assert all(fig.layout[name].automargin is False for name in axes)
    # Two-line time labels (day, then hour) and the title under them, as automargin measured
    # them (81 px in chromium at this font size).
    assert fig.layout.margin.b >= 81
    (bottom,) = [fig.layout[name] for name in axes if fig.layout[name].title.text == "Time (UTC)"]
    assert bottom.showticklabels


def test_it_shares_one_time_axis_across_every_panel() -> None:
    fig = chart(full_course())
    refs = [axes["x"] for axes in fig.layout.meta["panels"].values()]
    assert refs[0] == "x"
    assert all(layout_axis(fig, ref).matches == "x" for ref in refs[1:])
    assert {tuple(layout_axis(fig, ref).range) for ref in refs} == {
        tuple(layout_axis(fig, "x").range)
    }


@pytest.mark.parametrize(
    ("key", "unit"),
    [
        ("hr", "/min"),
        ("bp", "mmHg"),
        ("temp", "°C"),
        ("spo2", "%"),
        ("rr", "/min"),
        ("weight", "%"),
        ("urine", "mL/8 h"),
        ("aminotransferases", "× ULN"),
        ("alp", "× ULN"),
        ("bilirubin", "× ULN"),
        ("creatinine", "mg/dL"),
        ("platelets", "×10⁹/L"),
        ("albumin", "g/dL"),
    ],
)
def test_it_names_the_unit_on_each_panels_axis_and_title(key: str, unit: str) -> None:
    fig = chart(full_course())
    axes = panel_axes(fig, key)
    assert layout_axis(fig, str(axes["y"])).title.text == unit
    (title,) = [a for a in fig.layout.annotations if a.name == f"title.{key}"]
    assert f"({unit}" in title.text
    assert traces_in(fig, key), f"no values drawn on {key}"


def test_it_draws_oxygen_flow_on_a_secondary_axis_in_litres_per_minute() -> None:
    fig = chart(full_course())
    axes = panel_axes(fig, "spo2")
    assert axes["y2"] is not None
    secondary = layout_axis(fig, axes["y2"])
    assert secondary.overlaying == axes["y"]
    assert secondary.title.text == "L/min"
    (flow,) = [t for t in traces_in(fig, "spo2") if t.yaxis == axes["y2"]]
    assert list(flow.y) == [2, 2, 2]


def test_it_puts_the_unit_in_every_hover() -> None:
    fig = chart(full_course())
    for panel in charts.PANELS:
        for trace in traces_in(fig, panel.key):
            units = {panel.unit, panel.secondary_unit or panel.unit}
            for text in trace.text:
                assert any(u in text for u in units), (panel.key, text)


def test_it_shows_only_the_chosen_panel_groups() -> None:
    fig = chart(full_course(), groups=(charts.VITALS,))
    assert set(fig.layout.meta["panels"]) == {"doses", "hr", "bp", "temp", "spo2", "rr"}


def test_it_says_so_when_a_panel_has_no_values() -> None:
    fig = chart(CourseBuilder().obs(HR, 90, "/min", at=1).build())
    albumin = panel_axes(fig, "albumin")
    notes = [a.text for a in fig.layout.annotations if a.yref == f"{albumin['y']} domain"]
    assert notes == ["no values recorded"]
    assert traces_in(fig, "albumin") == []


def test_it_plots_times_as_the_ward_reads_them() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    fig = chart(CourseBuilder().obs(HR, 90, "/min", at=2).build(), tz=berlin)
    (hr,) = traces_in(fig, "hr")
    assert hr.x[0] == (ADMITTED + timedelta(hours=3)).replace(tzinfo=None)  # 08:00Z is 09:00
    last = fig.layout.meta["panels"]["albumin"]["x"]
    assert layout_axis(fig, last).title.text == "Time (Europe/Berlin)"


# -- doses --------------------------------------------------------------------------------------


def test_it_draws_every_dose_on_every_panel() -> None:
    fig = chart(full_course())
    spans = panel_spans(fig)
    given = [datetime(2026, 11, 20, 8, 0), datetime(2026, 11, 21, 0, 0)]
    held = [datetime(2026, 11, 20, 16, 0)]
    assert dose_lines(fig, "given") == [(t, *span) for t in given for span in spans]
    assert dose_lines(fig, "held") == [(t, *span) for t in held for span in spans]
    (line,) = shapes_named(fig, "dose.given")
    assert (line.xref, line.yref) == ("x", "paper")  # on the shared time axis


def test_it_draws_given_and_held_doses_differently() -> None:
    fig = chart(full_course())
    (given,) = shapes_named(fig, "dose.given")
    (held,) = shapes_named(fig, "dose.held")
    assert (given.line.color, given.line.dash) == ("#2e7d32", "solid")
    assert (held.line.color, held.line.dash) == ("#c62828", "dash")
    strip = dose_strip(fig)
    assert strip["given"].marker.symbol != strip["held"].marker.symbol
    assert list(strip["given"].text) == ["1", "3"]
    assert list(strip["held"].text) == ["2"]


def test_it_shows_the_held_dose_reason_on_hover() -> None:
    fig = chart(full_course())
    (hover,) = dose_strip(fig)["held"].hovertext
    assert "Dose 2, cycle 1: held" in hover
    assert "Reason: SBP 84 mmHg &lt; target 85 on phenylephrine" in hover


def test_it_shows_a_reason_as_text_never_as_markup() -> None:
    course = CourseBuilder().dose(1, 1, at=2, status="held", reason="<b>bold</b> & more").build()
    fig = chart(course)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in dose_strip(fig)["held"].hovertext[0]


def test_it_marks_the_next_dose_with_its_advice() -> None:
    fig = chart(full_course())
    nxt = dose_strip(fig)["next"]
    assert list(nxt.text) == ["4"]
    assert "Next: dose 4, cycle 1" in nxt.hovertext[0]
    assert "Advice:" in nxt.hovertext[0]


def test_it_labels_doses_with_their_cycle_when_a_course_has_two() -> None:
    course = CourseBuilder().dose(1, 14, at=2).dose(2, 1, at=200).build()
    fig = chart(course)
    assert list(dose_strip(fig)["given"].text) == ["C1·14", "C2·1"]


# -- thresholds from the rules --------------------------------------------------------------------


@pytest.mark.parametrize(("usual", "target"), [(95, 80), (118, 85), (130, 90)])
def test_it_shades_sbp_below_the_patients_target(usual: float, target: float) -> None:
    rules = load_rules()
    assert target_sbp(usual, rules) == target
    fig = chart(full_course(usual_sbp=usual), rules)
    (band,) = shapes_named(fig, "target_sbp")
    assert band.type == "rect"
    assert band.yref == panel_axes(fig, "bp")["y"]
    assert band.y1 == target
    assert band.y0 == layout_axis(fig, band.yref).range[0]


def test_it_draws_the_urine_hold_and_caution_lines() -> None:
    fig = chart(full_course())
    (hold,) = shapes_named(fig, "hold.urine_output")
    (caution,) = shapes_named(fig, "caution.urine_output")
    assert (hold.y0, caution.y0) == (80, 160)
    assert hold.yref == caution.yref == panel_axes(fig, "urine")["y"]


def test_it_takes_the_urine_lines_from_the_site_rules() -> None:
    rules = with_param(load_rules(), "hold.urine_output", below=70)
    fig = chart(full_course(), rules)
    (hold,) = shapes_named(fig, "hold.urine_output")
    assert hold.y0 == 70


def test_it_pro_rates_each_urine_record_to_8_hours() -> None:
    fig = chart(full_course())
    (bars,) = traces_in(fig, "urine")
    assert list(bars.y) == [240.0, 300.0]  # 120 mL over 4 h; 300 mL over 8 h
    assert "120 mL over 4 h" in bars.text[0]


def test_it_draws_weight_gain_against_the_10_and_15_percent_lines() -> None:
    fig = chart(full_course())
    (gain,) = traces_in(fig, "weight")
    assert [round(y, 1) for y in gain.y] == [0.0, 11.0]  # 77.7 kg over 70 kg
    (sign,) = shapes_named(fig, "cls.sign.weight_gain")
    (caution,) = shapes_named(fig, "caution.weight_gain")
    assert (sign.y0, caution.y0) == (10, 15)


def test_it_takes_the_weight_lines_from_the_site_rules() -> None:
    rules = with_param(load_rules(), "caution.weight_gain", above_pct=12)
    (caution,) = shapes_named(chart(full_course(), rules), "caution.weight_gain")
    assert caution.y0 == 12


def test_it_plots_liver_tests_as_multiples_of_the_upper_limit() -> None:
    fig = chart(full_course())
    alt, ast = traces_in(fig, "aminotransferases")
    assert (alt.name, list(alt.y)) == ("ALT", [0.75, 3.25])
    assert (ast.name, list(ast.y)) == ("AST", [0.5, 1.5])
    assert "ALT 130 U/L = 3.25 × ULN" in alt.text[1]
    assert "CTCAE grade 2" in alt.text[1]


def test_it_shades_the_ctcae_grade_bands_from_the_rules() -> None:
    course = (
        CourseBuilder()
        .obs(ALT, 30, "U/L", at=1, ref_high=40)
        .obs(ALT, 1000, "U/L", at=20, ref_high=40)  # 25x ULN: every band is on the axis
        .build()
    )
    fig = chart(course)
    bands = [shapes_named(fig, f"liver.grade.aminotransferase.{g}")[0] for g in (1, 2, 3, 4)]
    assert [(b.y0, b.y1) for b in bands[:3]] == [(1.0, 3.0), (3.0, 5.0), (5.0, 20.0)]
    assert bands[3].y0 == 20.0
    assert bands[3].y1 == layout_axis(fig, bands[3].yref).range[1]
    assert {b.yref for b in bands} == {panel_axes(fig, "aminotransferases")["y"]}
    alp_bands = [s for s in fig.layout.shapes if s.name.startswith("liver.grade.alp.")]
    assert (alp_bands[0].y0, alp_bands[0].y1) == (1.0, 2.5)


def test_it_always_shows_where_liver_grade_2_begins() -> None:
    fig = chart(full_course())
    for key, rule in (("alp", "liver.grade.alp"), ("bilirubin", "liver.grade.bilirubin")):
        grade_2 = shapes_named(fig, f"{rule}.2")
        assert grade_2, f"{key} shows no grade-2 band"


def test_it_marks_late_entries_on_the_chart() -> None:
    course = full_course()
    late_time = ADMITTED + timedelta(hours=9)
    fig = chart(course, late={(HR, late_time)})
    (hr,) = traces_in(fig, "hr")
    assert list(hr.marker.symbol) == ["circle", "circle-open", "circle"]
    assert "entered late" in hr.text[1]
    assert "entered late" not in hr.text[0]


# -- flags timeline --------------------------------------------------------------------------------


def demo(name: str) -> Course:
    return load_course(DEMO / f"{name}.json")


def test_it_puts_each_flag_on_its_category_row_styled_by_severity() -> None:
    course = demo("DEMO-003")
    assessment = assess(course)
    fig = charts.flags_timeline(course, assessment)
    markers = {t.meta["severity"]: t for t in fig.data if t.mode == "markers"}
    assert {"critical", "warning"} <= set(markers)
    assert markers["critical"].marker.color != markers["warning"].marker.color
    critical = [f for f in assessment.flags if f.severity == "critical"]
    assert len(markers["critical"].x) == len(critical)
    assert "Capillary leak" in markers["critical"].y
    leak = next(f for f in critical if f.code == "cls.syndrome")
    hover = markers["critical"].text[list(markers["critical"].y).index("Capillary leak")]
    assert charts._wrapped(leak.message).split("<br>")[0] in hover
    assert "Source: " in hover


def test_it_shows_the_flags_over_the_same_hours_as_the_chart() -> None:
    course = demo("DEMO-003")
    assessment = assess(course)
    rules = load_rules()
    timeline = charts.flags_timeline(course, assessment)
    patient = charts.patient_chart(course, assessment, rules)
    assert tuple(timeline.layout.xaxis.range) == tuple(patient.layout.xaxis.range)
    given = [s for s in timeline.layout.shapes if s.name == "dose.given"]
    assert len(given) == sum(1 for d in course.doses if d.status == "given")


def test_it_draws_acknowledged_flags_quietly() -> None:
    course = demo("DEMO-003")
    assessment = assess(course)
    fig = charts.flags_timeline(course, assessment, quiet=lambda f: f.code == "cls.syndrome")
    markers = {t.meta["severity"]: t for t in fig.data if t.mode == "markers"}
    assert markers["quiet"].marker.color == charts.QUIET_COLOUR
    assert markers["quiet"].name == "Acknowledged"
    assert all("acknowledged" in text for text in markers["quiet"].text)
    assert "Capillary leak" not in markers["critical"].y


def test_it_says_no_flags_on_a_quiet_course() -> None:
    course = CourseBuilder().obs(HR, 80, "/min", at=1).build()
    fig = charts.flags_timeline(course, assess(course))
    assert "No flags" in [a.text for a in fig.layout.annotations]


def test_it_words_evidence_with_units() -> None:
    course = demo("DEMO-003")
    leak = next(f for f in assess(course).flags if f.code == "cls.syndrome")
    assert charts.evidence_text(leak).startswith(
        "SBP 76 mmHg (20 Nov 06:13); Phenylephrine 0.3 µg/kg/min (20 Nov 06:13)"
    )


@pytest.mark.parametrize("path", sorted(DEMO.glob("*.json")), ids=lambda p: p.stem)
def test_it_draws_every_demo_patient(path: Path) -> None:
    course = load_course(path)
    rules = load_rules()
    assessment = assess(course, rules)
    fig = charts.patient_chart(course, assessment, rules, tz=ZoneInfo("Europe/London"))
    assert fig.layout.height > 1000
    charts.flags_timeline(course, assessment, tz=ZoneInfo("Europe/London"))
