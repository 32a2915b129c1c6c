"""The patient chart page, through Streamlit's AppTest (no browser), signed in as a physician."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from il2_tox.assess import assess
from il2_tox.services.bedside import acknowledge_flag
from il2_tox.services.course_io import list_admissions, load_course_from_db
from il2_tox.services.users import authenticate
from il2_tox.store import Database
from il2_tox.store.models import Observation, User
from tests.app.conftest import PAGES, PASSWORD, signed_in_app

PAGE = "app_pages/patient.py"


def open_chart(patient: str | None = None, role: str = "physician") -> AppTest:
    """Sign in, then open the patient chart (with `?patient=MRN` when given)."""
    app = signed_in_app(role)
    if patient is not None:
        app.query_params["patient"] = patient
    app.switch_page(PAGE)
    app.run()
    assert not app.exception, app.exception
    return app


def show_view(app: AppTest, view: str) -> AppTest:
    """Pick a view of the chart area ("Chart", "Flags", "Late entries") and rerun."""
    (views,) = [group for group in app.button_group if group.label == "View"]
    views.set_value(view).run()
    assert not app.exception, app.exception
    return app


def flags_table(app: AppTest) -> pd.DataFrame:
    """Return the Flags view's table with its Markdown escapes removed (as the reader sees it)."""
    (table,) = [t.value for t in show_view(app, "Flags").table if "Severity" in t.value.columns]
    return table.map(lambda cell: shown(cell) if isinstance(cell, str) else cell)


def shown(markdown: str) -> str:
    """Return Markdown text as the reader sees it (backslash escapes removed)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def texts(app: AppTest) -> list[str]:
    return [t.value for t in app.text]


def test_it_draws_the_chart_and_the_flags_timeline_for_a_demo_patient(
    ward_db: Database,
) -> None:
    app = open_chart("DEMO-003")
    assert app.selectbox[0].value == "DEMO-003"
    assert "Demo, Cora" in app.subheader[0].value
    (chart,) = app.get("plotly_chart")  # the chart view first, and nothing else drawn
    assert chart.proto.id.endswith("chart-3")
    (timeline,) = show_view(app, "Flags").get("plotly_chart")
    assert timeline.proto.id.endswith("flags-3")


def test_it_shows_the_vital_signs_first_and_the_other_panels_one_tap_away(
    ward_db: Database,
) -> None:
    app = open_chart("DEMO-003")
    (panels,) = [group for group in app.button_group if group.label == "Panels"]
    assert panels.value == ["vitals"]
    layout = json.loads(app.get("plotly_chart")[0].proto.spec)["layout"]
    assert set(layout["meta"]["panels"]) == {"doses", "hr", "bp", "temp", "spo2", "rr"}
    panels.set_value(["vitals", "fluids", "labs"]).run()
    layout = json.loads(app.get("plotly_chart")[0].proto.spec)["layout"]
    assert {"weight", "urine", "aminotransferases", "albumin"} <= set(layout["meta"]["panels"])


def test_it_opens_the_patient_named_in_the_link(ward_db: Database) -> None:
    app = open_chart("DEMO-005")
    assert app.selectbox[0].value == "DEMO-005"
    assert app.query_params["patient"] == "DEMO-005"


def test_it_names_patients_by_bed_name_and_mrn(ward_db: Database) -> None:
    app = open_chart()
    assert app.selectbox[0].options[:3] == [
        "1 · Demo, Ada (DEMO-001)",
        "2 · Demo, Ben (DEMO-002)",
        "3 · Demo, Cora (DEMO-003)",
    ]
    assert app.query_params["patient"] == "DEMO-001"  # the URL follows the choice


def test_it_switches_patient_from_the_picker(ward_db: Database) -> None:
    app = open_chart("DEMO-001")
    app.selectbox[0].select("DEMO-007").run()
    assert not app.exception, app.exception
    assert "Demo, Gita" in app.subheader[0].value
    assert app.query_params["patient"] == "DEMO-007"


def test_it_says_so_when_the_linked_patient_is_not_on_the_ward(ward_db: Database) -> None:
    app = open_chart("NOBODY-1")
    assert any("not on the ward" in w.value for w in app.warning)
    assert app.selectbox[0].value == "DEMO-001"


def test_it_shows_the_prior_toxicity_history(ward_db: Database) -> None:
    app = open_chart("DEMO-005")
    (history,) = [t.value for t in app.table if "Agent" in t.value.columns]
    assert list(history.columns) == ["Agent", "Organ", "Grade", "Onset", "Resolved", "Steroids"]
    row = history.iloc[0]
    assert (shown(row["Agent"]), row["Organ"], row["Grade"]) == (
        "ipilimumab+nivolumab",
        "hepatitis",
        3,
    )
    assert (row["Onset"], row["Resolved"], row["Steroids"]) == ("2026-03-23", "2026-06-01", "yes")


def test_it_shows_the_ici_recurrence_differential_as_two_lists(ward_db: Database) -> None:
    app = open_chart("DEMO-005")
    headings = [m.value for m in app.markdown]
    assert any("Possible recurrence of hepatitis" in h for h in headings)
    assert "*Favours the old ICI toxicity*" in headings
    assert "*Favours IL-2*" in headings
    shown = texts(app)
    assert "• prior hepatitis grade 3" in shown
    assert "• onset during dosing (3.68 h after a given dose)" in shown


def test_it_shows_the_next_dose_advice_with_its_criteria(ward_db: Database) -> None:
    app = open_chart("DEMO-003")
    assert any(":red-background[**HOLD**] next dose" in m.value for m in app.markdown)
    criteria = "\n".join(texts(app))
    assert "SBP 80 mmHg < target 85  (hold criterion;" in criteria


def test_it_lists_flags_with_evidence_units_and_source(ward_db: Database) -> None:
    flags = flags_table(open_chart("DEMO-003"))
    leak = flags[flags["Category"] == "Capillary leak"].iloc[0]
    assert leak["Severity"] == "CRITICAL"
    assert "SBP 76 mmHg" in leak["Evidence"]
    assert leak["Source"]
    assert leak["Status"] == "active"


def test_it_keeps_an_acknowledged_flag_listed_but_quiet(ward_db: Database) -> None:
    (demo_003,) = [a for a in list_admissions(ward_db) if a.patient_id == "DEMO-003"]
    course = load_course_from_db(ward_db, demo_003.admission_id)
    leak = next(f for f in assess(course).flags if f.code == "cls.syndrome")
    physician = authenticate(ward_db, "physician", PASSWORD)
    acknowledge_flag(
        ward_db, demo_003.admission_id, leak.code, leak.time, physician, "<b>on</b> albumin"
    )
    flags = flags_table(open_chart("DEMO-003"))
    row = flags[flags["Category"] == "Capillary leak"].iloc[0]
    assert row["Status"] == "acknowledged"
    assert row["Acknowledged"].startswith("Test Physician, ")
    assert row["Acknowledged"].endswith(": <b>on</b> albumin")  # as typed, never markup
    assert flags.iloc[-1]["Category"] == "Capillary leak"  # listed after the unacknowledged


def test_it_says_when_it_was_updated(ward_db: Database) -> None:
    app = open_chart("DEMO-003")
    assert any(c.value.startswith("updated ") for c in app.caption)


def test_it_marks_an_entry_typed_late(ward_db: Database) -> None:
    (demo_003,) = [a for a in list_admissions(ward_db) if a.patient_id == "DEMO-003"]
    with ward_db.write_session() as session:
        nurse = session.scalars(select(User).where(User.username == "nurse")).one()
        last = session.scalars(
            select(Observation)
            .where(Observation.admission_id == demo_003.admission_id)
            .order_by(Observation.observed_at.desc())
        ).first()
        assert last is not None
        session.add(
            Observation(
                admission_id=demo_003.admission_id,
                observed_at=last.observed_at,
                recorded_at=last.observed_at + timedelta(hours=3),
                recorded_by=nurse.id,
                code="8867-4",
                value=118.0,
                unit="/min",
                entered_value="118",
                entered_unit="/min",
            )
        )
    app = open_chart("DEMO-003")
    (note,) = [c.value for c in app.caption if "late entry" in c.value]
    assert note.startswith("⚠ 1 late entry: recorded more than 1 h after observation")
    show_view(app, "Late entries")
    assert any("recorded more than 1 h after observation" in c.value for c in app.caption)
    table = app.dataframe[0].value
    assert list(table["Item"]) == ["HR"]
    assert list(table["Delay (h)"]) == [3.0]
    assert list(table["Recorded by"]) == ["Test Nurse"]


def test_it_shows_no_late_entries_for_an_imported_course(ward_db: Database) -> None:
    app = open_chart("DEMO-003")
    assert any(c.value.startswith("No late entries") for c in app.caption)


@pytest.mark.parametrize("role", ["nurse", "physician", "admin"])
def test_every_role_can_open_the_chart(ward_db: Database, role: str) -> None:
    app = open_chart("DEMO-002", role=role)
    assert app.selectbox[0].value == "DEMO-002"


def test_it_refuses_a_signed_out_visitor(ward_db: Database) -> None:
    app = AppTest.from_file(str(PAGES / "patient.py"), default_timeout=60)
    app.run()
    assert any("signed out" in e.value for e in app.error)
    assert len(app.selectbox) == 0


def test_it_draws_every_demo_patient(ward_db: Database) -> None:
    app = open_chart("DEMO-001")
    for mrn in app.selectbox[0].options:
        mrn_value = mrn.rsplit("(", 1)[1].rstrip(")")
        app.selectbox[0].select(mrn_value).run()
        assert not app.exception, (mrn, app.exception)
